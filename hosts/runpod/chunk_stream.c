/* Engine chunks to base64 stream items. */
#include "chunk_stream.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static size_t piece_bytes(rp_chunk_stream *s)
{
    if (!s->piece_bytes) {
        const char *env = getenv("SPARKHOST_RUNPOD_STREAM_PIECE_BYTES");
        long n = env ? strtol(env, NULL, 10) : 0;
        s->piece_bytes = n > 0 && n <= (long)RP_STREAM_PIECE_BYTES ? (size_t)n
                                                                   : RP_STREAM_PIECE_BYTES;
    }
    return s->piece_bytes;
}

static char *base64(const unsigned char *bytes, size_t size)
{
    char *text = malloc(4 * ((size + 2) / 3) + 1);
    if (text)
        EVP_EncodeBlock((unsigned char *)text, bytes, (int)size);
    return text;
}

int rp_chunk_stream_take(void *user, const spark_chunk *chunk)
{
    rp_chunk_stream *s = user;
    const unsigned char *bytes = chunk->bytes;
    size_t step = piece_bytes(s);
    for (size_t done = 0; done < chunk->size; done += step) {
        size_t n = chunk->size - done < step ? chunk->size - done : step;
        char *data = base64(bytes + done, n);
        cJSON *item = cJSON_CreateObject();
        if (!data || !item) {
            free(data);
            cJSON_Delete(item);
            s->failed = true;
            return -1;
        }
        cJSON_AddNumberToObject(item, "seq", (double)s->next_seq);
        cJSON_AddStringToObject(item, "node", chunk->node_id);
        cJSON_AddStringToObject(item, "media_type", chunk->media_type);
        cJSON_AddNumberToObject(item, "offset", (double)(chunk->offset + done));
        cJSON_AddNumberToObject(item, "size", (double)n);
        cJSON_AddStringToObject(item, "data", data);
        free(data);
        s->next_seq++;
        if (s->sink(s->user, item) != 0) {
            s->failed = true;
            return -1;
        }
    }
    return 0;
}

cJSON *rp_chunk_stream_result_item(rp_chunk_stream *stream, const cJSON *output)
{
    cJSON *item = cJSON_CreateObject();
    if (!item)
        return NULL;
    cJSON_AddNumberToObject(item, "seq", (double)stream->next_seq++);
    cJSON_AddItemToObject(item, "result",
                          output ? cJSON_Duplicate(output, true) : cJSON_CreateObject());
    return item;
}
