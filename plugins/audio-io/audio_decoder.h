/* Decode encoded audio (WAV, FLAC, OGG/Vorbis, OGG/Opus, MP3, anything libsndfile reads)
 * from memory into float32 planar audio, piece by piece. No SDK dependency. */
#ifndef AUDIO_IO_AUDIO_DECODER_H
#define AUDIO_IO_AUDIO_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "audio_status.h"
#include "planar_buffer.h"

/* What to do with the file's channels. */
typedef enum audio_channel_mode {
    AUDIO_CHANNELS_KEEP = 0,  /* all channels as they are */
    AUDIO_CHANNELS_MIX = 1,   /* average all channels into one */
    AUDIO_CHANNELS_FIRST = 2  /* channel 0 only */
} audio_channel_mode;

/* Parse "keep", "mix", "first"; returns 0 for anything else. */
int audio_channel_mode_from_name(const char *name, audio_channel_mode *out_mode);

typedef struct audio_decoder audio_decoder;

/* Open bytes[size]; the bytes must stay valid and unchanged until audio_decoder_close.
 * Fails with AUDIO_ERR_INVALID_DATA and libsndfile's reason in message when the bytes are
 * not audio it can decode. */
audio_status audio_decoder_open(const uint8_t *bytes, size_t size, audio_channel_mode mode,
                                audio_decoder **out_decoder, char *message,
                                size_t message_capacity);

uint32_t audio_decoder_rate(const audio_decoder *decoder);

/* Channels of the decoded output (after the channel mode). */
uint32_t audio_decoder_channels(const audio_decoder *decoder);

/* Channels stored in the file. */
uint32_t audio_decoder_source_channels(const audio_decoder *decoder);

/* Decode up to max_frames more frames and append them to out (initialised with
 * audio_decoder_channels channels). *out_frames is the number appended; 0 means the end of
 * the file. */
audio_status audio_decoder_read(audio_decoder *decoder, planar_buffer *out,
                                uint64_t max_frames, uint64_t *out_frames, char *message,
                                size_t message_capacity);

void audio_decoder_close(audio_decoder *decoder);

#endif
