/* Streaming sample-rate and channel-count conversion of float32 planar audio with the full
 * libsamplerate API. One resampler per stream; never share one between threads. No SDK
 * dependency.
 *
 * Channel rules: output_channels equal to the input's keeps them; 1 averages all input
 * channels; N > 1 from mono duplicates the channel; anything else is unsupported.
 * When the rates are equal the samples are passed through bit for bit (after the channel
 * rule), without libsamplerate. */
#ifndef AUDIO_IO_RESAMPLER_H
#define AUDIO_IO_RESAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "audio_status.h"
#include "planar_buffer.h"

typedef enum resampler_quality {
    RESAMPLER_QUALITY_BEST = 0,   /* SRC_SINC_BEST_QUALITY */
    RESAMPLER_QUALITY_MEDIUM = 1, /* SRC_SINC_MEDIUM_QUALITY */
    RESAMPLER_QUALITY_FASTEST = 2 /* SRC_SINC_FASTEST */
} resampler_quality;

/* Parse "best", "medium", "fastest"; returns 0 for anything else. */
int resampler_quality_from_name(const char *name, resampler_quality *out_quality);

typedef struct resampler resampler;

/* output_channels 0 keeps the input's channel count. */
audio_status resampler_create(uint32_t input_rate, uint32_t input_channels, uint32_t output_rate,
                              uint32_t output_channels, resampler_quality quality,
                              resampler **out_resampler, char *message,
                              size_t message_capacity);

uint32_t resampler_output_channels(const resampler *converter);
int resampler_is_passthrough(const resampler *converter);

/* Convert planes[input_channels][frames] and append whatever output is ready to out
 * (initialised with resampler_output_channels channels). The sinc converters hold back a
 * short delay line, so early calls give fewer frames than frames * ratio. */
audio_status resampler_process(resampler *converter, const float *const *planes,
                               uint64_t frames, planar_buffer *out, char *message,
                               size_t message_capacity);

/* End of input: append the held-back tail. Afterwards the resampler takes no more input. */
audio_status resampler_finish(resampler *converter, planar_buffer *out, char *message,
                              size_t message_capacity);

void resampler_destroy(resampler *converter);

#endif
