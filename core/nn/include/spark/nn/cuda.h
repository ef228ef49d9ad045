/*
 * spark/nn/cuda.h - the NVIDIA GPU under the CUDA backend of core/nn: finding a device (with
 * a clear reason when there is none: no driver, no GPU, a driver older than the runtime),
 * device memory (free, total, and what this process allocated through the backend, with its
 * peak), per-job streams and pinned host buffers.
 *
 * Built only with SPARK_CUDA (the library sparknn_cuda defines SPARK_HAVE_CUDA for its
 * users). Every call returns an error instead of aborting: a machine without a GPU gets
 * "no CUDA device: ..." from nn_cuda_probe and nothing crashes.
 */
#ifndef SPARK_NN_CUDA_H
#define SPARK_NN_CUDA_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_cuda_device_info {
    int index;
    char name[256];
    int compute_major, compute_minor; /* 9.0 for an H100 */
    int multiprocessors;
    size_t total_bytes, free_bytes;
    int driver_version, runtime_version; /* 13000 = 13.0 */
} nn_cuda_device_info;

/* Number of usable devices (>= 1), or 0 with the reason in why (no driver loaded, no device,
 * driver too old for this runtime). Safe to call on any machine, any number of times. */
int nn_cuda_probe(char *why, size_t why_size);

/* Facts about device `index` (< nn_cuda_probe()). Returns 0, or -1 with err set. */
int nn_cuda_device_info_get(int index, nn_cuda_device_info *out, char *err, size_t err_size);

/* Makes `index` the calling thread's device. Returns 0, or -1 with err set. */
int nn_cuda_use_device(int index, char *err, size_t err_size);

/* Free and total bytes of the calling thread's device. Returns 0, or -1 with err set. */
int nn_cuda_memory(size_t *free_bytes, size_t *total_bytes, char *err, size_t err_size);

/* Bytes of device memory the backend holds now, and the most it held at once since the
 * process started (or since nn_cuda_reset_peak). */
size_t nn_cuda_allocated_bytes(void);
size_t nn_cuda_peak_bytes(void);
void nn_cuda_reset_peak(void);

/* A cap on the bytes the backend may hold (0: none, the default). An allocation that would
 * pass it fails with the same "out of GPU memory" error as a real shortage: the tests use it
 * to check that running out is reported, not crashed on. */
void nn_cuda_set_memory_limit(size_t bytes);

/* One line for logs: "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs): 1.02 GiB held by the backend,
 * 77.3 GiB free of 79.1 GiB". Returns 0, or -1 with err set. */
int nn_cuda_memory_report(char *line, size_t line_size, char *err, size_t err_size);

/* Device memory through the backend's accounting. NULL with err naming `what`, the size and
 * the free memory when the device (or the cap above) has no room. */
void *nn_cuda_alloc(size_t bytes, const char *what, char *err, size_t err_size);
void nn_cuda_free(void *device_ptr);

/* Page-locked host memory (audio out, token ids back): copies from it run asynchronously. */
void *nn_cuda_host_alloc(size_t bytes, const char *what, char *err, size_t err_size);
void nn_cuda_host_free(void *host_ptr);

/* A job's stream: its kernels run in order and apart from other jobs'. It carries its own
 * cuBLAS handle with a fixed workspace, so the layer calls of spark/nn/conv_cuda.h allocate
 * nothing while they run. */
typedef struct nn_cuda_stream nn_cuda_stream;
nn_cuda_stream *nn_cuda_stream_new(char *err, size_t err_size);
void nn_cuda_stream_free(nn_cuda_stream *stream);
/* Waits for everything queued on the stream; -1 with err set when a kernel failed. */
int nn_cuda_stream_sync(nn_cuda_stream *stream, char *err, size_t err_size);
/* The cudaStream_t, for code that queues its own work. */
void *nn_cuda_stream_handle(nn_cuda_stream *stream);

#ifdef __cplusplus
}
#endif
#endif
