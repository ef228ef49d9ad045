/* ABI 1.x layout, checked by the C11 compiler (see abi_layout_table.h for the numbers). */
#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>
#include <spark/ext/storage.h>
#include <spark/plugin.h>

#include <stddef.h>

#include "abi_layout_table.h"

/* The numbers hold for LP64 (x86-64, aarch64); elsewhere the test is skipped. */
#if defined(__LP64__) && (defined(__x86_64__) || defined(__aarch64__))
#define ABI_LAYOUT_PINNED 1

#define ABI_STRUCT(T, size_, align_)                                                    \
    _Static_assert(sizeof(T) == (size_), "sizeof(" #T ") is frozen at " #size_);       \
    _Static_assert(_Alignof(T) == (align_), "alignof(" #T ") is frozen at " #align_);
#define ABI_FIELD(T, f, off_, size_)                                                    \
    _Static_assert(offsetof(T, f) == (off_), "offsetof(" #T ", " #f ") is frozen at " #off_); \
    _Static_assert(sizeof(((T *)0)->f) == (size_), "sizeof(" #T "." #f ") is frozen at " #size_);
ABI_LAYOUT_TABLE
#undef ABI_STRUCT
#undef ABI_FIELD

#define ABI_UNION_MEMBER(m, size_)                                                      \
    _Static_assert(sizeof(((spark_packet *)0)->data.m) == (size_),                      \
                   "sizeof(spark_packet.data." #m ") is frozen at " #size_);
ABI_PACKET_UNION_TABLE
#undef ABI_UNION_MEMBER
#endif

#define ABI_CONSTANT(name, value)                                                       \
    _Static_assert((long long)(name) == (long long)(value), #name " is frozen at " #value);
ABI_CONSTANT_TABLE
#undef ABI_CONSTANT

/* These asserts describe major version 1. */
_Static_assert(SPARK_ABI_MAJOR == 1u, "abi_layout_table.h describes ABI major 1");

#ifdef ABI_LAYOUT_PINNED
#include "abi_layout_runtime.h"
#endif

int main(void)
{
#ifdef ABI_LAYOUT_PINNED
    return abi_run_checks();
#else
    return 77; /* skipped: not an LP64 target the layout was pinned for */
#endif
}
