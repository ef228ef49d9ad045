/* What the core/nn tests share: temporary directories and whole-file reads and writes, the
 * reference scripts of tests/reference run with $SPARK_PYTHON, and tensor bytes as hex.
 * Nothing here checks: each helper reports what it found, and the test CHECKs it (check.h
 * counts failures per test file). */
#ifndef SPARK_NN_TEST_SUPPORT_H
#define SPARK_NN_TEST_SUPPORT_H

#include <cjson/cJSON.h>
#include <spark/nn/tensor_file.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* dir/name, malloc'd. */
char *nn_test_join(const char *dir, const char *name);
/* A new directory under $TMPDIR or /tmp (malloc'd path); NULL (said on stderr) when it
 * cannot be made. */
char *nn_test_make_temp_dir(const char *label);
/* Removes a directory and everything under it. */
void nn_test_remove_tree(const char *dir);
/* Entries in a directory, "." and ".." left out; -1 when it cannot be read. */
int nn_test_count_entries(const char *dir);

/* Writes size bytes to path; 0, or -1 (said on stderr). */
int nn_test_write_file(const char *path, const void *data, size_t size);
/* cJSON's formatted json to path; 0 or -1. */
int nn_test_write_json(const char *path, const cJSON *json);
/* A whole file, malloc'd with a NUL after its size bytes; NULL when it cannot be read. */
uint8_t *nn_test_read_file(const char *path, size_t *size);
/* A whole file parsed as JSON; NULL when it cannot be read or parsed. */
cJSON *nn_test_read_json(const char *path);

/* The reference script tests/reference/<name> and the Python that runs it. */
typedef struct nn_reference {
    const char *python;
    char *script;
} nn_reference;

/* From $SPARK_PYTHON and $SPARK_SOURCE_DIR, which ctest sets; false (said on stderr, with
 * what to do) when either is missing. */
bool nn_reference_find(nn_reference *ref, const char *name);
/* Runs the script with a mode and an argument (no shell, so paths need no quoting); its
 * exit status, -1 when it could not run. */
int nn_reference_run(const nn_reference *ref, const char *mode, const char *arg);
/* Runs its "write" mode into dir; false (said on stderr) when that fails, most likely
 * because the venv is incomplete. */
bool nn_reference_write(const nn_reference *ref, const char *dir);
void nn_reference_free(nn_reference *ref);

/* size bytes as lowercase hex, malloc'd. */
char *nn_test_to_hex(const void *data, size_t size);
/* The view's elements in row-major order, gathered by its strides, as hex (malloc'd); NULL
 * when an element lies outside the view's span. */
char *nn_test_gather_hex(const nn_tensor_view *view);

#endif
