/* What the decode and vocoder tests share: the tiny synthetic model, the reference dumps of
 * tests/reference/bicodec_decode_reference.py, and the tolerance check. */
#ifndef DECODE_TEST_SUPPORT_H
#define DECODE_TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The reference cases, in the order of the script. */
extern const char *const dts_cases[];
extern const size_t dts_case_count;

/* The `tiny` model, seed 0, written once into a temporary directory (removed at exit).
 * NULL (with the reason on stderr) when it cannot be made. */
const char *dts_tiny_model(void);

/* One reference case (tests/reference/data/bicodec_decode/NAME.safetensors). */
typedef struct dts_case {
    int32_t *semantic, *global;
    size_t n_semantic, n_global;
    float *d_vector, *zq, *prenet, *vocoder_in, *pre_tanh, *waveform;
    /* the vocoder on vocoder_in * manifest quiet_scale: outputs short of the tanh's saturation */
    float *quiet_vocoder_in, *quiet_pre_tanh, *quiet_waveform;
    /* the vocoder before the tanh with its Conv1d weights and inputs rounded to bf16 */
    float *bf16_pre_tanh;
    size_t d_dim, channels; /* zq, prenet and vocoder_in are (channels, n_semantic) */
    size_t samples;         /* pre_tanh and waveform */
} dts_case;

/* Loads a case; false (reason on stderr) when the file is missing or malformed. */
bool dts_case_load(dts_case *c, const char *name);
void dts_case_free(dts_case *c);

/* max |got - want| / (max(want) - min(want)): the error relative to the tensor's range. */
double dts_range_error(const float *got, const float *want, size_t n);
/* Prints "what: error e (limit tol)" and returns whether e <= tol. */
bool dts_within(const char *what, const float *got, const float *want, size_t n, double tol);
/* The same with the error taken relative to another tensor's range: the waveform against the
 * range before its tanh, which bounds how far float rounding there can move it (tanh is
 * 1-Lipschitz). */
bool dts_within_range_of(const char *what, const float *got, const float *want, size_t n,
                         const float *range_of, double tol);

/* The acceptance tolerance: 1e-4 of the reference tensor's range. */
#define DTS_TOLERANCE 1e-4

#endif
