/* Helpers shared by the Spark model description, config, tokenizer and synth files. */
#ifndef SPARK_NN_SPARK_INTERNAL_H
#define SPARK_NN_SPARK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "nn_error.h"
#include "nn_text.h"

/* The shortest decimal that reads back as x ("2.4", "1e-06", "40"): the same text on every
 * correctly rounding C library. buf holds at least 32 bytes. */
const char *nn_format_number(double x, char *buf);

/* Writes data to path through a temporary file renamed over it. Returns 0, or -1 with
 * *error set. */
int nn_write_file_atomic(const char *path, const void *data, size_t len, char **error);
/* Writes text to dir/name atomically and frees it. A NULL text (building it ran out of
 * memory) is reported as running out of memory. */
int nn_write_text_in(const char *dir, const char *name, char *text, char **error);
/* The same for json (cJSON's formatted output plus a final newline), deleted after. */
int nn_write_json_in(const char *dir, const char *name, cJSON *json, char **error);
/* mkdir -p. Returns 0, or -1 with *error set. */
int nn_make_dirs(const char *path, char **error);

/* Reads a whole file (NUL-terminated). NULL with *error set on failure. */
char *nn_read_file(const char *path, size_t *len, char **error);

/* Parses the first YAML document of a file into a cJSON tree: mappings become objects,
 * sequences arrays, plain scalars numbers, booleans or null where YAML 1.1 reads them so,
 * everything else strings. NULL with *error set on failure. */
cJSON *nn_yaml_load(const char *path, char **error);

/* A string -> value hash map (open addressing). Keys are copied. */
typedef struct nn_strmap {
    char **keys;
    int64_t *values;
    size_t cap, count;
} nn_strmap;

int nn_strmap_put(nn_strmap *map, const char *key, size_t len, int64_t value); /* 0 or -1 */
/* The value, or -1 when absent. */
int64_t nn_strmap_get(const nn_strmap *map, const char *key, size_t len);
void nn_strmap_free(nn_strmap *map);

#endif
