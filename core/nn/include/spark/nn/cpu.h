/*
 * spark/nn/cpu.h - which x86-64 vector extensions this CPU and OS support, read once with
 * CPUID/XGETBV, so kernels are chosen at run time and one binary runs on any AVX2 machine.
 *
 * SPARK_CPU_ISA=avx2 (or "scalar") in the environment caps the choice, to test the slower
 * paths on a newer CPU.
 */
#ifndef SPARK_NN_CPU_H
#define SPARK_NN_CPU_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nn_cpu_features {
    bool avx2, fma, f16c;            /* the baseline the AVX2 kernels need */
    bool avx512f, avx512bw, avx512vl, avx512dq;
    bool avx512vnni;                 /* VPDPBUSD: int8 dot products */
    bool avx512bf16;                 /* VDPBF16PS: bf16 dot products */
    bool avx_vnni;                   /* the VEX-encoded VNNI of AVX2-only CPUs */
} nn_cpu_features;

typedef enum nn_isa {
    NN_ISA_SCALAR = 0,  /* portable C */
    NN_ISA_AVX2 = 1,    /* AVX2 + FMA + F16C */
    NN_ISA_AVX512 = 2,  /* F, BW, VL, DQ (VNNI and BF16 reported separately) */
} nn_isa;

/* The detected features after the SPARK_CPU_ISA cap. Thread-safe; detection runs once. */
const nn_cpu_features *nn_cpu(void);
/* The best kernel family nn_cpu() allows. */
nn_isa nn_cpu_isa(void);
/* "scalar", "avx2", "avx512". */
const char *nn_isa_name(nn_isa isa);
/* A short line for logs: "avx512 (vnni, bf16)". */
const char *nn_cpu_summary(void);

#ifdef __cplusplus
}
#endif
#endif
