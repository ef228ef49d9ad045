/* The restricted unpickler. It is a stack machine over plain data (no objects, no calls
 * into anything but the few rebuild functions modelled here), so a hostile data.pkl can at
 * worst be refused. Every read is bounds-checked, the stack, mark stack and memo are
 * capped, and no step recurses: values form a graph owned by one list and freed flat.
 *
 * torch.save writes tensors of the classic dtypes as _rebuild_tensor_v2 on a typed storage
 * (torch.FloatStorage...), and those without a storage class (uint16, float8...) as
 * _rebuild_tensor_v3 on a torch.storage.UntypedStorage with a torch.<dtype>. */
#include "unpickle.h"
#include "nn_error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Caps far above what a state dict needs (a few entries per tensor), low enough that a
 * hostile stream cannot make the unpickler allocate without bound. */
#define MAX_STACK (1u << 20)
#define MAX_MARKS (1u << 16)
#define MAX_MEMO (1u << 20)

enum opcode {
    OP_MARK = '(', OP_STOP = '.', OP_BINFLOAT = 'G', OP_BININT = 'J', OP_BININT1 = 'K',
    OP_BININT2 = 'M', OP_NONE = 'N', OP_BINPERSID = 'Q', OP_REDUCE = 'R',
    OP_BINUNICODE = 'X', OP_EMPTY_LIST = ']', OP_APPEND = 'a', OP_BUILD = 'b',
    OP_GLOBAL = 'c', OP_APPENDS = 'e', OP_BINGET = 'h', OP_LONG_BINGET = 'j',
    OP_BINPUT = 'q', OP_LONG_BINPUT = 'r', OP_SETITEM = 's', OP_TUPLE = 't',
    OP_SETITEMS = 'u', OP_EMPTY_DICT = '}', OP_EMPTY_TUPLE = ')',
    OP_PROTO = 0x80, OP_NEWOBJ = 0x81, OP_TUPLE1 = 0x85, OP_TUPLE2 = 0x86, OP_TUPLE3 = 0x87,
    OP_NEWTRUE = 0x88, OP_NEWFALSE = 0x89, OP_LONG1 = 0x8a, OP_SHORT_BINUNICODE = 0x8c,
    OP_BINUNICODE8 = 0x8d, OP_STACK_GLOBAL = 0x93, OP_MEMOIZE = 0x94, OP_FRAME = 0x95,
};

typedef enum value_kind {
    V_NONE, V_BOOL, V_INT, V_FLOAT, V_STRING, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE,
    V_TENSOR,
} value_kind;

static const char *const kind_names[] = {
    [V_NONE] = "None",   [V_BOOL] = "bool",       [V_INT] = "int",
    [V_FLOAT] = "float", [V_STRING] = "str",      [V_TUPLE] = "tuple",
    [V_LIST] = "list",   [V_DICT] = "dict",       [V_GLOBAL] = "class or function",
    [V_STORAGE] = "storage", [V_TENSOR] = "tensor",
};

typedef enum allowed_global {
    G_ORDERED_DICT,
    G_REBUILD_TENSOR_V2,
    G_REBUILD_TENSOR_V3,
    G_REBUILD_PARAMETER,
    G_REBUILD_PARAMETER_WITH_STATE,
    G_STORAGE_TYPE,
    G_DTYPE,
} allowed_global;

typedef struct tensor_value {
    size_t storage;
    nn_dtype dtype;
    uint64_t offset;
    uint32_t ndim;
    int64_t shape[NN_MAX_DIMS];
    int64_t strides[NN_MAX_DIMS];
} tensor_value;

typedef struct value {
    value_kind kind;
    union {
        bool boolean;
        int64_t integer;
        double real;
        struct {
            const uint8_t *bytes; /* inside the pickle; not NUL-terminated */
            size_t len;
        } string;
        /* tuple and list items; dict keys and values alternating */
        struct {
            struct value **items;
            size_t count, capacity;
        } seq;
        struct {
            allowed_global which;
            nn_dtype dtype; /* storage types and dtypes */
            const char *name;
        } global;
        size_t storage;
        tensor_value *tensor;
    } u;
} value;

typedef struct unpickler {
    const uint8_t *data;
    size_t size, pos, op_pos;
    value **stack;
    size_t depth, stack_capacity;
    size_t *marks;
    size_t mark_count, mark_capacity;
    value **memo;
    size_t memo_capacity, memo_count;
    value **all; /* every value made, for freeing */
    size_t all_count, all_capacity;
    pickled_storage *storages;
    size_t storage_count, storage_capacity;
    char *error;
} unpickler;

typedef struct named_global {
    const char *module, *name, *full;
    allowed_global which;
    nn_dtype dtype;
} named_global;

/* Everything a checkpoint may reference; anything else is refused by name. */
static const named_global allowed_globals[] = {
    {"collections", "OrderedDict", "collections.OrderedDict", G_ORDERED_DICT, NN_F32},
    {"torch._utils", "_rebuild_tensor_v2", "torch._utils._rebuild_tensor_v2",
     G_REBUILD_TENSOR_V2, NN_F32},
    {"torch._utils", "_rebuild_tensor_v3", "torch._utils._rebuild_tensor_v3",
     G_REBUILD_TENSOR_V3, NN_F32},
    {"torch._utils", "_rebuild_parameter", "torch._utils._rebuild_parameter",
     G_REBUILD_PARAMETER, NN_F32},
    {"torch._utils", "_rebuild_parameter_with_state",
     "torch._utils._rebuild_parameter_with_state", G_REBUILD_PARAMETER_WITH_STATE, NN_F32},
    {"torch", "DoubleStorage", "torch.DoubleStorage", G_STORAGE_TYPE, NN_F64},
    {"torch", "FloatStorage", "torch.FloatStorage", G_STORAGE_TYPE, NN_F32},
    {"torch", "HalfStorage", "torch.HalfStorage", G_STORAGE_TYPE, NN_F16},
    {"torch", "BFloat16Storage", "torch.BFloat16Storage", G_STORAGE_TYPE, NN_BF16},
    {"torch", "LongStorage", "torch.LongStorage", G_STORAGE_TYPE, NN_I64},
    {"torch", "IntStorage", "torch.IntStorage", G_STORAGE_TYPE, NN_I32},
    {"torch", "ShortStorage", "torch.ShortStorage", G_STORAGE_TYPE, NN_I16},
    {"torch", "CharStorage", "torch.CharStorage", G_STORAGE_TYPE, NN_I8},
    {"torch", "ByteStorage", "torch.ByteStorage", G_STORAGE_TYPE, NN_U8},
    {"torch", "BoolStorage", "torch.BoolStorage", G_STORAGE_TYPE, NN_BOOL},
    /* Sized in bytes; the tensor's dtype comes with _rebuild_tensor_v3. */
    {"torch.storage", "UntypedStorage", "torch.storage.UntypedStorage", G_STORAGE_TYPE,
     NN_U8},
    {"torch", "float64", "torch.float64", G_DTYPE, NN_F64},
    {"torch", "float32", "torch.float32", G_DTYPE, NN_F32},
    {"torch", "float16", "torch.float16", G_DTYPE, NN_F16},
    {"torch", "bfloat16", "torch.bfloat16", G_DTYPE, NN_BF16},
    {"torch", "int64", "torch.int64", G_DTYPE, NN_I64},
    {"torch", "int32", "torch.int32", G_DTYPE, NN_I32},
    {"torch", "int16", "torch.int16", G_DTYPE, NN_I16},
    {"torch", "int8", "torch.int8", G_DTYPE, NN_I8},
    {"torch", "uint64", "torch.uint64", G_DTYPE, NN_U64},
    {"torch", "uint32", "torch.uint32", G_DTYPE, NN_U32},
    {"torch", "uint16", "torch.uint16", G_DTYPE, NN_U16},
    {"torch", "uint8", "torch.uint8", G_DTYPE, NN_U8},
    {"torch", "bool", "torch.bool", G_DTYPE, NN_BOOL},
    {"torch", "float8_e4m3fn", "torch.float8_e4m3fn", G_DTYPE, NN_F8_E4M3},
    {"torch", "float8_e5m2", "torch.float8_e5m2", G_DTYPE, NN_F8_E5M2},
};

static int fail(unpickler *u, const char *fmt, ...)
{
    if (u->error)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *what = nn_vformat(fmt, ap);
    va_end(ap);
    if (!what)
        return -1; /* the caller reports running out of memory */
    /* Positions help with a malformed stream; a well-formed one of the wrong shape has none. */
    int rc = u->op_pos == SIZE_MAX
                 ? asprintf(&u->error, "data.pkl: %s", what)
                 : asprintf(&u->error, "data.pkl at byte %zu: %s", u->op_pos, what);
    if (rc < 0)
        u->error = NULL;
    free(what);
    return -1;
}

/* A name from the file, safe to print: non-printable bytes become '?', long ones are cut. */
static void printable(char *out, size_t capacity, const uint8_t *s, size_t len)
{
    size_t n = 0;
    bool cut = len > capacity - 4;
    size_t keep = cut ? capacity - 4 : len;
    for (size_t i = 0; i < keep; i++)
        out[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    if (cut) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

static int grow(unpickler *u, void **array, size_t *capacity, size_t need, size_t element)
{
    if (need <= *capacity)
        return 0;
    size_t next = *capacity ? *capacity : 16;
    while (next < need)
        next *= 2;
    void *grown = next <= SIZE_MAX / element ? realloc(*array, next * element) : NULL;
    if (!grown)
        return fail(u, "out of memory");
    *array = grown;
    *capacity = next;
    return 0;
}

static value *new_value(unpickler *u, value_kind kind)
{
    if (grow(u, (void **)&u->all, &u->all_capacity, u->all_count + 1, sizeof *u->all) != 0)
        return NULL;
    value *v = calloc(1, sizeof *v);
    if (!v) {
        fail(u, "out of memory");
        return NULL;
    }
    v->kind = kind;
    u->all[u->all_count++] = v;
    return v;
}

static void free_value(value *v)
{
    if (v->kind == V_TUPLE || v->kind == V_LIST || v->kind == V_DICT)
        free(v->u.seq.items);
    else if (v->kind == V_TENSOR)
        free(v->u.tensor);
    free(v);
}

static int push(unpickler *u, value *v)
{
    if (!v)
        return -1;
    if (u->depth >= MAX_STACK)
        return fail(u, "the stack is deeper than %u entries", MAX_STACK);
    if (grow(u, (void **)&u->stack, &u->stack_capacity, u->depth + 1, sizeof *u->stack) != 0)
        return -1;
    u->stack[u->depth++] = v;
    return 0;
}

/* The stack below the innermost mark belongs to an outer construct. */
static size_t stack_floor(const unpickler *u)
{
    return u->mark_count ? u->marks[u->mark_count - 1] : 0;
}

static value *pop(unpickler *u)
{
    if (u->depth <= stack_floor(u)) {
        fail(u, "stack underflow");
        return NULL;
    }
    return u->stack[--u->depth];
}

static value *top(unpickler *u)
{
    if (u->depth <= stack_floor(u)) {
        fail(u, "stack underflow");
        return NULL;
    }
    return u->stack[u->depth - 1];
}

/* Pops the innermost mark into *mark (the stack depth it recorded); -1 when none. */
static int pop_mark(unpickler *u, size_t *mark)
{
    if (!u->mark_count)
        return fail(u, "no MARK on the stack");
    *mark = u->marks[--u->mark_count];
    return 0;
}

static int append_item(unpickler *u, value *seq, value *item)
{
    if (grow(u, (void **)&seq->u.seq.items, &seq->u.seq.capacity, seq->u.seq.count + 1,
             sizeof *seq->u.seq.items) != 0)
        return -1;
    seq->u.seq.items[seq->u.seq.count++] = item;
    return 0;
}

static int take(unpickler *u, size_t n, const uint8_t **out)
{
    if (n > u->size - u->pos)
        return fail(u, "truncated (needs %zu more bytes, %zu left)", n, u->size - u->pos);
    *out = u->data + u->pos;
    u->pos += n;
    return 0;
}

static uint64_t little_endian(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static int push_int(unpickler *u, int64_t n)
{
    value *v = new_value(u, V_INT);
    if (v)
        v->u.integer = n;
    return push(u, v);
}

static int push_string(unpickler *u, size_t length_bytes)
{
    const uint8_t *p = NULL;
    if (take(u, length_bytes, &p) != 0)
        return -1;
    uint64_t len = little_endian(p, length_bytes);
    if (len > u->size - u->pos)
        return fail(u, "a string of %llu bytes runs past the end", (unsigned long long)len);
    value *v = new_value(u, V_STRING);
    if (!v)
        return -1;
    v->u.string.bytes = u->data + u->pos;
    v->u.string.len = (size_t)len;
    u->pos += (size_t)len;
    return push(u, v);
}

/* LONG1: a little-endian two's complement integer of n bytes; only 64-bit ones are used. */
static int push_long1(unpickler *u)
{
    const uint8_t *p = NULL;
    if (take(u, 1, &p) != 0)
        return -1;
    size_t n = p[0];
    if (take(u, n, &p) != 0)
        return -1;
    if (n == 0)
        return push_int(u, 0);
    uint8_t sign = (p[n - 1] & 0x80) ? 0xff : 0x00;
    for (size_t i = 8; i < n; i++)
        if (p[i] != sign || (p[7] & 0x80) != (sign & 0x80))
            return fail(u, "an integer does not fit in 64 bits");
    uint64_t bits = little_endian(p, n < 8 ? n : 8);
    if (n < 8 && sign)
        bits |= ~(uint64_t)0 << (8 * n);
    return push_int(u, (int64_t)bits);
}

static int push_tuple_of(unpickler *u, size_t n)
{
    if (u->depth - stack_floor(u) < n)
        return fail(u, "stack underflow");
    value *t = new_value(u, V_TUPLE);
    if (!t)
        return -1;
    for (size_t i = u->depth - n; i < u->depth; i++)
        if (append_item(u, t, u->stack[i]) != 0)
            return -1;
    u->depth -= n;
    return push(u, t);
}

static bool string_is(const value *v, const char *s)
{
    size_t n = strlen(s);
    return v->kind == V_STRING && v->u.string.len == n && memcmp(v->u.string.bytes, s, n) == 0;
}

static bool bytes_are(const uint8_t *p, size_t len, const char *s)
{
    return len == strlen(s) && memcmp(p, s, len) == 0;
}

static int push_global(unpickler *u, const uint8_t *module, size_t module_len,
                       const uint8_t *name, size_t name_len)
{
    for (size_t i = 0; i < sizeof allowed_globals / sizeof allowed_globals[0]; i++) {
        const named_global *g = &allowed_globals[i];
        if (!bytes_are(module, module_len, g->module) || !bytes_are(name, name_len, g->name))
            continue;
        value *v = new_value(u, V_GLOBAL);
        if (!v)
            return -1;
        v->u.global.which = g->which;
        v->u.global.dtype = g->dtype;
        v->u.global.name = g->full;
        return push(u, v);
    }
    char module_text[96], name_text[96];
    printable(module_text, sizeof module_text, module, module_len);
    printable(name_text, sizeof name_text, name, name_len);
    return fail(u, "refusing global %s.%s: a checkpoint may only reference "
                   "collections.OrderedDict, the torch._utils tensor and parameter rebuild "
                   "functions, the torch storage types and torch dtypes", module_text,
                name_text);
}

/* GLOBAL: "module\nname\n". */
static int op_global(unpickler *u)
{
    const uint8_t *parts[2];
    size_t lens[2];
    for (int i = 0; i < 2; i++) {
        const uint8_t *start = u->data + u->pos;
        const uint8_t *end = memchr(start, '\n', u->size - u->pos);
        if (!end)
            return fail(u, "GLOBAL without a newline-terminated name");
        parts[i] = start;
        lens[i] = (size_t)(end - start);
        u->pos += lens[i] + 1;
    }
    return push_global(u, parts[0], lens[0], parts[1], lens[1]);
}

static int op_stack_global(unpickler *u)
{
    value *name = pop(u);
    value *module = name ? pop(u) : NULL;
    if (!module)
        return -1;
    if (module->kind != V_STRING || name->kind != V_STRING)
        return fail(u, "STACK_GLOBAL needs two strings");
    return push_global(u, module->u.string.bytes, module->u.string.len, name->u.string.bytes,
                       name->u.string.len);
}

static int tuple_of_ints(unpickler *u, const value *t, const char *what, uint32_t *ndim,
                         int64_t *out)
{
    if (t->kind != V_TUPLE)
        return fail(u, "a tensor's %s is a %s, not a tuple", what, kind_names[t->kind]);
    if (t->u.seq.count > NN_MAX_DIMS)
        return fail(u, "a tensor has %zu dimensions; at most %d are supported",
                    t->u.seq.count, NN_MAX_DIMS);
    for (size_t i = 0; i < t->u.seq.count; i++) {
        const value *d = t->u.seq.items[i];
        if (d->kind != V_INT || d->u.integer < 0)
            return fail(u, "a tensor's %s holds something other than a non-negative int",
                        what);
        out[i] = d->u.integer;
    }
    *ndim = (uint32_t)t->u.seq.count;
    return 0;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks
 * [, metadata]): a tensor of the storage's dtype.
 * _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
 * dtype [, metadata]): a tensor of that dtype over the storage's bytes. */
static value *rebuild_tensor(unpickler *u, const value *args, bool v3)
{
    size_t n = args->u.seq.count, fixed = v3 ? 7 : 6;
    value *const *a = args->u.seq.items;
    const char *fn = v3 ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2";
    if (n != fixed && n != fixed + 1) {
        fail(u, "%s takes %zu or %zu arguments, not %zu", fn, fixed, fixed + 1, n);
        return NULL;
    }
    if (a[0]->kind != V_STORAGE) {
        fail(u, "%s got a %s where a storage belongs", fn, kind_names[a[0]->kind]);
        return NULL;
    }
    if (a[1]->kind != V_INT || a[1]->u.integer < 0) {
        fail(u, "%s needs a non-negative storage offset", fn);
        return NULL;
    }
    if (v3 && (a[6]->kind != V_GLOBAL || a[6]->u.global.which != G_DTYPE)) {
        fail(u, "_rebuild_tensor_v3 got a %s where a dtype belongs", kind_names[a[6]->kind]);
        return NULL;
    }
    tensor_value *t = calloc(1, sizeof *t);
    if (!t) {
        fail(u, "out of memory");
        return NULL;
    }
    uint32_t stride_dims = 0;
    if (tuple_of_ints(u, a[2], "size", &t->ndim, t->shape) != 0 ||
        tuple_of_ints(u, a[3], "stride", &stride_dims, t->strides) != 0) {
        free(t);
        return NULL;
    }
    if (stride_dims != t->ndim) {
        fail(u, "a tensor has %u sizes but %u strides", t->ndim, stride_dims);
        free(t);
        return NULL;
    }
    if (a[4]->kind != V_BOOL || a[5]->kind != V_DICT) {
        free(t);
        fail(u, "%s needs requires_grad (bool) and backward hooks (dict)", fn);
        return NULL;
    }
    t->storage = a[0]->u.storage;
    t->dtype = v3 ? a[6]->u.global.dtype : u->storages[t->storage].dtype;
    t->offset = (uint64_t)a[1]->u.integer;
    value *v = new_value(u, V_TENSOR);
    if (!v) {
        free(t);
        return NULL;
    }
    v->u.tensor = t;
    return v;
}

/* What REDUCE and NEWOBJ produce for an allowed callable. */
static value *call_global(unpickler *u, const value *callable, const value *args)
{
    if (callable->kind != V_GLOBAL) {
        fail(u, "cannot call a %s", kind_names[callable->kind]);
        return NULL;
    }
    if (args->kind != V_TUPLE) {
        fail(u, "%s called with a %s, not an argument tuple", callable->u.global.name,
             kind_names[args->kind]);
        return NULL;
    }
    size_t n = args->u.seq.count;
    value *const *a = args->u.seq.items;
    switch (callable->u.global.which) {
    case G_ORDERED_DICT:
        if (n != 0) {
            fail(u, "collections.OrderedDict is only supported without arguments");
            return NULL;
        }
        return new_value(u, V_DICT);
    case G_REBUILD_TENSOR_V2:
    case G_REBUILD_TENSOR_V3:
        return rebuild_tensor(u, args, callable->u.global.which == G_REBUILD_TENSOR_V3);
    case G_REBUILD_PARAMETER:
    case G_REBUILD_PARAMETER_WITH_STATE: {
        size_t want = callable->u.global.which == G_REBUILD_PARAMETER ? 3 : 4;
        if (n != want || a[0]->kind != V_TENSOR || a[1]->kind != V_BOOL) {
            fail(u, "%s takes (tensor, requires_grad, hooks%s)", callable->u.global.name,
                 want == 4 ? ", state" : "");
            return NULL;
        }
        /* A parameter is its data tensor here: requires_grad and hooks mean nothing. */
        return a[0];
    }
    case G_STORAGE_TYPE:
    case G_DTYPE:
        break;
    }
    fail(u, "%s cannot be called", callable->u.global.name);
    return NULL;
}

static int op_reduce(unpickler *u)
{
    value *args = pop(u);
    value *callable = args ? pop(u) : NULL;
    if (!callable)
        return -1;
    return push(u, call_global(u, callable, args));
}

static int op_newobj(unpickler *u)
{
    value *args = pop(u);
    value *cls = args ? pop(u) : NULL;
    if (!cls)
        return -1;
    if (cls->kind != V_GLOBAL || cls->u.global.which != G_ORDERED_DICT)
        return fail(u, "NEWOBJ is only supported for collections.OrderedDict");
    return push(u, call_global(u, cls, args));
}

static int find_storage(unpickler *u, const value *key, nn_dtype dtype, uint64_t numel,
                        size_t *index)
{
    for (size_t i = 0; i < u->storage_count; i++) {
        const pickled_storage *s = &u->storages[i];
        if (strlen(s->key) != key->u.string.len ||
            memcmp(s->key, key->u.string.bytes, key->u.string.len) != 0)
            continue;
        if (s->dtype != dtype || s->numel != numel)
            return fail(u, "storage %s is referenced with two different types or sizes",
                        s->key);
        *index = i;
        return 0;
    }
    if (memchr(key->u.string.bytes, 0, key->u.string.len) || key->u.string.len == 0)
        return fail(u, "a storage key is empty or contains a NUL byte");
    if (grow(u, (void **)&u->storages, &u->storage_capacity, u->storage_count + 1,
             sizeof *u->storages) != 0)
        return -1;
    char *copy = strndup((const char *)key->u.string.bytes, key->u.string.len);
    if (!copy)
        return fail(u, "out of memory");
    u->storages[u->storage_count] = (pickled_storage){copy, dtype, numel};
    *index = u->storage_count++;
    return 0;
}

/* BINPERSID with torch's storage id: ("storage", storage type, key, location, numel). */
static int op_persistent_id(unpickler *u)
{
    value *pid = pop(u);
    if (!pid)
        return -1;
    if (pid->kind != V_TUPLE || pid->u.seq.count != 5 ||
        !string_is(pid->u.seq.items[0], "storage"))
        return fail(u, "a persistent id other than torch's (\"storage\", type, key, "
                       "location, size)");
    value *const *a = pid->u.seq.items;
    if (a[1]->kind != V_GLOBAL || a[1]->u.global.which != G_STORAGE_TYPE)
        return fail(u, "a storage id names a %s, not a storage type", kind_names[a[1]->kind]);
    if (a[2]->kind != V_STRING || a[3]->kind != V_STRING || a[4]->kind != V_INT ||
        a[4]->u.integer < 0)
        return fail(u, "a storage id needs a string key, a string location and a size");
    size_t index = 0;
    if (find_storage(u, a[2], a[1]->u.global.dtype, (uint64_t)a[4]->u.integer, &index) != 0)
        return -1;
    value *v = new_value(u, V_STORAGE);
    if (!v)
        return -1;
    v->u.storage = index;
    return push(u, v);
}

static int op_build(unpickler *u)
{
    value *state = pop(u);
    value *target = state ? top(u) : NULL;
    if (!target)
        return -1;
    /* module.state_dict() carries a _metadata attribute (per-module versions), which
     * pickles as BUILD on the OrderedDict; it says nothing about the tensors. */
    if (target->kind != V_DICT)
        return fail(u, "BUILD (setting attributes) on a %s is not supported",
                    kind_names[target->kind]);
    return 0;
}

static int memo_put(unpickler *u, uint64_t index)
{
    value *v = top(u);
    if (!v)
        return -1;
    if (index >= MAX_MEMO)
        return fail(u, "memo index %llu is beyond the %u supported",
                    (unsigned long long)index, MAX_MEMO);
    size_t old = u->memo_capacity;
    if (grow(u, (void **)&u->memo, &u->memo_capacity, (size_t)index + 1, sizeof *u->memo) != 0)
        return -1;
    memset(u->memo + old, 0, (u->memo_capacity - old) * sizeof *u->memo);
    if (!u->memo[index])
        u->memo_count++;
    u->memo[index] = v;
    return 0;
}

static int memo_get(unpickler *u, uint64_t index)
{
    if (index >= u->memo_capacity || !u->memo[index])
        return fail(u, "memo entry %llu is used before it is set", (unsigned long long)index);
    return push(u, u->memo[index]);
}

static int op_setitems(unpickler *u, bool many)
{
    size_t mark = u->depth - 2;
    if (many) {
        if (pop_mark(u, &mark) != 0)
            return -1;
        if ((u->depth - mark) % 2 != 0)
            return fail(u, "SETITEMS with an odd number of items");
    } else if (u->depth < 2 || u->depth - 2 < stack_floor(u)) {
        return fail(u, "stack underflow");
    }
    if (mark == 0 || mark - 1 < stack_floor(u))
        return fail(u, "stack underflow");
    value *dict = u->stack[mark - 1];
    if (dict->kind != V_DICT)
        return fail(u, "SETITEM on a %s", kind_names[dict->kind]);
    for (size_t i = mark; i < u->depth; i++)
        if (append_item(u, dict, u->stack[i]) != 0)
            return -1;
    u->depth = mark;
    return 0;
}

static int op_appends(unpickler *u, bool many)
{
    size_t mark = u->depth - 1;
    if (many) {
        if (pop_mark(u, &mark) != 0)
            return -1;
    } else if (u->depth < 1 || u->depth - 1 < stack_floor(u)) {
        return fail(u, "stack underflow");
    }
    if (mark == 0 || mark - 1 < stack_floor(u))
        return fail(u, "stack underflow");
    value *list = u->stack[mark - 1];
    if (list->kind != V_LIST)
        return fail(u, "APPEND on a %s", kind_names[list->kind]);
    for (size_t i = mark; i < u->depth; i++)
        if (append_item(u, list, u->stack[i]) != 0)
            return -1;
    u->depth = mark;
    return 0;
}

static int op_tuple_from_mark(unpickler *u)
{
    size_t mark = 0;
    if (pop_mark(u, &mark) != 0)
        return -1;
    value *t = new_value(u, V_TUPLE);
    if (!t)
        return -1;
    for (size_t i = mark; i < u->depth; i++)
        if (append_item(u, t, u->stack[i]) != 0)
            return -1;
    u->depth = mark;
    return push(u, t);
}

/* Runs opcodes until STOP; *result is the object it returns. */
static int run(unpickler *u, value **result)
{
    for (;;) {
        u->op_pos = u->pos;
        if (u->pos >= u->size)
            return fail(u, "ends without STOP");
        const uint8_t *p = NULL;
        uint8_t op = u->data[u->pos++];
        int rc = 0;
        switch (op) {
        case OP_PROTO:
            if ((rc = take(u, 1, &p)) == 0 && (p[0] < 2 || p[0] > 5))
                rc = fail(u, "pickle protocol %u is not supported (2 to 5 are)", p[0]);
            break;
        case OP_FRAME:
            /* Frames only group opcodes for buffered readers; the whole stream is here. */
            if ((rc = take(u, 8, &p)) == 0 && little_endian(p, 8) > u->size - u->pos)
                rc = fail(u, "a frame runs past the end");
            break;
        case OP_EMPTY_DICT: rc = push(u, new_value(u, V_DICT)); break;
        case OP_EMPTY_LIST: rc = push(u, new_value(u, V_LIST)); break;
        case OP_EMPTY_TUPLE: rc = push(u, new_value(u, V_TUPLE)); break;
        case OP_NONE: rc = push(u, new_value(u, V_NONE)); break;
        case OP_NEWTRUE:
        case OP_NEWFALSE: {
            value *v = new_value(u, V_BOOL);
            if (v)
                v->u.boolean = op == OP_NEWTRUE;
            rc = push(u, v);
            break;
        }
        case OP_MARK:
            if (u->mark_count >= MAX_MARKS)
                rc = fail(u, "more than %u nested MARKs", MAX_MARKS);
            else if ((rc = grow(u, (void **)&u->marks, &u->mark_capacity, u->mark_count + 1,
                                sizeof *u->marks)) == 0)
                u->marks[u->mark_count++] = u->depth;
            break;
        case OP_TUPLE: rc = op_tuple_from_mark(u); break;
        case OP_TUPLE1: rc = push_tuple_of(u, 1); break;
        case OP_TUPLE2: rc = push_tuple_of(u, 2); break;
        case OP_TUPLE3: rc = push_tuple_of(u, 3); break;
        case OP_SHORT_BINUNICODE: rc = push_string(u, 1); break;
        case OP_BINUNICODE: rc = push_string(u, 4); break;
        case OP_BINUNICODE8: rc = push_string(u, 8); break;
        case OP_BININT1:
            if ((rc = take(u, 1, &p)) == 0)
                rc = push_int(u, p[0]);
            break;
        case OP_BININT2:
            if ((rc = take(u, 2, &p)) == 0)
                rc = push_int(u, (int64_t)little_endian(p, 2));
            break;
        case OP_BININT:
            if ((rc = take(u, 4, &p)) == 0)
                rc = push_int(u, (int32_t)(uint32_t)little_endian(p, 4));
            break;
        case OP_LONG1: rc = push_long1(u); break;
        case OP_BINFLOAT:
            if ((rc = take(u, 8, &p)) == 0) {
                uint64_t bits = 0;
                for (int i = 0; i < 8; i++)
                    bits = bits << 8 | p[i]; /* big-endian on the wire */
                value *v = new_value(u, V_FLOAT);
                if (v)
                    memcpy(&v->u.real, &bits, sizeof bits);
                rc = push(u, v);
            }
            break;
        case OP_GLOBAL: rc = op_global(u); break;
        case OP_STACK_GLOBAL: rc = op_stack_global(u); break;
        case OP_REDUCE: rc = op_reduce(u); break;
        case OP_NEWOBJ: rc = op_newobj(u); break;
        case OP_BINPERSID: rc = op_persistent_id(u); break;
        case OP_BUILD: rc = op_build(u); break;
        case OP_SETITEM: rc = op_setitems(u, false); break;
        case OP_SETITEMS: rc = op_setitems(u, true); break;
        case OP_APPEND: rc = op_appends(u, false); break;
        case OP_APPENDS: rc = op_appends(u, true); break;
        case OP_BINPUT:
            if ((rc = take(u, 1, &p)) == 0)
                rc = memo_put(u, p[0]);
            break;
        case OP_LONG_BINPUT:
            if ((rc = take(u, 4, &p)) == 0)
                rc = memo_put(u, little_endian(p, 4));
            break;
        case OP_MEMOIZE: rc = memo_put(u, u->memo_count); break;
        case OP_BINGET:
            if ((rc = take(u, 1, &p)) == 0)
                rc = memo_get(u, p[0]);
            break;
        case OP_LONG_BINGET:
            if ((rc = take(u, 4, &p)) == 0)
                rc = memo_get(u, little_endian(p, 4));
            break;
        case OP_STOP:
            *result = pop(u);
            return *result ? 0 : -1;
        default:
            rc = fail(u, "opcode 0x%02x is not supported by this restricted unpickler", op);
            break;
        }
        if (rc != 0)
            return -1;
    }
}

static int compare_names(const void *a, const void *b)
{
    return strcmp((*(const pickled_tensor *const *)a)->name,
                  (*(const pickled_tensor *const *)b)->name);
}

/* The unpickled object as a flat state dict: string keys, tensor values, no key twice. */
static int to_state_dict(unpickler *u, const value *root, pickled_state_dict *out)
{
    if (root->kind != V_DICT)
        return fail(u, "the checkpoint holds a %s, not a state dict (a dict of tensors)",
                    kind_names[root->kind]);
    size_t count = root->u.seq.count / 2;
    out->tensors = calloc(count ? count : 1, sizeof *out->tensors);
    if (!out->tensors)
        return fail(u, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const value *key = root->u.seq.items[2 * i], *val = root->u.seq.items[2 * i + 1];
        if (key->kind != V_STRING)
            return fail(u, "a state dict key is a %s, not a string", kind_names[key->kind]);
        char shown[96];
        printable(shown, sizeof shown, key->u.string.bytes, key->u.string.len);
        if (val->kind != V_TENSOR)
            return fail(u, "state dict entry '%s' is a %s, not a tensor; only flat state "
                           "dicts of tensors are supported (a checkpoint that nests its "
                           "weights, under 'model' or 'state_dict' say, needs converting)",
                        shown, kind_names[val->kind]);
        if (memchr(key->u.string.bytes, 0, key->u.string.len))
            return fail(u, "state dict key '%s' contains a NUL byte", shown);
        pickled_tensor *t = &out->tensors[i];
        t->name = strndup((const char *)key->u.string.bytes, key->u.string.len);
        if (!t->name)
            return fail(u, "out of memory");
        out->count = i + 1;
        const tensor_value *tv = val->u.tensor;
        t->storage = tv->storage;
        t->dtype = tv->dtype;
        t->offset = tv->offset;
        t->ndim = tv->ndim;
        memcpy(t->shape, tv->shape, sizeof t->shape);
        memcpy(t->strides, tv->strides, sizeof t->strides);
    }
    const pickled_tensor **sorted = malloc((count ? count : 1) * sizeof *sorted);
    if (!sorted)
        return fail(u, "out of memory");
    for (size_t i = 0; i < count; i++)
        sorted[i] = &out->tensors[i];
    qsort(sorted, count, sizeof *sorted, compare_names);
    for (size_t i = 1; i < count; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            char shown[96];
            printable(shown, sizeof shown, (const uint8_t *)sorted[i]->name,
                      strlen(sorted[i]->name));
            free(sorted);
            return fail(u, "state dict key '%s' appears twice", shown);
        }
    free(sorted);
    return 0;
}

int unpickle_state_dict(const uint8_t *data, size_t size, pickled_state_dict *out,
                        char **error)
{
    memset(out, 0, sizeof *out);
    unpickler u = {.data = data, .size = size};
    value *root = NULL;
    int rc = run(&u, &root);
    if (rc == 0) {
        u.op_pos = SIZE_MAX;
        rc = to_state_dict(&u, root, out);
    }
    if (rc == 0) {
        out->storages = u.storages;
        out->storage_count = u.storage_count;
        u.storages = NULL;
        u.storage_count = 0;
    }
    for (size_t i = 0; i < u.all_count; i++)
        free_value(u.all[i]);
    free(u.all);
    free(u.stack);
    free(u.marks);
    free(u.memo);
    for (size_t i = 0; i < u.storage_count; i++)
        free(u.storages[i].key);
    free(u.storages);
    if (rc != 0) {
        pickled_state_dict_free(out);
        *error = u.error ? u.error : strdup("data.pkl: out of memory");
        return -1;
    }
    return 0;
}

void pickled_state_dict_free(pickled_state_dict *state)
{
    for (size_t i = 0; i < state->count; i++)
        free(state->tensors[i].name);
    free(state->tensors);
    for (size_t i = 0; i < state->storage_count; i++)
        free(state->storages[i].key);
    free(state->storages);
    memset(state, 0, sizeof *state);
}
