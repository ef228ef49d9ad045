/* A job's streamed output as stream items for the platform. Each piece a streaming store
 * node hands out (spark_job_options.on_chunk) becomes one or more items
 *   {"seq": N, "node": ID, "media_type": T, "offset": O, "size": S, "data": BASE64}
 * cut so that one posted item stays under the platform's 1 MB stream chunk limit; seq counts
 * the job's items from 0 and offset places the bytes in the object, so a client rebuilds the
 * file by concatenating the data of the items in seq order. After the job, a last item
 * {"seq": N, "result": OUTPUT} carries the job's result. Items go to a sink, in order, on the
 * job's thread. */
#ifndef RP_CHUNK_STREAM_H
#define RP_CHUNK_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <spark/engine.h>

/* Raw bytes per item: base64 makes them 4/3 larger, about 934 KiB, under 1 MB with the rest
 * of the item. SPARKHOST_RUNPOD_STREAM_PIECE_BYTES overrides it (tests). */
#define RP_STREAM_PIECE_BYTES (700u * 1024u)

/* Takes the item (frees it in any case). Returns 0 when it was delivered. */
typedef int (*rp_item_sink)(void *user, cJSON *item);

typedef struct rp_chunk_stream {
    rp_item_sink sink;
    void *user;
    size_t piece_bytes;  /* 0: RP_STREAM_PIECE_BYTES or the environment's */
    uint64_t next_seq;
    bool failed;         /* an item could not be delivered: the job was failed */
} rp_chunk_stream;

/* A spark_chunk_fn; user is an rp_chunk_stream. */
int rp_chunk_stream_take(void *user, const spark_chunk *chunk);

/* The last item, {"seq": N, "result": copy of output}, numbered after the others. */
cJSON *rp_chunk_stream_result_item(rp_chunk_stream *stream, const cJSON *output);

#endif
