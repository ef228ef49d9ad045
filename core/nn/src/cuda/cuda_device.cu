// cuda_device.cu - device discovery, memory accounting, streams and pinned host buffers
// (spark/nn/cuda.h). Nothing here aborts: every CUDA status becomes an error message.
#include "cuda_internal.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_map>

extern "C" int nncu_check(cudaError_t status, const char *what, char *err, size_t err_size)
{
    if (status == cudaSuccess)
        return 0;
    if (err && err_size)
        snprintf(err, err_size, "%s: %s (%s)", what, cudaGetErrorString(status),
                 cudaGetErrorName(status));
    // a failed call leaves its error as the thread's last error; clear it so the next
    // successful call does not report it again
    (void)cudaGetLastError();
    return -1;
}

extern "C" int nncu_check_blas(cublasStatus_t status, const char *what, char *err,
                               size_t err_size)
{
    if (status == CUBLAS_STATUS_SUCCESS)
        return 0;
    if (err && err_size)
        snprintf(err, err_size, "%s: cuBLAS %s", what, cublasGetStatusString(status));
    return -1;
}

extern "C" int nn_cuda_probe(char *why, size_t why_size)
{
    int count = 0;
    cudaError_t st = cudaGetDeviceCount(&count);
    if (st != cudaSuccess) {
        const char *hint = "";
        if (st == cudaErrorNoDevice)
            hint = " (no NVIDIA GPU is visible to this process)";
        else if (st == cudaErrorInsufficientDriver)
            hint = " (no NVIDIA driver is loaded, or it is older than the CUDA runtime)";
        if (why && why_size)
            snprintf(why, why_size, "no CUDA device: %s%s", cudaGetErrorString(st), hint);
        (void)cudaGetLastError();
        return 0;
    }
    if (count <= 0 && why && why_size)
        snprintf(why, why_size, "no CUDA device: the driver reports no GPU");
    return count > 0 ? count : 0;
}

extern "C" int nn_cuda_use_device(int index, char *err, size_t err_size)
{
    return nncu_check(cudaSetDevice(index), "selecting the CUDA device", err, err_size);
}

extern "C" int nn_cuda_device_info_get(int index, nn_cuda_device_info *out, char *err,
                                       size_t err_size)
{
    memset(out, 0, sizeof *out);
    cudaDeviceProp prop;
    if (nncu_check(cudaGetDeviceProperties(&prop, index), "reading the device properties",
                   err, err_size))
        return -1;
    out->index = index;
    snprintf(out->name, sizeof out->name, "%s", prop.name);
    out->compute_major = prop.major;
    out->compute_minor = prop.minor;
    out->multiprocessors = prop.multiProcessorCount;
    out->total_bytes = prop.totalGlobalMem;
    int current = 0;
    if (nncu_check(cudaGetDevice(&current), "reading the current device", err, err_size) ||
        nncu_check(cudaSetDevice(index), "selecting the CUDA device", err, err_size))
        return -1;
    size_t free_b = 0, total_b = 0;
    int rc = nncu_check(cudaMemGetInfo(&free_b, &total_b), "reading device memory", err,
                        err_size);
    out->free_bytes = free_b;
    cudaDriverGetVersion(&out->driver_version);
    cudaRuntimeGetVersion(&out->runtime_version);
    cudaSetDevice(current);
    return rc;
}

extern "C" int nn_cuda_memory(size_t *free_bytes, size_t *total_bytes, char *err,
                              size_t err_size)
{
    return nncu_check(cudaMemGetInfo(free_bytes, total_bytes), "reading device memory", err,
                      err_size);
}

namespace {

struct accounting {
    std::mutex lock;
    std::unordered_map<void *, size_t> sizes;
    size_t held = 0, peak = 0, limit = 0;
};

accounting &books()
{
    static accounting a;
    return a;
}

double gib(size_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0 * 1024.0);
}

// "512 B", "1.5 KiB", "12.0 MiB", "3.2 GiB", "1.0 TiB"...
struct size_text {
    char text[32];
    explicit size_text(size_t bytes)
    {
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = (double)bytes;
        int u = 0;
        while (v >= 1024.0 && u < 6) {
            v /= 1024.0;
            u++;
        }
        if (u == 0)
            snprintf(text, sizeof text, "%zu B", bytes);
        else
            snprintf(text, sizeof text, "%.1f %s", v, units[u]);
    }
};

} // namespace

extern "C" size_t nn_cuda_allocated_bytes(void)
{
    std::lock_guard<std::mutex> g(books().lock);
    return books().held;
}

extern "C" size_t nn_cuda_peak_bytes(void)
{
    std::lock_guard<std::mutex> g(books().lock);
    return books().peak;
}

extern "C" void nn_cuda_reset_peak(void)
{
    std::lock_guard<std::mutex> g(books().lock);
    books().peak = books().held;
}

extern "C" void nn_cuda_set_memory_limit(size_t bytes)
{
    std::lock_guard<std::mutex> g(books().lock);
    books().limit = bytes;
}

static void out_of_memory(size_t bytes, const char *what, char *err, size_t err_size)
{
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    (void)cudaGetLastError();
    size_t held = nn_cuda_allocated_bytes();
    if (err && err_size)
        snprintf(err, err_size,
                 "out of GPU memory: %s needs %s; the backend holds %s, the device has %s free "
                 "of %s",
                 what, size_text(bytes).text, size_text(held).text, size_text(free_b).text,
                 size_text(total_b).text);
}

extern "C" void *nn_cuda_alloc(size_t bytes, const char *what, char *err, size_t err_size)
{
    accounting &a = books();
    bool over_cap;
    {
        std::lock_guard<std::mutex> g(a.lock);
        over_cap = a.limit && (bytes > a.limit || a.held > a.limit - bytes);
    }
    if (over_cap) {
        out_of_memory(bytes, what, err, err_size);
        return nullptr;
    }
    void *p = nullptr;
    cudaError_t st = cudaMalloc(&p, bytes ? bytes : 1);
    if (st == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        out_of_memory(bytes, what, err, err_size);
        return nullptr;
    }
    if (st != cudaSuccess) {
        char where[200];
        snprintf(where, sizeof where, "allocating %s of GPU memory for %s",
                 size_text(bytes).text, what);
        nncu_check(st, where, err, err_size);
        return nullptr;
    }
    std::lock_guard<std::mutex> g(a.lock);
    a.sizes[p] = bytes;
    a.held += bytes;
    if (a.held > a.peak)
        a.peak = a.held;
    return p;
}

extern "C" void nn_cuda_free(void *p)
{
    if (!p)
        return;
    accounting &a = books();
    {
        std::lock_guard<std::mutex> g(a.lock);
        auto it = a.sizes.find(p);
        if (it != a.sizes.end()) {
            a.held -= it->second;
            a.sizes.erase(it);
        }
    }
    cudaFree(p);
}

extern "C" void *nn_cuda_host_alloc(size_t bytes, const char *what, char *err, size_t err_size)
{
    void *p = nullptr;
    char where[200];
    snprintf(where, sizeof where, "allocating %s of pinned host memory for %s",
             size_text(bytes).text, what);
    if (nncu_check(cudaMallocHost(&p, bytes ? bytes : 1), where, err, err_size))
        return nullptr;
    return p;
}

extern "C" void nn_cuda_host_free(void *p)
{
    if (p)
        cudaFreeHost(p);
}

extern "C" int nn_cuda_memory_report(char *line, size_t line_size, char *err, size_t err_size)
{
    int dev = 0;
    if (nncu_check(cudaGetDevice(&dev), "reading the current device", err, err_size))
        return -1;
    nn_cuda_device_info info;
    if (nn_cuda_device_info_get(dev, &info, err, err_size))
        return -1;
    snprintf(line, line_size,
             "%s (sm_%d%d, %d SMs): %.2f GiB held by the backend (peak %.2f GiB), %.1f GiB "
             "free of %.1f GiB",
             info.name, info.compute_major, info.compute_minor, info.multiprocessors,
             gib(nn_cuda_allocated_bytes()), gib(nn_cuda_peak_bytes()), gib(info.free_bytes),
             gib(info.total_bytes));
    return 0;
}

struct nn_cuda_stream {
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
    void *workspace = nullptr;
};

static constexpr size_t kStreamBlasWorkspace = 8u << 20;

extern "C" void nn_cuda_stream_free(nn_cuda_stream *s)
{
    if (!s)
        return;
    if (s->stream)
        cudaStreamSynchronize(s->stream);
    if (s->blas)
        cublasDestroy(s->blas);
    nn_cuda_free(s->workspace);
    if (s->stream)
        cudaStreamDestroy(s->stream);
    delete s;
}

extern "C" nn_cuda_stream *nn_cuda_stream_new(char *err, size_t err_size)
{
    nn_cuda_stream *s = new (std::nothrow) nn_cuda_stream;
    if (!s) {
        snprintf(err, err_size, "out of memory for a CUDA stream");
        return nullptr;
    }
    // a fixed cuBLAS workspace: nothing is allocated while the job runs or is captured
    if (nncu_check(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking),
                   "creating a CUDA stream", err, err_size) ||
        nncu_check_blas(cublasCreate(&s->blas), "creating a cuBLAS handle", err, err_size) ||
        nncu_check_blas(cublasSetStream(s->blas, s->stream), "binding cuBLAS to the stream",
                        err, err_size) ||
        !(s->workspace = nn_cuda_alloc(kStreamBlasWorkspace, "the cuBLAS workspace", err,
                                       err_size)) ||
        nncu_check_blas(cublasSetWorkspace(s->blas, s->workspace, kStreamBlasWorkspace),
                        "giving cuBLAS its workspace", err, err_size)) {
        nn_cuda_stream_free(s);
        return nullptr;
    }
    return s;
}

extern "C" int nn_cuda_stream_sync(nn_cuda_stream *s, char *err, size_t err_size)
{
    return nncu_check(cudaStreamSynchronize(s->stream), "running the job's GPU work", err,
                      err_size);
}

extern "C" void *nn_cuda_stream_handle(nn_cuda_stream *s)
{
    return (void *)s->stream;
}

extern "C" cudaStream_t nncu_stream(nn_cuda_stream *s)
{
    return s->stream;
}

extern "C" cublasHandle_t nncu_blas(nn_cuda_stream *s)
{
    return s->blas;
}
