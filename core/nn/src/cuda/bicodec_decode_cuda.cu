// bicodec_decode_cuda.cu - BiCodec detokenize on the GPU (spark/nn/bicodec_decode_cuda.h), in
// the order of plugins/codec-bicodec/src/bicodec_decoder.c and vocos_backbone.c: the small
// per-code steps (codebook rows, FSQ digits through project_out) on the host, everything with
// a matrix on the device.
#include "cuda_internal.h"

#include "spark/nn/bicodec_decode_cuda.h"
#include "spark/nn/conv_cuda.h"
#include "spark/nn/spark_model.h"
#include "spark/nn/tensor_file.h"
#include "vocos_cuda_internal.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace {

constexpr float kSamplingFactor = 3.0f; // a SamplingBlock of ratio 1 is three identity branches
constexpr size_t kMaxSampling = 8;

struct loader {
    const nn_tensor_file *file;
    char *err;
    size_t err_size;
};

float *host_tensor(const loader &l, const char *name, uint32_t ndim, int64_t d0, int64_t d1,
                   int64_t d2)
{
    const int64_t shape[3] = {d0, d1, d2};
    return nn_tensor_load_f32(l.file, name, ndim, shape, l.err, l.err_size);
}

float *dev_tensor(const loader &l, const char *name, uint32_t ndim, int64_t d0, int64_t d1,
                  int64_t d2)
{
    float *h = host_tensor(l, name, ndim, d0, d1, d2);
    if (!h)
        return nullptr;
    size_t n = (size_t)d0 * (ndim > 1 ? (size_t)d1 : 1) * (ndim > 2 ? (size_t)d2 : 1);
    float *d = nn_cuda_upload_f32(h, n, name, l.err, l.err_size);
    std::free(h);
    return d;
}

} // namespace

struct nn_bicodec_decoder_cuda {
    int device = 0;
    size_t codebook_size = 0, codebook_dim = 0, vq = 0;
    size_t global_count = 0, fsq_dims = 0, latent = 0, d_dim = 0;
    int64_t fsq_levels[NN_SPARK_MAX_LIST] = {};
    int64_t global_codes = 1;
    size_t vd = 0, out = 0;
    bool tanh_at_final = false;
    std::vector<float> codebook, fsq_out_w, fsq_out_b; // host: per-code work
    float *out_proj_w = nullptr, *out_proj_b = nullptr;
    float *spk_proj_w = nullptr, *spk_proj_b = nullptr;
    float *pre_w = nullptr, *pre_b = nullptr, *post_w = nullptr, *post_b = nullptr;
    size_t sampling_count = 0;
    nncu_vocos *sampling[kMaxSampling] = {};
    nncu_vocos *backbone = nullptr;
};

struct nn_bicodec_decode_cuda_job {
    const nn_bicodec_decoder_cuda *dec = nullptr;
    nn_cuda_stream *stream = nullptr;
    size_t max_frames = 0;
    float *rows = nullptr, *zq = nullptr, *a = nullptr, *b = nullptr, *t = nullptr, *u = nullptr,
          *scratch = nullptr, *wide = nullptr, *latent = nullptr, *flat = nullptr,
          *d_vector = nullptr, *affine = nullptr;
    float *rows_host = nullptr, *flat_host = nullptr, *latent_host = nullptr; // pinned
};

extern "C" void nn_bicodec_decoder_cuda_free(nn_bicodec_decoder_cuda *dec)
{
    if (!dec)
        return;
    float *p[] = {dec->out_proj_w, dec->out_proj_b, dec->spk_proj_w, dec->spk_proj_b,
                  dec->pre_w,      dec->pre_b,      dec->post_w,     dec->post_b};
    for (float *x : p)
        nn_cuda_free(x);
    for (nncu_vocos *v : dec->sampling)
        nncu_vocos_free(v);
    nncu_vocos_free(dec->backbone);
    delete dec;
}

static bool to_host(const loader &l, std::vector<float> &dst, const char *name, uint32_t ndim,
                    int64_t d0, int64_t d1)
{
    float *h = host_tensor(l, name, ndim, d0, d1, 0);
    if (!h)
        return false;
    dst.assign(h, h + (size_t)d0 * (ndim > 1 ? (size_t)d1 : 1));
    std::free(h);
    return true;
}

extern "C" nn_bicodec_decoder_cuda *nn_bicodec_decoder_cuda_load(const char *model_dir,
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
    if (c.prenet.input_channels != c.quantizer.input_dim ||
        c.prenet.condition_dim != c.speaker_encoder.out_dim ||
        c.prenet.sample_ratio_count > kMaxSampling || c.speaker_encoder.fsq_level_count == 0) {
        snprintf(err, err_size, "%s: the prenet does not fit the quantizer and speaker encoder "
                 "(input_channels, condition_dim or sample_ratios)", config_path);
        return nullptr;
    }
    nn_bicodec_decoder_cuda *dec = new (std::nothrow) nn_bicodec_decoder_cuda();
    if (!dec) {
        snprintf(err, err_size, "out of memory for the BiCodec decoder");
        return nullptr;
    }
    dec->device = device;
    dec->codebook_size = (size_t)c.quantizer.codebook_size;
    dec->codebook_dim = (size_t)c.quantizer.codebook_dim;
    dec->vq = (size_t)c.quantizer.input_dim;
    dec->global_count = (size_t)c.speaker_encoder.token_num;
    dec->fsq_dims = c.speaker_encoder.fsq_level_count;
    for (size_t j = 0; j < dec->fsq_dims; j++) {
        dec->fsq_levels[j] = c.speaker_encoder.fsq_levels[j];
        dec->global_codes *= dec->fsq_levels[j];
    }
    dec->latent = (size_t)c.speaker_encoder.latent_dim;
    dec->d_dim = (size_t)c.speaker_encoder.out_dim;
    dec->vd = (size_t)c.prenet.vocos_dim;
    dec->out = (size_t)c.prenet.out_channels;
    dec->tanh_at_final = c.prenet.use_tanh_at_final;
    dec->sampling_count = c.prenet.sample_ratio_count;
    char *error = nullptr;
    nn_tensor_file *file = nn_tensor_file_open(weights_path, &error);
    if (!file) {
        snprintf(err, err_size, "%s", error ? error : weights_path);
        std::free(error);
        delete dec;
        return nullptr;
    }
    loader l = {file, err, err_size};
    const int64_t cb = (int64_t)dec->codebook_dim, vq = (int64_t)dec->vq;
    const int64_t lat = (int64_t)dec->latent, dd = (int64_t)dec->d_dim;
    const int64_t vd = (int64_t)dec->vd, out = (int64_t)dec->out;
    const size_t inter = (size_t)c.prenet.vocos_intermediate_dim;
    rc = -1;
    float *g = nullptr, *v = nullptr;
    if (!to_host(l, dec->codebook, "quantizer.codebook.weight", 2,
                 (int64_t)dec->codebook_size, cb) ||
        !(g = host_tensor(l, "quantizer.out_project.weight_g", 3, vq, 1, 1)) ||
        !(v = host_tensor(l, "quantizer.out_project.weight_v", 3, vq, cb, 1)))
        goto done;
    nn_weight_norm_fold(g, v, (size_t)vq, (size_t)cb, v);
    if (!(dec->out_proj_w = nn_cuda_upload_f32(v, (size_t)(vq * cb), "quantizer.out_project",
                                               err, err_size)) ||
        !(dec->out_proj_b = dev_tensor(l, "quantizer.out_project.bias", 1, vq, 0, 0)) ||
        !to_host(l, dec->fsq_out_w, "speaker_encoder.quantizer.project_out.weight", 2, lat,
                 (int64_t)dec->fsq_dims) ||
        !to_host(l, dec->fsq_out_b, "speaker_encoder.quantizer.project_out.bias", 1, lat, 0) ||
        !(dec->spk_proj_w = dev_tensor(l, "speaker_encoder.project.weight", 2, dd,
                                       lat * (int64_t)dec->global_count, 0)) ||
        !(dec->spk_proj_b = dev_tensor(l, "speaker_encoder.project.bias", 1, dd, 0, 0)) ||
        !(dec->pre_w = dev_tensor(l, "prenet.linear_pre.weight", 2, vd, vq, 0)) ||
        !(dec->pre_b = dev_tensor(l, "prenet.linear_pre.bias", 1, vd, 0, 0)) ||
        !(dec->post_w = dev_tensor(l, "prenet.linear.weight", 2, out, vd, 0)) ||
        !(dec->post_b = dev_tensor(l, "prenet.linear.bias", 1, out, 0, 0)))
        goto done;
    for (size_t i = 0; i < dec->sampling_count; i++) {
        const std::string prefix = "prenet.downsample." + std::to_string(i) + ".1";
        if (!(dec->sampling[i] = nncu_vocos_load(file, prefix.c_str(), dec->vd, dec->vd, inter,
                                                 NN_SPARK_SAMPLING_LAYERS, 0, err, err_size)))
            goto done;
    }
    if (!(dec->backbone = nncu_vocos_load(file, "prenet.vocos_backbone", dec->vd, dec->vd, inter,
                                          (size_t)c.prenet.vocos_num_layers, dec->d_dim, err,
                                          err_size)))
        goto done;
    rc = 0;
done:
    std::free(g);
    std::free(v);
    nn_tensor_file_close(file);
    if (rc) {
        nn_bicodec_decoder_cuda_free(dec);
        return nullptr;
    }
    return dec;
}

extern "C" size_t nn_bicodec_decoder_cuda_channels(const nn_bicodec_decoder_cuda *dec)
{
    return dec->out;
}

extern "C" size_t nn_bicodec_decoder_cuda_global_count(const nn_bicodec_decoder_cuda *dec)
{
    return dec->global_count;
}

extern "C" size_t nn_bicodec_decoder_cuda_semantic_range(const nn_bicodec_decoder_cuda *dec)
{
    return dec->codebook_size;
}

extern "C" size_t nn_bicodec_decoder_cuda_global_range(const nn_bicodec_decoder_cuda *dec)
{
    return (size_t)dec->global_codes;
}

extern "C" void nn_bicodec_decode_cuda_job_free(nn_bicodec_decode_cuda_job *job)
{
    if (!job)
        return;
    if (job->stream) {
        char ignored[8];
        nn_cuda_stream_sync(job->stream, ignored, sizeof ignored);
    }
    float *p[] = {job->rows, job->zq,   job->a,    job->b,        job->t,     job->u,
                  job->scratch, job->wide, job->latent, job->flat, job->d_vector, job->affine};
    for (float *x : p)
        nn_cuda_free(x);
    nn_cuda_host_free(job->rows_host);
    nn_cuda_host_free(job->flat_host);
    nn_cuda_host_free(job->latent_host);
    nn_cuda_stream_free(job->stream);
    delete job;
}

extern "C" nn_bicodec_decode_cuda_job *
nn_bicodec_decode_cuda_job_new(const nn_bicodec_decoder_cuda *dec, size_t max_frames, char *err,
                               size_t err_size)
{
    if (max_frames == 0) {
        snprintf(err, err_size, "a decode job needs room for at least one code");
        return nullptr;
    }
    if (nn_cuda_use_device(dec->device, err, err_size))
        return nullptr;
    nn_bicodec_decode_cuda_job *job = new (std::nothrow) nn_bicodec_decode_cuda_job();
    if (!job) {
        snprintf(err, err_size, "out of memory for a decode job");
        return nullptr;
    }
    job->dec = dec;
    job->max_frames = max_frames;
    const size_t n = max_frames, inter = nncu_vocos_inter(dec->backbone);
    size_t scratch = nncu_vocos_scratch_floats(dec->backbone, n);
    for (size_t i = 0; i < dec->sampling_count; i++) {
        size_t s = nncu_vocos_scratch_floats(dec->sampling[i], n);
        scratch = s > scratch ? s : scratch;
    }
    const size_t wide = dec->vq > dec->out ? dec->vq : dec->out;
    const size_t flat = dec->latent * dec->global_count;
    const size_t affine = nncu_vocos_affine_floats(dec->backbone);
    const char *what = "the BiCodec decode activations";
    auto dev = [&](float **p, size_t count) {
        *p = static_cast<float *>(nn_cuda_alloc((count ? count : 1) * sizeof(float), what, err,
                                                err_size));
        return *p != nullptr;
    };
    auto pinned = [&](float **p, size_t count) {
        *p = static_cast<float *>(nn_cuda_host_alloc((count ? count : 1) * sizeof(float), what,
                                                     err, err_size));
        return *p != nullptr;
    };
    if (!(job->stream = nn_cuda_stream_new(err, err_size)) ||
        !dev(&job->rows, n * dec->codebook_dim) || !dev(&job->zq, n * dec->vq) ||
        !dev(&job->a, n * dec->vd) || !dev(&job->b, n * dec->vd) ||
        !dev(&job->t, n * dec->vd) || !dev(&job->u, n * inter) || !dev(&job->scratch, scratch) ||
        !dev(&job->wide, n * wide) || !dev(&job->latent, n * dec->out) ||
        !dev(&job->flat, flat) || !dev(&job->d_vector, dec->d_dim) ||
        !dev(&job->affine, affine) ||
        !pinned(&job->rows_host, n * dec->codebook_dim) || !pinned(&job->flat_host, flat) ||
        !pinned(&job->latent_host, n * dec->out)) {
        nn_bicodec_decode_cuda_job_free(job);
        return nullptr;
    }
    return job;
}

static int check_codes(const nn_bicodec_decoder_cuda *dec, const int32_t *semantic, size_t n,
                       const int32_t *global, size_t n_global, char *err, size_t err_size)
{
    if (n == 0) {
        snprintf(err, err_size, "no semantic codes to decode (the language model produced none; "
                 "at least one is needed)");
        return -1;
    }
    if (n_global != dec->global_count) {
        snprintf(err, err_size, "%zu global codes given; BiCodec needs exactly %zu", n_global,
                 dec->global_count);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (semantic[i] < 0 || (size_t)semantic[i] >= dec->codebook_size) {
            snprintf(err, err_size, "semantic code %zu is %d, outside 0..%zu", i,
                     (int)semantic[i], dec->codebook_size - 1);
            return -1;
        }
    for (size_t i = 0; i < n_global; i++)
        if (global[i] < 0 || global[i] >= dec->global_codes) {
            snprintf(err, err_size, "global code %zu is %d, outside 0..%lld", i, (int)global[i],
                     (long long)dec->global_codes - 1);
            return -1;
        }
    return 0;
}

extern "C" int nn_bicodec_decode_cuda_device(nn_bicodec_decode_cuda_job *job,
                                             const int32_t *semantic, size_t n,
                                             const int32_t *global, size_t n_global,
                                             const float **latent_device, char *err,
                                             size_t err_size)
{
    const nn_bicodec_decoder_cuda *dec = job->dec;
    if (check_codes(dec, semantic, n, global, n_global, err, err_size))
        return -1;
    if (n > job->max_frames) {
        snprintf(err, err_size, "%zu semantic codes for a decode job made for %zu", n,
                 job->max_frames);
        return -1;
    }
    if (nn_cuda_use_device(dec->device, err, err_size))
        return -1;
    nn_cuda_stream *s = job->stream;
    // the pinned staging is rewritten only once the previous decode has finished with it
    if (nn_cuda_stream_sync(s, err, err_size))
        return -1;
    // per-code host work: codebook rows, FSQ digits -> project_out, flattened channel-major
    const size_t cb = dec->codebook_dim, tokens = dec->global_count, lat = dec->latent;
    for (size_t t = 0; t < n; t++)
        std::memcpy(job->rows_host + t * cb, dec->codebook.data() + (size_t)semantic[t] * cb,
                    cb * sizeof(float));
    float x[NN_SPARK_MAX_LIST];
    for (size_t k = 0; k < tokens; k++) {
        int64_t rest = global[k];
        for (size_t j = 0; j < dec->fsq_dims; j++) {
            const int64_t level = dec->fsq_levels[j], digit = rest % level;
            rest /= level;
            const float half = (float)(level / 2);
            x[j] = ((float)digit - half) / half;
        }
        for (size_t c = 0; c < lat; c++) {
            const float *w = dec->fsq_out_w.data() + c * dec->fsq_dims;
            float acc = dec->fsq_out_b[c];
            for (size_t j = 0; j < dec->fsq_dims; j++)
                acc += w[j] * x[j];
            job->flat_host[c * tokens + k] = acc;
        }
    }
    const size_t flat = lat * tokens, vd = dec->vd, out = dec->out;
    if (nn_cuda_to_device(s, job->rows, job->rows_host, n * cb, err, err_size) ||
        nn_cuda_to_device(s, job->flat, job->flat_host, flat, err, err_size) ||
        nn_cuda_linear(s, dec->spk_proj_w, dec->spk_proj_b, flat, dec->d_dim, job->flat, flat, 1,
                       job->d_vector, dec->d_dim, false, err, err_size) ||
        nncu_vocos_affines(s, dec->backbone, job->d_vector, job->affine, err, err_size) ||
        // out_project (k = 1) then linear_pre, time-major
        nn_cuda_linear(s, dec->out_proj_w, dec->out_proj_b, cb, dec->vq, job->rows, cb, n,
                       job->zq, dec->vq, false, err, err_size) ||
        nn_cuda_linear(s, dec->pre_w, dec->pre_b, dec->vq, vd, job->zq, dec->vq, n, job->a, vd,
                       false, err, err_size))
        return -1;
    float *a = job->a, *b = job->b;
    const nncu_vocos_work plain = {job->t, job->u, job->scratch, nullptr};
    const nncu_vocos_work adaptive = {job->t, job->u, job->scratch, job->affine};
    for (size_t i = 0; i < dec->sampling_count; i++) {
        nn_cuda_scale(s, a, n * vd, kSamplingFactor);
        if (nncu_vocos_forward(s, dec->sampling[i], a, n, b, &plain, err, err_size))
            return -1;
        float *swap = a;
        a = b;
        b = swap;
    }
    if (nncu_vocos_forward(s, dec->backbone, a, n, b, &adaptive, err, err_size) ||
        nn_cuda_linear(s, dec->post_w, dec->post_b, vd, out, b, vd, n, job->wide, out, false,
                       err, err_size))
        return -1;
    if (dec->tanh_at_final)
        nn_cuda_tanh(s, job->wide, n * out);
    nn_cuda_transpose(s, job->wide, out, n, out, job->latent, n);
    nn_cuda_add_per_channel(s, job->latent, n, out, n, job->d_vector);
    if (nn_cuda_stream_sync(s, err, err_size))
        return -1;
    *latent_device = job->latent;
    return 0;
}

extern "C" int nn_bicodec_decode_cuda(nn_bicodec_decode_cuda_job *job, const int32_t *semantic,
                                      size_t n, const int32_t *global, size_t n_global,
                                      float *latent, size_t ldl, char *err, size_t err_size)
{
    const float *dev = nullptr;
    if (nn_bicodec_decode_cuda_device(job, semantic, n, global, n_global, &dev, err, err_size))
        return -1;
    const size_t out = job->dec->out;
    if (nn_cuda_to_host(job->stream, job->latent_host, dev, out * n, err, err_size) ||
        nn_cuda_stream_sync(job->stream, err, err_size))
        return -1;
    for (size_t c = 0; c < out; c++)
        std::memcpy(latent + c * ldl, job->latent_host + c * n, n * sizeof(float));
    return 0;
}
