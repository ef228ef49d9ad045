/* Weight normalisation folded into a plain weight, once at activation (spec 4.9). */
#include "spark/nn/conv.h"

#include <math.h>

void nn_weight_norm_fold(const float *g, const float *v, size_t rows, size_t cols, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        const float *row = v + r * cols;
        double sum = 0.0;
        for (size_t c = 0; c < cols; c++)
            sum += (double)row[c] * (double)row[c];
        /* upstream divides by the bare norm: an all-zero row gives NaN there too */
        float scale = (float)((double)g[r] / sqrt(sum));
        float *dst = out + r * cols;
        for (size_t c = 0; c < cols; c++)
            dst[c] = row[c] * scale;
    }
}
