/* See nn_test_support.h. */
#include "nn_test_support.h"

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char *nn_test_join(const char *dir, const char *name)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        abort();
    return path;
}

char *nn_test_make_temp_dir(const char *label)
{
    const char *base = getenv("TMPDIR");
    char *dir = NULL;
    if (asprintf(&dir, "%s/%s.XXXXXX", base && *base ? base : "/tmp", label) < 0)
        abort();
    if (!mkdtemp(dir)) {
        perror(dir);
        free(dir);
        return NULL;
    }
    return dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void nn_test_remove_tree(const char *dir)
{
    if (dir)
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int nn_test_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

int nn_test_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t written = size ? fwrite(data, 1, size, f) : 0;
    if (fclose(f) != 0 || written != size) {
        fprintf(stderr, "%s: cannot write\n", path);
        return -1;
    }
    return 0;
}

int nn_test_write_json(const char *path, const cJSON *json)
{
    char *text = cJSON_Print(json);
    int rc = text ? nn_test_write_file(path, text, strlen(text)) : -1;
    free(text);
    return rc;
}

uint8_t *nn_test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 1 >= cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *grown = realloc(data, cap);
            if (!grown) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
        }
        size_t n = fread(data + len, 1, cap - len - 1, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    data[len] = '\0';
    *size = len;
    return data;
}

cJSON *nn_test_read_json(const char *path)
{
    size_t size = 0;
    char *text = (char *)nn_test_read_file(path, &size);
    cJSON *json = text ? cJSON_Parse(text) : NULL;
    free(text);
    return json;
}

bool nn_reference_find(nn_reference *ref, const char *name)
{
    ref->python = getenv("SPARK_PYTHON");
    ref->script = NULL;
    const char *source = getenv("SPARK_SOURCE_DIR");
    if (!ref->python || !*ref->python || access(ref->python, X_OK) != 0) {
        fprintf(stderr, "FAIL: the reference Python (SPARK_PYTHON=%s) is missing: run "
                        "tests/reference/setup-venv.sh, then run this test through ctest\n",
                ref->python ? ref->python : "(unset)");
        return false;
    }
    if (!source || !*source) {
        fprintf(stderr, "FAIL: SPARK_SOURCE_DIR is not set: run this test through ctest\n");
        return false;
    }
    if (asprintf(&ref->script, "%s/tests/reference/%s", source, name) < 0)
        abort();
    return true;
}

int nn_reference_run(const nn_reference *ref, const char *mode, const char *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char *argv[] = {(char *)ref->python, ref->script, (char *)mode, (char *)arg, NULL};
        execv(ref->python, argv);
        perror(ref->python);
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

bool nn_reference_write(const nn_reference *ref, const char *dir)
{
    int rc = nn_reference_run(ref, "write", dir);
    if (rc != 0)
        fprintf(stderr, "FAIL: %s write exited with %d (is the venv complete? run "
                        "tests/reference/setup-venv.sh)\n", ref->script, rc);
    return rc == 0;
}

void nn_reference_free(nn_reference *ref)
{
    free(ref->script);
    ref->script = NULL;
}

static void put_hex(char *out, const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
}

char *nn_test_to_hex(const void *data, size_t size)
{
    char *hex = malloc(2 * size + 1);
    if (!hex)
        abort();
    put_hex(hex, data, size);
    hex[2 * size] = '\0';
    return hex;
}

char *nn_test_gather_hex(const nn_tensor_view *v)
{
    size_t item = nn_dtype_size(v->dtype);
    uint64_t n = nn_tensor_elements(v);
    char *hex = malloc(n * item * 2 + 1);
    if (!hex)
        abort();
    int64_t index[NN_MAX_DIMS] = {0};
    for (uint64_t e = 0; e < n; e++) {
        int64_t offset = 0;
        for (uint32_t d = 0; d < v->ndim; d++)
            offset += index[d] * v->strides[d];
        if ((uint64_t)(offset + 1) * item > v->span_bytes) {
            free(hex);
            return NULL;
        }
        put_hex(hex + 2 * e * item, (const uint8_t *)v->data + offset * (int64_t)item, item);
        for (uint32_t d = v->ndim; d-- > 0;) {
            if (++index[d] < v->shape[d])
                break;
            index[d] = 0;
        }
    }
    hex[n * item * 2] = '\0';
    return hex;
}
