/*
 * example-gain: a complete sparkhost plugin with one node, org.example.gain, that scales
 * audio by `gain_db` decibels. Copy this folder to start a plugin of your own; PLUGINS.md
 * at the root of the sparkhost sources explains every rule this file follows.
 *
 * What a plugin is: a shared object that exports exactly one symbol, the entry (bottom of
 * this file). The engine reads the entry, asks it for a factory, and finds in the factory
 * static descriptors: which nodes exist, their ports, parameters and functions. Nothing runs
 * until a pipeline uses a node.
 */
#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/plugin.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Port indices: positions in gain_ports[] below, inputs and outputs counted together. */
enum { GAIN_PORT_IN = 0, GAIN_PORT_OUT = 1 };

/* Instance state: set up in create, read-only afterwards. Several jobs may run on one
 * instance at once, so everything that changes during a job lives in gain_job instead. */
typedef struct gain_node {
    const spark_host *host;        /* borrowed until destroy */
    const spark_ext_log *log;      /* host services, looked up once */
    const spark_ext_alloc *alloc;
} gain_node;

/* Per-job state, made in job_begin and freed in job_end. */
typedef struct gain_job {
    float factor; /* linear gain for this job */
} gain_job;

/* Every failure is posted with a reason before its negative status is returned; the
 * engine adds node id, plugin id, lifecycle phase and the pipeline's file:line. */
static spark_status gain_fail(const gain_node *self, spark_status status, const char *message)
{
    if (self->log)
        self->log->error(self->host, message);
    return status;
}

/* [thread] main. Allocate, look up services; no weights, no files, no network here. */
static spark_status gain_create(const spark_host *host, const char *node_id, void **out_self)
{
    gain_node *self;
    (void)node_id; /* the pipeline's name for this node; the engine adds it to messages */
    self = calloc(1, sizeof *self);
    if (!self)
        return SPARK_E_NO_MEMORY;
    self->host = host;
    /* A host table may be older (shorter) than this header: spark_host_service returns it
     * only when its struct_size covers the last member used. */
    self->log = spark_host_service(host, SPARK_EXT_LOG, SPARK_SIZE_THROUGH(spark_ext_log, error));
    self->alloc = spark_host_service(host, SPARK_EXT_ALLOC,
                                     SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    if (!self->alloc) {
        spark_status status = gain_fail(self, SPARK_E_UNSUPPORTED, "host lacks spark.ext.alloc/1");
        free(self);
        return status;
    }
    *out_self = self;
    return SPARK_OK;
}

/* configure, negotiate and activate are left NULL (see gain_ops):
 * - gain_db may change per job, so it is read in job_begin from the job's parameters;
 * - the output format is the input's (what a NULL negotiate does);
 * - there is nothing to load. A model plugin loads its weights in activate, and only there. */

/* [thread] the job's thread; several jobs may be in flight at once. */
static spark_status gain_job_begin(void *self_, const spark_job *job, void **out_job_state)
{
    gain_node *self = self_;
    const spark_params *params = job->params;
    double gain_db = params->get_number(params->user, "gain_db"); /* validated, default 0 */
    gain_job *state = malloc(sizeof *state);
    if (!state)
        return gain_fail(self, SPARK_E_NO_MEMORY, "out of memory");
    state->factor = (float)pow(10.0, gain_db / 20.0);
    *out_job_state = state;
    return SPARK_OK;
}

/* [thread] the job's thread. One input packet, borrowed until return; NULL = end of stream. */
static spark_status gain_process(void *self_, void *job_state, const spark_job *job,
                                 uint32_t port, const spark_packet *in)
{
    gain_node *self = self_;
    const gain_job *state = job_state;
    const spark_audio_data *audio;
    spark_packet *out;

    if (port != GAIN_PORT_IN)
        return gain_fail(self, SPARK_E_INVALID_ARGUMENT, "packet on an unknown port");
    if (!in)
        return SPARK_OK; /* end of stream: nothing buffered, nothing to flush */
    if (in->kind != SPARK_KIND_AUDIO)
        return gain_fail(self, SPARK_E_FORMAT_MISMATCH, "port in expects audio");
    audio = &in->data.audio;

    if (state->factor == 1.0f) {
        /* Unity gain: pass the same immutable packet on. emit takes over one reference,
         * so take one first; the input is only lent to us. */
        const spark_packet *kept = self->alloc->retain(in);
        return job->emit(job, GAIN_PORT_OUT, (spark_packet *)(uintptr_t)kept);
    }

    /* Packets are immutable once emitted: make a new one for the scaled audio. */
    out = self->alloc->audio(self->host, audio->channels, audio->frames, audio->rate);
    if (!out)
        return gain_fail(self, SPARK_E_NO_MEMORY, "no memory for an audio packet");
    out->seq = in->seq;
    out->data.audio.timestamp = audio->timestamp;
    for (uint32_t c = 0; c < audio->channels; c++) {
        const float *src = audio->planes[c];
        float *dst = out->data.audio.planes[c];
        for (uint64_t i = 0; i < audio->frames; i++)
            dst[i] = src[i] * state->factor;
    }
    /* emit owns `out` from here on, also when it fails (for example SPARK_E_CANCELLED, whose
     * reason the engine already knows: return it as is). */
    return job->emit(job, GAIN_PORT_OUT, out);
}

/* [thread] the job's thread. Called once for every successful job_begin, whatever the
 * outcome: free the job's state. */
static spark_status gain_job_end(void *self, void *job_state, const spark_job *job,
                                 spark_status outcome)
{
    (void)self;
    (void)job;
    (void)outcome;
    free(job_state);
    return SPARK_OK;
}

/* [thread] main. Legal in every state and after any failure: free what exists. */
static void gain_destroy(void *self)
{
    free(self);
}

static const spark_node_ops gain_ops = {
    sizeof(spark_node_ops), 0,
    gain_create,
    NULL, /* configure */
    NULL, /* negotiate */
    NULL, /* activate */
    gain_job_begin,
    gain_process,
    gain_job_end,
    NULL, /* deactivate */
    gain_destroy,
};

/* The descriptor is static data: `sparkhost plugins inspect org.example.gain` and pipeline
 * validation read it without creating an instance. */
static const spark_port_desc gain_ports[] = {
    /* name, direction, kind, flags, rate (0 = any), channels (0 = any), reserved, doc */
    { "in", SPARK_PORT_IN, SPARK_KIND_AUDIO, 0, 0, 0, 0, "audio to scale" },
    { "out", SPARK_PORT_OUT, SPARK_KIND_AUDIO, 0, 0, 0, 0, "the scaled audio, same format" },
};

static const spark_param_desc gain_params[] = {
    /* key, type, flags, default (text), min, max, max_length, reserved, choices, doc */
    { "gain_db", SPARK_PARAM_NUMBER,
      SPARK_PARAM_PER_JOB | SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX,
      "0", -60.0, 24.0, 0, 0, NULL, "gain in decibels; may be set per job" },
};

static const spark_node_desc gain_desc = {
    sizeof(spark_node_desc),
    0, /* max_concurrent_jobs: 0 = no limit (all per-job state is in gain_job) */
    "org.example.gain",
    "gain",
    "1.0.0",
    "Scales audio by gain_db decibels.",
    NULL, /* features */
    sizeof gain_ports / sizeof gain_ports[0],
    sizeof gain_params / sizeof gain_params[0],
    gain_ports,
    gain_params,
    0, 0, NULL, /* results: none */
    &gain_ops,
};

static const spark_node_desc *const gain_nodes[] = { &gain_desc };

static const spark_node_factory gain_factory = {
    sizeof(spark_node_factory),
    sizeof gain_nodes / sizeof gain_nodes[0],
    gain_nodes,
};

/* [thread] main. Hands out the factory for an id the plugin implements, NULL otherwise. */
static const void *gain_get_factory(const char *factory_id)
{
    if (strcmp(factory_id, SPARK_FACTORY_NODE) == 0)
        return &gain_factory;
    return NULL;
}

/* The entry: the one exported symbol, named SPARK_ENTRY_SYMBOL ("spark_plugin_entry"). */
SPARK_PLUGIN_ENTRY = {
    sizeof(spark_entry),
    0,
    SPARK_ABI_VERSION_INIT, /* the ABI this plugin was built against */
    0,
    "example-gain",         /* plugin name */
    "1.0.0",                /* plugin version */
    NULL,                   /* init: nothing global to set up */
    NULL,                   /* deinit */
    gain_get_factory,
};
