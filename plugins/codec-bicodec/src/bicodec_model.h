/*
 * bicodec_model.h - an open BiCodec directory (MODEL/BiCodec: config.yaml + model.safetensors),
 * shared by the decode and encode directions. Free of SDK types.
 */
#ifndef BICODEC_MODEL_H
#define BICODEC_MODEL_H

#include <stddef.h>

#include <spark/nn/spark_model.h>
#include <spark/nn/tensor_file.h>

typedef struct bicodec_model {
    nn_bicodec_config config;
    nn_tensor_file *weights; /* BiCodec/model.safetensors, mapped */
} bicodec_model;

/* Reads only MODEL_DIR/BiCodec/config.yaml (or MODEL_DIR/config.yaml of a BiCodec folder):
 * cheap, for what a node must know before its weights are loaded. Returns 0, or -1 with err
 * set. */
int bicodec_config_read(nn_bicodec_config *config, const char *model_dir, char *err,
                        size_t err_size);

/* Opens MODEL_DIR/BiCodec (or MODEL_DIR itself when it holds config.yaml and
 * model.safetensors directly). Returns 0, or -1 with a message in err naming the file. */
int bicodec_model_open(bicodec_model *model, const char *model_dir, char *err, size_t err_size);
void bicodec_model_close(bicodec_model *model);

/* The tensor `name` with exactly this shape, as a malloc'd f32 copy; NULL with err set. */
float *bicodec_tensor(const bicodec_model *model, const char *name, uint32_t ndim,
                      const int64_t *shape, char *err, size_t err_size);

#endif
