/* Status codes and message formatting shared by the SDK-free audio library files
 * (sndfile_memory, audio_decoder, audio_encoder, resampler, planar_buffer). The node glue
 * maps them to spark_status. */
#ifndef AUDIO_IO_AUDIO_STATUS_H
#define AUDIO_IO_AUDIO_STATUS_H

#include <stddef.h>

typedef enum audio_status {
    AUDIO_OK = 0,
    AUDIO_ERR_INVALID_DATA = -1,     /* input bytes are not decodable audio */
    AUDIO_ERR_INVALID_ARGUMENT = -2, /* a setting or argument is out of range */
    AUDIO_ERR_UNSUPPORTED = -3,      /* valid request the codec cannot do (rate, channels) */
    AUDIO_ERR_FORMAT_MISMATCH = -4,  /* audio does not match what was set up */
    AUDIO_ERR_NO_MEMORY = -5,
    AUDIO_ERR_CODEC = -6             /* libsndfile or libsamplerate failed mid-way */
} audio_status;

/* snprintf into message[capacity] when message is not NULL; always NUL-terminates. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 3, 4)))
#endif
void audio_message(char *message, size_t capacity, const char *format, ...);

#endif
