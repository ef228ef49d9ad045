/* Opening a BiCodec directory: its config.yaml (checked) and its weights file. */
#define _POSIX_C_SOURCE 200809L
#include "bicodec_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <spark/nn/conv.h>

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The config and weights paths of a model directory, or of a BiCodec folder itself. */
static int find_files(const char *model_dir, char *config_path, char *weights_path, size_t size,
                      char *err, size_t err_size)
{
    snprintf(config_path, size, "%s/BiCodec/config.yaml", model_dir);
    snprintf(weights_path, size, "%s/BiCodec/model.safetensors", model_dir);
    if (is_file(config_path))
        return 0;
    snprintf(config_path, size, "%s/config.yaml", model_dir);
    snprintf(weights_path, size, "%s/model.safetensors", model_dir);
    if (is_file(config_path) && is_file(weights_path))
        return 0;
    snprintf(err, err_size, "%s: no BiCodec/config.yaml (is this a Spark-TTS model directory?)",
             model_dir);
    return -1;
}

static int read_config(const char *config_path, nn_bicodec_config *config, char *err,
                       size_t err_size)
{
    nn_problems problems = {0};
    int rc = nn_bicodec_config_load(config_path, config, &problems);
    if (rc)
        snprintf(err, err_size, "%s", problems.count ? problems.items[0] : config_path);
    nn_problems_free(&problems);
    return rc;
}

int bicodec_config_read(nn_bicodec_config *config, const char *model_dir, char *err,
                        size_t err_size)
{
    char config_path[4096], weights_path[4096];
    if (find_files(model_dir, config_path, weights_path, sizeof config_path, err, err_size))
        return -1;
    return read_config(config_path, config, err, err_size);
}

int bicodec_model_open(bicodec_model *model, const char *model_dir, char *err, size_t err_size)
{
    memset(model, 0, sizeof *model);
    char config_path[4096], weights_path[4096];
    if (find_files(model_dir, config_path, weights_path, sizeof config_path, err, err_size) ||
        read_config(config_path, &model->config, err, err_size))
        return -1;
    char *error = NULL;
    model->weights = nn_tensor_file_open(weights_path, &error);
    if (!model->weights) {
        snprintf(err, err_size, "%s", error ? error : weights_path);
        free(error);
        return -1;
    }
    return 0;
}

void bicodec_model_close(bicodec_model *model)
{
    if (model->weights)
        nn_tensor_file_close(model->weights);
    model->weights = NULL;
}

float *bicodec_tensor(const bicodec_model *model, const char *name, uint32_t ndim,
                      const int64_t *shape, char *err, size_t err_size)
{
    return nn_tensor_load_f32(model->weights, name, ndim, shape, err, err_size);
}
