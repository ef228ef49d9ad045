/* Built-in node "org.sparkhost.core.join": concatenates audio pieces in order with a gap of
 * silence between them and short fades at each join, so joins do not click. A piece is a run
 * of packets with the same seq (a sentence the vocoder sends in chunks): packets inside a
 * piece are passed on as they are. It streams: a packet goes out at once but for its last
 * fade_ms, which wait for the next packet (or the end of the stream) to learn whether a piece
 * ends there. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Channels a joined stream may have (speech is mono; audio files up to 7.1). */
#define SPARK_JOIN_MAX_CHANNELS 8

typedef struct join_node {
    const spark_host *host;
    const spark_ext_alloc *alloc;
    const spark_ext_log *log;
} join_node;

/* The tail of the last packet: its last fade frames, held until the next packet (or the end
 * of the stream) says whether its piece ends there and another follows, which decides its
 * fade out and the gap after it. Everything before the tail goes out at once. */
typedef struct join_job {
    float *tail[SPARK_JOIN_MAX_CHANNELS];
    uint64_t tail_frames;
    uint32_t rate, channels; /* of the pieces so far; 0 before the first packet */
    int64_t tail_seq;        /* the input seq the tail belongs to */
    bool have_tail;
    int64_t timestamp;       /* frames already sent */
    int64_t seq;             /* pieces sent: the seq of the output packets */
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

static spark_status no_memory(join_node *self)
{
    self->log->error(self->host, "out of memory joining audio");
    return SPARK_E_NO_MEMORY;
}

/* Emits frames [from, from + count) of planes, then `gap` frames of silence. */
static spark_status send(join_node *self, join_job *state, const spark_job *job,
                         float *const *planes, uint64_t from, uint64_t count, uint64_t gap,
                         bool piece_ends)
{
    if (count + gap == 0)
        return SPARK_OK;
    spark_packet *out = self->alloc->audio(self->host, state->channels, count + gap,
                                           state->rate);
    if (!out)
        return no_memory(self);
    for (uint32_t c = 0; c < state->channels; c++)
        memcpy(out->data.audio.planes[c], planes[c] + from, count * sizeof(float));
    out->data.audio.timestamp = state->timestamp;
    out->seq = state->seq;
    if (piece_ends) {
        spark_packet_set_flags(out, SPARK_PACKET_PIECE_END);
        state->seq++;
    }
    state->timestamp += (int64_t)(count + gap);
    return job->emit(job, JOIN_OUT, out);
}

/* Sends the held tail: faded out and followed by the gap when another piece comes after it. */
static spark_status send_tail(join_node *self, join_job *state, const spark_job *job,
                              bool piece_ends, bool another_follows)
{
    state->have_tail = false;
    uint64_t n = state->tail_frames;
    if (another_follows)
        for (uint32_t c = 0; c < state->channels; c++)
            for (uint64_t i = 0; i < n; i++)
                state->tail[c][n - 1 - i] *= (float)(i + 1) / (float)(n + 1);
    uint64_t gap = another_follows ? (uint64_t)llround(state->gap_seconds * state->rate) : 0;
    return send(self, state, job, state->tail, 0, n, gap, piece_ends);
}

static spark_status join_process(void *instance, void *job_state, const spark_job *job,
                                 uint32_t port, const spark_packet *packet)
{
    join_node *self = instance;
    join_job *state = job_state;
    (void)port;
    if (!packet)
        return state->have_tail ? send_tail(self, state, job, true, false) : SPARK_OK;
    const spark_audio_data *b = &packet->data.audio;
    if (state->channels && (b->rate != state->rate || b->channels != state->channels)) {
        char msg[160];
        snprintf(msg, sizeof msg, "audio piece %lld is %u Hz with %u channel(s) but the "
                 "pieces before it are %u Hz with %u", (long long)packet->seq, b->rate,
                 b->channels, state->rate, state->channels);
        self->log->error(self->host, msg);
        return SPARK_E_FORMAT_MISMATCH;
    }
    if (b->channels == 0 || b->channels > SPARK_JOIN_MAX_CHANNELS) {
        char msg[120];
        snprintf(msg, sizeof msg, "audio piece %lld has %u channels; join takes 1 to %d",
                 (long long)packet->seq, b->channels, SPARK_JOIN_MAX_CHANNELS);
        self->log->error(self->host, msg);
        return SPARK_E_FORMAT_MISMATCH;
    }
    bool after_join = false;
    if (state->have_tail) {
        after_join = packet->seq != state->tail_seq;
        spark_status st = send_tail(self, state, job, after_join, after_join);
        if (st < 0)
            return st;
    }
    state->rate = b->rate;
    state->channels = b->channels;
    uint64_t fade = (uint64_t)llround(state->fade_ms * b->rate / 1000.0);
    if (fade > b->frames / 2)
        fade = b->frames / 2;
    /* the fade in of a piece after a join, on a copy (the packet is shared) */
    float *head[SPARK_JOIN_MAX_CHANNELS];
    for (uint32_t c = 0; c < b->channels; c++)
        head[c] = b->planes[c];
    float *faded = NULL;
    if (after_join && fade) {
        faded = malloc((size_t)b->channels * b->frames * sizeof *faded);
        if (!faded)
            return no_memory(self);
        for (uint32_t c = 0; c < b->channels; c++) {
            head[c] = faded + (size_t)c * b->frames;
            memcpy(head[c], b->planes[c], b->frames * sizeof(float));
            for (uint64_t i = 0; i < fade; i++)
                head[c][i] *= (float)(i + 1) / (float)(fade + 1);
        }
    }
    for (uint32_t c = 0; c < b->channels; c++) {
        float *grown = realloc(state->tail[c], (fade ? fade : 1) * sizeof(float));
        if (!grown) {
            free(faded);
            return no_memory(self);
        }
        state->tail[c] = grown;
        memcpy(grown, head[c] + (b->frames - fade), fade * sizeof(float));
    }
    state->tail_frames = fade;
    state->tail_seq = packet->seq;
    state->have_tail = true;
    spark_status st = send(self, state, job, head, 0, b->frames - fade, 0, false);
    free(faded);
    return st;
}

static spark_status join_job_end(void *self_, void *job_state, const spark_job *job,
                                 spark_status outcome)
{
    join_job *state = job_state;
    (void)self_;
    (void)job;
    (void)outcome;
    for (size_t c = 0; c < SPARK_JOIN_MAX_CHANNELS; c++)
        free(state->tail[c]);
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
