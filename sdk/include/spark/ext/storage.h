/* spark/ext/storage.h - host service "spark.ext.storage/1": read and write any URL through
 * the pipeline's storage backends (chosen by URL scheme; a plain path is a local file). */
#ifndef SPARK_EXT_STORAGE_H
#define SPARK_EXT_STORAGE_H

#include <spark/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPARK_EXT_STORAGE "spark.ext.storage/1"

/* An open write transaction. [owns] the engine's until commit or abort. */
typedef struct spark_storage_writer spark_storage_writer;

typedef struct spark_ext_storage {
    uint32_t struct_size;
    uint32_t reserved;
    /* Read a whole object. [thread] the job's thread  [owns] *out_blob owned by the caller
     * (release it with the alloc extension) */
    spark_status (*read)(const spark_host *host, const spark_job *job, const char *url,
                         spark_packet **out_blob);
    /* Begin a write; nothing is visible until commit. A writer not committed when the job
     * ends is aborted by the engine. [thread] the job's thread */
    spark_status (*write_begin)(const spark_host *host, const spark_job *job, const char *url,
                                const char *media_type, spark_storage_writer **out_writer);
    /* [thread] the job's thread */
    spark_status (*write)(spark_storage_writer *writer, const void *data, uint64_t size);
    /* Make the object visible and write the URL for clients into url_out. The writer is
     * gone afterwards. [thread] the job's thread */
    spark_status (*commit)(spark_storage_writer *writer, char *url_out, uint32_t url_cap);
    /* Discard; the writer is gone afterwards. [thread] the job's thread */
    void (*abort)(spark_storage_writer *writer);
} spark_ext_storage;

#ifdef __cplusplus
}
#endif

#endif
