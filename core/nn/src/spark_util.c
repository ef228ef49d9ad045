/* Number formatting, atomic file writes, YAML-to-cJSON and a string map for the Spark model
 * files. */
#include "spark_internal.h"

#include "atomic_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

/* ---- numbers --------------------------------------------------------------------------- */

const char *nn_format_number(double x, char *buf)
{
    if (x > -1e15 && x < 1e15 && x == (double)(long long)x) {
        snprintf(buf, 32, "%lld", (long long)x);
        return buf;
    }
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(buf, 32, "%.*g", precision, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    return buf;
}

/* ---- files ----------------------------------------------------------------------------- */

int nn_write_file_atomic(const char *path, const void *data, size_t len, char **error)
{
    atomic_file_step failed;
    /* The mode open(path, O_CREAT, 0644) gives. */
    atomic_file *file = atomic_file_begin(path, atomic_file_creation_mode(0644), &failed);
    if (!file) {
        *error = failed == ATOMIC_FILE_NO_MEMORY
                     ? nn_format("%s: out of memory", path)
                     : nn_format("%s: cannot create: %s", path, strerror(errno));
        return -1;
    }
    if (atomic_file_write(file, data, len) != 0) {
        *error = nn_format("%s: cannot write: %s", atomic_file_temp_path(file), strerror(errno));
        atomic_file_abort(file);
        return -1;
    }
    /* The file is whole once renamed; a directory left unsynced is not reported. */
    failed = atomic_file_commit(file, NULL);
    if (failed == ATOMIC_FILE_OK)
        return 0;
    if (failed == ATOMIC_FILE_RENAME)
        *error = nn_format("%s: cannot rename into place: %s", path, strerror(errno));
    else
        *error = nn_format("%s: cannot write: %s", atomic_file_temp_path(file), strerror(errno));
    atomic_file_abort(file);
    return -1;
}

int nn_write_text_in(const char *dir, const char *name, char *text, char **error)
{
    char *path = nn_format("%s/%s", dir, name);
    int rc = -1;
    if (!text || !path)
        *error = nn_format("%s/%s: out of memory", dir, name);
    else
        rc = nn_write_file_atomic(path, text, strlen(text), error);
    free(path);
    free(text);
    return rc;
}

/* cJSON's formatted output plus a final newline, malloc'd; NULL when out of memory. */
static char *json_text(const cJSON *json)
{
    char *text = cJSON_Print(json);
    if (!text)
        return NULL;
    size_t len = strlen(text);
    /* cJSON_Print's buffer is exactly the text; add the final newline in a copy. */
    char *out = malloc(len + 2);
    if (out) {
        memcpy(out, text, len);
        out[len] = '\n';
        out[len + 1] = '\0';
    }
    cJSON_free(text);
    return out;
}

int nn_write_json_in(const char *dir, const char *name, cJSON *json, char **error)
{
    char *text = json ? json_text(json) : NULL;
    cJSON_Delete(json);
    return nn_write_text_in(dir, name, text, error);
}

int nn_make_dirs(const char *path, char **error)
{
    char *copy = strdup(path);
    if (!copy) {
        *error = nn_format("%s: out of memory", path);
        return -1;
    }
    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
            *error = nn_format("%s: cannot create directory: %s", copy, strerror(errno));
            free(copy);
            return -1;
        }
        struct stat st;
        if (stat(copy, &st) != 0 || !S_ISDIR(st.st_mode)) {
            *error = nn_format("%s: not a directory", copy);
            free(copy);
            return -1;
        }
        *p = saved;
        if (!saved)
            break;
    }
    free(copy);
    return 0;
}

char *nn_read_file(const char *path, size_t *len, char **error)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *error = nn_format("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *data = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size + 65536 + 1 > cap) {
            cap = cap ? 2 * cap : 65536 * 2;
            char *grown = realloc(data, cap);
            if (!grown) {
                free(data);
                fclose(f);
                *error = nn_format("%s: out of memory", path);
                return NULL;
            }
            data = grown;
        }
        size_t n = fread(data + size, 1, 65536, f);
        size += n;
        if (n < 65536)
            break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(data);
        *error = nn_format("%s: cannot read", path);
        return NULL;
    }
    data[size] = '\0';
    if (len)
        *len = size;
    return data;
}

/* ---- YAML ------------------------------------------------------------------------------ */

static cJSON *yaml_scalar(const yaml_event_t *event)
{
    const char *v = (const char *)event->data.scalar.value;
    size_t len = event->data.scalar.length;
    if (event->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return cJSON_CreateString(v);
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *const falses[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp(v, nulls[i]) == 0)
            return cJSON_CreateNull();
    for (size_t i = 0; i < sizeof trues / sizeof trues[0]; i++)
        if (strcmp(v, trues[i]) == 0)
            return cJSON_CreateTrue();
    for (size_t i = 0; i < sizeof falses / sizeof falses[0]; i++)
        if (strcmp(v, falses[i]) == 0)
            return cJSON_CreateFalse();
    if (len && strlen(v) == len) {
        char *end = NULL;
        errno = 0;
        double d = strtod(v, &end);
        /* Numbers only: strtod also takes "inf", "nan" and hex, which YAML reads as text. */
        bool numeric = strspn(v, "+-0123456789.eE") == len;
        if (numeric && end == v + len && errno == 0)
            return cJSON_CreateNumber(d);
    }
    return cJSON_CreateString(v);
}

cJSON *nn_yaml_load(const char *path, char **error)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *error = nn_format("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        *error = nn_format("%s: out of memory", path);
        return NULL;
    }
    yaml_parser_set_input_file(&parser, f);
    enum { MAX_DEPTH = 64 };
    cJSON *stack[MAX_DEPTH];
    char *keys[MAX_DEPTH]; /* the pending key of each open mapping */
    int depth = 0;
    cJSON *root = NULL;
    bool done = false;
    *error = NULL;
    while (!done && !*error) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event)) {
            *error = nn_format("%s:%zu: %s", path, parser.problem_mark.line + 1,
                               parser.problem ? parser.problem : "invalid YAML");
            break;
        }
        cJSON *node = NULL;
        bool opens = false, closes = false;
        const yaml_event_type_t type = event.type;
        switch (type) {
        case YAML_SCALAR_EVENT:
            /* A scalar in key position of a mapping is the next key. */
            if (depth > 0 && cJSON_IsObject(stack[depth - 1]) && !keys[depth - 1]) {
                keys[depth - 1] = strdup((const char *)event.data.scalar.value);
                if (!keys[depth - 1])
                    *error = nn_format("%s: out of memory", path);
                yaml_event_delete(&event);
                continue;
            }
            node = yaml_scalar(&event);
            break;
        case YAML_MAPPING_START_EVENT: node = cJSON_CreateObject(); opens = true; break;
        case YAML_SEQUENCE_START_EVENT: node = cJSON_CreateArray(); opens = true; break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT: closes = true; break;
        case YAML_ALIAS_EVENT:
            *error = nn_format("%s:%zu: YAML aliases are not supported", path,
                               event.start_mark.line + 1);
            break;
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT: done = true; break;
        default: break;
        }
        size_t line = event.start_mark.line + 1;
        yaml_event_delete(&event);
        if (*error)
            break;
        if (closes) {
            if (depth == 0) { /* libyaml balances events; never trust that blindly */
                *error = nn_format("%s:%zu: unbalanced YAML", path, line);
                break;
            }
            depth--;
            free(keys[depth]);
            if (depth == 0)
                done = true;
            continue;
        }
        if (!node) {
            if (!done && (opens || type == YAML_SCALAR_EVENT))
                *error = nn_format("%s: out of memory", path);
            continue;
        }
        if (depth == 0) {
            if (root) {
                cJSON_Delete(node);
                *error = nn_format("%s:%zu: more than one top-level node", path, line);
                break;
            }
            root = node;
        } else {
            cJSON *parent = stack[depth - 1];
            if (cJSON_IsObject(parent)) {
                if (!keys[depth - 1]) { /* a mapping or a list used as a key */
                    cJSON_Delete(node);
                    *error = nn_format("%s:%zu: only plain keys are supported", path, line);
                    break;
                }
                cJSON_AddItemToObject(parent, keys[depth - 1], node);
                free(keys[depth - 1]);
                keys[depth - 1] = NULL;
            } else {
                cJSON_AddItemToArray(parent, node);
            }
        }
        if (opens) {
            if (depth == MAX_DEPTH) {
                *error = nn_format("%s:%zu: nested too deeply", path, line);
                break;
            }
            stack[depth] = node;
            keys[depth] = NULL;
            depth++;
        }
    }
    while (depth > 0)
        free(keys[--depth]);
    yaml_parser_delete(&parser);
    fclose(f);
    if (*error) {
        cJSON_Delete(root);
        return NULL;
    }
    if (!root)
        root = cJSON_CreateNull();
    return root;
}

/* ---- string map ------------------------------------------------------------------------ */

static uint64_t hash_bytes(const char *key, size_t len)
{
    uint64_t hash = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++) {
        hash ^= (unsigned char)key[i];
        hash *= 0x100000001b3u;
    }
    return hash;
}

static bool key_equals(const char *stored, const char *key, size_t len)
{
    return strncmp(stored, key, len) == 0 && stored[len] == '\0';
}

static int strmap_grow(nn_strmap *map)
{
    size_t cap = map->cap ? 2 * map->cap : 1024;
    char **keys = calloc(cap, sizeof *keys);
    int64_t *values = calloc(cap, sizeof *values);
    if (!keys || !values) {
        free(keys);
        free(values);
        return -1;
    }
    for (size_t i = 0; i < map->cap; i++) {
        if (!map->keys[i])
            continue;
        size_t slot = hash_bytes(map->keys[i], strlen(map->keys[i])) & (cap - 1);
        while (keys[slot])
            slot = (slot + 1) & (cap - 1);
        keys[slot] = map->keys[i];
        values[slot] = map->values[i];
    }
    free(map->keys);
    free(map->values);
    map->keys = keys;
    map->values = values;
    map->cap = cap;
    return 0;
}

int nn_strmap_put(nn_strmap *map, const char *key, size_t len, int64_t value)
{
    if ((map->count + 1) * 2 > map->cap && strmap_grow(map) != 0)
        return -1;
    size_t slot = hash_bytes(key, len) & (map->cap - 1);
    while (map->keys[slot]) {
        if (key_equals(map->keys[slot], key, len)) {
            map->values[slot] = value;
            return 0;
        }
        slot = (slot + 1) & (map->cap - 1);
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, key, len);
    copy[len] = '\0';
    map->keys[slot] = copy;
    map->values[slot] = value;
    map->count++;
    return 0;
}

int64_t nn_strmap_get(const nn_strmap *map, const char *key, size_t len)
{
    if (!map->cap)
        return -1;
    size_t slot = hash_bytes(key, len) & (map->cap - 1);
    while (map->keys[slot]) {
        if (key_equals(map->keys[slot], key, len))
            return map->values[slot];
        slot = (slot + 1) & (map->cap - 1);
    }
    return -1;
}

void nn_strmap_free(nn_strmap *map)
{
    for (size_t i = 0; i < map->cap; i++)
        free(map->keys[i]);
    free(map->keys);
    free(map->values);
    memset(map, 0, sizeof *map);
}
