/*
 * A small in-process stand-in for the engine, for the plugin self-checks: one host struct
 * with spark.ext.log/1, spark.ext.alloc/1 (text, audio and value packets, refcounted and
 * counted so leaks show) and spark.ext.progress/1 (per-job cancel flag), parameter objects
 * filled from a schema's defaults, and jobs that collect emitted packets and results.
 * Not the engine: no graph, no threads of its own; the test drives the calls.
 */
#ifndef SPARK_TEST_FAKE_HOST_H
#define SPARK_TEST_FAKE_HOST_H

#include <spark/plugin.h>

#include <stddef.h>

/* The host struct every plugin and instance of a test gets. */
const spark_host *fake_host(void);

/* The last message a plugin posted with spark.ext.log/1 error() on this thread ("" when
 * none), and a way to forget it. */
const char *fake_last_error(void);
void fake_clear_error(void);

/* Packets made by the fake alloc and not yet released. */
long fake_live_packets(void);
/* An audio packet made by the fake alloc, for feeding a node. */
spark_packet *fake_audio_packet(uint32_t channels, uint64_t frames, uint32_t rate);
spark_packet *fake_text_packet(const char *utf8);
void fake_release(const spark_packet *packet);

/* Parameters: every key of the schema with its default, overridden by fake_params_set. */
typedef struct fake_params fake_params;
fake_params *fake_params_new(const spark_param_desc *schema, uint32_t count);
/* Returns 0, or -1 when key is not in the schema. */
int fake_params_set(fake_params *params, const char *key, const char *text);
const spark_params *fake_params_api(fake_params *params);
void fake_params_free(fake_params *params);

/* A job as seen by one node: emitted packets are kept per output port, results by name. */
typedef struct fake_job fake_job;
fake_job *fake_job_new(const char *id, const spark_params *params, uint32_t port_count);
const spark_job *fake_job_api(fake_job *job);
size_t fake_job_output_count(const fake_job *job, uint32_t port);
const spark_packet *fake_job_output(const fake_job *job, uint32_t port, size_t index);
/* Text form of a posted result, or NULL when not posted. */
const char *fake_job_result(const fake_job *job, const char *name);
/* From now on check() and emit() return status (SPARK_E_CANCELLED or SPARK_E_TIMEOUT). */
void fake_job_stop(fake_job *job, spark_status status);
/* Releases the collected packets. */
void fake_job_free(fake_job *job);

#endif
