/* spark_ids.c - the ids of the Spark-TTS output grammar, found by name in the tokenizer's
 * added_tokens.json (spec 3.3), so synthetic vocabularies of other sizes work too. */
#define _POSIX_C_SOURCE 200809L
#include "spark/nn/qwen2.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct family {
    const char *prefix; /* "<|bicodec_semantic_" */
    int32_t *first, *count;
    int64_t offset;     /* id - index, the same for every member */
    int32_t max_index, seen;
    bool bad;
} family;

static char *read_all(const char *path, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open", path);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            cap = (len + 65536 + 1) * 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, err_size, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 65536, f);
        len += got;
        if (got < 65536)
            break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        snprintf(err, err_size, "%s: read error", path);
        return NULL;
    }
    buf[len] = 0;
    return buf;
}

/* "<|prefix_123|>" -> 123, or -1 */
static int32_t family_index(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0)
        return -1;
    const char *p = name + n;
    int64_t v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9' && v < 1000000)
        v = v * 10 + (*p++ - '0');
    return strcmp(p, "|>") == 0 ? (int32_t)v : -1;
}

int nn_spark_ids_load(const char *path, nn_spark_ids *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    char *text = read_all(path, err, err_size);
    if (!text)
        return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, err_size, "%s: not a JSON object of token -> id", path);
        return -1;
    }
    family fams[] = {
        {"<|bicodec_semantic_", &out->semantic_first, &out->semantic_count, 0, -1, 0, false},
        {"<|bicodec_global_", &out->global_first, &out->global_count, 0, -1, 0, false},
        {"<|pitch_value_", &out->pitch_value_first, &out->pitch_value_count, 0, -1, 0, false},
        {"<|speed_value_", &out->speed_value_first, &out->speed_value_count, 0, -1, 0, false},
    };
    const size_t n_fams = sizeof fams / sizeof fams[0];
    struct {
        const char *name;
        int32_t *dst;
    } singles[] = {
        {"<|start_acoustic_token|>", &out->start_acoustic},
        {"<|end_acoustic_token|>", &out->end_acoustic},
        {"<|start_global_token|>", &out->start_global},
        {"<|end_global_token|>", &out->end_global},
        {"<|start_semantic_token|>", &out->start_semantic},
        {"<|end_semantic_token|>", &out->end_semantic},
        {"<|task_controllable_tts|>", &out->task_controllable},
        {"<|im_end|>", &out->im_end},
        {"<|endoftext|>", &out->endoftext},
    };
    const size_t n_singles = sizeof singles / sizeof singles[0];
    for (size_t i = 0; i < n_singles; i++)
        *singles[i].dst = -1;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (!cJSON_IsNumber(item) || !item->string)
            continue;
        int32_t id = (int32_t)item->valuedouble;
        for (size_t i = 0; i < n_singles; i++)
            if (strcmp(item->string, singles[i].name) == 0)
                *singles[i].dst = id;
        for (size_t f = 0; f < n_fams; f++) {
            int32_t index = family_index(item->string, fams[f].prefix);
            if (index < 0)
                continue;
            int64_t offset = (int64_t)id - index;
            if (fams[f].seen && offset != fams[f].offset)
                fams[f].bad = true;
            fams[f].offset = offset;
            fams[f].seen++;
            if (index > fams[f].max_index)
                fams[f].max_index = index;
        }
    }
    cJSON_Delete(root);
    for (size_t i = 0; i < n_singles; i++)
        if (*singles[i].dst < 0) {
            snprintf(err, err_size, "%s: token %s is missing", path, singles[i].name);
            return -1;
        }
    for (size_t f = 0; f < n_fams; f++) {
        if (!fams[f].seen || fams[f].bad || fams[f].seen != fams[f].max_index + 1) {
            snprintf(err, err_size, "%s: the %sN|> tokens are missing or not consecutive ids",
                     path, fams[f].prefix);
            return -1;
        }
        *fams[f].first = (int32_t)fams[f].offset;
        *fams[f].count = fams[f].seen;
    }
    return 0;
}
