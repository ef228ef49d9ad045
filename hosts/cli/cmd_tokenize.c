/* sparkhost tokenize --model DIR [--whole] [--decode | --prompt MODE ...] */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qwen2_tokenizer.h"
#include "spark_prompt.h"

static const char usage[] =
    "usage: sparkhost tokenize --model DIR [--whole] [--decode]\n"
    "                          [--prompt MODE [--gender G] [--pitch L] [--speed L]\n"
    "                           [--globals N,N,...] [--semantics N,N,...] [--transcript T]]\n"
    "\n"
    "Reads UTF-8 text from standard input, one input per line (without its line break), or\n"
    "the whole input as one with --whole, and prints the token ids of each input as a JSON\n"
    "array, one per line. The tokenizer is DIR/LLM (tokenizer.json, or vocab.json +\n"
    "merges.txt + added_tokens.json) or DIR itself.\n"
    "\n"
    "  --decode           the reverse: each input is a JSON array of ids; prints the text\n"
    "                     as a JSON string\n"
    "  --prompt MODE      print the Spark-TTS prompt ids of each input instead:\n"
    "                     control (--gender female|male, --pitch and --speed very_low|low|\n"
    "                     moderate|high|very_high), clone (--globals: 32 codes) or\n"
    "                     clone_transcript (also --transcript and --semantics)\n";

typedef struct tokenize_opts {
    const char *model, *mode, *gender, *pitch, *speed, *globals, *semantics, *transcript;
    bool whole, decode;
} tokenize_opts;

static char *read_stdin(size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, stdin);
        n += got;
        if (got == 0)
            break;
        if (n + 1 == cap) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                return NULL;
            }
            buf = b;
            cap *= 2;
        }
    }
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static void print_ids(const int32_t *ids, size_t n)
{
    putchar('[');
    for (size_t i = 0; i < n; i++)
        printf(i ? ",%d" : "%d", (int)ids[i]);
    puts("]");
}

/* "1,2,3" -> ids; false on anything else. */
static bool parse_list(const char *s, qt_ids *out)
{
    while (s && *s) {
        char *end = NULL;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > 1000000)
            return false;
        if (qt_ids_push(out, (int32_t)v))
            return false;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return false;
    }
    return true;
}

static int decode_one(const qt_tokenizer *tok, const char *line, size_t len)
{
    cJSON *arr = cJSON_ParseWithLength(line, len);
    qt_ids ids = {0};
    const cJSON *item;
    bool ok = cJSON_IsArray(arr);
    cJSON_ArrayForEach(item, arr) {
        if (!cJSON_IsNumber(item) || qt_ids_push(&ids, (int32_t)item->valuedouble))
            ok = false;
    }
    cJSON_Delete(arr);
    if (!ok) {
        free(ids.v);
        fprintf(stderr, "sparkhost tokenize: --decode input \"%.*s\" is not a JSON array of "
                        "ids\n", (int)(len > 80 ? 80 : len), line);
        return EXIT_INVALID;
    }
    char *text = NULL;
    size_t tlen = 0;
    char err[256];
    int rc = qt_decode(tok, ids.v, ids.n, &text, &tlen, err, sizeof err);
    free(ids.v);
    if (rc) {
        fprintf(stderr, "sparkhost tokenize: %s\n", err);
        return EXIT_INVALID;
    }
    cJSON *s = cJSON_CreateString(text);
    char *json = s ? cJSON_PrintUnformatted(s) : NULL;
    cJSON_Delete(s);
    free(text);
    if (!json)
        return EXIT_INTERNAL;
    puts(json);
    free(json);
    return EXIT_OK;
}

static int run(const tokenize_opts *o, const qt_tokenizer *tok)
{
    spark_vocab vocab;
    spark_prompt_request req = {0};
    qt_ids globals = {0}, semantics = {0};
    char err[1024];
    int rc = EXIT_OK;
    if (o->mode) {
        if (spark_vocab_init(&vocab, tok, err, sizeof err)) {
            fprintf(stderr, "sparkhost tokenize: %s: %s\n", o->model, err);
            return EXIT_INVALID;
        }
        int mode = spark_mode_from_name(o->mode);
        req.mode = (spark_prompt_mode)mode;
        req.gender = spark_gender_index(o->gender ? o->gender : "female");
        req.pitch = spark_level_index(o->pitch ? o->pitch : "moderate");
        req.speed = spark_level_index(o->speed ? o->speed : "moderate");
        req.transcript = o->transcript ? o->transcript : "";
        req.transcript_len = strlen(req.transcript);
        if (mode < 0 || !parse_list(o->globals, &globals) ||
            !parse_list(o->semantics, &semantics)) {
            rc = cli_usage_error("tokenize", "--prompt takes control, clone or "
                                             "clone_transcript; --globals and --semantics "
                                             "comma-separated codes");
            goto done;
        }
        req.globals = globals.v;
        req.global_count = globals.n;
        req.semantics = semantics.v;
        req.semantic_count = semantics.n;
    }
    size_t len = 0;
    char *input = read_stdin(&len);
    if (!input) {
        rc = EXIT_INTERNAL;
        goto done;
    }
    qt_session *s = qt_session_new(tok);
    qt_ids ids = {0};
    size_t pos = 0;
    while (s && rc == EXIT_OK && (pos < len || (o->whole && pos == 0))) {
        size_t end = len;
        if (!o->whole) {
            char *nl = memchr(input + pos, '\n', len - pos);
            end = nl ? (size_t)(nl - input) : len;
        }
        size_t n = end - pos;
        if (!o->whole && n && input[pos + n - 1] == '\r')
            n--;
        ids.n = 0;
        if (o->decode)
            rc = decode_one(tok, input + pos, n);
        else {
            req.text = input + pos;
            req.text_len = n;
            int r = o->mode ? spark_prompt_build(s, &vocab, &req, &ids, err, sizeof err)
                            : qt_encode(s, input + pos, n, &ids, err, sizeof err);
            if (r) {
                fprintf(stderr, "sparkhost tokenize: input at byte %zu: %s\n", pos, err);
                rc = EXIT_INVALID;
            } else
                print_ids(ids.v, ids.n);
        }
        pos = end + 1;
    }
    if (!s)
        rc = EXIT_INTERNAL;
    free(ids.v);
    qt_session_free(s);
    free(input);
done:
    free(globals.v);
    free(semantics.v);
    if (o->mode)
        spark_vocab_free(&vocab);
    return rc;
}

int cmd_tokenize(const cli_globals *g, int argc, char **argv)
{
    (void)g;
    tokenize_opts o = {0};
    struct { const char *flag; const char **value; } valued[] = {
        {"--model", &o.model},         {"--prompt", &o.mode},     {"--gender", &o.gender},
        {"--pitch", &o.pitch},         {"--speed", &o.speed},     {"--globals", &o.globals},
        {"--semantics", &o.semantics}, {"--transcript", &o.transcript},
    };
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (strcmp(argv[i], "--whole") == 0) {
            o.whole = true;
            continue;
        }
        if (strcmp(argv[i], "--decode") == 0) {
            o.decode = true;
            continue;
        }
        bool known = false;
        for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
            if (strcmp(argv[i], valued[k].flag) == 0) {
                if (i + 1 >= argc)
                    return cli_usage_error("tokenize", "%s needs a value", argv[i]);
                *valued[k].value = argv[++i];
                known = true;
            }
        if (!known)
            return cli_usage_error("tokenize", "unknown argument '%s'", argv[i]);
    }
    if (!o.model)
        return cli_usage_error("tokenize", "needs --model DIR");
    if (o.decode && o.mode)
        return cli_usage_error("tokenize", "--decode and --prompt do not go together");
    char dir[4096];
    struct stat st;
    int n = snprintf(dir, sizeof dir, "%s/LLM", o.model);
    if (n < 0 || (size_t)n >= sizeof dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        snprintf(dir, sizeof dir, "%.4000s", o.model);
    qt_tokenizer *tok = NULL;
    char err[1024];
    if (qt_load_dir(dir, &tok, err, sizeof err)) {
        fprintf(stderr, "sparkhost tokenize: %s\n", err);
        return EXIT_INVALID;
    }
    int rc = run(&o, tok);
    qt_free(tok);
    return rc;
}
