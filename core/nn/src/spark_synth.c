/* Random-weight Spark models: the release layout filled from a seed. Each tensor's values
 * come from its own named stream (seed, tensor name), so any tensor can be regenerated alone,
 * and the writers pull them through fill callbacks one tensor at a time: the 2 GB LLM never
 * sits in memory. */
#include "spark_internal.h"

#include <spark/nn/prng.h>
#include <spark/nn/spark_model.h>
#include <spark/nn/spark_tokenizer.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- values ---------------------------------------------------------------------------- */

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* The files are little-endian; swap words in place on a big-endian host. */
static void to_little_endian(void *data, uint64_t count, size_t width)
{
    if (host_is_little_endian())
        return;
    uint8_t *p = data;
    for (uint64_t i = 0; i < count; i++, p += width)
        for (size_t a = 0, b = width - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* weight_g = the L2 norm of weight_v over every dim but norm_dim, as weight_norm sets it
 * at initialisation, so the folded weight equals weight_v. v is regenerated in chunks. */
static int fill_norm(const nn_spark_tensor_list *list, const nn_spark_tensor_spec *g,
                     uint64_t seed, float *dst, uint64_t count)
{
    if (g->norm_source >= list->count)
        return -1;
    const nn_spark_tensor_spec *v = &list->items[g->norm_source];
    if (v->fill != NN_SPARK_FILL_NORMAL || g->norm_dim >= v->ndim ||
        (uint64_t)v->shape[g->norm_dim] != count)
        return -1;
    uint64_t stride = 1; /* elements between two steps of the kept dim */
    for (uint32_t d = g->norm_dim + 1; d < v->ndim; d++)
        stride *= (uint64_t)v->shape[d];
    double *sums = calloc(count, sizeof *sums);
    enum { CHUNK = 1 << 16 };
    float *chunk = malloc(CHUNK * sizeof *chunk);
    if (!sums || !chunk) {
        free(sums);
        free(chunk);
        return -1;
    }
    nn_rng rng;
    nn_rng_seed(&rng, seed, v->name);
    uint64_t total = nn_spark_tensor_elements(v), pos = 0, kept = 0;
    for (uint64_t done = 0; done < total;) {
        size_t n = total - done < CHUNK ? (size_t)(total - done) : CHUNK;
        nn_rng_fill_normal(&rng, chunk, n, v->mean, v->std);
        for (size_t i = 0; i < n; i++) {
            /* A float squared is exact in double, so the sum rounds the same everywhere. */
            sums[kept] += (double)chunk[i] * (double)chunk[i];
            if (++pos == stride) {
                pos = 0;
                if (++kept == count)
                    kept = 0;
            }
        }
        done += n;
    }
    for (uint64_t i = 0; i < count; i++)
        dst[i] = (float)sqrt(sums[i]);
    free(sums);
    free(chunk);
    return 0;
}

int nn_spark_fill_tensor(const nn_spark_tensor_list *list, size_t index, uint64_t seed,
                         void *dst, uint64_t nbytes)
{
    if (index >= list->count)
        return -1;
    const nn_spark_tensor_spec *spec = &list->items[index];
    uint64_t count = nn_spark_tensor_elements(spec);
    if (nbytes != count * nn_dtype_size(spec->dtype))
        return -1;
    nn_rng rng;
    nn_rng_seed(&rng, seed, spec->name);
    switch (spec->fill) {
    case NN_SPARK_FILL_NORMAL:
        if (spec->dtype != NN_F32)
            return -1;
        nn_rng_fill_normal(&rng, dst, (size_t)count, spec->mean, spec->std);
        break;
    case NN_SPARK_FILL_NORM_OF:
        if (spec->dtype != NN_F32 || fill_norm(list, spec, seed, dst, count) != 0)
            return -1;
        break;
    case NN_SPARK_FILL_COUNTER: {
        if (spec->dtype != NN_I64)
            return -1;
        /* Batches seen in training: any plausible count. */
        int64_t batches = 100000 + (int64_t)nn_rng_below(&rng, 900000);
        for (uint64_t i = 0; i < count; i++)
            memcpy((int64_t *)dst + i, &batches, sizeof batches);
        break;
    }
    default:
        return -1;
    }
    to_little_endian(dst, count, nn_dtype_size(spec->dtype));
    return 0;
}

/* ---- writing the weights --------------------------------------------------------------- */

typedef struct fill_context {
    const nn_spark_tensor_list *list;
    const size_t *order; /* writer index -> list index */
    uint64_t seed;
} fill_context;

static int fill_callback(void *user, size_t index, void *dst, uint64_t nbytes)
{
    const fill_context *c = user;
    return nn_spark_fill_tensor(c->list, c->order[index], c->seed, dst, nbytes);
}

typedef struct ranked {
    const nn_spark_tensor_spec *spec;
    size_t index;
} ranked;

/* The safetensors reference library orders tensors by dtype (I64 before F32), then name. */
static int safetensors_order(const void *a, const void *b)
{
    const nn_spark_tensor_spec *x = ((const ranked *)a)->spec, *y = ((const ranked *)b)->spec;
    bool xi = x->dtype == NN_I64, yi = y->dtype == NN_I64;
    if (xi != yi)
        return xi ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int write_component(const char *dir, const nn_spark_config *config,
                           nn_spark_component component, uint64_t seed,
                           nn_spark_synth_report *report, char **error)
{
    nn_spark_tensor_list list;
    if (nn_spark_expected_tensors(config, component, &list, error) != 0)
        return -1;
    size_t *order = malloc(list.count * sizeof *order);
    nn_tensor_source *sources = calloc(list.count, sizeof *sources);
    char *path = nn_format("%s/%s", dir, nn_spark_component_weights(component));
    int rc = -1;
    if (!order || !sources || !path) {
        *error = nn_format("%s: out of memory", dir);
        goto done;
    }
    bool torch = nn_spark_component_is_torch(component);
    if (torch) { /* a state dict keeps module order */
        for (size_t i = 0; i < list.count; i++)
            order[i] = i;
    } else {
        ranked *ranks = malloc(list.count * sizeof *ranks);
        if (!ranks) {
            *error = nn_format("%s: out of memory", dir);
            goto done;
        }
        for (size_t i = 0; i < list.count; i++)
            ranks[i] = (ranked){&list.items[i], i};
        qsort(ranks, list.count, sizeof *ranks, safetensors_order);
        for (size_t i = 0; i < list.count; i++)
            order[i] = ranks[i].index;
        free(ranks);
    }
    fill_context context = {&list, order, seed};
    uint64_t bytes = 0;
    for (size_t i = 0; i < list.count; i++) {
        const nn_spark_tensor_spec *spec = &list.items[order[i]];
        sources[i] = (nn_tensor_source){
            .name = spec->name,
            .dtype = spec->dtype,
            .ndim = spec->ndim,
            .fill = fill_callback,
            .user = &context,
        };
        memcpy(sources[i].shape, spec->shape, sizeof spec->shape);
        bytes += nn_spark_tensor_elements(spec) * nn_dtype_size(spec->dtype);
    }
    /* transformers' save_pretrained marks its safetensors as PyTorch's. */
    static const char *const pt_metadata[] = {"format", "pt", NULL};
    if (torch)
        rc = nn_torch_write(path, sources, list.count, error);
    else
        rc = nn_safetensors_write(path, sources, list.count,
                                  component == NN_SPARK_LLM ? pt_metadata : NULL, error);
    if (rc == 0 && report) {
        report->tensor_count[component] = list.count;
        report->tensor_bytes[component] = bytes;
    }
done:
    free(path);
    free(sources);
    free(order);
    nn_spark_tensor_list_free(&list);
    return rc;
}

/* ---- the directory --------------------------------------------------------------------- */

int nn_spark_synth(const char *dir, const nn_spark_preset *preset, uint64_t seed,
                   nn_spark_synth_report *report, char **error)
{
    *error = NULL;
    if (report)
        memset(report, 0, sizeof *report);
    static const char *const subdirs[] = {".", "LLM", "BiCodec", NN_SPARK_WAV2VEC2_DIR};
    for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
        char *path = nn_format("%s/%s", dir, subdirs[i]);
        int rc = path ? nn_make_dirs(path, error) : -1;
        if (!path)
            *error = nn_format("%s: out of memory", dir);
        free(path);
        if (rc != 0)
            return -1;
    }
    nn_bpe *bpe = nn_bpe_learn((size_t)preset->bpe_vocab_size, error);
    if (!bpe)
        return -1;
    nn_spark_config config = preset->config;
    nn_spark_token_ids ids;
    char *llm_dir = nn_format("%s/LLM", dir);
    int rc = -1;
    if (!llm_dir) {
        *error = nn_format("%s: out of memory", dir);
        goto done;
    }
    if (nn_spark_tokenizer_write(llm_dir, bpe, &config, &ids, error) != 0)
        goto done;
    /* The embedding has a row per token id, padded like the release's 165,158 -> 166,000. */
    int64_t tokens = ids.regular + ids.added;
    int64_t rows = preset->fixed_vocab_size > 0
                       ? preset->fixed_vocab_size
                       : (tokens + preset->vocab_multiple - 1) / preset->vocab_multiple *
                             preset->vocab_multiple;
    if (rows < tokens) {
        *error = nn_format("preset %s: %lld tokens do not fit %lld embedding rows",
                           preset->name, (long long)tokens, (long long)rows);
        goto done;
    }
    config.llm.vocab_size = rows;
    config.llm.bos_token_id = ids.endoftext;
    config.llm.eos_token_id = ids.im_end;
    nn_problems problems = {0};
    if (nn_spark_config_check(&config, &problems) > 0) {
        *error = nn_format("preset %s is inconsistent: %s", preset->name, problems.items[0]);
        nn_problems_free(&problems);
        goto done;
    }
    nn_problems_free(&problems);
    if (nn_spark_config_write(dir, &config, error) != 0)
        goto done;
    for (int c = 0; c < NN_SPARK_COMPONENT_COUNT; c++)
        if (write_component(dir, &config, (nn_spark_component)c, seed, report, error) != 0)
            goto done;
    if (report) {
        report->regular_tokens = ids.regular;
        report->added_tokens = ids.added;
    }
    rc = 0;
done:
    free(llm_dir);
    nn_bpe_free(bpe);
    return rc;
}
