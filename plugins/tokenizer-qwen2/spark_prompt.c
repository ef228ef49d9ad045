/* spark_prompt.c - Spark-TTS prompts and the parser of generated ids. */
#include "spark_prompt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GLOBAL_TAG 0x10000

const char *const spark_level_names[5] = {"very_low", "low", "moderate", "high", "very_high"};
const char *const spark_gender_names[2] = {"female", "male"};

static const char *const fixed_tokens[] = {
    "<|task_tts|>",           "<|task_controllable_tts|>", "<|start_content|>",
    "<|end_content|>",        "<|start_global_token|>",    "<|end_global_token|>",
    "<|start_semantic_token|>", "<|start_style_label|>",   "<|end_style_label|>",
};

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static int find(const qt_tokenizer *tok, const char *name, int32_t *id, char *err, size_t cap)
{
    *id = qt_token_id(tok, name);
    if (*id < 0) {
        set_err(err, cap, "the tokenizer has no token \"%s\"", name);
        return -1;
    }
    return 0;
}

int spark_vocab_init(spark_vocab *v, const qt_tokenizer *tok, char *err, size_t cap)
{
    memset(v, 0, sizeof *v);
    v->tok = tok;
    v->id_count = qt_vocab_size(tok);
    v->code_of_id = malloc((v->id_count ? v->id_count : 1) * sizeof *v->code_of_id);
    if (!v->code_of_id) {
        set_err(err, cap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < v->id_count; i++)
        v->code_of_id[i] = -1;
    char name[48];
    int32_t id = -1;
    for (size_t i = 0; i < sizeof fixed_tokens / sizeof fixed_tokens[0]; i++)
        if (find(tok, fixed_tokens[i], &id, err, cap))
            goto fail;
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "<|pitch_label_%d|>", i);
        if (find(tok, name, &id, err, cap))
            goto fail;
        snprintf(name, sizeof name, "<|speed_label_%d|>", i);
        if (find(tok, name, &id, err, cap))
            goto fail;
    }
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "<|gender_%d|>", i);
        if (find(tok, name, &id, err, cap))
            goto fail;
    }
    for (int i = 0; i < SPARK_GLOBAL_CODES; i++) {
        snprintf(name, sizeof name, "<|bicodec_global_%d|>", i);
        if (find(tok, name, &id, err, cap))
            goto fail;
        v->code_of_id[id] = GLOBAL_TAG + i;
    }
    /* The release has 8192 semantic codes; a model with a smaller codebook (the tiny synthetic
     * one) has fewer tokens: they are counted, from <|bicodec_semantic_0|> up. */
    for (int i = 0; i < SPARK_SEMANTIC_CODES; i++) {
        snprintf(name, sizeof name, "<|bicodec_semantic_%d|>", i);
        id = qt_token_id(tok, name);
        if (id < 0 && i == 0 && find(tok, name, &id, err, cap))
            goto fail;
        if (id < 0)
            break;
        v->code_of_id[id] = i;
        v->semantic_codes = i + 1;
    }
    return 0;
fail:
    spark_vocab_free(v);
    return -1;
}

void spark_vocab_free(spark_vocab *v)
{
    free(v->code_of_id);
    memset(v, 0, sizeof *v);
}

int spark_level_index(const char *name)
{
    for (int i = 0; i < 5; i++)
        if (name && strcmp(name, spark_level_names[i]) == 0)
            return i;
    return -1;
}

int spark_gender_index(const char *name)
{
    for (int i = 0; i < 2; i++)
        if (name && strcmp(name, spark_gender_names[i]) == 0)
            return i;
    return -1;
}

int spark_mode_from_name(const char *name)
{
    static const char *const names[] = {"clone", "clone_transcript", "control"};
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

typedef struct text {
    char *p;
    size_t n, cap;
    bool failed;
} text;

static void put(text *t, const char *s, size_t len)
{
    if (t->failed)
        return;
    if (t->n + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->n + len + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->failed = true;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->n, s, len);
    t->n += len;
}

static void puts_(text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void put_token(text *t, const char *family, int index)
{
    char name[48];
    snprintf(name, sizeof name, "<|%s_%d|>", family, index);
    puts_(t, name);
}

static int check_request(const spark_vocab *v, const spark_prompt_request *r, char *err,
                         size_t cap)
{
    if (r->mode == SPARK_PROMPT_CONTROL) {
        if (r->gender < 0 || r->gender > 1 || r->pitch < 0 || r->pitch > 4 || r->speed < 0 ||
            r->speed > 4) {
            set_err(err, cap, "controllable mode needs gender (female, male), pitch and speed "
                              "(very_low, low, moderate, high, very_high)");
            return -1;
        }
        return 0;
    }
    if (r->global_count != SPARK_GLOBAL_COUNT) {
        set_err(err, cap, "a reference voice needs %d global codes, not %zu",
                SPARK_GLOBAL_COUNT, r->global_count);
        return -1;
    }
    for (size_t i = 0; i < r->global_count; i++)
        if (r->globals[i] < 0 || r->globals[i] >= SPARK_GLOBAL_CODES) {
            set_err(err, cap, "global code %ld at %zu is outside [0, %d)", (long)r->globals[i],
                    i, SPARK_GLOBAL_CODES);
            return -1;
        }
    if (r->mode == SPARK_PROMPT_CLONE_TRANSCRIPT) {
        if (r->semantic_count == 0) {
            set_err(err, cap, "cloning with a transcript needs the reference's semantic codes");
            return -1;
        }
        for (size_t i = 0; i < r->semantic_count; i++)
            if (r->semantics[i] < 0 || r->semantics[i] >= v->semantic_codes) {
                set_err(err, cap, "semantic code %ld at %zu is outside [0, %d)",
                        (long)r->semantics[i], i, v->semantic_codes);
                return -1;
            }
    }
    return 0;
}

/* The prompt is written out as the upstream string and encoded whole: text that begins with
 * a mark composing with the preceding '>' under NFC, or that contains control-token
 * strings, then gives exactly the upstream ids too. */
int spark_prompt_build(qt_session *s, const spark_vocab *v, const spark_prompt_request *r,
                       qt_ids *out, char *err, size_t cap)
{
    (void)v; /* every token used below was checked to exist by spark_vocab_init */
    if (check_request(v, r, err, cap))
        return -1;
    size_t bad = qt_utf8_invalid_offset(r->text, r->text_len);
    if (bad < r->text_len) {
        set_err(err, cap, "the text is not valid UTF-8 at byte offset %zu", bad);
        return -1;
    }
    if (r->mode == SPARK_PROMPT_CLONE_TRANSCRIPT &&
        (bad = qt_utf8_invalid_offset(r->transcript, r->transcript_len)) < r->transcript_len) {
        set_err(err, cap, "the transcript is not valid UTF-8 at byte offset %zu", bad);
        return -1;
    }
    text t = {0};
    if (r->mode == SPARK_PROMPT_CONTROL) {
        puts_(&t, "<|task_controllable_tts|><|start_content|>");
        put(&t, r->text, r->text_len);
        puts_(&t, "<|end_content|><|start_style_label|>");
        put_token(&t, "gender", r->gender);
        put_token(&t, "pitch_label", r->pitch);
        put_token(&t, "speed_label", r->speed);
        puts_(&t, "<|end_style_label|>");
    } else {
        puts_(&t, "<|task_tts|><|start_content|>");
        if (r->mode == SPARK_PROMPT_CLONE_TRANSCRIPT)
            put(&t, r->transcript, r->transcript_len);
        put(&t, r->text, r->text_len);
        puts_(&t, "<|end_content|><|start_global_token|>");
        for (size_t i = 0; i < r->global_count; i++)
            put_token(&t, "bicodec_global", r->globals[i]);
        puts_(&t, "<|end_global_token|>");
        if (r->mode == SPARK_PROMPT_CLONE_TRANSCRIPT) {
            puts_(&t, "<|start_semantic_token|>");
            for (size_t i = 0; i < r->semantic_count; i++)
                put_token(&t, "bicodec_semantic", r->semantics[i]);
        }
    }
    if (t.failed) {
        free(t.p);
        set_err(err, cap, "out of memory");
        return -1;
    }
    int rc = qt_encode(s, t.p, t.n, out, err, cap);
    free(t.p);
    return rc;
}

size_t spark_count_globals(const spark_vocab *v, const int32_t *ids, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && (size_t)ids[i] < v->id_count && v->code_of_id[ids[i]] >= GLOBAL_TAG)
            count++;
    return count;
}

int spark_parse_codes(const spark_vocab *v, const int32_t *ids, size_t n, bool control,
                      qt_ids *semantics, qt_ids *globals, char *err, size_t cap)
{
    size_t first_global = globals ? globals->n : 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= v->id_count || v->code_of_id[ids[i]] < 0)
            continue; /* markers, pitch and speed values, eos */
        int32_t code = v->code_of_id[ids[i]];
        int rc = 0;
        if (code < GLOBAL_TAG)
            rc = qt_ids_push(semantics, code);
        else if (control && globals)
            rc = qt_ids_push(globals, code - GLOBAL_TAG);
        if (rc) {
            set_err(err, cap, "out of memory");
            return -1;
        }
    }
    if (control && (!globals || globals->n - first_global != SPARK_GLOBAL_COUNT)) {
        set_err(err, cap, "the generated ids hold %zu global codes; controllable mode needs "
                          "exactly %d", globals ? globals->n - first_global : (size_t)0,
                SPARK_GLOBAL_COUNT);
        return -1;
    }
    if (semantics->n == 0) {
        set_err(err, cap, "the generated ids hold no semantic code");
        return -1;
    }
    return 0;
}
