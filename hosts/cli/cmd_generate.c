/* sparkhost generate --model DIR --ids JSON [...]: the LLM alone on a prompt of token ids,
 * for debugging and for checking against other implementations. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <spark/nn/qwen2.h>

static const char usage[] =
    "usage: sparkhost generate --model DIR --ids JSON [--weights f32|bf16|int8] [--kv K]\n"
    "                          [--greedy | --temperature T --top-k K --top-p P --seed S]\n"
    "                          [--max-new N] [--min-new N] [--constrain MODE] [--stop LIST]\n"
    "                          [--threads N] [--dump-logits FILE]\n"
    "\n"
    "Runs the Spark-TTS LLM (DIR/LLM, or DIR itself when it holds config.json) on a prompt\n"
    "given as token ids and prints the generated ids (the stop id included) as a JSON array.\n"
    "Timings go to standard error.\n"
    "\n"
    "  --ids JSON         the prompt: a JSON array of ids, or @FILE holding one\n"
    "  --weights W        weight precision: f32 (default, as released), bf16, int8\n"
    "  --int8-block N     int8 columns per scale (default 64; 0 = one scale per row)\n"
    "  --kv K             KV cache precision: auto (default: f32 with f32 weights, else\n"
    "                     f16), f32 or f16\n"
    "  --greedy           the highest logit at every step (same as --temperature 0)\n"
    "  --temperature T    sampling temperature (default 0.8); then --top-k K (default 50,\n"
    "                     0 = off) and --top-p P (default 0.95, 1 = off), in transformers'\n"
    "                     order; --seed S (default 0) makes the draw repeatable\n"
    "  --max-new N        most ids to generate (default 3000)\n"
    "  --min-new N        no stop id before N ids (default 0)\n"
    "  --constrain MODE   off (default: every id, the reference distribution), control,\n"
    "                     clone or auto: the Spark-TTS output grammar (needs\n"
    "                     added_tokens.json); only allowed ids are computed\n"
    "  --stop LIST        stop ids by name, comma-separated: im_end (default),\n"
    "                     end_semantic, endoftext; or 'none'\n"
    "  --threads N        worker threads (default 0 = the CPUs this process may use)\n"
    "  --dump-logits FILE write the f32 logits each id was chosen from (the prefill's last\n"
    "                     position, then every step) as a .npy array [steps, vocab];\n"
    "                     with --constrain, ids the grammar does not allow hold -inf\n";

typedef struct dump {
    FILE *f;
    size_t vocab, rows;
    float *row;
} dump;

/* NumPy format 1.0: magic, version, header length, a dict padded to 128 bytes in all. */
static int dump_header(dump *d)
{
    char dict[118];
    int n = snprintf(dict, sizeof dict,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }",
                     d->rows, d->vocab);
    if (n < 0 || (size_t)n >= sizeof dict)
        return -1;
    memset(dict + n, ' ', sizeof dict - (size_t)n - 1);
    dict[sizeof dict - 1] = '\n';
    unsigned char head[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, sizeof dict, 0};
    return fseek(d->f, 0, SEEK_SET) || fwrite(head, 1, 10, d->f) != 10 ||
                   fwrite(dict, 1, sizeof dict, d->f) != sizeof dict
               ? -1
               : 0;
}

static int dump_step(void *user, size_t step, int32_t id, const float *logits,
                     const int32_t *rows, size_t n_rows)
{
    (void)step;
    (void)id;
    dump *d = user;
    const float *src = logits;
    if (rows) {
        for (size_t i = 0; i < d->vocab; i++)
            d->row[i] = -INFINITY;
        for (size_t i = 0; i < n_rows; i++)
            d->row[rows[i]] = logits[i];
        src = d->row;
    }
    if (fwrite(src, sizeof *src, d->vocab, d->f) != d->vocab)
        return 1;
    d->rows++;
    return 0;
}

static int32_t *parse_ids(const char *arg, size_t *n, char *err, size_t err_size)
{
    char *text = NULL;
    if (arg[0] == '@') {
        FILE *f = fopen(arg + 1, "rb");
        if (!f) {
            snprintf(err, err_size, "cannot open %s: %s", arg + 1, strerror(errno));
            return NULL;
        }
        size_t cap = 1 << 16, len = 0;
        text = malloc(cap);
        size_t got;
        while (text && (got = fread(text + len, 1, cap - len - 1, f)) > 0) {
            len += got;
            if (len + 1 == cap) {
                char *t = realloc(text, cap *= 2);
                if (!t)
                    free(text);
                text = t;
            }
        }
        fclose(f);
        if (!text) {
            snprintf(err, err_size, "out of memory");
            return NULL;
        }
        text[len] = 0;
    }
    cJSON *j = cJSON_Parse(text ? text : arg);
    free(text);
    int count = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : -1;
    if (count <= 0) {
        cJSON_Delete(j);
        snprintf(err, err_size, "--ids must be a non-empty JSON array of token ids");
        return NULL;
    }
    int32_t *ids = malloc((size_t)count * sizeof *ids);
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        double v = cJSON_IsNumber(it) ? it->valuedouble : -1;
        if (!ids || v < 0 || v > 2147483647.0 || v != floor(v)) {
            snprintf(err, err_size, "--ids: element %zu is not a token id (an integer >= 0)", i);
            free(ids);
            cJSON_Delete(j);
            return NULL;
        }
        ids[i++] = (int32_t)v;
    }
    cJSON_Delete(j);
    *n = i;
    return ids;
}

static bool is_dir_with(const char *dir, const char *name)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static bool parse_size(const char *text, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-')
        return false;
    *out = (size_t)v;
    return true;
}

static bool parse_float(const char *text, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v))
        return false;
    *out = (float)v;
    return true;
}

int cmd_generate(const cli_globals *g, int argc, char **argv)
{
    const char *model_arg = NULL, *ids_arg = NULL, *dump_path = NULL;
    const char *weights = "f32", *constrain = "off", *stop = "im_end", *kv = "auto";
    size_t max_new = 3000, min_new = 0, threads = 0, int8_block = 64, seed = 0;
    nn_sampler_params sp = {.temperature = 0.8f, .top_k = 50, .top_p = 0.95f};
    bool greedy = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (strcmp(a, "--greedy") == 0) {
            greedy = true;
            continue;
        }
        if (i + 1 >= argc)
            return cli_usage_error("generate", "'%s' is not an option taking no value", a);
        const char *v = argv[++i];
        size_t k;
        bool ok = true;
        if (strcmp(a, "--model") == 0)
            model_arg = v;
        else if (strcmp(a, "--ids") == 0)
            ids_arg = v;
        else if (strcmp(a, "--weights") == 0)
            weights = v;
        else if (strcmp(a, "--kv") == 0)
            kv = v;
        else if (strcmp(a, "--dump-logits") == 0)
            dump_path = v;
        else if (strcmp(a, "--constrain") == 0)
            constrain = v;
        else if (strcmp(a, "--stop") == 0)
            stop = v;
        else if (strcmp(a, "--temperature") == 0)
            ok = parse_float(v, &sp.temperature) && sp.temperature >= 0;
        else if (strcmp(a, "--top-p") == 0)
            ok = parse_float(v, &sp.top_p) && sp.top_p > 0 && sp.top_p <= 1;
        else if (strcmp(a, "--top-k") == 0)
            ok = parse_size(v, &k) && k < 1000000000 && ((sp.top_k = (int32_t)k), true);
        else if (strcmp(a, "--seed") == 0)
            ok = parse_size(v, &seed);
        else if (strcmp(a, "--max-new") == 0)
            ok = parse_size(v, &max_new) && max_new >= 1 && max_new <= 1000000;
        else if (strcmp(a, "--min-new") == 0)
            ok = parse_size(v, &min_new);
        else if (strcmp(a, "--threads") == 0)
            ok = parse_size(v, &threads) && threads <= 1024;
        else if (strcmp(a, "--int8-block") == 0)
            ok = parse_size(v, &int8_block) && int8_block % 32 == 0;
        else
            return cli_usage_error("generate", "unknown option '%s'", a);
        if (!ok)
            return cli_usage_error("generate", "%s: '%s' is not a valid value", a, v);
    }
    if (!model_arg || !ids_arg)
        return cli_usage_error("generate", "--model and --ids are required");
    if (greedy)
        sp.temperature = 0;
    nn_qwen2_options opt = {.int8_block = int8_block};
    if (!nn_weight_type_parse(weights, &opt.weights))
        return cli_usage_error("generate", "--weights '%s' is not f32, bf16 or int8", weights);
    if (!nn_kv_type_parse(kv, &opt.kv_cache))
        return cli_usage_error("generate", "--kv '%s' is not auto, f32 or f16", kv);
    nn_grammar_mode mode;
    if (!nn_grammar_mode_parse(constrain, &mode))
        return cli_usage_error("generate", "--constrain '%s' is not off, control, clone or auto",
                               constrain);
    char err[1024], dir[4096];
    size_t n_prompt = 0;
    int32_t *prompt = parse_ids(ids_arg, &n_prompt, err, sizeof err);
    if (!prompt)
        return cli_usage_error("generate", "%s", err);
    snprintf(dir, sizeof dir, "%s/LLM", model_arg);
    if (!is_dir_with(dir, "config.json"))
        snprintf(dir, sizeof dir, "%s", model_arg);

    int rc = EXIT_INVALID;
    nn_spark_ids ids = {0};
    int32_t stop_ids[3] = {0};
    size_t stop_count = 0;
    nn_grammar grammar = {0};
    bool grammar_ready = false;
    nn_qwen2 *model = NULL;
    nn_pool *pool = NULL;
    nn_qwen2_ctx *ctx = NULL;
    nn_generator *gen = NULL;
    int32_t *out = NULL;
    dump d = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/added_tokens.json", dir);
    bool need_ids = mode != NN_GRAMMAR_OFF || strcmp(stop, "none") != 0;
    if (need_ids && nn_spark_ids_load(path, &ids, err, sizeof err)) {
        fprintf(stderr, "sparkhost generate: %s\n", err);
        goto done;
    }
    if (strcmp(stop, "none") != 0) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s", stop);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            int32_t id = strcmp(t, "im_end") == 0         ? ids.im_end
                         : strcmp(t, "end_semantic") == 0 ? ids.end_semantic
                         : strcmp(t, "endoftext") == 0    ? ids.endoftext
                                                          : -1;
            if (id < 0 || stop_count == 3) {
                rc = cli_usage_error("generate", "--stop '%s': im_end, end_semantic, endoftext",
                                     stop);
                goto done;
            }
            stop_ids[stop_count++] = id;
        }
    }
    model = nn_qwen2_load(dir, &opt, err, sizeof err);
    if (!model) {
        fprintf(stderr, "sparkhost generate: %s\n", err);
        goto done;
    }
    size_t vocab = (size_t)nn_qwen2_config_of(model)->vocab_size;
    if (mode != NN_GRAMMAR_OFF) {
        if (stop_count == 0) {
            rc = cli_usage_error("generate", "--constrain needs a stop id");
            goto done;
        }
        if (nn_grammar_init(&grammar, &ids, (int32_t)vocab, stop_ids, stop_count, err,
                            sizeof err)) {
            fprintf(stderr, "sparkhost generate: %s\n", err);
            goto done;
        }
        grammar_ready = true;
    }
    rc = EXIT_INTERNAL;
    pool = nn_pool_create((int)threads, err, sizeof err);
    ctx = nn_qwen2_ctx_new(model);
    gen = nn_generator_new(model);
    out = malloc(max_new * sizeof *out);
    if (!pool || !ctx || !gen || !out) {
        fprintf(stderr, "sparkhost generate: %s\n", pool ? "out of memory" : err);
        goto done;
    }
    nn_generate_params gp = {
        .sampling = sp,
        .seed = seed,
        .max_new_tokens = max_new,
        .min_new_tokens = min_new,
        .stop_ids = stop_ids,
        .stop_count = stop_count,
        .grammar = grammar_ready ? &grammar : NULL,
        .grammar_mode = mode,
    };
    if (dump_path) {
        d.f = fopen(dump_path, "wb");
        d.vocab = vocab;
        d.row = malloc(vocab * sizeof *d.row);
        if (!d.f || !d.row || dump_header(&d)) {
            fprintf(stderr, "sparkhost generate: cannot write %s: %s\n", dump_path,
                    strerror(errno));
            rc = EXIT_INVALID;
            goto done;
        }
        gp.on_token = dump_step;
        gp.user = &d;
    }
    nn_generate_result res;
    if (nn_generate(gen, ctx, pool, prompt, n_prompt, &gp, out, &res, err, sizeof err)) {
        fprintf(stderr, "sparkhost generate: %s\n", err);
        rc = EXIT_INVALID;
        goto done;
    }
    if (d.f && (res.stop == NN_STOP_CALLER || dump_header(&d) || fclose(d.f))) {
        d.f = NULL;
        fprintf(stderr, "sparkhost generate: cannot write %s\n", dump_path);
        remove(dump_path);
        goto done;
    }
    d.f = NULL;
    putchar('[');
    for (size_t i = 0; i < res.tokens; i++)
        printf("%s%d", i ? "," : "", out[i]);
    puts("]");
    if (g->verbosity >= 0)
        fprintf(stderr,
                "%zu prompt ids in %.3f s (%.1f ids/s); %zu new ids, decode %.1f ids/s; "
                "stop: %s; %s weights, %s KV cache, %d threads\n",
                n_prompt, res.prefill_seconds, (double)n_prompt / res.prefill_seconds,
                res.tokens,
                res.tokens > 1 ? (double)(res.tokens - 1) / res.decode_seconds : 0.0,
                nn_stop_reason_name(res.stop), nn_weight_type_name(opt.weights),
                nn_kv_type_name(nn_qwen2_kv_type(model)), nn_pool_threads(pool));
    rc = EXIT_OK;
done:
    if (d.f) {
        fclose(d.f);
        remove(dump_path);
    }
    free(d.row);
    free(out);
    nn_generator_free(gen);
    nn_qwen2_ctx_free(ctx);
    nn_pool_destroy(pool);
    if (grammar_ready)
        nn_grammar_free(&grammar);
    nn_qwen2_free(model);
    free(prompt);
    return rc;
}
