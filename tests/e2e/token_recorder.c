/*
 * org.sparkhost.test.token_recorder: posts the token ids that reach it as the JSON result
 * `ids`, one array per packet in arrival order ([[seq, [id, ...]], ...]), so a test can
 * read a pipeline's prompt or generated ids from `sparkhost run --json` (tests only).
 */
#include "test_plugin_util.h"

typedef struct recorder_job {
    char *json;      /* "[[seq,[ids]]" ... without the closing bracket; NUL-terminated */
    size_t length, capacity;
} recorder_job;

static spark_status recorder_create(const spark_host *host, const char *node_id,
                                    void **out_self)
{
    (void)node_id;
    return test_instance_create(sizeof(test_services), host, 0, 0, out_self);
}

static int append(recorder_job *state, const char *text)
{
    size_t n = strlen(text);
    if (state->length + n + 1 > state->capacity) {
        size_t capacity = state->capacity ? state->capacity : 256;
        while (state->length + n + 1 > capacity)
            capacity *= 2;
        char *grown = realloc(state->json, capacity);
        if (!grown)
            return -1;
        state->json = grown;
        state->capacity = capacity;
    }
    memcpy(state->json + state->length, text, n + 1);
    state->length += n;
    return 0;
}

static spark_status recorder_job_begin(void *self, const spark_job *job, void **out_job_state)
{
    (void)job;
    recorder_job *state = calloc(1, sizeof *state);
    if (!state || append(state, "[") != 0) {
        free(state);
        return test_fail(self, SPARK_E_NO_MEMORY, "out of memory");
    }
    *out_job_state = state;
    return SPARK_OK;
}

static spark_status recorder_process(void *self, void *job_state, const spark_job *job,
                                     uint32_t port, const spark_packet *packet)
{
    (void)job;
    (void)port;
    recorder_job *state = job_state;
    if (!packet) /* end of stream */
        return SPARK_OK;
    if (packet->kind != SPARK_KIND_TOKENS)
        return test_fail(self, SPARK_E_FORMAT_MISMATCH, "port in: packet of kind %d",
                         (int)packet->kind);
    const spark_tokens_data *tokens = &packet->data.tokens;
    char number[32];
    snprintf(number, sizeof number, "%s[%" PRId64 ",[", state->length > 1 ? "," : "",
             packet->seq);
    int failed = append(state, number);
    for (uint64_t i = 0; !failed && i < tokens->count; i++) {
        snprintf(number, sizeof number, "%s%" PRId32, i ? "," : "", tokens->ids[i]);
        failed = append(state, number);
    }
    if (failed || append(state, "]]") != 0)
        return test_fail(self, SPARK_E_NO_MEMORY, "out of memory");
    return SPARK_OK;
}

static spark_status recorder_job_end(void *self, void *job_state, const spark_job *job,
                                     spark_status outcome)
{
    recorder_job *state = job_state;
    spark_status status = SPARK_OK;
    if (append(state, "]") != 0)
        status = test_fail(self, SPARK_E_NO_MEMORY, "out of memory");
    else if (job->post_result(job, "ids", SPARK_VALUE_JSON, state->json, 0) < 0 &&
             outcome == SPARK_OK)
        status = test_fail(self, SPARK_E_INTERNAL, "job %s: could not post ids",
                           test_job_id(job));
    free(state->json);
    free(state);
    return status;
}

static const spark_node_ops recorder_ops = {
    sizeof(spark_node_ops), 0,
    recorder_create, NULL, NULL,
    NULL,
    recorder_job_begin, recorder_process, recorder_job_end,
    NULL,
    test_instance_destroy,
};

static const spark_port_desc recorder_ports[] = {
    { "in", SPARK_PORT_IN, SPARK_KIND_TOKENS, 0, 0, 0, 0, "token ids to record" },
};

static const spark_result_desc recorder_results[] = {
    { "ids", SPARK_VALUE_JSON, 0, "[[seq, [id, ...]], ...]: the packets received, in order" },
};

static const spark_node_desc recorder_desc = {
    sizeof(spark_node_desc),
    0,
    "org.sparkhost.test.token_recorder",
    "token recorder",
    "1.0.0",
    "Posts the token ids it receives as a result (tests only).",
    NULL,
    (uint32_t)(sizeof recorder_ports / sizeof recorder_ports[0]),
    0,
    recorder_ports,
    NULL,
    (uint32_t)(sizeof recorder_results / sizeof recorder_results[0]),
    0,
    recorder_results,
    &recorder_ops,
};

static const spark_node_desc *const recorder_nodes[] = { &recorder_desc };

static const spark_node_factory recorder_factory = {
    sizeof(spark_node_factory), 1, recorder_nodes,
};

static const void *recorder_get_factory(const char *factory_id)
{
    return test_node_factory_for(factory_id, &recorder_factory);
}

SPARK_PLUGIN_ENTRY = {
    sizeof(spark_entry),
    0,
    { SPARK_ABI_MAJOR, SPARK_ABI_MINOR, SPARK_ABI_PATCH },
    0,
    "test-token-recorder",
    "1.0.0",
    NULL,
    NULL,
    recorder_get_factory,
};
