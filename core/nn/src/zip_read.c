/* Zip archives read in place from a mapping. The central directory is the only index
 * trusted for sizes (local headers may omit them when a data descriptor follows), and
 * every offset taken from the file is checked against the mapping before it is used. */
#define ZLIB_CONST
#include "zip_read.h"

#include "nn_error.h"
#include "nn_le.h"
#include "zip_crc.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum {
    EOCD_SIGNATURE = 0x06054b50,
    EOCD_SIZE = 22,
    EOCD_MAX_COMMENT = 0xffff,
    ZIP64_LOCATOR_SIGNATURE = 0x07064b50,
    ZIP64_LOCATOR_SIZE = 20,
    ZIP64_EOCD_SIGNATURE = 0x06064b50,
    ZIP64_EOCD_SIZE = 56,
    CENTRAL_SIGNATURE = 0x02014b50,
    CENTRAL_SIZE = 46,
    LOCAL_SIGNATURE = 0x04034b50,
    LOCAL_SIZE = 30,
    ZIP64_EXTRA_ID = 0x0001,
    FLAG_ENCRYPTED = 0x0001,
};

/* Deflate cannot expand data more than about 1032:1; a header claiming more is lying, and
 * allocating what it claims would let a small file ask for any amount of memory. */
#define DEFLATE_MAX_RATIO 1032u

/* True when [offset, offset + length) lies within [0, limit). */
static bool span_within(uint64_t offset, uint64_t length, uint64_t limit)
{
    return offset <= limit && length <= limit - offset;
}

/* The end of central directory record: the last signature whose comment reaches exactly
 * to the end of the file (a signature inside the comment would not). */
static bool find_eocd(const uint8_t *map, size_t size, size_t *out)
{
    if (size < EOCD_SIZE)
        return false;
    size_t last = size - EOCD_SIZE;
    size_t first = last > EOCD_MAX_COMMENT ? last - EOCD_MAX_COMMENT : 0;
    for (size_t pos = last + 1; pos-- > first;) {
        if (nn_read_le32(map + pos) == EOCD_SIGNATURE &&
            pos + EOCD_SIZE + nn_read_le16(map + pos + 20) == size) {
            *out = pos;
            return true;
        }
    }
    return false;
}

typedef struct directory_location {
    uint64_t entries;
    uint64_t offset;
    uint64_t size;
    uint64_t limit; /* where the records that follow the directory begin */
} directory_location;

static int locate_directory(const uint8_t *map, size_t size, directory_location *dir,
                            char **error)
{
    size_t eocd;
    if (!find_eocd(map, size, &eocd)) {
        *error = nn_format("not a zip archive: no end of central directory record "
                           "(the file may be truncated)");
        return -1;
    }
    const uint8_t *p = map + eocd;
    uint32_t disk = nn_read_le16(p + 4), directory_disk = nn_read_le16(p + 6);
    uint64_t entries_here = nn_read_le16(p + 8);
    dir->entries = nn_read_le16(p + 10);
    dir->size = nn_read_le32(p + 12);
    dir->offset = nn_read_le32(p + 16);
    dir->limit = eocd;

    if (eocd >= ZIP64_LOCATOR_SIZE &&
        nn_read_le32(map + eocd - ZIP64_LOCATOR_SIZE) == ZIP64_LOCATOR_SIGNATURE) {
        const uint8_t *locator = map + eocd - ZIP64_LOCATOR_SIZE;
        uint64_t record = nn_read_le64(locator + 8);
        uint32_t disks = nn_read_le32(locator + 16);
        uint64_t record_limit = eocd - ZIP64_LOCATOR_SIZE;
        if (nn_read_le32(locator + 4) != 0 || disks > 1) {
            *error = nn_format("multi-disk zip archives are not supported");
            return -1;
        }
        if (!span_within(record, ZIP64_EOCD_SIZE, record_limit) ||
            nn_read_le32(map + record) != ZIP64_EOCD_SIGNATURE) {
            *error = nn_format("the zip64 end of central directory locator points to "
                               "offset %llu, where there is no zip64 record",
                               (unsigned long long)record);
            return -1;
        }
        const uint8_t *z = map + record;
        uint64_t record_size = nn_read_le64(z + 4);
        if (record_size < ZIP64_EOCD_SIZE - 12 ||
            !span_within(record + 12, record_size, record_limit)) {
            *error = nn_format("the zip64 end of central directory record is malformed");
            return -1;
        }
        disk = nn_read_le32(z + 16);
        directory_disk = nn_read_le32(z + 20);
        entries_here = nn_read_le64(z + 24);
        dir->entries = nn_read_le64(z + 32);
        dir->size = nn_read_le64(z + 40);
        dir->offset = nn_read_le64(z + 48);
        dir->limit = record;
    }
    if (disk != 0 || directory_disk != 0 || entries_here != dir->entries) {
        *error = nn_format("multi-disk zip archives are not supported");
        return -1;
    }
    if (!span_within(dir->offset, dir->size, dir->limit)) {
        *error = nn_format("the central directory (offset %llu, %llu bytes) lies outside the "
                           "file (%llu bytes before the end records)",
                           (unsigned long long)dir->offset, (unsigned long long)dir->size,
                           (unsigned long long)dir->limit);
        return -1;
    }
    if (dir->entries > dir->size / CENTRAL_SIZE) {
        *error = nn_format("the central directory claims %llu entries but its %llu bytes "
                           "hold at most %llu", (unsigned long long)dir->entries,
                           (unsigned long long)dir->size,
                           (unsigned long long)(dir->size / CENTRAL_SIZE));
        return -1;
    }
    return 0;
}

/* Replaces the 32-bit fields saturated at 0xffffffff by their zip64 extra values, which
 * appear in this fixed order, each only when its short field is saturated. */
static int apply_zip64_extra(zip_member *m, uint32_t *disk, const uint8_t *extra,
                             size_t extra_len, char **error)
{
    size_t pos = 0;
    while (pos < extra_len) {
        if (extra_len - pos < 4) {
            *error = nn_format("member %s: malformed extra field", m->name);
            return -1;
        }
        uint16_t id = nn_read_le16(extra + pos), len = nn_read_le16(extra + pos + 2);
        pos += 4;
        if (len > extra_len - pos) {
            *error = nn_format("member %s: malformed extra field", m->name);
            return -1;
        }
        if (id == ZIP64_EXTRA_ID) {
            const uint8_t *f = extra + pos;
            size_t left = len;
            uint64_t *wide[] = {&m->uncompressed_size, &m->compressed_size,
                                &m->local_header_offset};
            for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) {
                if (*wide[i] != UINT32_MAX)
                    continue;
                if (left < 8) {
                    *error = nn_format("member %s: zip64 extra field too short", m->name);
                    return -1;
                }
                *wide[i] = nn_read_le64(f);
                f += 8;
                left -= 8;
            }
            if (*disk == UINT16_MAX) {
                if (left < 4) {
                    *error = nn_format("member %s: zip64 extra field too short", m->name);
                    return -1;
                }
                *disk = nn_read_le32(f);
            }
        }
        pos += len;
    }
    return 0;
}

static int compare_members(const void *a, const void *b)
{
    const zip_member *x = *(const zip_member *const *)a, *y = *(const zip_member *const *)b;
    return strcmp(x->name, y->name);
}

static int read_directory(zip_archive *zip, const directory_location *dir, char **error)
{
    const uint8_t *base = zip->map + dir->offset;
    size_t dir_size = (size_t)dir->size, count = (size_t)dir->entries;
    zip->members = calloc(count ? count : 1, sizeof *zip->members);
    zip->by_name = calloc(count ? count : 1, sizeof *zip->by_name);
    /* Names come out of the directory, so they fit in its size plus one NUL each. */
    zip->names = malloc(dir_size + count + 1);
    if (!zip->members || !zip->by_name || !zip->names) {
        *error = nn_format("out of memory reading the central directory");
        return -1;
    }
    size_t pos = 0, names_used = 0;
    for (size_t i = 0; i < count; i++) {
        zip_member *m = &zip->members[i];
        if (dir_size - pos < CENTRAL_SIZE || nn_read_le32(base + pos) != CENTRAL_SIGNATURE) {
            *error = nn_format("central directory entry %zu is malformed or missing", i);
            return -1;
        }
        const uint8_t *p = base + pos;
        size_t name_len = nn_read_le16(p + 28), extra_len = nn_read_le16(p + 30),
               comment_len = nn_read_le16(p + 32);
        if (dir_size - pos - CENTRAL_SIZE < name_len + extra_len + comment_len) {
            *error = nn_format("central directory entry %zu runs past the directory", i);
            return -1;
        }
        const uint8_t *name = p + CENTRAL_SIZE;
        if (memchr(name, 0, name_len)) {
            *error = nn_format("central directory entry %zu: the member name contains a NUL "
                               "byte", i);
            return -1;
        }
        char *copy = zip->names + names_used;
        memcpy(copy, name, name_len);
        copy[name_len] = '\0';
        names_used += name_len + 1;
        m->name = copy;
        m->name_len = name_len;
        m->flags = nn_read_le16(p + 8);
        m->method = nn_read_le16(p + 10);
        m->crc32 = nn_read_le32(p + 16);
        m->compressed_size = nn_read_le32(p + 20);
        m->uncompressed_size = nn_read_le32(p + 24);
        m->local_header_offset = nn_read_le32(p + 42);
        uint32_t disk = nn_read_le16(p + 34);
        if (apply_zip64_extra(m, &disk, name + name_len, extra_len, error) != 0)
            return -1;
        if (disk != 0) {
            *error = nn_format("member %s: multi-disk zip archives are not supported", m->name);
            return -1;
        }
        zip->by_name[i] = m;
        pos += CENTRAL_SIZE + name_len + extra_len + comment_len;
    }
    zip->count = count;
    qsort(zip->by_name, count, sizeof *zip->by_name, compare_members);
    for (size_t i = 1; i < count; i++)
        if (strcmp(zip->by_name[i - 1]->name, zip->by_name[i]->name) == 0) {
            *error = nn_format("member %s appears more than once", zip->by_name[i]->name);
            return -1;
        }
    return 0;
}

int zip_open(zip_archive *zip, const uint8_t *map, size_t size, char **error)
{
    memset(zip, 0, sizeof *zip);
    zip->map = map;
    zip->size = size;
    directory_location dir;
    if (locate_directory(map, size, &dir, error) != 0 || read_directory(zip, &dir, error) != 0) {
        zip_close(zip);
        return -1;
    }
    return 0;
}

void zip_close(zip_archive *zip)
{
    free(zip->members);
    free(zip->by_name);
    free(zip->names);
    memset(zip, 0, sizeof *zip);
}

static int compare_key(const void *key, const void *member)
{
    return strcmp(key, (*(const zip_member *const *)member)->name);
}

const zip_member *zip_find(const zip_archive *zip, const char *name)
{
    if (!zip->count)
        return NULL;
    const zip_member *const *found =
        bsearch(name, zip->by_name, zip->count, sizeof *zip->by_name, compare_key);
    return found ? *found : NULL;
}

/* Where a member's data begins, after its local header (whose name and extra field may
 * differ in length from the central directory's). */
static int locate_data(const zip_archive *zip, const zip_member *m, uint64_t *data_offset,
                       char **error)
{
    uint64_t off = m->local_header_offset;
    if (!span_within(off, LOCAL_SIZE, zip->size) ||
        nn_read_le32(zip->map + off) != LOCAL_SIGNATURE) {
        *error = nn_format("member %s: no local header at offset %llu", m->name,
                           (unsigned long long)off);
        return -1;
    }
    const uint8_t *p = zip->map + off;
    size_t name_len = nn_read_le16(p + 26), extra_len = nn_read_le16(p + 28);
    if (!span_within(off + LOCAL_SIZE, name_len + extra_len, zip->size)) {
        *error = nn_format("member %s: local header runs past the end of the file", m->name);
        return -1;
    }
    if (name_len != m->name_len || memcmp(p + LOCAL_SIZE, m->name, name_len) != 0) {
        *error = nn_format("member %s: the local header names a different member", m->name);
        return -1;
    }
    if (nn_read_le16(p + 8) != m->method) {
        *error = nn_format("member %s: local header and central directory disagree on the "
                           "compression method", m->name);
        return -1;
    }
    *data_offset = off + LOCAL_SIZE + name_len + extra_len;
    if (!span_within(*data_offset, m->compressed_size, zip->size)) {
        *error = nn_format("member %s: its data (offset %llu, %llu bytes) lies outside the "
                           "file", m->name, (unsigned long long)*data_offset,
                           (unsigned long long)m->compressed_size);
        return -1;
    }
    return 0;
}

static int inflate_member(const zip_member *m, const uint8_t *in, uint8_t *out, char **error)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
        *error = nn_format("member %s: cannot start inflating", m->name);
        return -1;
    }
    uint64_t in_left = m->compressed_size, out_left = m->uncompressed_size;
    zs.next_in = in;   /* zlib refuses NULL pointers even with nothing to move */
    zs.next_out = out;
    int rc;
    do {
        if (zs.avail_in == 0 && in_left > 0) {
            uInt chunk = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
            zs.next_in = in;
            zs.avail_in = chunk;
            in += chunk;
            in_left -= chunk;
        }
        if (zs.avail_out == 0 && out_left > 0) {
            uInt chunk = out_left > UINT_MAX ? UINT_MAX : (uInt)out_left;
            zs.next_out = out;
            zs.avail_out = chunk;
            out += chunk;
            out_left -= chunk;
        }
        rc = inflate(&zs, Z_NO_FLUSH);
    } while (rc == Z_OK);
    bool complete = rc == Z_STREAM_END && out_left == 0 && zs.avail_out == 0;
    const char *why = zs.msg;
    inflateEnd(&zs);
    if (rc == Z_STREAM_END && !complete) {
        *error = nn_format("member %s: inflates to fewer bytes than the %llu recorded",
                           m->name, (unsigned long long)m->uncompressed_size);
        return -1;
    }
    if (rc == Z_BUF_ERROR) {
        *error = nn_format("member %s: its deflate stream is truncated or inflates to more "
                           "than the %llu bytes recorded",
                           m->name, (unsigned long long)m->uncompressed_size);
        return -1;
    }
    if (!complete) {
        *error = nn_format("member %s: corrupt deflate data (%s)", m->name,
                           why ? why : "zlib error");
        return -1;
    }
    return 0;
}

int zip_read(const zip_archive *zip, const zip_member *m, uint64_t max_inflated,
             const uint8_t **data, uint8_t **owned, char **error)
{
    *data = NULL;
    *owned = NULL;
    if (m->flags & FLAG_ENCRYPTED) {
        *error = nn_format("member %s is encrypted", m->name);
        return -1;
    }
    uint64_t offset;
    if (locate_data(zip, m, &offset, error) != 0)
        return -1;
    const uint8_t *raw = zip->map + offset;
    const uint8_t *bytes;
    uint8_t *buffer = NULL;
    if (m->method == ZIP_METHOD_STORED) {
        if (m->compressed_size != m->uncompressed_size) {
            *error = nn_format("member %s is stored but its sizes differ (%llu and %llu)",
                               m->name, (unsigned long long)m->compressed_size,
                               (unsigned long long)m->uncompressed_size);
            return -1;
        }
        bytes = raw;
    } else if (m->method == ZIP_METHOD_DEFLATED) {
        if (m->uncompressed_size > max_inflated) {
            *error = nn_format("member %s inflates to %llu bytes, more than the %llu allowed",
                               m->name, (unsigned long long)m->uncompressed_size,
                               (unsigned long long)max_inflated);
            return -1;
        }
        if (m->uncompressed_size / DEFLATE_MAX_RATIO > m->compressed_size) {
            *error = nn_format("member %s claims to inflate %llu bytes to %llu, more than "
                               "deflate can", m->name, (unsigned long long)m->compressed_size,
                               (unsigned long long)m->uncompressed_size);
            return -1;
        }
        buffer = malloc(m->uncompressed_size ? (size_t)m->uncompressed_size : 1);
        if (!buffer) {
            *error = nn_format("member %s: out of memory inflating %llu bytes", m->name,
                               (unsigned long long)m->uncompressed_size);
            return -1;
        }
        if (inflate_member(m, raw, buffer, error) != 0) {
            free(buffer);
            return -1;
        }
        bytes = buffer;
    } else {
        *error = nn_format("member %s uses compression method %u; only stored (0) and "
                           "deflated (8) are supported", m->name, (unsigned)m->method);
        return -1;
    }
    uint32_t crc = zip_crc32(bytes, m->uncompressed_size);
    if (crc != m->crc32) {
        *error = nn_format("member %s: CRC-32 mismatch (recorded %08x, computed %08x)",
                           m->name, (unsigned)m->crc32, (unsigned)crc);
        free(buffer);
        return -1;
    }
    *data = bytes;
    *owned = buffer;
    return 0;
}
