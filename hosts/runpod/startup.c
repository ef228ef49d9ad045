/* Start-up steps with their timings. */
#include "startup.h"

#include "../cli/download.h"
#include "rp_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

double rp_process_age(void)
{
    /* Field 22 of /proc/self/stat is the start time in clock ticks after boot. */
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    unsigned long long start = 0;
    int field = 2;
    for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " "))
        if (++field == 22) {
            start = strtoull(tok, NULL, 10);
            break;
        }
    struct timespec up;
    clock_gettime(CLOCK_BOOTTIME, &up);
    double age = (double)up.tv_sec + (double)up.tv_nsec / 1e9 -
                 (double)start / (double)sysconf(_SC_CLK_TCK);
    return age > 0 ? age : 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void hub_log_line(void *user, int level, const char *message)
{
    (void)user;
    rp_log(level == HUB_LOG_WARN ? RP_WARN : level == HUB_LOG_INFO ? RP_INFO : RP_DEBUG, NULL,
           "model fetch: %s", message);
}

static void fetch_waiting(void *user, const char *dir)
{
    (void)user;
    rp_log(RP_INFO, NULL, "waiting for another worker's fetch into %s", dir);
}

/* A model directory counts as present when it has its config.yaml. */
static int ensure_model(const rp_startup_options *o)
{
    char *marker = NULL;
    if (asprintf(&marker, "%s/config.yaml", o->model_dir) < 0)
        return -1;
    struct stat st;
    bool present = stat(marker, &st) == 0;
    free(marker);
    if (present) {
        rp_log(RP_INFO, NULL, "model found in %s", o->model_dir);
        return 0;
    }
    rp_log(RP_INFO, NULL, "model missing in %s: fetching %s@%s", o->model_dir, o->model_repo,
           o->model_revision);
    char user_agent[64];
    snprintf(user_agent, sizeof user_agent, "sparkhost-runpod/%s", spark_engine_version());
    hub_config hub;
    hub_config_init(&hub);
    hub.user_agent = user_agent;
    hub.log = hub_log_line;
    fetch_request req = {
        .hub = &hub,
        .repo = o->model_repo,
        .revision = o->model_revision,
        .dir = o->model_dir,
        .only_inference = true,
        .waiting = fetch_waiting,
    };
    fetch_result result;
    hub_error err = {0};
    if (download_repo(&req, &result, &err) != HUB_OK) {
        rp_log(RP_ERROR, NULL, "model fetch failed: %s", err.message);
        return -1;
    }
    rp_log(RP_INFO, NULL, "model fetch: %zu files fetched (%lld bytes), %zu already complete",
           result.summary.fetched, (long long)result.summary.bytes_fetched,
           result.summary.skipped);
    return 0;
}

static int report(spark_error *e, const char *what)
{
    rp_log(RP_ERROR, NULL, "%s: %s", what, e && e->message ? e->message : "unknown error");
    spark_error_free(e);
    return -1;
}

int rp_startup(const rp_startup_options *o, rp_runtime *rt)
{
    memset(rt, 0, sizeof *rt);
    double t0 = now_s();
    if (o->model_dir && ensure_model(o) != 0)
        return -1;
    /* the pipelines name their model ${env:SPARK_MODEL_DIR:-...}: the directory checked here */
    if (o->model_dir && setenv("SPARK_MODEL_DIR", o->model_dir, 1) != 0)
        return -1;
    double t1 = now_s();
    spark_error *e = NULL;
    spark_engine_options eo = {
        .plugin_paths = o->plugin_paths,
        .plugin_path_count = o->plugin_path_count,
        .log_level = o->log_level,
        .log = rp_log_engine,
    };
    rt->engine = spark_engine_new(&eo, &e);
    if (!rt->engine)
        return report(e, "engine");
    double t2 = now_s();
    spark_pipeline_options po = {.job_threads = o->job_threads};
    rt->pipeline = spark_pipeline_load(rt->engine, o->pipeline, &po, &e);
    if (!rt->pipeline)
        return report(e, "pipeline");
    double t3 = now_s();
    if (spark_pipeline_activate(rt->pipeline, &e) != 0)
        return report(e, "activation");
    double t4 = now_s();
    rt->ready_seconds = rp_process_age();
    rp_log(RP_INFO, NULL,
           "start-up: model check/fetch %.3f s, plugins %.3f s, pipeline load %.3f s, "
           "activation %.3f s; ready %.3f s after process start",
           t1 - t0, t2 - t1, t3 - t2, t4 - t3, rt->ready_seconds);
    return 0;
}

void rp_runtime_free(rp_runtime *rt)
{
    spark_pipeline_free(rt->pipeline);
    spark_engine_free(rt->engine);
    memset(rt, 0, sizeof *rt);
}
