/* CPU feature detection: CPUID for what the core implements, XGETBV for what the OS saves. */
#include "spark/nn/cpu.h"

#include <cpuid.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static nn_cpu_features detected;
static char summary[96];
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

static unsigned long long read_xcr0(void)
{
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static nn_isa isa_of(const nn_cpu_features *f)
{
    if (f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->fma)
        return NN_ISA_AVX512;
    if (f->avx2 && f->fma && f->f16c)
        return NN_ISA_AVX2;
    return NN_ISA_SCALAR;
}

static void cap_to_env(nn_cpu_features *f)
{
    const char *cap = getenv("SPARK_CPU_ISA");
    if (!cap || !*cap)
        return;
    bool keep_avx2 = strcmp(cap, "scalar") != 0;
    bool keep_avx512 = strcmp(cap, "avx512") == 0;
    if (!keep_avx512) {
        f->avx512f = f->avx512bw = f->avx512vl = f->avx512dq = false;
        f->avx512vnni = f->avx512bf16 = false;
    }
    if (!keep_avx2)
        memset(f, 0, sizeof *f);
}

static void detect(void)
{
    nn_cpu_features f = {0};
    unsigned int a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        bool osxsave = c & (1u << 27), avx = c & (1u << 28);
        unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
        bool ymm_saved = (xcr0 & 0x6) == 0x6;
        bool zmm_saved = (xcr0 & 0xe6) == 0xe6;
        f.fma = (c & (1u << 12)) && avx && ymm_saved;
        f.f16c = (c & (1u << 29)) && avx && ymm_saved;
        if (avx && ymm_saved && __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            f.avx2 = b & (1u << 5);
            if (zmm_saved) {
                f.avx512f = b & (1u << 16);
                f.avx512dq = b & (1u << 17);
                f.avx512bw = b & (1u << 30);
                f.avx512vl = b & (1u << 31);
                f.avx512vnni = f.avx512f && (c & (1u << 11));
            }
            if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
                f.avx_vnni = a & (1u << 4);
                f.avx512bf16 = f.avx512f && zmm_saved && (a & (1u << 5));
            }
        }
    }
    cap_to_env(&f);
    detected = f;
    nn_isa isa = isa_of(&f);
    snprintf(summary, sizeof summary, "%s%s%s%s%s", nn_isa_name(isa),
             f.avx512vnni || f.avx512bf16 ? " (" : "", f.avx512vnni ? "vnni" : "",
             f.avx512vnni && f.avx512bf16 ? ", bf16" : f.avx512bf16 ? "bf16" : "",
             f.avx512vnni || f.avx512bf16 ? ")" : "");
}

const nn_cpu_features *nn_cpu(void)
{
    pthread_once(&detect_once, detect);
    return &detected;
}

nn_isa nn_cpu_isa(void)
{
    pthread_once(&detect_once, detect);
    return isa_of(&detected);
}

const char *nn_isa_name(nn_isa isa)
{
    switch (isa) {
    case NN_ISA_AVX512: return "avx512";
    case NN_ISA_AVX2: return "avx2";
    default: return "scalar";
    }
}

const char *nn_cpu_summary(void)
{
    pthread_once(&detect_once, detect);
    return summary;
}
