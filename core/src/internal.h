/* Engine internals shared by the files of core/src. Not installed. */
#ifndef SPARK_CORE_INTERNAL_H
#define SPARK_CORE_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <spark/engine.h>
#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>
#include <spark/ext/storage.h>
#include <spark/plugin.h>

#define SP_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/* ---- text utilities (util.c) ---------------------------------------------------------- */

typedef struct sp_buf {
    char *data;
    size_t len;
    size_t cap;
} sp_buf;

char *sp_strdup(const char *s);
char *sp_strndup(const char *s, size_t n);
char *sp_printf(const char *fmt, ...) SP_PRINTF(1, 2);
char *sp_vprintf(const char *fmt, va_list ap);
void sp_buf_append(sp_buf *buf, const char *s);
void sp_buf_printf(sp_buf *buf, const char *fmt, ...) SP_PRINTF(2, 3);
void sp_buf_free(sp_buf *buf);
/* The candidate closest to word (edit distance), or NULL if none is close enough. */
const char *sp_suggest(const char *word, const char *const *candidates, size_t count);
/* Reads a whole file; NULL with errno set on failure. */
char *sp_read_file(const char *path, size_t *out_size);
bool sp_is_identifier(const char *s); /* [a-z0-9_]+, starting with a letter */
uint64_t sp_monotonic_ns(void);
/* Grows *array to hold at least need elements of size elem; false when out of memory. */
bool sp_grow(void **array, size_t *cap, size_t need, size_t elem);

/* ---- errors (error.c) ----------------------------------------------------------------- */

spark_error *sp_error_new(spark_error_class cls, spark_status status, const char *fmt, ...)
    SP_PRINTF(3, 4);
/* Stores err in *out when out is non-NULL, else frees it. Returns -1 for convenience. */
int sp_error_set(spark_error **out, spark_error *err);
/* Shorthand for sp_error_set(out, sp_error_new(...)). */
int sp_fail(spark_error **out, spark_error_class cls, const char *fmt, ...) SP_PRINTF(3, 4);

/* Error posted by a plugin through spark.ext.log/1, kept per thread until taken. */
void sp_posted_error_set(const char *message);
void sp_posted_error_clear(void);
/* The posted message (caller frees), or a description of the status when none. */
char *sp_posted_error_take(spark_status status);
const char *sp_status_name(spark_status status);

/* ---- logging (log.c) ------------------------------------------------------------------ */

typedef struct sp_logger {
    spark_log_fn fn;
    void *user;
    int level;
} sp_logger;

void sp_log(const sp_logger *logger, int level, const char *fmt, ...) SP_PRINTF(3, 4);

/* ---- plugins and the registry (loader.c, registry.c, validate.c, builtin.c) ------------ */

typedef struct sp_plugin {
    char *file;                       /* path of the DSO, or "(built in)" */
    void *handle;                     /* lt_dlhandle, NULL for the built-in plugin */
    const spark_entry *entry;
    struct sp_host_ctx *host_ctx;     /* host struct given to init */
    bool initialized;
} sp_plugin;

typedef struct sp_registry_entry {
    spark_plugin_info info;
    sp_plugin *plugin;
} sp_registry_entry;

typedef struct sp_registry {
    sp_plugin **plugins;
    size_t plugin_count, plugin_cap;
    sp_registry_entry *entries;
    size_t entry_count, entry_cap;
    char **dirs;                      /* directories already scanned */
    size_t dir_count, dir_cap;
    char **file_names;                /* base names already loaded: first match wins */
    size_t file_name_count, file_name_cap;
    sp_buf problems;
    /* ids refused for a conflict, with the message naming both files */
    struct sp_conflict { char *id; char *message; } *conflicts;
    size_t conflict_count, conflict_cap;
} sp_registry;

struct spark_engine {
    sp_logger logger;
    sp_registry registry;
    pthread_mutex_t lock; /* guards registry growth after start-up */
    atomic_bool shutting_down;
};

/* loader.c: the only file that includes ltdl.h */
int sp_loader_init(void);
void sp_loader_exit(void);
/* Calls visit(path) for every plugin file (*.so) in dir, sorted by name. */
int sp_loader_scan_dir(const char *dir, void (*visit)(void *user, const char *path),
                       void *user);
/* Opens a DSO with local symbol scope and looks up the entry symbol. */
int sp_loader_open(const char *path, void **out_handle, const spark_entry **out_entry,
                   char **out_error);
void sp_loader_close(void *handle);
/* Directory of the running executable, or NULL. */
char *sp_loader_exe_dir(void);

/* validate.c: structural checks; on failure returns a malloc'd reason */
char *sp_validate_entry(const spark_entry *entry);
char *sp_validate_node_desc(const spark_node_desc *desc);
char *sp_validate_storage_desc(const spark_storage_desc *desc);
char *sp_validate_param_schema(const spark_param_desc *params, uint32_t count);

/* registry.c */
void sp_registry_add_dir(spark_engine *engine, const char *dir);
void sp_registry_add_plugin(spark_engine *engine, const char *file, void *handle,
                            const spark_entry *entry);
const sp_registry_entry *sp_registry_find(const sp_registry *reg, const char *id);
/* The message naming both files if id was refused for a duplicate, else NULL. */
const char *sp_registry_conflict(const sp_registry *reg, const char *id);
void sp_registry_free(sp_registry *reg);

/* builtin.c */
extern const spark_entry sp_builtin_entry;
extern const spark_node_desc sp_builtin_join_desc;
extern const spark_node_desc sp_builtin_fetch_desc;
extern const spark_node_desc sp_builtin_store_desc;

/* ---- YAML tree (config_yaml.c) -------------------------------------------------------- */

typedef enum sp_ynode_type { SP_Y_SCALAR, SP_Y_MAP, SP_Y_SEQ } sp_ynode_type;

typedef struct sp_ynode {
    sp_ynode_type type;
    int line;
    char *scalar;                 /* SP_Y_SCALAR */
    bool quoted;                  /* the scalar was quoted in the file */
    struct sp_ynode **items;      /* SP_Y_SEQ: items; SP_Y_MAP: values */
    char **keys;                  /* SP_Y_MAP */
    int *key_lines;               /* SP_Y_MAP */
    size_t count, cap;
} sp_ynode;

/* Parses YAML text into a tree; on error *error_message is "line N: what". */
sp_ynode *sp_yaml_parse(const char *text, size_t size, char **error_message);
void sp_ynode_free(sp_ynode *node);
const sp_ynode *sp_ynode_get(const sp_ynode *map, const char *key);
int sp_ynode_key_line(const sp_ynode *map, const char *key);

/* ---- values and parameters (params.c) ------------------------------------------------- */

typedef struct sp_value {
    bool set;
    int32_t type;  /* SPARK_PARAM_* */
    char *text;    /* canonical text form */
    int64_t integer;
    double number;
    bool boolean;
} sp_value;

void sp_value_clear(sp_value *v);
int sp_value_copy(sp_value *dst, const sp_value *src);
/* Parses text as a value of desc's type and checks its limits. Returns NULL or a reason
 * ("expects an integer, got 'x'", "must be at most 10"). */
char *sp_value_parse(sp_value *out, const spark_param_desc *desc, const char *text);

/* A node's (or backend's) parameter values, parallel to the schema. */
typedef struct sp_param_set {
    const spark_param_desc *schema;
    uint32_t count;
    sp_value *values;
    spark_params api;
} sp_param_set;

int sp_param_set_init(sp_param_set *set, const spark_param_desc *schema, uint32_t count);
int sp_param_set_copy(sp_param_set *dst, const sp_param_set *src);
void sp_param_set_free(sp_param_set *set);
int sp_param_index(const spark_param_desc *schema, uint32_t count, const char *key);
const char *sp_param_type_name(int32_t type);
/* "${env:NAME}" anywhere in text is replaced by the environment's value. */
char *sp_expand_env(const char *text, char **error_message);

/* ---- pipeline description (pipeline_parse.c, graph_check.c) --------------------------- */

typedef struct sp_kv {
    char *key;
    char *value;
    int line;
    bool secret_source; /* came from ${env:...} */
} sp_kv;

typedef struct sp_input_target {
    size_t node;       /* index into nodes */
    int port;          /* input port index, or -1 */
    int param;         /* parameter index, or -1 */
    char *node_name, *member; /* as written */
} sp_input_target;

typedef struct sp_input {
    char *name;
    int line;
    int32_t type;      /* SPARK_PARAM_* */
    spark_param_desc schema; /* type, limits, default in the form params.c understands */
    char *default_text;
    char **choices;    /* NULL-terminated */
    char *doc;
    char **aliases;    /* other request names accepted for this input */
    size_t alias_count;
    char **map_from;   /* request values (canonical text) that reach the targets as */
    char **map_to;     /* these; "" leaves the input unset (the targets keep theirs) */
    size_t map_count;
    sp_input_target *targets;
    size_t target_count;
} sp_input;

typedef struct sp_output {
    char *name;
    int line;
    size_t node;
    char *result;
    char *node_name;
} sp_output;

typedef struct sp_raw_link {
    char *from, *to; /* "node.port" as written */
    int line;
} sp_raw_link;

typedef struct sp_link {
    size_t from_node, to_node;
    uint32_t from_port, to_port;
    int line;
} sp_link;

typedef struct sp_semaphore {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint32_t available;
    bool limited;
} sp_semaphore;

typedef struct sp_host_ctx {
    spark_host host;
    spark_engine *engine;
    struct spark_pipeline *pipeline; /* NULL for a plugin's init host */
    const char *node_id;             /* NULL for a plugin's init host */
    const char *plugin_id;
} sp_host_ctx;

typedef enum sp_node_state {
    SP_NODE_NONE, SP_NODE_CREATED, SP_NODE_CONFIGURED, SP_NODE_ACTIVE
} sp_node_state;

typedef struct sp_node {
    char *id;
    char *plugin_id;
    int line;
    int plugin_line;             /* line of the plugin key's value */
    sp_kv *raw_params;
    size_t raw_param_count;
    bool auto_inserted;
    bool link_failed;            /* a link into this node was refused: skip "unlinked" */          /* a converter the engine inserted */
    const sp_registry_entry *entry;
    const spark_node_desc *desc;
    sp_param_set params;
    sp_host_ctx host;
    void *self;
    sp_node_state state;
    spark_format *formats;       /* [desc->port_count] after negotiation */
    sp_semaphore slots;
} sp_node;

typedef struct sp_storage {
    char *id;
    char *plugin_id;
    int line;
    sp_kv *raw_params;
    size_t raw_param_count;
    const sp_registry_entry *entry;
    const spark_storage_desc *desc;
    sp_param_set params;
    sp_host_ctx host;
    void *self;
    sp_node_state state;
} sp_storage;

typedef struct sp_job_queue sp_job_queue;

struct spark_pipeline {
    spark_engine *engine;
    char *path;
    char *dir;                   /* directory of the file, for relative plugin_path */
    int version;
    bool strict_formats;
    double job_timeout;
    sp_node **nodes;
    size_t node_count, node_cap;
    sp_link *links;
    size_t link_count, link_cap;
    sp_raw_link *raw_links;
    size_t raw_link_count;
    bool links_given;            /* false: nodes are chained in list order */
    char **plugin_paths;
    size_t plugin_path_count;
    sp_input *inputs;
    size_t input_count;
    sp_output *outputs;
    size_t output_count;
    sp_storage *storages;
    size_t storage_count;
    size_t *order;               /* topological order of nodes */
    unsigned job_threads;
    bool activated;
    sp_job_queue *queue;         /* job threads, after activation */
    atomic_uint_fast64_t job_counter;
};

/* pipeline_parse.c: file -> description (no registry needed); appends to diag */
spark_pipeline *sp_pipeline_parse(spark_engine *engine, const char *path, sp_buf *diag);
void sp_pipeline_free_description(spark_pipeline *p);
/* Appends "path:line: message\n" to diag. */
void sp_diag(const spark_pipeline *p, sp_buf *diag, int line, const char *fmt, ...) SP_PRINTF(4, 5);
/* graph_check.c: description x registry; appends "file:line: ..." lines to diag */
void sp_graph_check(spark_pipeline *p, sp_buf *diag);
/* Topological order into p->order; false (and diag) on a cycle. */
bool sp_graph_sort(spark_pipeline *p, sp_buf *diag);
/* Adds a node to the pipeline (used for converters); returns its index or -1. */
int sp_pipeline_add_node(spark_pipeline *p, sp_node *node);
int sp_pipeline_add_link(spark_pipeline *p, sp_link link);

/* graph.c */
/* create + configure one node */
int sp_node_instantiate(spark_pipeline *p, sp_node *node, spark_error **error);
int sp_graph_activate(spark_pipeline *p, spark_error **error);
void sp_graph_teardown(spark_pipeline *p);
/* negotiate.c */
int sp_graph_negotiate(spark_pipeline *p, spark_error **error);

/* semaphore.c */
void sp_semaphore_init(sp_semaphore *s, uint32_t count);
void sp_semaphore_destroy(sp_semaphore *s);
void sp_semaphore_acquire(sp_semaphore *s);
void sp_semaphore_release(sp_semaphore *s);

/* ---- host services (host.c, packet.c, storage.c) -------------------------------------- */

void sp_host_ctx_init(sp_host_ctx *ctx, spark_engine *engine, spark_pipeline *pipeline,
                      const char *node_id, const char *plugin_id);
extern const spark_ext_alloc sp_ext_alloc;
extern const spark_ext_storage sp_ext_storage;

/* The storage backend for a URL, by scheme; NULL and *reason when none. */
sp_storage *sp_storage_route(spark_pipeline *p, const char *url, char **reason);
int sp_storage_activate(spark_pipeline *p, spark_error **error);
void sp_storage_teardown(spark_pipeline *p);

/* ---- jobs (request.c, schedule.c, jobs.c) --------------------------------------------- */

struct sp_job;
typedef struct sp_job sp_job;

/* One node's view of a job. */
typedef struct sp_node_job {
    spark_job api;
    sp_job *job;
    size_t node;
    sp_param_set params;         /* node params with the job's overrides */
    void *state;                 /* from job_begin */
    bool begun;
    bool slot_held;
    bool closed;                 /* outputs are at end of stream */
    uint64_t busy_ns;            /* time spent in the node's calls */
} sp_node_job;

typedef struct sp_port_queue {
    const spark_packet **items;
    size_t head, count, cap;
    bool eos;                    /* no more packets will arrive */
    bool eos_delivered;
} sp_port_queue;

struct sp_job {
    spark_pipeline *pipeline;
    char *id;
    sp_value *inputs;            /* [pipeline->input_count], validated request */
    sp_node_job *nodes;          /* [node_count] */
    sp_port_queue **queues;      /* [node_count][port_count] (inputs only used) */
    atomic_bool cancel;
    atomic_bool failed;          /* error is set: lets other threads poll it safely */
    uint64_t deadline_ns;        /* 0: none */
    double timeout_seconds;
    uint64_t nested_ns;          /* time of calls nested in the current one (emit pumps) */
    spark_progress_fn progress;
    void *progress_user;
    spark_chunk_fn on_chunk;
    void *chunk_user;
    uint64_t first_chunk_ns;     /* when a streaming store got its first piece; 0: none */
    size_t nodes_closed;
    spark_error *error;          /* first failure */
    /* results posted by nodes: node index, name, JSON text */
    struct sp_result { size_t node; char *name; int32_t type; char *text; double number; } *results;
    size_t result_count, result_cap;
    spark_storage_writer *writers; /* storage writes not yet committed or aborted */
    pthread_mutex_t lock;        /* guards results and writers */
    uint64_t started_ns;
};

/* request.c */
int sp_request_validate(spark_pipeline *p, const char *json, sp_value *out_values,
                        spark_error **error);
/* schedule.c: runs the job on the calling thread; returns 0 or -1 with job->error */
int sp_schedule_run(sp_job *job);
/* The job's result as JSON text. */
char *sp_job_result_json(sp_job *job);
spark_status sp_job_check(sp_job *job);
void sp_job_fail(sp_job *job, spark_error *err);
void sp_storage_abort_writers(sp_job *job);
/* A streaming store node's piece: noted for timings.first_chunk, then handed to the host's
 * on_chunk (if any). A refusal by the host fails with SPARK_E_IO and a posted message. */
spark_status sp_job_deliver_chunk(const spark_job *api, const spark_chunk *chunk);
/* Whether the job's host takes streamed pieces (on_chunk set). */
bool sp_job_takes_chunks(const spark_job *api);

/* jobs.c */
int sp_job_queue_start(spark_pipeline *p);
void sp_job_queue_stop(spark_pipeline *p);

#endif
