/* BS.1770 / EBU R 128 measurement of planar float audio through libebur128: integrated
 * loudness, loudness range and true peak. Free of SDK types. */
#ifndef LOUDNESS_METER_H
#define LOUDNESS_METER_H

#include <stddef.h>
#include <stdint.h>

/* Channels libebur128 can weight: mono, stereo, 3.0, quad, 5.0 and 5.1 (WAV order). */
#define LOUDNESS_MAX_CHANNELS 6u

typedef struct loudness_measurement {
    double integrated_lufs; /* -INFINITY when every block is below the -70 LUFS gate */
    double range_lu;        /* loudness range (EBU Tech 3342) */
    double true_peak_dbtp;  /* -INFINITY for digital silence */
} loudness_measurement;

typedef struct loudness_meter loudness_meter;

/* A meter for audio of `channels` channels at `rate` Hz. dual_mono counts a mono channel
 * twice (+3 dB), as it sounds on two loudspeakers. NULL with the reason in reason[cap] when
 * the layout is not supported or memory runs out. */
loudness_meter *loudness_meter_new(uint32_t channels, uint32_t rate, int dual_mono,
                                   char *reason, size_t cap);
void loudness_meter_free(loudness_meter *meter);

/* Feed frames of planar audio (planes[channels][frames]). 0 on success, -1 on failure with
 * the reason in reason[cap]. */
int loudness_meter_add(loudness_meter *meter, const float *const *planes, uint64_t frames,
                       char *reason, size_t cap);

/* The measurement over everything fed so far. 0, or -1 with the reason. */
int loudness_meter_read(loudness_meter *meter, loudness_measurement *out, char *reason,
                        size_t cap);

/* Measure planes[channels][frames] in one call. */
int loudness_measure(const float *const *planes, uint32_t channels, uint64_t frames,
                     uint32_t rate, int dual_mono, loudness_measurement *out, char *reason,
                     size_t cap);

#endif
