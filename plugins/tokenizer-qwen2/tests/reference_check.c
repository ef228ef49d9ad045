/* reference_check.c - compares the C tokenizer with Hugging Face tokenizers' ids written by
 * tests/reference/tokenizer_reference.py: every corpus string (ids, and decode == NFC) and
 * every Spark prompt, for each tokenizer directory given. Usage:
 *   reference_check CASES_DIR TOKENIZER_DIR [CASES_DIR TOKENIZER_DIR ...] */
#define _POSIX_C_SOURCE 200809L
#include "qwen2_tokenizer.h"
#include "spark_prompt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "TAG LEN\n<LEN bytes>\n" -> malloc'd bytes. */
static char *read_record(FILE *f, char tag, size_t *len)
{
    char t = 0;
    if (fscanf(f, " %c %zu", &t, len) != 2 || t != tag || fgetc(f) != '\n')
        return NULL;
    char *s = malloc(*len + 1);
    if (!s || fread(s, 1, *len, f) != *len || fgetc(f) != '\n') {
        free(s);
        return NULL;
    }
    s[*len] = '\0';
    return s;
}

/* "TAG N v1 v2 ...\n" */
static bool read_ints(FILE *f, char tag, qt_ids *out)
{
    char t = 0;
    size_t n = 0;
    out->n = 0;
    if (fscanf(f, " %c %zu", &t, &n) != 2 || t != tag)
        return false;
    for (size_t i = 0; i < n; i++) {
        long v = 0;
        if (fscanf(f, "%ld", &v) != 1 || qt_ids_push(out, (int32_t)v))
            return false;
    }
    return true;
}

static void show_diff(const qt_ids *got, const qt_ids *want)
{
    size_t i = 0;
    while (i < got->n && i < want->n && got->v[i] == want->v[i])
        i++;
    fprintf(stderr, "    first difference at id %zu of %zu (want %zu ids):", i, got->n, want->n);
    for (size_t k = i; k < i + 6 && k < got->n; k++)
        fprintf(stderr, " %d", (int)got->v[k]);
    fprintf(stderr, " | want");
    for (size_t k = i; k < i + 6 && k < want->n; k++)
        fprintf(stderr, " %d", (int)want->v[k]);
    fprintf(stderr, "\n");
}

static int check_cases(qt_session *s, const qt_tokenizer *tok, const char *dir, size_t *count,
                       size_t *id_failures)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return 1;
    }
    int failures = 0;
    qt_ids want = {0}, got = {0};
    char err[512];
    *count = 0;
    for (;;) {
        size_t tlen = 0, nlen = 0;
        char *text = read_record(f, 'T', &tlen);
        if (!text)
            break;
        char *nfc = read_record(f, 'N', &nlen);
        if (!nfc || !read_ints(f, 'I', &want)) {
            fprintf(stderr, "%s: malformed record %zu\n", path, *count);
            free(text);
            free(nfc);
            failures++;
            break;
        }
        got.n = 0;
        if (qt_encode(s, text, tlen, &got, err, sizeof err)) {
            fprintf(stderr, "  case %zu: encode failed: %s\n", *count, err);
            failures++;
        } else if (got.n != want.n || memcmp(got.v, want.v, got.n * sizeof *got.v) != 0) {
            (*id_failures)++;
            if (*id_failures <= 20) {
                fprintf(stderr, "  case %zu: ids differ for \"%.80s\"\n", *count, text);
                show_diff(&got, &want);
            }
            failures++;
        } else {
            char *back = NULL;
            size_t blen = 0;
            if (qt_decode(tok, got.v, got.n, &back, &blen, err, sizeof err) || blen != nlen ||
                memcmp(back, nfc, nlen) != 0) {
                if (failures < 20)
                    fprintf(stderr, "  case %zu: decode(encode(x)) != NFC(x) for \"%.80s\"\n",
                            *count, text);
                failures++;
            }
            free(back);
        }
        free(text);
        free(nfc);
        (*count)++;
    }
    fclose(f);
    free(want.v);
    free(got.v);
    if (*count < 5000) {
        fprintf(stderr, "%s: only %zu cases\n", path, *count);
        failures++;
    }
    return failures;
}

static int check_prompts(qt_session *s, const spark_vocab *v, const char *dir, size_t *count)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/prompts.txt", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return 1;
    }
    int failures = 0;
    qt_ids g = {0}, sem = {0}, want = {0}, got = {0};
    char err[512];
    *count = 0;
    char mode[32], gender[16], pitch[16], speed[16];
    while (fscanf(f, " P %31s %15s %15s %15s", mode, gender, pitch, speed) == 4) {
        size_t tlen = 0, rlen = 0;
        char *text = read_record(f, 'T', &tlen);
        char *transcript = read_record(f, 'R', &rlen);
        if (!text || !transcript || !read_ints(f, 'G', &g) || !read_ints(f, 'S', &sem) ||
            !read_ints(f, 'I', &want)) {
            fprintf(stderr, "%s: malformed prompt %zu\n", path, *count);
            free(text);
            free(transcript);
            failures++;
            break;
        }
        spark_prompt_request r = {
            .mode = (spark_prompt_mode)spark_mode_from_name(mode),
            .text = text, .text_len = tlen, .transcript = transcript, .transcript_len = rlen,
            .gender = spark_gender_index(gender), .pitch = spark_level_index(pitch),
            .speed = spark_level_index(speed), .globals = g.v, .global_count = g.n,
            .semantics = sem.v, .semantic_count = sem.n,
        };
        got.n = 0;
        if (spark_prompt_build(s, v, &r, &got, err, sizeof err)) {
            fprintf(stderr, "  prompt %zu (%s): %s\n", *count, mode, err);
            failures++;
        } else if (got.n != want.n || memcmp(got.v, want.v, got.n * sizeof *got.v) != 0) {
            fprintf(stderr, "  prompt %zu (%s, \"%s\"): ids differ\n", *count, mode, text);
            show_diff(&got, &want);
            failures++;
        }
        free(text);
        free(transcript);
        (*count)++;
    }
    fclose(f);
    free(g.v);
    free(sem.v);
    free(want.v);
    free(got.v);
    if (*count < 3) {
        fprintf(stderr, "%s: only %zu prompts\n", path, *count);
        failures++;
    }
    return failures;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc % 2 == 0) {
        fprintf(stderr, "usage: %s CASES_DIR TOKENIZER_DIR [...]\n", argv[0]);
        return 2;
    }
    int failures = 0;
    for (int a = 1; a + 1 < argc; a += 2) {
        qt_tokenizer *tok = NULL;
        char err[1024];
        if (qt_load_dir(argv[a + 1], &tok, err, sizeof err)) {
            fprintf(stderr, "%s\n", err);
            failures++;
            continue;
        }
        qt_session *s = qt_session_new(tok);
        spark_vocab v;
        size_t cases = 0, prompts = 0, id_failures = 0;
        int f = check_cases(s, tok, argv[a], &cases, &id_failures);
        int p = 0;
        if (spark_vocab_init(&v, tok, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", argv[a + 1], err);
            p = 1;
        } else {
            p = check_prompts(s, &v, argv[a], &prompts);
            spark_vocab_free(&v);
        }
        printf("%s on %s: %zu/%zu strings with ids identical to tokenizers, %d failures in "
               "all (ids, decode == NFC); %zu prompts, %d prompt failures\n",
               argv[a + 1], argv[a], cases - id_failures, cases, f, prompts, p);
        failures += f + p;
        qt_session_free(s);
        qt_free(tok);
    }
    return failures ? 1 : 0;
}
