// wavegen_cuda.cu - the WaveGenerator on the GPU (spark/nn/wavegen_cuda.h): the layer order of
// plugins/vocoder-wavegen/src/wavegen.c (stem; per block Snake, transposed convolution, three
// residual units Snake -> dilated k=7 conv -> Snake -> k=1 conv added to the input; final
// Snake, k=7 conv to one channel, tanh) on the kernels of conv_cuda.cu.
#include "cuda_internal.h"

#include "spark/nn/conv_cuda.h"
#include "spark/nn/spark_model.h"
#include "spark/nn/tensor_file.h"
#include "spark/nn/wavegen_cuda.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sys/stat.h>
#include <unordered_map>

namespace {

constexpr size_t kMaxBlocks = 8;
constexpr size_t kUnits = 3;
constexpr size_t kDilations[kUnits] = {1, 3, 9};

struct residual {
    float *alpha1 = nullptr, *alpha2 = nullptr;
    nn_cuda_conv1d conv7 = {}, conv1 = {};
};

struct block {
    size_t in_channels = 0, out_channels = 0;
    float *alpha = nullptr;
    nn_cuda_conv_transpose1d up = {};
    residual units[kUnits];
};

struct loader {
    const nn_tensor_file *file;
    char *err;
    size_t err_size;
};

float *load_host(const loader &l, const char *name, uint32_t ndim, int64_t d0, int64_t d1,
                 int64_t d2)
{
    const int64_t shape[3] = {d0, d1, d2};
    return nn_tensor_load_f32(l.file, name, ndim, shape, l.err, l.err_size);
}

float *load_alpha(const loader &l, const char *name, size_t channels)
{
    float *h = load_host(l, name, 3, 1, (int64_t)channels, 1);
    float *d = h ? nn_cuda_upload_f32(h, channels, name, l.err, l.err_size) : nullptr;
    std::free(h);
    return d;
}

int load_wn_conv(const loader &l, nn_cuda_conv1d *conv, const char *prefix, size_t in,
                 size_t out, size_t kernel, size_t dilation)
{
    char name[160];
    snprintf(name, sizeof name, "%s.weight_g", prefix);
    float *g = load_host(l, name, 3, (int64_t)out, 1, 1);
    snprintf(name, sizeof name, "%s.weight_v", prefix);
    float *v = g ? load_host(l, name, 3, (int64_t)out, (int64_t)in, (int64_t)kernel) : nullptr;
    snprintf(name, sizeof name, "%s.bias", prefix);
    float *b = v ? load_host(l, name, 1, (int64_t)out, 0, 0) : nullptr;
    nn_conv1d_shape shape = {};
    shape.in_channels = in;
    shape.out_channels = out;
    shape.kernel = kernel;
    shape.dilation = dilation;
    shape.padding = (kernel - 1) / 2 * dilation;
    int rc = b ? nn_cuda_conv1d_init_weight_norm(conv, &shape, g, v, b, l.err, l.err_size) : -1;
    std::free(g);
    std::free(v);
    std::free(b);
    return rc;
}

size_t larger(size_t a, size_t b)
{
    return a > b ? a : b;
}

} // namespace

struct nn_wavegen_cuda {
    int device = 0;
    size_t in_channels = 0, channels = 0, hop = 1, block_count = 0;
    nn_cuda_conv1d stem = {};
    block blocks[kMaxBlocks];
    float *final_alpha = nullptr;
    nn_cuda_conv1d out_conv = {};
    size_t weight_bytes = 0;
};

struct nn_wavegen_cuda_job {
    const nn_wavegen_cuda *wg = nullptr;
    nn_cuda_stream *stream = nullptr;
    size_t max_frames = 0, act = 0;
    float *latent = nullptr, *a = nullptr, *b = nullptr, *c = nullptr, *d = nullptr,
          *scratch = nullptr;
    float *host_in = nullptr, *host_out = nullptr; // pinned
    // a captured forward per chunk length (from job->latent); off after a failed capture
    std::unordered_map<size_t, cudaGraphExec_t> graphs;
    bool graphs_off = false;
};

extern "C" void nn_wavegen_cuda_free(nn_wavegen_cuda *wg)
{
    if (!wg)
        return;
    nn_cuda_conv1d_free(&wg->stem);
    for (block &blk : wg->blocks) {
        nn_cuda_free(blk.alpha);
        nn_cuda_conv_transpose1d_free(&blk.up);
        for (residual &ru : blk.units) {
            nn_cuda_free(ru.alpha1);
            nn_cuda_free(ru.alpha2);
            nn_cuda_conv1d_free(&ru.conv7);
            nn_cuda_conv1d_free(&ru.conv1);
        }
    }
    nn_cuda_free(wg->final_alpha);
    nn_cuda_conv1d_free(&wg->out_conv);
    delete wg;
}

extern "C" int nncu_bicodec_paths(const char *model_dir, char *config_path,
                                  char *weights_path, size_t size, char *err, size_t err_size)
{
    struct stat st;
    snprintf(config_path, size, "%s/BiCodec/config.yaml", model_dir);
    snprintf(weights_path, size, "%s/BiCodec/model.safetensors", model_dir);
    if (stat(config_path, &st) == 0)
        return 0;
    snprintf(config_path, size, "%s/config.yaml", model_dir);
    snprintf(weights_path, size, "%s/model.safetensors", model_dir);
    if (stat(config_path, &st) == 0 && stat(weights_path, &st) == 0)
        return 0;
    snprintf(err, err_size, "%s: no BiCodec/config.yaml (is this a Spark-TTS model directory?)",
             model_dir);
    return -1;
}

extern "C" nn_wavegen_cuda *nn_wavegen_cuda_load(const char *model_dir, int device, char *err,
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
    nn_bicodec_config config;
    nn_problems problems = {};
    int rc = nn_bicodec_config_load(config_path, &config, &problems);
    if (rc)
        snprintf(err, err_size, "%s", problems.count ? problems.items[0] : config_path);
    nn_problems_free(&problems);
    if (rc)
        return nullptr;
    const size_t blocks = config.decoder.rate_count;
    if (blocks == 0 || blocks > kMaxBlocks || config.decoder.kernel_size_count != blocks) {
        snprintf(err, err_size, "%s: decoder needs 1..%zu rates and as many kernel_sizes (has "
                 "%zu and %zu)", config_path, kMaxBlocks, blocks,
                 config.decoder.kernel_size_count);
        return nullptr;
    }
    const size_t channels = (size_t)config.decoder.channels;
    if ((channels >> blocks) == 0 || (channels >> blocks) << blocks != channels) {
        snprintf(err, err_size, "%s: decoder.channels %zu cannot be halved %zu times",
                 config_path, channels, blocks);
        return nullptr;
    }
    nn_wavegen_cuda *wg = new (std::nothrow) nn_wavegen_cuda();
    if (!wg) {
        snprintf(err, err_size, "out of memory for the vocoder");
        return nullptr;
    }
    wg->device = device;
    wg->in_channels = (size_t)config.decoder.input_channel;
    wg->channels = channels;
    wg->block_count = blocks;
    char *error = nullptr;
    nn_tensor_file *file = nn_tensor_file_open(weights_path, &error);
    if (!file) {
        snprintf(err, err_size, "%s", error ? error : weights_path);
        std::free(error);
        delete wg;
        return nullptr;
    }
    const size_t held_before = nn_cuda_allocated_bytes();
    loader l = {file, err, err_size};
    rc = load_wn_conv(l, &wg->stem, "decoder.model.0", wg->in_channels, channels,
                      NN_SPARK_WAVEGEN_KERNEL, 1);
    size_t ch = channels;
    for (size_t i = 0; rc == 0 && i < blocks; i++) {
        const size_t stride = (size_t)config.decoder.rates[i];
        const size_t kernel = (size_t)config.decoder.kernel_sizes[i];
        if (stride == 0 || kernel < stride || (kernel - stride) % 2) {
            snprintf(err, err_size, "%s: decoder rate %zu with kernel %zu does not upsample "
                     "exactly", config_path, stride, kernel);
            rc = -1;
            break;
        }
        block &blk = wg->blocks[i];
        blk.in_channels = ch;
        blk.out_channels = ch / 2;
        char prefix[48], name[128];
        snprintf(prefix, sizeof prefix, "decoder.model.%zu.block", i + 1);
        snprintf(name, sizeof name, "%s.0.alpha", prefix);
        if (!(blk.alpha = load_alpha(l, name, ch))) {
            rc = -1;
            break;
        }
        snprintf(name, sizeof name, "%s.1.weight_g", prefix);
        float *g = load_host(l, name, 3, (int64_t)ch, 1, 1);
        snprintf(name, sizeof name, "%s.1.weight_v", prefix);
        float *v = g ? load_host(l, name, 3, (int64_t)ch, (int64_t)(ch / 2), (int64_t)kernel)
                     : nullptr;
        snprintf(name, sizeof name, "%s.1.bias", prefix);
        float *b = v ? load_host(l, name, 1, (int64_t)(ch / 2), 0, 0) : nullptr;
        rc = b ? nn_cuda_conv_transpose1d_init_weight_norm(&blk.up, ch, ch / 2, kernel, stride,
                                                           (kernel - stride) / 2, 0, g, v, b,
                                                           err, err_size)
               : -1;
        std::free(g);
        std::free(v);
        std::free(b);
        for (size_t r = 0; rc == 0 && r < kUnits; r++) {
            residual &ru = blk.units[r];
            char unit[80];
            snprintf(unit, sizeof unit, "%s.%zu.block", prefix, r + 2);
            snprintf(name, sizeof name, "%s.0.alpha", unit);
            if (!(ru.alpha1 = load_alpha(l, name, ch / 2))) {
                rc = -1;
                break;
            }
            snprintf(name, sizeof name, "%s.1", unit);
            if ((rc = load_wn_conv(l, &ru.conv7, name, ch / 2, ch / 2, NN_SPARK_WAVEGEN_KERNEL,
                                   kDilations[r])))
                break;
            snprintf(name, sizeof name, "%s.2.alpha", unit);
            if (!(ru.alpha2 = load_alpha(l, name, ch / 2))) {
                rc = -1;
                break;
            }
            snprintf(name, sizeof name, "%s.3", unit);
            rc = load_wn_conv(l, &ru.conv1, name, ch / 2, ch / 2, 1, 1);
        }
        wg->hop *= stride;
        ch /= 2;
    }
    char name[64];
    snprintf(name, sizeof name, "decoder.model.%zu.alpha", blocks + 1);
    if (rc == 0 && !(wg->final_alpha = load_alpha(l, name, ch)))
        rc = -1;
    snprintf(name, sizeof name, "decoder.model.%zu", blocks + 2);
    if (rc == 0)
        rc = load_wn_conv(l, &wg->out_conv, name, ch, 1, NN_SPARK_WAVEGEN_KERNEL, 1);
    nn_tensor_file_close(file);
    if (rc) {
        nn_wavegen_cuda_free(wg);
        return nullptr;
    }
    wg->weight_bytes = nn_cuda_allocated_bytes() - held_before;
    return wg;
}

extern "C" size_t nn_wavegen_cuda_in_channels(const nn_wavegen_cuda *wg)
{
    return wg->in_channels;
}

extern "C" size_t nn_wavegen_cuda_hop(const nn_wavegen_cuda *wg)
{
    return wg->hop;
}

extern "C" size_t nn_wavegen_cuda_weight_bytes(const nn_wavegen_cuda *wg)
{
    return wg->weight_bytes;
}

// The largest activation (channels x length) and conv scratch of a forward over `frames`.
static void plan(const nn_wavegen_cuda *wg, size_t frames, size_t *act, size_t *scr)
{
    size_t a = wg->channels * frames;
    size_t s = nn_cuda_conv1d_scratch_floats(&wg->stem, frames);
    size_t t = frames;
    for (size_t i = 0; i < wg->block_count; i++) {
        const block &blk = wg->blocks[i];
        s = larger(s, nn_cuda_conv_transpose1d_scratch_floats(&blk.up, t));
        t = nn_cuda_conv_transpose1d_out_len(&blk.up, t);
        a = larger(a, blk.out_channels * t);
        for (const residual &ru : blk.units) {
            s = larger(s, nn_cuda_conv1d_scratch_floats(&ru.conv7, t));
            s = larger(s, nn_cuda_conv1d_scratch_floats(&ru.conv1, t));
        }
    }
    s = larger(s, nn_cuda_conv1d_scratch_floats(&wg->out_conv, t));
    *act = a;
    *scr = s;
}

extern "C" void nn_wavegen_cuda_job_free(nn_wavegen_cuda_job *job)
{
    if (!job)
        return;
    if (job->stream) {
        char ignored[8];
        nn_cuda_stream_sync(job->stream, ignored, sizeof ignored);
    }
    for (auto &g : job->graphs)
        cudaGraphExecDestroy(g.second);
    float *dev[] = {job->latent, job->a, job->b, job->c, job->d, job->scratch};
    for (float *p : dev)
        nn_cuda_free(p);
    nn_cuda_host_free(job->host_in);
    nn_cuda_host_free(job->host_out);
    nn_cuda_stream_free(job->stream);
    delete job;
}

extern "C" nn_wavegen_cuda_job *nn_wavegen_cuda_job_new(const nn_wavegen_cuda *wg,
                                                        size_t max_frames, char *err,
                                                        size_t err_size)
{
    if (max_frames == 0) {
        snprintf(err, err_size, "a vocoder job needs room for at least one frame");
        return nullptr;
    }
    if (nn_cuda_use_device(wg->device, err, err_size))
        return nullptr;
    nn_wavegen_cuda_job *job = new (std::nothrow) nn_wavegen_cuda_job();
    if (!job) {
        snprintf(err, err_size, "out of memory for a vocoder job");
        return nullptr;
    }
    job->wg = wg;
    job->max_frames = max_frames;
    size_t act = 0, scr = 0;
    plan(wg, max_frames, &act, &scr);
    job->act = act;
    const size_t in = wg->in_channels * max_frames, out = max_frames * wg->hop;
    const char *what = "the vocoder activations";
    if (!(job->stream = nn_cuda_stream_new(err, err_size)) ||
        !(job->latent = static_cast<float *>(nn_cuda_alloc(in * 4, what, err, err_size))) ||
        !(job->a = static_cast<float *>(nn_cuda_alloc(act * 4, what, err, err_size))) ||
        !(job->b = static_cast<float *>(nn_cuda_alloc(act * 4, what, err, err_size))) ||
        !(job->c = static_cast<float *>(nn_cuda_alloc(act * 4, what, err, err_size))) ||
        !(job->d = static_cast<float *>(nn_cuda_alloc(act * 4, what, err, err_size))) ||
        !(job->scratch = static_cast<float *>(
              nn_cuda_alloc((scr ? scr : 1) * 4, "the vocoder scratch", err, err_size))) ||
        !(job->host_in = static_cast<float *>(
              nn_cuda_host_alloc(in * 4, "the vocoder latent", err, err_size))) ||
        !(job->host_out = static_cast<float *>(
              nn_cuda_host_alloc(2 * out * 4, "the vocoder audio", err, err_size)))) {
        nn_wavegen_cuda_job_free(job);
        return nullptr;
    }
    return job;
}

// Queues the forward of a device latent (in_channels, frames) with rows of ldl up to the
// values before the tanh, and says which job buffer holds them.
static int queue_forward(nn_wavegen_cuda_job *job, const float *latent, size_t ldl,
                         size_t frames, float **out, char *err, size_t err_size)
{
    const nn_wavegen_cuda *wg = job->wg;
    nn_cuda_stream *s = job->stream;
    float *a = job->a, *b = job->b, *c = job->c, *d = job->d, *scratch = job->scratch;
    if (nn_cuda_conv1d_forward(s, &wg->stem, latent, ldl, frames, a, frames, scratch, false,
                               err, err_size))
        return -1;
    size_t t = frames, ch = wg->channels;
    for (size_t i = 0; i < wg->block_count; i++) {
        const block &blk = wg->blocks[i];
        nn_cuda_snake(s, a, t, ch, t, blk.alpha, a, t);
        const size_t t_up = nn_cuda_conv_transpose1d_out_len(&blk.up, t);
        if (nn_cuda_conv_transpose1d_forward(s, &blk.up, a, t, t, b, t_up, scratch, err,
                                             err_size))
            return -1;
        t = t_up;
        ch = blk.out_channels;
        for (const residual &ru : blk.units) {
            nn_cuda_snake(s, b, t, ch, t, ru.alpha1, c, t);
            if (nn_cuda_conv1d_forward(s, &ru.conv7, c, t, t, d, t, scratch, false, err,
                                       err_size))
                return -1;
            nn_cuda_snake(s, d, t, ch, t, ru.alpha2, d, t);
            if (nn_cuda_conv1d_forward(s, &ru.conv1, d, t, t, b, t, scratch, true, err,
                                       err_size))
                return -1;
        }
        float *swap = a;
        a = b;
        b = swap;
    }
    nn_cuda_snake(s, a, t, ch, t, wg->final_alpha, a, t);
    // b is free now: the values before the tanh
    if (nn_cuda_conv1d_forward(s, &wg->out_conv, a, t, t, b, t, scratch, false, err, err_size))
        return -1;
    *out = b;
    return 0;
}

// The queued forward from job->latent as a CUDA graph, captured once per chunk length: a
// chunk is ~150 small kernels, whose launches would cost more than their work. Returns 1
// when it launched the graph, 0 when the caller must queue the kernels (capture failed once:
// graphs are then off for the job), -1 on error.
static int launch_graph(nn_wavegen_cuda_job *job, size_t frames, float **out, char *err,
                        size_t err_size)
{
    if (job->graphs_off)
        return 0;
    cudaStream_t cs = nncu_stream(job->stream);
    auto it = job->graphs.find(frames);
    if (it == job->graphs.end()) {
        cudaGraph_t graph = nullptr;
        cudaGraphExec_t exec = nullptr;
        char why[256];
        if (cudaStreamBeginCapture(cs, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
            (void)cudaGetLastError();
            job->graphs_off = true;
            return 0;
        }
        int rc = queue_forward(job, job->latent, frames, frames, out, why, sizeof why);
        cudaError_t end = cudaStreamEndCapture(cs, &graph);
        if (rc || end != cudaSuccess ||
            cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess) {
            (void)cudaGetLastError();
            if (graph)
                cudaGraphDestroy(graph);
            job->graphs_off = true;
            return 0;
        }
        cudaGraphDestroy(graph);
        it = job->graphs.emplace(frames, exec).first;
    } else {
        // the output buffer depends only on the block count: ask without queueing anything
        *out = job->wg->block_count % 2 ? job->a : job->b;
    }
    return nncu_check(cudaGraphLaunch(it->second, cs), "launching the vocoder graph", err,
                      err_size)
               ? -1
               : 1;
}

// The forward of a device latent, the values before the tanh and the samples copied out.
static int forward_device(nn_wavegen_cuda_job *job, const float *latent, size_t ldl,
                          size_t frames, float *samples, float *pre_tanh, char *err,
                          size_t err_size)
{
    nn_cuda_stream *s = job->stream;
    float *b = nullptr;
    int launched = 0;
    if (latent == job->latent && ldl == frames &&
        (launched = launch_graph(job, frames, &b, err, err_size)) < 0)
        return -1;
    if (!launched && queue_forward(job, latent, ldl, frames, &b, err, err_size))
        return -1;
    const size_t t = frames * job->wg->hop;
    float *host_pre = job->host_out + t, *host_samples = job->host_out;
    if (pre_tanh && nn_cuda_to_host(s, host_pre, b, t, err, err_size))
        return -1;
    nn_cuda_tanh(s, b, t);
    if (nn_cuda_to_host(s, host_samples, b, t, err, err_size) ||
        nn_cuda_stream_sync(s, err, err_size))
        return -1;
    std::memcpy(samples, host_samples, t * sizeof(float));
    if (pre_tanh)
        std::memcpy(pre_tanh, host_pre, t * sizeof(float));
    return 0;
}

static int check_frames(nn_wavegen_cuda_job *job, size_t frames, char *err, size_t err_size)
{
    if (frames > job->max_frames) {
        snprintf(err, err_size, "%zu latent frames for a vocoder job made for %zu", frames,
                 job->max_frames);
        return -1;
    }
    return nn_cuda_use_device(job->wg->device, err, err_size);
}

extern "C" int nn_wavegen_cuda_forward(nn_wavegen_cuda_job *job, const float *latent,
                                       size_t ldl, size_t frames, float *samples,
                                       float *pre_tanh, char *err, size_t err_size)
{
    if (frames == 0)
        return 0;
    if (check_frames(job, frames, err, err_size))
        return -1;
    const nn_wavegen_cuda *wg = job->wg;
    nn_cuda_stream *s = job->stream;
    // the pinned staging is rewritten only once the previous chunk has finished with it
    if (nn_cuda_stream_sync(s, err, err_size))
        return -1;
    for (size_t c = 0; c < wg->in_channels; c++)
        std::memcpy(job->host_in + c * frames, latent + c * ldl, frames * sizeof(float));
    if (nn_cuda_to_device(s, job->latent, job->host_in, wg->in_channels * frames, err,
                          err_size))
        return -1;
    return forward_device(job, job->latent, frames, frames, samples, pre_tanh, err, err_size);
}

extern "C" int nn_wavegen_cuda_forward_device(nn_wavegen_cuda_job *job,
                                              const float *latent_device, size_t ldl,
                                              size_t frames, float *samples, float *pre_tanh,
                                              char *err, size_t err_size)
{
    if (frames == 0)
        return 0;
    if (check_frames(job, frames, err, err_size))
        return -1;
    return forward_device(job, latent_device, ldl, frames, samples, pre_tanh, err, err_size);
}
