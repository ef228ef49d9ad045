/*
 * spark/plugin.h - the stable C ABI between sparkhost and its plugins.
 *
 * Rules of this header: C11 and C++17 clean, fixed-width integers only, enums are stored in
 * int32_t fields, every struct that may grow starts with struct_size, no third-party types.
 *
 * Annotations on every function pointer:
 *   [thread]  which thread may call it
 *   [state]   in which lifecycle state it may be called
 *   [owns]    who owns each pointer and for how long a borrowed one stays valid
 * See PLUGINS.md for the full guide.
 */
#ifndef SPARK_PLUGIN_H
#define SPARK_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Versioning                                                                              */
/* ---------------------------------------------------------------------------------------- */

/* A plugin loads iff its major equals the host's and its minor is not above the host's. */
#define SPARK_ABI_MAJOR 1u
#define SPARK_ABI_MINOR 1u
#define SPARK_ABI_PATCH 0u

/* The one symbol a plugin exports: a `const spark_entry`. */
#define SPARK_ENTRY_SYMBOL "spark_plugin_entry"

#if defined(__GNUC__) || defined(__clang__)
#define SPARK_EXPORT __attribute__((visibility("default")))
#else
#define SPARK_EXPORT
#endif

typedef struct spark_version {
    uint32_t major;
    uint32_t minor;
    uint32_t patch;
} spark_version;

#define SPARK_ABI_VERSION_INIT { SPARK_ABI_MAJOR, SPARK_ABI_MINOR, SPARK_ABI_PATCH }

/* ---------------------------------------------------------------------------------------- */
/* Status codes                                                                            */
/* ---------------------------------------------------------------------------------------- */

/* 0 is success, small positives are expected outcomes, negatives are failures. Before
 * returning a negative status a plugin posts a message (spark_ext_log.error). */
typedef int32_t spark_status;

enum {
    SPARK_OK = 0,
    SPARK_NEED_MORE = 1,        /* nothing to emit yet; feed more input */
    SPARK_END_OF_STREAM = 2,    /* from process: this node is done; close its outputs */

    SPARK_E_INVALID_ARGUMENT = -1,
    SPARK_E_UNSUPPORTED = -2,
    SPARK_E_FORMAT_MISMATCH = -3,
    SPARK_E_NOT_FOUND = -4,
    SPARK_E_IO = -5,
    SPARK_E_NO_MEMORY = -6,
    SPARK_E_INVALID_MODEL = -7,
    SPARK_E_DEVICE = -8,
    SPARK_E_CANCELLED = -9,
    SPARK_E_TIMEOUT = -10,
    SPARK_E_INTERNAL = -11
};

/* ---------------------------------------------------------------------------------------- */
/* Packets                                                                                 */
/* ---------------------------------------------------------------------------------------- */

/* Kinds of data that flow along links. Stored in int32_t fields. */
enum {
    SPARK_KIND_TEXT = 1,   /* UTF-8 text segment with its byte offset in the job's text */
    SPARK_KIND_TOKENS = 2, /* int32 token ids of a named vocabulary */
    SPARK_KIND_CODES = 3,  /* codec codes: semantic frames and global codes */
    SPARK_KIND_AUDIO = 4,  /* float32 planar audio */
    SPARK_KIND_TIMING = 5, /* segment and word timings */
    SPARK_KIND_BLOB = 6,   /* bytes with a media type and a suggested file name */
    SPARK_KIND_VALUE = 7   /* one named value */
};

/* Types of values (results, value packets). */
enum {
    SPARK_VALUE_STRING = 1,
    SPARK_VALUE_INTEGER = 2,
    SPARK_VALUE_NUMBER = 3,
    SPARK_VALUE_BOOLEAN = 4,
    SPARK_VALUE_JSON = 5 /* text holds a JSON document */
};

enum {
    SPARK_TIMING_SEGMENT = 0,
    SPARK_TIMING_WORD = 1
};

typedef struct spark_timing_item {
    int32_t level;       /* SPARK_TIMING_SEGMENT or SPARK_TIMING_WORD */
    int32_t reserved;
    double start;        /* seconds from the start of the job's audio */
    double end;          /* seconds */
    double score;        /* confidence 0..1, or -1 when unknown */
    int64_t text_offset; /* byte offset in the job's text, or -1 */
    const char *text;    /* UTF-8, NUL-terminated */
} spark_timing_item;

typedef struct spark_text_data {
    const char *utf8;    /* NUL-terminated; length bytes before the NUL */
    uint64_t length;
    int64_t offset;      /* byte offset of this segment in the job's text */
} spark_text_data;

typedef struct spark_tokens_data {
    int32_t *ids;
    uint64_t count;
    const char *vocabulary; /* e.g. "qwen2" */
} spark_tokens_data;

typedef struct spark_codes_data {
    int32_t *semantic;   /* [n_semantic] semantic codes, one per frame */
    uint64_t n_semantic;
    int32_t *global;     /* [n_global] global (speaker) codes */
    uint64_t n_global;
    const char *codec;   /* e.g. "bicodec" */
    double frame_rate;   /* semantic frames per second */
} spark_codes_data;

typedef struct spark_audio_data {
    float *const *planes; /* [channels][frames] */
    uint64_t frames;
    uint32_t channels;
    uint32_t rate;        /* Hz */
    int64_t timestamp;    /* first frame's position in the job's stream, in frames at rate */
} spark_audio_data;

typedef struct spark_timing_data {
    const spark_timing_item *items;
    uint64_t count;
} spark_timing_data;

typedef struct spark_blob_data {
    uint8_t *bytes;
    uint64_t size;
    const char *media_type; /* e.g. "audio/flac" */
    const char *file_name;  /* suggested, e.g. "speech.flac"; may be "" */
} spark_blob_data;

typedef struct spark_value_data {
    const char *name;
    int32_t type;          /* SPARK_VALUE_* */
    int32_t reserved;
    const char *text;      /* STRING, JSON; also the text form of the others */
    double number;         /* INTEGER, NUMBER, BOOLEAN (0 or 1) */
} spark_value_data;

/* A packet is immutable once emitted and refcounted by the engine. Packets are made by the
 * alloc extension (spark/ext/alloc.h); the plugin fills the payload, then emits it. */
typedef struct spark_packet {
    uint32_t struct_size;
    int32_t kind;          /* SPARK_KIND_* */
    int64_t seq;           /* position of this piece in its stream (e.g. sentence number) */
    void *host_data;       /* engine private */
    union {
        spark_text_data text;
        spark_tokens_data tokens;
        spark_codes_data codes;
        spark_audio_data audio;
        spark_timing_data timing;
        spark_blob_data blob;
        spark_value_data value;
        uint64_t reserved[12]; /* fixes the size of the union for later growth */
    } data;
    uint32_t flags;        /* SPARK_PACKET_* (ABI 1.1): use spark_packet_flags/_set_flags */
    uint32_t reserved;
} spark_packet;

/* Packet flags (ABI 1.1). */
enum {
    /* The last packet of its piece: no later packet on this link carries the same seq. Lets a
     * streaming node finish a piece (a sentence) at once instead of when the next one starts.
     * Producers that do not set it are still correct: a new seq or the end of the stream
     * ends a piece too. */
    SPARK_PACKET_PIECE_END = 1
};

/* The packet's flags; 0 from a host older than ABI 1.1, whose packets end before them. */
static inline uint32_t spark_packet_flags(const spark_packet *packet)
{
    return packet->struct_size >= offsetof(spark_packet, flags) + sizeof packet->flags
               ? packet->flags
               : 0;
}

/* Sets flags on a packet the plugin is filling (before emit); a no-op on an older host. */
static inline void spark_packet_set_flags(spark_packet *packet, uint32_t flags)
{
    if (packet->struct_size >= offsetof(spark_packet, flags) + sizeof packet->flags)
        packet->flags |= flags;
}

/* ---------------------------------------------------------------------------------------- */
/* Formats, ports, parameters, results                                                      */
/* ---------------------------------------------------------------------------------------- */

/* The format a port carries, agreed in negotiate. Zero fields mean "any" or "unknown". */
typedef struct spark_format {
    uint32_t struct_size;
    int32_t kind;          /* SPARK_KIND_* */
    uint32_t rate;         /* AUDIO: Hz */
    uint32_t channels;     /* AUDIO: channel count */
    double frame_rate;     /* CODES: frames per second */
    const char *name;      /* TOKENS: vocabulary; CODES: codec; BLOB: media type.
                              [owns] static or owned by the instance until destroy */
} spark_format;

enum {
    SPARK_PORT_IN = 1,
    SPARK_PORT_OUT = 2
};

/* Port flags. */
#define SPARK_PORT_OPTIONAL 0x1u /* an input that may be left unlinked */

/* Port index given to process() of a node without input ports, and to the host when a
 * port is not meaningful. */
#define SPARK_PORT_NONE 0xFFFFFFFFu

typedef struct spark_port_desc {
    const char *name;      /* [a-z][a-z0-9_]*, unique within the node */
    int32_t direction;     /* SPARK_PORT_IN or SPARK_PORT_OUT */
    int32_t kind;          /* SPARK_KIND_* */
    uint32_t flags;        /* SPARK_PORT_* */
    uint32_t rate;         /* AUDIO: required rate, 0 = any (may be refined in negotiate) */
    uint32_t channels;     /* AUDIO: required channels, 0 = any */
    uint32_t reserved;
    const char *doc;
} spark_port_desc;

/* Parameter types; the same names are used by the job schema in pipeline files. */
enum {
    SPARK_PARAM_STRING = 1,
    SPARK_PARAM_INTEGER = 2,
    SPARK_PARAM_NUMBER = 3,
    SPARK_PARAM_BOOLEAN = 4,
    SPARK_PARAM_ENUM = 5,    /* a string from choices */
    SPARK_PARAM_URL = 6      /* a string naming a storage URL or a path */
};

/* Parameter flags. */
#define SPARK_PARAM_REQUIRED 0x1u /* must be given; default_value is then NULL */
#define SPARK_PARAM_SECRET 0x2u   /* never logged or echoed in errors and results */
#define SPARK_PARAM_PER_JOB 0x4u  /* may be set per job (job_begin sees the job's value) */
#define SPARK_PARAM_HAS_MIN 0x8u  /* min is meaningful (INTEGER, NUMBER) */
#define SPARK_PARAM_HAS_MAX 0x10u /* max is meaningful (INTEGER, NUMBER) */

typedef struct spark_param_desc {
    const char *key;            /* [a-z][a-z0-9_]* */
    int32_t type;               /* SPARK_PARAM_* */
    uint32_t flags;             /* SPARK_PARAM_* flags */
    const char *default_value;  /* text form ("16000", "true", "wav"), NULL when none */
    double min;                 /* inclusive, with SPARK_PARAM_HAS_MIN */
    double max;                 /* inclusive, with SPARK_PARAM_HAS_MAX */
    uint32_t max_length;        /* STRING, URL: bytes, 0 = no limit */
    uint32_t reserved;
    const char *const *choices; /* ENUM: NULL-terminated list of allowed values */
    const char *doc;
} spark_param_desc;

/* A result a node may post for the job (see spark_job.post_result). */
typedef struct spark_result_desc {
    const char *name;           /* [a-z][a-z0-9_]* */
    int32_t type;               /* SPARK_VALUE_* */
    int32_t reserved;
    const char *doc;
} spark_result_desc;

/* Validated parameter values with defaults filled in. The getters accept only keys of the
 * node's schema; for a key that has no value they return NULL / 0 and `has` returns 0.
 * [thread] any  [owns] configure's params and their strings are borrowed until configure
 * returns; a job's params (spark_job.params) until job_end returns. Copy what you keep. */
typedef struct spark_params {
    uint32_t struct_size;
    uint32_t reserved;
    void *user;
    int32_t (*has)(void *user, const char *key);
    const char *(*get_string)(void *user, const char *key); /* STRING, ENUM, URL */
    int64_t (*get_integer)(void *user, const char *key);
    double (*get_number)(void *user, const char *key);      /* NUMBER, INTEGER */
    int32_t (*get_boolean)(void *user, const char *key);
} spark_params;

/* ---------------------------------------------------------------------------------------- */
/* The host                                                                                */
/* ---------------------------------------------------------------------------------------- */

/* Each plugin and each instance gets its own host struct, so the engine knows who calls.
 * [owns] borrowed from the engine; valid until deinit (plugin) or destroy (instance). */
typedef struct spark_host {
    uint32_t struct_size;
    spark_version abi;          /* the host's ABI version */
    const char *name;           /* "sparkhost" */
    const char *version;        /* host version string */
    void *host_data;            /* engine private */
    /* Look up a host service by id (SPARK_EXT_*). Returns NULL when the host lacks it.
     * [thread] any  [state] any  [owns] the returned table is static, valid for the
     * life of the host struct */
    const void *(*get_extension)(const struct spark_host *host, const char *ext_id);
} spark_host;

/* Bytes of `type` up to and including `member`: a table from an older host is usable for
 * `member` only when its struct_size reaches this far. */
#define SPARK_SIZE_THROUGH(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

/* The host service ext_id when the host has it and its table covers min_size bytes (use
 * SPARK_SIZE_THROUGH with the last member you call), else NULL.
 * [thread] any  [owns] as get_extension */
static inline const void *spark_host_service(const spark_host *host, const char *ext_id,
                                             size_t min_size)
{
    const void *table = host && host->get_extension ? host->get_extension(host, ext_id) : NULL;
    /* every service table starts with its uint32_t struct_size */
    return table && *(const uint32_t *)table >= min_size ? table : NULL;
}

/* One job as seen by one node. The engine makes one per node and job.
 * [owns] borrowed from the engine from job_begin until job_end returns. */
typedef struct spark_job {
    uint32_t struct_size;
    uint32_t reserved;
    const char *id;             /* the job id, for logs */
    const spark_params *params; /* this node's parameters with the job's per_job values */
    void *host_data;            /* engine private */
    /* Hand a packet to the engine on an output port (its index in the descriptor's ports);
     * the caller's reference transfers, also on failure. Returns SPARK_E_CANCELLED (or
     * SPARK_E_TIMEOUT, or another node's failure) when the job is stopping: stop work and
     * return that status. [thread] the job's thread, inside process  [state] processing */
    spark_status (*emit)(const struct spark_job *job, uint32_t port, const spark_packet *packet);
    /* Record a named result for the job (declared in the node's results). number holds
     * INTEGER, NUMBER and BOOLEAN values, text STRING and JSON ones; the engine copies text.
     * [thread] the job's thread, inside process or job_end */
    spark_status (*post_result)(const struct spark_job *job, const char *name, int32_t type,
                                const char *text, double number);
} spark_job;

/* ---------------------------------------------------------------------------------------- */
/* Nodes: factory "spark.factory.node/1"                                                   */
/* ---------------------------------------------------------------------------------------- */

#define SPARK_FACTORY_NODE "spark.factory.node/1"

/* Lifecycle: create -> configure -> negotiate -> activate -> { job_begin -> process* ->
 * job_end }* -> deactivate -> destroy. destroy is legal in every state and after any
 * failure. Optional entries may be NULL. */
typedef struct spark_node_ops {
    uint32_t struct_size;
    uint32_t reserved;

    /* Required. Allocate an instance; no weights, no network.
     * [thread] main  [state] none -> created
     * [owns] host and node_id are borrowed until destroy; *out_self is the plugin's */
    spark_status (*create)(const spark_host *host, const char *node_id, void **out_self);

    /* Optional. Read validated parameters (copy what you keep).
     * [thread] main  [state] created -> configured */
    spark_status (*configure)(void *self, const spark_params *params);

    /* Optional. formats[port_count], indexed like the descriptor's ports. Input entries
     * hold what upstream offers; the node may rewrite an input entry to what it requires
     * (the engine then converts audio or reports a mismatch) and fills its output entries.
     * NULL: each output takes the format of the first input of the same kind.
     * [thread] main  [state] configured */
    spark_status (*negotiate)(void *self, spark_format *formats, uint32_t port_count);

    /* Optional. The only place that loads weights or allocates device memory; may
     * report progress and poll cancellation with a NULL job. After a failure the engine
     * calls destroy only (no deactivate). [thread] main  [state] configured -> active */
    spark_status (*activate)(void *self);

    /* Optional. Create per-job state (*out_job_state, NULL allowed).
     * [thread] the job's thread; several jobs may be in flight at once (up to the
     * descriptor's max_concurrent_jobs)  [state] active */
    spark_status (*job_begin)(void *self, const spark_job *job, void **out_job_state);

    /* Required. One input packet on input port `port` (its index in the descriptor's
     * ports). packet == NULL means end of stream on that port (flush); every input port gets
     * it exactly once, an unlinked optional one too. A node without input ports is called
     * once with port == SPARK_PORT_NONE and packet == NULL and emits its whole output.
     * Return SPARK_END_OF_STREAM to close the outputs early.
     * [thread] the job's thread  [state] active, inside a job
     * [owns] packet is borrowed until return; retain it (alloc extension) to keep it */
    spark_status (*process)(void *self, void *job_state, const spark_job *job, uint32_t port,
                            const spark_packet *packet);

    /* Optional. Called once for every successful job_begin, with the job's outcome
     * (SPARK_OK, or the failure, SPARK_E_CANCELLED, SPARK_E_TIMEOUT). Commit staged side
     * effects only when outcome is SPARK_OK; free the job state in any case. A failure
     * returned here fails the job.  [thread] the job's thread  [state] active */
    spark_status (*job_end)(void *self, void *job_state, const spark_job *job,
                            spark_status outcome);

    /* Optional. Release weights; no job is in flight.
     * [thread] main  [state] active -> configured */
    void (*deactivate)(void *self);

    /* Required. Free everything. [thread] main  [state] any */
    void (*destroy)(void *self);
} spark_node_ops;

typedef struct spark_node_desc {
    uint32_t struct_size;
    uint32_t max_concurrent_jobs;    /* jobs in flight on one instance, 0 = no limit */
    const char *id;                  /* reverse-DNS, e.g. "org.sparkhost.audio.encode" */
    const char *name;                /* short human name */
    const char *version;             /* "1.2.0" */
    const char *description;
    const char *const *features;     /* NULL-terminated, e.g. "streaming"; may be NULL */
    uint32_t port_count;
    uint32_t param_count;
    const spark_port_desc *ports;
    const spark_param_desc *params;
    uint32_t result_count;
    uint32_t reserved;
    const spark_result_desc *results;
    const spark_node_ops *ops;
} spark_node_desc;

typedef struct spark_node_factory {
    uint32_t struct_size;
    uint32_t node_count;
    const spark_node_desc *const *nodes; /* [node_count], static */
} spark_node_factory;

/* ---------------------------------------------------------------------------------------- */
/* Storage backends: factory "spark.factory.storage/1"                                     */
/* ---------------------------------------------------------------------------------------- */

#define SPARK_FACTORY_STORAGE "spark.factory.storage/1"

/* A storage backend serves URLs of its schemes. Writes are transactions: nothing is visible
 * at the URL until commit; abort leaves nothing behind. */
typedef struct spark_storage_ops {
    uint32_t struct_size;
    uint32_t reserved;

    /* Required. [thread] main  [state] none -> created  [owns] as for nodes */
    spark_status (*create)(const spark_host *host, const char *backend_id, void **out_self);
    /* Optional. [thread] main  [state] created -> configured */
    spark_status (*configure)(void *self, const spark_params *params);
    /* Optional. Open connections, check the root exists. [thread] main */
    spark_status (*activate)(void *self);

    /* Required. Read a whole object into a blob packet made with the alloc extension.
     * [thread] any job thread, concurrently  [state] active
     * [owns] url borrowed for the call; *out_blob owned by the caller */
    spark_status (*read)(void *self, const spark_job *job, const char *url,
                         spark_packet **out_blob);

    /* Required. Start a write transaction. [thread] any job thread  [state] active
     * [owns] *out_writer is the backend's until commit or abort */
    spark_status (*write_begin)(void *self, const spark_job *job, const char *url,
                                const char *media_type, void **out_writer);
    /* Required. Append bytes. [thread] the thread that began the write */
    spark_status (*write)(void *self, void *writer, const void *data, uint64_t size);
    /* Required. Make the object visible; writes the URL clients should use (for example a
     * presigned one) into url_out, NUL-terminated. The writer is gone afterwards, whatever
     * the outcome. [thread] the thread that began the write */
    spark_status (*write_commit)(void *self, void *writer, char *url_out, uint32_t url_cap);
    /* Required. Discard the write; nothing stays behind. The writer is gone afterwards.
     * [thread] the thread that began the write */
    void (*write_abort)(void *self, void *writer);

    /* Optional. [thread] main  [state] active -> configured */
    void (*deactivate)(void *self);
    /* Required. [thread] main  [state] any */
    void (*destroy)(void *self);
} spark_storage_ops;

typedef struct spark_storage_desc {
    uint32_t struct_size;
    uint32_t param_count;
    const char *id;                  /* reverse-DNS, e.g. "org.sparkhost.storage.local" */
    const char *name;
    const char *version;
    const char *description;
    const char *const *schemes;      /* NULL-terminated: "file", "s3", "https"; "" = paths */
    const spark_param_desc *params;
    const spark_storage_ops *ops;
} spark_storage_desc;

typedef struct spark_storage_factory {
    uint32_t struct_size;
    uint32_t backend_count;
    const spark_storage_desc *const *backends; /* [backend_count], static */
} spark_storage_factory;

/* ---------------------------------------------------------------------------------------- */
/* The entry                                                                               */
/* ---------------------------------------------------------------------------------------- */

typedef struct spark_entry {
    uint32_t struct_size;
    uint32_t reserved;
    spark_version abi;          /* SPARK_ABI_VERSION_INIT: what the plugin was built against */
    uint32_t reserved2;
    const char *name;           /* the plugin's name, e.g. "audio-io" */
    const char *version;        /* the plugin's version */
    /* Optional. Cheap: no model loading, no network. [thread] main, once
     * [owns] host borrowed until deinit returns */
    spark_status (*init)(const spark_host *host);
    /* Optional. [thread] main, once, after every instance is destroyed */
    void (*deinit)(void);
    /* Required. The factory for an id (SPARK_FACTORY_*), or NULL.
     * [thread] main  [owns] static */
    const void *(*get_factory)(const char *factory_id);
} spark_entry;

/* Declare the entry in exactly one source file of a plugin:
 *   SPARK_PLUGIN_ENTRY = { sizeof(spark_entry), 0, SPARK_ABI_VERSION_INIT, 0, ... };
 */
#ifdef __cplusplus
#define SPARK_PLUGIN_ENTRY extern "C" SPARK_EXPORT const spark_entry spark_plugin_entry
#else
#define SPARK_PLUGIN_ENTRY SPARK_EXPORT const spark_entry spark_plugin_entry
#endif

#ifdef __cplusplus
}
#endif

#endif /* SPARK_PLUGIN_H */
