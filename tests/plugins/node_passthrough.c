/*
 * org.sparkhost.test.passthrough: re-emits every audio packet it receives, keeping up to
 * `hold` packets back (retained past the call that lent them) and flushing them in order at
 * end of stream. For concurrency tests it checks that each call gets its own job's state and
 * posts `packets` (forwarded in this job) and `peak_jobs` (the most jobs this instance has
 * had in flight at once since activate, as seen when this job ends).
 */
#include "test_nodes.h"
#include "test_plugin_util.h"

#include <stdatomic.h>

#define PASSTHROUGH_MAX_HOLD 64

typedef struct passthrough_node {
    test_services s;
    /* The only instance state jobs touch, hence atomic. */
    atomic_int in_flight;
    atomic_int peak;
} passthrough_node;

typedef struct passthrough_job {
    char *job_id;  /* copy of job->id: process must get this job's state */
    int64_t hold;  /* packets to keep back */
    int64_t forwarded;
    /* FIFO of retained packets: held[first .. first + count) modulo the capacity. */
    const spark_packet *held[PASSTHROUGH_MAX_HOLD + 1];
    int64_t first;
    int64_t count;
} passthrough_job;

static spark_status passthrough_create(const spark_host *host, const char *node_id,
                                       void **out_self)
{
    spark_status status;
    (void)node_id;
    status = test_instance_create(sizeof(passthrough_node), host, 1, 0, out_self);
    if (status == SPARK_OK) {
        passthrough_node *self = *out_self;
        atomic_init(&self->in_flight, 0);
        atomic_init(&self->peak, 0);
    }
    return status;
}

static spark_status passthrough_activate(void *self_)
{
    passthrough_node *self = self_;
    atomic_store(&self->in_flight, 0);
    atomic_store(&self->peak, 0);
    return SPARK_OK;
}

static spark_status passthrough_job_begin(void *self_, const spark_job *job,
                                          void **out_job_state)
{
    passthrough_node *self = self_;
    passthrough_job *state = calloc(1, sizeof *state);
    int now, peak;
    if (!state)
        return test_fail(&self->s, SPARK_E_NO_MEMORY, "out of memory");
    state->job_id = strdup(test_job_id(job));
    if (!state->job_id) {
        free(state);
        return test_fail(&self->s, SPARK_E_NO_MEMORY, "out of memory");
    }
    state->hold = test_param_integer(job->params, "hold", 0);
    if (state->hold < 0 || state->hold > PASSTHROUGH_MAX_HOLD) {
        free(state->job_id);
        free(state);
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT, "hold must be 0..%d",
                         PASSTHROUGH_MAX_HOLD);
    }
    now = atomic_fetch_add(&self->in_flight, 1) + 1;
    peak = atomic_load(&self->peak);
    while (now > peak && !atomic_compare_exchange_weak(&self->peak, &peak, now))
        ;
    *out_job_state = state;
    return SPARK_OK;
}

/* Emit the oldest held packet; emit takes our reference. */
static spark_status passthrough_emit_oldest(passthrough_job *state, const spark_job *job)
{
    const spark_packet *packet = state->held[state->first];
    state->held[state->first] = NULL;
    state->first = (state->first + 1) % (PASSTHROUGH_MAX_HOLD + 1);
    state->count--;
    state->forwarded++;
    return job->emit(job, 1, (spark_packet *)(uintptr_t)packet);
}

static spark_status passthrough_process(void *self_, void *job_state, const spark_job *job,
                                        uint32_t port, const spark_packet *packet)
{
    passthrough_node *self = self_;
    passthrough_job *state = job_state;
    spark_status status = SPARK_OK;
    if (port != 0)
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT, "no input port %u",
                         (unsigned)port);
    if (strcmp(state->job_id, test_job_id(job)) != 0)
        return test_fail(&self->s, SPARK_E_INTERNAL,
                         "process for job %s got the state of job %s", test_job_id(job),
                         state->job_id);
    if (packet) {
        int64_t slot = (state->first + state->count) % (PASSTHROUGH_MAX_HOLD + 1);
        state->held[slot] = self->s.alloc->retain(packet);
        state->count++;
        while (state->count > state->hold && status >= 0)
            status = passthrough_emit_oldest(state, job);
    } else {
        while (state->count > 0 && status >= 0)
            status = passthrough_emit_oldest(state, job);
    }
    return status < 0 ? status : SPARK_OK;
}

static spark_status passthrough_job_end(void *self_, void *job_state, const spark_job *job,
                                        spark_status outcome)
{
    passthrough_node *self = self_;
    passthrough_job *state = job_state;
    spark_status status = SPARK_OK;
    spark_status posted;

    /* A failed or cancelled job may leave packets held: drop our references. */
    while (state->count > 0) {
        self->s.alloc->release(state->held[state->first]);
        state->first = (state->first + 1) % (PASSTHROUGH_MAX_HOLD + 1);
        state->count--;
    }
    posted = test_post_integer(job, "packets", state->forwarded);
    if (posted >= 0)
        posted = test_post_integer(job, "peak_jobs", atomic_load(&self->peak));
    if (posted < 0 && outcome == SPARK_OK)
        status = test_fail(&self->s, posted, "job %s: could not post results",
                           state->job_id);
    atomic_fetch_sub(&self->in_flight, 1);
    free(state->job_id);
    free(state);
    return status;
}

static const spark_node_ops passthrough_ops = {
    sizeof(spark_node_ops), 0,
    passthrough_create,
    NULL, NULL,
    passthrough_activate,
    passthrough_job_begin, passthrough_process, passthrough_job_end,
    NULL,
    test_instance_destroy,
};

static const spark_port_desc passthrough_ports[] = {
    { "in", SPARK_PORT_IN, SPARK_KIND_AUDIO, 0, 0, 0, 0, "audio" },
    { "out", SPARK_PORT_OUT, SPARK_KIND_AUDIO, 0, 0, 0, 0, "the same packets" },
};

static const spark_param_desc passthrough_params[] = {
    { "hold", SPARK_PARAM_INTEGER,
      SPARK_PARAM_PER_JOB | SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "0", 0,
      PASSTHROUGH_MAX_HOLD, 0, 0, NULL,
      "packets kept back (retained) before re-emitting; flushed at end of stream" },
};

static const spark_result_desc passthrough_results[] = {
    { "packets", SPARK_VALUE_INTEGER, 0, "packets re-emitted in this job" },
    { "peak_jobs", SPARK_VALUE_INTEGER, 0,
      "most jobs in flight at once on this instance since activate" },
};

const spark_node_desc test_passthrough_desc = {
    sizeof(spark_node_desc),
    0,
    "org.sparkhost.test.passthrough",
    "test passthrough",
    TEST_NODES_VERSION,
    "Re-emits audio packets, optionally holding some back (tests only).",
    NULL,
    (uint32_t)(sizeof passthrough_ports / sizeof passthrough_ports[0]),
    (uint32_t)(sizeof passthrough_params / sizeof passthrough_params[0]),
    passthrough_ports,
    passthrough_params,
    (uint32_t)(sizeof passthrough_results / sizeof passthrough_results[0]),
    0,
    passthrough_results,
    &passthrough_ops,
};
