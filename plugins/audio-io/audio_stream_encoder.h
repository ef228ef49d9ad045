/* Encode float32 planar audio into a file that is handed out piece by piece while it is
 * written, for formats that can be played while they are written: WAV with a streaming
 * header (RIFF and data sizes 0xFFFFFFFF, as written to pipes), raw PCM, FLAC (its
 * STREAMINFO keeps "length unknown": the final rewrite of it needs a seek back) and
 * OGG/Vorbis or OGG/Opus. MP3 is refused. The samples are converted by libsndfile exactly as
 * audio_encode converts them, so decoding the pieces gives the non-streamed file's samples.
 * No SDK dependency. */
#ifndef AUDIO_IO_AUDIO_STREAM_ENCODER_H
#define AUDIO_IO_AUDIO_STREAM_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "audio_encoder.h"
#include "audio_status.h"

typedef struct audio_stream_encoder audio_stream_encoder;

/* Whether the format can stream; otherwise AUDIO_ERR_UNSUPPORTED and a reason. */
audio_status audio_stream_check_settings(const audio_encode_settings *settings, char *message,
                                         size_t message_capacity);

/* Starts a file for audio of rate and channels. Its first bytes (a header) may already be
 * waiting for audio_stream_encoder_take. */
audio_status audio_stream_encoder_open(const audio_encode_settings *settings, uint32_t rate,
                                       uint32_t channels, audio_stream_encoder **out_encoder,
                                       char *message, size_t message_capacity);

/* Encodes planes[channels][frames]. */
audio_status audio_stream_encoder_write(audio_stream_encoder *encoder, const float *const *planes,
                                        uint64_t frames, char *message,
                                        size_t message_capacity);

/* Ends the file: the encoder's last bytes become ready. */
audio_status audio_stream_encoder_finish(audio_stream_encoder *encoder, char *message,
                                         size_t message_capacity);

/* The bytes that are final and not taken yet: *out_bytes (free()) of *out_size, or NULL/0. */
audio_status audio_stream_encoder_take(audio_stream_encoder *encoder, uint8_t **out_bytes,
                                       size_t *out_size);

/* Bytes handed out so far. */
uint64_t audio_stream_encoder_bytes(const audio_stream_encoder *encoder);

/* NULL-safe; an unfinished file is dropped. */
void audio_stream_encoder_free(audio_stream_encoder *encoder);

#endif
