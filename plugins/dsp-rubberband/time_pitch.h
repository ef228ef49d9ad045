/* Pitch and tempo change of a whole signal with the Rubber Band library in offline mode.
 * Free of SDK types. */
#ifndef TIME_PITCH_H
#define TIME_PITCH_H

#include <stddef.h>
#include <stdint.h>

#define TIME_PITCH_MAX_CHANNELS 8u

typedef struct time_pitch_settings {
    double semitones;      /* pitch change, -12 .. 12 */
    double speed;          /* tempo factor, 0.5 .. 2: output lasts input / speed */
    int preserve_formants; /* keep the spectral envelope (voice timbre) while shifting */
} time_pitch_settings;

/* 1 when the settings change nothing (0 semitones, speed 1): the audio must pass as is. */
int time_pitch_is_identity(const time_pitch_settings *settings);

/* Frames the output of `frames` input frames has: llround(frames / speed). */
uint64_t time_pitch_output_frames(uint64_t frames, double speed);

/* 1 to go on, 0 to stop (the job is cancelled). */
typedef int (*time_pitch_keep_going)(void *context);

/* Process in[channels][frames] (rate Hz) into out[c], arrays of exactly
 * time_pitch_output_frames(frames, speed) floats each, allocated by the caller. The output
 * starts where the input starts (no added latency) and keeps its tail. Returns 0, 1 when
 * keep_going asked to stop, or -1 with the reason in reason[cap]. */
int time_pitch_process(const float *const *in, uint32_t channels, uint64_t frames,
                       uint32_t rate, const time_pitch_settings *settings,
                       time_pitch_keep_going keep_going, void *context, float *const *out,
                       char *reason, size_t cap);

#endif
