/* Error messages of the conv layer constructors. */
#ifndef SPARK_NN_CONV_ERROR_H
#define SPARK_NN_CONV_ERROR_H

#include <stddef.h>

void nn_conv_error(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
