// speaker_cuda.cu - the speaker path on the GPU (spark/nn/speaker_cuda.h), step for step as
// core/nn/src/encoder/{mel,ecapa,perceiver,fsq}.c: mel frames and cuFFT, ECAPA-TDNN with its
// BatchNorms folded into a scale and shift, the Perceiver, and the CPU's own FSQ tokenizer on
// the 32 latents. Weights are read with the CPU encoder's tensor helpers.
#include "cuda_internal.h"

#include "spark/nn/conv_cuda.h"
#include "spark/nn/spark_model.h"
#include "spark/nn/speaker_cuda.h"

extern "C" {
#include "encoder/encoder_internal.h"
}

#include <cufft.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

namespace {

constexpr size_t kRes2 = NN_SPARK_ECAPA_RES2_SCALE;
constexpr size_t kEcapa = NN_SPARK_ECAPA_CHANNELS;
constexpr size_t kSe = NN_SPARK_ECAPA_SE_BOTTLENECK;
constexpr size_t kDepth = NN_SPARK_PERCEIVER_DEPTH;
#define ECAPA "speaker_encoder.speaker_encoder."
#define PERCEIVER "speaker_encoder.perceiver_sampler."

int blocks_for(size_t n)
{
    size_t b = (n + NNCU_THREADS - 1) / NNCU_THREADS;
    return (int)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

#define GRID_STRIDE(i, n)                                                                  \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);                 \
         i += (size_t)gridDim.x * blockDim.x)

// numpy "reflect" padding: the edge sample is not repeated
__device__ float reflected(const float *wav, long n, long i)
{
    if (n == 1)
        return wav[0];
    const long period = 2 * (n - 1);
    i %= period;
    if (i < 0)
        i += period;
    return wav[i < n ? i : period - i];
}

__global__ void frames_kernel(const float *wav, size_t n, size_t n_fft, size_t hop,
                              const float *window, size_t frames, float *out)
{
    GRID_STRIDE(idx, frames * n_fft)
    {
        const size_t t = idx / n_fft, j = idx % n_fft;
        const long start = (long)(t * hop) - (long)(n_fft / 2);
        out[idx] = window[j] == 0.0f ? 0.0f
                                     : window[j] * reflected(wav, (long)n, start + (long)j);
    }
}

__global__ void magnitude_kernel(const cufftComplex *spec, size_t count, float *mag)
{
    GRID_STRIDE(i, count)
    mag[i] = hypotf(spec[i].x, spec[i].y);
}

// y = max(y, 0) * scale[c] + shift[c] on channel-major (channels, t)
__global__ void relu_bn_kernel(float *y, size_t channels, size_t t, const float *scale,
                               const float *shift)
{
    GRID_STRIDE(i, channels * t)
    {
        const size_t c = i / t;
        y[i] = (y[i] > 0.0f ? y[i] : 0.0f) * scale[c] + shift[c];
    }
}

__global__ void sum2_kernel(float *out, const float *a, const float *b, size_t n)
{
    GRID_STRIDE(i, n)
    out[i] = a[i] + b[i];
}

__global__ void relu_kernel(float *x, size_t n)
{
    GRID_STRIDE(i, n)
    x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

// mean over time of each channel row, one block per channel
__global__ void channel_mean_kernel(const float *x, size_t t, float *mean)
{
    __shared__ float part[NNCU_THREADS];
    const float *row = x + blockIdx.x * t;
    float sum = 0.f;
    for (size_t i = threadIdx.x; i < t; i += blockDim.x)
        sum += row[i];
    part[threadIdx.x] = sum;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        mean[blockIdx.x] = part[0] / (float)t;
}

// out = x + a * sigmoid(gate[c]), channel-major
__global__ void se_apply_kernel(float *out, const float *x, const float *a, const float *gate,
                                size_t channels, size_t t)
{
    GRID_STRIDE(i, channels * t)
    {
        const float g = 1.0f / (1.0f + expf(-gate[i / t]));
        out[i] = x[i] + a[i] * g;
    }
}

// GEGLU: gated[i][j] = gelu(ff[i][f + j]) * ff[i][j]
__global__ void geglu_kernel(const float *ff, size_t rows, size_t f, float *gated)
{
    GRID_STRIDE(idx, rows * f)
    {
        const size_t i = idx / f, j = idx % f;
        const float g = ff[i * 2 * f + f + j];
        gated[idx] = 0.5f * g * (1.0f + erff(g * 0.70710678118654752f)) * ff[i * 2 * f + j];
    }
}

// out = x / max(||x||, 1e-12) * sqrt(d) * gamma per row, one block per row
__global__ void rms_rows_kernel(const float *x, size_t d, const float *gamma, float *out)
{
    __shared__ float part[NNCU_THREADS];
    const float *row = x + blockIdx.x * d;
    float sum = 0.f;
    for (size_t j = threadIdx.x; j < d; j += blockDim.x)
        sum += row[j] * row[j];
    part[threadIdx.x] = sum;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    float norm = sqrtf(part[0]);
    norm = norm > 1e-12f ? norm : 1e-12f;
    const float root = sqrtf((float)d);
    for (size_t j = threadIdx.x; j < d; j += blockDim.x)
        out[blockIdx.x * d + j] = row[j] / norm * root * gamma[j];
}

double hz_to_mel(double hz)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, logstep = std::log(6.4) / 27.0;
    if (hz >= min_log_hz)
        return min_log_hz / f_sp + std::log(hz / min_log_hz) / logstep;
    return hz / f_sp;
}

double mel_to_hz(double mel)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, logstep = std::log(6.4) / 27.0;
    const double min_log_mel = min_log_hz / f_sp;
    if (mel >= min_log_mel)
        return min_log_hz * std::exp(logstep * (mel - min_log_mel));
    return f_sp * mel;
}

// torchaudio's melscale_fbanks(norm="slaney", mel_scale="slaney"), filter-major
void slaney_filterbank(float *fb, size_t bins, size_t n_mels, double rate, double f_min,
                       double f_max)
{
    const size_t points = n_mels + 2;
    std::vector<double> f_pts(points);
    const double m_min = hz_to_mel(f_min), m_max = hz_to_mel(f_max);
    for (size_t i = 0; i < points; i++)
        f_pts[i] = mel_to_hz(m_min + (m_max - m_min) * (double)i / (double)(points - 1));
    for (size_t m = 0; m < n_mels; m++) {
        const double lower = f_pts[m + 1] - f_pts[m], upper = f_pts[m + 2] - f_pts[m + 1];
        const double enorm = 2.0 / (f_pts[m + 2] - f_pts[m]);
        for (size_t b = 0; b < bins; b++) {
            const double freq = rate / 2.0 * (double)b / (double)(bins - 1);
            const double down = (freq - f_pts[m]) / lower, up = (f_pts[m + 2] - freq) / upper;
            const double w = down < up ? down : up;
            fb[m * bins + b] = (float)((w > 0.0 ? w : 0.0) * enorm);
        }
    }
}

struct crb { // conv -> ReLU -> BatchNorm (folded)
    nn_cuda_conv1d conv = {};
    float *scale = nullptr, *shift = nullptr;
};

struct se_res2 {
    crb pre, post, res2[kRes2 - 1];
    float *se_w1 = nullptr, *se_b1 = nullptr, *se_w2 = nullptr, *se_b2 = nullptr;
};

struct perceiver_layer {
    float *to_q = nullptr, *to_kv = nullptr, *to_out = nullptr;
    float *ff1_w = nullptr, *ff1_b = nullptr, *ff2_w = nullptr, *ff2_b = nullptr;
};

void free_crb(crb &l)
{
    nn_cuda_conv1d_free(&l.conv);
    nn_cuda_free(l.scale);
    nn_cuda_free(l.shift);
    l = crb();
}

struct uploader {
    enc_weights *w;
    char *err;
    size_t err_size;

    float *operator()(const char *name, uint64_t elements) const
    {
        const float *h = enc_tensor(w, name, elements);
        if (!h)
            return nullptr;
        float *d = nn_cuda_upload_f32(h, elements, name, err, err_size);
        if (!d)
            enc_weights_fail(w, "%s", err);
        return d;
    }
};

void load_crb(const uploader &up, crb &l, const nn_conv1d_shape &shape, const char *conv,
              const char *bn)
{
    enc_weights *w = up.w;
    char name[200];
    snprintf(name, sizeof name, "%s.weight", conv);
    const float *weight =
        enc_tensor(w, name, shape.out_channels * shape.in_channels * shape.kernel);
    snprintf(name, sizeof name, "%s.bias", conv);
    const float *bias = enc_tensor(w, name, shape.out_channels);
    if (weight && bias && nn_cuda_conv1d_init(&l.conv, &shape, weight, bias, up.err, up.err_size))
        enc_weights_fail(w, "%s", up.err);
    const size_t c = shape.out_channels;
    const float *p[4];
    const char *fields[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", bn, fields[i]);
        p[i] = enc_tensor(w, name, c);
    }
    if (w->error)
        return;
    std::vector<float> scale(c), shift(c);
    for (size_t i = 0; i < c; i++) {
        const float s = p[0][i] / sqrtf(p[3][i] + 1e-5f);
        scale[i] = s;
        shift[i] = p[1][i] - p[2][i] * s;
    }
    if (!(l.scale = nn_cuda_upload_f32(scale.data(), c, "a batch norm", up.err, up.err_size)) ||
        !(l.shift = nn_cuda_upload_f32(shift.data(), c, "a batch norm", up.err, up.err_size)))
        enc_weights_fail(w, "%s", up.err);
}

} // namespace

struct nn_speaker_encoder_cuda {
    int device = 0;
    // mel
    size_t n_fft = 0, bins = 0, hop = 0, n_mels = 0;
    float *window = nullptr, *filterbank = nullptr;
    // ECAPA
    size_t channels = kEcapa;
    crb layer1;
    se_res2 blocks[3];
    nn_cuda_conv1d cat_conv = {};
    // Perceiver
    size_t dim = 0, count = 0, context = 0, heads = 0, dim_head = 0, inner = 0, ff = 0;
    float *proj_w = nullptr, *proj_b = nullptr, *latents = nullptr, *gamma = nullptr;
    perceiver_layer layers[kDepth];
    // FSQ on the host (the CPU's code), with its own copies of project_in
    enc_fsq fsq = {};
    std::vector<float> fsq_w, fsq_b;
};

struct nn_speaker_cuda_job {
    const nn_speaker_encoder_cuda *enc = nullptr;
    nn_cuda_stream *stream = nullptr;
    cufftHandle plan = 0;
    bool plan_made = false;
    size_t max_samples = 0, max_frames = 0;
    float *wav = nullptr, *frames = nullptr, *mag = nullptr, *mel_tm = nullptr, *mel = nullptr;
    cufftComplex *spec = nullptr;
    float *out1 = nullptr, *cat = nullptr, *a = nullptr, *r = nullptr, *sp = nullptr,
          *scratch = nullptr, *cm = nullptr, *latent = nullptr, *mean = nullptr,
          *hidden = nullptr, *gate = nullptr;
    float *kv_in = nullptr, *q = nullptr, *kv = nullptr, *scores = nullptr, *heads = nullptr,
          *ffb = nullptr, *gated = nullptr, *out = nullptr;
    float *host = nullptr; // pinned: the clip in, the latents out
};

extern "C" void nn_speaker_encoder_cuda_free(nn_speaker_encoder_cuda *e)
{
    if (!e)
        return;
    nn_cuda_free(e->window);
    nn_cuda_free(e->filterbank);
    free_crb(e->layer1);
    for (se_res2 &b : e->blocks) {
        free_crb(b.pre);
        free_crb(b.post);
        for (crb &c : b.res2)
            free_crb(c);
        float *p[] = {b.se_w1, b.se_b1, b.se_w2, b.se_b2};
        for (float *x : p)
            nn_cuda_free(x);
    }
    nn_cuda_conv1d_free(&e->cat_conv);
    float *p[] = {e->proj_w, e->proj_b, e->latents, e->gamma};
    for (float *x : p)
        nn_cuda_free(x);
    for (perceiver_layer &L : e->layers) {
        float *q[] = {L.to_q, L.to_kv, L.to_out, L.ff1_w, L.ff1_b, L.ff2_w, L.ff2_b};
        for (float *x : q)
            nn_cuda_free(x);
    }
    delete e;
}

extern "C" nn_speaker_encoder_cuda *nn_speaker_encoder_cuda_load(const char *model_dir,
                                                                 int device, char *err,
                                                                 size_t err_size)
{
    char why[256];
    if (nn_cuda_probe(why, sizeof why) == 0) {
        snprintf(err, err_size, "%s", why);
        return nullptr;
    }
    if (nn_cuda_use_device(device, err, err_size))
        return nullptr;
    char config_path[4096], weights_path[4096];
    if (nncu_bicodec_paths(model_dir, config_path, weights_path, sizeof config_path, err,
                           err_size))
        return nullptr;
    nn_bicodec_config c;
    nn_problems problems = {};
    int rc = nn_bicodec_config_load(config_path, &c, &problems);
    if (rc)
        snprintf(err, err_size, "%s", problems.count ? problems.items[0] : config_path);
    nn_problems_free(&problems);
    if (rc)
        return nullptr;
    const auto &mc = c.mel;
    if (mc.n_fft < 2 || mc.win_length < 1 || mc.win_length > mc.n_fft || mc.hop_length < 1 ||
        mc.num_mels < 1) {
        snprintf(err, err_size, "%s: mel settings do not describe a spectrogram", config_path);
        return nullptr;
    }
    nn_speaker_encoder_cuda *e = new (std::nothrow) nn_speaker_encoder_cuda();
    if (!e) {
        snprintf(err, err_size, "out of memory for the speaker encoder");
        return nullptr;
    }
    e->device = device;
    e->n_fft = (size_t)mc.n_fft;
    e->bins = e->n_fft / 2 + 1;
    e->hop = (size_t)mc.hop_length;
    e->n_mels = (size_t)mc.num_mels;
    {
        std::vector<float> window(e->n_fft, 0.f), fb(e->n_mels * e->bins);
        const size_t offset = (e->n_fft - (size_t)mc.win_length) / 2;
        for (int64_t i = 0; i < mc.win_length; i++) // periodic Hann
            window[offset + (size_t)i] =
                (float)(0.5 - 0.5 * std::cos(2.0 * M_PI * (double)i / (double)mc.win_length));
        slaney_filterbank(fb.data(), e->bins, e->n_mels, (double)mc.sample_rate, mc.mel_fmin,
                          mc.mel_fmax > 0.0 ? mc.mel_fmax : (double)mc.sample_rate / 2.0);
        if (!(e->window = nn_cuda_upload_f32(window.data(), e->n_fft, "the mel window", err,
                                             err_size)) ||
            !(e->filterbank = nn_cuda_upload_f32(fb.data(), fb.size(), "the mel filterbank",
                                                 err, err_size))) {
            nn_speaker_encoder_cuda_free(e);
            return nullptr;
        }
    }
    enc_weights w = {};
    w.label = "BiCodec/model.safetensors";
    char *error = nullptr;
    w.file = nn_tensor_file_open(weights_path, &error);
    if (!w.file) {
        snprintf(err, err_size, "%s", error ? error : weights_path);
        std::free(error);
        nn_speaker_encoder_cuda_free(e);
        return nullptr;
    }
    const uploader up = {&w, err, err_size};
    const size_t ch = e->channels, width = ch / kRes2;
    nn_conv1d_shape s1 = {};
    s1.in_channels = e->n_mels;
    s1.out_channels = ch;
    s1.kernel = 5;
    s1.padding = 2;
    load_crb(up, e->layer1, s1, ECAPA "layer1.conv", ECAPA "layer1.bn");
    for (size_t b = 0; b < 3 && !w.error; b++) {
        se_res2 &blk = e->blocks[b];
        const size_t dilation = b + 2;
        nn_conv1d_shape pw = {};
        pw.in_channels = ch;
        pw.out_channels = ch;
        pw.kernel = 1;
        char conv[160], bn[160], name[200];
        snprintf(conv, sizeof conv, ECAPA "layer%zu.se_res2block.0.conv", b + 2);
        snprintf(bn, sizeof bn, ECAPA "layer%zu.se_res2block.0.bn", b + 2);
        load_crb(up, blk.pre, pw, conv, bn);
        for (size_t i = 0; i + 1 < kRes2; i++) {
            nn_conv1d_shape rs = {};
            rs.in_channels = width;
            rs.out_channels = width;
            rs.kernel = 3;
            rs.dilation = dilation;
            rs.padding = dilation;
            snprintf(conv, sizeof conv, ECAPA "layer%zu.se_res2block.1.convs.%zu", b + 2, i);
            snprintf(bn, sizeof bn, ECAPA "layer%zu.se_res2block.1.bns.%zu", b + 2, i);
            load_crb(up, blk.res2[i], rs, conv, bn);
        }
        snprintf(conv, sizeof conv, ECAPA "layer%zu.se_res2block.2.conv", b + 2);
        snprintf(bn, sizeof bn, ECAPA "layer%zu.se_res2block.2.bn", b + 2);
        load_crb(up, blk.post, pw, conv, bn);
        snprintf(name, sizeof name, ECAPA "layer%zu.se_res2block.3.linear1.weight", b + 2);
        blk.se_w1 = up(name, kSe * ch);
        snprintf(name, sizeof name, ECAPA "layer%zu.se_res2block.3.linear1.bias", b + 2);
        blk.se_b1 = up(name, kSe);
        snprintf(name, sizeof name, ECAPA "layer%zu.se_res2block.3.linear2.weight", b + 2);
        blk.se_w2 = up(name, ch * kSe);
        snprintf(name, sizeof name, ECAPA "layer%zu.se_res2block.3.linear2.bias", b + 2);
        blk.se_b2 = up(name, ch);
    }
    const size_t cat = 3 * ch;
    const float *cw = enc_tensor(&w, ECAPA "conv.weight", cat * cat);
    const float *cb = enc_tensor(&w, ECAPA "conv.bias", cat);
    if (cw && cb) {
        nn_conv1d_shape cs = {};
        cs.in_channels = cat;
        cs.out_channels = cat;
        cs.kernel = 1;
        if (nn_cuda_conv1d_init(&e->cat_conv, &cs, cw, cb, err, err_size))
            enc_weights_fail(&w, "%s", err);
    }
    e->dim = (size_t)c.speaker_encoder.latent_dim;
    e->count = (size_t)c.speaker_encoder.token_num;
    e->context = NN_SPARK_PERCEIVER_CONTEXT;
    e->heads = NN_SPARK_PERCEIVER_HEADS;
    e->dim_head = NN_SPARK_PERCEIVER_DIM_HEAD;
    e->inner = e->heads * e->dim_head;
    e->ff = (size_t)(e->dim * NN_SPARK_PERCEIVER_FF_MULT * 2 / 3);
    const size_t d = e->dim;
    e->proj_w = up(PERCEIVER "proj_context.weight", d * e->context);
    e->proj_b = up(PERCEIVER "proj_context.bias", d);
    e->latents = up(PERCEIVER "latents", e->count * d);
    e->gamma = up(PERCEIVER "norm.gamma", d);
    for (size_t l = 0; l < kDepth && !w.error; l++) {
        perceiver_layer &L = e->layers[l];
        char name[200];
        snprintf(name, sizeof name, PERCEIVER "layers.%zu.0.to_q.weight", l);
        L.to_q = up(name, e->inner * d);
        snprintf(name, sizeof name, PERCEIVER "layers.%zu.0.to_kv.weight", l);
        L.to_kv = up(name, 2 * e->inner * d);
        snprintf(name, sizeof name, PERCEIVER "layers.%zu.0.to_out.weight", l);
        L.to_out = up(name, d * e->inner);
        snprintf(name, sizeof name, PERCEIVER "layers.%zu.1.0.weight", l);
        L.ff1_w = up(name, 2 * e->ff * d);
        snprintf(name, sizeof name, PERCEIVER "layers.%zu.1.0.bias", l);
        L.ff1_b = up(name, 2 * e->ff);
        snprintf(name, sizeof name, PERCEIVER "layers.%zu.1.2.weight", l);
        L.ff2_w = up(name, d * e->ff);
        snprintf(name, sizeof name, PERCEIVER "layers.%zu.1.2.bias", l);
        L.ff2_b = up(name, d);
    }
    if (!w.error && enc_fsq_load(&w, &e->fsq, &c) == 0) {
        const size_t dims = e->fsq.levels_count;
        e->fsq_w.assign(e->fsq.project_in_w, e->fsq.project_in_w + dims * e->fsq.dim_in);
        e->fsq_b.assign(e->fsq.project_in_b, e->fsq.project_in_b + dims);
        e->fsq.project_in_w = e->fsq_w.data();
        e->fsq.project_in_b = e->fsq_b.data();
    }
    if (w.error) {
        snprintf(err, err_size, "%s", w.error);
        enc_weights_release(&w);
        nn_speaker_encoder_cuda_free(e);
        return nullptr;
    }
    enc_weights_release(&w);
    return e;
}

extern "C" size_t nn_speaker_encoder_cuda_global_count(const nn_speaker_encoder_cuda *e)
{
    return e->count;
}

extern "C" void nn_speaker_cuda_job_free(nn_speaker_cuda_job *job)
{
    if (!job)
        return;
    if (job->stream) {
        char ignored[8];
        nn_cuda_stream_sync(job->stream, ignored, sizeof ignored);
    }
    if (job->plan_made)
        cufftDestroy(job->plan);
    float *p[] = {job->wav,  job->frames, job->mag,    job->mel_tm, job->mel,    job->out1,
                  job->cat,  job->a,      job->r,      job->sp,     job->scratch, job->cm,
                  job->latent, job->mean, job->hidden, job->gate,   job->kv_in,  job->q,
                  job->kv,   job->scores, job->heads,  job->ffb,    job->gated,  job->out};
    for (float *x : p)
        nn_cuda_free(x);
    nn_cuda_free(job->spec);
    nn_cuda_host_free(job->host);
    nn_cuda_stream_free(job->stream);
    delete job;
}

extern "C" nn_speaker_cuda_job *nn_speaker_cuda_job_new(const nn_speaker_encoder_cuda *e,
                                                        size_t max_samples, char *err,
                                                        size_t err_size)
{
    if (max_samples < e->hop || max_samples <= e->n_fft / 2) {
        snprintf(err, err_size, "a speaker job for %zu samples: too short for the mel "
                 "spectrogram", max_samples);
        return nullptr;
    }
    if (nn_cuda_use_device(e->device, err, err_size))
        return nullptr;
    nn_speaker_cuda_job *job = new (std::nothrow) nn_speaker_cuda_job();
    if (!job) {
        snprintf(err, err_size, "out of memory for a speaker job");
        return nullptr;
    }
    job->enc = e;
    job->max_samples = max_samples;
    const size_t t = 1 + max_samples / e->hop, ch = e->channels, width = ch / kRes2;
    job->max_frames = t;
    size_t scratch = nn_cuda_conv1d_scratch_floats(&e->layer1.conv, t);
    for (const se_res2 &b : e->blocks) {
        const size_t s = nn_cuda_conv1d_scratch_floats(&b.res2[0].conv, t);
        scratch = s > scratch ? s : scratch;
    }
    const size_t rows = e->count + t;
    const char *what = "the speaker encoder activations";
    auto dev = [&](float **p, size_t count) {
        *p = static_cast<float *>(nn_cuda_alloc((count ? count : 1) * sizeof(float), what, err,
                                                err_size));
        return *p != nullptr;
    };
    const size_t host = max_samples > e->count * e->dim ? max_samples : e->count * e->dim;
    bool ok = (job->stream = nn_cuda_stream_new(err, err_size)) != nullptr &&
              dev(&job->wav, max_samples) && dev(&job->frames, t * e->n_fft) &&
              dev(&job->mag, t * e->bins) && dev(&job->mel_tm, t * e->n_mels) &&
              dev(&job->mel, t * e->n_mels) && dev(&job->out1, ch * t) &&
              dev(&job->cat, 3 * ch * t) && dev(&job->a, ch * t) && dev(&job->r, ch * t) &&
              dev(&job->sp, width * t) && dev(&job->scratch, scratch) &&
              dev(&job->cm, 3 * ch * t) && dev(&job->latent, 3 * ch * t) &&
              dev(&job->mean, ch) && dev(&job->hidden, kSe) && dev(&job->gate, ch) &&
              dev(&job->kv_in, rows * e->dim) && dev(&job->q, e->count * e->inner) &&
              dev(&job->kv, rows * 2 * e->inner) &&
              dev(&job->scores, e->heads * e->count * rows) &&
              dev(&job->heads, e->count * e->inner) && dev(&job->ffb, e->count * 2 * e->ff) &&
              dev(&job->gated, e->count * e->ff) && dev(&job->out, e->count * e->dim);
    if (ok) {
        job->spec = static_cast<cufftComplex *>(
            nn_cuda_alloc(t * e->bins * sizeof(cufftComplex), what, err, err_size));
        job->host = static_cast<float *>(
            nn_cuda_host_alloc(host * sizeof(float), what, err, err_size));
        ok = job->spec && job->host;
    }
    // one plan for the longest clip: shorter clips transform the spare frames too
    if (ok && cufftPlan1d(&job->plan, (int)e->n_fft, CUFFT_R2C, (int)t) != CUFFT_SUCCESS) {
        snprintf(err, err_size, "cuFFT could not plan %zu %zu-point transforms", t, e->n_fft);
        ok = false;
    } else if (ok) {
        job->plan_made = true;
        if (cufftSetStream(job->plan, nncu_stream(job->stream)) != CUFFT_SUCCESS) {
            snprintf(err, err_size, "cuFFT could not use the job's stream");
            ok = false;
        }
    }
    if (!ok) {
        nn_speaker_cuda_job_free(job);
        return nullptr;
    }
    // the spare frames are transformed too: give them defined contents
    cudaMemsetAsync(job->frames, 0, t * e->n_fft * sizeof(float), nncu_stream(job->stream));
    return job;
}

// y = BN(ReLU(conv(x))), channel-major with leading dimension t
static int crb_forward(nn_speaker_cuda_job *job, const crb &l, const float *x, size_t t,
                       float *y, char *err, size_t err_size)
{
    nn_cuda_stream *s = job->stream;
    if (nn_cuda_conv1d_forward(s, &l.conv, x, t, t, y, t, job->scratch, false, err, err_size))
        return -1;
    relu_bn_kernel<<<blocks_for(l.conv.shape.out_channels * t), NNCU_THREADS, 0,
                     nncu_stream(s)>>>(y, l.conv.shape.out_channels, t, l.scale, l.shift);
    return 0;
}

// out = x + SE(post(Res2(pre(x)))), all (channels, t)
static int block_forward(nn_speaker_cuda_job *job, const se_res2 &blk, const float *x,
                         size_t t, float *out, char *err, size_t err_size)
{
    const nn_speaker_encoder_cuda *e = job->enc;
    nn_cuda_stream *s = job->stream;
    cudaStream_t cs = nncu_stream(s);
    const size_t c = e->channels, width = c / kRes2, g = width * t;
    float *a = job->a, *r = job->r, *sp = job->sp;
    if (crb_forward(job, blk.pre, x, t, a, err, err_size))
        return -1;
    for (size_t i = 0; i + 1 < kRes2; i++) {
        const float *group = a + i * g;
        if (i == 0) {
            if (nncu_check(cudaMemcpyAsync(sp, group, g * sizeof(float),
                                           cudaMemcpyDeviceToDevice, cs),
                           "the Res2 split", err, err_size))
                return -1;
        } else { // the previous group's output, already in r, plus this group
            sum2_kernel<<<blocks_for(g), NNCU_THREADS, 0, cs>>>(sp, r + (i - 1) * g, group, g);
        }
        if (crb_forward(job, blk.res2[i], sp, t, r + i * g, err, err_size))
            return -1;
    }
    if (nncu_check(cudaMemcpyAsync(r + (kRes2 - 1) * g, a + (kRes2 - 1) * g, g * sizeof(float),
                                   cudaMemcpyDeviceToDevice, cs),
                   "the Res2 split", err, err_size) ||
        crb_forward(job, blk.post, r, t, a, err, err_size))
        return -1;
    channel_mean_kernel<<<(unsigned)c, NNCU_THREADS, 0, cs>>>(a, t, job->mean);
    if (nn_cuda_linear(s, blk.se_w1, blk.se_b1, c, kSe, job->mean, c, 1, job->hidden, kSe,
                       false, err, err_size))
        return -1;
    relu_kernel<<<1, NNCU_THREADS, 0, cs>>>(job->hidden, kSe);
    if (nn_cuda_linear(s, blk.se_w2, blk.se_b2, kSe, c, job->hidden, kSe, 1, job->gate, c,
                       false, err, err_size))
        return -1;
    se_apply_kernel<<<blocks_for(c * t), NNCU_THREADS, 0, cs>>>(out, x, a, job->gate, c, t);
    return 0;
}

extern "C" int nn_speaker_encode_cuda(nn_speaker_cuda_job *job, const float *clip, size_t n,
                                      int32_t *codes, nn_speaker_trace *trace, char *err,
                                      size_t err_size)
{
    const nn_speaker_encoder_cuda *e = job->enc;
    if (n < e->hop || n <= e->n_fft / 2) {
        snprintf(err, err_size, "reference clip of %zu samples is too short for the mel "
                 "spectrogram", n);
        return -1;
    }
    if (n > job->max_samples) {
        snprintf(err, err_size, "%zu samples for a speaker job made for %zu", n,
                 job->max_samples);
        return -1;
    }
    if (nn_cuda_use_device(e->device, err, err_size))
        return -1;
    nn_cuda_stream *s = job->stream;
    cudaStream_t cs = nncu_stream(s);
    if (nn_cuda_stream_sync(s, err, err_size))
        return -1;
    const size_t t = 1 + n / e->hop, c = e->channels, cat = 3 * c;
    std::memcpy(job->host, clip, n * sizeof(float));
    if (nn_cuda_to_device(s, job->wav, job->host, n, err, err_size))
        return -1;
    // mel: windowed frames, real FFTs, magnitudes, filterbank, channel-major
    frames_kernel<<<blocks_for(t * e->n_fft), NNCU_THREADS, 0, cs>>>(
        job->wav, n, e->n_fft, e->hop, e->window, t, job->frames);
    if (cufftExecR2C(job->plan, job->frames, job->spec) != CUFFT_SUCCESS) {
        snprintf(err, err_size, "cuFFT failed on the mel frames");
        return -1;
    }
    magnitude_kernel<<<blocks_for(t * e->bins), NNCU_THREADS, 0, cs>>>(job->spec, t * e->bins,
                                                                      job->mag);
    if (nn_cuda_linear(s, e->filterbank, nullptr, e->bins, e->n_mels, job->mag, e->bins, t,
                       job->mel_tm, e->n_mels, false, err, err_size))
        return -1;
    nn_cuda_transpose(s, job->mel_tm, e->n_mels, t, e->n_mels, job->mel, t);
    // ECAPA
    if (crb_forward(job, e->layer1, job->mel, t, job->out1, err, err_size))
        return -1;
    const float *prev = job->out1;
    for (size_t b = 0; b < 3; b++) {
        float *out = job->cat + b * c * t;
        if (block_forward(job, e->blocks[b], prev, t, out, err, err_size))
            return -1;
        prev = out;
    }
    if (nn_cuda_conv1d_forward(s, &e->cat_conv, job->cat, t, t, job->cm, t, job->scratch, false,
                               err, err_size))
        return -1;
    relu_kernel<<<blocks_for(cat * t), NNCU_THREADS, 0, cs>>>(job->cm, cat * t);
    nn_cuda_transpose(s, job->cm, t, cat, t, job->latent, cat);
    // Perceiver: the latents are the first rows of the key/value input
    const size_t d = e->dim, nl = e->count, rows = nl + t, inner = e->inner, dh = e->dim_head;
    float *lat = job->kv_in;
    if (nncu_check(cudaMemcpyAsync(lat, e->latents, nl * d * sizeof(float),
                                   cudaMemcpyDeviceToDevice, cs),
                   "the Perceiver latents", err, err_size) ||
        nn_cuda_linear(s, e->proj_w, e->proj_b, e->context, d, job->latent, cat, t,
                       job->kv_in + nl * d, d, false, err, err_size))
        return -1;
    const float one = 1.f, zero = 0.f;
    cublasHandle_t blas = nncu_blas(s);
    for (size_t l = 0; l < kDepth; l++) {
        const perceiver_layer &L = e->layers[l];
        if (nn_cuda_linear(s, L.to_q, nullptr, d, inner, lat, d, nl, job->q, inner, false, err,
                           err_size) ||
            nn_cuda_linear(s, L.to_kv, nullptr, d, 2 * inner, job->kv_in, d, rows, job->kv,
                           2 * inner, false, err, err_size))
            return -1;
        // per head, column-major: S (rows x nl) = K^T Q, then O (dh x nl) = V P
        if (nncu_check_blas(cublasSgemmStridedBatched(
                                blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)rows, (int)nl, (int)dh,
                                &one, job->kv, (int)(2 * inner), (long long)dh, job->q,
                                (int)inner, (long long)dh, &zero, job->scores, (int)rows,
                                (long long)(nl * rows), (int)e->heads),
                            "Perceiver attention scores", err, err_size))
            return -1;
        nncu_softmax_rows(cs, job->scores, e->heads * nl, rows, 1.0f / sqrtf((float)dh));
        if (nncu_check_blas(cublasSgemmStridedBatched(
                                blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)dh, (int)nl, (int)rows,
                                &one, job->kv + inner, (int)(2 * inner), (long long)dh,
                                job->scores, (int)rows, (long long)(nl * rows), &zero,
                                job->heads, (int)inner, (long long)dh, (int)e->heads),
                            "Perceiver attention values", err, err_size) ||
            nn_cuda_linear(s, L.to_out, nullptr, inner, d, job->heads, inner, nl, lat, d, true,
                           err, err_size) ||
            nn_cuda_linear(s, L.ff1_w, L.ff1_b, d, 2 * e->ff, lat, d, nl, job->ffb, 2 * e->ff,
                           false, err, err_size))
            return -1;
        geglu_kernel<<<blocks_for(nl * e->ff), NNCU_THREADS, 0, cs>>>(job->ffb, nl, e->ff,
                                                                     job->gated);
        if (nn_cuda_linear(s, L.ff2_w, L.ff2_b, e->ff, d, job->gated, e->ff, nl, lat, d, true,
                           err, err_size))
            return -1;
    }
    rms_rows_kernel<<<(unsigned)nl, NNCU_THREADS, 0, cs>>>(lat, d, e->gamma, job->out);
    if (nncu_check(cudaGetLastError(), "the speaker encoder", err, err_size) ||
        nn_cuda_to_host(s, job->host, job->out, nl * d, err, err_size) ||
        nn_cuda_stream_sync(s, err, err_size))
        return -1;
    const size_t dims = e->fsq.levels_count;
    if (!trace) {
        enc_fsq_tokenize(&e->fsq, nullptr, job->host, codes, nullptr, nullptr);
        return 0;
    }
    // the intermediates, as the CPU's trace holds them
    std::memset(trace, 0, sizeof *trace);
    trace->mel_bins = e->n_mels;
    trace->frames = t;
    trace->ecapa_channels = cat;
    trace->latent_count = nl;
    trace->latent_dim = d;
    trace->fsq_dims = dims;
    trace->mel = static_cast<float *>(std::malloc(e->n_mels * t * sizeof(float)));
    trace->ecapa = static_cast<float *>(std::malloc(t * cat * sizeof(float)));
    trace->perceiver = static_cast<float *>(std::malloc(nl * d * sizeof(float)));
    trace->fsq_z = static_cast<float *>(std::malloc(nl * dims * sizeof(float)));
    trace->fsq_bound = static_cast<float *>(std::malloc(nl * dims * sizeof(float)));
    if (!trace->mel || !trace->ecapa || !trace->perceiver || !trace->fsq_z ||
        !trace->fsq_bound) {
        nn_speaker_trace_free(trace);
        snprintf(err, err_size, "out of memory for the speaker trace");
        return -1;
    }
    std::memcpy(trace->perceiver, job->host, nl * d * sizeof(float));
    enc_fsq_tokenize(&e->fsq, nullptr, trace->perceiver, codes, trace->fsq_z, trace->fsq_bound);
    if (nncu_check(cudaMemcpy(trace->mel, job->mel, e->n_mels * t * sizeof(float),
                              cudaMemcpyDeviceToHost),
                   "copying the mel trace", err, err_size) ||
        nncu_check(cudaMemcpy(trace->ecapa, job->latent, t * cat * sizeof(float),
                              cudaMemcpyDeviceToHost),
                   "copying the ECAPA trace", err, err_size)) {
        nn_speaker_trace_free(trace);
        return -1;
    }
    return 0;
}
