/*
 * fake_host.h - a stand-in for the engine, for tests that dlopen a plugin and call its node
 * or storage ops themselves. It offers:
 *
 *   - loading a DSO the way the engine does (dlopen with local scope, the entry symbol) and
 *     looking at what it exports;
 *   - one host with spark.ext.log/1 (records the last error and log line), spark.ext.alloc/1
 *     (every packet kind, counted so that leaks show) and spark.ext.progress/1 (per-job stop,
 *     deadlines, cancel-all);
 *   - parameters built from "key", "value" text, typed by the schema, defaults filled in;
 *   - nodes driven through create/configure/negotiate/activate ... deactivate/destroy, and
 *     jobs whose emit collects packets per output port and whose post_result records results.
 *
 * No graph and no threads of its own: the test makes every call. Like the engine it refuses
 * an emit on a port that is not an output of the packet's kind and a result the node did not
 * declare, posting the reason as an error. Unlike the engine it does not check parameter
 * ranges or lengths, so tests can reach a plugin's own checks.
 *
 * Job, packet and log functions may be called from several job threads at once. Mistakes in
 * the test's own set-up (an unknown parameter, a bad value) are said on stderr and show as
 * SPARK_E_INTERNAL, a status no plugin refusal is expected to produce.
 */
#ifndef SPARK_TEST_FAKE_HOST_H
#define SPARK_TEST_FAKE_HOST_H

#include <spark/plugin.h>

#include <stddef.h>
#include <stdint.h>

/* ---- plugins ------------------------------------------------------------------------ */

typedef struct fake_plugin {
    void *handle;
    const spark_entry *entry;
    const spark_node_factory *nodes; /* NULL when the plugin has no node factory */
} fake_plugin;

/* dlopen path (RTLD_NOW | RTLD_LOCAL, as the engine does) and find its entry; calls the
 * entry's init with fake_host() when the plugin's ABI major is the host's. Says why on
 * stderr and returns -1 when any of that fails. */
int fake_plugin_load(fake_plugin *plugin, const char *path);
/* deinit (when init ran) and dlclose. */
void fake_plugin_unload(fake_plugin *plugin);
/* The node descriptor with this id, or NULL. */
const spark_node_desc *fake_plugin_node(const fake_plugin *plugin, const char *id);
/* 1 when dlsym finds symbol in the plugin: only the entry should be found. */
int fake_plugin_exports(const fake_plugin *plugin, const char *symbol);

/* What `nm -D --defined-only` lists for a DSO. Every export other than the entry is
 * printed to stderr. */
typedef struct fake_export_list {
    int nm_started;   /* nm could be run */
    int nm_status;    /* nm's exit status: 0 when it read the file */
    int has_entry;    /* spark_plugin_entry is exported */
    int other_count;  /* exports besides the entry */
} fake_export_list;

fake_export_list fake_plugin_list_exports(const char *path);

/* ---- the host ----------------------------------------------------------------------- */

/* The host with log, alloc and progress, for every plugin and instance of a test. */
const spark_host *fake_host(void);
/* A host with spark.ext.log/1 only, to see a node refuse a host that lacks a service. */
const spark_host *fake_host_log_only(void);

/* What plugins posted on the calling thread (the engine's rule too: the last message
 * posted on a thread before a failure wins). "" when nothing since fake_log_clear. */
const char *fake_last_error(void);
int fake_error_count(void);
const char *fake_last_log(void);
void fake_log_clear(void);

/* From now on progress check() answers SPARK_E_CANCELLED for every job, and for activate
 * (job NULL), until called again with 0. emit is not affected, so a test sees whether a
 * node polls check(). */
void fake_cancel_all(int cancelled);

/* ---- packets ------------------------------------------------------------------------ */

/* Packets made by the fake alloc and not yet released, by plugins and tests alike. */
long fake_live_packets(void);

/* Packets for feeding a node, made as a plugin makes them (zero-filled, reference count
 * one, owned by the caller). NULL when out of memory. */
spark_packet *fake_audio_packet(uint32_t channels, uint64_t frames, uint32_t rate);
spark_packet *fake_text_packet(const char *utf8, uint64_t length, int64_t offset);
/* A blob holding a copy of bytes[size]. */
spark_packet *fake_blob_packet(const void *bytes, uint64_t size, const char *media_type,
                               const char *file_name);
/* Drop a reference; NULL is ignored. */
void fake_release(const spark_packet *packet);

/* ---- parameters --------------------------------------------------------------------- */

/* settings: NULL-terminated "key", "value" pairs, or NULL for none. */
typedef struct fake_params fake_params;

/* Every key of schema[count] with its default, then settings on top. Each value must parse
 * as its key's type (integer, number, boolean, one of an enum's choices). NULL, with the
 * reason on stderr, when a key is unknown, a value does not parse, or out of memory. */
fake_params *fake_params_new(const spark_param_desc *schema, uint32_t count,
                             const char *const *settings);
const spark_params *fake_params_api(const fake_params *params);
void fake_params_free(fake_params *params);

/* ---- nodes -------------------------------------------------------------------------- */

enum { FAKE_MAX_PORTS = 8 };

typedef struct fake_node {
    const spark_node_desc *desc;
    void *self;                          /* the plugin's instance; NULL until created */
    fake_params *params;                 /* node-level values; every job starts from them */
    spark_format formats[FAKE_MAX_PORTS]; /* after negotiate, indexed like desc->ports */
    int active;                          /* activate succeeded */
} fake_node;

/* create (with fake_host() and the descriptor's id as node id), configure with settings,
 * negotiate, activate. Each input port is offered its kind, and when input_offer (may be
 * NULL) has that kind, input_offer's rate, channels, frame rate and name; outputs start
 * zeroed, and without a negotiate they take the format of the first input of their kind.
 * Returns the first failure (SPARK_E_NOT_FOUND for a NULL desc); fake_node_close is due
 * in every case. */
spark_status fake_node_open(fake_node *node, const spark_node_desc *desc,
                            const char *const *settings, const spark_format *input_offer);
/* deactivate when active, destroy when created. */
void fake_node_close(fake_node *node);

/* ---- jobs --------------------------------------------------------------------------- */

typedef struct fake_job fake_job;

typedef struct fake_result {
    int32_t type;     /* SPARK_VALUE_* */
    const char *text; /* as posted; "" when NULL was posted */
    double number;
} fake_result;

/* A job on an active node: the node's values with settings on top, then job_begin when the
 * node has one. Returns job_begin's status. *out_job is the job whenever it could be made
 * (also when job_begin failed): free it with fake_job_free. */
spark_status fake_job_begin(fake_node *node, const char *id, const char *const *settings,
                            fake_job **out_job);
/* process on the node for this job; SPARK_E_INTERNAL when the job has not begun. */
spark_status fake_job_process(fake_job *job, uint32_t port, const spark_packet *packet);
/* job_end with outcome, once for a begun job; SPARK_OK when there is nothing to end. */
spark_status fake_job_end(fake_job *job, spark_status outcome);
/* Releases what the job collected. A job still begun is ended first with
 * SPARK_E_CANCELLED, as the engine ends a job it drops. NULL is ignored. */
void fake_job_free(fake_job *job);

/* The packets emitted on an output port, in order (the job keeps the references). */
size_t fake_job_output_count(const fake_job *job, uint32_t port);
const spark_packet *fake_job_output(const fake_job *job, uint32_t port, size_t index);

/* The value last posted for a result name, or NULL when none was. */
const fake_result *fake_job_result(const fake_job *job, const char *name);
const char *fake_job_result_text(const fake_job *job, const char *name);

/* From now on check() and emit() answer status (SPARK_E_CANCELLED, SPARK_E_TIMEOUT):
 * the job is stopping. May be called from another thread. */
void fake_job_stop(fake_job *job, spark_status status);
/* emit accepts packets until the job holds count of them on all ports together, then
 * answers SPARK_E_CANCELLED; check() is not affected, so a test sees the node handle
 * emit's refusal. */
void fake_job_cancel_after_emits(fake_job *job, size_t count);
/* check() answers SPARK_E_TIMEOUT from ms_from_now milliseconds on (0: at once). emit is
 * not affected, so a test sees whether a node polls check(). */
void fake_job_set_deadline_ms(fake_job *job, int64_t ms_from_now);

#endif
