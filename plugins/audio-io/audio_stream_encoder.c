#include "audio_stream_encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

#include "planar_buffer.h"
#include "sndfile_memory.h"

/* Bytes libsndfile has written past the part already handed out. A write behind that point
 * (a header rewritten at close) cannot reach a reader any more: it is dropped and noted. */
typedef struct stream_sink {
    uint8_t *pending;
    size_t pending_size;
    size_t pending_capacity;
    sf_count_t taken;    /* file offset where pending starts */
    sf_count_t position;
    sf_count_t length;
    int rewrote_taken;
    int out_of_memory;
} stream_sink;

struct audio_stream_encoder {
    audio_encode_settings settings;
    uint32_t channels;
    SNDFILE *handle;
    stream_sink sink;
    uint64_t bytes_taken;
    int finished;
    /* Vorbis: frames waiting for a whole block, so its input is cut as audio_encode cuts
     * it and the encoded samples come out the same. */
    int whole_blocks;
    planar_buffer waiting;
};

static stream_sink *sink_of(void *user_data)
{
    return user_data;
}

static sf_count_t sink_get_filelen(void *user_data)
{
    return sink_of(user_data)->length;
}

static sf_count_t sink_seek(sf_count_t offset, int whence, void *user_data)
{
    stream_sink *sink = sink_of(user_data);
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? sink->position : sink->length;
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END)
        return -1;
    if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0)
        return -1;
    sink->position = base + offset;
    return sink->position;
}

/* Only bytes not handed out yet can be read back. */
static sf_count_t sink_read(void *ptr, sf_count_t count, void *user_data)
{
    stream_sink *sink = sink_of(user_data);
    if (count <= 0 || sink->position < sink->taken || sink->position >= sink->length)
        return 0;
    sf_count_t at = sink->position - sink->taken;
    sf_count_t available = (sf_count_t)sink->pending_size - at;
    sf_count_t n = count < available ? count : available;
    if (n <= 0)
        return 0;
    memcpy(ptr, sink->pending + at, (size_t)n);
    sink->position += n;
    return n;
}

static int sink_reserve(stream_sink *sink, size_t needed)
{
    if (needed <= sink->pending_capacity)
        return 1;
    size_t capacity = sink->pending_capacity ? sink->pending_capacity : 16384;
    while (capacity < needed) {
        if (capacity > SIZE_MAX / 2)
            return 0;
        capacity *= 2;
    }
    uint8_t *grown = realloc(sink->pending, capacity);
    if (!grown)
        return 0;
    sink->pending = grown;
    sink->pending_capacity = capacity;
    return 1;
}

static sf_count_t sink_write(const void *ptr, sf_count_t count, void *user_data)
{
    stream_sink *sink = sink_of(user_data);
    if (count <= 0)
        return 0;
    const uint8_t *bytes = ptr;
    sf_count_t start = sink->position, skip = 0;
    if (start < sink->taken) {
        sink->rewrote_taken = 1;
        skip = sink->taken - start < count ? sink->taken - start : count;
    }
    if (skip < count) {
        size_t at = (size_t)(start + skip - sink->taken);
        size_t n = (size_t)(count - skip);
        if (at > SIZE_MAX - n || !sink_reserve(sink, at + n)) {
            sink->out_of_memory = 1;
            return 0;
        }
        if (at > sink->pending_size)
            memset(sink->pending + sink->pending_size, 0, at - sink->pending_size);
        memcpy(sink->pending + at, bytes + skip, n);
        if (at + n > sink->pending_size)
            sink->pending_size = at + n;
    }
    sink->position = start + count;
    if (sink->position > sink->length)
        sink->length = sink->position;
    return count;
}

static sf_count_t sink_tell(void *user_data)
{
    return sink_of(user_data)->position;
}

audio_status audio_stream_check_settings(const audio_encode_settings *settings, char *message,
                                         size_t message_capacity)
{
    audio_status status = audio_encode_check_settings(settings, message, message_capacity);
    if (status != AUDIO_OK)
        return status;
    if (settings->format == AUDIO_FILE_MP3) {
        audio_message(message, message_capacity,
                      "mp3 cannot be streamed (its encoder rewrites the start of the file when "
                      "it ends); stream wav, pcm, flac, ogg or opus");
        return AUDIO_ERR_UNSUPPORTED;
    }
    return AUDIO_OK;
}

static void put_le(uint8_t *at, uint32_t value, int bytes)
{
    for (int i = 0; i < bytes; i++)
        at[i] = (uint8_t)(value >> (8 * i));
}

/* RIFF/WAVE with a 16-byte fmt chunk, RIFF and data sizes unknown (0xFFFFFFFF). */
static audio_status queue_wav_header(stream_sink *sink, const audio_encode_settings *settings,
                                     uint32_t rate, uint32_t channels)
{
    uint32_t bits = settings->sample_format == AUDIO_SAMPLE_PCM24 ? 24
                    : settings->sample_format == AUDIO_SAMPLE_FLOAT ? 32
                                                                    : 16;
    uint32_t block_align = channels * bits / 8;
    uint8_t header[44];
    memcpy(header, "RIFF", 4);
    put_le(header + 4, 0xFFFFFFFFu, 4);
    memcpy(header + 8, "WAVEfmt ", 8);
    put_le(header + 16, 16, 4);
    put_le(header + 20, settings->sample_format == AUDIO_SAMPLE_FLOAT ? 3 : 1, 2);
    put_le(header + 22, channels, 2);
    put_le(header + 24, rate, 4);
    put_le(header + 28, rate * block_align, 4);
    put_le(header + 32, block_align, 2);
    put_le(header + 34, bits, 2);
    memcpy(header + 36, "data", 4);
    put_le(header + 40, 0xFFFFFFFFu, 4);
    /* The header is not part of what libsndfile writes: it goes first, outside its offsets. */
    if (!sink_reserve(sink, sizeof(header)))
        return AUDIO_ERR_NO_MEMORY;
    memcpy(sink->pending, header, sizeof(header));
    sink->pending_size = sizeof(header);
    sink->taken = -(sf_count_t)sizeof(header);
    return AUDIO_OK;
}

audio_status audio_stream_encoder_open(const audio_encode_settings *settings, uint32_t rate,
                                       uint32_t channels, audio_stream_encoder **out_encoder,
                                       char *message, size_t message_capacity)
{
    *out_encoder = NULL;
    audio_status status = audio_stream_check_settings(settings, message, message_capacity);
    if (status == AUDIO_OK)
        status = audio_encode_check_stream(settings, rate, channels, message, message_capacity);
    if (status != AUDIO_OK)
        return status;
    if (settings->format == AUDIO_FILE_WAV && (uint64_t)rate * channels * 4 > UINT32_MAX) {
        audio_message(message, message_capacity, "a WAV header cannot describe %u Hz with %u "
                      "channel(s)", rate, channels);
        return AUDIO_ERR_UNSUPPORTED;
    }
    audio_stream_encoder *encoder = calloc(1, sizeof(*encoder));
    if (!encoder) {
        audio_message(message, message_capacity, "out of memory");
        return AUDIO_ERR_NO_MEMORY;
    }
    encoder->settings = *settings;
    encoder->channels = channels;
    encoder->whole_blocks = settings->format == AUDIO_FILE_OGG_VORBIS;
    if (encoder->whole_blocks && planar_buffer_init(&encoder->waiting, channels) != AUDIO_OK) {
        audio_stream_encoder_free(encoder);
        audio_message(message, message_capacity, "out of memory");
        return AUDIO_ERR_NO_MEMORY;
    }
    /* WAV: libsndfile writes the samples as raw data (the same conversion it uses inside a
     * WAV file) after a header that needs no later fix-up. */
    audio_encode_settings sndfile_settings = *settings;
    if (settings->format == AUDIO_FILE_WAV) {
        sndfile_settings.format = AUDIO_FILE_PCM;
        if (queue_wav_header(&encoder->sink, settings, rate, channels) != AUDIO_OK) {
            audio_stream_encoder_free(encoder);
            audio_message(message, message_capacity, "out of memory");
            return AUDIO_ERR_NO_MEMORY;
        }
    }
    SF_INFO info;
    memset(&info, 0, sizeof(info));
    info.samplerate = (int)rate;
    info.channels = (int)channels;
    info.format = audio_encode_sndfile_format(&sndfile_settings);
    const char *format = audio_file_format_name(settings->format);
    if (!sf_format_check(&info)) {
        audio_stream_encoder_free(encoder);
        audio_message(message, message_capacity,
                      "libsndfile cannot write %s (%s) at %u Hz with %u channel(s)", format,
                      audio_sample_format_name(settings->sample_format), rate, channels);
        return AUDIO_ERR_UNSUPPORTED;
    }
    SF_VIRTUAL_IO io = { sink_get_filelen, sink_seek, sink_read, sink_write, sink_tell };
    char reason[256];
    encoder->handle = sndfile_open_virtual_serialised(&io, SFM_WRITE, &info, &encoder->sink,
                                                      reason, sizeof(reason));
    if (!encoder->handle) {
        audio_stream_encoder_free(encoder);
        audio_message(message, message_capacity,
                      "cannot start a streaming %s encoder for %u Hz, %u channel(s): %s", format,
                      rate, channels, reason);
        return AUDIO_ERR_UNSUPPORTED;
    }
    status = audio_encode_configure_handle(encoder->handle, &sndfile_settings, message,
                                           message_capacity);
    if (status != AUDIO_OK) {
        audio_stream_encoder_free(encoder);
        return status;
    }
    *out_encoder = encoder;
    return AUDIO_OK;
}

static audio_status check_sink(audio_stream_encoder *encoder, char *message,
                               size_t message_capacity)
{
    if (encoder->sink.out_of_memory) {
        audio_message(message, message_capacity, "out of memory while encoding %s",
                      audio_file_format_name(encoder->settings.format));
        return AUDIO_ERR_NO_MEMORY;
    }
    return AUDIO_OK;
}

audio_status audio_stream_encoder_write(audio_stream_encoder *encoder, const float *const *planes,
                                        uint64_t frames, char *message,
                                        size_t message_capacity)
{
    if (encoder->finished) {
        audio_message(message, message_capacity, "the streamed file is already finished");
        return AUDIO_ERR_INVALID_ARGUMENT;
    }
    if (!encoder->whole_blocks) {
        audio_status status = audio_encode_write_frames(encoder->handle, planes,
                                                        encoder->channels, frames, message,
                                                        message_capacity);
        return status != AUDIO_OK ? status : check_sink(encoder, message, message_capacity);
    }
    planar_buffer *waiting = &encoder->waiting;
    if (planar_buffer_append(waiting, planes, frames) != AUDIO_OK) {
        audio_message(message, message_capacity, "out of memory");
        return AUDIO_ERR_NO_MEMORY;
    }
    uint64_t whole = waiting->frames - waiting->frames % AUDIO_ENCODE_BLOCK_FRAMES;
    if (whole == 0)
        return AUDIO_OK;
    audio_status status = audio_encode_write_frames(encoder->handle,
                                                    (const float *const *)waiting->planes,
                                                    encoder->channels, whole, message,
                                                    message_capacity);
    if (status != AUDIO_OK)
        return status;
    uint64_t rest = waiting->frames - whole;
    for (uint32_t c = 0; c < encoder->channels; c++)
        memmove(waiting->planes[c], waiting->planes[c] + whole, (size_t)rest * sizeof(float));
    waiting->frames = rest;
    return check_sink(encoder, message, message_capacity);
}

audio_status audio_stream_encoder_finish(audio_stream_encoder *encoder, char *message,
                                         size_t message_capacity)
{
    if (encoder->finished)
        return AUDIO_OK;
    if (encoder->whole_blocks && encoder->waiting.frames) {
        audio_status status = audio_encode_write_frames(
            encoder->handle, (const float *const *)encoder->waiting.planes, encoder->channels,
            encoder->waiting.frames, message, message_capacity);
        if (status != AUDIO_OK)
            return status;
        encoder->waiting.frames = 0;
    }
    encoder->finished = 1;
    int close_error = sf_close(encoder->handle);
    encoder->handle = NULL;
    audio_status status = check_sink(encoder, message, message_capacity);
    if (status == AUDIO_OK && close_error != SF_ERR_NO_ERROR) {
        audio_message(message, message_capacity, "finishing the streamed %s file failed: %s",
                      audio_file_format_name(encoder->settings.format),
                      sf_error_number(close_error));
        status = AUDIO_ERR_CODEC;
    }
    /* FLAC rewrites its STREAMINFO at the end; the streamed copy keeps "length unknown",
     * which decoders accept. Any other format must never rewrite what was handed out. */
    if (status == AUDIO_OK && encoder->sink.rewrote_taken &&
        encoder->settings.format != AUDIO_FILE_FLAC) {
        audio_message(message, message_capacity,
                      "the %s encoder rewrote bytes that were already streamed",
                      audio_file_format_name(encoder->settings.format));
        status = AUDIO_ERR_CODEC;
    }
    return status;
}

audio_status audio_stream_encoder_take(audio_stream_encoder *encoder, uint8_t **out_bytes,
                                       size_t *out_size)
{
    stream_sink *sink = &encoder->sink;
    *out_bytes = NULL;
    *out_size = 0;
    /* Until the end, libsndfile may still go back over the last bytes it wrote (headers are
     * written in place): only what lies before its current position is final. */
    size_t ready = sink->pending_size;
    if (!encoder->finished) {
        sf_count_t final_end = sink->position - sink->taken;
        if (final_end < 0)
            final_end = 0;
        if ((size_t)final_end < ready)
            ready = (size_t)final_end;
    }
    if (ready == 0)
        return AUDIO_OK;
    uint8_t *bytes = malloc(ready);
    if (!bytes)
        return AUDIO_ERR_NO_MEMORY;
    memcpy(bytes, sink->pending, ready);
    memmove(sink->pending, sink->pending + ready, sink->pending_size - ready);
    sink->pending_size -= ready;
    sink->taken += (sf_count_t)ready;
    encoder->bytes_taken += ready;
    *out_bytes = bytes;
    *out_size = ready;
    return AUDIO_OK;
}

uint64_t audio_stream_encoder_bytes(const audio_stream_encoder *encoder)
{
    return encoder->bytes_taken;
}

void audio_stream_encoder_free(audio_stream_encoder *encoder)
{
    if (!encoder)
        return;
    if (encoder->handle)
        sf_close(encoder->handle);
    free(encoder->sink.pending);
    if (encoder->whole_blocks)
        planar_buffer_free(&encoder->waiting);
    free(encoder);
}
