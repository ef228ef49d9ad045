/* spark/ext/alloc.h - host service "spark.ext.alloc/1": making and keeping packets. */
#ifndef SPARK_EXT_ALLOC_H
#define SPARK_EXT_ALLOC_H

#include <spark/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPARK_EXT_ALLOC "spark.ext.alloc/1"

/* Every constructor returns a new packet with a reference count of one, owned by the
 * caller, or NULL when out of memory. The payload is writable until the packet is emitted
 * or retained by someone else; after that it is immutable. Strings passed in are copied.
 * Payload buffers are zero-filled. seq starts at 0.
 * [thread] any  [state] any after create */
typedef struct spark_ext_alloc {
    uint32_t struct_size;
    uint32_t reserved;
    spark_packet *(*text)(const spark_host *host, const char *utf8, uint64_t length,
                          int64_t offset);
    spark_packet *(*tokens)(const spark_host *host, uint64_t count, const char *vocabulary);
    spark_packet *(*codes)(const spark_host *host, uint64_t n_semantic, uint64_t n_global,
                           const char *codec, double frame_rate);
    spark_packet *(*audio)(const spark_host *host, uint32_t channels, uint64_t frames,
                           uint32_t rate);
    /* Deep copy of items[count], texts included. */
    spark_packet *(*timing)(const spark_host *host, const spark_timing_item *items,
                            uint64_t count);
    spark_packet *(*blob)(const spark_host *host, uint64_t size, const char *media_type,
                          const char *file_name);
    spark_packet *(*value)(const spark_host *host, const char *name, int32_t type,
                           const char *text, double number);
    /* Take a reference to keep a packet past the call that lent it. Returns packet. */
    const spark_packet *(*retain)(const spark_packet *packet);
    /* Drop a reference (a constructor's or retain's). NULL is ignored. */
    void (*release)(const spark_packet *packet);
} spark_ext_alloc;

#ifdef __cplusplus
}
#endif

#endif
