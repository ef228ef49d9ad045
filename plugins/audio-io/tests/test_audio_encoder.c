/* audio_encoder against ffprobe/ffmpeg: every format is encoded from a known two-channel
 * sine, written to a file, and ffprobe must read back rate, channels and duration; ffmpeg's
 * decoding must give back the tones. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_encoder.h"
#include "audio_test_support.h"
#include "check.h"

#define LEFT_HZ 440.0
#define RIGHT_HZ 660.0
#define SIGNAL_SECONDS 1.25

typedef struct encode_case {
    const char *format;
    const char *sample_format;
    uint32_t rate;
    const char *codec_name;     /* as ffprobe names it */
    uint32_t probed_rate;       /* what ffprobe reports (Opus always decodes at 48 kHz) */
    double duration_tolerance;  /* seconds; lossy codecs pad */
    double sample_tolerance;    /* max |difference| to the source, < 0 for lossy */
} encode_case;

static const encode_case cases[] = {
    { "wav", "pcm16", 22050, "pcm_s16le", 22050, 0.001, 1.0 / 32768 + 1e-6 },
    { "wav", "pcm24", 22050, "pcm_s24le", 22050, 0.001, 1.0 / 8388608 + 1e-7 },
    { "wav", "float", 22050, "pcm_f32le", 22050, 0.001, 0.0 },
    { "flac", "pcm16", 22050, "flac", 22050, 0.001, 1.0 / 32768 + 1e-6 },
    { "flac", "pcm24", 22050, "flac", 22050, 0.001, 1.0 / 8388608 + 1e-7 },
    { "ogg", "pcm16", 22050, "vorbis", 22050, 0.1, -1 },
    { "opus", "pcm16", 24000, "opus", 48000, 0.1, -1 },
    { "opus", "pcm16", 48000, "opus", 48000, 0.1, -1 },
    { "mp3", "pcm16", 22050, "mp3", 22050, 0.1, -1 },
};

static audio_encode_settings settings_for(const char *format, const char *sample_format,
                                          double quality)
{
    audio_encode_settings settings;
    memset(&settings, 0, sizeof(settings));
    CHECK(audio_file_format_from_name(format, &settings.format));
    CHECK(audio_sample_format_from_name(sample_format, &settings.sample_format));
    settings.quality = quality;
    return settings;
}

/* Encode the two-tone signal; returns the bytes (malloc'd) or NULL. */
static uint8_t *encode_tones(const audio_encode_settings *settings, uint32_t rate,
                             size_t frames, double amplitude, size_t *out_size,
                             audio_status *out_status, char *message, size_t capacity)
{
    float *left = make_sine(LEFT_HZ, amplitude, rate, frames);
    float *right = make_sine(RIGHT_HZ, amplitude, rate, frames);
    const float *planes[2] = { left, right };
    uint8_t *bytes = NULL;
    *out_status = audio_encode(settings, planes, 2, frames, rate, &bytes, out_size, message,
                               capacity);
    free(left);
    free(right);
    return bytes;
}

/* Opus keeps the encoder's input rate in the OpusHead packet (RFC 7845 section 5.1). */
static uint32_t opus_head_input_rate(const uint8_t *bytes, size_t size)
{
    for (size_t i = 0; i + 16 <= size; i++) {
        if (memcmp(bytes + i, "OpusHead", 8) == 0) {
            const uint8_t *rate = bytes + i + 12;
            return (uint32_t)rate[0] | (uint32_t)rate[1] << 8 | (uint32_t)rate[2] << 16 |
                   (uint32_t)rate[3] << 24;
        }
    }
    return 0;
}

static void test_case(const char *dir, const encode_case *c)
{
    fprintf(stderr, "-- %s %s at %u Hz\n", c->format, c->sample_format, c->rate);
    const size_t frames = (size_t)llround(SIGNAL_SECONDS * c->rate);
    audio_encode_settings settings = settings_for(c->format, c->sample_format, 0.6);
    char message[512] = "";
    size_t size = 0;
    audio_status status;
    uint8_t *bytes = encode_tones(&settings, c->rate, frames, 0.5, &size, &status, message,
                                  sizeof(message));
    CHECK_INT_EQ(status, AUDIO_OK);
    if (status != AUDIO_OK) {
        fprintf(stderr, "   encoder said: %s\n", message);
        return;
    }
    CHECK(size > 44);

    char path[1024];
    snprintf(path, sizeof(path), "%s/%s-%s-%u.%s", dir, c->format, c->sample_format, c->rate,
             strcmp(c->format, "opus") == 0 ? "opus" : c->format);
    CHECK(write_whole_file(path, bytes, size));

    probe_result probe;
    CHECK(ffprobe_audio(path, &probe));
    CHECK_STR_EQ(probe.codec_name, c->codec_name);
    CHECK_INT_EQ(probe.sample_rate, c->probed_rate);
    CHECK_INT_EQ(probe.channels, 2);
    CHECK_NEAR(probe.duration, SIGNAL_SECONDS, c->duration_tolerance);
    if (strcmp(c->format, "opus") == 0)
        CHECK_INT_EQ(opus_head_input_rate(bytes, size), c->rate);

    /* ffmpeg's decoding must give back both tones on the right channels. */
    size_t decoded_frames = 0;
    float *decoded = ffmpeg_decode_interleaved(path, 2, &decoded_frames);
    CHECK(decoded != NULL);
    if (decoded) {
        const uint32_t decoded_rate = c->probed_rate;
        CHECK_NEAR((double)decoded_frames / decoded_rate, SIGNAL_SECONDS,
                   c->duration_tolerance);
        /* Skip codec start-up and tail transients. */
        size_t margin = decoded_rate / 10;
        if (decoded_frames > 2 * margin) {
            const float *middle = decoded + margin * 2;
            size_t count = decoded_frames - 2 * margin;
            CHECK_NEAR(zero_crossing_frequency(middle, count, 2, decoded_rate), LEFT_HZ,
                       LEFT_HZ * 0.01);
            CHECK_NEAR(zero_crossing_frequency(middle + 1, count, 2, decoded_rate), RIGHT_HZ,
                       RIGHT_HZ * 0.01);
            CHECK_NEAR(rms(middle, count, 2), 0.5 / sqrt(2.0), 0.05);
        }
        if (c->sample_tolerance >= 0 && decoded_frames == frames) {
            float *left = make_sine(LEFT_HZ, 0.5, c->rate, frames);
            float *right = make_sine(RIGHT_HZ, 0.5, c->rate, frames);
            double worst = 0.0;
            for (size_t i = 0; i < frames; i++) {
                worst = fmax(worst, fabs((double)decoded[2 * i] - left[i]));
                worst = fmax(worst, fabs((double)decoded[2 * i + 1] - right[i]));
            }
            CHECK(worst <= c->sample_tolerance);
            if (worst > c->sample_tolerance)
                fprintf(stderr, "   worst sample error %g\n", worst);
            free(left);
            free(right);
        }
        free(decoded);
    }
    free(bytes);
}

/* Integer PCM must clip samples beyond full scale, not wrap them around. */
static void test_clipping(const char *dir)
{
    const uint32_t rate = 16000;
    const size_t frames = 1600;
    float *loud = malloc(frames * sizeof(float));
    for (size_t i = 0; i < frames; i++)
        loud[i] = 1.5f;
    const float *planes[1] = { loud };
    for (int flac = 0; flac <= 1; flac++) {
        audio_encode_settings settings = settings_for(flac ? "flac" : "wav", "pcm16", 0.6);
        uint8_t *bytes = NULL;
        size_t size = 0;
        char message[512];
        CHECK_INT_EQ(audio_encode(&settings, planes, 1, frames, rate, &bytes, &size, message,
                                  sizeof(message)),
                     AUDIO_OK);
        char path[1024];
        snprintf(path, sizeof(path), "%s/clip.%s", dir, flac ? "flac" : "wav");
        CHECK(bytes && write_whole_file(path, bytes, size));
        size_t decoded_frames = 0;
        float *decoded = ffmpeg_decode_interleaved(path, 1, &decoded_frames);
        CHECK_INT_EQ(decoded_frames, frames);
        for (size_t i = 0; decoded && i < decoded_frames; i++) {
            if (decoded[i] < 0.999f) {
                fprintf(stderr, "sample %zu is %g, not clipped to full scale\n", i,
                        decoded[i]);
                CHECK(decoded[i] >= 0.999f);
                break;
            }
        }
        free(decoded);
        free(bytes);
    }
    free(loud);
}

/* The quality setting must reach the lossy encoders: better quality, more bytes. */
static void test_quality_reaches_encoder(void)
{
    const char *formats[] = { "ogg", "opus", "mp3" };
    for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
        const uint32_t rate = 24000;
        size_t sizes[2] = { 0, 0 };
        const double qualities[2] = { 0.1, 0.9 };
        for (int q = 0; q < 2; q++) {
            audio_encode_settings settings = settings_for(formats[f], "pcm16", qualities[q]);
            char message[512];
            audio_status status;
            /* A noisy signal, so that bitrate depends on quality. */
            float *noise = malloc(rate * 2 * sizeof(float));
            unsigned seed = 12345;
            for (uint32_t i = 0; i < rate * 2; i++) {
                seed = seed * 1103515245u + 12345u;
                noise[i] = ((float)((seed >> 8) & 0xFFFF) / 65535.0f - 0.5f) * 0.5f;
            }
            const float *planes[1] = { noise };
            uint8_t *bytes = NULL;
            status = audio_encode(&settings, planes, 1, rate * 2, rate, &bytes, &sizes[q],
                                  message, sizeof(message));
            CHECK_INT_EQ(status, AUDIO_OK);
            free(bytes);
            free(noise);
        }
        fprintf(stderr, "-- %s: quality 0.1 -> %zu bytes, 0.9 -> %zu bytes\n", formats[f],
                sizes[0], sizes[1]);
        CHECK(sizes[1] > sizes[0] * 3 / 2);
    }
}

static void test_errors(void)
{
    char message[512];
    size_t size = 0;
    audio_status status;

    audio_encode_settings opus = settings_for("opus", "pcm16", 0.6);
    uint8_t *bytes = encode_tones(&opus, 22050, 22050, 0.5, &size, &status, message,
                                  sizeof(message));
    CHECK(bytes == NULL);
    CHECK_INT_EQ(status, AUDIO_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(message, "opus");
    CHECK_STR_CONTAINS(message, "22050 Hz");
    CHECK_STR_CONTAINS(message, "8000, 12000, 16000, 24000, 48000");

    audio_encode_settings flac_float = settings_for("flac", "float", 0.6);
    CHECK_INT_EQ(audio_encode_check_settings(&flac_float, message, sizeof(message)),
                 AUDIO_ERR_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(message, "'float'");
    CHECK_STR_CONTAINS(message, "'flac'");
    bytes = encode_tones(&flac_float, 22050, 1000, 0.5, &size, &status, message,
                         sizeof(message));
    CHECK(bytes == NULL);
    CHECK_INT_EQ(status, AUDIO_ERR_INVALID_ARGUMENT);

    audio_encode_settings ogg_pcm24 = settings_for("ogg", "pcm24", 0.6);
    CHECK_INT_EQ(audio_encode_check_settings(&ogg_pcm24, message, sizeof(message)),
                 AUDIO_ERR_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(message, "'pcm24'");

    audio_encode_settings mp3 = settings_for("mp3", "pcm16", 0.6);
    CHECK_INT_EQ(audio_encode_check_stream(&mp3, 22050, 3, message, sizeof(message)),
                 AUDIO_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(message, "3 channels");
    CHECK_INT_EQ(audio_encode_check_stream(&mp3, 96000, 1, message, sizeof(message)),
                 AUDIO_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(message, "96000 Hz");

    audio_encode_settings bad_quality = settings_for("wav", "pcm16", 1.5);
    CHECK_INT_EQ(audio_encode_check_settings(&bad_quality, message, sizeof(message)),
                 AUDIO_ERR_INVALID_ARGUMENT);

    audio_file_format format;
    CHECK(!audio_file_format_from_name("aiff", &format));
    CHECK(audio_file_format_from_name("opus", &format) && format == AUDIO_FILE_OGG_OPUS);
    CHECK_STR_EQ(audio_file_format_media_type(AUDIO_FILE_OGG_OPUS), "audio/ogg; codecs=opus");
    CHECK_STR_EQ(audio_file_format_media_type(AUDIO_FILE_MP3), "audio/mpeg");
    CHECK_STR_EQ(audio_file_format_file_name(AUDIO_FILE_FLAC), "audio.flac");
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
    test_clipping(dir);
    test_quality_reaches_encoder();
    test_errors();
    remove_temp_dir(dir);
    return CHECK_DONE();
}
