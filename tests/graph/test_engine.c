/* The engine end to end with real plugin files: concurrency, cancellation, deadlines,
 * failures, request validation, format negotiation and refused plugins. */
#include "check.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <spark/engine.h>

static const char *source_dir;
static const char *test_plugin_dir;
static char out_dir[256];

static void quiet_log(void *user, int level, const char *line)
{
    (void)user;
    if (getenv("SPARK_TEST_VERBOSE"))
        fprintf(stderr, "log %d: %s\n", level, line);
}

static spark_engine *engine_with(const char *extra_dir)
{
    const char *paths[2] = {test_plugin_dir, extra_dir};
    spark_engine_options options = {
        .plugin_paths = paths,
        .plugin_path_count = extra_dir ? 2 : 1,
        .log_level = SPARK_LOG_LEVEL_DEBUG,
        .log = quiet_log,
    };
    spark_error *error = NULL;
    spark_engine *engine = spark_engine_new(&options, &error);
    CHECK(engine != NULL);
    spark_error_free(error);
    return engine;
}

static spark_pipeline *load(spark_engine *engine, const char *name, unsigned threads,
                            spark_error **error)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/graph/pipelines/%s", source_dir, name);
    spark_pipeline_options options = {.job_threads = threads};
    return spark_pipeline_load(engine, path, &options, error);
}

static spark_pipeline *load_active(spark_engine *engine, const char *name, unsigned threads)
{
    spark_error *error = NULL;
    spark_pipeline *p = load(engine, name, threads, &error);
    if (p && spark_pipeline_activate(p, &error) != 0) {
        spark_pipeline_free(p);
        p = NULL;
    }
    if (!p)
        fprintf(stderr, "cannot load %s: %s\n", name, error ? error->message : "?");
    CHECK(p != NULL);
    spark_error_free(error);
    return p;
}

static char *result_string(const char *json, const char *key)
{
    cJSON *root = cJSON_Parse(json);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    char *out = cJSON_IsString(v) ? strdup(v->valuestring)
                : cJSON_IsNumber(v) ? (char *)malloc(32) : NULL;
    if (cJSON_IsNumber(v))
        snprintf(out, 32, "%.0f", v->valuedouble);
    cJSON_Delete(root);
    return out;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* Four jobs at once on one activated graph give what the same jobs give one by one. */
static void test_concurrent_jobs_match_sequential(void)
{
    spark_engine *engine = engine_with(NULL);
    spark_pipeline *serial = load_active(engine, "concurrent.yaml", 1);
    spark_pipeline *parallel = load_active(engine, "concurrent.yaml", 4);
    if (!serial || !parallel)
        goto out;
    char *expected[4] = {0};
    for (int i = 0; i < 4; i++) {
        char request[64], *result = NULL;
        snprintf(request, sizeof request, "{\"seed\": %d}", 100 + i);
        spark_error *error = NULL;
        CHECK_INT_EQ(spark_job_run(serial, request, NULL, &result, &error), 0);
        spark_error_free(error);
        expected[i] = result ? result_string(result, "checksum") : NULL;
        if (result) {
            char *frames = result_string(result, "frames");
            CHECK_STR_EQ(frames, "4800"); /* 6 packets of 800 frames */
            free(frames);
        }
        free(result);
    }
    CHECK(expected[0] && expected[1] && strcmp(expected[0], expected[1]) != 0);
    spark_job_handle *jobs[4];
    for (int i = 0; i < 4; i++) {
        char request[64];
        snprintf(request, sizeof request, "{\"seed\": %d}", 100 + i);
        spark_error *error = NULL;
        jobs[i] = spark_job_submit(parallel, request, NULL, &error);
        CHECK(jobs[i] != NULL);
        spark_error_free(error);
    }
    int most_at_once = 0;
    for (int i = 0; i < 4; i++) {
        char *result = NULL;
        spark_error *error = NULL;
        if (!jobs[i])
            continue;
        CHECK_INT_EQ(spark_job_wait(jobs[i], &result, &error), 0);
        spark_error_free(error);
        char *checksum = result ? result_string(result, "checksum") : NULL;
        CHECK_STR_EQ(checksum, expected[i]);
        char *peak = result ? result_string(result, "peak_jobs") : NULL;
        if (peak && atoi(peak) > most_at_once)
            most_at_once = atoi(peak);
        free(peak);
        free(checksum);
        free(result);
    }
    /* the jobs really overlapped on the one instance */
    CHECK(most_at_once >= 2);
    for (int i = 0; i < 4; i++)
        free(expected[i]);
out:
    spark_pipeline_free(serial);
    spark_pipeline_free(parallel);
    spark_engine_free(engine);
}

/* A cancelled job and a job past its deadline stop early and leave no file. */
static void test_cancel_and_deadline(void)
{
    spark_engine *engine = engine_with(NULL);
    spark_pipeline *p = load_active(engine, "cancel.yaml", 2);
    if (!p)
        goto out;
    /* 20 packets x 200 ms = 4 s if nothing stopped it */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    spark_error *error = NULL;
    spark_job_handle *job = spark_job_submit(p, "{\"output\": \"cancelled.wav\"}", NULL, &error);
    CHECK(job != NULL);
    if (job) {
        struct timespec pause = {0, 300 * 1000000};
        nanosleep(&pause, NULL);
        spark_job_cancel(job);
        char *result = NULL;
        CHECK_INT_EQ(spark_job_wait(job, &result, &error), -1);
        CHECK(seconds_since(&t0) < 2.0);
        CHECK(error && error->error_class == SPARK_ERROR_JOB);
        CHECK(error && error->status == SPARK_E_CANCELLED);
        CHECK_STR_CONTAINS(error ? error->message : NULL, "cancelled");
        free(result);
    }
    spark_error_free(error);
    error = NULL;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    spark_job_options options = {.timeout_seconds = 0.5};
    char *result = NULL;
    CHECK_INT_EQ(spark_job_run(p, "{\"output\": \"late.wav\"}", &options, &result, &error), -1);
    CHECK(seconds_since(&t0) < 2.5);
    CHECK(error && error->status == SPARK_E_TIMEOUT);
    CHECK_STR_CONTAINS(error ? error->message : NULL, "deadline");
    spark_error_free(error);
    free(result);
    error = NULL;

    /* nothing written, not even a temporary file */
    CHECK_INT_EQ(count_files(out_dir), 0);
    char path[512];

    /* join keeps the handle: a cancel after the job ended is harmless (ASan would see a use
     * after free), a second join is refused, release frees it */
    job = spark_job_submit(p, "{\"output\": \"joined.wav\", \"delay_ms\": 0}", NULL, &error);
    CHECK(job != NULL);
    if (job) {
        CHECK_INT_EQ(spark_job_join(job, &result, &error), 0);
        CHECK_STR_CONTAINS(result, "joined.wav");
        free(result);
        result = NULL;
        spark_job_cancel(job);
        CHECK_INT_EQ(spark_job_join(job, &result, &error), -1);
        CHECK_STR_CONTAINS(error ? error->message : NULL, "already joined");
        spark_error_free(error);
        error = NULL;
        spark_job_release(job);
        snprintf(path, sizeof path, "%s/joined.wav", out_dir);
        CHECK(unlink(path) == 0);
    }

    /* the same graph still serves a job to the end */
    CHECK_INT_EQ(spark_job_run(p, "{\"output\": \"done.wav\", \"delay_ms\": 0}", NULL, &result,
                               &error), 0);
    CHECK_STR_CONTAINS(result, "done.wav");
    CHECK_INT_EQ(count_files(out_dir), 1);
    snprintf(path, sizeof path, "%s/done.wav", out_dir);
    CHECK(unlink(path) == 0);
    spark_error_free(error);
    free(result);
out:
    spark_pipeline_free(p);
    spark_engine_free(engine);
}

static void test_failures_name_the_node(void)
{
    spark_engine *engine = engine_with(NULL);
    spark_error *error = NULL;
    spark_pipeline *p = load(engine, "fail_activate.yaml", 1, &error);
    CHECK(p != NULL);
    if (p) {
        CHECK_INT_EQ(spark_pipeline_activate(p, &error), -1);
        CHECK_STR_CONTAINS(error ? error->message : NULL, "'refuser'");
        CHECK_STR_CONTAINS(error ? error->message : NULL, "activation refused by test plugin");
        CHECK_STR_CONTAINS(error ? error->message : NULL, "fail_activate.yaml:5");
        CHECK_STR_EQ(error ? error->node_id : NULL, "refuser");
        spark_pipeline_free(p);
    }
    spark_error_free(error);
    error = NULL;

    p = load_active(engine, "fail_process.yaml", 1);
    if (p) {
        char *result = NULL;
        CHECK_INT_EQ(spark_job_run(p, "{\"output\": \"broken.wav\"}", NULL, &result, &error), -1);
        CHECK(error && error->error_class == SPARK_ERROR_JOB);
        CHECK_STR_EQ(error ? error->node_id : NULL, "broken");
        CHECK_STR_CONTAINS(error ? error->message : NULL, "process failed on purpose at packet 1");
        CHECK_STR_CONTAINS(error ? error->message : NULL, "org.sparkhost.test.fail_process");
        CHECK_INT_EQ(count_files(out_dir), 0);
        free(result);
        spark_error_free(error);
        error = NULL;

        /* A bad request is refused before any node runs: fail_at 0 would fail at once. */
        const char *bad[][2] = {
            {"{\"fail_at\": 0}", "output"},                                  /* missing */
            {"{\"output\": \"x.wav\", \"fail_at\": \"zero\"}", "fail_at"},    /* wrong type */
            {"{\"output\": \"x.wav\", \"fail_at\": 500}", "fail_at"},          /* range */
            {"{\"output\": \"x.wav\", \"fail_at\": 0, \"format\": \"mp4\"}", "format"},
            {"{\"output\": \"x.wav\", \"fail_at\": 0.5}", "fail_at"},         /* not integer */
            {"{\"output\": \"x.wav\", \"fail_ta\": 0}", "fail_ta"},           /* unknown */
            {"[1, 2]", NULL},                                                 /* not object */
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            CHECK_INT_EQ(spark_job_run(p, bad[i][0], NULL, &result, &error), -1);
            CHECK(error && error->error_class == SPARK_ERROR_REQUEST);
            if (bad[i][1]) {
                CHECK_STR_EQ(error ? error->field : NULL, bad[i][1]);
                CHECK_STR_CONTAINS(error ? error->message : NULL, bad[i][1]);
            }
            spark_error_free(error);
            error = NULL;
        }
        CHECK_INT_EQ(count_files(out_dir), 0);
        spark_pipeline_free(p);
    }
    spark_engine_free(engine);
}

static void test_resampler_inserted(void)
{
    spark_engine *engine = engine_with(NULL);
    spark_pipeline *p = load_active(engine, "resampler_insert.yaml", 1);
    if (p) {
        CHECK_INT_EQ(spark_pipeline_node_count(p), 3);
        char *result = NULL;
        spark_error *error = NULL;
        CHECK_INT_EQ(spark_job_run(p, "{}", NULL, &result, &error), 0);
        char *rate = result ? result_string(result, "rate") : NULL;
        char *frames = result ? result_string(result, "frames") : NULL;
        CHECK_STR_EQ(rate, "16000");
        /* 4 x 0.1 s at 22.05 kHz = 0.4 s = 6400 frames at 16 kHz */
        CHECK_STR_EQ(frames, "6400");
        free(rate);
        free(frames);
        free(result);
        spark_error_free(error);
        spark_pipeline_free(p);
    }
    spark_error *error = NULL;
    p = load(engine, "resampler_strict.yaml", 1, &error);
    CHECK(p != NULL);
    if (p) {
        CHECK_INT_EQ(spark_pipeline_activate(p, &error), -1);
        CHECK_STR_CONTAINS(error ? error->message : NULL, "strict_formats");
        CHECK_STR_CONTAINS(error ? error->message : NULL, "16000 Hz");
        CHECK_STR_CONTAINS(error ? error->message : NULL, "22050 Hz");
        spark_pipeline_free(p);
    }
    spark_error_free(error);
    spark_engine_free(engine);
}

/* Formats known only at run time get a resampler too. */
static void test_resampler_for_runtime_formats(void)
{
    char cmd[768];
    snprintf(cmd, sizeof cmd, "ffmpeg -loglevel error -y -f lavfi -i "
             "'sine=frequency=300:sample_rate=44100:duration=0.5' -ac 2 '%s/in.wav'", out_dir);
    CHECK_INT_EQ(system(cmd), 0);
    spark_engine *engine = engine_with(NULL);
    spark_pipeline *p = load_active(engine, "resampler_runtime.yaml", 1);
    if (p) {
        CHECK_INT_EQ(spark_pipeline_node_count(p), 4);
        char *result = NULL;
        spark_error *error = NULL;
        CHECK_INT_EQ(spark_job_run(p, "{\"input\": \"in.wav\"}", NULL, &result, &error), 0);
        char *rate = result ? result_string(result, "rate") : NULL;
        char *channels = result ? result_string(result, "channels") : NULL;
        char *frames = result ? result_string(result, "frames") : NULL;
        CHECK_STR_EQ(rate, "16000");
        CHECK_STR_EQ(channels, "1");
        CHECK_STR_EQ(frames, "8000");
        free(rate);
        free(channels);
        free(frames);
        free(result);
        spark_error_free(error);
        spark_pipeline_free(p);
    }
    spark_engine_free(engine);
    snprintf(cmd, sizeof cmd, "%s/in.wav", out_dir);
    CHECK(unlink(cmd) == 0);
}

static void test_refused_plugins(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/bad-abi", test_plugin_dir);
    spark_engine *engine = engine_with(dir);
    const char *problems = spark_engine_plugin_problems(engine);
    CHECK_STR_CONTAINS(problems, "bad-abi/test-bad-abi.so");
    char versions[64];
    snprintf(versions, sizeof versions, "ABI %u.%u.%u", SPARK_ABI_MAJOR + 1, SPARK_ABI_MINOR,
             SPARK_ABI_PATCH);
    CHECK_STR_CONTAINS(problems, versions);
    snprintf(versions, sizeof versions, "%u.%u.%u", SPARK_ABI_MAJOR, SPARK_ABI_MINOR,
             SPARK_ABI_PATCH);
    CHECK_STR_CONTAINS(problems, versions);
    CHECK(spark_engine_find_plugin(engine, "org.sparkhost.test.bad_abi") == NULL);
    CHECK(spark_engine_find_plugin(engine, "org.sparkhost.test.source") != NULL);
    spark_engine_free(engine);

    snprintf(dir, sizeof dir, "%s/duplicate", test_plugin_dir);
    engine = engine_with(dir);
    problems = spark_engine_plugin_problems(engine);
    CHECK_STR_CONTAINS(problems, "duplicate/test-duplicate-a.so");
    CHECK_STR_CONTAINS(problems, "duplicate/test-duplicate-b.so");
    CHECK(spark_engine_find_plugin(engine, "org.sparkhost.test.duplicate") == NULL);
    spark_error *error = NULL;
    spark_pipeline *p = load(engine, "duplicate.yaml", 1, &error);
    CHECK(p == NULL);
    CHECK_STR_CONTAINS(error ? error->message : NULL, "duplicate.yaml:4: duplicate plugin id");
    CHECK_STR_CONTAINS(error ? error->message : NULL, "test-duplicate-a.so");
    CHECK_STR_CONTAINS(error ? error->message : NULL, "test-duplicate-b.so");
    spark_error_free(error);
    spark_pipeline_free(p);
    spark_engine_free(engine);
}

int main(void)
{
    source_dir = getenv("SPARK_SOURCE_DIR");
    test_plugin_dir = getenv("SPARK_TEST_PLUGIN_DIR");
    if (!source_dir || !test_plugin_dir) {
        fprintf(stderr, "SPARK_SOURCE_DIR and SPARK_TEST_PLUGIN_DIR must be set (run by ctest)\n");
        return 1;
    }
    snprintf(out_dir, sizeof out_dir, "/tmp/spark-engine-test-XXXXXX");
    if (!mkdtemp(out_dir)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("SPARK_TEST_OUT", out_dir, 1);
    test_concurrent_jobs_match_sequential();
    test_cancel_and_deadline();
    test_failures_name_the_node();
    test_resampler_inserted();
    test_resampler_for_runtime_formats();
    test_refused_plugins();
    rmdir(out_dir);
    return CHECK_DONE();
}
