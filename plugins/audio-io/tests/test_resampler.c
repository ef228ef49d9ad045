/* resampler: streaming equals one-shot, lengths and tones survive, equal rates pass through
 * bit for bit, channel rules hold. libsamplerate's own src_simple is the one-shot
 * reference; zero crossings and RMS judge the signal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <samplerate.h>

#include "audio_test_support.h"
#include "check.h"
#include "resampler.h"

#define IN_RATE 44100u
#define OUT_RATE 16000u

/* Convert planes in pieces of the given sizes (cycled), then flush. */
static audio_status convert(resampler *converter, const float *const *planes, uint32_t channels,
                            size_t frames, const size_t *piece_sizes, size_t piece_count,
                            planar_buffer *out)
{
    char message[512];
    audio_status status = planar_buffer_init(out, resampler_output_channels(converter));
    size_t start = 0;
    for (size_t piece = 0; status == AUDIO_OK && start < frames; piece++) {
        size_t size = piece_sizes[piece % piece_count];
        if (size > frames - start)
            size = frames - start;
        const float *offset[8];
        for (uint32_t channel = 0; channel < channels; channel++)
            offset[channel] = planes[channel] + start;
        status = resampler_process(converter, offset, size, out, message, sizeof(message));
        start += size;
    }
    if (status == AUDIO_OK)
        status = resampler_finish(converter, out, message, sizeof(message));
    if (status != AUDIO_OK)
        fprintf(stderr, "resampler said: %s\n", message);
    return status;
}

static resampler *make(uint32_t in_rate, uint32_t in_channels, uint32_t out_rate,
                       uint32_t out_channels)
{
    resampler *converter = NULL;
    char message[512];
    CHECK_INT_EQ(resampler_create(in_rate, in_channels, out_rate, out_channels,
                                  RESAMPLER_QUALITY_BEST, &converter, message, sizeof(message)),
                 AUDIO_OK);
    return converter;
}

static void test_streaming_matches_one_shot(void)
{
    fprintf(stderr, "-- 44.1 kHz -> 16 kHz, streaming vs one-shot\n");
    const size_t frames = 2 * IN_RATE + 123;
    float *left = make_sine(1000.0, 0.5, IN_RATE, frames);
    float *right = make_sine(1000.0, 0.25, IN_RATE, frames);
    const float *planes[2] = { left, right };

    static const size_t whole[] = { SIZE_MAX };
    static const size_t odd[] = { 1, 7, 333, 1021, 4097, 13, 9001, 2 };
    planar_buffer one_shot, streamed;
    resampler *a = make(IN_RATE, 2, OUT_RATE, 0);
    resampler *b = make(IN_RATE, 2, OUT_RATE, 0);
    CHECK(a && !resampler_is_passthrough(a));
    CHECK_INT_EQ(convert(a, planes, 2, frames, whole, 1, &one_shot), AUDIO_OK);
    CHECK_INT_EQ(convert(b, planes, 2, frames, odd, sizeof(odd) / sizeof(odd[0]), &streamed),
                 AUDIO_OK);

    const double expected = round((double)frames * OUT_RATE / IN_RATE);
    CHECK_INT_EQ(one_shot.frames, (uint64_t)expected);
    CHECK_INT_EQ(streamed.frames, one_shot.frames);
    CHECK_INT_EQ(streamed.channels, 2);

    double worst = 0.0;
    for (uint32_t channel = 0; channel < 2 && streamed.frames == one_shot.frames; channel++)
        for (size_t i = 0; i < one_shot.frames; i++)
            worst = fmax(worst, fabs(streamed.planes[channel][i] - one_shot.planes[channel][i]));
    CHECK(worst <= 1e-4);
    fprintf(stderr, "   %llu frames, worst streaming difference %g\n",
            (unsigned long long)one_shot.frames, worst);

    /* libsamplerate's simple API on the interleaved signal as the one-shot reference. */
    float *interleaved = malloc(frames * 2 * sizeof(float));
    size_t reference_capacity = (size_t)expected + 64;
    float *reference = malloc(reference_capacity * 2 * sizeof(float));
    for (size_t i = 0; i < frames; i++) {
        interleaved[2 * i] = left[i];
        interleaved[2 * i + 1] = right[i];
    }
    SRC_DATA data = { .data_in = interleaved, .data_out = reference,
                      .input_frames = (long)frames, .output_frames = (long)reference_capacity,
                      .src_ratio = (double)OUT_RATE / IN_RATE };
    CHECK_INT_EQ(src_simple(&data, SRC_SINC_BEST_QUALITY, 2), 0);
    CHECK_NEAR((double)data.output_frames_gen, (double)one_shot.frames, 3.0);
    double worst_reference = 0.0;
    for (long i = 0; i < data.output_frames_gen && (uint64_t)i < one_shot.frames; i++)
        for (uint32_t channel = 0; channel < 2; channel++)
            worst_reference = fmax(worst_reference, fabs(reference[2 * i + channel] -
                                                         one_shot.planes[channel][i]));
    CHECK(worst_reference <= 1e-4);

    /* The ideal answer is known: the same sine sampled at 16 kHz. libsamplerate compensates
     * its filter delay, so the output lines up with it sample for sample. */
    const size_t margin = OUT_RATE / 20;
    double worst_ideal = 0.0;
    for (size_t i = margin; i + margin < one_shot.frames; i++) {
        double t = (double)i / OUT_RATE;
        double ideal = sin(2.0 * M_PI * 1000.0 * t);
        worst_ideal = fmax(worst_ideal, fabs(one_shot.planes[0][i] - 0.5 * ideal));
        worst_ideal = fmax(worst_ideal, fabs(one_shot.planes[1][i] - 0.25 * ideal));
    }
    fprintf(stderr, "   worst difference to the ideal 16 kHz sine %g\n", worst_ideal);
    CHECK(worst_ideal <= 1e-4);

    /* The tone is still 1 kHz with its level, away from the edges. */
    for (uint32_t channel = 0; channel < 2 && one_shot.frames > 2 * margin; channel++) {
        const float *middle = one_shot.planes[channel] + margin;
        size_t count = one_shot.frames - 2 * margin;
        CHECK_NEAR(zero_crossing_frequency(middle, count, 1, OUT_RATE), 1000.0, 10.0);
        CHECK_NEAR(rms(middle, count, 1), (channel ? 0.25 : 0.5) / sqrt(2.0), 0.005);
    }

    resampler_destroy(a);
    resampler_destroy(b);
    planar_buffer_free(&one_shot);
    planar_buffer_free(&streamed);
    free(interleaved);
    free(reference);
    free(left);
    free(right);
}

/* A tone above the new Nyquist frequency must be filtered out, not folded back. */
static void test_anti_aliasing(void)
{
    fprintf(stderr, "-- 10 kHz tone into 16 kHz output\n");
    const size_t frames = IN_RATE;
    float *tone = make_sine(10000.0, 0.5, IN_RATE, frames);
    const float *planes[1] = { tone };
    static const size_t pieces[] = { 4410 };
    planar_buffer out;
    resampler *converter = make(IN_RATE, 1, OUT_RATE, 0);
    CHECK_INT_EQ(convert(converter, planes, 1, frames, pieces, 1, &out), AUDIO_OK);
    CHECK(out.frames > 1000);
    CHECK(rms(out.planes[0] + 500, out.frames - 1000, 1) < 0.005);
    resampler_destroy(converter);
    planar_buffer_free(&out);
    free(tone);
}

static void test_upsampling(void)
{
    fprintf(stderr, "-- 16 kHz -> 48 kHz\n");
    const size_t frames = 16000;
    float *tone = make_sine(1000.0, 0.5, 16000, frames);
    const float *planes[1] = { tone };
    static const size_t pieces[] = { 160, 161 };
    planar_buffer out;
    resampler *converter = make(16000, 1, 48000, 0);
    CHECK_INT_EQ(convert(converter, planes, 1, frames, pieces, 2, &out), AUDIO_OK);
    CHECK_NEAR((double)out.frames, 48000.0, 3.0);
    CHECK_NEAR(zero_crossing_frequency(out.planes[0] + 2400, out.frames - 4800, 1, 48000),
               1000.0, 10.0);
    double worst_ideal = 0.0;
    for (size_t i = 2400; i + 2400 < out.frames; i++)
        worst_ideal = fmax(worst_ideal,
                           fabs(out.planes[0][i] - 0.5 * sin(2.0 * M_PI * 1000.0 * i / 48000)));
    CHECK(worst_ideal <= 1e-4);
    resampler_destroy(converter);
    planar_buffer_free(&out);
    free(tone);
}

static void test_passthrough_is_bit_identical(void)
{
    fprintf(stderr, "-- equal rates pass through\n");
    const size_t frames = 10007;
    float *left = make_sine(1234.5, 0.9, 22050, frames);
    float *right = make_sine(77.0, 0.3, 22050, frames);
    left[5] = 1e-38f; /* a denormal-range value must survive too */
    right[6] = -0.0f;
    const float *planes[2] = { left, right };
    static const size_t pieces[] = { 1, 999, 3 };
    planar_buffer out;
    resampler *converter = make(22050, 2, 22050, 0);
    CHECK(converter && resampler_is_passthrough(converter));
    CHECK_INT_EQ(convert(converter, planes, 2, frames, pieces, 3, &out), AUDIO_OK);
    CHECK_INT_EQ(out.frames, frames);
    if (out.frames == frames) {
        CHECK(memcmp(out.planes[0], left, frames * sizeof(float)) == 0);
        CHECK(memcmp(out.planes[1], right, frames * sizeof(float)) == 0);
    }
    resampler_destroy(converter);
    planar_buffer_free(&out);
    free(left);
    free(right);
}

static void test_channel_rules(void)
{
    fprintf(stderr, "-- downmix and upmix\n");
    const size_t frames = 4800;
    float *left = make_sine(500.0, 0.8, 48000, frames);
    float *right = make_sine(700.0, 0.4, 48000, frames);
    const float *planes[2] = { left, right };
    static const size_t pieces[] = { 480 };

    /* Downmix at equal rates: exactly the average. */
    planar_buffer mono;
    resampler *downmix = make(48000, 2, 48000, 1);
    CHECK_INT_EQ(convert(downmix, planes, 2, frames, pieces, 1, &mono), AUDIO_OK);
    CHECK_INT_EQ(mono.channels, 1);
    CHECK_INT_EQ(mono.frames, frames);
    double worst = 0.0;
    for (size_t i = 0; i < frames && mono.frames == frames; i++)
        worst = fmax(worst, fabs(mono.planes[0][i] - 0.5 * ((double)left[i] + right[i])));
    CHECK(worst <= 1e-7);

    /* Downmix while resampling equals resampling the average. */
    float *average = malloc(frames * sizeof(float));
    for (size_t i = 0; i < frames; i++)
        average[i] = (left[i] + right[i]) * 0.5f;
    const float *average_planes[1] = { average };
    planar_buffer mixed_then_resampled, reference;
    resampler *mix_resample = make(48000, 2, 16000, 1);
    resampler *mono_resample = make(48000, 1, 16000, 0);
    CHECK_INT_EQ(convert(mix_resample, planes, 2, frames, pieces, 1, &mixed_then_resampled),
                 AUDIO_OK);
    CHECK_INT_EQ(convert(mono_resample, average_planes, 1, frames, pieces, 1, &reference),
                 AUDIO_OK);
    CHECK_INT_EQ(mixed_then_resampled.frames, reference.frames);
    if (mixed_then_resampled.frames == reference.frames)
        CHECK(memcmp(mixed_then_resampled.planes[0], reference.planes[0],
                     reference.frames * sizeof(float)) == 0);

    /* Mono to stereo duplicates. */
    planar_buffer stereo;
    resampler *upmix = make(48000, 1, 24000, 2);
    CHECK_INT_EQ(convert(upmix, average_planes, 1, frames, pieces, 1, &stereo), AUDIO_OK);
    CHECK_INT_EQ(stereo.channels, 2);
    CHECK_NEAR((double)stereo.frames, frames / 2.0, 3.0);
    if (stereo.channels == 2)
        CHECK(memcmp(stereo.planes[0], stereo.planes[1], stereo.frames * sizeof(float)) == 0);

    resampler_destroy(downmix);
    resampler_destroy(mix_resample);
    resampler_destroy(mono_resample);
    resampler_destroy(upmix);
    planar_buffer_free(&mono);
    planar_buffer_free(&mixed_then_resampled);
    planar_buffer_free(&reference);
    planar_buffer_free(&stereo);
    free(average);
    free(left);
    free(right);
}

static void test_errors(void)
{
    fprintf(stderr, "-- errors\n");
    resampler *converter = NULL;
    char message[512];
    CHECK_INT_EQ(resampler_create(1000, 1, 384000, 0, RESAMPLER_QUALITY_BEST, &converter,
                                  message, sizeof(message)),
                 AUDIO_ERR_UNSUPPORTED);
    CHECK(converter == NULL);
    CHECK_STR_CONTAINS(message, "1000 Hz to 384000 Hz");
    CHECK_INT_EQ(resampler_create(44100, 2, 16000, 3, RESAMPLER_QUALITY_BEST, &converter,
                                  message, sizeof(message)),
                 AUDIO_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(message, "2 input channels to 3");
    CHECK_INT_EQ(resampler_create(0, 1, 16000, 0, RESAMPLER_QUALITY_BEST, &converter, message,
                                  sizeof(message)),
                 AUDIO_ERR_INVALID_ARGUMENT);

    CHECK_INT_EQ(resampler_create(44100, 1, 16000, 0, RESAMPLER_QUALITY_FASTEST, &converter,
                                  message, sizeof(message)),
                 AUDIO_OK);
    planar_buffer out;
    CHECK_INT_EQ(planar_buffer_init(&out, 1), AUDIO_OK);
    float silence[64] = { 0 };
    const float *planes[1] = { silence };
    CHECK_INT_EQ(resampler_process(converter, planes, 64, &out, message, sizeof(message)),
                 AUDIO_OK);
    CHECK_INT_EQ(resampler_finish(converter, &out, message, sizeof(message)), AUDIO_OK);
    CHECK_INT_EQ(resampler_process(converter, planes, 64, &out, message, sizeof(message)),
                 AUDIO_ERR_INVALID_ARGUMENT);
    resampler_destroy(converter);
    planar_buffer_free(&out);

    resampler_quality quality;
    CHECK(resampler_quality_from_name("medium", &quality) && quality == RESAMPLER_QUALITY_MEDIUM);
    CHECK(!resampler_quality_from_name("linear", &quality));
}

int main(void)
{
    test_streaming_matches_one_shot();
    test_anti_aliasing();
    test_upsampling();
    test_passthrough_is_bit_identical();
    test_channel_rules();
    test_errors();
    return CHECK_DONE();
}
