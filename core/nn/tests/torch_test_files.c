/* Helpers of the torch checkpoint tests; see torch_test_files.h. */
#include "torch_test_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

void tt_put(tt_buffer *b, const void *data, size_t n)
{
    if (b->len + n > b->capacity) {
        size_t next = b->capacity ? b->capacity : 256;
        while (next < b->len + n)
            next *= 2;
        b->bytes = realloc(b->bytes, next);
        if (!b->bytes)
            abort();
        b->capacity = next;
    }
    if (n)
        memcpy(b->bytes + b->len, data, n);
    b->len += n;
}

void tt_put_u8(tt_buffer *b, uint8_t v)
{
    tt_put(b, &v, 1);
}

void tt_put_u16(tt_buffer *b, uint16_t v)
{
    uint8_t p[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    tt_put(b, p, 2);
}

void tt_put_u32(tt_buffer *b, uint32_t v)
{
    tt_put_u16(b, (uint16_t)v);
    tt_put_u16(b, (uint16_t)(v >> 16));
}

void tt_put_u64(tt_buffer *b, uint64_t v)
{
    tt_put_u32(b, (uint32_t)v);
    tt_put_u32(b, (uint32_t)(v >> 32));
}

void tt_buffer_free(tt_buffer *b)
{
    free(b->bytes);
    memset(b, 0, sizeof *b);
}

void tt_patch_u16(tt_buffer *b, size_t at, uint16_t v)
{
    b->bytes[at] = (uint8_t)v;
    b->bytes[at + 1] = (uint8_t)(v >> 8);
}

void tt_patch_u32(tt_buffer *b, size_t at, uint32_t v)
{
    tt_patch_u16(b, at, (uint16_t)v);
    tt_patch_u16(b, at + 2, (uint16_t)(v >> 16));
}

/* Raw deflate (no zlib header), as zip members hold it. */
static uint8_t *deflate_raw(const void *data, size_t size, size_t *out_size)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    size_t capacity = deflateBound(&zs, (uLong)size);
    uint8_t *out = malloc(capacity);
    if (!out)
        abort();
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)size;
    zs.next_out = out;
    zs.avail_out = (uInt)capacity;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        abort();
    *out_size = zs.total_out;
    deflateEnd(&zs);
    return out;
}

void tt_build_zip(tt_zip *zip, const tt_member *members, size_t count)
{
    memset(zip, 0, sizeof *zip);
    if (count > TT_MAX_MEMBERS)
        abort();
    zip->count = count;
    uint8_t *packed[TT_MAX_MEMBERS] = {0};
    size_t packed_size[TT_MAX_MEMBERS];
    uint32_t crc[TT_MAX_MEMBERS];
    for (size_t i = 0; i < count; i++) {
        const tt_member *m = &members[i];
        crc[i] = (uint32_t)crc32(crc32(0L, Z_NULL, 0), m->data, (uInt)m->size);
        if (m->deflate)
            packed[i] = deflate_raw(m->data, m->size, &packed_size[i]);
        else
            packed_size[i] = m->size;
        size_t name_len = strlen(m->name);
        zip->local[i] = zip->out.len;
        tt_put_u32(&zip->out, 0x04034b50);
        tt_put_u16(&zip->out, 20);
        tt_put_u16(&zip->out, 0);
        tt_put_u16(&zip->out, m->deflate ? 8 : 0);
        tt_put_u16(&zip->out, 0);
        tt_put_u16(&zip->out, 0x21);
        tt_put_u32(&zip->out, crc[i]);
        tt_put_u32(&zip->out, (uint32_t)packed_size[i]);
        tt_put_u32(&zip->out, (uint32_t)m->size);
        tt_put_u16(&zip->out, (uint16_t)name_len);
        tt_put_u16(&zip->out, 0);
        tt_put(&zip->out, m->name, name_len);
        zip->data[i] = zip->out.len;
        tt_put(&zip->out, packed[i] ? packed[i] : m->data, packed_size[i]);
    }
    size_t directory = zip->out.len;
    for (size_t i = 0; i < count; i++) {
        const tt_member *m = &members[i];
        size_t name_len = strlen(m->name);
        zip->central[i] = zip->out.len;
        tt_put_u32(&zip->out, 0x02014b50);
        tt_put_u16(&zip->out, 20);
        tt_put_u16(&zip->out, 20);
        tt_put_u16(&zip->out, 0);
        tt_put_u16(&zip->out, m->deflate ? 8 : 0);
        tt_put_u16(&zip->out, 0);
        tt_put_u16(&zip->out, 0x21);
        tt_put_u32(&zip->out, crc[i]);
        tt_put_u32(&zip->out, (uint32_t)packed_size[i]);
        tt_put_u32(&zip->out, (uint32_t)m->size);
        tt_put_u16(&zip->out, (uint16_t)name_len);
        tt_put_u16(&zip->out, 0);
        tt_put_u16(&zip->out, 0);
        tt_put_u16(&zip->out, 0);
        tt_put_u16(&zip->out, 0);
        tt_put_u32(&zip->out, 0);
        tt_put_u32(&zip->out, (uint32_t)zip->local[i]);
        tt_put(&zip->out, m->name, name_len);
        free(packed[i]);
    }
    zip->eocd = zip->out.len;
    tt_put_u32(&zip->out, 0x06054b50);
    tt_put_u16(&zip->out, 0);
    tt_put_u16(&zip->out, 0);
    tt_put_u16(&zip->out, (uint16_t)count);
    tt_put_u16(&zip->out, (uint16_t)count);
    tt_put_u32(&zip->out, (uint32_t)(zip->eocd - directory));
    tt_put_u32(&zip->out, (uint32_t)directory);
    tt_put_u16(&zip->out, 0);
}

void tt_pickle_op(tt_buffer *b, uint8_t op)
{
    tt_put_u8(b, op);
}

void tt_pickle_string(tt_buffer *b, const char *s)
{
    tt_put_u8(b, 'X');
    tt_put_u32(b, (uint32_t)strlen(s));
    tt_put(b, s, strlen(s));
}

void tt_pickle_int(tt_buffer *b, int64_t v)
{
    if (v >= INT32_MIN && v <= INT32_MAX) {
        tt_put_u8(b, 'J');
        tt_put_u32(b, (uint32_t)v);
    } else {
        tt_put_u8(b, 0x8a);
        tt_put_u8(b, 8);
        tt_put_u64(b, (uint64_t)v);
    }
}

void tt_pickle_global(tt_buffer *b, const char *module, const char *name)
{
    tt_put_u8(b, 'c');
    tt_put(b, module, strlen(module));
    tt_put_u8(b, '\n');
    tt_put(b, name, strlen(name));
    tt_put_u8(b, '\n');
}

void tt_pickle_int_tuple(tt_buffer *b, const int64_t *values, uint32_t n)
{
    tt_put_u8(b, '(');
    for (uint32_t i = 0; i < n; i++)
        tt_pickle_int(b, values[i]);
    tt_put_u8(b, 't');
}

void tt_pickle_begin_state_dict(tt_buffer *b)
{
    tt_put_u8(b, 0x80);
    tt_put_u8(b, 2);
    tt_pickle_global(b, "collections", "OrderedDict");
    tt_put_u8(b, ')');
    tt_put_u8(b, 'R');
    tt_put_u8(b, '(');
}

void tt_pickle_end_state_dict(tt_buffer *b)
{
    tt_put_u8(b, 'u');
    tt_put_u8(b, '.');
}

void tt_pickle_tensor(tt_buffer *b, const char *storage_type, const char *key, int64_t numel,
                      int64_t offset, uint32_t ndim, const int64_t *shape,
                      const int64_t *strides)
{
    tt_pickle_global(b, "torch._utils", "_rebuild_tensor_v2");
    tt_put_u8(b, '(');
    tt_put_u8(b, '(');
    tt_pickle_string(b, "storage");
    tt_pickle_global(b, "torch", storage_type);
    tt_pickle_string(b, key);
    tt_pickle_string(b, "cpu");
    tt_pickle_int(b, numel);
    tt_put_u8(b, 't');
    tt_put_u8(b, 'Q');
    tt_pickle_int(b, offset);
    tt_pickle_int_tuple(b, shape, ndim);
    tt_pickle_int_tuple(b, strides, ndim);
    tt_put_u8(b, 0x89);
    tt_pickle_global(b, "collections", "OrderedDict");
    tt_put_u8(b, ')');
    tt_put_u8(b, 'R');
    tt_put_u8(b, 't');
    tt_put_u8(b, 'R');
}

void tt_pickle_tensor_v3(tt_buffer *b, const char *key, int64_t nbytes, int64_t offset,
                         uint32_t ndim, const int64_t *shape, const int64_t *strides,
                         const char *dtype)
{
    tt_pickle_global(b, "torch._utils", "_rebuild_tensor_v3");
    tt_put_u8(b, '(');
    tt_put_u8(b, '(');
    tt_pickle_string(b, "storage");
    tt_pickle_global(b, "torch.storage", "UntypedStorage");
    tt_pickle_string(b, key);
    tt_pickle_string(b, "cpu");
    tt_pickle_int(b, nbytes);
    tt_put_u8(b, 't');
    tt_put_u8(b, 'Q');
    tt_pickle_int(b, offset);
    tt_pickle_int_tuple(b, shape, ndim);
    tt_pickle_int_tuple(b, strides, ndim);
    tt_put_u8(b, 0x89);
    tt_pickle_global(b, "collections", "OrderedDict");
    tt_put_u8(b, ')');
    tt_put_u8(b, 'R');
    tt_pickle_global(b, "torch", dtype);
    tt_put_u8(b, 't');
    tt_put_u8(b, 'R');
}
