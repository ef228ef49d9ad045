/* Refcounted packets: one aligned allocation holds the header and the payload, so a packet
 * is made and freed in one call. Payloads are 64-byte aligned for vector kernels. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define PACKET_ALIGN 64u

typedef struct packet_block {
    spark_packet pub;       /* first, so a spark_packet pointer is a block pointer */
    atomic_uint refs;
} packet_block;

static size_t round_up(size_t n)
{
    return (n + PACKET_ALIGN - 1) & ~(size_t)(PACKET_ALIGN - 1);
}

/* Sums sizes with overflow checks; false when the total does not fit. */
static bool add_size(size_t *total, size_t more)
{
    if (more > SIZE_MAX - PACKET_ALIGN || *total > SIZE_MAX - round_up(more))
        return false;
    *total += round_up(more);
    return true;
}

static packet_block *block_new(int32_t kind, size_t payload, char **out_payload)
{
    size_t header = round_up(sizeof(packet_block));
    size_t total = header;
    if (!add_size(&total, payload))
        return NULL;
    packet_block *b = aligned_alloc(PACKET_ALIGN, total);
    if (!b)
        return NULL;
    memset(b, 0, total);
    b->pub.struct_size = sizeof(spark_packet);
    b->pub.kind = kind;
    b->pub.host_data = b;
    atomic_init(&b->refs, 1);
    *out_payload = (char *)b + header;
    return b;
}

/* Copies s into the payload cursor and advances it. */
static const char *place_string(char **cursor, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char *dst = *cursor;
    if (n)
        memcpy(dst, s, n);
    dst[n] = '\0';
    *cursor += round_up(n + 1);
    return dst;
}

static size_t string_room(const char *s)
{
    return round_up((s ? strlen(s) : 0) + 1);
}

static spark_packet *make_text(const spark_host *host, const char *utf8, uint64_t length,
                               int64_t offset)
{
    (void)host;
    if (length > SIZE_MAX / 2)
        return NULL;
    char *payload;
    packet_block *b = block_new(SPARK_KIND_TEXT, (size_t)length + 1, &payload);
    if (!b)
        return NULL;
    if (length)
        memcpy(payload, utf8, (size_t)length);
    payload[length] = '\0';
    b->pub.data.text = (spark_text_data){payload, length, offset};
    return &b->pub;
}

static spark_packet *make_tokens(const spark_host *host, uint64_t count, const char *vocabulary)
{
    (void)host;
    if (count > SIZE_MAX / 8)
        return NULL;
    char *payload;
    size_t ids = round_up((size_t)count * sizeof(int32_t));
    packet_block *b = block_new(SPARK_KIND_TOKENS, ids + string_room(vocabulary), &payload);
    if (!b)
        return NULL;
    char *cursor = payload + ids;
    b->pub.data.tokens = (spark_tokens_data){(int32_t *)(void *)payload, count,
                                             place_string(&cursor, vocabulary)};
    return &b->pub;
}

static spark_packet *make_codes(const spark_host *host, uint64_t n_semantic, uint64_t n_global,
                                const char *codec, double frame_rate)
{
    (void)host;
    if (n_semantic > SIZE_MAX / 8 || n_global > SIZE_MAX / 8)
        return NULL;
    size_t sem = round_up((size_t)n_semantic * sizeof(int32_t));
    size_t glo = round_up((size_t)n_global * sizeof(int32_t));
    size_t total = 0;
    if (!add_size(&total, sem) || !add_size(&total, glo) || !add_size(&total, string_room(codec)))
        return NULL;
    char *payload;
    packet_block *b = block_new(SPARK_KIND_CODES, total, &payload);
    if (!b)
        return NULL;
    char *cursor = payload + sem + glo;
    b->pub.data.codes = (spark_codes_data){
        (int32_t *)(void *)payload, n_semantic, (int32_t *)(void *)(payload + sem), n_global,
        place_string(&cursor, codec), frame_rate};
    return &b->pub;
}

static spark_packet *make_audio(const spark_host *host, uint32_t channels, uint64_t frames,
                                uint32_t rate)
{
    (void)host;
    if (channels == 0 || channels > 1024 || frames > SIZE_MAX / sizeof(float) / 2)
        return NULL;
    size_t plane = round_up((size_t)frames * sizeof(float));
    size_t pointers = round_up(channels * sizeof(float *));
    if (plane && channels > (SIZE_MAX - pointers) / plane)
        return NULL;
    char *payload;
    packet_block *b = block_new(SPARK_KIND_AUDIO, pointers + plane * channels, &payload);
    if (!b)
        return NULL;
    float **planes = (float **)(void *)payload;
    for (uint32_t c = 0; c < channels; c++)
        planes[c] = (float *)(void *)(payload + pointers + plane * c);
    b->pub.data.audio = (spark_audio_data){planes, frames, channels, rate, 0};
    return &b->pub;
}

static spark_packet *make_timing(const spark_host *host, const spark_timing_item *items,
                                 uint64_t count)
{
    (void)host;
    if (count > SIZE_MAX / sizeof(spark_timing_item) / 2)
        return NULL;
    size_t total = 0;
    if (!add_size(&total, (size_t)count * sizeof(spark_timing_item)))
        return NULL;
    for (uint64_t i = 0; i < count; i++)
        if (!add_size(&total, string_room(items[i].text)))
            return NULL;
    char *payload;
    packet_block *b = block_new(SPARK_KIND_TIMING, total, &payload);
    if (!b)
        return NULL;
    spark_timing_item *copy = (spark_timing_item *)(void *)payload;
    char *cursor = payload + round_up((size_t)count * sizeof(spark_timing_item));
    for (uint64_t i = 0; i < count; i++) {
        copy[i] = items[i];
        copy[i].text = place_string(&cursor, items[i].text);
    }
    b->pub.data.timing = (spark_timing_data){copy, count};
    return &b->pub;
}

static spark_packet *make_blob(const spark_host *host, uint64_t size, const char *media_type,
                               const char *file_name)
{
    (void)host;
    if (size > SIZE_MAX / 2)
        return NULL;
    size_t total = 0;
    if (!add_size(&total, (size_t)size) || !add_size(&total, string_room(media_type)) ||
        !add_size(&total, string_room(file_name)))
        return NULL;
    char *payload;
    packet_block *b = block_new(SPARK_KIND_BLOB, total, &payload);
    if (!b)
        return NULL;
    char *cursor = payload + round_up((size_t)size);
    const char *media = place_string(&cursor, media_type ? media_type : "application/octet-stream");
    const char *name = place_string(&cursor, file_name);
    b->pub.data.blob = (spark_blob_data){(uint8_t *)payload, size, media, name};
    return &b->pub;
}

static spark_packet *make_value(const spark_host *host, const char *name, int32_t type,
                                const char *text, double number)
{
    (void)host;
    size_t total = 0;
    if (!add_size(&total, string_room(name)) || !add_size(&total, string_room(text)))
        return NULL;
    char *payload;
    packet_block *b = block_new(SPARK_KIND_VALUE, total, &payload);
    if (!b)
        return NULL;
    char *cursor = payload;
    const char *n = place_string(&cursor, name);
    const char *t = place_string(&cursor, text);
    b->pub.data.value = (spark_value_data){n, type, 0, t, number};
    return &b->pub;
}

static const spark_packet *packet_retain(const spark_packet *packet)
{
    if (packet)
        atomic_fetch_add(&((packet_block *)packet->host_data)->refs, 1);
    return packet;
}

static void packet_release(const spark_packet *packet)
{
    if (!packet)
        return;
    packet_block *b = packet->host_data;
    if (atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

const spark_ext_alloc sp_ext_alloc = {
    .struct_size = sizeof(spark_ext_alloc),
    .text = make_text,
    .tokens = make_tokens,
    .codes = make_codes,
    .audio = make_audio,
    .timing = make_timing,
    .blob = make_blob,
    .value = make_value,
    .retain = packet_retain,
    .release = packet_release,
};
