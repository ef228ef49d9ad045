/* fake_host.h - a minimal host for the storage-local plugin tests: the log extension
 * records the last error, the alloc extension makes blob packets with malloc, and a
 * key/value table stands in for validated parameters. */
#ifndef STORAGE_LOCAL_TEST_FAKE_HOST_H
#define STORAGE_LOCAL_TEST_FAKE_HOST_H

#include <spark/plugin.h>

typedef struct fake_host {
    spark_host host;
    char last_error[4096];
    int error_count;
    int live_packets; /* made and not yet released */
} fake_host;

void fake_host_init(fake_host *fake);

typedef struct fake_param {
    const char *key;
    const char *value;
} fake_param;

/* params over table[count]; the table must outlive the spark_params. */
typedef struct fake_params {
    spark_params params;
    const fake_param *table;
    int count;
} fake_params;

void fake_params_init(fake_params *fake, const fake_param *table, int count);

#endif
