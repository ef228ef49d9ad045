/* audio_decoder against files made by ffmpeg (an independent encoder), decoded from memory;
 * ffmpeg's own decoding of the same files is the reference for the samples. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio_decoder.h"
#include "audio_test_support.h"
#include "check.h"

/* Decode bytes completely with the given channel mode, read_size frames per read. */
static audio_status decode_all(const uint8_t *bytes, size_t size, audio_channel_mode mode,
                               uint64_t read_size, planar_buffer *out, uint32_t *out_rate,
                               char *message, size_t capacity)
{
    memset(out, 0, sizeof(*out));
    audio_decoder *decoder = NULL;
    audio_status status = audio_decoder_open(bytes, size, mode, &decoder, message, capacity);
    if (status != AUDIO_OK)
        return status;
    *out_rate = audio_decoder_rate(decoder);
    status = planar_buffer_init(out, audio_decoder_channels(decoder));
    while (status == AUDIO_OK) {
        uint64_t got = 0;
        status = audio_decoder_read(decoder, out, read_size, &got, message, capacity);
        if (got == 0)
            break;
    }
    audio_decoder_close(decoder);
    return status;
}

static uint8_t *make_with_ffmpeg(const char *dir, const char *name, const char *arguments,
                                 size_t *out_size, char *path, size_t path_capacity)
{
    snprintf(path, path_capacity, "%s/%s", dir, name);
    char command[2048];
    snprintf(command, sizeof(command), "ffmpeg -v error -y %s '%s'", arguments, path);
    if (!run_command(command)) {
        fprintf(stderr, "FAIL: %s\n", command);
        return NULL;
    }
    return read_whole_file(path, out_size);
}

/* (b) of the brief: 44.1 kHz stereo 1 kHz WAV made by ffmpeg. */
static void test_wav_from_ffmpeg(const char *dir)
{
    fprintf(stderr, "-- wav 44100 Hz stereo from ffmpeg\n");
    char path[1024];
    size_t size = 0;
    uint8_t *bytes = make_with_ffmpeg(
        dir, "sine.wav",
        "-f lavfi -i \"sine=frequency=1000:sample_rate=44100:duration=1\" -ac 2", &size, path,
        sizeof(path));
    CHECK(bytes != NULL);
    if (!bytes)
        return;
    planar_buffer audio;
    uint32_t rate = 0;
    char message[512];
    CHECK_INT_EQ(decode_all(bytes, size, AUDIO_CHANNELS_KEEP, 65536, &audio, &rate, message,
                            sizeof(message)),
                 AUDIO_OK);
    CHECK_INT_EQ(rate, 44100);
    CHECK_INT_EQ(audio.channels, 2);
    CHECK_INT_EQ(audio.frames, 44100);
    for (uint32_t channel = 0; channel < audio.channels && audio.frames; channel++)
        CHECK_NEAR(zero_crossing_frequency(audio.planes[channel], audio.frames, 1, rate),
                   1000.0, 10.0);

    size_t reference_frames = 0;
    float *reference = ffmpeg_decode_interleaved(path, 2, &reference_frames);
    CHECK_INT_EQ(reference_frames, audio.frames);
    double worst = 0.0;
    for (size_t i = 0; reference && i < reference_frames && i < audio.frames; i++)
        for (uint32_t channel = 0; channel < 2; channel++)
            worst = fmax(worst, fabs(reference[2 * i + channel] - audio.planes[channel][i]));
    CHECK(worst <= 1e-6);

    /* Reading in small odd pieces gives exactly the same samples. */
    planar_buffer pieces;
    CHECK_INT_EQ(decode_all(bytes, size, AUDIO_CHANNELS_KEEP, 997, &pieces, &rate, message,
                            sizeof(message)),
                 AUDIO_OK);
    CHECK_INT_EQ(pieces.frames, audio.frames);
    if (pieces.frames == audio.frames)
        for (uint32_t channel = 0; channel < 2; channel++)
            CHECK(memcmp(pieces.planes[channel], audio.planes[channel],
                         audio.frames * sizeof(float)) == 0);
    planar_buffer_free(&pieces);
    planar_buffer_free(&audio);
    free(reference);
    free(bytes);
}

/* Different tones left and right, so mixing and channel selection are visible. */
static void test_channel_modes(const char *dir)
{
    fprintf(stderr, "-- channel modes\n");
    char path[1024];
    size_t size = 0;
    uint8_t *bytes = make_with_ffmpeg(
        dir, "two-tones.wav",
        "-f lavfi -i \"sine=frequency=1000:sample_rate=32000:duration=0.5\" "
        "-f lavfi -i \"sine=frequency=1500:sample_rate=32000:duration=0.5\" "
        "-filter_complex \"[0:a][1:a]amerge=inputs=2\" -c:a pcm_f32le",
        &size, path, sizeof(path));
    CHECK(bytes != NULL);
    size_t frames = 0;
    float *reference = ffmpeg_decode_interleaved(path, 2, &frames);
    CHECK(reference != NULL && frames == 16000);
    if (!bytes || !reference || frames != 16000) {
        free(bytes);
        free(reference);
        return;
    }
    char message[512];
    uint32_t rate = 0;
    planar_buffer mixed, first;
    CHECK_INT_EQ(decode_all(bytes, size, AUDIO_CHANNELS_MIX, 65536, &mixed, &rate, message,
                            sizeof(message)),
                 AUDIO_OK);
    CHECK_INT_EQ(mixed.channels, 1);
    CHECK_INT_EQ(mixed.frames, frames);
    CHECK_INT_EQ(decode_all(bytes, size, AUDIO_CHANNELS_FIRST, 65536, &first, &rate, message,
                            sizeof(message)),
                 AUDIO_OK);
    CHECK_INT_EQ(first.channels, 1);
    CHECK_INT_EQ(first.frames, frames);
    double worst_mix = 0.0, worst_first = 0.0;
    for (size_t i = 0; i < frames && mixed.frames == frames && first.frames == frames; i++) {
        double average = 0.5 * ((double)reference[2 * i] + reference[2 * i + 1]);
        worst_mix = fmax(worst_mix, fabs(mixed.planes[0][i] - average));
        worst_first = fmax(worst_first, fabs(first.planes[0][i] - reference[2 * i]));
    }
    CHECK(worst_mix <= 1e-6);
    CHECK(worst_first == 0.0);
    CHECK_NEAR(zero_crossing_frequency(first.planes[0], first.frames, 1, rate), 1000.0, 10.0);
    planar_buffer_free(&mixed);
    planar_buffer_free(&first);
    free(reference);
    free(bytes);
}

typedef struct format_case {
    const char *file_name;
    const char *codec_arguments;
    uint32_t rate;
    double duration_tolerance;
} format_case;

/* FLAC, Vorbis, Opus and MP3 encoded by ffmpeg's own encoders, decoded from memory. */
static void test_other_formats(const char *dir)
{
    static const format_case cases[] = {
        { "sine.flac", "-c:a flac", 44100, 0.001 },
        { "sine.ogg", "-c:a libvorbis -q:a 5", 44100, 0.1 },
        { "sine.opus", "-c:a libopus -b:a 96k", 48000, 0.1 },
        { "sine.mp3", "-c:a libmp3lame -q:a 4", 44100, 0.1 },
        /* No ID3 tag and no Xing header: libsndfile must find the MPEG frames by sync. */
        { "bare.mp3", "-c:a libmp3lame -id3v2_version 0 -write_xing 0", 44100, 0.1 },
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        fprintf(stderr, "-- %s from ffmpeg\n", cases[c].file_name);
        char arguments[512], path[1024];
        snprintf(arguments, sizeof(arguments),
                 "-f lavfi -i \"sine=frequency=1000:sample_rate=%u:duration=1\" -ac 2 %s",
                 cases[c].rate, cases[c].codec_arguments);
        size_t size = 0;
        uint8_t *bytes = make_with_ffmpeg(dir, cases[c].file_name, arguments, &size, path,
                                          sizeof(path));
        CHECK(bytes != NULL);
        if (!bytes)
            continue;
        planar_buffer audio;
        uint32_t rate = 0;
        char message[512] = "";
        audio_status status = decode_all(bytes, size, AUDIO_CHANNELS_KEEP, 65536, &audio,
                                         &rate, message, sizeof(message));
        CHECK_INT_EQ(status, AUDIO_OK);
        if (status != AUDIO_OK) {
            fprintf(stderr, "   decoder said: %s\n", message);
            free(bytes);
            continue;
        }
        CHECK_INT_EQ(rate, cases[c].rate);
        CHECK_INT_EQ(audio.channels, 2);
        CHECK_NEAR((double)audio.frames / rate, 1.0, cases[c].duration_tolerance);
        size_t margin = rate / 10;
        if (audio.frames > 2 * margin) {
            for (uint32_t channel = 0; channel < 2; channel++) {
                const float *middle = audio.planes[channel] + margin;
                CHECK_NEAR(zero_crossing_frequency(middle, audio.frames - 2 * margin, 1, rate),
                           1000.0, 10.0);
            }
        }
        planar_buffer_free(&audio);
        free(bytes);
    }
}

static void test_undecodable(void)
{
    fprintf(stderr, "-- undecodable input\n");
    uint8_t garbage[4096];
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (uint8_t)(i * 7 + 3);
    audio_decoder *decoder = NULL;
    char message[512] = "";
    CHECK_INT_EQ(audio_decoder_open(garbage, sizeof(garbage), AUDIO_CHANNELS_KEEP, &decoder,
                                    message, sizeof(message)),
                 AUDIO_ERR_INVALID_DATA);
    CHECK(decoder == NULL);
    CHECK(strlen(message) > 0);
    CHECK(strstr(message, "No Error") == NULL);
    fprintf(stderr, "   libsndfile said: %s\n", message);

    message[0] = '\0';
    CHECK_INT_EQ(audio_decoder_open(garbage, 0, AUDIO_CHANNELS_KEEP, &decoder, message,
                                    sizeof(message)),
                 AUDIO_ERR_INVALID_DATA);
    CHECK_STR_CONTAINS(message, "empty");

    /* A truncated WAV header. */
    static const uint8_t truncated[] = { 'R', 'I', 'F', 'F', 0x24, 0, 0, 0, 'W', 'A', 'V', 'E',
                                         'f', 'm', 't', ' ' };
    CHECK(audio_decoder_open(truncated, sizeof(truncated), AUDIO_CHANNELS_KEEP, &decoder,
                             message, sizeof(message)) != AUDIO_OK);
    CHECK(decoder == NULL);

    audio_channel_mode mode;
    CHECK(audio_channel_mode_from_name("mix", &mode) && mode == AUDIO_CHANNELS_MIX);
    CHECK(!audio_channel_mode_from_name("left", &mode));
}

/* libsndfile's open errors are global state; concurrent failing and succeeding opens must
 * each report their own outcome. */
typedef struct thread_work {
    const uint8_t *wav;
    size_t wav_size;
    int failures;
} thread_work;

static void *open_many(void *argument)
{
    thread_work *work = argument;
    uint8_t garbage[512];
    memset(garbage, 0x5A, sizeof(garbage));
    for (int round = 0; round < 200; round++) {
        char message[512] = "";
        audio_decoder *decoder = NULL;
        if (audio_decoder_open(garbage, sizeof(garbage), AUDIO_CHANNELS_KEEP, &decoder,
                               message, sizeof(message)) != AUDIO_ERR_INVALID_DATA ||
            message[0] == '\0' || strstr(message, "No Error"))
            work->failures++;
        audio_decoder_close(decoder);
        decoder = NULL;
        if (audio_decoder_open(work->wav, work->wav_size, AUDIO_CHANNELS_KEEP, &decoder,
                               message, sizeof(message)) != AUDIO_OK ||
            audio_decoder_rate(decoder) != 44100)
            work->failures++;
        audio_decoder_close(decoder);
    }
    return NULL;
}

static void test_concurrent_opens(const char *dir)
{
    fprintf(stderr, "-- concurrent opens\n");
    char path[1024];
    size_t size = 0;
    uint8_t *bytes = make_with_ffmpeg(
        dir, "short.wav", "-f lavfi -i \"sine=frequency=1000:sample_rate=44100:duration=0.05\"",
        &size, path, sizeof(path));
    CHECK(bytes != NULL);
    if (!bytes)
        return;
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    thread_work work[THREADS];
    for (int i = 0; i < THREADS; i++) {
        work[i] = (thread_work){ bytes, size, 0 };
        CHECK(pthread_create(&threads[i], NULL, open_many, &work[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK_INT_EQ(work[i].failures, 0);
    }
    free(bytes);
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
    test_wav_from_ffmpeg(dir);
    test_channel_modes(dir);
    test_other_formats(dir);
    test_undecodable();
    test_concurrent_opens(dir);
    remove_temp_dir(dir);
    return CHECK_DONE();
}
