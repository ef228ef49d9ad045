/* Engine overhead: start-up (engine + plugin loading + pipeline activation), time per job
 * and per packet through the scheduler, with the test source -> passthrough -> sink graph
 * of bench/pipelines/overhead.yaml.
 * usage: engine_overhead SOURCE_DIR TEST_PLUGIN_DIR [JOBS] [THREADS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <spark/engine.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Engine, plugins, pipeline parse and check, activation: what a host pays once. */
static spark_pipeline *start(const char *source_dir, const char *plugin_dir, unsigned threads,
                             spark_engine **out_engine, double *seconds)
{
    double t0 = now();
    const char *paths[1] = {plugin_dir};
    spark_engine_options options = {.plugin_paths = paths, .plugin_path_count = 1,
                                    .log_level = SPARK_LOG_LEVEL_ERROR};
    spark_error *error = NULL;
    spark_engine *engine = spark_engine_new(&options, &error);
    char path[1024];
    snprintf(path, sizeof path, "%s/bench/pipelines/overhead.yaml", source_dir);
    spark_pipeline_options popts = {.job_threads = threads};
    spark_pipeline *p = engine ? spark_pipeline_load(engine, path, &popts, &error) : NULL;
    if (!p || spark_pipeline_activate(p, &error) != 0) {
        fprintf(stderr, "start failed: %s\n", error ? error->message : "?");
        exit(1);
    }
    *seconds = now() - t0;
    *out_engine = engine;
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s SOURCE_DIR TEST_PLUGIN_DIR [JOBS] [THREADS]\n", argv[0]);
        return 2;
    }
    int jobs = argc > 3 ? atoi(argv[3]) : 2000;
    unsigned threads = argc > 4 ? (unsigned)atoi(argv[4]) : 2;
    spark_engine *engine;
    double startup;
    spark_pipeline *p = start(argv[1], argv[2], threads, &engine, &startup);
    printf("start-up (engine, plugins, pipeline, activation): %.2f ms\n", startup * 1e3);

    for (int packets = 1; packets <= 100; packets *= 100) {
        char request[64];
        snprintf(request, sizeof request, "{\"count\": %d}", packets);
        spark_job_handle **handles = calloc((size_t)jobs, sizeof *handles);
        double t0 = now();
        for (int i = 0; i < jobs; i++)
            handles[i] = spark_job_submit(p, request, NULL, NULL);
        for (int i = 0; i < jobs; i++) {
            char *result = NULL;
            if (!handles[i] || spark_job_wait(handles[i], &result, NULL) != 0) {
                fprintf(stderr, "job %d failed\n", i);
                return 1;
            }
            free(result);
        }
        double t = now() - t0;
        free(handles);
        printf("%d jobs x %d packets on %u job threads: %.1f us per job, %.2f us per packet "
               "hop (3 hops)\n", jobs, packets, threads, t / jobs * 1e6,
               t / ((double)jobs * packets * 3) * 1e6);
    }
    spark_pipeline_free(p);
    spark_engine_free(engine);
    return 0;
}
