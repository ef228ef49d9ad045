/* The safetensors reader: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * (tensor name -> {"dtype", "shape", "data_offsets"}, and an optional "__metadata__" object
 * of strings), then the data buffer the offsets are relative to.
 *
 * Every rule is checked before any tensor is exposed, and the layout rules are those of the
 * reference library (huggingface/safetensors): the tensors tile the data buffer exactly, with
 * no overlap, no hole and nothing after the last tensor. On top of it this reader refuses
 * what the library lets pass silently: duplicate keys (the library keeps the last one),
 * fields other than the three, and names holding NUL (a C string cannot).
 *
 * Alignment: the format does not align tensors. Files written by the safetensors library
 * (0.3 and later) and by nn_safetensors_write pad the header to 8 bytes and put tensors in
 * decreasing element size, so every tensor sits at a multiple of its element size; other
 * writers may not. Such files are accepted as the library accepts them, and `data` then
 * points at an address that is not a multiple of the element size: a consumer that reads
 * elements in place must check ((uintptr_t)data % nn_dtype_size(dtype)) first and copy
 * when it fails. */
#include "tensor_file_internal.h"
#include "nn_error.h"
#include "nn_le.h"
#include "nn_text.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
    /* The reference library refuses larger headers; so do we, before allocating. */
    HEADER_LIMIT = 100000000,
    LENGTH_FIELD = 8,
};

/* Integers in the header are read as doubles by cJSON: beyond 2^53 they are no longer exact. */
#define EXACT_INTEGER_LIMIT 9007199254740992.0

static const char METADATA_KEY[] = "__metadata__";

/* One tensor entry once its fields are checked; name points into the cJSON tree. */
typedef struct entry {
    const char *name;
    nn_dtype dtype;
    uint32_t ndim;
    int64_t shape[NN_MAX_DIMS];
    uint64_t begin, end;
    size_t index; /* in header order */
} entry;

typedef struct parse_state {
    const uint8_t *header; /* inside the mapping, N bytes */
    size_t header_size;
    const uint8_t *data;   /* the data buffer */
    uint64_t data_size;
    cJSON *root;
    entry *entries;
    size_t count;
    const cJSON *metadata; /* the "__metadata__" object, or NULL */
    size_t metadata_count;
    char *error;
} parse_state;

static int fail(parse_state *st, const char *fmt, ...)
{
    if (st->error)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    st->error = nn_vformat_error(fmt, ap);
    va_end(ap);
    return -1;
}

static bool is_json_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* What cJSON does not check: the header is UTF-8, has no raw control characters (JSON allows
 * none, and a NUL would cut a name short), and no \u0000 escape (cJSON would decode it into a
 * name cut short at the NUL). Strings are tracked so an escaped backslash is not mistaken for
 * the start of an escape. */
static int check_header_text(parse_state *st)
{
    const uint8_t *h = st->header;
    size_t n = st->header_size;
    bool in_string = false;
    for (size_t i = 0; i < n;) {
        uint8_t c = h[i];
        if (c < 0x20 && in_string)
            return fail(st, "header has a control character (0x%02x) inside a string at "
                            "byte %zu", c, i);
        if (c < 0x20 && !is_json_space(c))
            return fail(st, "header has a control character (0x%02x) at byte %zu", c, i);
        size_t len = nn_utf8_sequence_length(h + i, n - i);
        if (len == 0)
            return fail(st, "header is not valid UTF-8 (at byte %zu)", i);
        if (c == '"') {
            in_string = !in_string;
        } else if (c == '\\' && in_string) {
            if (i + 6 <= n && memcmp(h + i + 1, "u0000", 5) == 0)
                return fail(st, "header has a \\u0000 escape at byte %zu: names and metadata "
                                "cannot hold NUL", i);
            /* Step over the escaped character (an escaped quote does not end the string);
             * escapes are ASCII, anything else is left to cJSON to refuse. */
            if (i + 1 < n && h[i + 1] < 0x80)
                i++;
        }
        i += len;
    }
    return 0;
}

/* A JSON number that is a whole number in [0, 2^53]. */
static bool json_to_u64(const cJSON *item, uint64_t *out)
{
    if (!cJSON_IsNumber(item))
        return false;
    double v = item->valuedouble;
    if (!isfinite(v) || v < 0 || v > EXACT_INTEGER_LIMIT || v != floor(v))
        return false;
    *out = (uint64_t)v;
    return true;
}

static int parse_dtype(parse_state *st, entry *e, const cJSON *item)
{
    if (!cJSON_IsString(item))
        return fail(st, "tensor '%s': \"dtype\" is not a string", e->name);
    if (!nn_dtype_from_name(item->valuestring, &e->dtype))
        return fail(st, "tensor '%s': unknown dtype \"%s\"", e->name, item->valuestring);
    return 0;
}

static int parse_shape(parse_state *st, entry *e, const cJSON *item)
{
    if (!cJSON_IsArray(item))
        return fail(st, "tensor '%s': \"shape\" is not an array", e->name);
    int ndim = cJSON_GetArraySize(item);
    if (ndim > NN_MAX_DIMS)
        return fail(st, "tensor '%s': shape has %d dimensions, more than the %d supported",
                    e->name, ndim, NN_MAX_DIMS);
    e->ndim = (uint32_t)ndim;
    int i = 0;
    for (const cJSON *dim = item->child; dim; dim = dim->next, i++) {
        uint64_t v;
        if (!json_to_u64(dim, &v))
            return fail(st, "tensor '%s': shape[%d] is not a non-negative integer (at most "
                            "2^53)", e->name, i);
        e->shape[i] = (int64_t)v;
    }
    return 0;
}

static int parse_offsets(parse_state *st, entry *e, const cJSON *item)
{
    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != 2)
        return fail(st, "tensor '%s': \"data_offsets\" is not an array of two integers",
                    e->name);
    if (!json_to_u64(item->child, &e->begin))
        return fail(st, "tensor '%s': data_offsets[0] is not a non-negative integer (at most "
                        "2^53)", e->name);
    if (!json_to_u64(item->child->next, &e->end))
        return fail(st, "tensor '%s': data_offsets[1] is not a non-negative integer (at most "
                        "2^53)", e->name);
    return 0;
}

/* Checks one tensor entry on its own: fields, dtype, shape, and that its offsets hold exactly
 * its bytes inside the data buffer. */
static int parse_entry(parse_state *st, entry *e, const cJSON *obj)
{
    if (!cJSON_IsObject(obj))
        return fail(st, "tensor '%s': entry is not an object", e->name);
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *field = obj->child; field; field = field->next) {
        const cJSON **slot = strcmp(field->string, "dtype") == 0          ? &dtype
                             : strcmp(field->string, "shape") == 0        ? &shape
                             : strcmp(field->string, "data_offsets") == 0 ? &offsets
                                                                          : NULL;
        if (!slot)
            return fail(st, "tensor '%s': unknown field \"%s\"", e->name, field->string);
        if (*slot)
            return fail(st, "tensor '%s': field \"%s\" appears twice", e->name, field->string);
        *slot = field;
    }
    if (!dtype)
        return fail(st, "tensor '%s': missing \"dtype\"", e->name);
    if (!shape)
        return fail(st, "tensor '%s': missing \"shape\"", e->name);
    if (!offsets)
        return fail(st, "tensor '%s': missing \"data_offsets\"", e->name);
    if (parse_dtype(st, e, dtype) || parse_shape(st, e, shape) || parse_offsets(st, e, offsets))
        return -1;

    char shape_text[NN_MAX_DIMS * 24 + 4];
    nn_format_dims(shape_text, sizeof shape_text, 0, e->shape, e->ndim);
    /* extent is what the strides reach: the product with zero dimensions taken as 1, so a
     * shape like [0, 2^40, 2^40] cannot overflow them either. */
    uint64_t extent = 1, bytes;
    bool empty = false;
    for (uint32_t i = 0; i < e->ndim; i++) {
        uint64_t dim = (uint64_t)e->shape[i];
        empty |= dim == 0;
        if (__builtin_mul_overflow(extent, dim ? dim : 1, &extent) || extent > INT64_MAX)
            return fail(st, "tensor '%s': shape %s has more elements than 64 bits can count",
                        e->name, shape_text);
    }
    uint64_t elements = empty ? 0 : extent;
    if (__builtin_mul_overflow(elements, (uint64_t)nn_dtype_size(e->dtype), &bytes))
        return fail(st, "tensor '%s': shape %s of %s is more bytes than 64 bits can count",
                    e->name, shape_text, nn_dtype_name(e->dtype));
    if (e->begin > e->end)
        return fail(st, "tensor '%s': data_offsets [%llu, %llu] begin after they end", e->name,
                    (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > st->data_size)
        return fail(st, "tensor '%s': data_offsets [%llu, %llu] run past the end of the data "
                        "(%llu bytes)", e->name, (unsigned long long)e->begin,
                    (unsigned long long)e->end, (unsigned long long)st->data_size);
    if (e->end - e->begin != bytes)
        return fail(st, "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but shape %s "
                        "of %s needs %llu", e->name, (unsigned long long)e->begin,
                    (unsigned long long)e->end, (unsigned long long)(e->end - e->begin),
                    shape_text, nn_dtype_name(e->dtype), (unsigned long long)bytes);
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first name that occurs twice in names (sorted in place), or NULL. */
static const char *find_duplicate(const char **names, size_t count)
{
    qsort(names, count, sizeof *names, compare_names);
    for (size_t i = 1; i < count; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return names[i];
    return NULL;
}

static int check_metadata(parse_state *st, const cJSON *meta)
{
    if (cJSON_IsNull(meta))
        return 0; /* the library writes nothing for no metadata, and reads null as none */
    if (!cJSON_IsObject(meta))
        return fail(st, "\"__metadata__\" is not an object");
    size_t count = 0;
    for (const cJSON *item = meta->child; item; item = item->next, count++)
        if (!cJSON_IsString(item))
            return fail(st, "metadata '%s': value is not a string", item->string);
    const char **keys = malloc((count ? count : 1) * sizeof *keys);
    if (!keys)
        return fail(st, "out of memory");
    size_t i = 0;
    for (const cJSON *item = meta->child; item; item = item->next)
        keys[i++] = item->string;
    const char *dup = find_duplicate(keys, count);
    int rc = dup ? fail(st, "metadata key '%s' appears twice", dup) : 0;
    free(keys);
    if (rc == 0) {
        st->metadata = meta;
        st->metadata_count = count;
    }
    return rc;
}

static int compare_offsets(const void *a, const void *b)
{
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The tensors, in offset order, must tile the data buffer: each begins where the previous
 * one ends (zero-size tensors included), and the last ends with the file. This is the
 * reference library's rule; it rules out overlap and unowned bytes. */
static int check_layout(parse_state *st)
{
    const entry **order = malloc((st->count ? st->count : 1) * sizeof *order);
    if (!order)
        return fail(st, "out of memory");
    for (size_t i = 0; i < st->count; i++)
        order[i] = &st->entries[i];
    qsort(order, st->count, sizeof *order, compare_offsets);
    uint64_t cursor = 0;
    const entry *prev = NULL;
    int rc = 0;
    for (size_t i = 0; i < st->count && rc == 0; i++) {
        const entry *e = order[i];
        if (e->begin < cursor)
            rc = fail(st, "tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, "
                          "%llu]", e->name, (unsigned long long)e->begin,
                      (unsigned long long)e->end, prev->name, (unsigned long long)prev->begin,
                      (unsigned long long)prev->end);
        else if (e->begin > cursor)
            rc = fail(st, "data bytes [%llu, %llu) before tensor '%s' belong to no tensor (the "
                          "format allows no holes)", (unsigned long long)cursor,
                      (unsigned long long)e->begin, e->name);
        cursor = e->end;
        prev = e;
    }
    if (rc == 0 && cursor != st->data_size)
        rc = fail(st, "data bytes [%llu, %llu) after the last tensor belong to no tensor (the "
                      "format allows no holes)", (unsigned long long)cursor,
                  (unsigned long long)st->data_size);
    free(order);
    return rc;
}

/* Copies names and metadata into one block (the file's reader data) and fills the views. */
static int expose(parse_state *st, nn_tensor_file *file)
{
    size_t strings = 0;
    for (size_t i = 0; i < st->count; i++)
        strings += strlen(st->entries[i].name) + 1;
    size_t meta_slots = 2 * st->metadata_count;
    if (st->metadata)
        for (const cJSON *item = st->metadata->child; item; item = item->next)
            strings += strlen(item->string) + strlen(item->valuestring) + 2;
    char **block = malloc(meta_slots * sizeof(char *) + strings + 1);
    nn_tensor_view *views = calloc(st->count ? st->count : 1, sizeof *views);
    if (!block || !views) {
        free(block);
        free(views);
        return fail(st, "out of memory");
    }
    char *text = (char *)(block + meta_slots);
    size_t slot = 0;
    if (st->metadata)
        for (const cJSON *item = st->metadata->child; item; item = item->next) {
            block[slot++] = strcpy(text, item->string);
            text += strlen(text) + 1;
            block[slot++] = strcpy(text, item->valuestring);
            text += strlen(text) + 1;
        }
    for (size_t i = 0; i < st->count; i++) {
        const entry *e = &st->entries[i];
        nn_tensor_view *v = &views[i];
        v->name = strcpy(text, e->name);
        text += strlen(text) + 1;
        v->dtype = e->dtype;
        v->ndim = e->ndim;
        int64_t stride = 1;
        for (uint32_t d = e->ndim; d-- > 0;) {
            v->shape[d] = e->shape[d];
            v->strides[d] = stride;
            stride *= e->shape[d] ? e->shape[d] : 1;
        }
        v->data = st->data + e->begin;
        v->span_bytes = e->end - e->begin;
        v->contiguous = true;
    }
    file->tensors = views;
    file->count = st->count;
    file->metadata = st->metadata_count ? block : NULL;
    file->metadata_count = st->metadata_count;
    file->reader_data = block;
    file->free_reader_data = free;
    return 0;
}

static int parse_header(parse_state *st, nn_tensor_file *file)
{
    if (file->map_size < LENGTH_FIELD)
        return fail(st, "file is %zu bytes, too short for the 8-byte header length",
                    file->map_size);
    uint64_t n = nn_read_le64(file->map);
    if (n > HEADER_LIMIT)
        return fail(st, "header length %llu is more than the %d-byte limit",
                    (unsigned long long)n, HEADER_LIMIT);
    if (n > file->map_size - LENGTH_FIELD)
        return fail(st, "header length %llu runs past the end of the file (%zu bytes follow "
                        "the length)", (unsigned long long)n, file->map_size - LENGTH_FIELD);
    st->header = file->map + LENGTH_FIELD;
    st->header_size = (size_t)n;
    st->data = st->header + n;
    st->data_size = file->map_size - LENGTH_FIELD - n;
    if (n == 0 || st->header[0] != '{')
        return fail(st, "header does not begin with '{'");
    if (check_header_text(st))
        return -1;

    /* cJSON gets a NUL-terminated copy, so it cannot read past the header whatever it does. */
    char *text = malloc(n + 1);
    if (!text)
        return fail(st, "out of memory");
    memcpy(text, st->header, n);
    text[n] = '\0';
    const char *end = NULL;
    st->root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    size_t stop = end ? (size_t)(end - text) : 0;
    free(text);
    if (!st->root)
        return fail(st, "header is not valid JSON (at byte %zu)", stop);
    while (stop < n && is_json_space(st->header[stop]))
        stop++;
    if (stop != n)
        return fail(st, "header has text after the JSON object (at byte %zu)", stop);
    if (!cJSON_IsObject(st->root))
        return fail(st, "header is not a JSON object");

    size_t keys = 0;
    for (const cJSON *item = st->root->child; item; item = item->next)
        keys++;
    st->entries = calloc(keys ? keys : 1, sizeof *st->entries);
    if (!st->entries)
        return fail(st, "out of memory");
    const cJSON *metadata = NULL;
    for (const cJSON *item = st->root->child; item; item = item->next) {
        if (strcmp(item->string, METADATA_KEY) == 0) {
            if (metadata)
                return fail(st, "key \"__metadata__\" appears twice");
            metadata = item;
            continue;
        }
        entry *e = &st->entries[st->count];
        e->name = item->string;
        e->index = st->count++;
        if (parse_entry(st, e, item))
            return -1;
    }
    if (metadata && check_metadata(st, metadata))
        return -1;

    const char **names = malloc((st->count ? st->count : 1) * sizeof *names);
    if (!names)
        return fail(st, "out of memory");
    for (size_t i = 0; i < st->count; i++)
        names[i] = st->entries[i].name;
    const char *dup = find_duplicate(names, st->count);
    int rc = dup ? fail(st, "tensor '%s' appears twice", dup) : 0;
    free(names);
    if (rc || check_layout(st))
        return -1;
    return expose(st, file);
}

int nn_safetensors_parse(nn_tensor_file *file, char **error)
{
    parse_state st = {0};
    int rc = parse_header(&st, file);
    cJSON_Delete(st.root);
    free(st.entries);
    *error = st.error;
    return rc ? -1 : 0;
}
