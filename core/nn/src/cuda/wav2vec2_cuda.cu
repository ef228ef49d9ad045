// wav2vec2_cuda.cu - wav2vec2 layers 1..16 and the hidden-state mix on the GPU
// (spark/nn/wav2vec2_cuda.h), step for step as core/nn/src/encoder/wav2vec2.c. The weights
// are read with the CPU encoder's tensor helpers (bf16 or misaligned tensors become f32).
#include "cuda_internal.h"

#include "spark/nn/conv_cuda.h"
#include "spark/nn/spark_model.h"
#include "spark/nn/wav2vec2_cuda.h"

extern "C" {
#include "encoder/encoder_internal.h"
}

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

namespace {

constexpr size_t kMixA = 11, kMixB = 14, kMixC = NN_SPARK_W2V_MIX_LAYER;

struct layer {
    float *ln1_w = nullptr, *ln1_b = nullptr, *ln2_w = nullptr, *ln2_b = nullptr;
    float *q_w = nullptr, *q_b = nullptr, *k_w = nullptr, *k_b = nullptr, *v_w = nullptr,
          *v_b = nullptr, *o_w = nullptr, *o_b = nullptr;
    float *ff1_w = nullptr, *ff1_b = nullptr, *ff2_w = nullptr, *ff2_b = nullptr;
};

__global__ void softmax_rows_kernel(float *x, size_t cols, float scale)
{
    __shared__ float part[NNCU_THREADS];
    float *row = x + blockIdx.x * cols;
    float top = -INFINITY;
    for (size_t c = threadIdx.x; c < cols; c += blockDim.x)
        top = fmaxf(top, row[c] * scale);
    part[threadIdx.x] = top;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            part[threadIdx.x] = fmaxf(part[threadIdx.x], part[threadIdx.x + s]);
        __syncthreads();
    }
    top = part[0];
    __syncthreads();
    float sum = 0.f;
    for (size_t c = threadIdx.x; c < cols; c += blockDim.x) {
        const float e = expf(row[c] * scale - top);
        row[c] = e;
        sum += e;
    }
    part[threadIdx.x] = sum;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    const float inv = 1.0f / part[0];
    for (size_t c = threadIdx.x; c < cols; c += blockDim.x)
        row[c] *= inv;
}

// y[i] += x[i]
__global__ void add_kernel(float *y, const float *x, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += x[i];
}

// y[i] /= d
__global__ void divide_kernel(float *y, size_t n, float d)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] /= d;
}

int blocks_for(size_t n)
{
    size_t b = (n + NNCU_THREADS - 1) / NNCU_THREADS;
    return (int)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

} // namespace

extern "C" void nncu_softmax_rows(cudaStream_t st, float *x, size_t rows, size_t cols,
                                  float scale)
{
    if (rows != 0 && cols != 0)
        softmax_rows_kernel<<<(unsigned)rows, NNCU_THREADS, 0, st>>>(x, cols, scale);
}

struct nn_wav2vec2_cuda {
    int device = 0;
    size_t conv_count = 0, hidden = 0, heads = 0, ffn = 0;
    float eps = 1e-5f;
    nn_cuda_conv1d convs[NN_SPARK_MAX_LIST] = {};
    float *conv_ln_w[NN_SPARK_MAX_LIST] = {}, *conv_ln_b[NN_SPARK_MAX_LIST] = {};
    float *proj_ln_w = nullptr, *proj_ln_b = nullptr, *proj_w = nullptr, *proj_b = nullptr;
    nn_cuda_conv1d pos_conv = {};
    layer layers[kMixC];
};

struct nn_wav2vec2_cuda_job {
    const nn_wav2vec2_cuda *m = nullptr;
    nn_cuda_stream *stream = nullptr;
    size_t max_samples = 0, max_frames = 0;
    float *a = nullptr, *b = nullptr, *scratch = nullptr, *hs = nullptr, *x = nullptr,
          *q = nullptr, *k = nullptr, *v = nullptr, *scores = nullptr, *mix = nullptr;
    float *host = nullptr; // pinned: the normalised wav in, the mix out
};

extern "C" void nn_wav2vec2_cuda_free(nn_wav2vec2_cuda *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < NN_SPARK_MAX_LIST; i++) {
        nn_cuda_conv1d_free(&m->convs[i]);
        nn_cuda_free(m->conv_ln_w[i]);
        nn_cuda_free(m->conv_ln_b[i]);
    }
    float *p[] = {m->proj_ln_w, m->proj_ln_b, m->proj_w, m->proj_b};
    for (float *x : p)
        nn_cuda_free(x);
    nn_cuda_conv1d_free(&m->pos_conv);
    for (layer &L : m->layers) {
        float *q[] = {L.ln1_w, L.ln1_b, L.ln2_w, L.ln2_b, L.q_w,   L.q_b,   L.k_w,   L.k_b,
                      L.v_w,   L.v_b,   L.o_w,   L.o_b,   L.ff1_w, L.ff1_b, L.ff2_w, L.ff2_b};
        for (float *x : q)
            nn_cuda_free(x);
    }
    delete m;
}

namespace {

// The tensor `name` uploaded; nullptr (and w->error set) when missing, misshapen or out of
// memory.
float *upload(enc_weights *w, const char *name, uint64_t elements, char *err, size_t err_size)
{
    const float *h = enc_tensor(w, name, elements);
    if (!h)
        return nullptr;
    float *d = nn_cuda_upload_f32(h, elements, name, err, err_size);
    if (!d)
        enc_weights_fail(w, "%s", err);
    return d;
}

} // namespace

extern "C" nn_wav2vec2_cuda *nn_wav2vec2_cuda_load(const char *model_dir, int device, char *err,
                                                   size_t err_size)
{
    char why[256];
    if (nn_cuda_probe(why, sizeof why) == 0) {
        snprintf(err, err_size, "%s", why);
        return nullptr;
    }
    if (nn_cuda_use_device(device, err, err_size))
        return nullptr;
    nn_spark_config config;
    nn_problems problems = {};
    char cfg_dir[4096];
    snprintf(cfg_dir, sizeof cfg_dir, "%s/%s/config.json", model_dir, NN_SPARK_WAV2VEC2_DIR);
    char proc[4096];
    snprintf(proc, sizeof proc, "%s/%s/preprocessor_config.json", model_dir,
             NN_SPARK_WAV2VEC2_DIR);
    int rc = nn_wav2vec2_config_load(cfg_dir, proc, &config.wav2vec2, &problems);
    if (rc)
        snprintf(err, err_size, "%s", problems.count ? problems.items[0] : cfg_dir);
    nn_problems_free(&problems);
    if (rc)
        return nullptr;
    const nn_wav2vec2_config *c = &config.wav2vec2;
    if (c->num_feat_extract_layers <= 0 || c->num_feat_extract_layers > NN_SPARK_MAX_LIST ||
        c->num_hidden_layers < (int64_t)kMixC || !c->do_stable_layer_norm ||
        !c->feat_extract_norm_layer || c->num_attention_heads <= 0 ||
        c->hidden_size % c->num_attention_heads || c->num_conv_pos_embedding_groups <= 0 ||
        c->hidden_size % c->num_conv_pos_embedding_groups) {
        snprintf(err, err_size, "%s: wav2vec2 must be the stable-layer-norm variant with "
                 "layer-norm feature extraction, at least %zu layers and sizes that divide",
                 cfg_dir, kMixC);
        return nullptr;
    }
    nn_wav2vec2_cuda *m = new (std::nothrow) nn_wav2vec2_cuda();
    if (!m) {
        snprintf(err, err_size, "out of memory for wav2vec2");
        return nullptr;
    }
    m->device = device;
    m->conv_count = (size_t)c->num_feat_extract_layers;
    m->hidden = (size_t)c->hidden_size;
    m->heads = (size_t)c->num_attention_heads;
    m->ffn = (size_t)c->intermediate_size;
    m->eps = (float)c->layer_norm_eps;
    enc_weights w = {};
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", model_dir,
             nn_spark_component_weights(NN_SPARK_WAV2VEC2));
    w.label = nn_spark_component_weights(NN_SPARK_WAV2VEC2);
    char *error = nullptr;
    w.file = nn_tensor_file_open(path, &error);
    if (!w.file) {
        snprintf(err, err_size, "%s", error ? error : path);
        std::free(error);
        nn_wav2vec2_cuda_free(m);
        return nullptr;
    }
    const size_t h = m->hidden;
    size_t in = 1;
    for (size_t i = 0; i < m->conv_count && !w.error; i++) {
        const size_t out = (size_t)c->conv_dim[i], k = (size_t)c->conv_kernel[i];
        char name[160];
        snprintf(name, sizeof name, "wav2vec2.feature_extractor.conv_layers.%zu.conv.weight", i);
        const float *weight = enc_tensor(&w, name, out * in * k);
        snprintf(name, sizeof name, "wav2vec2.feature_extractor.conv_layers.%zu.conv.bias", i);
        const float *bias = c->conv_bias ? enc_tensor(&w, name, out) : nullptr;
        if (weight && (bias || !c->conv_bias)) {
            nn_conv1d_shape shape = {};
            shape.in_channels = in;
            shape.out_channels = out;
            shape.kernel = k;
            shape.stride = (size_t)c->conv_stride[i];
            if (nn_cuda_conv1d_init(&m->convs[i], &shape, weight, bias, err, err_size))
                enc_weights_fail(&w, "%s", err);
        }
        snprintf(name, sizeof name,
                 "wav2vec2.feature_extractor.conv_layers.%zu.layer_norm.weight", i);
        m->conv_ln_w[i] = upload(&w, name, out, err, err_size);
        snprintf(name, sizeof name, "wav2vec2.feature_extractor.conv_layers.%zu.layer_norm.bias",
                 i);
        m->conv_ln_b[i] = upload(&w, name, out, err, err_size);
        in = out;
    }
    m->proj_ln_w = upload(&w, "wav2vec2.feature_projection.layer_norm.weight", in, err,
                          err_size);
    m->proj_ln_b = upload(&w, "wav2vec2.feature_projection.layer_norm.bias", in, err, err_size);
    m->proj_w = upload(&w, "wav2vec2.feature_projection.projection.weight", h * in, err,
                       err_size);
    m->proj_b = upload(&w, "wav2vec2.feature_projection.projection.bias", h, err, err_size);
    const size_t groups = (size_t)c->num_conv_pos_embedding_groups;
    const size_t pk = (size_t)c->num_conv_pos_embeddings, rows = h * (h / groups);
    const float *g = enc_tensor(&w, "wav2vec2.encoder.pos_conv_embed.conv.weight_g", pk);
    const float *v = enc_tensor(&w, "wav2vec2.encoder.pos_conv_embed.conv.weight_v", rows * pk);
    const float *pb = enc_tensor(&w, "wav2vec2.encoder.pos_conv_embed.conv.bias", h);
    if (g && v && pb) {
        // torch weight_norm(dim=2): w[:, :, k] = g[k] * v[:, :, k] / ||v[:, :, k]||
        std::vector<float> folded(rows * pk);
        for (size_t kk = 0; kk < pk; kk++) {
            double sum = 0.0;
            for (size_t r = 0; r < rows; r++)
                sum += (double)v[r * pk + kk] * (double)v[r * pk + kk];
            const float scale = (float)((double)g[kk] / std::sqrt(sum));
            for (size_t r = 0; r < rows; r++)
                folded[r * pk + kk] = v[r * pk + kk] * scale;
        }
        nn_conv1d_shape shape = {};
        shape.in_channels = h;
        shape.out_channels = h;
        shape.kernel = pk;
        shape.padding = pk / 2;
        shape.groups = groups;
        if (nn_cuda_conv1d_init(&m->pos_conv, &shape, folded.data(), pb, err, err_size))
            enc_weights_fail(&w, "%s", err);
    }
    for (size_t l = 0; l < kMixC && !w.error; l++) {
        layer &L = m->layers[l];
        char f[200];
#define LAYER(field, count, suffix)                                                         \
    snprintf(f, sizeof f, "wav2vec2.encoder.layers.%zu.%s", l, suffix);                    \
    L.field = upload(&w, f, count, err, err_size)
        LAYER(ln1_w, h, "layer_norm.weight");
        LAYER(ln1_b, h, "layer_norm.bias");
        LAYER(ln2_w, h, "final_layer_norm.weight");
        LAYER(ln2_b, h, "final_layer_norm.bias");
        LAYER(q_w, h * h, "attention.q_proj.weight");
        LAYER(q_b, h, "attention.q_proj.bias");
        LAYER(k_w, h * h, "attention.k_proj.weight");
        LAYER(k_b, h, "attention.k_proj.bias");
        LAYER(v_w, h * h, "attention.v_proj.weight");
        LAYER(v_b, h, "attention.v_proj.bias");
        LAYER(o_w, h * h, "attention.out_proj.weight");
        LAYER(o_b, h, "attention.out_proj.bias");
        LAYER(ff1_w, m->ffn * h, "feed_forward.intermediate_dense.weight");
        LAYER(ff1_b, m->ffn, "feed_forward.intermediate_dense.bias");
        LAYER(ff2_w, h * m->ffn, "feed_forward.output_dense.weight");
        LAYER(ff2_b, h, "feed_forward.output_dense.bias");
#undef LAYER
    }
    if (w.error) {
        snprintf(err, err_size, "%s", w.error);
        enc_weights_release(&w);
        nn_wav2vec2_cuda_free(m);
        return nullptr;
    }
    enc_weights_release(&w);
    return m;
}

extern "C" size_t nn_wav2vec2_cuda_frames(const nn_wav2vec2_cuda *m, size_t n)
{
    size_t t = n;
    for (size_t i = 0; i < m->conv_count; i++)
        t = nn_cuda_conv1d_out_len(&m->convs[i], t);
    return t;
}

extern "C" size_t nn_wav2vec2_cuda_hidden(const nn_wav2vec2_cuda *m)
{
    return m->hidden;
}

extern "C" void nn_wav2vec2_cuda_job_free(nn_wav2vec2_cuda_job *job)
{
    if (!job)
        return;
    if (job->stream) {
        char ignored[8];
        nn_cuda_stream_sync(job->stream, ignored, sizeof ignored);
    }
    float *p[] = {job->a, job->b, job->scratch, job->hs,     job->x,
                  job->q, job->k, job->v,       job->scores, job->mix};
    for (float *x : p)
        nn_cuda_free(x);
    nn_cuda_host_free(job->host);
    nn_cuda_stream_free(job->stream);
    delete job;
}

extern "C" nn_wav2vec2_cuda_job *nn_wav2vec2_cuda_job_new(const nn_wav2vec2_cuda *m,
                                                          size_t max_samples, char *err,
                                                          size_t err_size)
{
    const size_t t = nn_wav2vec2_cuda_frames(m, max_samples), h = m->hidden;
    if (t == 0) {
        snprintf(err, err_size, "a wav2vec2 job for %zu samples: shorter than the receptive "
                 "field of the feature encoder", max_samples);
        return nullptr;
    }
    if (nn_cuda_use_device(m->device, err, err_size))
        return nullptr;
    nn_wav2vec2_cuda_job *job = new (std::nothrow) nn_wav2vec2_cuda_job();
    if (!job) {
        snprintf(err, err_size, "out of memory for a wav2vec2 job");
        return nullptr;
    }
    job->m = m;
    job->max_samples = max_samples;
    job->max_frames = t;
    size_t biggest = max_samples, scratch = 0, len = max_samples;
    for (size_t i = 0; i < m->conv_count; i++) {
        const size_t s = nn_cuda_conv1d_scratch_floats(&m->convs[i], len);
        scratch = s > scratch ? s : scratch;
        len = nn_cuda_conv1d_out_len(&m->convs[i], len);
        const size_t act = len * m->convs[i].shape.out_channels;
        biggest = act > biggest ? act : biggest;
    }
    const size_t wide = (t + 1) * h > t * m->ffn ? (t + 1) * h : t * m->ffn;
    biggest = biggest > wide ? biggest : wide;
    const size_t host = max_samples > t * h ? max_samples : t * h;
    const char *what = "the wav2vec2 activations";
    auto dev = [&](float **p, size_t count) {
        *p = static_cast<float *>(nn_cuda_alloc((count ? count : 1) * sizeof(float), what, err,
                                                err_size));
        return *p != nullptr;
    };
    if (!(job->stream = nn_cuda_stream_new(err, err_size)) || !dev(&job->a, biggest) ||
        !dev(&job->b, biggest) || !dev(&job->scratch, scratch) || !dev(&job->hs, t * h) ||
        !dev(&job->x, t * h) || !dev(&job->q, t * h) || !dev(&job->k, t * h) ||
        !dev(&job->v, t * h) || !dev(&job->scores, m->heads * t * t) ||
        !dev(&job->mix, t * h) ||
        !(job->host = static_cast<float *>(
              nn_cuda_host_alloc(host * sizeof(float), what, err, err_size)))) {
        nn_wav2vec2_cuda_job_free(job);
        return nullptr;
    }
    return job;
}

// Multi-head self-attention of q, k, v (t, h) into out (t, h), before out_proj: per head
// scores = q k^T (one strided-batched GEMM over heads), softmax of scores * scale, then
// scores v (another).
static int self_attention(nn_wav2vec2_cuda_job *job, size_t t, float *out, char *err,
                          size_t err_size)
{
    const nn_wav2vec2_cuda *m = job->m;
    const size_t h = m->hidden, dh = h / m->heads;
    const float one = 1.f, zero = 0.f;
    cublasHandle_t blas = nncu_blas(job->stream);
    // column-major: S_head (t x t) with S[j][i] = sum_d k[j][d] q[i][d], i.e. K^T Q
    if (nncu_check_blas(cublasSgemmStridedBatched(blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)t,
                                                  (int)t, (int)dh, &one, job->k, (int)h,
                                                  (long long)dh, job->q, (int)h, (long long)dh,
                                                  &zero, job->scores, (int)t,
                                                  (long long)(t * t), (int)m->heads),
                        "wav2vec2 attention scores", err, err_size))
        return -1;
    nncu_softmax_rows(nncu_stream(job->stream), job->scores, m->heads * t, t,
                      1.0f / sqrtf((float)dh));
    // out_head (dh x t column-major, ld h) = V_head (dh x t, ld h) P (t x t, row-major rows)
    if (nncu_check_blas(cublasSgemmStridedBatched(blas, CUBLAS_OP_N, CUBLAS_OP_N, (int)dh,
                                                  (int)t, (int)t, &one, job->v, (int)h,
                                                  (long long)dh, job->scores, (int)t,
                                                  (long long)(t * t), &zero, out, (int)h,
                                                  (long long)dh, (int)m->heads),
                        "wav2vec2 attention values", err, err_size))
        return -1;
    return 0;
}

extern "C" int nncu_wav2vec2_mix_device(nn_wav2vec2_cuda_job *job, const float *wav,
                                         size_t n, const float **mix_device, char *err,
                                         size_t err_size)
{
    const nn_wav2vec2_cuda *m = job->m;
    const size_t t = nn_wav2vec2_cuda_frames(m, n), h = m->hidden;
    if (t == 0) {
        snprintf(err, err_size, "reference of %zu samples is shorter than the receptive field "
                 "of the wav2vec2 feature encoder", n);
        return -1;
    }
    if (n > job->max_samples) {
        snprintf(err, err_size, "%zu samples for a wav2vec2 job made for %zu", n,
                 job->max_samples);
        return -1;
    }
    if (nn_cuda_use_device(m->device, err, err_size))
        return -1;
    nn_cuda_stream *s = job->stream;
    cudaStream_t cs = nncu_stream(s);
    if (nn_cuda_stream_sync(s, err, err_size))
        return -1;
    // processor: zero mean, unit variance over the utterance (population variance), as the CPU
    double mean = 0.0, var = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += wav[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        var += ((double)wav[i] - mean) * ((double)wav[i] - mean);
    var /= (double)n;
    const float inv_std = (float)(1.0 / std::sqrt(var + 1e-7));
    for (size_t i = 0; i < n; i++)
        job->host[i] = ((float)((double)wav[i] - mean)) * inv_std;
    float *a = job->a, *b = job->b;
    if (nn_cuda_to_device(s, a, job->host, n, err, err_size))
        return -1;
    // feature encoder: a holds (channels, len) channel-major between layers
    size_t len = n;
    for (size_t i = 0; i < m->conv_count; i++) {
        const size_t out_len = nn_cuda_conv1d_out_len(&m->convs[i], len);
        const size_t c = m->convs[i].shape.out_channels;
        if (nn_cuda_conv1d_forward(s, &m->convs[i], a, len, len, b, out_len, job->scratch,
                                   false, err, err_size))
            return -1;
        nn_cuda_transpose(s, b, out_len, c, out_len, a, c);
        nn_cuda_layer_norm(s, a, c, out_len, c, m->conv_ln_w[i], m->conv_ln_b[i], m->eps, a, c);
        nn_cuda_gelu(s, a, out_len * c);
        if (i + 1 < m->conv_count) {
            nn_cuda_transpose(s, a, c, out_len, c, b, out_len);
            float *swap = a;
            a = b;
            b = swap;
        }
        len = out_len;
    }
    // a: (t, c) time-major -> feature projection
    const size_t c = m->convs[m->conv_count - 1].shape.out_channels;
    nn_cuda_layer_norm(s, a, c, t, c, m->proj_ln_w, m->proj_ln_b, m->eps, a, c);
    if (nn_cuda_linear(s, m->proj_w, m->proj_b, c, h, a, c, t, job->hs, h, false, err,
                       err_size))
        return -1;
    // positional conv embedding: (h, t + 1) out, the last frame dropped
    nn_cuda_transpose(s, job->hs, h, t, h, a, t);
    if (nn_cuda_conv1d_forward(s, &m->pos_conv, a, t, t, b, t + 1, job->scratch, false, err,
                               err_size))
        return -1;
    nn_cuda_gelu(s, b, h * (t + 1));
    nn_cuda_transpose(s, b, t + 1, h, t, a, h); // the first t frames, time-major
    add_kernel<<<blocks_for(t * h), NNCU_THREADS, 0, cs>>>(job->hs, a, t * h);
    for (size_t l = 0; l < kMixC; l++) {
        const layer &L = m->layers[l];
        float *x = job->x;
        nn_cuda_layer_norm(s, job->hs, h, t, h, L.ln1_w, L.ln1_b, m->eps, x, h);
        if (nn_cuda_linear(s, L.q_w, L.q_b, h, h, x, h, t, job->q, h, false, err, err_size) ||
            nn_cuda_linear(s, L.k_w, L.k_b, h, h, x, h, t, job->k, h, false, err, err_size) ||
            nn_cuda_linear(s, L.v_w, L.v_b, h, h, x, h, t, job->v, h, false, err, err_size) ||
            self_attention(job, t, x, err, err_size) ||
            nn_cuda_linear(s, L.o_w, L.o_b, h, h, x, h, t, job->hs, h, true, err, err_size))
            return -1;
        nn_cuda_layer_norm(s, job->hs, h, t, h, L.ln2_w, L.ln2_b, m->eps, x, h);
        if (nn_cuda_linear(s, L.ff1_w, L.ff1_b, h, m->ffn, x, h, t, a, m->ffn, false, err,
                           err_size))
            return -1;
        nn_cuda_gelu(s, a, t * m->ffn);
        if (nn_cuda_linear(s, L.ff2_w, L.ff2_b, m->ffn, h, a, m->ffn, t, job->hs, h, true, err,
                           err_size))
            return -1;
        const size_t depth = l + 1;
        if (depth == kMixA) {
            if (nncu_check(cudaMemcpyAsync(job->mix, job->hs, t * h * sizeof(float),
                                           cudaMemcpyDeviceToDevice, cs),
                           "copying a wav2vec2 hidden state", err, err_size))
                return -1;
        } else if (depth == kMixB || depth == kMixC) {
            add_kernel<<<blocks_for(t * h), NNCU_THREADS, 0, cs>>>(job->mix, job->hs, t * h);
        }
    }
    divide_kernel<<<blocks_for(t * h), NNCU_THREADS, 0, cs>>>(job->mix, t * h, 3.0f);
    if (nncu_check(cudaGetLastError(), "wav2vec2", err, err_size) ||
        nn_cuda_stream_sync(s, err, err_size))
        return -1;
    *mix_device = job->mix;
    return 0;
}

extern "C" int nn_wav2vec2_cuda_mix(nn_wav2vec2_cuda_job *job, const float *wav, size_t n,
                                    float *mix, char *err, size_t err_size)
{
    const float *dev = nullptr;
    if (nncu_wav2vec2_mix_device(job, wav, n, &dev, err, err_size))
        return -1;
    const size_t count = nn_wav2vec2_cuda_frames(job->m, n) * job->m->hidden;
    if (nn_cuda_to_host(job->stream, job->host, dev, count, err, err_size) ||
        nn_cuda_stream_sync(job->stream, err, err_size))
        return -1;
    std::memcpy(mix, job->host, count * sizeof(float));
    return 0;
}
