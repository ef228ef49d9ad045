/* audio_stream_encoder against audio_encode and ffmpeg: a two-tone stereo signal (with
 * peaks beyond +-1, so clipping is exercised) streamed in pieces of odd sizes must decode,
 * in ffmpeg, to exactly the samples of the file audio_encode writes in one piece; the WAV
 * streaming header leaves both sizes unknown and ffprobe still reads it; raw pcm is the
 * WAV's data chunk; FLAC differs only in its STREAMINFO; mp3 is refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_encoder.h"
#include "audio_stream_encoder.h"
#include "audio_test_support.h"
#include "check.h"

typedef struct stream_case {
    const char *format;
    const char *sample_format;
    uint32_t rate;
    double seconds; /* Vorbis pages hold about 1.5 s here: give it several */
} stream_case;

static const stream_case cases[] = {
    { "wav", "pcm16", 22050, 1.3 }, { "wav", "pcm24", 22050, 1.3 },
    { "wav", "float", 22050, 1.3 }, { "pcm", "pcm16", 16000, 1.3 },
    { "pcm", "pcm24", 16000, 1.3 }, { "pcm", "float", 16000, 1.3 },
    { "flac", "pcm16", 22050, 1.3 }, { "flac", "pcm24", 44100, 1.3 },
    { "ogg", "pcm16", 22050, 5.0 }, { "opus", "pcm16", 24000, 1.3 },
    { "opus", "pcm16", 48000, 1.3 },
};

/* Piece sizes the signal is cut into (cycled): tiny, odd and larger than a block. */
static const size_t piece_frames[] = { 1, 333, 4096, 7, 5000, 1600, 2 };

static audio_encode_settings settings_for(const char *format, const char *sample_format)
{
    audio_encode_settings settings;
    memset(&settings, 0, sizeof(settings));
    CHECK(audio_file_format_from_name(format, &settings.format));
    CHECK(audio_sample_format_from_name(sample_format, &settings.sample_format));
    settings.quality = 0.6;
    return settings;
}

typedef struct byte_list {
    uint8_t *bytes;
    size_t size;
    size_t pieces;
} byte_list;

static void take_into(audio_stream_encoder *encoder, byte_list *out)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    CHECK_INT_EQ(audio_stream_encoder_take(encoder, &bytes, &size), AUDIO_OK);
    if (!size)
        return;
    uint8_t *grown = realloc(out->bytes, out->size + size);
    CHECK(grown != NULL);
    if (grown) {
        memcpy(grown + out->size, bytes, size);
        out->bytes = grown;
        out->size += size;
        out->pieces++;
    }
    free(bytes);
}

/* Where the sample bytes of a WAV file start (after the "data" chunk header), or 0. */
static size_t wav_data_offset(const uint8_t *bytes, size_t size)
{
    for (size_t at = 12; at + 8 <= size;) {
        uint32_t length = (uint32_t)bytes[at + 4] | (uint32_t)bytes[at + 5] << 8 |
                          (uint32_t)bytes[at + 6] << 16 | (uint32_t)bytes[at + 7] << 24;
        if (memcmp(bytes + at, "data", 4) == 0)
            return at + 8;
        at += 8 + length + (length & 1);
    }
    return 0;
}

static void test_case(const char *dir, const stream_case *c)
{
    fprintf(stderr, "-- %s %s at %u Hz\n", c->format, c->sample_format, c->rate);
    const size_t frames = (size_t)llround(c->seconds * c->rate);
    float *left = make_sine(440.0, 1.2, c->rate, frames);
    float *right = make_sine(660.0, 0.5, c->rate, frames);
    const float *planes[2] = { left, right };
    audio_encode_settings settings = settings_for(c->format, c->sample_format);
    char message[512] = "";

    uint8_t *whole = NULL;
    size_t whole_size = 0;
    CHECK_INT_EQ(audio_encode(&settings, planes, 2, frames, c->rate, &whole, &whole_size,
                              message, sizeof(message)),
                 AUDIO_OK);

    audio_stream_encoder *encoder = NULL;
    audio_status status = audio_stream_encoder_open(&settings, c->rate, 2, &encoder, message,
                                                    sizeof(message));
    CHECK_INT_EQ(status, AUDIO_OK);
    if (status != AUDIO_OK) {
        fprintf(stderr, "   %s\n", message);
        free(whole);
        free(left);
        free(right);
        return;
    }
    byte_list streamed = { 0 };
    take_into(encoder, &streamed);
    if (strcmp(c->format, "wav") == 0)
        CHECK_INT_EQ(streamed.size, 44); /* the header, before any audio */
    size_t done = 0;
    for (size_t i = 0; done < frames; i++) {
        size_t n = piece_frames[i % (sizeof(piece_frames) / sizeof(piece_frames[0]))];
        if (n > frames - done)
            n = frames - done;
        const float *piece[2] = { left + done, right + done };
        CHECK_INT_EQ(audio_stream_encoder_write(encoder, piece, n, message, sizeof(message)),
                     AUDIO_OK);
        take_into(encoder, &streamed);
        done += n;
    }
    size_t pieces_before_end = streamed.pieces;
    CHECK_INT_EQ(audio_stream_encoder_finish(encoder, message, sizeof(message)), AUDIO_OK);
    take_into(encoder, &streamed);
    CHECK_INT_EQ(audio_stream_encoder_bytes(encoder), streamed.size);
    audio_stream_encoder_free(encoder);
    /* Bytes left the encoder while it ran, not only at the end. */
    CHECK(pieces_before_end >= 2);

    char whole_path[1024], streamed_path[1024];
    const char *ext = c->format;
    snprintf(whole_path, sizeof(whole_path), "%s/whole-%s-%s-%u.%s", dir, c->format,
             c->sample_format, c->rate, ext);
    snprintf(streamed_path, sizeof(streamed_path), "%s/streamed-%s-%s-%u.%s", dir, c->format,
             c->sample_format, c->rate, ext);
    CHECK(write_whole_file(whole_path, whole, whole_size));
    CHECK(write_whole_file(streamed_path, streamed.bytes, streamed.size));

    if (strcmp(c->format, "pcm") == 0) {
        /* Raw samples: the data chunk of the WAV libsndfile writes for the same audio. */
        audio_encode_settings wav = settings_for("wav", c->sample_format);
        uint8_t *wav_bytes = NULL;
        size_t wav_size = 0;
        CHECK_INT_EQ(audio_encode(&wav, planes, 2, frames, c->rate, &wav_bytes, &wav_size,
                                  message, sizeof(message)),
                     AUDIO_OK);
        size_t data = wav_bytes ? wav_data_offset(wav_bytes, wav_size) : 0;
        CHECK(data > 0 && wav_size - data == streamed.size);
        CHECK(data > 0 && memcmp(wav_bytes + data, streamed.bytes, streamed.size) == 0);
        CHECK(whole_size == streamed.size && memcmp(whole, streamed.bytes, whole_size) == 0);
        /* and ffmpeg, told the layout, reads the tones back */
        char command[2600];
        const char *raw = strcmp(c->sample_format, "float") == 0   ? "f32le"
                          : strcmp(c->sample_format, "pcm24") == 0 ? "s24le"
                                                                   : "s16le";
        snprintf(command, sizeof(command),
                 "ffmpeg -v error -y -f %s -ar %u -ac 2 -i '%s' '%s.wav'", raw, c->rate,
                 streamed_path, streamed_path);
        CHECK(run_command(command));
        snprintf(command, sizeof(command), "%s.wav", streamed_path);
        size_t decoded_frames = 0;
        float *decoded = ffmpeg_decode_interleaved(command, 2, &decoded_frames);
        CHECK(decoded && decoded_frames == frames);
        if (decoded && decoded_frames == frames)
            CHECK_NEAR(zero_crossing_frequency(decoded + 1, frames, 2, c->rate), 660.0, 6.6);
        free(decoded);
        free(wav_bytes);
    } else {
        /* ffmpeg decodes both to the same samples. */
        size_t whole_frames = 0, streamed_frames = 0;
        float *a = ffmpeg_decode_interleaved(whole_path, 2, &whole_frames);
        float *b = ffmpeg_decode_interleaved(streamed_path, 2, &streamed_frames);
        CHECK(a && b && whole_frames > frames / 2);
        CHECK_INT_EQ(streamed_frames, whole_frames);
        if (a && b && streamed_frames == whole_frames)
            CHECK(memcmp(a, b, whole_frames * 2 * sizeof(float)) == 0);
        free(a);
        free(b);
        /* (a streamed FLAC has no duration to probe: its length is "unknown") */
        probe_result probe;
        if (strcmp(c->format, "flac") != 0) {
            CHECK(ffprobe_audio(streamed_path, &probe));
            CHECK_INT_EQ(probe.channels, 2);
        }
    }
    if (strcmp(c->format, "wav") == 0) {
        static const uint8_t unknown[4] = { 0xFF, 0xFF, 0xFF, 0xFF };
        CHECK(streamed.size >= 44 && memcmp(streamed.bytes + 4, unknown, 4) == 0 &&
              memcmp(streamed.bytes + 40, unknown, 4) == 0);
        size_t data = wav_data_offset(whole, whole_size);
        CHECK(data > 0 && whole_size - data == streamed.size - 44);
        CHECK(data > 0 && memcmp(whole + data, streamed.bytes + 44, streamed.size - 44) == 0);
    }
    if (strcmp(c->format, "flac") == 0) {
        /* Only STREAMINFO ("fLaC", block header, 34 bytes) keeps "unknown" values. */
        CHECK_INT_EQ(streamed.size, whole_size);
        CHECK(streamed.size > 42 && memcmp(streamed.bytes, whole, 8) == 0 &&
              memcmp(streamed.bytes + 42, whole + 42, whole_size - 42) == 0);
    }
    free(streamed.bytes);
    free(whole);
    free(left);
    free(right);
}

static void test_refusals(void)
{
    char message[512] = "";
    audio_encode_settings mp3 = settings_for("mp3", "pcm16");
    CHECK_INT_EQ(audio_stream_check_settings(&mp3, message, sizeof(message)),
                 AUDIO_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(message, "mp3 cannot be streamed");
    audio_stream_encoder *encoder = NULL;
    CHECK_INT_EQ(audio_stream_encoder_open(&mp3, 16000, 1, &encoder, message, sizeof(message)),
                 AUDIO_ERR_UNSUPPORTED);
    CHECK(encoder == NULL);
    audio_encode_settings opus = settings_for("opus", "pcm16");
    CHECK_INT_EQ(audio_stream_encoder_open(&opus, 22050, 1, &encoder, message, sizeof(message)),
                 AUDIO_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(message, "22050 Hz");
    audio_encode_settings flac_float = settings_for("flac", "float");
    CHECK_INT_EQ(audio_stream_check_settings(&flac_float, message, sizeof(message)),
                 AUDIO_ERR_INVALID_ARGUMENT);
    /* A file that got no audio at all is still a whole (empty) file. */
    audio_encode_settings wav = settings_for("wav", "pcm16");
    CHECK_INT_EQ(audio_stream_encoder_open(&wav, 16000, 1, &encoder, message, sizeof(message)),
                 AUDIO_OK);
    CHECK_INT_EQ(audio_stream_encoder_finish(encoder, message, sizeof(message)), AUDIO_OK);
    byte_list empty = { 0 };
    take_into(encoder, &empty);
    CHECK_INT_EQ(empty.size, 44);
    const float *none[1] = { NULL };
    CHECK_INT_EQ(audio_stream_encoder_write(encoder, none, 0, message, sizeof(message)),
                 AUDIO_ERR_INVALID_ARGUMENT);
    audio_stream_encoder_free(encoder);
    free(empty.bytes);
}

int main(void)
{
    if (!require_ffmpeg_tools())
        return 1;
    char dir[512];
    if (!make_temp_dir(dir, sizeof(dir))) {
        fprintf(stderr, "FAIL: cannot make a temporary directory\n");
        return 1;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        test_case(dir, &cases[i]);
    test_refusals();
    remove_temp_dir(dir);
    return CHECK_DONE();
}
