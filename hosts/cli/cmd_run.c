/* sparkhost run PIPELINE: one job, inputs from the command line, result on stdout. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

static const char usage[] =
    "usage: sparkhost run PIPELINE [options] [-]\n"
    "\n"
    "Runs one job through the pipeline and prints its result.\n"
    "\n"
    "options:\n"
    "  --input KEY=VALUE   set a job input (repeatable); --set is the same\n"
    "  --text TEXT         set the input 'text'\n"
    "  --text-file FILE    set the input 'text' from a UTF-8 file\n"
    "  -                   set the input 'text' from standard input\n"
    "  -o, --output FILE   set the input 'output' (where the pipeline writes its result);\n"
    "                      '-' writes it to standard output, and the result to stderr\n"
    "  --stream            set the input 'stream': the output is written while the job\n"
    "                      runs, piece by piece (with -o -: 'run ... --stream -o - | ffplay -')\n"
    "  --json              print the result as JSON (timings.first_chunk: seconds from the\n"
    "                      job's start to its first streamed piece)\n"
    "  --timeout SECONDS   stop the job after this long (default: the pipeline's job_timeout)\n"
    "  -h, --help          this help\n"
    "\n"
    "The inputs a pipeline takes are declared in its 'inputs' section. Ctrl-C cancels the\n"
    "job; a cancelled or failed job leaves no output file behind (what was already streamed\n"
    "to standard output stays there; the exit status tells the job failed). With -v the\n"
    "time to the first streamed byte is printed on stderr.\n";

typedef struct run_args {
    const char *pipeline;
    const char **keys;   /* each malloc'd */
    const char **values;
    size_t count;
    char *owned_text;
    bool json;
    bool stream;
    bool to_stdout; /* -o - */
    double timeout;
} run_args;

static char *read_stream(FILE *f)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

static int set_text_from(run_args *a, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return cli_usage_error("run", "cannot read text file '%s': %s", path, strerror(errno));
    free(a->owned_text);
    a->owned_text = read_stream(f);
    if (f != stdin)
        fclose(f);
    if (!a->owned_text)
        return EXIT_INTERNAL;
    a->keys[a->count] = strdup("text");
    a->values[a->count++] = a->owned_text;
    return EXIT_OK;
}

static int parse_args(run_args *a, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(arg)) {
            fputs(usage, stdout);
            return -1;
        } else if (strcmp(arg, "--input") == 0 || strcmp(arg, "--set") == 0) {
            const char *eq = next ? strchr(next, '=') : NULL;
            if (!eq || eq == next)
                return cli_usage_error("run", "%s needs KEY=VALUE", arg);
            a->keys[a->count] = strndup(next, (size_t)(eq - next));
            a->values[a->count++] = eq + 1;
            i++;
        } else if (strcmp(arg, "--text") == 0 && next) {
            a->keys[a->count] = strdup("text");
            a->values[a->count++] = next;
            i++;
        } else if (strcmp(arg, "--text-file") == 0 && next) {
            int rc = set_text_from(a, next);
            if (rc)
                return rc;
            i++;
        } else if (strcmp(arg, "-") == 0) {
            int rc = set_text_from(a, "-");
            if (rc)
                return rc;
        } else if ((strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0) && next) {
            a->keys[a->count] = strdup("output");
            a->values[a->count++] = next;
            a->to_stdout = strcmp(next, "-") == 0;
            i++;
        } else if (strcmp(arg, "--stream") == 0) {
            if (!a->stream) {
                a->keys[a->count] = strdup("stream");
                a->values[a->count++] = "true";
            }
            a->stream = true;
        } else if (strcmp(arg, "--json") == 0) {
            a->json = true;
        } else if (strcmp(arg, "--timeout") == 0 && next) {
            char *end;
            a->timeout = strtod(next, &end);
            if (*end || a->timeout <= 0)
                return cli_usage_error("run", "--timeout needs a positive number of seconds");
            i++;
        } else if (arg[0] == '-') {
            return cli_usage_error("run", "unknown option or missing value: '%s'", arg);
        } else if (!a->pipeline) {
            a->pipeline = arg;
        } else {
            return cli_usage_error("run", "unexpected argument '%s'", arg);
        }
    }
    if (!a->pipeline)
        return cli_usage_error("run", "needs a pipeline file");
    return EXIT_OK;
}

typedef struct progress_state {
    struct timespec start;
    bool shown;
} progress_state;

static void show_progress(void *user, const char *job_id, double fraction, const char *node)
{
    progress_state *st = user;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double elapsed = (double)(now.tv_sec - st->start.tv_sec) +
                     (double)(now.tv_nsec - st->start.tv_nsec) / 1e9;
    if (elapsed < 0.5) /* quick jobs stay quiet */
        return;
    fprintf(stderr, "\r\033[K%s: %3.0f%% %s (%.1f s)", job_id, fraction * 100.0,
            node ? node : "", elapsed);
    fflush(stderr);
    st->shown = true;
}

/* Ctrl-C and SIGTERM cancel the job. The handler only writes a byte to a pipe that a watcher
 * thread reads: libraries (OpenBLAS) start threads before main, so blocking the signals in
 * every thread and waiting for them with sigwait cannot be arranged. */
enum { WATCH_CANCEL = 'c', WATCH_QUIT = 'q' };
static int signal_pipe[2] = {-1, -1};

static void on_stop_signal(int sig)
{
    (void)sig;
    int saved = errno;
    char byte = WATCH_CANCEL;
    ssize_t ignored = write(signal_pipe[1], &byte, 1);
    (void)ignored;
    errno = saved;
}

static bool install_stop_signals(void)
{
    if (signal_pipe[0] < 0 && pipe2(signal_pipe, O_CLOEXEC) != 0)
        return false;
    struct sigaction action = {.sa_handler = on_stop_signal};
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    return sigaction(SIGINT, &action, NULL) == 0 && sigaction(SIGTERM, &action, NULL) == 0;
}

typedef struct signal_watch {
    spark_job_handle *job;
    pthread_t thread;
} signal_watch;

static void *watch_signals(void *arg)
{
    signal_watch *w = arg;
    char byte;
    for (;;) {
        ssize_t n = read(signal_pipe[0], &byte, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || byte == WATCH_QUIT)
            break;
        fprintf(stderr, "\nsparkhost: cancelling the job\n");
        spark_job_cancel(w->job);
    }
    return NULL;
}

/* Streamed pieces: those of the object sent to the host (url '-') go to standard output
 * as they come; the first piece of any stream is timed. */
typedef struct chunk_sink {
    struct timespec start;
    bool verbose;
    bool seen;
    bool failed;
    double first_seconds;
} chunk_sink;

static int take_chunk(void *user, const spark_chunk *chunk)
{
    chunk_sink *sink = user;
    if (!sink->seen) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        sink->first_seconds = (double)(now.tv_sec - sink->start.tv_sec) +
                              (double)(now.tv_nsec - sink->start.tv_nsec) / 1e9;
        sink->seen = true;
        if (sink->verbose)
            fprintf(stderr, "sparkhost: first streamed bytes after %.3f s (%s)\n",
                    sink->first_seconds, chunk->node_id);
    }
    if (strcmp(chunk->url, "-") != 0 || chunk->size == 0)
        return 0;
    if (fwrite(chunk->bytes, 1, chunk->size, stdout) != chunk->size || fflush(stdout) != 0) {
        if (!sink->failed)
            fprintf(stderr, "sparkhost: writing the output to standard output failed: %s\n",
                    strerror(errno));
        sink->failed = true;
        return -1;
    }
    return 0;
}

static void print_result(const char *json, bool as_json, FILE *out)
{
    if (as_json) {
        fprintf(out, "%s\n", json);
        return;
    }
    cJSON *root = cJSON_Parse(json);
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "timings") == 0)
            continue;
        if (cJSON_IsString(item)) {
            fprintf(out, "%s: %s\n", item->string, item->valuestring);
        } else {
            char *text = cJSON_PrintUnformatted(item);
            fprintf(out, "%s: %s\n", item->string, text ? text : "");
            free(text);
        }
    }
    const cJSON *timings = cJSON_GetObjectItemCaseSensitive(root, "timings");
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(timings, "first_chunk");
    if (cJSON_IsNumber(first))
        fprintf(out, "first streamed piece: %.3f s\n", first->valuedouble);
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(timings, "total");
    if (cJSON_IsNumber(total))
        fprintf(out, "time: %.3f s\n", total->valuedouble);
    cJSON_Delete(root);
}

static int run_job(const cli_globals *g, spark_pipeline *p, const run_args *a)
{
    spark_error *error = NULL;
    for (size_t i = 0; i < a->count; i++)
        if (strcmp(a->keys[i], "output") == 0 && !spark_pipeline_has_input(p, "output"))
            return cli_usage_error("run", "-o needs a pipeline with an 'output' input");
    if (a->stream && !spark_pipeline_has_input(p, "stream"))
        return cli_usage_error("run", "--stream needs a pipeline with a 'stream' input (a store "
                               "node with stream: true and an encoder that streams)");
    char *request = spark_pipeline_request_from_pairs(p, a->keys, a->values, a->count, &error);
    if (!request)
        return cli_report(error);
    if (spark_pipeline_activate(p, &error) != 0) {
        free(request);
        return cli_report(error);
    }
    progress_state progress = {0};
    clock_gettime(CLOCK_MONOTONIC, &progress.start);
    bool show = g->verbosity >= 0 && isatty(STDERR_FILENO);
    chunk_sink chunks = {.start = progress.start, .verbose = g->verbosity >= 1};
    if (a->to_stdout)
        signal(SIGPIPE, SIG_IGN); /* a reader that goes away is an error to report, not death */
    spark_job_options options = {
        .timeout_seconds = a->timeout,
        .progress = show ? show_progress : NULL,
        .progress_user = &progress,
        .on_chunk = a->stream || a->to_stdout ? take_chunk : NULL,
        .chunk_user = &chunks,
    };
    spark_job_handle *job = spark_job_submit(p, request, &options, &error);
    free(request);
    if (!job)
        return cli_report(error);
    signal_watch watch = {.job = job};
    bool watching = install_stop_signals() &&
                    pthread_create(&watch.thread, NULL, watch_signals, &watch) == 0;
    char *result = NULL;
    int rc = spark_job_join(job, &result, &error);
    if (watching) {
        char quit = WATCH_QUIT;
        ssize_t ignored = write(signal_pipe[1], &quit, 1);
        (void)ignored;
        pthread_join(watch.thread, NULL);
    }
    spark_job_release(job); /* after the watcher, which may still cancel it */
    if (progress.shown)
        fprintf(stderr, "\r\033[K");
    if (rc != 0)
        return cli_report(error);
    /* With -o - standard output carries the audio: the result goes beside it, on stderr. */
    print_result(result, a->json, a->to_stdout ? stderr : stdout);
    free(result);
    return EXIT_OK;
}

int cmd_run(const cli_globals *g, int argc, char **argv)
{
    run_args a = {0};
    a.keys = calloc((size_t)argc + 1, sizeof *a.keys);
    a.values = calloc((size_t)argc + 1, sizeof *a.values);
    if (!a.keys || !a.values) {
        free(a.keys);
        free(a.values);
        return EXIT_INTERNAL;
    }
    int rc = parse_args(&a, argc, argv);
    if (rc == 0) {
        spark_error *error = NULL;
        spark_engine *engine = cli_engine(g, &error);
        if (!engine) {
            rc = cli_report(error);
        } else {
            spark_pipeline *p = spark_pipeline_load(engine, a.pipeline, NULL, &error);
            rc = p ? run_job(g, p, &a) : cli_report(error);
            spark_pipeline_free(p);
            spark_engine_free(engine);
        }
    } else if (rc < 0) {
        rc = EXIT_OK; /* --help */
    }
    for (size_t i = 0; i < a.count; i++)
        free((char *)a.keys[i]);
    free(a.owned_text);
    free(a.keys);
    free(a.values);
    return rc;
}
