/* Normalising a whole programme to a target integrated loudness under a true-peak ceiling:
 * one static gain, and where that gain would push peaks over the ceiling, the look-ahead
 * limiter of peak_limiter.h on oversampled peaks. Free of SDK types. */
#ifndef LOUDNESS_NORMALIZE_H
#define LOUDNESS_NORMALIZE_H

#include <stddef.h>
#include <stdint.h>

#include "loudness_meter.h"

typedef struct loudness_settings {
    double target_lufs;       /* integrated loudness to reach */
    double ceiling_dbtp;      /* true peak never above this */
    double silence_gate_lufs; /* quieter programmes pass through unchanged */
    double lookahead_ms;      /* limiter attack */
    double release_ms;        /* limiter release time constant */
    int dual_mono;            /* measure mono as two loudspeakers */
} loudness_settings;

typedef struct loudness_report {
    loudness_measurement input;
    loudness_measurement output;
    int normalized;             /* 0: below the silence gate, audio left as it was */
    double gain_db;             /* the static gain applied */
    int limited;                /* the limiter acted */
    double limiter_reduction_db; /* its deepest reduction (<= 0), 0 when it did not act */
} loudness_report;

/* 1 to go on, 0 to stop (the job is cancelled); checked between passes. */
typedef int (*loudness_keep_going)(void *context);

/* Normalise planes[channels][frames] (rate Hz) in place, given their measurement `input`.
 * Below the silence gate nothing is touched and report->normalized is 0. Returns 0, 1 when
 * keep_going asked to stop (planes then unspecified), or -1 with the reason in reason[cap]. */
int loudness_normalize(float *const *planes, uint32_t channels, uint64_t frames, uint32_t rate,
                       const loudness_settings *settings, const loudness_measurement *input,
                       loudness_keep_going keep_going, void *context, loudness_report *report,
                       char *reason, size_t cap);

#endif
