/*
 * matvec_scratch.h - per-thread scratch buffers of the matvec kernels, so that no product
 * allocates once a thread has seen its largest shape. A buffer grows (never shrinks) and is
 * freed when its thread exits.
 */
#ifndef SPARK_NN_MATVEC_SCRATCH_H
#define SPARK_NN_MATVEC_SCRATCH_H

#include <stddef.h>

typedef enum nn_scratch_slot {
    NN_SCRATCH_XPREP = 0, /* the prepared x of a matvec call (the calling thread's) */
    NN_SCRATCH_TILE = 1,  /* a weight tile widened to f32 in a prefill piece */
    NN_SCRATCH_SLOTS
} nn_scratch_slot;

/* At least `bytes` bytes, 64-byte aligned, owned by the calling thread. Aborts with a message
 * when memory is exhausted (the sizes are a few rows of one weight). */
void *nn_scratch(nn_scratch_slot slot, size_t bytes);

#endif
