#include "resampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <samplerate.h>

/* Frames handed to one src_process call, and output frames taken back per call. */
#define RESAMPLER_BLOCK_FRAMES 4096u

struct resampler {
    uint32_t input_rate;
    uint32_t output_rate;
    uint32_t input_channels;
    uint32_t output_channels;
    /* Channels that go through libsamplerate: 1 when mixing down or duplicating mono, else
     * the input's. Fewer channels through the converter means less work. */
    uint32_t work_channels;
    double ratio; /* output_rate / input_rate */
    SRC_STATE *state; /* NULL when passing through */
    float *input_block;  /* [RESAMPLER_BLOCK_FRAMES * work_channels] interleaved */
    float *output_block; /* [RESAMPLER_BLOCK_FRAMES * work_channels] interleaved */
    int finished;
    /* Frames in and out so far: the flush makes the total exactly round(in * ratio), which
     * libsamplerate alone misses by a frame now and then. */
    uint64_t frames_in;
    uint64_t frames_out;
};

int resampler_quality_from_name(const char *name, resampler_quality *out_quality)
{
    static const struct {
        const char *name;
        resampler_quality quality;
    } qualities[] = { { "best", RESAMPLER_QUALITY_BEST },
                      { "medium", RESAMPLER_QUALITY_MEDIUM },
                      { "fastest", RESAMPLER_QUALITY_FASTEST } };
    for (size_t i = 0; name && i < sizeof(qualities) / sizeof(qualities[0]); i++) {
        if (strcmp(name, qualities[i].name) == 0) {
            *out_quality = qualities[i].quality;
            return 1;
        }
    }
    return 0;
}

static int converter_type_of(resampler_quality quality)
{
    switch (quality) {
    case RESAMPLER_QUALITY_MEDIUM:
        return SRC_SINC_MEDIUM_QUALITY;
    case RESAMPLER_QUALITY_FASTEST:
        return SRC_SINC_FASTEST;
    case RESAMPLER_QUALITY_BEST:
        break;
    }
    return SRC_SINC_BEST_QUALITY;
}

audio_status resampler_create(uint32_t input_rate, uint32_t input_channels, uint32_t output_rate,
                              uint32_t output_channels, resampler_quality quality,
                              resampler **out_resampler, char *message,
                              size_t message_capacity)
{
    *out_resampler = NULL;
    if (input_rate == 0 || output_rate == 0) {
        audio_message(message, message_capacity, "sample rates must be positive (%u -> %u Hz)",
                      input_rate, output_rate);
        return AUDIO_ERR_INVALID_ARGUMENT;
    }
    if (output_channels == 0)
        output_channels = input_channels;
    if (input_channels == 0 || input_channels > PLANAR_BUFFER_MAX_CHANNELS ||
        output_channels > PLANAR_BUFFER_MAX_CHANNELS) {
        audio_message(message, message_capacity, "unsupported channel counts (%u -> %u)",
                      input_channels, output_channels);
        return AUDIO_ERR_INVALID_ARGUMENT;
    }
    if (output_channels != input_channels && output_channels != 1 && input_channels != 1) {
        audio_message(message, message_capacity,
                      "cannot map %u input channels to %u: use 1 (average), the input's own "
                      "count, or start from mono",
                      input_channels, output_channels);
        return AUDIO_ERR_UNSUPPORTED;
    }
    const double ratio = (double)output_rate / (double)input_rate;
    if (input_rate != output_rate && !src_is_valid_ratio(ratio)) {
        audio_message(message, message_capacity,
                      "cannot resample %u Hz to %u Hz: the ratio must lie within 1/256..256",
                      input_rate, output_rate);
        return AUDIO_ERR_UNSUPPORTED;
    }

    resampler *converter = calloc(1, sizeof(*converter));
    if (!converter) {
        audio_message(message, message_capacity, "out of memory");
        return AUDIO_ERR_NO_MEMORY;
    }
    converter->input_rate = input_rate;
    converter->output_rate = output_rate;
    converter->input_channels = input_channels;
    converter->output_channels = output_channels;
    converter->work_channels = output_channels == input_channels ? input_channels : 1u;
    converter->ratio = ratio;
    if (input_rate != output_rate) {
        int error = 0;
        converter->state = src_new(converter_type_of(quality), (int)converter->work_channels,
                                   &error);
        size_t block_samples = (size_t)RESAMPLER_BLOCK_FRAMES * converter->work_channels;
        converter->input_block = malloc(block_samples * sizeof(float));
        converter->output_block = malloc(block_samples * sizeof(float));
        if (!converter->state || !converter->input_block || !converter->output_block) {
            audio_message(message, message_capacity, "cannot create a resampler: %s",
                          converter->state ? "out of memory" : src_strerror(error));
            resampler_destroy(converter);
            return AUDIO_ERR_NO_MEMORY;
        }
    }
    *out_resampler = converter;
    return AUDIO_OK;
}

uint32_t resampler_output_channels(const resampler *converter)
{
    return converter->output_channels;
}

int resampler_is_passthrough(const resampler *converter)
{
    return converter->state == NULL;
}

/* Value of work channel `channel` at `frame`, after mixing down when that applies. */
static float work_sample(const resampler *converter, const float *const *planes,
                         uint32_t channel, uint64_t frame)
{
    if (converter->work_channels == converter->input_channels)
        return planes[channel][frame];
    float sum = 0.0f;
    for (uint32_t source = 0; source < converter->input_channels; source++)
        sum += planes[source][frame];
    return sum * (1.0f / (float)converter->input_channels);
}

/* Append frames of work-channel audio (interleaved, or planar when interleaved is NULL) to
 * out, duplicating a mono work channel when more output channels are wanted. */
static audio_status append_output(const resampler *converter, const float *interleaved,
                                  const float *const *planes, uint64_t frames,
                                  planar_buffer *out, char *message, size_t message_capacity)
{
    if (frames == 0)
        return AUDIO_OK;
    if (frames > UINT64_MAX - out->frames ||
        planar_buffer_reserve(out, out->frames + frames) != AUDIO_OK) {
        audio_message(message, message_capacity, "out of memory");
        return AUDIO_ERR_NO_MEMORY;
    }
    const uint32_t work = converter->work_channels;
    for (uint32_t channel = 0; channel < out->channels; channel++) {
        const uint32_t source = work == 1 ? 0 : channel;
        float *plane = out->planes[channel] + out->frames;
        for (uint64_t frame = 0; frame < frames; frame++)
            plane[frame] = interleaved ? interleaved[frame * work + source]
                                       : work_sample(converter, planes, source, frame);
    }
    out->frames += frames;
    return AUDIO_OK;
}

/* Run libsamplerate over input_frames interleaved frames of input_block (0 with
 * end_of_input to flush), appending every frame it produces. */
static audio_status run_converter(resampler *converter, uint64_t input_frames, int end_of_input,
                                  planar_buffer *out, char *message, size_t message_capacity)
{
    const uint32_t work = converter->work_channels;
    const float *input = converter->input_block;
    for (;;) {
        SRC_DATA data;
        memset(&data, 0, sizeof(data));
        data.data_in = input;
        data.input_frames = (long)input_frames;
        data.data_out = converter->output_block;
        data.output_frames = (long)RESAMPLER_BLOCK_FRAMES;
        data.end_of_input = end_of_input;
        data.src_ratio = converter->ratio;
        int error = src_process(converter->state, &data);
        if (error != 0) {
            audio_message(message, message_capacity, "libsamplerate failed: %s",
                          src_strerror(error));
            return AUDIO_ERR_CODEC;
        }
        if (data.input_frames_used < 0 || (uint64_t)data.input_frames_used > input_frames ||
            data.output_frames_gen < 0 || data.output_frames_gen > data.output_frames) {
            audio_message(message, message_capacity, "libsamplerate reported bad counts");
            return AUDIO_ERR_CODEC;
        }
        input += (size_t)data.input_frames_used * work;
        input_frames -= (uint64_t)data.input_frames_used;
        audio_status status = append_output(converter, converter->output_block, NULL,
                                            (uint64_t)data.output_frames_gen, out, message,
                                            message_capacity);
        if (status != AUDIO_OK)
            return status;
        converter->frames_out += (uint64_t)data.output_frames_gen;
        if (data.output_frames_gen == 0) {
            if (input_frames == 0)
                return AUDIO_OK; /* consumed, and nothing more comes out until more input */
            if (data.input_frames_used == 0) {
                /* Neither consumed nor produced: looping again would spin forever. */
                audio_message(message, message_capacity, "libsamplerate made no progress");
                return AUDIO_ERR_CODEC;
            }
        }
    }
}

audio_status resampler_process(resampler *converter, const float *const *planes,
                               uint64_t frames, planar_buffer *out, char *message,
                               size_t message_capacity)
{
    if (converter->finished) {
        audio_message(message, message_capacity, "input after the end of the stream");
        return AUDIO_ERR_INVALID_ARGUMENT;
    }
    if (out->channels != converter->output_channels) {
        audio_message(message, message_capacity,
                      "output buffer has %u channel(s), the resampler gives %u", out->channels,
                      converter->output_channels);
        return AUDIO_ERR_INVALID_ARGUMENT;
    }
    if (!converter->state)
        return append_output(converter, NULL, planes, frames, out, message, message_capacity);

    const uint32_t work = converter->work_channels;
    for (uint64_t start = 0; start < frames;) {
        uint64_t block = frames - start;
        if (block > RESAMPLER_BLOCK_FRAMES)
            block = RESAMPLER_BLOCK_FRAMES;
        for (uint64_t frame = 0; frame < block; frame++)
            for (uint32_t channel = 0; channel < work; channel++)
                converter->input_block[frame * work + channel] =
                    work_sample(converter, planes, channel, start + frame);
        audio_status status = run_converter(converter, block, 0, out, message,
                                            message_capacity);
        if (status != AUDIO_OK)
            return status;
        converter->frames_in += block;
        start += block;
    }
    return AUDIO_OK;
}

audio_status resampler_finish(resampler *converter, planar_buffer *out, char *message,
                              size_t message_capacity)
{
    if (converter->finished)
        return AUDIO_OK;
    converter->finished = 1;
    if (!converter->state)
        return AUDIO_OK;
    if (out->channels != converter->output_channels) {
        audio_message(message, message_capacity,
                      "output buffer has %u channel(s), the resampler gives %u", out->channels,
                      converter->output_channels);
        return AUDIO_ERR_INVALID_ARGUMENT;
    }
    audio_status status = run_converter(converter, 0, 1, out, message, message_capacity);
    if (status != AUDIO_OK)
        return status;
    /* Pad the tail with silence, or drop its surplus, to the exact length. */
    const uint64_t expected = (uint64_t)llround((double)converter->frames_in * converter->ratio);
    if (converter->frames_out < expected) {
        uint64_t missing = expected - converter->frames_out;
        if (planar_buffer_reserve(out, out->frames + missing) != AUDIO_OK) {
            audio_message(message, message_capacity, "out of memory");
            return AUDIO_ERR_NO_MEMORY;
        }
        for (uint32_t channel = 0; channel < out->channels; channel++)
            memset(out->planes[channel] + out->frames, 0, missing * sizeof(float));
        out->frames += missing;
    } else {
        uint64_t surplus = converter->frames_out - expected;
        out->frames -= surplus < out->frames ? surplus : out->frames;
    }
    converter->frames_out = expected;
    return AUDIO_OK;
}

void resampler_destroy(resampler *converter)
{
    if (!converter)
        return;
    if (converter->state)
        src_delete(converter->state);
    free(converter->input_block);
    free(converter->output_block);
    free(converter);
}
