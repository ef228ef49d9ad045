/* The fake engine of fake_host.h. */
#include "fake_host.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- log ---------------------------------------------------------------------------- */

static _Thread_local char fake_error_text[1024];

static void fake_log(const spark_host *host, int32_t level, const char *message)
{
    (void)host;
    (void)level;
    (void)message; /* plugins' log lines are not part of what the self-checks look at */
}

static void fake_error(const spark_host *host, const char *message)
{
    (void)host;
    snprintf(fake_error_text, sizeof fake_error_text, "%s", message ? message : "(null)");
}

const char *fake_last_error(void)
{
    return fake_error_text;
}

void fake_clear_error(void)
{
    fake_error_text[0] = '\0';
}

static const spark_ext_log fake_log_ext = {
    sizeof(spark_ext_log), 0, fake_log, fake_error,
};

/* ---- packets ------------------------------------------------------------------------ */

typedef struct fake_packet {
    spark_packet pub; /* first, so a spark_packet pointer is a fake_packet pointer */
    atomic_int refs;
    float **planes;
    float *samples;
    char *text;
    char *name;
} fake_packet;

static atomic_long fake_live;

long fake_live_packets(void)
{
    return atomic_load(&fake_live);
}

static fake_packet *fake_packet_new(int32_t kind)
{
    fake_packet *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->pub.struct_size = sizeof(spark_packet);
    p->pub.kind = kind;
    atomic_init(&p->refs, 1);
    atomic_fetch_add(&fake_live, 1);
    return p;
}

void fake_release(const spark_packet *packet)
{
    fake_packet *p = (fake_packet *)(uintptr_t)packet;
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    free(p->planes);
    free(p->samples);
    free(p->text);
    free(p->name);
    free(p);
    atomic_fetch_sub(&fake_live, 1);
}

static const spark_packet *fake_retain(const spark_packet *packet)
{
    fake_packet *p = (fake_packet *)(uintptr_t)packet;
    atomic_fetch_add(&p->refs, 1);
    return packet;
}

spark_packet *fake_audio_packet(uint32_t channels, uint64_t frames, uint32_t rate)
{
    fake_packet *p = fake_packet_new(SPARK_KIND_AUDIO);
    if (!p)
        return NULL;
    size_t samples = (size_t)channels * (size_t)frames;
    p->planes = calloc(channels > 0 ? channels : 1, sizeof *p->planes);
    p->samples = calloc(samples > 0 ? samples : 1, sizeof *p->samples);
    if (!p->planes || !p->samples) {
        fake_release(&p->pub);
        return NULL;
    }
    for (uint32_t c = 0; c < channels; c++)
        p->planes[c] = p->samples + (size_t)c * frames;
    p->pub.data.audio.planes = p->planes;
    p->pub.data.audio.frames = frames;
    p->pub.data.audio.channels = channels;
    p->pub.data.audio.rate = rate;
    return &p->pub;
}

static spark_packet *fake_alloc_audio(const spark_host *host, uint32_t channels,
                                      uint64_t frames, uint32_t rate)
{
    (void)host;
    return fake_audio_packet(channels, frames, rate);
}

static spark_packet *fake_alloc_text(const spark_host *host, const char *utf8,
                                     uint64_t length, int64_t offset)
{
    fake_packet *p = fake_packet_new(SPARK_KIND_TEXT);
    (void)host;
    if (!p)
        return NULL;
    p->text = malloc(length + 1);
    if (!p->text) {
        fake_release(&p->pub);
        return NULL;
    }
    memcpy(p->text, utf8, length);
    p->text[length] = '\0';
    p->pub.data.text.utf8 = p->text;
    p->pub.data.text.length = length;
    p->pub.data.text.offset = offset;
    return &p->pub;
}

spark_packet *fake_text_packet(const char *utf8)
{
    return fake_alloc_text(fake_host(), utf8, strlen(utf8), 0);
}

static spark_packet *fake_alloc_value(const spark_host *host, const char *name, int32_t type,
                                      const char *text, double number)
{
    fake_packet *p = fake_packet_new(SPARK_KIND_VALUE);
    (void)host;
    if (!p)
        return NULL;
    p->name = strdup(name ? name : "");
    p->text = strdup(text ? text : "");
    if (!p->name || !p->text) {
        fake_release(&p->pub);
        return NULL;
    }
    p->pub.data.value.name = p->name;
    p->pub.data.value.type = type;
    p->pub.data.value.text = p->text;
    p->pub.data.value.number = number;
    return &p->pub;
}

/* Kinds the test plugins never make: the fake reports them as out of memory. */
static spark_packet *fake_alloc_tokens(const spark_host *host, uint64_t count,
                                       const char *vocabulary)
{
    (void)host, (void)count, (void)vocabulary;
    return NULL;
}

static spark_packet *fake_alloc_codes(const spark_host *host, uint64_t n_semantic,
                                      uint64_t n_global, const char *codec, double frame_rate)
{
    (void)host, (void)n_semantic, (void)n_global, (void)codec, (void)frame_rate;
    return NULL;
}

static spark_packet *fake_alloc_timing(const spark_host *host, const spark_timing_item *items,
                                       uint64_t count)
{
    (void)host, (void)items, (void)count;
    return NULL;
}

static spark_packet *fake_alloc_blob(const spark_host *host, uint64_t size,
                                     const char *media_type, const char *file_name)
{
    (void)host, (void)size, (void)media_type, (void)file_name;
    return NULL;
}

static const spark_ext_alloc fake_alloc_ext = {
    sizeof(spark_ext_alloc), 0,
    fake_alloc_text, fake_alloc_tokens, fake_alloc_codes, fake_alloc_audio,
    fake_alloc_timing, fake_alloc_blob, fake_alloc_value,
    fake_retain, fake_release,
};

/* ---- jobs --------------------------------------------------------------------------- */

typedef struct fake_result {
    char *name;
    char *text;
} fake_result;

struct fake_job {
    spark_job api;
    char *id;
    uint32_t port_count;
    const spark_packet **outputs[16]; /* per port */
    size_t output_count[16];
    size_t output_cap[16];
    fake_result *results;
    size_t result_count;
    atomic_int stop; /* SPARK_OK, SPARK_E_CANCELLED or SPARK_E_TIMEOUT */
};

static spark_status fake_emit(const spark_job *api, uint32_t port, const spark_packet *packet)
{
    fake_job *job = (fake_job *)api->host_data;
    spark_status stop = atomic_load(&job->stop);
    if (stop != SPARK_OK) {
        fake_release(packet); /* emit owns the packet also when it fails */
        return stop;
    }
    if (!packet || port >= job->port_count || port >= 16) {
        fake_release(packet);
        fake_error(NULL, "fake host: emit on a bad port");
        return SPARK_E_INVALID_ARGUMENT;
    }
    if (job->output_count[port] == job->output_cap[port]) {
        size_t cap = job->output_cap[port] ? job->output_cap[port] * 2 : 8;
        const spark_packet **grown = realloc(job->outputs[port], cap * sizeof *grown);
        if (!grown) {
            fake_release(packet);
            return SPARK_E_NO_MEMORY;
        }
        job->outputs[port] = grown;
        job->output_cap[port] = cap;
    }
    job->outputs[port][job->output_count[port]++] = packet;
    return SPARK_OK;
}

static spark_status fake_post_result(const spark_job *api, const char *name, int32_t type,
                                     const char *text, double number)
{
    fake_job *job = (fake_job *)api->host_data;
    char number_text[64];
    fake_result *grown;
    (void)type;
    if (!text) {
        snprintf(number_text, sizeof number_text, "%.17g", number);
        text = number_text;
    }
    grown = realloc(job->results, (job->result_count + 1) * sizeof *grown);
    if (!grown)
        return SPARK_E_NO_MEMORY;
    job->results = grown;
    grown[job->result_count].name = strdup(name);
    grown[job->result_count].text = strdup(text);
    if (!grown[job->result_count].name || !grown[job->result_count].text) {
        free(grown[job->result_count].name);
        free(grown[job->result_count].text);
        return SPARK_E_NO_MEMORY;
    }
    job->result_count++;
    return SPARK_OK;
}

fake_job *fake_job_new(const char *id, const spark_params *params, uint32_t port_count)
{
    fake_job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->id = strdup(id);
    if (!job->id) {
        free(job);
        return NULL;
    }
    job->port_count = port_count;
    atomic_init(&job->stop, SPARK_OK);
    job->api.struct_size = sizeof(spark_job);
    job->api.id = job->id;
    job->api.params = params;
    job->api.host_data = job;
    job->api.emit = fake_emit;
    job->api.post_result = fake_post_result;
    return job;
}

const spark_job *fake_job_api(fake_job *job)
{
    return &job->api;
}

size_t fake_job_output_count(const fake_job *job, uint32_t port)
{
    return port < 16 ? job->output_count[port] : 0;
}

const spark_packet *fake_job_output(const fake_job *job, uint32_t port, size_t index)
{
    return port < 16 && index < job->output_count[port] ? job->outputs[port][index] : NULL;
}

const char *fake_job_result(const fake_job *job, const char *name)
{
    /* The last post of a name wins. */
    for (size_t i = job->result_count; i-- > 0;)
        if (strcmp(job->results[i].name, name) == 0)
            return job->results[i].text;
    return NULL;
}

void fake_job_stop(fake_job *job, spark_status status)
{
    atomic_store(&job->stop, status);
}

void fake_job_free(fake_job *job)
{
    if (!job)
        return;
    for (uint32_t port = 0; port < 16; port++) {
        for (size_t i = 0; i < job->output_count[port]; i++)
            fake_release(job->outputs[port][i]);
        free(job->outputs[port]);
    }
    for (size_t i = 0; i < job->result_count; i++) {
        free(job->results[i].name);
        free(job->results[i].text);
    }
    free(job->results);
    free(job->id);
    free(job);
}

/* ---- progress ----------------------------------------------------------------------- */

static spark_status fake_check(const spark_host *host, const spark_job *api)
{
    (void)host;
    if (!api)
        return SPARK_OK;
    return atomic_load(&((fake_job *)api->host_data)->stop);
}

static void fake_report(const spark_host *host, const spark_job *job, double fraction,
                        const char *what)
{
    (void)host, (void)job, (void)fraction, (void)what;
}

static const spark_ext_progress fake_progress_ext = {
    sizeof(spark_ext_progress), 0, fake_check, fake_report,
};

/* ---- host --------------------------------------------------------------------------- */

static const void *fake_get_extension(const spark_host *host, const char *ext_id)
{
    (void)host;
    if (strcmp(ext_id, SPARK_EXT_LOG) == 0)
        return &fake_log_ext;
    if (strcmp(ext_id, SPARK_EXT_ALLOC) == 0)
        return &fake_alloc_ext;
    if (strcmp(ext_id, SPARK_EXT_PROGRESS) == 0)
        return &fake_progress_ext;
    return NULL;
}

static const spark_host fake_host_struct = {
    sizeof(spark_host), SPARK_ABI_VERSION_INIT, "fake-host", "0", NULL, fake_get_extension,
};

const spark_host *fake_host(void)
{
    return &fake_host_struct;
}

/* ---- params ------------------------------------------------------------------------- */

struct fake_params {
    spark_params api;
    const spark_param_desc *schema;
    uint32_t count;
    char **values; /* [count]; NULL = no value */
};

static int fake_param_index(const fake_params *params, const char *key)
{
    for (uint32_t i = 0; i < params->count; i++)
        if (strcmp(params->schema[i].key, key) == 0)
            return (int)i;
    return -1;
}

static const char *fake_param_text(void *user, const char *key)
{
    const fake_params *params = user;
    int index = fake_param_index(params, key);
    return index < 0 ? NULL : params->values[index];
}

static int32_t fake_param_has(void *user, const char *key)
{
    return fake_param_text(user, key) != NULL;
}

static int64_t fake_param_integer(void *user, const char *key)
{
    const char *text = fake_param_text(user, key);
    return text ? strtoll(text, NULL, 10) : 0;
}

static double fake_param_number(void *user, const char *key)
{
    const char *text = fake_param_text(user, key);
    return text ? strtod(text, NULL) : 0.0;
}

static int32_t fake_param_boolean(void *user, const char *key)
{
    const char *text = fake_param_text(user, key);
    return text && strcmp(text, "true") == 0;
}

fake_params *fake_params_new(const spark_param_desc *schema, uint32_t count)
{
    fake_params *params = calloc(1, sizeof *params);
    if (!params)
        return NULL;
    params->values = calloc(count ? count : 1, sizeof *params->values);
    if (!params->values) {
        free(params);
        return NULL;
    }
    params->schema = schema;
    params->count = count;
    for (uint32_t i = 0; i < count; i++)
        if (schema[i].default_value && fake_params_set(params, schema[i].key,
                                                       schema[i].default_value) != 0) {
            fake_params_free(params);
            return NULL;
        }
    params->api.struct_size = sizeof(spark_params);
    params->api.user = params;
    params->api.has = fake_param_has;
    params->api.get_string = fake_param_text;
    params->api.get_integer = fake_param_integer;
    params->api.get_number = fake_param_number;
    params->api.get_boolean = fake_param_boolean;
    return params;
}

int fake_params_set(fake_params *params, const char *key, const char *text)
{
    int index = fake_param_index(params, key);
    char *copy;
    if (index < 0)
        return -1;
    copy = strdup(text);
    if (!copy)
        return -1;
    free(params->values[index]);
    params->values[index] = copy;
    return 0;
}

const spark_params *fake_params_api(fake_params *params)
{
    return &params->api;
}

void fake_params_free(fake_params *params)
{
    if (!params)
        return;
    for (uint32_t i = 0; i < params->count; i++)
        free(params->values[i]);
    free(params->values);
    free(params);
}
