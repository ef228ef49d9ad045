/* What the torch checkpoint tests share: byte buffers, a zip builder that records where
 * each structure landed (so a test can corrupt exactly one field), and a pickle builder for
 * torch-style state dicts. */
#ifndef TORCH_TEST_FILES_H
#define TORCH_TEST_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tt_buffer {
    uint8_t *bytes;
    size_t len, capacity;
} tt_buffer;

void tt_put(tt_buffer *b, const void *data, size_t n);
void tt_put_u8(tt_buffer *b, uint8_t v);
void tt_put_u16(tt_buffer *b, uint16_t v);
void tt_put_u32(tt_buffer *b, uint32_t v);
void tt_put_u64(tt_buffer *b, uint64_t v);
void tt_buffer_free(tt_buffer *b);
/* Overwrites a little-endian field already written. */
void tt_patch_u16(tt_buffer *b, size_t at, uint16_t v);
void tt_patch_u32(tt_buffer *b, size_t at, uint32_t v);

/* ---- zip ---------------------------------------------------------------------------- */

#define TT_MAX_MEMBERS 32

typedef struct tt_member {
    const char *name;
    const void *data;
    size_t size;
    bool deflate;               /* compressed here with zlib (method 8) */
} tt_member;

typedef struct tt_zip {
    tt_buffer out;
    size_t count;
    size_t local[TT_MAX_MEMBERS];   /* offset of each local header */
    size_t data[TT_MAX_MEMBERS];    /* offset of each member's data */
    size_t central[TT_MAX_MEMBERS]; /* offset of each central directory entry */
    size_t eocd;                    /* offset of the end of central directory record */
} tt_zip;

/* A plain (no zip64, no alignment) zip of the members, in order. */
void tt_build_zip(tt_zip *zip, const tt_member *members, size_t count);

/* ---- pickles ------------------------------------------------------------------------ */

void tt_pickle_op(tt_buffer *b, uint8_t op);
void tt_pickle_string(tt_buffer *b, const char *s);   /* BINUNICODE */
void tt_pickle_int(tt_buffer *b, int64_t v);          /* BININT or LONG1 */
void tt_pickle_global(tt_buffer *b, const char *module, const char *name);
void tt_pickle_int_tuple(tt_buffer *b, const int64_t *values, uint32_t n);
/* PROTO 2, OrderedDict(), MARK: the start of a state dict; entries follow as key, value. */
void tt_pickle_begin_state_dict(tt_buffer *b);
/* SETITEMS, STOP. */
void tt_pickle_end_state_dict(tt_buffer *b);
/* _rebuild_tensor_v2((storage, <type>, key, "cpu", numel), offset, shape, strides, False,
 * OrderedDict()) */
void tt_pickle_tensor(tt_buffer *b, const char *storage_type, const char *key, int64_t numel,
                      int64_t offset, uint32_t ndim, const int64_t *shape,
                      const int64_t *strides);

/* _rebuild_tensor_v3((storage, torch.storage.UntypedStorage, key, "cpu", nbytes), offset,
 * shape, strides, False, OrderedDict(), torch.<dtype>) */
void tt_pickle_tensor_v3(tt_buffer *b, const char *key, int64_t nbytes, int64_t offset,
                         uint32_t ndim, const int64_t *shape, const int64_t *strides,
                         const char *dtype);

#endif
