/*
 * Nodes that fail on purpose, to test error reporting:
 * org.sparkhost.test.fail_activate refuses to activate (SPARK_E_INVALID_MODEL);
 * org.sparkhost.test.fail_process fails (SPARK_E_INTERNAL) on the packet whose seq equals
 * `fail_at` and passes every other packet through.
 */
#include "test_nodes.h"
#include "test_plugin_util.h"

typedef struct failing_node {
    test_services s;
} failing_node;

static spark_status failing_create(const spark_host *host, const char *node_id, void **out_self)
{
    (void)node_id;
    return test_instance_create(sizeof(failing_node), host, 1, 0, out_self);
}

static const spark_port_desc failing_ports[] = {
    { "in", SPARK_PORT_IN, SPARK_KIND_AUDIO, 0, 0, 0, 0, "audio" },
    { "out", SPARK_PORT_OUT, SPARK_KIND_AUDIO, 0, 0, 0, 0, "the same audio" },
};
enum { FAILING_PORT_IN = 0, FAILING_PORT_OUT = 1 };

/* ---- fail_activate ------------------------------------------------------------------ */

static spark_status fail_activate_activate(void *self_)
{
    failing_node *self = self_;
    return test_fail(&self->s, SPARK_E_INVALID_MODEL, "activation refused by test plugin");
}

/* process is never reached in a correct engine (activation fails); it passes packets
 * through anyway. */
static const spark_node_ops fail_activate_ops = {
    sizeof(spark_node_ops), 0,
    failing_create,
    NULL, NULL,
    fail_activate_activate,
    NULL, test_forward_process, NULL,
    NULL,
    test_instance_destroy,
};

const spark_node_desc test_fail_activate_desc = {
    sizeof(spark_node_desc),
    0,
    "org.sparkhost.test.fail_activate",
    "test fail_activate",
    TEST_NODES_VERSION,
    "Refuses to activate with SPARK_E_INVALID_MODEL (tests only).",
    NULL,
    (uint32_t)(sizeof failing_ports / sizeof failing_ports[0]),
    0,
    failing_ports,
    NULL,
    0, 0, NULL,
    &fail_activate_ops,
};

/* ---- fail_process ------------------------------------------------------------------- */

/* Per job: the job's fail_at (a per_job parameter). */
typedef struct fail_process_job {
    int64_t fail_at;
} fail_process_job;

static spark_status fail_process_job_begin(void *self_, const spark_job *job,
                                           void **out_job_state)
{
    failing_node *self = self_;
    fail_process_job *state = malloc(sizeof *state);
    if (!state)
        return test_fail(&self->s, SPARK_E_NO_MEMORY, "out of memory");
    state->fail_at = test_param_integer(job->params, "fail_at", 1);
    *out_job_state = state;
    return SPARK_OK;
}

static spark_status fail_process_process(void *self_, void *job_state, const spark_job *job,
                                         uint32_t port, const spark_packet *packet)
{
    failing_node *self = self_;
    const fail_process_job *state = job_state;
    if (port != FAILING_PORT_IN)
        return test_fail(&self->s, SPARK_E_INVALID_ARGUMENT, "no input port %u",
                         (unsigned)port);
    if (!packet)
        return SPARK_OK;
    if (packet->seq == state->fail_at)
        return test_fail(&self->s, SPARK_E_INTERNAL, "process failed on purpose at packet %" PRId64,
                         packet->seq);
    return test_forward(&self->s, job, FAILING_PORT_OUT, packet);
}

static const spark_node_ops fail_process_ops = {
    sizeof(spark_node_ops), 0,
    failing_create,
    NULL, NULL, NULL,
    fail_process_job_begin, fail_process_process, test_job_end_free,
    NULL,
    test_instance_destroy,
};

static const spark_param_desc fail_process_params[] = {
    { "fail_at", SPARK_PARAM_INTEGER, SPARK_PARAM_PER_JOB, "1", 0, 0, 0, 0, NULL,
      "seq of the packet to fail on" },
};

const spark_node_desc test_fail_process_desc = {
    sizeof(spark_node_desc),
    0,
    "org.sparkhost.test.fail_process",
    "test fail_process",
    TEST_NODES_VERSION,
    "Passes audio through and fails with SPARK_E_INTERNAL at packet fail_at (tests only).",
    NULL,
    (uint32_t)(sizeof failing_ports / sizeof failing_ports[0]),
    (uint32_t)(sizeof fail_process_params / sizeof fail_process_params[0]),
    failing_ports,
    fail_process_params,
    0, 0, NULL,
    &fail_process_ops,
};
