/* Streamed outputs through the engine API: a store node with stream: true hands each piece
 * of its object to spark_job_options.on_chunk while the job runs, in order, and the pieces
 * are the committed file; url '-' sends the object to the host only; a host that refuses a
 * piece fails the job and leaves no file; hosts that set no callback see no change. */
#include "check.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* What a host saw of one streamed object. */
typedef struct collected {
    unsigned char *bytes;
    size_t size;
    size_t pieces;
    int out_of_order;        /* seq or offset not continuing the previous piece */
    char node_id[64];
    char url[256];
    char media_type[128];
    int file_existed_at_first; /* the committed file was already there at piece 0 */
    char watch_path[512];      /* the file the job will commit */
    long refuse_at;            /* refuse this piece (-1: none) */
} collected;

static int collect(void *user, const spark_chunk *chunk)
{
    collected *c = user;
    if (chunk->seq != c->pieces || chunk->offset != c->size)
        c->out_of_order = 1;
    if (c->pieces == 0) {
        snprintf(c->node_id, sizeof c->node_id, "%s", chunk->node_id);
        snprintf(c->url, sizeof c->url, "%s", chunk->url);
        snprintf(c->media_type, sizeof c->media_type, "%s", chunk->media_type);
        c->file_existed_at_first = c->watch_path[0] && access(c->watch_path, F_OK) == 0;
    }
    if (c->refuse_at >= 0 && (long)chunk->seq == c->refuse_at)
        return -1;
    unsigned char *grown = realloc(c->bytes, c->size + chunk->size + 1);
    if (!grown)
        return -1;
    c->bytes = grown;
    memcpy(c->bytes + c->size, chunk->bytes, chunk->size);
    c->size += chunk->size;
    c->pieces++;
    return 0;
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(n > 0 ? (size_t)n : 1);
    *size = data ? fread(data, 1, (size_t)n, f) : 0;
    fclose(f);
    return data;
}

static double timing(const char *json, const char *key)
{
    cJSON *root = cJSON_Parse(json);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "timings"), key);
    double out = cJSON_IsNumber(v) ? v->valuedouble : -1.0;
    cJSON_Delete(root);
    return out;
}

static int run(spark_pipeline *p, const char *request, collected *c, char **result,
               spark_error **error)
{
    spark_job_options options = {.on_chunk = c ? collect : NULL, .chunk_user = c};
    return spark_job_run(p, request, &options, result, error);
}

int main(void)
{
    source_dir = getenv("SPARK_SOURCE_DIR");
    test_plugin_dir = getenv("SPARK_TEST_PLUGIN_DIR");
    if (!source_dir || !test_plugin_dir) {
        fprintf(stderr, "SPARK_SOURCE_DIR and SPARK_TEST_PLUGIN_DIR must be set (run by ctest)\n");
        return 1;
    }
    snprintf(out_dir, sizeof out_dir, "/tmp/spark-stream-test-XXXXXX");
    if (!mkdtemp(out_dir)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("SPARK_TEST_OUT", out_dir, 1);

    const char *paths[1] = {test_plugin_dir};
    spark_engine_options engine_options = {.plugin_paths = paths, .plugin_path_count = 1,
                                           .log_level = SPARK_LOG_LEVEL_DEBUG, .log = quiet_log};
    spark_error *error = NULL;
    spark_engine *engine = spark_engine_new(&engine_options, &error);
    CHECK(engine != NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/tests/graph/pipelines/stream_audio.yaml", source_dir);
    spark_pipeline *p = spark_pipeline_load(engine, path, NULL, &error);
    CHECK(p != NULL);
    if (!p || spark_pipeline_activate(p, &error) != 0) {
        fprintf(stderr, "cannot start %s: %s\n", path, error ? error->message : "?");
        return 1;
    }

    /* The same audio written whole (no callback at all: the old way) ... */
    char *result = NULL;
    CHECK_INT_EQ(run(p, "{\"output\":\"whole.wav\"}", NULL, &result, &error), 0);
    CHECK(timing(result, "first_chunk") < 0); /* nothing streamed, nothing timed */
    free(result);
    char whole_path[512];
    snprintf(whole_path, sizeof whole_path, "%s/whole.wav", out_dir);
    size_t whole_size = 0;
    unsigned char *whole = read_all(whole_path, &whole_size);
    CHECK(whole != NULL && whole_size == 44 + 6 * 1600 * 2);

    /* ... and streamed: a header piece and one piece per packet, in order, handed out while
     * the job runs (its file is committed only at the end), making up the committed file. */
    collected c = {.refuse_at = -1};
    snprintf(c.watch_path, sizeof c.watch_path, "%s/streamed.wav", out_dir);
    CHECK_INT_EQ(run(p, "{\"output\":\"streamed.wav\",\"stream\":true,\"delay_ms\":20}", &c,
                     &result, &error), 0);
    CHECK_INT_EQ(c.pieces, 1 + 6);
    CHECK(!c.out_of_order);
    CHECK(!c.file_existed_at_first);
    CHECK_STR_EQ(c.node_id, "store");
    CHECK_STR_EQ(c.url, "streamed.wav");
    CHECK_STR_EQ(c.media_type, "audio/wav");
    double first = timing(result, "first_chunk"), total = timing(result, "total");
    CHECK(first >= 0 && first < total);
    free(result);
    size_t streamed_size = 0;
    unsigned char *streamed = read_all(c.watch_path, &streamed_size);
    CHECK(streamed && streamed_size == c.size && memcmp(streamed, c.bytes, c.size) == 0);
    /* The streaming header leaves both sizes unknown; the samples are the same bytes. */
    CHECK(streamed_size == whole_size);
    if (streamed && whole && streamed_size == whole_size && whole_size > 44) {
        static const unsigned char unknown[4] = {0xFF, 0xFF, 0xFF, 0xFF};
        CHECK(memcmp(streamed + 4, unknown, 4) == 0 && memcmp(streamed + 40, unknown, 4) == 0);
        CHECK(memcmp(streamed + 8, whole + 8, 32) == 0);
        CHECK(memcmp(streamed + 44, whole + 44, whole_size - 44) == 0);
    }
    free(streamed);
    free(c.bytes);

    /* url '-': only the host gets the object; unstreamed, as one piece when the job ends. */
    collected host = {.refuse_at = -1};
    CHECK_INT_EQ(run(p, "{\"output\":\"-\"}", &host, &result, &error), 0);
    CHECK_INT_EQ(host.pieces, 1);
    CHECK_STR_EQ(host.url, "-");
    CHECK(host.size == whole_size && whole && memcmp(host.bytes, whole, whole_size) == 0);
    cJSON *root = cJSON_Parse(result);
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "url")), "-");
    cJSON_Delete(root);
    free(result);
    free(host.bytes);

    /* url '-' for a host that takes no pieces: a clear error, not lost bytes. */
    CHECK_INT_EQ(run(p, "{\"output\":\"-\",\"stream\":true}", NULL, &result, &error), -1);
    CHECK_STR_CONTAINS(error ? error->message : NULL,
                       "url '-' hands the output to the host, but this host takes no streamed");
    CHECK(error && error->node_id && strcmp(error->node_id, "store") == 0);
    spark_error_free(error);
    error = NULL;

    /* A host that refuses piece 2 fails the job; its file is never committed. */
    collected refusing = {.refuse_at = 2};
    CHECK_INT_EQ(run(p, "{\"output\":\"refused.wav\",\"stream\":true}", &refusing, &result,
                     &error), -1);
    CHECK_INT_EQ(refusing.pieces, 2);
    CHECK(error && error->status == -5 /* SPARK_E_IO */);
    CHECK_STR_CONTAINS(error ? error->message : NULL, "the host refused streamed piece 2");
    spark_error_free(error);
    error = NULL;
    free(refusing.bytes);
    char refused_path[512];
    snprintf(refused_path, sizeof refused_path, "%s/refused.wav", out_dir);
    CHECK(access(refused_path, F_OK) != 0);

    spark_pipeline_free(p);
    spark_engine_free(engine);
    free(whole);
    unlink(whole_path);
    unlink(c.watch_path);
    CHECK(rmdir(out_dir) == 0); /* nothing else was left behind */
    return CHECK_DONE();
}
