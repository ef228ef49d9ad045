/* Glue shared by the three nodes: the host services an instance keeps, error posting,
 * status mapping and making audio packets. */
#ifndef AUDIO_IO_NODE_SUPPORT_H
#define AUDIO_IO_NODE_SUPPORT_H

#include <stdint.h>

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>
#include <spark/plugin.h>

#include "audio_status.h"
#include "planar_buffer.h"

/* Port indices: positions in every node's ports array (see plugin.c). */
enum { AUDIO_IO_PORT_IN = 0, AUDIO_IO_PORT_OUT = 1, AUDIO_IO_PORT_COUNT = 2 };

/* Room for one error message; libsndfile's and libsamplerate's reasons are short. */
#define NODE_MESSAGE_CAPACITY 512

typedef struct node_services {
    const spark_host *host;               /* borrowed until destroy */
    const spark_ext_alloc *alloc;         /* required */
    const spark_ext_log *log;             /* required */
    const spark_ext_progress *progress;   /* optional */
} node_services;

/* Allocate a zeroed instance of instance_size bytes whose first member is a node_services,
 * and fill that in from host. Fails with SPARK_E_UNSUPPORTED when the host lacks the alloc
 * or log service. */
spark_status node_instance_create(const spark_host *host, size_t instance_size,
                                  void **out_instance);

/* Post an error message for the failure about to be returned. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
void node_post_error(const node_services *services, const char *format, ...);

/* The spark_status for a failed audio library call. */
spark_status node_status_from_audio(audio_status status);

/* SPARK_OK, or the cancellation/timeout status to return (no message needed). */
spark_status node_check_progress(const node_services *services, const spark_job *job);

/* The string value of a parameter, or fallback when the params have none. */
const char *node_param_string(const spark_params *params, const char *key, const char *fallback);

/* The numeric value of a parameter, or fallback when the params have none. */
double node_param_number(const spark_params *params, const char *key, double fallback);
int64_t node_param_integer(const spark_params *params, const char *key, int64_t fallback);

/* Where the next packet of an output audio stream goes: seq counts packets, timestamp counts
 * frames at the stream's rate. */
typedef struct audio_stream_position {
    int64_t next_seq;
    int64_t next_timestamp;
} audio_stream_position;

/* Copy buffer's frames into a new audio packet stamped with position, emit it on port, then
 * advance position and clear buffer. A failing emit's status is returned as is: the engine
 * knows why it refused (cancellation), so no message is posted for it. */
spark_status node_emit_audio(const node_services *services, const spark_job *job, uint32_t port,
                             planar_buffer *buffer, uint32_t rate,
                             audio_stream_position *position);

/* Check the negotiate call's formats array against the node's two ports. */
spark_status node_check_formats(const node_services *services, const spark_format *formats,
                                uint32_t port_count);

#endif
