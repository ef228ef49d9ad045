#include "loudness_meter.h"

#include <ebur128.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* Frames interleaved per ebur128_add_frames_float call. */
#define METER_CHUNK_FRAMES 4096u

struct loudness_meter {
    ebur128_state *state;
    uint32_t channels;
    float *interleaved; /* [METER_CHUNK_FRAMES * channels] */
};

/* ebur128_init rewrites file-scope tables of the library on every call; two jobs starting
 * at once would race on them, so states are made one at a time. */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

/* Loudspeaker position of each channel, by channel count (WAV channel order). */
static int channel_position(uint32_t channels, uint32_t index, int dual_mono)
{
    static const int quad[] = { EBUR128_LEFT, EBUR128_RIGHT, EBUR128_LEFT_SURROUND,
                                EBUR128_RIGHT_SURROUND };
    static const int five[] = { EBUR128_LEFT, EBUR128_RIGHT, EBUR128_CENTER,
                                EBUR128_LEFT_SURROUND, EBUR128_RIGHT_SURROUND };
    static const int five_one[] = { EBUR128_LEFT, EBUR128_RIGHT, EBUR128_CENTER,
                                    EBUR128_UNUSED, /* LFE is not measured */
                                    EBUR128_LEFT_SURROUND, EBUR128_RIGHT_SURROUND };
    switch (channels) {
    case 1:
        return dual_mono ? EBUR128_DUAL_MONO : EBUR128_CENTER;
    case 2:
        return index == 0 ? EBUR128_LEFT : EBUR128_RIGHT;
    case 3:
        return index == 0 ? EBUR128_LEFT : index == 1 ? EBUR128_RIGHT : EBUR128_CENTER;
    case 4:
        return quad[index];
    case 5:
        return five[index];
    default:
        return five_one[index];
    }
}

loudness_meter *loudness_meter_new(uint32_t channels, uint32_t rate, int dual_mono,
                                   char *reason, size_t cap)
{
    if (channels == 0 || channels > LOUDNESS_MAX_CHANNELS) {
        snprintf(reason, cap,
                 "loudness is measured for 1 to %u channels (mono to 5.1), not %u",
                 LOUDNESS_MAX_CHANNELS, channels);
        return NULL;
    }
    if (rate < 8000 || rate > 384000) {
        snprintf(reason, cap, "sample rate must be 8000 to 384000 Hz for loudness, not %u",
                 rate);
        return NULL;
    }
    loudness_meter *meter = calloc(1, sizeof(*meter));
    float *interleaved = calloc((size_t)METER_CHUNK_FRAMES * channels, sizeof(float));
    if (!meter || !interleaved) {
        free(meter);
        free(interleaved);
        snprintf(reason, cap, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&init_lock);
    meter->state = ebur128_init(channels, rate,
                                EBUR128_MODE_I | EBUR128_MODE_LRA | EBUR128_MODE_TRUE_PEAK);
    pthread_mutex_unlock(&init_lock);
    if (!meter->state) {
        free(meter);
        free(interleaved);
        snprintf(reason, cap, "libebur128 could not start a meter (out of memory)");
        return NULL;
    }
    for (uint32_t c = 0; c < channels; c++) {
        if (ebur128_set_channel(meter->state, c, channel_position(channels, c, dual_mono)) !=
            EBUR128_SUCCESS) {
            snprintf(reason, cap, "libebur128 refused the position of channel %u", c);
            ebur128_destroy(&meter->state);
            free(meter);
            free(interleaved);
            return NULL;
        }
    }
    meter->channels = channels;
    meter->interleaved = interleaved;
    return meter;
}

void loudness_meter_free(loudness_meter *meter)
{
    if (!meter)
        return;
    if (meter->state)
        ebur128_destroy(&meter->state);
    free(meter->interleaved);
    free(meter);
}

int loudness_meter_add(loudness_meter *meter, const float *const *planes, uint64_t frames,
                       char *reason, size_t cap)
{
    const uint32_t channels = meter->channels;
    for (uint64_t done = 0; done < frames;) {
        uint64_t n = frames - done;
        if (n > METER_CHUNK_FRAMES)
            n = METER_CHUNK_FRAMES;
        for (uint64_t i = 0; i < n; i++)
            for (uint32_t c = 0; c < channels; c++)
                meter->interleaved[i * channels + c] = planes[c][done + i];
        if (ebur128_add_frames_float(meter->state, meter->interleaved, (size_t)n) !=
            EBUR128_SUCCESS) {
            snprintf(reason, cap, "libebur128 failed to take %llu frames (out of memory)",
                     (unsigned long long)n);
            return -1;
        }
        done += n;
    }
    return 0;
}

int loudness_meter_read(loudness_meter *meter, loudness_measurement *out, char *reason,
                        size_t cap)
{
    double integrated = 0.0, range = 0.0, peak = 0.0;
    if (ebur128_loudness_global(meter->state, &integrated) != EBUR128_SUCCESS ||
        ebur128_loudness_range(meter->state, &range) != EBUR128_SUCCESS) {
        snprintf(reason, cap, "libebur128 could not compute the loudness");
        return -1;
    }
    for (uint32_t c = 0; c < meter->channels; c++) {
        double channel_peak = 0.0;
        if (ebur128_true_peak(meter->state, c, &channel_peak) != EBUR128_SUCCESS) {
            snprintf(reason, cap, "libebur128 could not compute the true peak");
            return -1;
        }
        if (channel_peak > peak)
            peak = channel_peak;
    }
    /* libebur128 answers -HUGE_VAL for gated-out audio; keep one spelling of "none". */
    out->integrated_lufs = isfinite(integrated) ? integrated : -INFINITY;
    out->range_lu = isfinite(range) ? range : 0.0;
    out->true_peak_dbtp = peak > 0.0 ? 20.0 * log10(peak) : -INFINITY;
    return 0;
}

int loudness_measure(const float *const *planes, uint32_t channels, uint64_t frames,
                     uint32_t rate, int dual_mono, loudness_measurement *out, char *reason,
                     size_t cap)
{
    loudness_meter *meter = loudness_meter_new(channels, rate, dual_mono, reason, cap);
    if (!meter)
        return -1;
    int result = loudness_meter_add(meter, planes, frames, reason, cap);
    if (result == 0)
        result = loudness_meter_read(meter, out, reason, cap);
    loudness_meter_free(meter);
    return result;
}
