/* The zip writer behind nn_torch_write. Members are written once, in order, straight to
 * the file (their CRC is computed from the caller's buffer first, so no header is patched
 * afterwards); only the small central directory entries are kept in memory. */
#include "zip_write.h"

#include "atomic_file.h"
#include "nn_error.h"
#include "nn_le.h"
#include "zip_crc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum {
    LOCAL_SIGNATURE = 0x04034b50,
    CENTRAL_SIGNATURE = 0x02014b50,
    EOCD_SIGNATURE = 0x06054b50,
    ZIP64_EOCD_SIGNATURE = 0x06064b50,
    ZIP64_LOCATOR_SIGNATURE = 0x07064b50,
    VERSION_PLAIN = 20,
    VERSION_ZIP64 = 45,
    DOS_DATE_1980_01_01 = 0x21,     /* no real timestamp, so equal inputs give equal files */
    FLAG_UTF8 = 0x0800,             /* names are UTF-8 (the archive folder is a file name) */
    PADDING_EXTRA_ID = 0x4246,      /* "FB": torch's alignment padding field */
    ZIP64_EXTRA_ID = 0x0001,
};

typedef struct central_entry {
    char *name;
    uint32_t crc;
    uint64_t size;
    uint64_t local_offset;
} central_entry;

struct zip_writer {
    atomic_file *file;
    char *path;
    uint64_t zip64_threshold;
    uint64_t offset;
    central_entry *entries;
    size_t count, capacity;
};

/* Little-endian field builder over a fixed buffer large enough for any header. */
typedef struct field_buffer {
    uint8_t bytes[128];
    size_t len;
} field_buffer;

/* Appends v as a field of `width` bytes. */
static void put(field_buffer *b, uint64_t v, size_t width)
{
    nn_write_le(b->bytes + b->len, v, width);
    b->len += width;
}

static int write_all(zip_writer *w, const void *data, uint64_t size, char **error)
{
    if (atomic_file_write(w->file, data, size) != 0) {
        *error = nn_format("cannot write %s: %s", w->path, strerror(errno));
        return -1;
    }
    w->offset += size;
    return 0;
}

static void free_writer(zip_writer *w)
{
    for (size_t i = 0; i < w->count; i++)
        free(w->entries[i].name);
    free(w->entries);
    free(w->path);
    free(w);
}

zip_writer *zip_writer_create(const char *path, uint64_t zip64_threshold, char **error)
{
    zip_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        *error = nn_format("cannot write %s: out of memory", path);
        return NULL;
    }
    w->zip64_threshold = zip64_threshold;
    /* As readable as a model file made by a plain create under the usual umask. */
    atomic_file_step failed;
    w->file = atomic_file_begin(path, 0644, &failed);
    if (!w->file) {
        if (failed == ATOMIC_FILE_CREATE)
            *error = nn_format("cannot write %s: cannot create a temporary file: %s", path,
                               strerror(errno));
        else if (failed == ATOMIC_FILE_MODE)
            *error = nn_format("cannot write %s: cannot set the file mode: %s", path,
                               strerror(errno));
        else
            *error = nn_format("cannot write %s: out of memory", path);
        free_writer(w);
        return NULL;
    }
    return w;
}

int zip_writer_add(zip_writer *w, const char *name, const void *data, uint64_t size,
                   uint32_t *crc_out, char **error)
{
    size_t name_len = strlen(name);
    if (name_len > 0xffff) {
        *error = nn_format("cannot write %s: member name too long", w->path);
        return -1;
    }
    if (w->count == w->capacity) {
        size_t next = w->capacity ? 2 * w->capacity : 16;
        central_entry *grown = realloc(w->entries, next * sizeof *grown);
        if (!grown) {
            *error = nn_format("cannot write %s: out of memory", w->path);
            return -1;
        }
        w->entries = grown;
        w->capacity = next;
    }
    central_entry *e = &w->entries[w->count];
    e->name = strdup(name);
    if (!e->name) {
        *error = nn_format("cannot write %s: out of memory", w->path);
        return -1;
    }
    w->count++;
    e->crc = zip_crc32(data, size);
    e->size = size;
    e->local_offset = w->offset;
    if (crc_out)
        *crc_out = e->crc;

    bool wide = size >= w->zip64_threshold;
    field_buffer h = {.len = 0};
    put(&h, LOCAL_SIGNATURE, 4);
    put(&h, wide ? VERSION_ZIP64 : VERSION_PLAIN, 2);
    put(&h, FLAG_UTF8, 2);
    put(&h, 0, 2);                                  /* stored */
    put(&h, 0, 2);                                  /* time */
    put(&h, DOS_DATE_1980_01_01, 2);
    put(&h, e->crc, 4);
    put(&h, wide ? UINT32_MAX : (uint32_t)size, 4); /* compressed */
    put(&h, wide ? UINT32_MAX : (uint32_t)size, 4); /* uncompressed */
    put(&h, (uint32_t)name_len, 2);
    size_t zip64_len = wide ? 4 + 16 : 0;
    uint64_t data_start = w->offset + h.len + 2 + name_len + zip64_len + 4;
    size_t padding = (size_t)((ZIP_WRITE_ALIGNMENT - data_start % ZIP_WRITE_ALIGNMENT) %
                              ZIP_WRITE_ALIGNMENT);
    put(&h, (uint32_t)(zip64_len + 4 + padding), 2); /* extra field length */
    if (write_all(w, h.bytes, h.len, error) != 0 || write_all(w, name, name_len, error) != 0)
        return -1;

    field_buffer x = {.len = 0};
    if (wide) {
        put(&x, ZIP64_EXTRA_ID, 2);
        put(&x, 16, 2);
        put(&x, size, 8);
        put(&x, size, 8);
    }
    put(&x, PADDING_EXTRA_ID, 2);
    put(&x, (uint32_t)padding, 2);
    memset(x.bytes + x.len, 'Z', padding);
    x.len += padding;
    if (write_all(w, x.bytes, x.len, error) != 0)
        return -1;
    return write_all(w, data, size, error);
}

static int write_central_directory(zip_writer *w, char **error)
{
    uint64_t start = w->offset;
    for (size_t i = 0; i < w->count; i++) {
        const central_entry *e = &w->entries[i];
        bool wide_size = e->size >= w->zip64_threshold;
        bool wide_offset = e->local_offset >= w->zip64_threshold;
        size_t name_len = strlen(e->name);
        size_t extra_len = (wide_size || wide_offset) ? 4 + 8 * (2 * wide_size + wide_offset)
                                                     : 0;
        field_buffer h = {.len = 0};
        put(&h, CENTRAL_SIGNATURE, 4);
        put(&h, VERSION_ZIP64, 2);                  /* made by */
        put(&h, extra_len ? VERSION_ZIP64 : VERSION_PLAIN, 2);
        put(&h, FLAG_UTF8, 2);
        put(&h, 0, 2);
        put(&h, 0, 2);
        put(&h, DOS_DATE_1980_01_01, 2);
        put(&h, e->crc, 4);
        put(&h, wide_size ? UINT32_MAX : (uint32_t)e->size, 4);
        put(&h, wide_size ? UINT32_MAX : (uint32_t)e->size, 4);
        put(&h, (uint32_t)name_len, 2);
        put(&h, (uint32_t)extra_len, 2);
        put(&h, 0, 2);                              /* comment */
        put(&h, 0, 2);                              /* disk */
        put(&h, 0, 2);                              /* internal attributes */
        put(&h, 0, 4);                              /* external attributes */
        put(&h, wide_offset ? UINT32_MAX : (uint32_t)e->local_offset, 4);
        if (write_all(w, h.bytes, h.len, error) != 0 ||
            write_all(w, e->name, name_len, error) != 0)
            return -1;
        if (extra_len) {
            field_buffer x = {.len = 0};
            put(&x, ZIP64_EXTRA_ID, 2);
            put(&x, (uint32_t)(extra_len - 4), 2);
            if (wide_size) {
                put(&x, e->size, 8);
                put(&x, e->size, 8);
            }
            if (wide_offset)
                put(&x, e->local_offset, 8);
            if (write_all(w, x.bytes, x.len, error) != 0)
                return -1;
        }
    }
    uint64_t size = w->offset - start;
    /* Like torch, always end with the zip64 records; the classic record then saturates only
     * the fields that do not fit it. */
    bool wide_count = w->count >= 0xffff || w->count >= w->zip64_threshold;
    bool wide_size = size >= w->zip64_threshold, wide_start = start >= w->zip64_threshold;
    uint64_t record = w->offset;
    field_buffer z = {.len = 0};
    put(&z, ZIP64_EOCD_SIGNATURE, 4);
    put(&z, 44, 8);                                 /* size of the rest of the record */
    put(&z, VERSION_ZIP64, 2);
    put(&z, VERSION_ZIP64, 2);
    put(&z, 0, 4);
    put(&z, 0, 4);
    put(&z, w->count, 8);
    put(&z, w->count, 8);
    put(&z, size, 8);
    put(&z, start, 8);
    put(&z, ZIP64_LOCATOR_SIGNATURE, 4);
    put(&z, 0, 4);
    put(&z, record, 8);
    put(&z, 1, 4);                                  /* disks */
    if (write_all(w, z.bytes, z.len, error) != 0)
        return -1;
    field_buffer e = {.len = 0};
    put(&e, EOCD_SIGNATURE, 4);
    put(&e, 0, 2);
    put(&e, 0, 2);
    put(&e, wide_count ? 0xffff : (uint32_t)w->count, 2);
    put(&e, wide_count ? 0xffff : (uint32_t)w->count, 2);
    put(&e, wide_size ? UINT32_MAX : (uint32_t)size, 4);
    put(&e, wide_start ? UINT32_MAX : (uint32_t)start, 4);
    put(&e, 0, 2);                                  /* comment */
    return write_all(w, e.bytes, e.len, error);
}

int zip_writer_commit(zip_writer *w, char **error)
{
    if (write_central_directory(w, error) != 0) {
        zip_writer_abort(w);
        return -1;
    }
    /* The archive is whole once renamed; a directory left unsynced is not reported. */
    atomic_file_step failed = atomic_file_commit(w->file, NULL);
    if (failed != ATOMIC_FILE_OK) {
        const char *step = failed == ATOMIC_FILE_SYNC    ? "fsync"
                           : failed == ATOMIC_FILE_CLOSE ? "close"
                                                         : "rename";
        *error = nn_format("cannot write %s: %s failed: %s", w->path, step, strerror(errno));
        zip_writer_abort(w);
        return -1;
    }
    free_writer(w);
    return 0;
}

void zip_writer_abort(zip_writer *w)
{
    if (!w)
        return;
    atomic_file_abort(w->file);
    free_writer(w);
}
