/* sparkhost-runpod: the Runpod serverless worker. Picks the mode (deployed job loop, local
 * one-shot test, local API server), starts the pipeline once, and hands over. */
#include "local_test.h"
#include "platform.h"
#include "rp_log.h"
#include "serve_api.h"
#include "startup.h"
#include "worker.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define DEFAULT_PIPELINE "configs/runpod.yaml"
#define DEFAULT_REPO "SparkAudio/Spark-TTS-0.5B"

static const char usage[] =
    "usage: sparkhost-runpod [options]\n"
    "\n"
    "The Runpod serverless worker. It loads and activates the pipeline once, then:\n"
    "  - deployed (RUNPOD_WEBHOOK_GET_JOB set): takes jobs from the platform, runs up to\n"
    "    --concurrency of them at once, posts every result, sends the heartbeat, honours\n"
    "    stop signals, and on SIGTERM finishes and reports the jobs in hand, then exits 0;\n"
    "  - with --test-input, or without the platform: runs one job from --test-input or\n"
    "    ./test_input.json ({\"input\": {...}}), prints the result, exits 0 (1 on error);\n"
    "  - with --serve-api: serves /run, /runsync, /status/ID, /stream/ID, /cancel/ID and\n"
    "    /health locally until SIGINT/SIGTERM.\n"
    "A request with \"stream\": true, on a pipeline with a 'stream' input, has its audio\n"
    "posted to the stream URL (or handed out by /stream/ID) while it runs: items\n"
    "{seq, node, media_type, offset, size, data (base64)} under 1 MB each, then\n"
    "{seq, result}; job-done then gets {\"output\": [that last item]} with isStream=true.\n"
    "\n"
    "options:\n"
    "  --pipeline FILE        pipeline to run (default " DEFAULT_PIPELINE ")\n"
    "  --plugin-path DIR      also load plugins from DIR (repeatable)\n"
    "  --concurrency N        jobs at once, 1 to 64 (default 1)\n"
    "  --model-dir DIR        model directory; fetched from the hub first when it has no\n"
    "                         config.yaml, under DIR/.fetch.lock so workers sharing a\n"
    "                         volume download once; the pipeline gets it as\n"
    "                         SPARK_MODEL_DIR\n"
    "  --model-repo ID        repository to fetch (default " DEFAULT_REPO ")\n"
    "  --model-revision REV   branch, tag or commit to fetch (default main)\n"
    "  --stream-progress      post progress to the platform's stream URL while a job runs\n"
    "  --test-input JSON|FILE run one local job from this document and exit\n"
    "  --serve-api            serve the local API\n"
    "  --host ADDR            address for --serve-api (default 127.0.0.1)\n"
    "  --port N               port for --serve-api (default 8000)\n"
    "  --log-level LEVEL      ERROR, WARN, INFO or DEBUG (default INFO, or RUNPOD_LOG_LEVEL)\n"
    "  --log-json             log JSON lines (the default when RUNPOD_ENDPOINT_ID is set)\n"
    "  -h, --help             this help\n"
    "\n"
    "environment (set by the platform): RUNPOD_WEBHOOK_GET_JOB, RUNPOD_WEBHOOK_POST_OUTPUT,\n"
    "RUNPOD_WEBHOOK_POST_STREAM, RUNPOD_WEBHOOK_PING, RUNPOD_PING_INTERVAL (ms),\n"
    "RUNPOD_AI_API_KEY (never logged), RUNPOD_POD_ID, RUNPOD_ENDPOINT_ID. Also\n"
    "SPARKHOST_MODEL_DIR (default of --model-dir), SPARKHOST_CONCURRENCY (default of\n"
    "--concurrency), HF_ENDPOINT and HF_TOKEN for the model fetch.\n"
    "\n"
    "exit codes: 0 done, 1 a failed test job or start-up failure, 2 usage error\n";

typedef struct options {
    const char *pipeline;
    const char **plugin_paths;
    size_t plugin_path_count;
    int concurrency;
    const char *model_dir, *model_repo, *model_revision;
    bool stream_progress;
    const char *test_input;
    bool serve_api;
    const char *host;
    unsigned port;
    int log_level;
    bool log_json;
} options;

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "sparkhost-runpod: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see --help)\n");
    return 2;
}

static bool parse_uint(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = s && *s ? strtol(s, &end, 10) : -1;
    if (!s || !*s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Returns -1 for --help, 0 when fine, else an exit code. */
static int parse_args(options *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return -1;
        } else if (strcmp(a, "--serve-api") == 0) {
            o->serve_api = true;
        } else if (strcmp(a, "--stream-progress") == 0) {
            o->stream_progress = true;
        } else if (strcmp(a, "--log-json") == 0) {
            o->log_json = true;
        } else if (!next) {
            return usage_error("unknown option or missing value: '%s'", a);
        } else if (strcmp(a, "--pipeline") == 0) {
            o->pipeline = argv[++i];
        } else if (strcmp(a, "--plugin-path") == 0) {
            o->plugin_paths[o->plugin_path_count++] = argv[++i];
        } else if (strcmp(a, "--concurrency") == 0) {
            if (!parse_uint(next, 1, 64, &n))
                return usage_error("--concurrency needs a number from 1 to 64, not '%s'", next);
            o->concurrency = (int)n;
            i++;
        } else if (strcmp(a, "--model-dir") == 0) {
            o->model_dir = argv[++i];
        } else if (strcmp(a, "--model-repo") == 0) {
            o->model_repo = argv[++i];
        } else if (strcmp(a, "--model-revision") == 0) {
            o->model_revision = argv[++i];
        } else if (strcmp(a, "--test-input") == 0 || strcmp(a, "--test_input") == 0) {
            o->test_input = argv[++i];
        } else if (strcmp(a, "--host") == 0) {
            o->host = argv[++i];
        } else if (strcmp(a, "--port") == 0) {
            if (!parse_uint(next, 1, 65535, &n))
                return usage_error("--port needs a number from 1 to 65535, not '%s'", next);
            o->port = (unsigned)n;
            i++;
        } else if (strcmp(a, "--log-level") == 0) {
            o->log_level = rp_log_level_parse(next);
            if (o->log_level < 0)
                return usage_error("--log-level needs ERROR, WARN, INFO or DEBUG, not '%s'", next);
            i++;
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }
    if (o->serve_api && o->test_input)
        return usage_error("%s", "--serve-api and --test-input exclude each other");
    return 0;
}

int main(int argc, char **argv)
{
    /* Signals are taken by sigwait in one thread: block them before any thread starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    options o = {
        .pipeline = DEFAULT_PIPELINE,
        .concurrency = 1,
        .model_dir = getenv("SPARKHOST_MODEL_DIR"),
        .model_repo = DEFAULT_REPO,
        .model_revision = "main",
        .host = "127.0.0.1",
        .port = 8000,
        .log_level = RP_INFO,
    };
    const char *env_level = getenv("RUNPOD_LOG_LEVEL");
    if (!env_level)
        env_level = getenv("RUNPOD_DEBUG_LEVEL");
    if (env_level && rp_log_level_parse(env_level) >= 0)
        o.log_level = rp_log_level_parse(env_level);
    long env_conc;
    if (parse_uint(getenv("SPARKHOST_CONCURRENCY"), 1, 64, &env_conc))
        o.concurrency = (int)env_conc;
    o.plugin_paths = calloc((size_t)argc, sizeof *o.plugin_paths);
    if (!o.plugin_paths)
        return 1;
    int rc = parse_args(&o, argc, argv);
    if (rc) {
        free(o.plugin_paths);
        return rc < 0 ? 0 : rc;
    }
    if (o.model_dir && !*o.model_dir)
        o.model_dir = NULL;
    const char *endpoint = getenv("RUNPOD_ENDPOINT_ID");
    rp_log_setup(o.log_json || (endpoint && *endpoint), o.log_level);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    rp_platform pf;
    bool deployed = rp_platform_from_env(&pf) && !o.test_input && !o.serve_api;
    cJSON *test_doc = NULL;
    if (!deployed && !o.serve_api) {
        /* Read the test document first: a bad one should not cost a model load. */
        test_doc = rp_local_test_load(o.test_input);
        if (!test_doc) {
            rp_platform_free(&pf);
            free(o.plugin_paths);
            curl_global_cleanup();
            return 1;
        }
    }

    rp_startup_options so = {
        .pipeline = o.pipeline,
        .plugin_paths = o.plugin_paths,
        .plugin_path_count = o.plugin_path_count,
        .job_threads = (unsigned)o.concurrency,
        .model_dir = o.model_dir,
        .model_repo = o.model_repo,
        .model_revision = o.model_revision,
        .log_level = o.log_level,
    };
    rp_runtime rt;
    if (rp_startup(&so, &rt) != 0) {
        if (deployed) /* tell the platform now rather than leave it waiting for a ping */
            rp_ping_unhealthy(&pf, "startup", "the pipeline could not be loaded and activated; "
                                              "see the worker log");
        rc = 1;
    } else if (deployed) {
        rp_worker_options wo = {.concurrency = o.concurrency,
                                .stream_progress = o.stream_progress};
        rc = rp_worker_run(&pf, rt.pipeline, &wo);
    } else if (o.serve_api) {
        if (o.concurrency > 1)
            rp_log(RP_INFO, NULL, "up to %d jobs run at once", o.concurrency);
        rc = rp_serve_api(rt.pipeline, o.host, o.port);
    } else {
        rc = rp_local_test_run(rt.pipeline, test_doc);
    }
    cJSON_Delete(test_doc);
    rp_runtime_free(&rt);
    rp_platform_free(&pf);
    free(o.plugin_paths);
    curl_global_cleanup();
    return rc;
}
