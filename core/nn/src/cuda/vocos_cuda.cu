// vocos_cuda.cu - BiCodec's VocosBackbone on the GPU (vocos_cuda_internal.h), in the order of
// plugins/codec-bicodec/src/vocos_backbone.c: stem conv, (Ada)LayerNorm, ConvNeXt blocks
// (depthwise k=7, (Ada)LayerNorm, pwconv1, exact GELU, pwconv2, layer-scaled residual), final
// LayerNorm.
#include "cuda_internal.h"
#include "vocos_cuda_internal.h"

#include "spark/nn/conv_cuda.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace {

constexpr float kVocosEps = 1e-6f;
constexpr size_t kKernel = 7;

struct loader {
    const nn_tensor_file *file;
    char *err;
    size_t err_size;
};

float *host_tensor(const loader &l, const std::string &name, uint32_t ndim, int64_t d0,
                   int64_t d1, int64_t d2)
{
    const int64_t shape[3] = {d0, d1, d2};
    return nn_tensor_load_f32(l.file, name.c_str(), ndim, shape, l.err, l.err_size);
}

float *dev_tensor(const loader &l, const std::string &name, uint32_t ndim, int64_t d0,
                  int64_t d1)
{
    float *h = host_tensor(l, name, ndim, d0, d1, 0);
    if (!h)
        return nullptr;
    float *d = nn_cuda_upload_f32(h, (size_t)d0 * (ndim > 1 ? (size_t)d1 : 1), name.c_str(),
                                  l.err, l.err_size);
    std::free(h);
    return d;
}

// A LayerNorm's affine: plain (weight, bias) or adaptive (scale and shift computed from the
// condition by two linear layers; the scale is used as is, not as 1 + scale).
struct layer_affine {
    float *weight = nullptr, *bias = nullptr;
    float *scale_w = nullptr, *scale_b = nullptr, *shift_w = nullptr, *shift_b = nullptr;
};

struct convnext {
    nn_cuda_conv1d dwconv = {};
    layer_affine nrm;
    float *pw1_w = nullptr, *pw1_b = nullptr, *pw2_w = nullptr, *pw2_b = nullptr;
    float *gamma = nullptr;
};

void free_affine(layer_affine &n)
{
    float *p[] = {n.weight, n.bias, n.scale_w, n.scale_b, n.shift_w, n.shift_b};
    for (float *x : p)
        nn_cuda_free(x);
    n = layer_affine();
}

int load_affine(const loader &l, layer_affine &n, const std::string &prefix, size_t dim,
                size_t cond)
{
    const int64_t d = (int64_t)dim, c = (int64_t)cond;
    if (cond == 0)
        return (n.weight = dev_tensor(l, prefix + ".weight", 1, d, 0)) &&
                       (n.bias = dev_tensor(l, prefix + ".bias", 1, d, 0))
                   ? 0
                   : -1;
    return (n.scale_w = dev_tensor(l, prefix + ".scale.weight", 2, d, c)) &&
                   (n.scale_b = dev_tensor(l, prefix + ".scale.bias", 1, d, 0)) &&
                   (n.shift_w = dev_tensor(l, prefix + ".shift.weight", 2, d, c)) &&
                   (n.shift_b = dev_tensor(l, prefix + ".shift.bias", 1, d, 0))
               ? 0
               : -1;
}

int load_conv7(const loader &l, nn_cuda_conv1d *conv, const std::string &prefix, size_t in,
               size_t out, size_t groups)
{
    float *w = host_tensor(l, prefix + ".weight", 3, (int64_t)out, (int64_t)(in / groups),
                           (int64_t)kKernel);
    float *b = w ? host_tensor(l, prefix + ".bias", 1, (int64_t)out, 0, 0) : nullptr;
    nn_conv1d_shape shape = {};
    shape.in_channels = in;
    shape.out_channels = out;
    shape.kernel = kKernel;
    shape.padding = kKernel / 2;
    shape.groups = groups;
    int rc = b ? nn_cuda_conv1d_init(conv, &shape, w, b, l.err, l.err_size) : -1;
    std::free(w);
    std::free(b);
    return rc;
}

} // namespace

struct nncu_vocos {
    size_t in = 0, dim = 0, inter = 0, cond = 0;
    nn_cuda_conv1d embed = {};
    layer_affine nrm;
    std::vector<convnext> blocks;
    float *final_w = nullptr, *final_b = nullptr;
};

extern "C" void nncu_vocos_free(nncu_vocos *v)
{
    if (!v)
        return;
    nn_cuda_conv1d_free(&v->embed);
    free_affine(v->nrm);
    for (convnext &b : v->blocks) {
        nn_cuda_conv1d_free(&b.dwconv);
        free_affine(b.nrm);
        float *p[] = {b.pw1_w, b.pw1_b, b.pw2_w, b.pw2_b, b.gamma};
        for (float *x : p)
            nn_cuda_free(x);
    }
    nn_cuda_free(v->final_w);
    nn_cuda_free(v->final_b);
    delete v;
}

extern "C" nncu_vocos *nncu_vocos_load(const nn_tensor_file *file, const char *prefix_c,
                                       size_t in, size_t dim, size_t inter, size_t layers,
                                       size_t cond, char *err, size_t err_size)
{
    nncu_vocos *v = new (std::nothrow) nncu_vocos();
    if (!v) {
        snprintf(err, err_size, "out of memory loading %s", prefix_c);
        return nullptr;
    }
    const loader l = {file, err, err_size};
    const std::string prefix = prefix_c;
    v->in = in;
    v->dim = dim;
    v->inter = inter;
    v->cond = cond;
    int rc = load_conv7(l, &v->embed, prefix + ".embed", in, dim, 1) ||
             nn_cuda_conv1d_enable_time_major(&v->embed, err, err_size) ||
             load_affine(l, v->nrm, prefix + ".norm", dim, cond);
    v->blocks.resize(layers);
    const int64_t d = (int64_t)dim, n = (int64_t)inter;
    for (size_t i = 0; rc == 0 && i < layers; i++) {
        convnext &b = v->blocks[i];
        const std::string blk = prefix + ".convnext." + std::to_string(i);
        if (load_conv7(l, &b.dwconv, blk + ".dwconv", dim, dim, dim) ||
            load_affine(l, b.nrm, blk + ".norm", dim, cond) ||
            !(b.pw1_w = dev_tensor(l, blk + ".pwconv1.weight", 2, n, d)) ||
            !(b.pw1_b = dev_tensor(l, blk + ".pwconv1.bias", 1, n, 0)) ||
            !(b.pw2_w = dev_tensor(l, blk + ".pwconv2.weight", 2, d, n)) ||
            !(b.pw2_b = dev_tensor(l, blk + ".pwconv2.bias", 1, d, 0)) ||
            !(b.gamma = dev_tensor(l, blk + ".gamma", 1, d, 0)))
            rc = -1;
    }
    if (rc == 0 && (!(v->final_w = dev_tensor(l, prefix + ".final_layer_norm.weight", 1, d, 0)) ||
                    !(v->final_b = dev_tensor(l, prefix + ".final_layer_norm.bias", 1, d, 0))))
        rc = -1;
    if (rc) {
        nncu_vocos_free(v);
        return nullptr;
    }
    return v;
}

extern "C" size_t nncu_vocos_dim(const nncu_vocos *v)
{
    return v->dim;
}

extern "C" size_t nncu_vocos_inter(const nncu_vocos *v)
{
    return v->inter;
}

extern "C" size_t nncu_vocos_scratch_floats(const nncu_vocos *v, size_t frames)
{
    return nn_cuda_conv1d_scratch_floats(&v->embed, frames);
}

extern "C" size_t nncu_vocos_affine_floats(const nncu_vocos *v)
{
    return v->cond ? 2 * v->dim * (1 + v->blocks.size()) : 0;
}

extern "C" int nncu_vocos_affines(nn_cuda_stream *s, const nncu_vocos *v, const float *cond,
                                  float *affine, char *err, size_t err_size)
{
    const size_t dim = v->dim;
    for (size_t k = 0; v->cond && k <= v->blocks.size(); k++) {
        const layer_affine &n = k == 0 ? v->nrm : v->blocks[k - 1].nrm;
        float *dst = affine + 2 * dim * k;
        if (nn_cuda_linear(s, n.scale_w, n.scale_b, v->cond, dim, cond, v->cond, 1, dst, dim,
                           false, err, err_size) ||
            nn_cuda_linear(s, n.shift_w, n.shift_b, v->cond, dim, cond, v->cond, 1, dst + dim,
                           dim, false, err, err_size))
            return -1;
    }
    return 0;
}

extern "C" int nncu_vocos_forward(nn_cuda_stream *s, const nncu_vocos *v, const float *x,
                                  size_t frames, float *out, const nncu_vocos_work *work,
                                  char *err, size_t err_size)
{
    const size_t dim = v->dim, inter = v->inter;
    if (v->cond && !work->affine) {
        snprintf(err, err_size, "an adaptive Vocos backbone needs its condition");
        return -1;
    }
    if (nn_cuda_conv1d_forward_tc(s, &v->embed, x, v->in, frames, out, dim, work->scratch, err,
                                  err_size))
        return -1;
    const float *w = v->cond ? work->affine : v->nrm.weight;
    const float *b = v->cond ? work->affine + dim : v->nrm.bias;
    nn_cuda_layer_norm(s, out, dim, frames, dim, w, b, kVocosEps, out, dim);
    for (size_t l = 0; l < v->blocks.size(); l++) {
        const convnext &blk = v->blocks[l];
        if (nn_cuda_depthwise_conv1d_tc(s, &blk.dwconv, out, dim, frames, work->t, dim, err,
                                        err_size))
            return -1;
        w = v->cond ? work->affine + 2 * dim * (l + 1) : blk.nrm.weight;
        b = v->cond ? work->affine + 2 * dim * (l + 1) + dim : blk.nrm.bias;
        nn_cuda_layer_norm(s, work->t, dim, frames, dim, w, b, kVocosEps, work->t, dim);
        if (nn_cuda_linear(s, blk.pw1_w, blk.pw1_b, dim, inter, work->t, dim, frames, work->u,
                           inter, false, err, err_size))
            return -1;
        nn_cuda_gelu(s, work->u, frames * inter);
        if (nn_cuda_linear(s, blk.pw2_w, blk.pw2_b, inter, dim, work->u, inter, frames, work->t,
                           dim, false, err, err_size))
            return -1;
        nn_cuda_add_scaled_rows(s, out, work->t, frames, dim, blk.gamma);
    }
    nn_cuda_layer_norm(s, out, dim, frames, dim, v->final_w, v->final_b, kVocosEps, out, dim);
    return 0;
}
