#include "time_pitch.h"

#include <math.h>
#include <pthread.h>
#include <rubberband/rubberband-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Frames handed to the stretcher per call. */
#define BLOCK_FRAMES 4096u

/* Rubber Band picks its FFT and fills shared tables when a stretcher is first made; making
 * them one at a time keeps concurrent jobs from racing there. Processing needs no lock. */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

int time_pitch_is_identity(const time_pitch_settings *settings)
{
    return settings->semitones == 0.0 && settings->speed == 1.0;
}

uint64_t time_pitch_output_frames(uint64_t frames, double speed)
{
    return (uint64_t)llround((double)frames / speed);
}

/* Move what the stretcher has ready into out[] from *written on, at most `limit` frames in
 * all; anything past the limit is read and dropped (the stretcher may round up). */
static void drain(RubberBandState stretcher, uint32_t channels, float *const *out,
                  uint64_t limit, uint64_t *written, float *const *scratch)
{
    for (;;) {
        const int available = rubberband_available(stretcher);
        if (available <= 0)
            return;
        const unsigned int want = available < (int)BLOCK_FRAMES ? (unsigned int)available
                                                                : BLOCK_FRAMES;
        const unsigned int got = rubberband_retrieve(stretcher, scratch, want);
        if (got == 0)
            return;
        uint64_t keep = limit - *written < got ? limit - *written : got;
        for (uint32_t c = 0; c < channels; c++)
            memcpy(out[c] + *written, scratch[c], (size_t)keep * sizeof(float));
        *written += keep;
    }
}

int time_pitch_process(const float *const *in, uint32_t channels, uint64_t frames,
                       uint32_t rate, const time_pitch_settings *settings,
                       time_pitch_keep_going keep_going, void *context, float *const *out,
                       char *reason, size_t cap)
{
    const uint64_t out_frames = time_pitch_output_frames(frames, settings->speed);
    if (channels == 0 || channels > TIME_PITCH_MAX_CHANNELS) {
        snprintf(reason, cap, "pitch and speed shift take 1 to %u channels, not %u",
                 TIME_PITCH_MAX_CHANNELS, channels);
        return -1;
    }
    if (frames > UINT32_MAX) {
        snprintf(reason, cap, "%llu frames is more than the stretcher takes in one job",
                 (unsigned long long)frames);
        return -1;
    }
    if (frames == 0)
        return 0;
    /* Offline mode: the stretcher studies the whole input first, which fixes the output
     * length to input x ratio and lets it hide its own start delay, so nothing is padded or
     * cut by hand. No threads of its own: a job runs on the engine's thread. The R3 ("finer")
     * engine keeps pitch within 0.1% on tones; R2 drifted by over 1% in tests. */
    RubberBandOptions options = RubberBandOptionProcessOffline | RubberBandOptionThreadingNever |
                                RubberBandOptionPitchHighQuality |
                                RubberBandOptionEngineFiner |
                                (settings->preserve_formants ? RubberBandOptionFormantPreserved
                                                             : RubberBandOptionFormantShifted);
    pthread_mutex_lock(&create_lock);
    RubberBandState stretcher = rubberband_new(rate, channels, options, 1.0 / settings->speed,
                                               pow(2.0, settings->semitones / 12.0));
    pthread_mutex_unlock(&create_lock);
    if (!stretcher) {
        snprintf(reason, cap, "the Rubber Band stretcher could not be created");
        return -1;
    }
    rubberband_set_expected_input_duration(stretcher, (unsigned int)frames);
    rubberband_set_max_process_size(stretcher, BLOCK_FRAMES);

    float *scratch_data = malloc((size_t)channels * BLOCK_FRAMES * sizeof(float));
    if (!scratch_data) {
        rubberband_delete(stretcher);
        snprintf(reason, cap, "out of memory");
        return -1;
    }
    float *scratch[TIME_PITCH_MAX_CHANNELS];
    const float *block[TIME_PITCH_MAX_CHANNELS];
    for (uint32_t c = 0; c < channels; c++)
        scratch[c] = scratch_data + (size_t)c * BLOCK_FRAMES;

    int result = 0;
    for (int pass = 0; pass < 2 && result == 0; pass++) {
        uint64_t written = 0;
        for (uint64_t at = 0; at < frames; at += BLOCK_FRAMES) {
            if (keep_going && !keep_going(context)) {
                result = 1;
                break;
            }
            const uint64_t n = frames - at < BLOCK_FRAMES ? frames - at : BLOCK_FRAMES;
            const int final = at + n == frames;
            for (uint32_t c = 0; c < channels; c++)
                block[c] = in[c] + at;
            if (pass == 0) {
                rubberband_study(stretcher, block, (unsigned int)n, final);
            } else {
                rubberband_process(stretcher, block, (unsigned int)n, final);
                drain(stretcher, channels, out, out_frames, &written, scratch);
            }
        }
        if (pass == 1 && result == 0) {
            /* the tail: available() turns -1 once everything has been retrieved */
            while (rubberband_available(stretcher) > 0)
                drain(stretcher, channels, out, out_frames, &written, scratch);
            /* Should the stretcher round the length down, the last frames stay silent. */
            for (uint32_t c = 0; c < channels; c++)
                memset(out[c] + written, 0, (size_t)(out_frames - written) * sizeof(float));
        }
    }
    rubberband_delete(stretcher);
    free(scratch_data);
    return result;
}
