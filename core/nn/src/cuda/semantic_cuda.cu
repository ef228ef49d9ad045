// semantic_cuda.cu - semantic codes on the GPU (spark/nn/semantic_cuda.h), in the order of
// core/nn/src/encoder/semantic_encoder.c: wav2vec2 mix, Vocos backbone, sampling stages,
// projection, in_project, cosine codebook match.
#include "cuda_internal.h"
#include "vocos_cuda_internal.h"

#include "spark/nn/conv_cuda.h"
#include "spark/nn/semantic_cuda.h"
#include "spark/nn/spark_model.h"
#include "spark/nn/wav2vec2_cuda.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace {

constexpr float kSamplingFactor = 3.0f; // a SamplingBlock of ratio 1: three identity branches

// One block per frame: l2-normalise e, then the codebook row of smallest
// ||e||^2 - 2 e.c + ||c||^2 (c rows pre-normalised), first index on ties. Explicitly rounded
// products and sums: the CPU's arithmetic, without fused multiply-adds.
__global__ void vq_kernel(const float *e, size_t dim, const float *codebook, size_t rows,
                          int32_t *codes)
{
    __shared__ float row[64];
    __shared__ float sq_s;
    __shared__ float best_d[NNCU_THREADS];
    __shared__ int32_t best_i[NNCU_THREADS];
    const float *src = e + blockIdx.x * dim;
    if (threadIdx.x == 0) {
        float sum = 0.f;
        for (size_t j = 0; j < dim; j++)
            sum = __fadd_rn(sum, __fmul_rn(src[j], src[j]));
        float norm = sqrtf(sum);
        norm = norm > 1e-12f ? norm : 1e-12f;
        float sq = 0.f;
        for (size_t j = 0; j < dim; j++) {
            row[j] = src[j] / norm;
            sq = __fadd_rn(sq, __fmul_rn(row[j], row[j]));
        }
        sq_s = sq;
    }
    __syncthreads();
    const float sq = sq_s;
    float bd = INFINITY;
    int32_t bi = -1;
    for (size_t r = threadIdx.x; r < rows; r += blockDim.x) {
        const float *c = codebook + r * dim;
        float dot = 0.f, cc = 0.f;
        for (size_t j = 0; j < dim; j++) {
            dot = __fadd_rn(dot, __fmul_rn(row[j], c[j]));
            cc = __fadd_rn(cc, __fmul_rn(c[j], c[j]));
        }
        const float dist = __fadd_rn(__fsub_rn(sq, __fmul_rn(2.0f, dot)), cc);
        if (dist < bd) {
            bd = dist;
            bi = (int32_t)r;
        }
    }
    best_d[threadIdx.x] = bd;
    best_i[threadIdx.x] = bi;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            const float od = best_d[threadIdx.x + s];
            const int32_t oi = best_i[threadIdx.x + s];
            if (oi >= 0 && (best_i[threadIdx.x] < 0 || od < best_d[threadIdx.x] ||
                            (od == best_d[threadIdx.x] && oi < best_i[threadIdx.x]))) {
                best_d[threadIdx.x] = od;
                best_i[threadIdx.x] = oi;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0)
        codes[blockIdx.x] = best_i[0] < 0 ? 0 : best_i[0];
}

} // namespace

struct nn_semantic_encoder_cuda {
    int device = 0;
    nn_wav2vec2_cuda *w2v = nullptr;
    size_t in = 0, dim = 0, out = 0, codebook_size = 0, codebook_dim = 0, stages = 0;
    nncu_vocos *backbone = nullptr;
    nncu_vocos *downsample[NN_SPARK_MAX_LIST] = {};
    float *project_w = nullptr, *project_b = nullptr;
    float *in_project_w = nullptr, *in_project_b = nullptr;
    float *codebook = nullptr; // l2-normalised rows
};

struct nn_semantic_cuda_job {
    const nn_semantic_encoder_cuda *enc = nullptr;
    nn_wav2vec2_cuda_job *w2v = nullptr;
    nn_cuda_stream *stream = nullptr;
    size_t max_samples = 0, max_frames = 0;
    float *x = nullptr, *y = nullptr, *t = nullptr, *u = nullptr, *scratch = nullptr,
          *z = nullptr, *zc = nullptr, *e = nullptr;
    int32_t *codes = nullptr;
    float *host = nullptr; // pinned: encoder_out and codes back
};

extern "C" void nn_semantic_encoder_cuda_free(nn_semantic_encoder_cuda *m)
{
    if (!m)
        return;
    nn_wav2vec2_cuda_free(m->w2v);
    nncu_vocos_free(m->backbone);
    for (nncu_vocos *v : m->downsample)
        nncu_vocos_free(v);
    float *p[] = {m->project_w, m->project_b, m->in_project_w, m->in_project_b, m->codebook};
    for (float *x : p)
        nn_cuda_free(x);
    delete m;
}

extern "C" nn_semantic_encoder_cuda *nn_semantic_encoder_cuda_load(const char *model_dir,
                                                                   int device, char *err,
                                                                   size_t err_size)
{
    nn_wav2vec2_cuda *w2v = nn_wav2vec2_cuda_load(model_dir, device, err, err_size);
    if (!w2v)
        return nullptr;
    nn_semantic_encoder_cuda *m = new (std::nothrow) nn_semantic_encoder_cuda();
    if (!m) {
        nn_wav2vec2_cuda_free(w2v);
        snprintf(err, err_size, "out of memory for the semantic encoder");
        return nullptr;
    }
    m->device = device;
    m->w2v = w2v;
    char config_path[4096], weights_path[4096];
    if (nncu_bicodec_paths(model_dir, config_path, weights_path, sizeof config_path, err,
                           err_size)) {
        nn_semantic_encoder_cuda_free(m);
        return nullptr;
    }
    nn_bicodec_config c;
    nn_problems problems = {};
    int rc = nn_bicodec_config_load(config_path, &c, &problems);
    if (rc)
        snprintf(err, err_size, "%s", problems.count ? problems.items[0] : config_path);
    nn_problems_free(&problems);
    const nn_bicodec_vocos_config *ec = &c.encoder;
    for (size_t i = 0; rc == 0 && i < ec->sample_ratio_count; i++)
        if (ec->sample_ratios[i] != 1) {
            snprintf(err, err_size, "%s: encoder sample ratio %lld: only ratio 1 (the "
                     "release's) is implemented", config_path, (long long)ec->sample_ratios[i]);
            rc = -1;
        }
    if (rc == 0 && (size_t)ec->input_channels != nn_wav2vec2_cuda_hidden(w2v)) {
        snprintf(err, err_size, "%s: encoder.input_channels %lld differs from wav2vec2's hidden "
                 "size %zu", config_path, (long long)ec->input_channels,
                 nn_wav2vec2_cuda_hidden(w2v));
        rc = -1;
    }
    if (rc) {
        nn_semantic_encoder_cuda_free(m);
        return nullptr;
    }
    m->in = (size_t)ec->input_channels;
    m->dim = (size_t)ec->vocos_dim;
    m->out = (size_t)ec->out_channels;
    m->stages = ec->sample_ratio_count;
    m->codebook_size = (size_t)c.quantizer.codebook_size;
    m->codebook_dim = (size_t)c.quantizer.codebook_dim;
    if (m->codebook_dim > 64) {
        snprintf(err, err_size, "%s: codebook_dim %zu is above the supported 64", config_path,
                 m->codebook_dim);
        nn_semantic_encoder_cuda_free(m);
        return nullptr;
    }
    char *error = nullptr;
    nn_tensor_file *file = nn_tensor_file_open(weights_path, &error);
    if (!file) {
        snprintf(err, err_size, "%s", error ? error : weights_path);
        std::free(error);
        nn_semantic_encoder_cuda_free(m);
        return nullptr;
    }
    const size_t inter = (size_t)ec->vocos_intermediate_dim, cd = m->codebook_dim;
    rc = (m->backbone = nncu_vocos_load(file, "encoder.encoder", m->in, m->dim, inter,
                                        (size_t)ec->vocos_num_layers, 0, err, err_size))
             ? 0
             : -1;
    for (size_t i = 0; rc == 0 && i < m->stages; i++) {
        const std::string prefix = "encoder.downsample." + std::to_string(i) + ".1";
        if (!(m->downsample[i] = nncu_vocos_load(file, prefix.c_str(), m->dim, m->dim, inter,
                                                 NN_SPARK_SAMPLING_LAYERS, 0, err, err_size)))
            rc = -1;
    }
    auto host = [&](const char *name, uint32_t ndim, int64_t d0, int64_t d1, int64_t d2) {
        const int64_t shape[3] = {d0, d1, d2};
        return nn_tensor_load_f32(file, name, ndim, shape, err, err_size);
    };
    float *pw = nullptr, *pb = nullptr, *g = nullptr, *v = nullptr, *ib = nullptr, *cb = nullptr;
    if (rc == 0 && (!(pw = host("encoder.project.weight", 2, (int64_t)m->out, (int64_t)m->dim,
                                0)) ||
                    !(pb = host("encoder.project.bias", 1, (int64_t)m->out, 0, 0)) ||
                    !(g = host("quantizer.in_project.weight_g", 3, (int64_t)cd, 1, 1)) ||
                    !(v = host("quantizer.in_project.weight_v", 3, (int64_t)cd, (int64_t)m->out,
                               1)) ||
                    !(ib = host("quantizer.in_project.bias", 1, (int64_t)cd, 0, 0)) ||
                    !(cb = host("quantizer.codebook.weight", 2, (int64_t)m->codebook_size,
                                (int64_t)cd, 0))))
        rc = -1;
    if (rc == 0) {
        nn_weight_norm_fold(g, v, cd, m->out, v);
        for (size_t r = 0; r < m->codebook_size; r++) { // as the CPU: f32, sequential
            float *row = cb + r * cd, sum = 0.0f;
            for (size_t j = 0; j < cd; j++)
                sum += row[j] * row[j];
            float norm = sqrtf(sum);
            norm = norm > 1e-12f ? norm : 1e-12f;
            for (size_t j = 0; j < cd; j++)
                row[j] = row[j] / norm;
        }
        if (!(m->project_w = nn_cuda_upload_f32(pw, m->out * m->dim, "encoder.project", err,
                                                err_size)) ||
            !(m->project_b = nn_cuda_upload_f32(pb, m->out, "encoder.project", err, err_size)) ||
            !(m->in_project_w = nn_cuda_upload_f32(v, cd * m->out, "quantizer.in_project", err,
                                                   err_size)) ||
            !(m->in_project_b = nn_cuda_upload_f32(ib, cd, "quantizer.in_project", err,
                                                   err_size)) ||
            !(m->codebook = nn_cuda_upload_f32(cb, m->codebook_size * cd, "the codebook", err,
                                               err_size)))
            rc = -1;
    }
    float *frees[] = {pw, pb, g, v, ib, cb};
    for (float *x : frees)
        std::free(x);
    nn_tensor_file_close(file);
    if (rc) {
        nn_semantic_encoder_cuda_free(m);
        return nullptr;
    }
    return m;
}

extern "C" size_t nn_semantic_encoder_cuda_frames(const nn_semantic_encoder_cuda *m, size_t n)
{
    return nn_wav2vec2_cuda_frames(m->w2v, n);
}

extern "C" size_t nn_semantic_encoder_cuda_channels(const nn_semantic_encoder_cuda *m)
{
    return m->out;
}

extern "C" void nn_semantic_cuda_job_free(nn_semantic_cuda_job *job)
{
    if (!job)
        return;
    if (job->stream) {
        char ignored[8];
        nn_cuda_stream_sync(job->stream, ignored, sizeof ignored);
    }
    nn_wav2vec2_cuda_job_free(job->w2v);
    float *p[] = {job->x, job->y, job->t, job->u, job->scratch, job->z, job->zc, job->e};
    for (float *x : p)
        nn_cuda_free(x);
    nn_cuda_free(job->codes);
    nn_cuda_host_free(job->host);
    nn_cuda_stream_free(job->stream);
    delete job;
}

extern "C" nn_semantic_cuda_job *nn_semantic_cuda_job_new(const nn_semantic_encoder_cuda *m,
                                                          size_t max_samples, char *err,
                                                          size_t err_size)
{
    nn_semantic_cuda_job *job = new (std::nothrow) nn_semantic_cuda_job();
    if (!job) {
        snprintf(err, err_size, "out of memory for a semantic job");
        return nullptr;
    }
    job->enc = m;
    job->max_samples = max_samples;
    if (!(job->w2v = nn_wav2vec2_cuda_job_new(m->w2v, max_samples, err, err_size))) {
        nn_semantic_cuda_job_free(job);
        return nullptr;
    }
    const size_t t = nn_wav2vec2_cuda_frames(m->w2v, max_samples);
    job->max_frames = t;
    const size_t inter = nncu_vocos_inter(m->backbone);
    size_t scratch = nncu_vocos_scratch_floats(m->backbone, t);
    for (size_t i = 0; i < m->stages; i++) {
        const size_t s = nncu_vocos_scratch_floats(m->downsample[i], t);
        scratch = s > scratch ? s : scratch;
    }
    const char *what = "the semantic encoder activations";
    auto dev = [&](float **p, size_t count) {
        *p = static_cast<float *>(nn_cuda_alloc((count ? count : 1) * sizeof(float), what, err,
                                                err_size));
        return *p != nullptr;
    };
    const size_t host = t * m->out + t;
    if (!(job->stream = nn_cuda_stream_new(err, err_size)) || !dev(&job->x, t * m->dim) ||
        !dev(&job->y, t * m->dim) || !dev(&job->t, t * m->dim) || !dev(&job->u, t * inter) ||
        !dev(&job->scratch, scratch) || !dev(&job->z, t * m->out) ||
        !dev(&job->zc, t * m->out) || !dev(&job->e, t * m->codebook_dim) ||
        !(job->codes = static_cast<int32_t *>(
              nn_cuda_alloc(t * sizeof(int32_t), what, err, err_size))) ||
        !(job->host = static_cast<float *>(
              nn_cuda_host_alloc(host * sizeof(float), what, err, err_size)))) {
        nn_semantic_cuda_job_free(job);
        return nullptr;
    }
    return job;
}

extern "C" int nn_semantic_encode_cuda(nn_semantic_cuda_job *job, const float *wav, size_t n,
                                       int32_t *codes, float *encoder_out, char *err,
                                       size_t err_size)
{
    const nn_semantic_encoder_cuda *m = job->enc;
    const float *mix = nullptr;
    if (nncu_wav2vec2_mix_device(job->w2v, wav, n, &mix, err, err_size))
        return -1;
    const size_t t = nn_wav2vec2_cuda_frames(m->w2v, n), d = m->dim;
    nn_cuda_stream *s = job->stream;
    cudaStream_t cs = nncu_stream(s);
    if (nn_cuda_stream_sync(s, err, err_size)) // the pinned buffer is free again
        return -1;
    const nncu_vocos_work work = {job->t, job->u, job->scratch, nullptr};
    if (nncu_vocos_forward(s, m->backbone, mix, t, job->y, &work, err, err_size))
        return -1;
    for (size_t i = 0; i < m->stages; i++) {
        if (nncu_check(cudaMemcpyAsync(job->x, job->y, t * d * sizeof(float),
                                       cudaMemcpyDeviceToDevice, cs),
                       "a sampling block", err, err_size))
            return -1;
        nn_cuda_scale(s, job->x, t * d, kSamplingFactor);
        if (nncu_vocos_forward(s, m->downsample[i], job->x, t, job->y, &work, err, err_size))
            return -1;
    }
    if (nn_cuda_linear(s, m->project_w, m->project_b, d, m->out, job->y, d, t, job->z, m->out,
                       false, err, err_size) ||
        nn_cuda_linear(s, m->in_project_w, m->in_project_b, m->out, m->codebook_dim, job->z,
                       m->out, t, job->e, m->codebook_dim, false, err, err_size))
        return -1;
    vq_kernel<<<(unsigned)t, NNCU_THREADS, 0, cs>>>(job->e, m->codebook_dim, m->codebook,
                                                   m->codebook_size, job->codes);
    float *host_codes = job->host + t * m->out;
    if (encoder_out) {
        nn_cuda_transpose(s, job->z, m->out, t, m->out, job->zc, t);
        if (nn_cuda_to_host(s, job->host, job->zc, t * m->out, err, err_size))
            return -1;
    }
    if (nncu_check(cudaGetLastError(), "the semantic encoder", err, err_size) ||
        nncu_check(cudaMemcpyAsync(host_codes, job->codes, t * sizeof(int32_t),
                                   cudaMemcpyDeviceToHost, cs),
                   "copying the semantic codes", err, err_size) ||
        nn_cuda_stream_sync(s, err, err_size))
        return -1;
    std::memcpy(codes, host_codes, t * sizeof(int32_t));
    if (encoder_out)
        std::memcpy(encoder_out, job->host, t * m->out * sizeof(float));
    return 0;
}
