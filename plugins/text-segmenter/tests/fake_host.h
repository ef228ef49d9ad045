/* fake_host.h - a minimal host and job for the text-segmenter node tests: the log extension
 * records the last error, the alloc extension makes text packets with malloc, the job's
 * emit collects packets, and a key/value table stands in for validated parameters. */
#ifndef TEXT_SEGMENTER_TEST_FAKE_HOST_H
#define TEXT_SEGMENTER_TEST_FAKE_HOST_H

#include <spark/plugin.h>

typedef struct fake_host {
    spark_host host;
    char last_error[1024];
    int error_count;
    int live_packets; /* made and not yet released */
} fake_host;

void fake_host_init(fake_host *fake);

/* Release a packet made by the fake alloc extension. */
void fake_release(const spark_packet *packet);

enum { FAKE_JOB_MAX_PACKETS = 256 };

typedef struct fake_job {
    spark_job job;
    const spark_packet *packets[FAKE_JOB_MAX_PACKETS]; /* emitted, owned by the fake job */
    uint32_t ports[FAKE_JOB_MAX_PACKETS];
    int count;
    int cancel_after; /* emit answers SPARK_E_CANCELLED once count reaches this; -1 never */
} fake_job;

void fake_job_init(fake_job *fake, const spark_params *params);
/* Release every collected packet and empty the list. */
void fake_job_clear(fake_job *fake);

typedef struct fake_param {
    const char *key;
    const char *value;
} fake_param;

typedef struct fake_params {
    spark_params params;
    const fake_param *table;
    int count;
} fake_params;

void fake_params_init(fake_params *fake, const fake_param *table, int count);

#endif
