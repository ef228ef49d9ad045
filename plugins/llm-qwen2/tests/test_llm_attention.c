/* The AVX2 decode-attention kernels against a plain double-precision computation, for the
 * release's head size (64, the unrolled path) and others (the general path), several group
 * sizes, context lengths and row strides. Skipped with a message, and counted as a failure,
 * on a CPU without AVX2. */
#include "llm_test_util.h"

#include <math.h>
#include <spark/nn/cpu.h>

#include "attention_kernels.h"

static double check(size_t group, size_t d, size_t n, size_t ld, uint64_t seed)
{
    nn_rng rng;
    nn_rng_seed(&rng, seed, "attention");
    float *q = malloc(group * d * sizeof *q), *k = malloc(n * ld * sizeof *k);
    float *v = malloc(n * ld * sizeof *v), *s = malloc(group * n * sizeof *s);
    float *out = malloc(group * d * sizeof *out);
    nn_rng_fill_normal(&rng, q, group * d, 0, 1);
    nn_rng_fill_normal(&rng, k, n * ld, 0, 1);
    nn_rng_fill_normal(&rng, v, n * ld, 0, 1);
    const float scale = 1.0f / sqrtf((float)d);
    qwen2_scores_avx2(q, group, d, k, ld, n, scale, s);
    double worst = 0;
    for (size_t h = 0; h < group; h++)
        for (size_t p = 0; p < n; p++) {
            double dot = 0;
            for (size_t i = 0; i < d; i++)
                dot += (double)q[h * d + i] * k[p * ld + i];
            double e = fabs(dot * scale - s[h * n + p]);
            worst = e > worst ? e : worst;
        }
    for (size_t i = 0; i < group * n; i++)
        s[i] = (float)(i % 7) / 7.0f - 0.3f; /* any weights, signs included */
    qwen2_weighted_sum_avx2(s, group, n, v, ld, d, out);
    for (size_t h = 0; h < group; h++)
        for (size_t i = 0; i < d; i++) {
            double sum = 0;
            for (size_t p = 0; p < n; p++)
                sum += (double)s[h * n + p] * v[p * ld + i];
            double e = fabs(sum - out[h * d + i]);
            worst = e > worst ? e : worst;
        }
    free(q);
    free(k);
    free(v);
    free(s);
    free(out);
    return worst;
}

int main(void)
{
    if (nn_cpu_isa() < NN_ISA_AVX2) {
        fprintf(stderr, "FAIL: this CPU has no AVX2; the kernels cannot be checked here\n");
        return 1;
    }
    const size_t cases[][4] = {{7, 64, 2000, 128}, {7, 64, 1, 128}, {2, 16, 37, 32},
                               {4, 24, 300, 48}, {1, 128, 77, 128}, {3, 72, 5, 80}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double e = check(cases[c][0], cases[c][1], cases[c][2], cases[c][3], c + 1);
        /* f32 sums of up to 2000 products of unit normals: well inside 1e-3 */
        CHECK(e < 1e-3, "group %zu, head %zu, %zu positions: error %.3g", cases[c][0],
              cases[c][1], cases[c][2], e);
        printf("group %zu, head size %3zu, %4zu positions, stride %3zu: max error %.3g\n",
               cases[c][0], cases[c][1], cases[c][2], cases[c][3], e);
    }
    if (test_failures)
        return 1;
    printf("attention kernels agree with the double-precision sums\n");
    return 0;
}
