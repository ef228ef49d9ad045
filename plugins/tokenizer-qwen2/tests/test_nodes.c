/* The built tokenizer-qwen2 plugin (argv[1], dlopen) with the fake engine: descriptors,
 * activation (missing special token named), the three prompt formats with ids checked
 * against the spec's id layout, the voice arriving after the text, label and count errors,
 * the auto mode of both nodes, and the code parser. The model is a small tokenizer.json written by the test: the 256
 * byte tokens, one merge ("a b" -> 256), then the Spark tokens in the order of spec 3.3. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "plugin_checks.h"

#include <spark/ext/alloc.h>
#include <spark/plugin.h>

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_host.h"
#include "gpt2_bytes.h"

enum { P_TEXT = 0, P_VOICE = 1, P_TOKENS = 2 };
enum { BASE = 257 }; /* id of <|bicodec_global_0|> in the test model (151665 upstream) */
#define ID(spec_id) ((int32_t)(BASE + (spec_id) - 151665))

static const char *const structure[] = {
    "task_vc", "task_tts", "task_asr", "task_s2s", "task_t2s", "task_cap", "task_understand",
    "task_controllable_tts", "task_prompt_tts", "task_edit", "start_content",
    "start_style_label", "start_style_prompt", "start_acoustic_token", "start_global_token",
    "start_semantic_token", "end_content", "end_style_label", "end_style_prompt",
    "end_acoustic_token", "end_global_token", "end_semantic_token"};


/* Writes DIR/LLM/tokenizer.json; the token named `skip` is left out. */
static void write_model(const char *dir, const char *skip)
{
    static const struct { const char *name; int count; } fam[] = {
        {"bicodec_global", 4096}, {"bicodec_semantic", 8192}, {"pitch_value", 1001},
        {"pitch_var_value", 11}, {"pitch_label", 5}, {"pitch_var_label", 5},
        {"speed_value", 11}, {"speed_label", 5}, {"loudness_value", 31},
        {"loudness_label", 5}, {"age", 5}, {"gender", 3}, {"emotion", 101}};
    cJSON *j = cJSON_CreateObject();
    cJSON *added = cJSON_AddArrayToObject(j, "added_tokens");
    int id = BASE;
    char name[64];
    for (size_t f = 0; f < sizeof fam / sizeof fam[0]; f++)
        for (int i = 0; i < fam[f].count; i++, id++) {
            snprintf(name, sizeof name, "<|%s_%d|>", fam[f].name, i);
            if (skip && strcmp(skip, name) == 0)
                continue;
            cJSON *t = cJSON_CreateObject();
            cJSON_AddNumberToObject(t, "id", id);
            cJSON_AddStringToObject(t, "content", name);
            cJSON_AddItemToArray(added, t);
        }
    for (size_t i = 0; i < sizeof structure / sizeof structure[0]; i++, id++) {
        snprintf(name, sizeof name, "<|%s|>", structure[i]);
        if (skip && strcmp(skip, name) == 0)
            continue;
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "id", id);
        cJSON_AddStringToObject(t, "content", name);
        cJSON_AddItemToArray(added, t);
    }
    cJSON_AddItemToObject(j, "normalizer", cJSON_Parse("{\"type\":\"NFC\"}"));
    char pre[512];
    snprintf(pre, sizeof pre, "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
             "\"pattern\":{\"Regex\":\"%s\"},\"behavior\":\"Isolated\",\"invert\":false},"
             "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}",
             "REGEX");
    cJSON *p = cJSON_Parse(pre);
    cJSON *split = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "pretokenizers"), 0);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(split, "pattern"), "Regex",
                              cJSON_CreateString(
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
        "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"));
    cJSON_AddItemToObject(j, "pre_tokenizer", p);
    cJSON *model = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int b = 0; b < 256; b++) {
        char c[3];
        byte_char(b, c);
        cJSON_AddNumberToObject(vocab, c, b);
    }
    cJSON_AddNumberToObject(vocab, "ab", 256);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(model, "merges"), cJSON_CreateString("a b"));
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char path[512];
    snprintf(path, sizeof path, "%s/LLM", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/LLM/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    free(text);
}

static const spark_ext_alloc *alloc_ext(void)
{
    return fake_host()->get_extension(fake_host(), SPARK_EXT_ALLOC);
}

static void expect_ids(const spark_packet *p, const int32_t *want, size_t n, int line)
{
    CHECK(p != NULL);
    if (!p)
        return;
    CHECK_INT_EQ(p->kind, SPARK_KIND_TOKENS);
    CHECK_INT_EQ(p->data.tokens.count, n);
    for (size_t i = 0; i < n && i < p->data.tokens.count; i++)
        if (p->data.tokens.ids[i] != want[i]) {
            fprintf(stderr, "line %d: id %zu is %d, want %d\n", line, i,
                    (int)p->data.tokens.ids[i], (int)want[i]);
            check_failures++;
            break;
        }
}

static spark_packet *voice(int n_global, int n_semantic)
{
    spark_packet *p = alloc_ext()->codes(fake_host(), (uint64_t)n_semantic,
                                         (uint64_t)n_global, "bicodec", 50.0);
    for (int i = 0; i < n_global; i++)
        p->data.codes.global[i] = i * 100;
    for (int i = 0; i < n_semantic; i++)
        p->data.codes.semantic[i] = 8191 - i;
    return p;
}

static spark_status feed_text(fake_job *job, const char *text, int64_t seq)
{
    spark_packet *in = fake_text_packet(text, strlen(text), 0);
    in->seq = seq;
    spark_status status = fake_job_process(job, P_TEXT, in);
    fake_release(in);
    return status;
}

static void test_prompts(const spark_node_desc *desc, const char *dir)
{
    const char *settings[] = {"model_dir", dir, NULL};
    fake_node node;
    CHECK_INT_EQ(fake_node_open(&node, desc, settings, NULL), SPARK_OK);

    /* C: controllable. */
    fake_job *job = NULL;
    const char *control[] = {"gender", "male", "pitch", "high", "speed", "very_low", NULL};
    CHECK_INT_EQ(fake_job_begin(&node, "c", control, &job), SPARK_OK);
    CHECK_INT_EQ(feed_text(job, "ab a", 4), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(job, P_TEXT, NULL), SPARK_OK);
    /* "ab a" -> "ab", " a": 256, then Ġ (byte 32) and a, which have no merge. */
    const int32_t want_c[] = {ID(165143), ID(165146), 256,        32,         'a',
                              ID(165152), ID(165147), ID(165033), ID(164968), ID(164986),
                              ID(165153)};
    CHECK_INT_EQ(fake_job_output_count(job, P_TOKENS), 1);
    expect_ids(fake_job_output(job, P_TOKENS, 0), want_c, 11, __LINE__);
    CHECK_INT_EQ(fake_job_output(job, P_TOKENS, 0)->seq, 4);
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);

    /* A: cloning; the text arrives before the voice and waits for it. */
    const char *clone[] = {"mode", "clone", NULL};
    CHECK_INT_EQ(fake_job_begin(&node, "a", clone, &job), SPARK_OK);
    CHECK_INT_EQ(feed_text(job, "ab", 0), SPARK_NEED_MORE);
    CHECK_INT_EQ(fake_job_output_count(job, P_TOKENS), 0);
    spark_packet *v = voice(32, 3);
    CHECK_INT_EQ(fake_job_process(job, P_VOICE, v), SPARK_OK);
    fake_release(v);
    CHECK_INT_EQ(feed_text(job, "b", 1), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, P_TOKENS), 2);
    int32_t want_a[64];
    size_t n = 0;
    want_a[n++] = ID(165137);
    want_a[n++] = ID(165146);
    want_a[n++] = 256;
    want_a[n++] = ID(165152);
    want_a[n++] = ID(165150);
    for (int i = 0; i < 32; i++)
        want_a[n++] = ID(151665 + i * 100);
    want_a[n++] = ID(165156);
    expect_ids(fake_job_output(job, P_TOKENS, 0), want_a, n, __LINE__);
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);

    /* B: with transcript: transcript + text glued, then the reference's semantic codes. */
    const char *clone_t[] = {"mode", "clone_transcript", "transcript", "a", NULL};
    CHECK_INT_EQ(fake_job_begin(&node, "b", clone_t, &job), SPARK_OK);
    v = voice(32, 2);
    CHECK_INT_EQ(fake_job_process(job, P_VOICE, v), SPARK_OK);
    fake_release(v);
    CHECK_INT_EQ(feed_text(job, "b", 0), SPARK_OK);
    int32_t want_b[64];
    n = 0;
    want_b[n++] = ID(165137);
    want_b[n++] = ID(165146);
    want_b[n++] = 256; /* "a" + "b" is one word: glued with no space */
    want_b[n++] = ID(165152);
    want_b[n++] = ID(165150);
    for (int i = 0; i < 32; i++)
        want_b[n++] = ID(151665 + i * 100);
    want_b[n++] = ID(165156);
    want_b[n++] = ID(165151);
    want_b[n++] = ID(155761 + 8191);
    want_b[n++] = ID(155761 + 8190);
    expect_ids(fake_job_output(job, P_TOKENS, 0), want_b, n, __LINE__);
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);

    /* Errors: no transcript, a voice with 31 globals, no voice at all. */
    const char *no_transcript[] = {"mode", "clone_transcript", NULL};
    fake_log_clear();
    CHECK_INT_EQ(fake_job_begin(&node, "e1", no_transcript, &job), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "transcript");
    fake_job_free(job);
    CHECK_INT_EQ(fake_job_begin(&node, "e2", clone, &job), SPARK_OK);
    v = voice(31, 0);
    CHECK_INT_EQ(fake_job_process(job, P_VOICE, v), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "31 global codes");
    fake_release(v);
    fake_job_free(job);
    CHECK_INT_EQ(fake_job_begin(&node, "e3", clone, &job), SPARK_OK);
    CHECK_INT_EQ(feed_text(job, "ab", 0), SPARK_NEED_MORE);
    CHECK_INT_EQ(fake_job_process(job, P_TEXT, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(job, P_VOICE, NULL), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "reference voice");
    fake_job_free(job);
    /* Invalid UTF-8 in a segment is refused with its offset. */
    CHECK_INT_EQ(fake_job_begin(&node, "e4", NULL, &job), SPARK_OK);
    CHECK_INT_EQ(feed_text(job, "a\xff", 0), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "byte offset 1");
    fake_job_free(job);
    fake_node_close(&node);
}

/* The cloning prompt of text "b" with the voice of voice(32, ...) and, when `semantic` is
 * set, transcript "a" with voice(32, 2)'s semantic codes (spec 3.5). */
static size_t want_clone(int32_t *want, bool semantic)
{
    size_t n = 0;
    want[n++] = ID(165137);
    want[n++] = ID(165146);
    want[n++] = semantic ? 256 : 'b'; /* "a" + "b" glued, or "b" alone */
    want[n++] = ID(165152);
    want[n++] = ID(165150);
    for (int i = 0; i < 32; i++)
        want[n++] = ID(151665 + i * 100);
    want[n++] = ID(165156);
    if (semantic) {
        want[n++] = ID(165151);
        want[n++] = ID(155761 + 8191);
        want[n++] = ID(155761 + 8190);
    }
    return n;
}

/* mode auto: the voice port decides. It ends empty: control (the labels); a voice without
 * semantic codes, or with them but no transcript: clone; with both: clone_transcript. */
static void test_auto_prompts(const spark_node_desc *desc, const char *dir)
{
    const char *settings[] = {"model_dir", dir, NULL};
    fake_node node;
    CHECK_INT_EQ(fake_node_open(&node, desc, settings, NULL), SPARK_OK);
    fake_job *job = NULL;

    /* No voice: the text waits until the voice port ends, then gets the control prompt. */
    const char *control[] = {"mode", "auto", "gender", "male", "pitch", "high",
                             "speed", "very_low", NULL};
    CHECK_INT_EQ(fake_job_begin(&node, "auto-c", control, &job), SPARK_OK);
    CHECK_INT_EQ(feed_text(job, "ab a", 4), SPARK_NEED_MORE);
    CHECK_INT_EQ(fake_job_output_count(job, P_TOKENS), 0);
    CHECK_INT_EQ(fake_job_process(job, P_VOICE, NULL), SPARK_OK);
    const int32_t want_c[] = {ID(165143), ID(165146), 256,        32,         'a',
                              ID(165152), ID(165147), ID(165033), ID(164968), ID(164986),
                              ID(165153)};
    CHECK_INT_EQ(fake_job_output_count(job, P_TOKENS), 1);
    expect_ids(fake_job_output(job, P_TOKENS, 0), want_c, 11, __LINE__);
    CHECK_INT_EQ(fake_job_output(job, P_TOKENS, 0)->seq, 4);
    /* a later segment goes straight through */
    CHECK_INT_EQ(feed_text(job, "ab a", 5), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, P_TOKENS), 2);
    expect_ids(fake_job_output(job, P_TOKENS, 1), want_c, 11, __LINE__);
    CHECK_INT_EQ(fake_job_process(job, P_TEXT, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);

    int32_t want[64];
    /* A voice without semantic codes (and a transcript): clone. */
    const char *with_transcript[] = {"mode", "auto", "transcript", "a", NULL};
    CHECK_INT_EQ(fake_job_begin(&node, "auto-a", with_transcript, &job), SPARK_OK);
    CHECK_INT_EQ(feed_text(job, "b", 0), SPARK_NEED_MORE);
    spark_packet *v = voice(32, 0);
    CHECK_INT_EQ(fake_job_process(job, P_VOICE, v), SPARK_OK);
    fake_release(v);
    CHECK_INT_EQ(fake_job_process(job, P_VOICE, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, P_TOKENS), 1);
    size_t n = want_clone(want, false);
    expect_ids(fake_job_output(job, P_TOKENS, 0), want, n, __LINE__);
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);

    /* Semantic codes but no transcript: clone too (the codes need their transcript). */
    const char *bare[] = {"mode", "auto", NULL};
    CHECK_INT_EQ(fake_job_begin(&node, "auto-a2", bare, &job), SPARK_OK);
    v = voice(32, 2);
    CHECK_INT_EQ(fake_job_process(job, P_VOICE, v), SPARK_OK);
    fake_release(v);
    CHECK_INT_EQ(feed_text(job, "b", 0), SPARK_OK);
    expect_ids(fake_job_output(job, P_TOKENS, 0), want, n, __LINE__);
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);

    /* Semantic codes and a transcript: clone_transcript. */
    CHECK_INT_EQ(fake_job_begin(&node, "auto-b", with_transcript, &job), SPARK_OK);
    CHECK_INT_EQ(feed_text(job, "b", 0), SPARK_NEED_MORE);
    v = voice(32, 2);
    CHECK_INT_EQ(fake_job_process(job, P_VOICE, v), SPARK_OK);
    fake_release(v);
    n = want_clone(want, true);
    CHECK_INT_EQ(fake_job_output_count(job, P_TOKENS), 1);
    expect_ids(fake_job_output(job, P_TOKENS, 0), want, n, __LINE__);
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);

    /* Errors: a second voice, a voice of 31 globals, a voice after the port ended empty. */
    fake_log_clear();
    CHECK_INT_EQ(fake_job_begin(&node, "auto-e2", bare, &job), SPARK_OK);
    v = voice(32, 0);
    CHECK_INT_EQ(fake_job_process(job, P_VOICE, v), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(job, P_VOICE, v), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "more than one reference voice");
    fake_release(v);
    fake_job_free(job);
    CHECK_INT_EQ(fake_job_begin(&node, "auto-e3", bare, &job), SPARK_OK);
    v = voice(31, 0);
    CHECK_INT_EQ(fake_job_process(job, P_VOICE, v), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "31 global codes");
    fake_release(v);
    fake_job_free(job);
    fake_node_close(&node);
}

static spark_packet *tokens(const int32_t *ids, size_t n)
{
    spark_packet *p = alloc_ext()->tokens(fake_host(), n, "spark-tts-qwen2");
    memcpy(p->data.tokens.ids, ids, n * sizeof *ids);
    return p;
}

static void test_parser(const spark_node_desc *desc, const char *dir)
{
    const char *settings[] = {"model_dir", dir, NULL};
    fake_node node;
    CHECK_INT_EQ(fake_node_open(&node, desc, settings, NULL), SPARK_OK);
    int32_t ids[64];
    size_t n = 0;
    ids[n++] = ID(165149);
    ids[n++] = ID(163953 + 282); /* pitch_value: ignored */
    ids[n++] = ID(165150);
    for (int i = 0; i < 32; i++)
        ids[n++] = ID(151665 + 4095 - i);
    ids[n++] = ID(165156);
    ids[n++] = ID(165151);
    ids[n++] = ID(155761 + 7);
    ids[n++] = ID(155761 + 0);
    ids[n++] = 'x';
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_job_begin(&node, "p", NULL, &job), SPARK_OK);
    spark_packet *in = tokens(ids, n);
    CHECK_INT_EQ(fake_job_process(job, 0, in), SPARK_OK);
    fake_release(in);
    const spark_packet *out = fake_job_output(job, 1, 0);
    CHECK(out != NULL);
    if (out) {
        CHECK_INT_EQ(out->data.codes.n_semantic, 2);
        CHECK_INT_EQ(out->data.codes.semantic[0], 7);
        CHECK_INT_EQ(out->data.codes.semantic[1], 0);
        CHECK_INT_EQ(out->data.codes.n_global, 32);
        CHECK_INT_EQ(out->data.codes.global[31], 4095 - 31);
    }
    fake_job_free(job);
    /* 31 globals in control mode, and no semantic code, are errors. */
    CHECK_INT_EQ(fake_job_begin(&node, "p2", NULL, &job), SPARK_OK);
    int32_t short_ids[64];
    memcpy(short_ids, ids, 3 * sizeof *ids);
    memcpy(short_ids + 3, ids + 4, (n - 4) * sizeof *ids); /* one global left out */
    in = tokens(short_ids, n - 1);
    fake_log_clear();
    CHECK_INT_EQ(fake_job_process(job, 0, in), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "exactly 32");
    fake_release(in);
    fake_job_free(job);
    const char *clone[] = {"mode", "clone", NULL};
    CHECK_INT_EQ(fake_job_begin(&node, "p3", clone, &job), SPARK_OK);
    in = tokens(ids, 3);
    CHECK_INT_EQ(fake_job_process(job, 0, in), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "no semantic code");
    fake_release(in);
    fake_job_free(job);

    /* auto, per segment: the control ids give 32 globals; ids without a global (the clone
     * grammar's output) give the semantic codes alone; 31 globals are a control error. */
    const char *auto_mode[] = {"mode", "auto", NULL};
    CHECK_INT_EQ(fake_job_begin(&node, "p4", auto_mode, &job), SPARK_OK);
    in = tokens(ids, n);
    CHECK_INT_EQ(fake_job_process(job, 0, in), SPARK_OK);
    fake_release(in);
    int32_t clone_ids[] = {ID(165151), ID(155761 + 3), ID(155761 + 9), ID(165152)};
    in = tokens(clone_ids, 4);
    in->seq = 1;
    CHECK_INT_EQ(fake_job_process(job, 0, in), SPARK_OK);
    fake_release(in);
    CHECK_INT_EQ(fake_job_output_count(job, 1), 2);
    out = fake_job_output(job, 1, 0);
    CHECK(out && out->data.codes.n_global == 32 && out->data.codes.n_semantic == 2);
    if (out && out->data.codes.n_global == 32)
        CHECK_INT_EQ(out->data.codes.global[0], 4095);
    out = fake_job_output(job, 1, 1);
    CHECK(out && out->data.codes.n_global == 0 && out->data.codes.n_semantic == 2);
    if (out && out->data.codes.n_semantic == 2) {
        CHECK_INT_EQ(out->data.codes.semantic[0], 3);
        CHECK_INT_EQ(out->data.codes.semantic[1], 9);
        CHECK_INT_EQ(out->seq, 1);
    }
    in = tokens(short_ids, n - 1);
    fake_log_clear();
    CHECK_INT_EQ(fake_job_process(job, 0, in), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "31 global codes");
    fake_release(in);
    fake_job_free(job);
    fake_node_close(&node);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PLUGIN.so\n", argv[0]);
        return 2;
    }
    fake_plugin plugin;
    const char *internal[] = {"qt_encode", "spark_prompt_build", NULL};
    const spark_entry *entry = check_load_plugin(&plugin, argv[1], internal);
    if (!entry)
        return 1;
    CHECK_STR_EQ(entry->name, "tokenizer-qwen2");
    const spark_node_desc *prompt = fake_plugin_node(&plugin, "org.sparkhost.tokenizer.qwen2.prompt");
    const spark_node_desc *parse =
        fake_plugin_node(&plugin, "org.sparkhost.tokenizer.qwen2.parse_codes");
    CHECK(prompt && parse);
    if (!prompt || !parse)
        return 1;
    char good[] = "/tmp/spark-tok-good-XXXXXX", bad[] = "/tmp/spark-tok-bad-XXXXXX";
    CHECK(mkdtemp(good) && mkdtemp(bad));
    write_model(good, NULL);
    write_model(bad, "<|end_global_token|>");

    /* A missing special token fails activation, naming it. */
    fake_node node;
    const char *bad_settings[] = {"model_dir", bad, NULL};
    fake_log_clear();
    CHECK_INT_EQ(fake_node_open(&node, prompt, bad_settings, NULL), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "<|end_global_token|>");
    fake_node_close(&node);
    const char *none[] = {"model_dir", "/nonexistent-model", NULL};
    CHECK_INT_EQ(fake_node_open(&node, prompt, none, NULL), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "cannot load the tokenizer");
    fake_node_close(&node);

    test_prompts(prompt, good);
    test_auto_prompts(prompt, good);
    test_parser(parse, good);
    CHECK_INT_EQ(fake_live_packets(), 0);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", good, bad);
    CHECK_INT_EQ(system(cmd), 0);
    fake_plugin_unload(&plugin);
    return check_failures ? 1 : 0;
}
