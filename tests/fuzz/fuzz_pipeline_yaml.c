/* Fuzz target: pipeline files (YAML) through the parser and the graph checks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <spark/engine.h>

static void drop_log(void *user, int level, const char *line)
{
    (void)user;
    (void)level;
    (void)line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static spark_engine *engine;
    if (!engine) {
        spark_engine_options options = {.log_level = SPARK_LOG_LEVEL_ERROR, .log = drop_log};
        engine = spark_engine_new(&options, NULL);
        if (!engine)
            abort();
    }
    int fd = memfd_create("pipeline.yaml", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    spark_error *error = NULL;
    spark_pipeline *p = spark_pipeline_load(engine, path, NULL, &error);
    spark_pipeline_free(p);
    spark_error_free(error);
    close(fd);
    return 0;
}
