/* sparkhost bench PIPELINE: a fixed set of texts through one activated pipeline, streamed,
 * timed: real-time factor, time to first audio, per-stage busy times, LLM speed, peak RSS. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

static const char usage[] =
    "usage: sparkhost bench PIPELINE [options]\n"
    "\n"
    "Activates the pipeline once, then synthesises a fixed set of English texts with it,\n"
    "streamed, and reports per text: audio seconds, wall seconds, real-time factor\n"
    "(wall / audio), time to first audio (first streamed audio byte), each node's busy\n"
    "time (the result's timings), the LLM's tokens per second and the process's peak RSS.\n"
    "\n"
    "options:\n"
    "  --model DIR         the model directory (sets SPARK_MODEL_DIR for the pipeline)\n"
    "  --runs N            runs per text (default 1); the run with the median wall time\n"
    "                      is reported, every run is in the JSON\n"
    "  --texts LIST        which texts, comma-separated (default short,medium,long):\n"
    "                      short: one sentence; medium: a paragraph of five sentences;\n"
    "                      long: about two minutes of speech\n"
    "  --input KEY=VALUE   set a job input for every run (repeatable; --set is the same),\n"
    "                      e.g. max_new_tokens=200, or voice=... with a cloning pipeline\n"
    "                      (the report then says mode 'voice cloning')\n"
    "  --json FILE         also write the results as JSON to FILE\n"
    "  -h, --help          this help\n"
    "\n"
    "Every run sets stream=true, output=- (the audio goes to the bench, not to storage),\n"
    "format=pcm and, where the pipeline has them, subtitles_output=- and a fixed seed per\n"
    "text; --input overrides all but stream, output and text. The LLM's tokens per second\n"
    "is the result's decode_tokens_per_second if the pipeline outputs the LLM's timings,\n"
    "else tokens_generated over the busy time of node 'llm'. The table goes to stdout.\n";

/* The texts: fixed, so results from different days and machines compare. */
typedef struct bench_text {
    const char *name;
    long seed;
    const char *text;
} bench_text;

static const bench_text bench_texts[] = {
    {"short", 1,
     "The old lighthouse keeper climbed the narrow stairs one last time before the storm "
     "reached the coast."},
    {"medium", 2,
     "Every morning the market opens before the sun has fully risen over the hills. Farmers "
     "arrive with crates of apples, pears and bright red peppers, and they set them out on "
     "long wooden tables. By seven o'clock the first customers are already walking between "
     "the stalls, comparing prices and tasting samples of cheese. The baker on the corner "
     "sells warm bread until nothing is left, usually a little after ten. When the church "
     "bell rings at noon, the tables are folded away and the square is quiet again."},
    {"long", 3,
     "When the engineers first surveyed the valley, they found a river that flooded every "
     "spring and dried to a trickle by the end of summer. The villages along its banks had "
     "learned to live with both extremes. They built their houses on low stone walls, stored "
     "grain in high lofts, and dug deep wells that reached the water even in August. For "
     "generations this arrangement worked well enough, although a bad year could still ruin "
     "a family. The plan for a dam changed everything. It promised steady water for the "
     "fields, electricity for the towns, and protection from the floods that had carried "
     "away bridges and barns. It also meant that three of the oldest villages would "
     "disappear beneath a new lake. The debate lasted almost ten years. Some people argued "
     "that progress could not wait, and that the children of the valley deserved schools "
     "with light and hospitals with modern equipment. Others pointed out that the land held "
     "the graves of their ancestors, the orchards their grandparents had planted, and a way "
     "of speaking that was heard nowhere else. In the end a compromise was reached. The dam "
     "was built a few kilometres further downstream than first planned, and its wall was "
     "made lower, so that only one village had to be moved. Its families received new houses "
     "on the hillside, and the stones of the old chapel were carried up the slope and put "
     "together again, one by one, exactly as they had stood before. Today visitors walk along "
     "the shore of the lake and rarely guess what lies under the calm water. On very dry "
     "summers, when the level drops, the tops of a few walls appear, and the older residents "
     "come down to look at them in silence. They remember the sound of the river, the smell "
     "of the mills, and the long evenings when everyone sat outside and told stories until "
     "the stars came out. The young people listen politely, then turn back to their phones, "
     "and the water slowly rises again."},
};
enum { BENCH_TEXT_COUNT = sizeof bench_texts / sizeof bench_texts[0] };

typedef struct bench_args {
    const char *pipeline;
    const char *model_dir;
    const char *json_path;
    long runs;
    bool wanted[BENCH_TEXT_COUNT];
    const char **keys; /* the --input pairs; each key malloc'd */
    const char **values;
    size_t count;
} bench_args;

static int parse_texts(bench_args *a, const char *list)
{
    memset(a->wanted, 0, sizeof a->wanted);
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        bool known = false;
        for (int t = 0; t < BENCH_TEXT_COUNT; t++)
            if (strlen(bench_texts[t].name) == len && strncmp(bench_texts[t].name, p, len) == 0)
                known = a->wanted[t] = true;
        if (!known)
            return cli_usage_error("bench", "--texts: unknown text '%.*s' in '%s' (the texts "
                                   "are short, medium and long)", (int)len, p, list);
        if (!comma)
            return EXIT_OK;
        p = comma + 1;
    }
}

/* Inputs the bench owns: a run is only a benchmark when they have these values. */
static bool is_fixed_input(const char *key)
{
    return strcmp(key, "stream") == 0 || strcmp(key, "output") == 0 ||
           strcmp(key, "output_name") == 0 || strcmp(key, "text") == 0;
}

static int parse_args(bench_args *a, int argc, char **argv)
{
    a->runs = 1;
    for (int t = 0; t < BENCH_TEXT_COUNT; t++)
        a->wanted[t] = true;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(arg)) {
            fputs(usage, stdout);
            return -1;
        } else if (strcmp(arg, "--input") == 0 || strcmp(arg, "--set") == 0) {
            const char *eq = next ? strchr(next, '=') : NULL;
            if (!eq || eq == next)
                return cli_usage_error("bench", "%s needs KEY=VALUE", arg);
            char *key = strndup(next, (size_t)(eq - next));
            if (!key)
                return EXIT_INTERNAL;
            a->keys[a->count] = key;
            a->values[a->count++] = eq + 1;
            if (is_fixed_input(key))
                return cli_usage_error("bench", "--input %s: the bench sets '%s' itself "
                                       "(streamed to the bench, fixed texts)", key, key);
            i++;
        } else if (strcmp(arg, "--model") == 0 && next) {
            struct stat st;
            if (stat(next, &st) != 0 || !S_ISDIR(st.st_mode))
                return cli_usage_error("bench", "--model: '%s' is not a directory", next);
            a->model_dir = next;
            i++;
        } else if (strcmp(arg, "--runs") == 0 && next) {
            char *end;
            errno = 0;
            a->runs = strtol(next, &end, 10);
            if (errno || end == next || *end || a->runs < 1 || a->runs > 1000)
                return cli_usage_error("bench", "--runs needs a whole number from 1 to 1000, not "
                                         "'%s'", next);
            i++;
        } else if (strcmp(arg, "--texts") == 0 && next) {
            int rc = parse_texts(a, next);
            if (rc)
                return rc;
            i++;
        } else if (strcmp(arg, "--json") == 0 && next) {
            a->json_path = next;
            i++;
        } else if (arg[0] == '-') {
            return cli_usage_error("bench", "unknown option or missing value: '%s'", arg);
        } else if (!a->pipeline) {
            a->pipeline = arg;
        } else {
            return cli_usage_error("bench", "unexpected argument '%s'", arg);
        }
    }
    if (!a->pipeline)
        return cli_usage_error("bench", "needs a pipeline file");
    return EXIT_OK;
}

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Peak resident set of this process in bytes: VmHWM, else getrusage's ru_maxrss. */
static double peak_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kib = strtod(line + 6, NULL);
            break;
        }
    if (f)
        fclose(f);
    if (kib <= 0) {
        struct rusage usage;
        if (getrusage(RUSAGE_SELF, &usage) == 0)
            kib = (double)usage.ru_maxrss;
    }
    return kib * 1024.0;
}

/* The streamed pieces of one run: only the audio object's are timed and counted. */
typedef struct audio_sink {
    struct timespec start;
    double first_audio; /* seconds from submit to the first audio byte, < 0 before */
    double bytes;
    char *media_type;
} audio_sink;

static int take_chunk(void *user, const spark_chunk *chunk)
{
    audio_sink *sink = user;
    if (strncmp(chunk->media_type, "audio/", 6) != 0 || chunk->size == 0)
        return 0;
    if (sink->first_audio < 0) {
        sink->first_audio = seconds_since(&sink->start);
        sink->media_type = strdup(chunk->media_type);
    }
    sink->bytes += (double)chunk->size;
    return 0;
}

/* Finds decode_tokens_per_second anywhere in the result (an output holding LLM timings). */
static const cJSON *find_number(const cJSON *node, const char *name)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, node) {
        if (item->string && strcmp(item->string, name) == 0 && cJSON_IsNumber(item))
            return item;
        if (cJSON_IsObject(item)) {
            const cJSON *found = find_number(item, name);
            if (found)
                return found;
        }
    }
    return NULL;
}

/* One run's numbers as a JSON object; NULL on failure (reported, *rc set). */
static cJSON *run_once(spark_pipeline *p, const char *request, int *rc)
{
    spark_error *error = NULL;
    audio_sink sink = {.first_audio = -1};
    clock_gettime(CLOCK_MONOTONIC, &sink.start);
    spark_job_options options = {.on_chunk = take_chunk, .chunk_user = &sink};
    char *result_text = NULL;
    if (spark_job_run(p, request, &options, &result_text, &error) != 0) {
        free(sink.media_type);
        *rc = cli_report(error);
        return NULL;
    }
    double wall = seconds_since(&sink.start);
    cJSON *result = cJSON_Parse(result_text);
    free(result_text);
    cJSON *run = cJSON_CreateObject();
    if (!result || !run) {
        cJSON_Delete(result);
        cJSON_Delete(run);
        free(sink.media_type);
        *rc = EXIT_INTERNAL;
        return NULL;
    }
    const cJSON *duration = cJSON_GetObjectItemCaseSensitive(result, "duration");
    const cJSON *timings = cJSON_GetObjectItemCaseSensitive(result, "timings");
    double audio = cJSON_IsNumber(duration) ? duration->valuedouble : -1;
    cJSON_AddNumberToObject(run, "wall_seconds", wall);
    if (audio > 0) {
        cJSON_AddNumberToObject(run, "audio_seconds", audio);
        cJSON_AddNumberToObject(run, "rtf", wall / audio);
    } else {
        cJSON_AddNullToObject(run, "audio_seconds");
        cJSON_AddNullToObject(run, "rtf");
    }
    if (sink.first_audio >= 0)
        cJSON_AddNumberToObject(run, "first_audio_seconds", sink.first_audio);
    else
        cJSON_AddNullToObject(run, "first_audio_seconds");
    cJSON_AddNumberToObject(run, "audio_bytes", sink.bytes);
    cJSON_AddStringToObject(run, "media_type", sink.media_type ? sink.media_type : "");
    free(sink.media_type);
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(timings, "total");
    if (cJSON_IsNumber(total))
        cJSON_AddNumberToObject(run, "job_seconds", total->valuedouble);
    cJSON *stages = cJSON_AddObjectToObject(run, "stages");
    const cJSON *item;
    cJSON_ArrayForEach(item, timings) {
        if (cJSON_IsNumber(item) && strcmp(item->string, "total") != 0 &&
            strcmp(item->string, "first_chunk") != 0)
            cJSON_AddNumberToObject(stages, item->string, item->valuedouble);
    }
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(result, "tokens_generated");
    if (cJSON_IsNumber(tokens))
        cJSON_AddNumberToObject(run, "tokens_generated", tokens->valuedouble);
    const cJSON *rate = find_number(result, "decode_tokens_per_second");
    const cJSON *llm_busy = cJSON_GetObjectItemCaseSensitive(timings, "llm");
    /* The LLM's own decode rate when the pipeline outputs it; else one that counts the
     * prompt's prefill too. */
    if (rate) {
        cJSON_AddNumberToObject(run, "llm_tokens_per_second", rate->valuedouble);
        cJSON_AddStringToObject(run, "llm_tokens_per_second_from", "decode_tokens_per_second");
    } else if (cJSON_IsNumber(tokens) && cJSON_IsNumber(llm_busy) &&
               llm_busy->valuedouble > 0) {
        cJSON_AddNumberToObject(run, "llm_tokens_per_second",
                                tokens->valuedouble / llm_busy->valuedouble);
        cJSON_AddStringToObject(run, "llm_tokens_per_second_from",
                                "tokens_generated / busy time of node llm (prefill included)");
    } else {
        cJSON_AddNullToObject(run, "llm_tokens_per_second");
    }
    cJSON_AddNumberToObject(run, "peak_rss_bytes", peak_rss_bytes());
    cJSON_Delete(result);
    return run;
}

static double number_of(const cJSON *object, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int by_wall(const void *a, const void *b)
{
    double x = number_of(*(cJSON *const *)a, "wall_seconds");
    double y = number_of(*(cJSON *const *)b, "wall_seconds");
    return (x > y) - (x < y);
}

/* The request of one text: the bench's settings, then the user's --input pairs. */
static char *make_request(spark_pipeline *p, const bench_args *a, const bench_text *t,
                          int *rc)
{
    size_t cap = a->count + 8, n = 0;
    const char **keys = calloc(cap, sizeof *keys);
    const char **values = calloc(cap, sizeof *values);
    char seed[32];
    snprintf(seed, sizeof seed, "%ld", t->seed);
    char *request = NULL;
    if (!keys || !values) {
        *rc = EXIT_INTERNAL;
        goto done;
    }
    static const char *const fixed_keys[] = {"text", "stream", "output"};
    const char *fixed_values[] = {t->text, "true", "-"};
    for (size_t f = 0; f < 3; f++) {
        keys[n] = fixed_keys[f];
        values[n++] = fixed_values[f];
    }
    static const char *const defaults[][2] = {
        {"format", "pcm"}, {"subtitles_output", "-"}, {"seed", NULL}};
    for (size_t d = 0; d < sizeof defaults / sizeof defaults[0]; d++) {
        const char *key = defaults[d][0];
        bool user_set = false;
        for (size_t i = 0; i < a->count; i++)
            user_set = user_set || strcmp(a->keys[i], key) == 0;
        if (!user_set && spark_pipeline_has_input(p, key)) {
            keys[n] = key;
            values[n++] = defaults[d][1] ? defaults[d][1] : seed;
        }
    }
    for (size_t i = 0; i < a->count; i++) {
        keys[n] = a->keys[i];
        values[n++] = a->values[i];
    }
    spark_error *error = NULL;
    request = spark_pipeline_request_from_pairs(p, keys, values, n, &error);
    if (!request)
        *rc = cli_report(error);
done:
    free(keys);
    free(values);
    return request;
}

static void print_number(double v, int width, int decimals)
{
    if (v < 0)
        printf(" %*s", width, "-");
    else
        printf(" %*.*f", width, decimals, v);
}

static void print_table(const cJSON *report)
{
    const cJSON *texts = cJSON_GetObjectItemCaseSensitive(report, "texts");
    printf("pipeline %s, mode %s, activation %.3f s, %d run(s) per text\n",
           cJSON_GetObjectItemCaseSensitive(report, "pipeline")->valuestring,
           cJSON_GetObjectItemCaseSensitive(report, "mode")->valuestring,
           number_of(report, "activation_seconds"), (int)number_of(report, "runs"));
    printf("%-8s %6s %9s %9s %7s %13s %10s %13s\n", "text", "chars", "audio s", "wall s",
           "RTF", "first audio s", "LLM tok/s", "peak RSS MiB");
    const cJSON *t;
    cJSON_ArrayForEach(t, texts) {
        printf("%-8s %6d", cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring,
               (int)number_of(t, "chars"));
        print_number(number_of(t, "audio_seconds"), 9, 3);
        print_number(number_of(t, "wall_seconds"), 9, 3);
        print_number(number_of(t, "rtf"), 7, 3);
        print_number(number_of(t, "first_audio_seconds"), 13, 3);
        print_number(number_of(t, "llm_tokens_per_second"), 10, 1);
        print_number(number_of(t, "peak_rss_bytes") / (1024.0 * 1024.0), 13, 1);
        printf("\n");
    }
    /* Stage busy times: one row per node, one column per text. */
    const cJSON *first = cJSON_GetArrayItem(texts, 0);
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(first, "stages");
    if (!cJSON_GetArraySize(stages))
        return;
    printf("\n%-18s", "stage busy s");
    cJSON_ArrayForEach(t, texts)
        printf(" %9s", cJSON_GetObjectItemCaseSensitive(t, "name")->valuestring);
    printf("\n");
    const cJSON *stage;
    cJSON_ArrayForEach(stage, stages) {
        printf("%-18s", stage->string);
        cJSON_ArrayForEach(t, texts)
            print_number(number_of(cJSON_GetObjectItemCaseSensitive(t, "stages"), stage->string),
                         9, 3);
        printf("\n");
    }
}

/* Writes the whole file or nothing: a temporary beside it, renamed when complete. */
static int write_json(const char *path, const cJSON *report)
{
    char *text = cJSON_Print(report);
    size_t len = strlen(path) + 16;
    char *tmp = malloc(len);
    if (!text || !tmp) {
        free(text);
        free(tmp);
        return EXIT_INTERNAL;
    }
    snprintf(tmp, len, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    bool ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok) {
        fprintf(stderr, "sparkhost bench: cannot write the JSON file '%s': %s\n", path,
                strerror(errno));
        remove(tmp);
    }
    free(text);
    free(tmp);
    return ok ? EXIT_OK : EXIT_INTERNAL;
}

/* Copies the chosen run's numbers into the text's entry; all runs go under "runs". */
static void add_summary(cJSON *entry, cJSON *runs)
{
    int n = cJSON_GetArraySize(runs);
    cJSON **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted)
        return;
    for (int i = 0; i < n; i++)
        sorted[i] = cJSON_GetArrayItem(runs, i);
    qsort(sorted, (size_t)n, sizeof *sorted, by_wall);
    const cJSON *median = sorted[(n - 1) / 2];
    const cJSON *item;
    cJSON_ArrayForEach(item, median)
        cJSON_AddItemToObject(entry, item->string, cJSON_Duplicate(item, 1));
    free(sorted);
}

static bool has_key(const bench_args *a, const char *key)
{
    for (size_t i = 0; i < a->count; i++)
        if (strcmp(a->keys[i], key) == 0)
            return true;
    return false;
}

static int bench(const cli_globals *g, spark_pipeline *p, const bench_args *a)
{
    if (!spark_pipeline_has_input(p, "stream") || !spark_pipeline_has_input(p, "output") ||
        !spark_pipeline_has_input(p, "text"))
        return cli_usage_error("bench", "'%s' is not a speech pipeline the bench can drive: it "
                               "needs the inputs text, stream and output", a->pipeline);
    cJSON *report = cJSON_CreateObject();
    if (!report)
        return EXIT_INTERNAL;
    cJSON_AddStringToObject(report, "pipeline", a->pipeline);
    cJSON_AddStringToObject(report, "mode",
                            has_key(a, "voice") || has_key(a, "prompt_speech_url")
                                ? "voice cloning"
                                : "voice creation");
    cJSON_AddNumberToObject(report, "runs", (double)a->runs);
    cJSON *inputs = cJSON_AddObjectToObject(report, "inputs");
    for (size_t i = 0; i < a->count; i++)
        cJSON_AddStringToObject(inputs, a->keys[i], a->values[i]);
    int rc = EXIT_OK;
    spark_error *error = NULL;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (spark_pipeline_activate(p, &error) != 0) {
        cJSON_Delete(report);
        return cli_report(error);
    }
    cJSON_AddNumberToObject(report, "activation_seconds", seconds_since(&start));
    cJSON_AddNumberToObject(report, "peak_rss_after_activation_bytes", peak_rss_bytes());
    cJSON *texts = cJSON_AddArrayToObject(report, "texts");
    for (int t = 0; t < BENCH_TEXT_COUNT && rc == EXIT_OK; t++) {
        if (!a->wanted[t])
            continue;
        const bench_text *bt = &bench_texts[t];
        char *request = make_request(p, a, bt, &rc);
        if (!request)
            break;
        cJSON *entry = cJSON_CreateObject();
        cJSON_AddItemToArray(texts, entry);
        cJSON_AddStringToObject(entry, "name", bt->name);
        cJSON_AddNumberToObject(entry, "chars", (double)strlen(bt->text));
        cJSON_AddItemToObject(entry, "request", cJSON_Parse(request));
        cJSON *runs = cJSON_CreateArray();
        for (long r = 0; r < a->runs && rc == EXIT_OK; r++) {
            if (g->verbosity >= 0)
                fprintf(stderr, "sparkhost bench: %s, run %ld of %ld\n", bt->name, r + 1,
                        a->runs);
            cJSON *run = run_once(p, request, &rc);
            if (run)
                cJSON_AddItemToArray(runs, run);
        }
        free(request);
        if (rc == EXIT_OK)
            add_summary(entry, runs);
        cJSON_AddItemToObject(entry, "runs", runs);
    }
    cJSON_AddNumberToObject(report, "peak_rss_bytes", peak_rss_bytes());
    if (rc == EXIT_OK) {
        print_table(report);
        fflush(stdout);
        if (a->json_path)
            rc = write_json(a->json_path, report);
    }
    cJSON_Delete(report);
    return rc;
}

int cmd_bench(const cli_globals *g, int argc, char **argv)
{
    bench_args a = {0};
    a.keys = calloc((size_t)argc + 1, sizeof *a.keys);
    a.values = calloc((size_t)argc + 1, sizeof *a.values);
    if (!a.keys || !a.values) {
        free(a.keys);
        free(a.values);
        return EXIT_INTERNAL;
    }
    int rc = parse_args(&a, argc, argv);
    if (rc == 0 && a.model_dir && setenv("SPARK_MODEL_DIR", a.model_dir, 1) != 0)
        rc = EXIT_INTERNAL;
    if (rc == 0) {
        spark_error *error = NULL;
        spark_engine *engine = cli_engine(g, &error);
        if (!engine) {
            rc = cli_report(error);
        } else {
            spark_pipeline *p = spark_pipeline_load(engine, a.pipeline, NULL, &error);
            rc = p ? bench(g, p, &a) : cli_report(error);
            spark_pipeline_free(p);
            spark_engine_free(engine);
        }
    } else if (rc < 0) {
        rc = EXIT_OK; /* --help */
    }
    for (size_t i = 0; i < a.count; i++)
        free((char *)a.keys[i]);
    free(a.keys);
    free(a.values);
    return rc;
}
