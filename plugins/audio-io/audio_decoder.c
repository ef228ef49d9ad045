#include "audio_decoder.h"

#include <stdlib.h>
#include <string.h>

#include "sndfile_memory.h"

/* Frames per sf_readf_float call; bounds the interleaved scratch buffer. */
#define DECODER_BLOCK_FRAMES 4096u

struct audio_decoder {
    sndfile_memory file; /* the virtual file libsndfile reads from */
    SNDFILE *handle;
    SF_INFO info;
    audio_channel_mode mode;
    uint32_t output_channels;
    float *interleaved; /* [DECODER_BLOCK_FRAMES * info.channels] */
};

int audio_channel_mode_from_name(const char *name, audio_channel_mode *out_mode)
{
    static const struct {
        const char *name;
        audio_channel_mode mode;
    } modes[] = { { "keep", AUDIO_CHANNELS_KEEP },
                  { "mix", AUDIO_CHANNELS_MIX },
                  { "first", AUDIO_CHANNELS_FIRST } };
    for (size_t i = 0; name && i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(name, modes[i].name) == 0) {
            *out_mode = modes[i].mode;
            return 1;
        }
    }
    return 0;
}

audio_status audio_decoder_open(const uint8_t *bytes, size_t size, audio_channel_mode mode,
                                audio_decoder **out_decoder, char *message,
                                size_t message_capacity)
{
    *out_decoder = NULL;
    if (size == 0) {
        audio_message(message, message_capacity, "the data is empty");
        return AUDIO_ERR_INVALID_DATA;
    }
    audio_decoder *decoder = calloc(1, sizeof(*decoder));
    if (!decoder) {
        audio_message(message, message_capacity, "out of memory");
        return AUDIO_ERR_NO_MEMORY;
    }
    decoder->mode = mode;
    decoder->handle = sndfile_memory_open_read(&decoder->file, bytes, size, &decoder->info,
                                               message, message_capacity);
    if (!decoder->handle) {
        free(decoder);
        return AUDIO_ERR_INVALID_DATA;
    }
    const SF_INFO *info = &decoder->info;
    if (info->channels < 1 || (uint32_t)info->channels > PLANAR_BUFFER_MAX_CHANNELS ||
        info->samplerate < 1) {
        audio_message(message, message_capacity, "unusable stream: %d Hz, %d channel(s)",
                      info->samplerate, info->channels);
        audio_decoder_close(decoder);
        return AUDIO_ERR_INVALID_DATA;
    }
    decoder->output_channels = mode == AUDIO_CHANNELS_KEEP ? (uint32_t)info->channels : 1u;
    decoder->interleaved = malloc((size_t)DECODER_BLOCK_FRAMES * (size_t)info->channels *
                                  sizeof(float));
    if (!decoder->interleaved) {
        audio_message(message, message_capacity, "out of memory");
        audio_decoder_close(decoder);
        return AUDIO_ERR_NO_MEMORY;
    }
    *out_decoder = decoder;
    return AUDIO_OK;
}

uint32_t audio_decoder_rate(const audio_decoder *decoder)
{
    return (uint32_t)decoder->info.samplerate;
}

uint32_t audio_decoder_channels(const audio_decoder *decoder)
{
    return decoder->output_channels;
}

uint32_t audio_decoder_source_channels(const audio_decoder *decoder)
{
    return (uint32_t)decoder->info.channels;
}

/* Spread frames of interleaved samples into out's planes after out->frames, applying the
 * channel mode. out has room. */
static void deinterleave(const audio_decoder *decoder, const float *interleaved,
                         uint64_t frames, planar_buffer *out)
{
    const uint32_t channels = (uint32_t)decoder->info.channels;
    const uint64_t start = out->frames;
    switch (decoder->mode) {
    case AUDIO_CHANNELS_KEEP:
        for (uint32_t channel = 0; channel < channels; channel++) {
            float *plane = out->planes[channel] + start;
            for (uint64_t frame = 0; frame < frames; frame++)
                plane[frame] = interleaved[frame * channels + channel];
        }
        break;
    case AUDIO_CHANNELS_MIX: {
        float *plane = out->planes[0] + start;
        const float scale = 1.0f / (float)channels;
        for (uint64_t frame = 0; frame < frames; frame++) {
            float sum = 0.0f;
            for (uint32_t channel = 0; channel < channels; channel++)
                sum += interleaved[frame * channels + channel];
            plane[frame] = sum * scale;
        }
        break;
    }
    case AUDIO_CHANNELS_FIRST: {
        float *plane = out->planes[0] + start;
        for (uint64_t frame = 0; frame < frames; frame++)
            plane[frame] = interleaved[frame * channels];
        break;
    }
    }
    out->frames += frames;
}

audio_status audio_decoder_read(audio_decoder *decoder, planar_buffer *out,
                                uint64_t max_frames, uint64_t *out_frames, char *message,
                                size_t message_capacity)
{
    *out_frames = 0;
    if (out->channels != decoder->output_channels) {
        audio_message(message, message_capacity,
                      "output buffer has %u channel(s), the decoder gives %u", out->channels,
                      decoder->output_channels);
        return AUDIO_ERR_INVALID_ARGUMENT;
    }
    while (*out_frames < max_frames) {
        uint64_t want = max_frames - *out_frames;
        if (want > DECODER_BLOCK_FRAMES)
            want = DECODER_BLOCK_FRAMES;
        if (want > UINT64_MAX - out->frames)
            return AUDIO_ERR_NO_MEMORY;
        audio_status status = planar_buffer_reserve(out, out->frames + want);
        if (status != AUDIO_OK) {
            audio_message(message, message_capacity, "out of memory");
            return status;
        }
        sf_count_t got = sf_readf_float(decoder->handle, decoder->interleaved, (sf_count_t)want);
        if (got < 0 || (uint64_t)got > want) {
            audio_message(message, message_capacity, "%s", sf_strerror(decoder->handle));
            return AUDIO_ERR_CODEC;
        }
        if (got == 0) {
            /* End of file, or a decoding error in the middle of it. */
            if (sf_error(decoder->handle) != SF_ERR_NO_ERROR) {
                audio_message(message, message_capacity, "%s", sf_strerror(decoder->handle));
                return AUDIO_ERR_INVALID_DATA;
            }
            break;
        }
        deinterleave(decoder, decoder->interleaved, (uint64_t)got, out);
        *out_frames += (uint64_t)got;
    }
    return AUDIO_OK;
}

void audio_decoder_close(audio_decoder *decoder)
{
    if (!decoder)
        return;
    if (decoder->handle)
        sf_close(decoder->handle);
    free(decoder->interleaved);
    free(decoder);
}
