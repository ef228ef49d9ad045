/* cuda_internal.h - what the .cu files of the CUDA backend share: error text for CUDA and
 * cuBLAS status codes. Included only by .cu files. */
#ifndef SPARK_NN_CUDA_INTERNAL_H
#define SPARK_NN_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>

#include "spark/nn/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 0 when status is cudaSuccess; else -1 with "WHAT: <CUDA's text>" in err. */
int nncu_check(cudaError_t status, const char *what, char *err, size_t err_size);
/* The same for cuBLAS. */
int nncu_check_blas(cublasStatus_t status, const char *what, char *err, size_t err_size);
/* MODEL/BiCodec/config.yaml and model.safetensors (or DIR/config.yaml and
 * DIR/model.safetensors); -1 with err set when neither is there. */
int nncu_bicodec_paths(const char *model_dir, char *config_path, char *weights_path,
                       size_t size, char *err, size_t err_size);
/* Softmax of each of `rows` packed rows of `cols` values times scale, in place, as the CPU
 * encoder's enc_softmax_rows after its scaling (exp of value - row max, times 1 / sum). */
void nncu_softmax_rows(cudaStream_t stream, float *x, size_t rows, size_t cols, float scale);
/* wav2vec2's mix left in the job's device memory, (frames, hidden) time-major, valid until
 * the job's next call; the job's work is finished when it returns (wav2vec2_cuda.cu). */
struct nn_wav2vec2_cuda_job;
int nncu_wav2vec2_mix_device(struct nn_wav2vec2_cuda_job *job, const float *wav, size_t n,
                             const float **mix_device, char *err, size_t err_size);
/* A job stream's CUDA stream and its cuBLAS handle (bound to it, with its own workspace). */
cudaStream_t nncu_stream(nn_cuda_stream *stream);
cublasHandle_t nncu_blas(nn_cuda_stream *stream);

#ifdef __cplusplus
}
#endif

/* Threads per block of the row kernels. */
#define NNCU_THREADS 256

#endif
