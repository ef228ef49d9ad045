/* Fuzz target: job requests (JSON) checked against a pipeline's input schema. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

static const char pipeline_text[] =
    "version: 1\n"
    "nodes:\n"
    "  - {id: read, plugin: org.sparkhost.core.fetch}\n"
    "  - {id: store, plugin: org.sparkhost.core.store}\n"
    "inputs:\n"
    "  input: {type: url, required: true, max_length: 200, to: read.url}\n"
    "  output: {type: string, default: out.bin, aliases: [output_name], to: store.url}\n"
    "  level: {type: number, min: -1, max: 1, default: 0}\n"
    "  count: {type: integer, min: 0, max: 100}\n"
    "  flag: {type: boolean, default: false}\n"
    "  mode: {type: enum, values: [fast, best], default: best}\n";

static void drop_log(void *user, int level, const char *line)
{
    (void)user;
    (void)level;
    (void)line;
}

static spark_pipeline *load_pipeline(void)
{
    spark_engine_options options = {.log_level = SPARK_LOG_LEVEL_ERROR, .log = drop_log};
    spark_engine *engine = spark_engine_new(&options, NULL);
    int fd = memfd_create("request.yaml", MFD_CLOEXEC);
    if (!engine || fd < 0 ||
        write(fd, pipeline_text, sizeof pipeline_text - 1) != (ssize_t)(sizeof pipeline_text - 1))
        abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    spark_error *error = NULL;
    spark_pipeline *p = spark_pipeline_load(engine, path, NULL, &error);
    if (!p) {
        fprintf(stderr, "%s\n", error ? error->message : "?");
        abort();
    }
    close(fd);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static spark_pipeline *pipeline;
    if (!pipeline)
        pipeline = load_pipeline();
    char *json = malloc(size + 1);
    if (!json)
        return 0;
    memcpy(json, data, size);
    json[size] = '\0';
    sp_value *values = calloc(pipeline->input_count, sizeof *values);
    spark_error *error = NULL;
    if (values)
        sp_request_validate(pipeline, json, values, &error);
    for (size_t i = 0; values && i < pipeline->input_count; i++)
        sp_value_clear(&values[i]);
    free(values);
    spark_error_free(error);
    free(json);
    return 0;
}
