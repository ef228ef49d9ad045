/* Encode float32 planar audio into a complete file in memory (WAV, FLAC, OGG/Vorbis,
 * OGG/Opus, MP3) with libsndfile. No SDK dependency. */
#ifndef AUDIO_IO_AUDIO_ENCODER_H
#define AUDIO_IO_AUDIO_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include <sndfile.h>

#include "audio_status.h"

typedef enum audio_file_format {
    AUDIO_FILE_WAV = 0,
    AUDIO_FILE_FLAC = 1,
    AUDIO_FILE_OGG_VORBIS = 2, /* "ogg" */
    AUDIO_FILE_OGG_OPUS = 3,   /* "opus" */
    AUDIO_FILE_MP3 = 4,
    AUDIO_FILE_PCM = 5         /* headerless little-endian samples: s16le, s24le, f32le */
} audio_file_format;

typedef enum audio_sample_format {
    AUDIO_SAMPLE_PCM16 = 0,
    AUDIO_SAMPLE_PCM24 = 1,
    AUDIO_SAMPLE_FLOAT = 2
} audio_sample_format;

typedef struct audio_encode_settings {
    audio_file_format format;
    audio_sample_format sample_format; /* used by WAV and FLAC; lossy formats ignore pcm16 */
    double quality; /* 0..1: VBR quality for ogg/opus/mp3, compression level for FLAC */
} audio_encode_settings;

/* Names as used in parameters: "wav" "flac" "ogg" "opus" "mp3" "pcm". Return 0 when
 * unknown. */
int audio_file_format_from_name(const char *name, audio_file_format *out_format);
const char *audio_file_format_name(audio_file_format format);
const char *audio_file_format_media_type(audio_file_format format);
const char *audio_file_format_file_name(audio_file_format format); /* "audio.wav" ... */

/* The media type of an encoded file. For pcm it spells out the sample layout, e.g.
 * "audio/pcm; format=s16le; rate=16000; channels=1" (there is no header to say it). */
void audio_encode_media_type(const audio_encode_settings *settings, uint32_t rate,
                             uint32_t channels, char *text, size_t capacity);

/* libsndfile's format code for the settings (major, subtype, endianness). */
int audio_encode_sndfile_format(const audio_encode_settings *settings);

/* Sets the encoder's options (clipping, quality) on a handle opened for writing; before the
 * first write. */
audio_status audio_encode_configure_handle(SNDFILE *handle, const audio_encode_settings *settings,
                                           char *message, size_t message_capacity);

/* Frames per sf_writef_float call; bounds the interleaved scratch buffer. The Vorbis
 * encoder's output depends on how its input is cut, so a streamed Vorbis file is fed in
 * blocks of this size too. */
#define AUDIO_ENCODE_BLOCK_FRAMES 4096u

/* Interleaves planes[channels][frames] in blocks and writes them to the handle. */
audio_status audio_encode_write_frames(SNDFILE *handle, const float *const *planes,
                                       uint32_t channels, uint64_t frames, char *message,
                                       size_t message_capacity);

/* "pcm16" "pcm24" "float". Return 0 when unknown. */
int audio_sample_format_from_name(const char *name, audio_sample_format *out_format);
const char *audio_sample_format_name(audio_sample_format format);

/* Check that format, sample format and quality go together, before any audio exists. */
audio_status audio_encode_check_settings(const audio_encode_settings *settings, char *message,
                                         size_t message_capacity);

/* Check that the codec can take audio of this rate and channel count (Opus and MP3 rates,
 * MP3 channels). */
audio_status audio_encode_check_stream(const audio_encode_settings *settings, uint32_t rate,
                                       uint32_t channels, char *message,
                                       size_t message_capacity);

/* Encode planes[channels][frames] at rate into one file. On success *out_bytes (free with
 * free()) holds *out_size bytes. */
audio_status audio_encode(const audio_encode_settings *settings, const float *const *planes,
                          uint32_t channels, uint64_t frames, uint32_t rate,
                          uint8_t **out_bytes, size_t *out_size, char *message,
                          size_t message_capacity);

#endif
