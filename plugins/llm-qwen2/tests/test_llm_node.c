/* The built llm-qwen2 plugin (argv[1], dlopen) with the fake engine on the tiny random-weight
 * model: streamed codes agree with the generated ids, a seeded job repeats, two jobs decode
 * at once on one instance with the results of running alone, and the robustness cases:
 * zero semantic tokens, max_new_tokens reached, a control run whose globals are not 32
 * (constrain off), bad parameters. Each failure must be a clear error, never a crash. */
#define _POSIX_C_SOURCE 200809L
#include "llm_test_util.h"

#include <spark/ext/alloc.h>
#include <spark/plugin.h>

#include <cjson/cJSON.h>
#include <pthread.h>

#include "fake_host.h"

enum { P_PROMPT = 0, P_GENERATED = 1, P_CODES = 2 };

static nn_spark_ids ids;
static int32_t control_prompt[16];
static size_t control_len;

static spark_packet *prompt_packet(const int32_t *p, size_t n, int64_t seq)
{
    const spark_ext_alloc *alloc = fake_host()->get_extension(fake_host(), SPARK_EXT_ALLOC);
    spark_packet *pk = alloc->tokens(fake_host(), n, "spark-tts-qwen2");
    memcpy(pk->data.tokens.ids, p, n * sizeof *p);
    pk->seq = seq;
    return pk;
}

typedef struct run {
    spark_status begin, process, end;
    int32_t generated[512];
    size_t generated_count;
    int32_t semantic[512];
    size_t semantic_count, chunks, globals_in_chunks;
    int32_t globals[32];
    char error[512];
    char stop_reason[32];
    double tokens_result;
    bool timings_ok;
} run;

/* One job with one prompt packet; records what came out. */
static void run_job(fake_node *node, const char *const *settings, const int32_t *p, size_t n,
                    run *r)
{
    memset(r, 0, sizeof *r);
    fake_log_clear();
    fake_job *job = NULL;
    r->begin = fake_job_begin(node, "job", settings, &job);
    if (r->begin == SPARK_OK) {
        spark_packet *pk = prompt_packet(p, n, 3);
        r->process = fake_job_process(job, P_PROMPT, pk);
        fake_release(pk);
        if (r->process == SPARK_OK)
            r->process = fake_job_process(job, P_PROMPT, NULL);
        snprintf(r->error, sizeof r->error, "%s", fake_last_error());
        r->end = fake_job_end(job, r->process);
        for (size_t i = 0; i < fake_job_output_count(job, P_GENERATED); i++) {
            const spark_packet *g = fake_job_output(job, P_GENERATED, i);
            CHECK(g->seq == 3, "generated ids keep the prompt's seq");
            for (size_t k = 0; k < g->data.tokens.count && r->generated_count < 512; k++)
                r->generated[r->generated_count++] = g->data.tokens.ids[k];
        }
        for (size_t i = 0; i < fake_job_output_count(job, P_CODES); i++) {
            const spark_packet *c = fake_job_output(job, P_CODES, i);
            CHECK(c->seq == 3, "codes chunk %zu has seq %lld, not the prompt's 3", i,
                  (long long)c->seq);
            bool last = i + 1 == fake_job_output_count(job, P_CODES);
            CHECK(((spark_packet_flags(c) & SPARK_PACKET_PIECE_END) != 0) == last,
                  "codes chunk %zu of %zu: the piece-end flag is %s", i,
                  fake_job_output_count(job, P_CODES), last ? "missing" : "set early");
            for (size_t k = 0; k < c->data.codes.n_semantic && r->semantic_count < 512; k++)
                r->semantic[r->semantic_count++] = c->data.codes.semantic[k];
            if (c->data.codes.n_global == 32 && r->globals_in_chunks == 0)
                memcpy(r->globals, c->data.codes.global, sizeof r->globals);
            r->globals_in_chunks += c->data.codes.n_global;
            r->chunks++;
        }
        const fake_result *t = fake_job_result(job, "tokens_generated");
        r->tokens_result = t ? t->number : -1;
        const char *s = fake_job_result_text(job, "stop_reason");
        snprintf(r->stop_reason, sizeof r->stop_reason, "%s", s ? s : "");
        const char *timings = fake_job_result_text(job, "timings");
        cJSON *tj = timings ? cJSON_Parse(timings) : NULL;
        r->timings_ok = tj && cJSON_IsNumber(cJSON_GetObjectItem(tj, "decode_seconds")) &&
                        cJSON_IsArray(cJSON_GetObjectItem(tj, "per_segment"));
        cJSON_Delete(tj);
    } else {
        snprintf(r->error, sizeof r->error, "%s", fake_last_error());
    }
    fake_job_free(job);
}

/* The streamed codes are exactly the semantic (and global) ids of the generated ones. */
static void check_codes_match(const run *r, bool control)
{
    size_t s = 0, g = 0;
    bool same = true;
    for (size_t i = 0; i < r->generated_count; i++) {
        int32_t id = r->generated[i];
        if (id >= ids.semantic_first && id < ids.semantic_first + ids.semantic_count)
            same = same && s < r->semantic_count && r->semantic[s++] == id - ids.semantic_first;
        else if (control && id >= ids.global_first && id < ids.global_first + ids.global_count)
            same = same && g < 32 && r->globals[g++] == id - ids.global_first;
    }
    CHECK(same && s == r->semantic_count, "streamed codes differ from the generated ids");
    CHECK(!control || (g == 32 && r->globals_in_chunks == 32),
          "control mode: %zu generated globals, %zu in chunks", g, r->globals_in_chunks);
}

/* A job of three control segments: the 32 globals each segment's first chunk carries.
 * Returns how many segments carried globals. */
static size_t run_three_segments(fake_node *node, const char *const *settings,
                                 int32_t globals[3][32])
{
    fake_log_clear();
    fake_job *job = NULL;
    size_t found = 0;
    if (fake_job_begin(node, "segments", settings, &job) != SPARK_OK)
        return 0;
    spark_status st = SPARK_OK;
    for (int seg = 0; seg < 3 && st == SPARK_OK; seg++) {
        spark_packet *pk = prompt_packet(control_prompt, control_len, seg);
        st = fake_job_process(job, P_PROMPT, pk);
        fake_release(pk);
    }
    if (st == SPARK_OK)
        st = fake_job_process(job, P_PROMPT, NULL);
    CHECK(st == SPARK_OK, "three segments: %s", fake_last_error());
    fake_job_end(job, st);
    for (size_t i = 0; i < fake_job_output_count(job, P_CODES) && found < 3; i++) {
        const spark_packet *c = fake_job_output(job, P_CODES, i);
        if (c->data.codes.n_global == 32)
            memcpy(globals[found++], c->data.codes.global, 32 * sizeof(int32_t));
    }
    fake_job_free(job);
    return found;
}

typedef struct thread_arg {
    fake_node *node;
    const char *const *settings;
    run r;
} thread_arg;

static void *job_thread(void *p)
{
    thread_arg *a = p;
    run_job(a->node, a->settings, control_prompt, control_len, &a->r);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_llm_node PLUGIN.so\n");
        return 2;
    }
    char *dir = make_tiny_model();
    char path[600], err[256];
    snprintf(path, sizeof path, "%s/LLM/added_tokens.json", dir);
    if (nn_spark_ids_load(path, &ids, err, sizeof err)) {
        fprintf(stderr, "FAIL: %s\n", err);
        return 1;
    }
    const int32_t text[] = {300, 41, 512, 77, 8, 620};
    control_prompt[control_len++] = ids.task_controllable;
    control_prompt[control_len++] = ids.start_acoustic - 3; /* <|start_content|> */
    for (size_t i = 0; i < 6; i++)
        control_prompt[control_len++] = text[i];
    control_prompt[control_len++] = ids.end_acoustic - 3; /* <|end_content|> */

    fake_plugin plugin;
    if (fake_plugin_load(&plugin, argv[1]))
        return 1;
    const spark_node_desc *desc = fake_plugin_node(&plugin, "org.sparkhost.llm.qwen2");
    CHECK(desc != NULL, "the plugin has no org.sparkhost.llm.qwen2 node");
    if (!desc)
        return 1;

    /* activation: a missing model is named */
    fake_node bad = {0};
    const char *const missing[] = {"model_dir", "/nonexistent/model", NULL};
    CHECK(fake_node_open(&bad, desc, missing, NULL) == SPARK_E_INVALID_MODEL &&
              strstr(fake_last_error(), "/nonexistent/model"),
          "a missing model directory is named: %s", fake_last_error());
    fake_node_close(&bad);

    fake_node node = {0};
    const char *const settings[] = {"model_dir", dir, "threads", "2", NULL};
    spark_status st = fake_node_open(&node, desc, settings, NULL);
    CHECK(st == SPARK_OK, "activate: %s", fake_last_error());
    if (st != SPARK_OK)
        return 1;

    /* constrained control run, streamed in chunks of 7 */
    const char *const job_a[] = {"seed", "11", "chunk_size", "7", "max_new_tokens", "300",
                                 NULL};
    run a, b;
    run_job(&node, job_a, control_prompt, control_len, &a);
    CHECK(a.process == SPARK_OK, "control job: %s", a.error);
    CHECK(a.generated_count > 39 && a.semantic_count > 0, "control job: %zu ids, %zu semantic",
          a.generated_count, a.semantic_count);
    CHECK(a.chunks == (a.semantic_count + 6) / 7, "%zu semantic codes in %zu chunks of 7",
          a.semantic_count, a.chunks);
    check_codes_match(&a, true);
    CHECK(a.tokens_result == (double)a.generated_count, "tokens_generated %.0f, ids %zu",
          a.tokens_result, a.generated_count);
    CHECK(strcmp(a.stop_reason, "end") == 0 || strcmp(a.stop_reason, "max_new_tokens") == 0,
          "stop_reason \"%s\"", a.stop_reason);
    CHECK(a.timings_ok, "the timings result is JSON with decode_seconds and per_segment");
    printf("control job: %zu ids, %zu semantic codes in %zu chunks, stop %s\n",
           a.generated_count, a.semantic_count, a.chunks, a.stop_reason);

    /* the same seed again: the same ids */
    run_job(&node, job_a, control_prompt, control_len, &b);
    CHECK(b.generated_count == a.generated_count &&
              memcmp(a.generated, b.generated, a.generated_count * sizeof(int32_t)) == 0,
          "seed 11 twice gave different ids");

    /* two jobs at once on the one instance give what each gives alone */
    const char *const job_c[] = {"seed", "12", "chunk_size", "5", "max_new_tokens", "300", NULL};
    run c;
    run_job(&node, job_c, control_prompt, control_len, &c);
    thread_arg t1 = {&node, job_a, {0}}, t2 = {&node, job_c, {0}};
    pthread_t h1, h2;
    pthread_create(&h1, NULL, job_thread, &t1);
    pthread_create(&h2, NULL, job_thread, &t2);
    pthread_join(h1, NULL);
    pthread_join(h2, NULL);
    CHECK(t1.r.process == SPARK_OK && t2.r.process == SPARK_OK, "concurrent jobs failed");
    CHECK(t1.r.generated_count == a.generated_count &&
              memcmp(t1.r.generated, a.generated, a.generated_count * sizeof(int32_t)) == 0 &&
              t2.r.generated_count == c.generated_count &&
              memcmp(t2.r.generated, c.generated, c.generated_count * sizeof(int32_t)) == 0,
          "concurrent jobs differ from the same jobs run alone");
    printf("two concurrent jobs: same ids as alone (%zu and %zu)\n", t1.r.generated_count,
           t2.r.generated_count);

    /* one voice for the whole text: later segments get the first one's globals (forced);
     * with same_voice off each segment draws its own */
    int32_t voices[3][32];
    const char *const job_same[] = {"seed", "21", "max_new_tokens", "120", NULL};
    CHECK(run_three_segments(&node, job_same, voices) == 3, "three segments, three voices");
    CHECK(memcmp(voices[0], voices[1], sizeof voices[0]) == 0 &&
              memcmp(voices[0], voices[2], sizeof voices[0]) == 0,
          "same_voice: the segments' global codes differ");
    const char *const job_own[] = {"seed", "21", "max_new_tokens", "120", "same_voice", "false",
                                   NULL};
    CHECK(run_three_segments(&node, job_own, voices) == 3, "three segments, three voices");
    CHECK(memcmp(voices[0], voices[1], sizeof voices[0]) != 0 ||
              memcmp(voices[0], voices[2], sizeof voices[0]) != 0,
          "same_voice false: every segment drew the same 32 globals");

    /* max_new_tokens reached after some speech: codes kept, stop reason reported */
    const char *const job_max[] = {"seed", "11", "max_new_tokens", "45", "min_new_tokens", "45",
                                   NULL};
    run m;
    run_job(&node, job_max, control_prompt, control_len, &m);
    CHECK(m.process == SPARK_OK && m.generated_count == 45 &&
              strcmp(m.stop_reason, "max_new_tokens") == 0 && m.semantic_count == 45 - 39,
          "max_new_tokens 45: status %d, %zu ids, %zu codes, stop \"%s\": %s", m.process,
          m.generated_count, m.semantic_count, m.stop_reason, m.error);

    /* max_new_tokens reached before any speech: a clear error */
    const char *const job_short[] = {"seed", "11", "max_new_tokens", "20", NULL};
    run s;
    run_job(&node, job_short, control_prompt, control_len, &s);
    CHECK(s.process == SPARK_E_INVALID_ARGUMENT && strstr(s.error, "no semantic token") &&
              strstr(s.error, "max_new_tokens") && s.semantic_count == 0 &&
              s.generated_count == 0,
          "max_new_tokens 20 in control mode: status %d, error \"%s\"", s.process, s.error);
    printf("cut before speech: %s\n", s.error);

    /* zero semantic tokens, unconstrained greedy: fails clearly, nothing emitted */
    const char *const job_zero[] = {"constrain", "off", "temperature", "0", "max_new_tokens",
                                    "3", NULL};
    run z;
    run_job(&node, job_zero, control_prompt, control_len, &z);
    CHECK(z.process == SPARK_E_INVALID_ARGUMENT && strstr(z.error, "no semantic token") &&
              z.chunks == 0 && z.generated_count == 0,
          "zero semantic tokens: status %d, error \"%s\"", z.process, z.error);
    printf("zero semantic tokens: %s\n", z.error);

    /* an immediate end: the first greedy id made a stop id */
    char first_id[16] = "";
    const char *const job_first[] = {"constrain", "off", "temperature", "0", "max_new_tokens",
                                     "1", NULL};
    run f1;
    run_job(&node, job_first, control_prompt, control_len, &f1);
    CHECK(f1.process == SPARK_E_INVALID_ARGUMENT, "one unconstrained id is no speech");
    const char *first = strstr(f1.error, "(1 ids");
    CHECK(first != NULL, "the error counts the ids: %s", f1.error);
    nn_qwen2_options o = {.weights = NN_WEIGHT_F32};
    char llm[600];
    snprintf(llm, sizeof llm, "%s/LLM", dir);
    nn_qwen2 *model = nn_qwen2_load(llm, &o, err, sizeof err);
    nn_qwen2_ctx *ctx = nn_qwen2_ctx_new(model);
    float *logits = malloc(8000 * sizeof *logits);
    CHECK(model && nn_qwen2_forward(ctx, NULL, control_prompt, control_len, NULL, 0, logits,
                                    err, sizeof err) == 0, "direct forward: %s", err);
    snprintf(first_id, sizeof first_id, "%td", nn_argmax(logits, 8000, NULL));
    free(logits);
    nn_qwen2_ctx_free(ctx);
    nn_qwen2_free(model);
    const char *const job_end_now[] = {"constrain", "off", "temperature", "0", "stop", first_id,
                                       NULL};
    run e;
    run_job(&node, job_end_now, control_prompt, control_len, &e);
    CHECK(e.process == SPARK_E_INVALID_ARGUMENT && strstr(e.error, "no semantic token (1 ids, "
                                                                   "stop reason end)"),
          "an immediate end: status %d, error \"%s\"", e.process, e.error);
    printf("immediate end (stop id %s): %s\n", first_id, e.error);

    /* sampled and unconstrained: retried with other seeds, then a clear error */
    const char *const job_retry[] = {"constrain", "off", "seed", "1", "max_new_tokens", "2",
                                     "retries", "2", "stop", "im_end,endoftext", NULL};
    run rr;
    run_job(&node, job_retry, control_prompt, control_len, &rr);
    CHECK(rr.process == SPARK_E_INVALID_ARGUMENT && strstr(rr.error, "after 3 attempts"),
          "retries: status %d, error \"%s\"", rr.process, rr.error);

    /* control prompt unconstrained: the globals are not 32, a clear error */
    const char *const job_glob[] = {"constrain", "off", "seed", "3", "max_new_tokens", "80",
                                    "top_k", "0", "top_p", "1", "temperature", "1", "retries",
                                    "0", NULL};
    run gl;
    run_job(&node, job_glob, control_prompt, control_len, &gl);
    CHECK(gl.process == SPARK_E_INVALID_ARGUMENT && strstr(gl.error, "global tokens where the "
                                                                     "control mode needs 32"),
          "globals != 32: status %d, error \"%s\"", gl.process, gl.error);
    printf("control without the grammar: %s\n", gl.error);

    /* bad per-job parameters are named */
    const char *const job_stop[] = {"stop", "im_end,bogus", NULL};
    run bs;
    run_job(&node, job_stop, control_prompt, control_len, &bs);
    CHECK(bs.begin == SPARK_E_INVALID_ARGUMENT && strstr(bs.error, "stop"),
          "a bad stop list: status %d, \"%s\"", bs.begin, bs.error);
    const char *const job_min[] = {"min_new_tokens", "50", "max_new_tokens", "10", NULL};
    run bm;
    run_job(&node, job_min, control_prompt, control_len, &bm);
    CHECK(bm.begin == SPARK_E_INVALID_ARGUMENT && strstr(bm.error, "min_new_tokens"),
          "min > max: status %d, \"%s\"", bm.begin, bm.error);

    /* a prompt id outside the vocabulary */
    int32_t bad_prompt[2] = {5, 1 << 30};
    run bp;
    run_job(&node, NULL, bad_prompt, 2, &bp);
    CHECK(bp.process == SPARK_E_INVALID_ARGUMENT && strstr(bp.error, "outside the vocabulary"),
          "bad prompt id: status %d, \"%s\"", bp.process, bp.error);

    fake_node_close(&node);
    CHECK(fake_live_packets() == 0, "%ld packets leaked", fake_live_packets());
    fake_plugin_unload(&plugin);
    remove_tree(dir);
    if (test_failures) {
        fprintf(stderr, "%d checks failed\n", test_failures);
        return 1;
    }
    printf("all llm-qwen2 node checks passed\n");
    return 0;
}
