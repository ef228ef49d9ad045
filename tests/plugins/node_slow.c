/*
 * org.sparkhost.test.slow: passes audio through, sleeping `delay_ms` per packet in 10 ms
 * steps and polling spark.ext.progress/1 check() before each step. When check() says stop
 * (SPARK_E_CANCELLED, SPARK_E_TIMEOUT) it returns that status at once: this is how
 * cancellation and deadlines are tested.
 */
#include "test_nodes.h"
#include "test_plugin_util.h"

#include <errno.h>
#include <time.h>

#define SLOW_STEP_MS 10

typedef struct slow_node {
    test_services s;
} slow_node;

typedef struct slow_job {
    int64_t delay_ms;
} slow_job;

static spark_status slow_create(const spark_host *host, const char *node_id, void **out_self)
{
    (void)node_id;
    return test_instance_create(sizeof(slow_node), host, 1, 1, out_self);
}

static spark_status slow_job_begin(void *self_, const spark_job *job, void **out_job_state)
{
    slow_node *self = self_;
    slow_job *state = malloc(sizeof *state);
    if (!state)
        return test_fail(&self->s, SPARK_E_NO_MEMORY, "out of memory");
    state->delay_ms = test_param_integer(job->params, "delay_ms", 200);
    if (state->delay_ms < 0)
        state->delay_ms = 0;
    *out_job_state = state;
    return SPARK_OK;
}

static void slow_sleep_ms(int64_t ms)
{
    struct timespec left = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    /* nanosleep reports the time left when a signal interrupts it. */
    while (nanosleep(&left, &left) != 0 && errno == EINTR)
        ;
}

static spark_status slow_process(void *self_, void *job_state, const spark_job *job,
                                 uint32_t port, const spark_packet *packet)
{
    slow_node *self = self_;
    const slow_job *state = job_state;
    if (port != 0)
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT, "no input port %u",
                         (unsigned)port);
    if (!packet)
        return SPARK_OK;
    for (int64_t waited = 0; waited < state->delay_ms; waited += SLOW_STEP_MS) {
        /* The host decided to stop this job and knows why: pass its status on as is. */
        spark_status status = self->s.progress->check(self->s.host, job);
        if (status != SPARK_OK)
            return status;
        int64_t step = state->delay_ms - waited;
        slow_sleep_ms(step < SLOW_STEP_MS ? step : SLOW_STEP_MS);
    }
    return test_forward(&self->s, job, 1, packet);
}

static const spark_node_ops slow_ops = {
    sizeof(spark_node_ops), 0,
    slow_create,
    NULL, NULL, NULL,
    slow_job_begin, slow_process, test_job_end_free,
    NULL,
    test_instance_destroy,
};

static const spark_port_desc slow_ports[] = {
    { "in", SPARK_PORT_IN, SPARK_KIND_AUDIO, 0, 0, 0, 0, "audio" },
    { "out", SPARK_PORT_OUT, SPARK_KIND_AUDIO, 0, 0, 0, 0, "the same audio, later" },
};

static const spark_param_desc slow_params[] = {
    { "delay_ms", SPARK_PARAM_INTEGER,
      SPARK_PARAM_PER_JOB | SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, "200", 0, 3600000, 0,
      0, NULL, "delay per packet in milliseconds, slept in 10 ms steps" },
};

const spark_node_desc test_slow_desc = {
    sizeof(spark_node_desc),
    0,
    "org.sparkhost.test.slow",
    "test slow",
    TEST_NODES_VERSION,
    "Passes audio through after delay_ms per packet, polling cancellation (tests only).",
    NULL,
    (uint32_t)(sizeof slow_ports / sizeof slow_ports[0]),
    (uint32_t)(sizeof slow_params / sizeof slow_params[0]),
    slow_ports,
    slow_params,
    0, 0, NULL,
    &slow_ops,
};
