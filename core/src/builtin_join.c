/* Built-in node "org.sparkhost.core.join": concatenates audio pieces in order with a gap of
 * silence between them and short fades at each join, so joins do not click. A piece is a run
 * of packets with the same seq (a sentence the vocoder sends in chunks): packets inside a
 * piece are passed on as they are. It streams: a packet is sent as soon as the next one
 * arrives (or the stream ends). */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct join_node {
    const spark_host *host;
    const spark_ext_alloc *alloc;
    const spark_ext_log *log;
} join_node;

typedef struct join_job {
    const spark_packet *held; /* the last piece, waiting to learn whether another follows */
    bool held_follows_join;   /* it came after a join: fade it in */
    int64_t timestamp;        /* frames already sent */
    int64_t seq;              /* pieces sent: the seq of the output packets */
    double gap_seconds;
    double fade_ms;
} join_job;

enum { JOIN_IN, JOIN_OUT };

static spark_status join_create(const spark_host *host, const char *node_id, void **out)
{
    (void)node_id;
    join_node *self = calloc(1, sizeof *self);
    if (!self)
        return SPARK_E_NO_MEMORY;
    self->host = host;
    self->alloc = host->get_extension(host, SPARK_EXT_ALLOC);
    self->log = host->get_extension(host, SPARK_EXT_LOG);
    *out = self;
    return SPARK_OK;
}

static spark_status join_job_begin(void *self, const spark_job *job, void **out_state)
{
    (void)self;
    join_job *state = calloc(1, sizeof *state);
    if (!state)
        return SPARK_E_NO_MEMORY;
    state->gap_seconds = job->params->get_number(job->params->user, "gap");
    state->fade_ms = job->params->get_number(job->params->user, "fade_ms");
    *out_state = state;
    return SPARK_OK;
}

/* Sends the held packet: faded as its neighbours need, followed by the gap when another
 * piece comes after it. another_follows: the next packet starts a new piece; piece_ends:
 * the held packet is the last of its piece. */
static spark_status send_held(join_node *self, join_job *state, const spark_job *job,
                              bool piece_ends, bool another_follows)
{
    const spark_audio_data *a = &state->held->data.audio;
    uint64_t gap = another_follows ? (uint64_t)llround(state->gap_seconds * a->rate) : 0;
    spark_packet *out = self->alloc->audio(self->host, a->channels, a->frames + gap, a->rate);
    if (!out) {
        self->log->error(self->host, "out of memory joining audio");
        return SPARK_E_NO_MEMORY;
    }
    uint64_t fade = (uint64_t)llround(state->fade_ms * a->rate / 1000.0);
    if (fade > a->frames / 2)
        fade = a->frames / 2;
    for (uint32_t c = 0; c < a->channels; c++) {
        float *dst = out->data.audio.planes[c];
        memcpy(dst, a->planes[c], a->frames * sizeof(float));
        for (uint64_t i = 0; i < fade; i++) {
            float g = (float)(i + 1) / (float)(fade + 1);
            if (state->held_follows_join)
                dst[i] *= g;
            if (another_follows)
                dst[a->frames - 1 - i] *= g;
        }
    }
    out->data.audio.timestamp = state->timestamp;
    out->seq = state->seq;
    if (piece_ends)
        state->seq++;
    state->timestamp += (int64_t)(a->frames + gap);
    self->alloc->release(state->held);
    state->held = NULL;
    return job->emit(job, JOIN_OUT, out);
}

static spark_status join_process(void *instance, void *job_state, const spark_job *job,
                                 uint32_t port, const spark_packet *packet)
{
    join_node *self = instance;
    join_job *state = job_state;
    (void)port;
    if (!packet) {
        if (!state->held)
            return SPARK_OK;
        return send_held(self, state, job, true, false);
    }
    if (state->held) {
        const spark_audio_data *a = &state->held->data.audio, *b = &packet->data.audio;
        if (a->rate != b->rate || a->channels != b->channels) {
            char msg[160];
            snprintf(msg, sizeof msg, "audio piece %lld is %u Hz with %u channel(s) but the "
                     "pieces before it are %u Hz with %u", (long long)packet->seq, b->rate,
                     b->channels, a->rate, a->channels);
            self->log->error(self->host, msg);
            return SPARK_E_FORMAT_MISMATCH;
        }
        bool new_piece = packet->seq != state->held->seq;
        spark_status st = send_held(self, state, job, new_piece, new_piece);
        if (st < 0)
            return st;
        state->held_follows_join = new_piece;
    }
    state->held = self->alloc->retain(packet);
    return SPARK_OK;
}

static spark_status join_job_end(void *self_, void *job_state, const spark_job *job,
                                 spark_status outcome)
{
    join_node *self = self_;
    join_job *state = job_state;
    (void)job;
    (void)outcome;
    self->alloc->release(state->held);
    free(state);
    return SPARK_OK;
}

static void join_destroy(void *self)
{
    free(self);
}

static const spark_node_ops join_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = join_create,
    .job_begin = join_job_begin,
    .process = join_process,
    .job_end = join_job_end,
    .destroy = join_destroy,
};

static const spark_port_desc join_ports[] = {
    {.name = "in", .direction = SPARK_PORT_IN, .kind = SPARK_KIND_AUDIO,
     .doc = "audio pieces in order (all with the same rate and channels); consecutive packets "
            "with the same seq are one piece"},
    {.name = "out", .direction = SPARK_PORT_OUT, .kind = SPARK_KIND_AUDIO,
     .doc = "the pieces joined, packet for packet, the gap after each piece's last packet; "
            "seq numbers the pieces from 0"},
};

static const spark_param_desc join_params[] = {
    {.key = "gap", .type = SPARK_PARAM_NUMBER,
     .flags = SPARK_PARAM_PER_JOB | SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX,
     .default_value = "0", .min = 0, .max = 30,
     .doc = "seconds of silence between pieces"},
    {.key = "fade_ms", .type = SPARK_PARAM_NUMBER,
     .flags = SPARK_PARAM_PER_JOB | SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX,
     .default_value = "10", .min = 0, .max = 500,
     .doc = "length of the fade out and in at each join, in milliseconds"},
};

const spark_node_desc sp_builtin_join_desc = {
    .struct_size = sizeof(spark_node_desc),
    .id = "org.sparkhost.core.join",
    .name = "join",
    .version = SPARK_VERSION,
    .description = "Concatenates audio pieces with a gap and short fades at the joins",
    .port_count = 2,
    .param_count = 2,
    .ports = join_ports,
    .params = join_params,
    .ops = &join_ops,
};
