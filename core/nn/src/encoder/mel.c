/* The speaker path's linear-magnitude mel spectrogram, as torchaudio's MelSpectrogram with
 * power 1, slaney scale and norm, centred reflect-padded frames and a periodic Hann window
 * padded to n_fft. The STFT is FFTW's real transform. Spec 4.1. */
#include "encoder/encoder_internal.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "spark/nn/gemm.h"

struct enc_mel {
    size_t n_fft, bins, hop, n_mels;
    float *window;      /* n_fft: the Hann window centred in n_fft */
    float *filterbank;  /* (n_mels, bins): rows are filters, as nn_linear_f32 weights */
    float *frame;       /* n_fft, FFTW input */
    fftwf_complex *spectrum;
    fftwf_plan plan;
};

/* FFTW's planner is not thread-safe. */
static pthread_mutex_t planner_lock = PTHREAD_MUTEX_INITIALIZER;

static double hz_to_mel(double hz)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, logstep = log(6.4) / 27.0;
    if (hz >= min_log_hz)
        return min_log_hz / f_sp + log(hz / min_log_hz) / logstep;
    return hz / f_sp;
}

static double mel_to_hz(double mel)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, logstep = log(6.4) / 27.0;
    double min_log_mel = min_log_hz / f_sp;
    if (mel >= min_log_mel)
        return min_log_hz * exp(logstep * (mel - min_log_mel));
    return f_sp * mel;
}

/* torchaudio's melscale_fbanks(norm="slaney", mel_scale="slaney"), stored filter-major. */
static void slaney_filterbank(float *fb, size_t bins, size_t n_mels, double sample_rate,
                              double f_min, double f_max)
{
    size_t points = n_mels + 2;
    double *f_pts = malloc(points * sizeof *f_pts);
    if (!f_pts)
        return;
    double m_min = hz_to_mel(f_min), m_max = hz_to_mel(f_max);
    for (size_t i = 0; i < points; i++)
        f_pts[i] = mel_to_hz(m_min + (m_max - m_min) * (double)i / (double)(points - 1));
    for (size_t m = 0; m < n_mels; m++) {
        double lower = f_pts[m + 1] - f_pts[m], upper = f_pts[m + 2] - f_pts[m + 1];
        double enorm = 2.0 / (f_pts[m + 2] - f_pts[m]);
        for (size_t b = 0; b < bins; b++) {
            double freq = sample_rate / 2.0 * (double)b / (double)(bins - 1);
            double down = (freq - f_pts[m]) / lower;    /* -(f_pts[m] - freq) / lower */
            double up = (f_pts[m + 2] - freq) / upper;
            double w = down < up ? down : up;
            fb[m * bins + b] = (float)((w > 0.0 ? w : 0.0) * enorm);
        }
    }
    free(f_pts);
}

enc_mel *enc_mel_create(int64_t sample_rate, int64_t n_fft, int64_t win_length,
                        int64_t hop_length, int64_t n_mels, double f_min, double f_max,
                        char **error)
{
    if (n_fft < 2 || win_length < 1 || win_length > n_fft || hop_length < 1 || n_mels < 1) {
        *error = enc_strdupf("mel settings: n_fft %lld, win_length %lld, hop %lld, mels %lld "
                             "do not describe a spectrogram", (long long)n_fft,
                             (long long)win_length, (long long)hop_length, (long long)n_mels);
        return NULL;
    }
    enc_mel *mel = calloc(1, sizeof *mel);
    if (!mel) {
        *error = enc_strdupf("out of memory for the mel spectrogram");
        return NULL;
    }
    mel->n_fft = (size_t)n_fft;
    mel->bins = mel->n_fft / 2 + 1;
    mel->hop = (size_t)hop_length;
    mel->n_mels = (size_t)n_mels;
    mel->window = calloc(mel->n_fft, sizeof *mel->window);
    mel->filterbank = calloc(mel->n_mels * mel->bins, sizeof *mel->filterbank);
    mel->frame = fftwf_alloc_real(mel->n_fft);
    mel->spectrum = fftwf_alloc_complex(mel->bins);
    if (!mel->window || !mel->filterbank || !mel->frame || !mel->spectrum) {
        enc_mel_free(mel);
        *error = enc_strdupf("out of memory for the mel spectrogram");
        return NULL;
    }
    size_t offset = (mel->n_fft - (size_t)win_length) / 2;
    for (int64_t i = 0; i < win_length; i++) /* periodic Hann */
        mel->window[offset + (size_t)i] =
            (float)(0.5 - 0.5 * cos(2.0 * M_PI * (double)i / (double)win_length));
    slaney_filterbank(mel->filterbank, mel->bins, mel->n_mels, (double)sample_rate, f_min,
                      f_max > 0.0 ? f_max : (double)sample_rate / 2.0);
    pthread_mutex_lock(&planner_lock);
    mel->plan = fftwf_plan_dft_r2c_1d((int)mel->n_fft, mel->frame, mel->spectrum,
                                      FFTW_ESTIMATE);
    pthread_mutex_unlock(&planner_lock);
    if (!mel->plan) {
        enc_mel_free(mel);
        *error = enc_strdupf("FFTW could not plan a %lld-point transform", (long long)n_fft);
        return NULL;
    }
    return mel;
}

void enc_mel_free(enc_mel *mel)
{
    if (!mel)
        return;
    if (mel->plan) {
        pthread_mutex_lock(&planner_lock);
        fftwf_destroy_plan(mel->plan);
        pthread_mutex_unlock(&planner_lock);
    }
    fftwf_free(mel->frame);
    fftwf_free(mel->spectrum);
    free(mel->window);
    free(mel->filterbank);
    free(mel);
}

size_t enc_mel_frames(const enc_mel *mel, size_t n)
{
    return 1 + n / mel->hop;
}

/* Sample i of the signal reflect-padded by pad on each side (numpy "reflect": the edge
 * sample is not repeated). */
static float reflected(const float *wav, size_t n, ptrdiff_t i)
{
    if (n == 1)
        return wav[0];
    ptrdiff_t period = 2 * ((ptrdiff_t)n - 1);
    i %= period;
    if (i < 0)
        i += period;
    return wav[i < (ptrdiff_t)n ? i : period - i];
}

int enc_mel_forward(enc_mel *mel, nn_pool *pool, const float *wav, size_t n, float *out)
{
    size_t frames = enc_mel_frames(mel, n);
    float *magnitude = malloc(frames * mel->bins * sizeof *magnitude);
    float *time_major = malloc(frames * mel->n_mels * sizeof *time_major);
    if (!magnitude || !time_major) {
        free(magnitude);
        free(time_major);
        return -1;
    }
    ptrdiff_t pad = (ptrdiff_t)(mel->n_fft / 2);
    for (size_t t = 0; t < frames; t++) {
        ptrdiff_t start = (ptrdiff_t)(t * mel->hop) - pad;
        for (size_t j = 0; j < mel->n_fft; j++)
            mel->frame[j] = mel->window[j] == 0.0f
                                ? 0.0f
                                : mel->window[j] * reflected(wav, n, start + (ptrdiff_t)j);
        fftwf_execute(mel->plan);
        float *row = magnitude + t * mel->bins;
        for (size_t b = 0; b < mel->bins; b++)
            row[b] = hypotf(mel->spectrum[b][0], mel->spectrum[b][1]);
    }
    nn_linear_f32(pool, frames, mel->n_mels, mel->bins, magnitude, mel->bins, mel->filterbank,
                  mel->bins, NULL, time_major, mel->n_mels, false);
    nn_transpose_f32(time_major, mel->n_mels, frames, mel->n_mels, out, frames);
    free(magnitude);
    free(time_major);
    return 0;
}
