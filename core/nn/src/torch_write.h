/* nn_torch_write with the zip64 threshold exposed, so tests can force zip64 records on
 * small files (real ones need them only past 4 GiB). */
#ifndef SPARK_NN_TORCH_WRITE_H
#define SPARK_NN_TORCH_WRITE_H

#include <spark/nn/tensor_file.h>

int torch_write_with_zip64_threshold(const char *path, const nn_tensor_source *tensors,
                                     size_t count, uint64_t zip64_threshold, char **error);

#endif
