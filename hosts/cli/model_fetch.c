/* sparkhost model fetch: download a model repository from the Hugging Face hub. The work is
 * done by download.c; this file parses options and prints. */
#include "download.h"
#include "model.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_REPO "SparkAudio/Spark-TTS-0.5B"

static const char usage[] =
    "usage: sparkhost model fetch [--repo ID] [--revision REV] [--dir DIR] [--only-inference]\n"
    "                             [--jobs N] [--retries N]\n"
    "\n"
    "Downloads a model repository from the Hugging Face hub into DIR. Interrupted downloads\n"
    "resume where they stopped, every large (LFS) file is checked against the SHA-256 the hub\n"
    "publishes, files appear under their final names only once complete, and files already\n"
    "complete are not downloaded again.\n"
    "\n"
    "options:\n"
    "  --repo ID          repository, owner/name (default " DEFAULT_REPO ")\n"
    "  --revision REV     branch, tag or commit (default main)\n"
    "  --dir DIR          destination (default models/<name of the repository>)\n"
    "  --only-inference   only what synthesis reads: config.yaml, LLM/, BiCodec/, and\n"
    "                     config.json, preprocessor_config.json and pytorch_model.bin of\n"
    "                     wav2vec2-large-xlsr-53/\n"
    "  --jobs N           parallel transfers, 1 to 32 (default 4)\n"
    "  --retries N        attempts per request on network errors, 429 and 5xx (default 5)\n"
    "  -h, --help         this help\n"
    "\n"
    "environment:\n"
    "  HF_ENDPOINT        the hub's address (default " HUB_DEFAULT_ENDPOINT ")\n"
    "  HF_TOKEN           access token for gated or private repositories; sent to the hub\n"
    "                     only, never printed\n"
    "  https_proxy etc.   honoured as by curl\n"
    "\n"
    "Several processes may fetch into one DIR at once (workers sharing a network volume):\n"
    "they take turns through DIR/.fetch.lock, and none downloads what another completed.\n"
    "Partial downloads wait in DIR/" DOWNLOAD_CACHE_DIR "/ for the next run.\n"
    "\n"
    "exit codes: 0 done, 2 usage error, 4 download failed, 5 internal error\n";

typedef struct console {
    int verbosity;
    bool bar;           /* stderr is a terminal: draw the progress line */
    bool bar_shown;     /* a progress line is on screen */
    pthread_mutex_t mu; /* log lines come from download threads */
    struct timespec last;
    int64_t last_received;
    double rate; /* bytes/s, smoothed */
} console;

static double seconds_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

static void human(char *buf, size_t cap, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

static void clear_bar(console *con)
{
    if (con->bar_shown) {
        fputs("\r\033[K", stderr);
        con->bar_shown = false;
    }
}

static void on_progress(void *user, const download_progress *p)
{
    console *con = user;
    if (!con->bar || p->files_total == 0)
        return;
    pthread_mutex_lock(&con->mu);
    double dt = seconds_since(&con->last);
    if (dt >= 0.5) {
        double now_rate = (double)(p->bytes_received - con->last_received) / dt;
        con->rate = con->rate > 0 ? 0.7 * con->rate + 0.3 * now_rate : now_rate;
        con->last_received = p->bytes_received;
        clock_gettime(CLOCK_MONOTONIC, &con->last);
    }
    char done[32], total[32], rate[40] = "";
    human(done, sizeof done, (double)p->bytes_done);
    human(total, sizeof total, (double)p->bytes_total);
    if (con->rate > 0) { /* none until the first half second is measured */
        human(rate + 2, sizeof rate - 4, con->rate);
        memcpy(rate, "  ", 2);
        strcat(rate, "/s");
    }
    if (p->bytes_total > 0) {
        int64_t shown = p->bytes_done < p->bytes_total ? p->bytes_done : p->bytes_total;
        fprintf(stderr, "\r\033[Kfetching %3d%%  %s / %s%s  %zu/%zu files",
                (int)(100 * shown / p->bytes_total), done, total, rate, p->files_done,
                p->files_total);
    } else {
        fprintf(stderr, "\r\033[Kfetching %s%s  %zu/%zu files", done, rate, p->files_done,
                p->files_total);
    }
    fflush(stderr);
    con->bar_shown = true;
    pthread_mutex_unlock(&con->mu);
}

static void on_log(void *user, int level, const char *message)
{
    console *con = user;
    if (con->verbosity < 0 || level > con->verbosity + 1)
        return;
    pthread_mutex_lock(&con->mu);
    clear_bar(con);
    fprintf(stderr, "sparkhost: %s%s\n", level == HUB_LOG_WARN ? "warning: " : "", message);
    pthread_mutex_unlock(&con->mu);
}

static void on_waiting(void *user, const char *dir)
{
    console *con = user;
    if (con->verbosity < 0 || (!con->bar && con->verbosity < 1))
        return;
    pthread_mutex_lock(&con->mu);
    clear_bar(con);
    fprintf(stderr, "sparkhost: waiting for another fetch into %s\n", dir);
    pthread_mutex_unlock(&con->mu);
}

/* Reads the value of an option given as "--name VALUE" or "--name=VALUE". */
static const char *option_value(int argc, char **argv, int *i, const char *name, bool *matched)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    *matched = false;
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=') {
        *matched = true;
        return a + n + 1;
    }
    if (a[n] != '\0')
        return NULL;
    *matched = true;
    return *i + 1 < argc ? argv[++*i] : NULL;
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

int model_fetch_main(const cli_globals *g, int argc, char **argv)
{
    const char *repo = DEFAULT_REPO, *revision = "main", *dir = NULL;
    bool only_inference = false;
    int jobs = DOWNLOAD_DEFAULT_JOBS, retries = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool m;
        const char *v;
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--only-inference") == 0) {
            only_inference = true;
        } else if ((v = option_value(argc, argv, &i, "--repo", &m)) || m) {
            if (!v || !hub_repo_id_valid(v))
                return cli_usage_error("model fetch", "--repo needs an id like owner/name%s%s%s",
                                       v ? ", not '" : "", v ? v : "", v ? "'" : "");
            repo = v;
        } else if ((v = option_value(argc, argv, &i, "--revision", &m)) || m) {
            if (!v || !*v)
                return cli_usage_error("model fetch", "--revision needs a branch, tag or commit");
            revision = v;
        } else if ((v = option_value(argc, argv, &i, "--dir", &m)) || m) {
            if (!v || !*v)
                return cli_usage_error("model fetch", "--dir needs a directory");
            dir = v;
        } else if ((v = option_value(argc, argv, &i, "--jobs", &m)) || m) {
            if (!v || !parse_int(v, 1, DOWNLOAD_MAX_JOBS, &jobs))
                return cli_usage_error("model fetch", "--jobs needs a number from 1 to %d",
                                       DOWNLOAD_MAX_JOBS);
        } else if ((v = option_value(argc, argv, &i, "--retries", &m)) || m) {
            if (!v || !parse_int(v, 1, 100, &retries))
                return cli_usage_error("model fetch", "--retries needs a number from 1 to 100");
        } else if (a[0] == '-') {
            return cli_usage_error("model fetch", "unknown option '%s'", a);
        } else {
            return cli_usage_error("model fetch", "takes no arguments, got '%s' (use --dir)", a);
        }
    }
    char *default_dir = NULL;
    if (!dir) {
        const char *slash = strrchr(repo, '/');
        if (asprintf(&default_dir, "models/%s", slash ? slash + 1 : repo) < 0)
            return EXIT_INTERNAL;
        dir = default_dir;
    }

    /* A peer closing a connection must be an error of that transfer, not the end of us. */
    signal(SIGPIPE, SIG_IGN);
    console con = {.verbosity = g->verbosity, .bar = g->verbosity >= 0 && isatty(2)};
    pthread_mutex_init(&con.mu, NULL);
    clock_gettime(CLOCK_MONOTONIC, &con.last);
    char user_agent[64];
    snprintf(user_agent, sizeof user_agent, "sparkhost/%s", spark_engine_version());
    hub_config hub;
    hub_config_init(&hub);
    hub.user_agent = user_agent;
    hub.log = on_log;
    hub.log_user = &con;
    if (retries > 0)
        hub.max_attempts = retries;
    fetch_request req = {
        .hub = &hub,
        .repo = repo,
        .revision = revision,
        .dir = dir,
        .only_inference = only_inference,
        .jobs = jobs,
        .progress = on_progress,
        .progress_user = &con,
        .waiting = on_waiting,
        .waiting_user = &con,
    };
    fetch_result result;
    hub_error err = {0};
    hub_status st = download_repo(&req, &result, &err);
    pthread_mutex_lock(&con.mu);
    clear_bar(&con);
    pthread_mutex_unlock(&con.mu);
    pthread_mutex_destroy(&con.mu);
    int rc = EXIT_OK;
    if (st != HUB_OK) {
        fprintf(stderr, "sparkhost: %s\n", err.message);
        rc = st == HUB_ERR_INTERNAL ? EXIT_INTERNAL : EXIT_JOB;
    } else if (g->verbosity >= 0) {
        char size[32];
        human(size, sizeof size, (double)result.summary.bytes_fetched);
        printf("%s: %zu file%s fetched (%s), %zu already complete", dir, result.summary.fetched,
               result.summary.fetched == 1 ? "" : "s", size, result.summary.skipped);
        if (result.commit[0])
            printf(", %s at commit %.12s", repo, result.commit);
        putchar('\n');
    }
    free(default_dir);
    return rc;
}
