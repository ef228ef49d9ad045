/* align_node.c - the SDK side of the aligner: keeps the job's sentences (text packets) and
 * their audio (audio packets) until both streams end, pairs them, aligns, and emits one
 * timing packet per sentence (its segment item, then its word items) plus the WhisperX JSON
 * as a result.
 *
 * Sentence spans: the join node sends each sentence's audio as packets numbered by the
 * sentence (seq; several when the vocoder sends chunks), timestamped by their place in the
 * job's stream, so with audio for as many sentences as there are, each sentence is aligned
 * inside its own packets ("packets"). Otherwise the audio is one
 * stream and all words are placed in it together ("whole"), sentence ends counting as long
 * pauses. */
#include "align_node.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "speech_activity.h"
#include "timings_json.h"
#include "word_aligner.h"
#include "word_units.h"

typedef struct align_node {
    const spark_host *host;
    const spark_ext_log *log;
    const spark_ext_alloc *alloc;
    const spark_ext_progress *progress;
} align_node;

typedef struct packet_list {
    const spark_packet **items;
    size_t count, cap;
} packet_list;

typedef enum { SPANS_AUTO, SPANS_PACKETS, SPANS_WHOLE } spans_mode;

typedef struct align_job {
    packet_list text, audio;
    int ended; /* bit per input port */
    spans_mode spans;
    double min_pause;
    bool report; /* post the word_timings result */
} align_job;

/* One sentence's words as they are placed. */
typedef struct sentence_words {
    const spark_packet *text; /* borrowed from the job's list */
    word_unit *units;
    word_timing *timing;
    size_t count;
} sentence_words;

static spark_status fail(const align_node *self, spark_status status, const char *message)
{
    if (self->log)
        self->log->error(self->host, message);
    return status;
}

static spark_status align_create(const spark_host *host, const char *node_id, void **out_self)
{
    (void)node_id;
    *out_self = NULL;
    align_node *self = calloc(1, sizeof *self);
    if (!self)
        return SPARK_E_NO_MEMORY;
    self->host = host;
    self->log = spark_host_service(host, SPARK_EXT_LOG, SPARK_SIZE_THROUGH(spark_ext_log, error));
    self->alloc = spark_host_service(host, SPARK_EXT_ALLOC,
                                     SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    self->progress = spark_host_service(host, SPARK_EXT_PROGRESS,
                                        SPARK_SIZE_THROUGH(spark_ext_progress, check));
    *out_self = self;
    return SPARK_OK;
}

static spark_status align_activate(void *handle)
{
    align_node *self = handle;
    if (!self->alloc)
        return fail(self, SPARK_E_UNSUPPORTED, "the host lacks spark.ext.alloc/1, which the "
                    "aligner needs to make timing packets");
    return SPARK_OK;
}

static spark_status align_job_begin(void *handle, const spark_job *job, void **out_state)
{
    (void)handle;
    align_job *state = calloc(1, sizeof *state);
    if (!state)
        return SPARK_E_NO_MEMORY;
    const spark_params *p = job->params;
    const char *spans = p->get_string(p->user, ALIGN_PARAM_SPANS);
    state->spans = spans && strcmp(spans, "packets") == 0 ? SPANS_PACKETS
                   : spans && strcmp(spans, "whole") == 0 ? SPANS_WHOLE : SPANS_AUTO;
    state->min_pause = p->get_number(p->user, ALIGN_PARAM_MIN_PAUSE);
    state->report = p->get_boolean(p->user, ALIGN_PARAM_REPORT) != 0;
    *out_state = state;
    return SPARK_OK;
}

static int list_push(packet_list *list, const spark_packet *packet)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        const spark_packet **grown = realloc(list->items, cap * sizeof *grown);
        if (!grown)
            return -1;
        list->items = grown;
        list->cap = cap;
    }
    list->items[list->count++] = packet;
    return 0;
}

static int by_seq(const void *a, const void *b)
{
    int64_t x = (*(const spark_packet *const *)a)->seq, y = (*(const spark_packet *const *)b)->seq;
    return (x > y) - (x < y);
}

/* Audio packets by sentence (seq), and in time order within one sentence (its chunks). */
static int by_seq_then_time(const void *a, const void *b)
{
    const spark_packet *x = *(const spark_packet *const *)a, *y = *(const spark_packet *const *)b;
    if (x->seq != y->seq)
        return (x->seq > y->seq) - (x->seq < y->seq);
    int64_t tx = x->data.audio.timestamp, ty = y->data.audio.timestamp;
    return (tx > ty) - (tx < ty);
}

/* The number of sentences in sorted audio: runs of packets with one seq. */
static size_t audio_pieces(const packet_list *audio)
{
    size_t pieces = 0;
    for (size_t i = 0; i < audio->count; i++)
        pieces += i == 0 || audio->items[i]->seq != audio->items[i - 1]->seq;
    return pieces;
}

/* Audio[first, first+frames) of a packet list laid out by timestamp, mixed to mono.
 * Returns the buffer or NULL when out of memory. */
static float *mono_of(const spark_packet *const *packets, size_t count, int64_t origin,
                      size_t frames)
{
    float *mono = calloc(frames ? frames : 1, sizeof *mono);
    if (!mono)
        return NULL;
    for (size_t p = 0; p < count; p++) {
        const spark_audio_data *a = &packets[p]->data.audio;
        int64_t at = a->timestamp - origin;
        for (uint64_t i = 0; i < a->frames; i++) {
            if (at + (int64_t)i < 0 || at + (int64_t)i >= (int64_t)frames)
                continue;
            float sum = 0;
            for (uint32_t c = 0; c < a->channels; c++)
                sum += a->planes[c][i];
            mono[at + (int64_t)i] = sum / (float)a->channels;
        }
    }
    return mono;
}

static void free_sentences(sentence_words *s, size_t count)
{
    for (size_t i = 0; s && i < count; i++) {
        free(s[i].units);
        free(s[i].timing);
    }
    free(s);
}

/* Words of every sentence, with room for their timings. */
static spark_status split_sentences(align_node *self, const packet_list *text,
                                    sentence_words **out)
{
    sentence_words *s = calloc(text->count ? text->count : 1, sizeof *s);
    if (!s)
        return SPARK_E_NO_MEMORY;
    for (size_t i = 0; i < text->count; i++) {
        const spark_text_data *t = &text->items[i]->data.text;
        s[i].text = text->items[i];
        int n = word_units_split(t->utf8, (size_t)t->length, &s[i].units);
        if (n < 0) {
            free_sentences(s, text->count);
            char message[160];
            snprintf(message, sizeof message, "text segment %lld is not valid UTF-8 (or out "
                     "of memory splitting it into words)", (long long)text->items[i]->seq);
            return fail(self, SPARK_E_INVALID_ARGUMENT, message);
        }
        s[i].count = (size_t)n;
        s[i].timing = calloc(s[i].count ? s[i].count : 1, sizeof *s[i].timing);
        if (!s[i].timing) {
            free_sentences(s, text->count);
            return SPARK_E_NO_MEMORY;
        }
    }
    *out = s;
    return SPARK_OK;
}

/* Aligns words[count] in mono[frames] at rate, shifting their times by offset seconds and
 * clamping them to the audio. */
static spark_status align_span(const float *mono, size_t frames, unsigned rate, double offset,
                               const word_unit *units, size_t count, double min_pause,
                               word_timing *timing)
{
    speech_frames fr;
    if (speech_frames_analyse(mono, frames, rate, &fr) < 0)
        return SPARK_E_NO_MEMORY;
    aligner_settings settings = {.min_pause_seconds = min_pause};
    int rc = align_words(&fr, 0, fr.count, units, count, &settings, timing);
    speech_frames_free(&fr);
    if (rc < 0)
        return SPARK_E_NO_MEMORY;
    double duration = (double)frames / rate;
    for (size_t w = 0; w < count; w++) {
        double a = timing[w].start, b = timing[w].end;
        a = a < 0 ? 0 : a > duration ? duration : a;
        b = b < a ? a : b > duration ? duration : b;
        timing[w].start = offset + a;
        timing[w].end = offset + b;
    }
    return SPARK_OK;
}

static spark_status align_packets(align_node *self, align_job *state, const spark_job *job,
                                  sentence_words *s)
{
    size_t first = 0;
    for (size_t i = 0; i < state->text.count; i++) {
        const spark_packet *const *piece = &state->audio.items[first];
        size_t count = 1;
        while (first + count < state->audio.count && piece[count]->seq == piece[0]->seq)
            count++;
        first += count;
        const spark_audio_data *a = &piece[0]->data.audio;
        if (a->rate == 0 || a->channels == 0)
            return fail(self, SPARK_E_FORMAT_MISMATCH, "an audio packet has no rate or channels");
        const spark_audio_data *last = &piece[count - 1]->data.audio;
        if (last->rate != a->rate)
            return fail(self, SPARK_E_FORMAT_MISMATCH, "audio packets of one job have "
                        "different rates");
        size_t frames = (size_t)(last->timestamp + (int64_t)last->frames - a->timestamp);
        float *mono = mono_of(piece, count, a->timestamp, frames);
        if (!mono)
            return SPARK_E_NO_MEMORY;
        spark_status st = align_span(mono, frames, a->rate, (double)a->timestamp / a->rate,
                                     s[i].units, s[i].count, state->min_pause, s[i].timing);
        free(mono);
        if (st < 0)
            return st;
        if (self->progress && (st = self->progress->check(self->host, job)) != SPARK_OK)
            return st;
    }
    return SPARK_OK;
}

static spark_status align_whole(align_node *self, align_job *state, sentence_words *s)
{
    const spark_audio_data *first = &state->audio.items[0]->data.audio;
    unsigned rate = first->rate;
    if (rate == 0 || first->channels == 0)
        return fail(self, SPARK_E_FORMAT_MISMATCH, "an audio packet has no rate or channels");
    int64_t origin = first->timestamp, stop = origin;
    for (size_t p = 0; p < state->audio.count; p++) {
        const spark_audio_data *a = &state->audio.items[p]->data.audio;
        if (a->rate != rate)
            return fail(self, SPARK_E_FORMAT_MISMATCH, "audio packets of one job have "
                        "different rates");
        if (a->timestamp < origin)
            origin = a->timestamp;
        if (a->timestamp + (int64_t)a->frames > stop)
            stop = a->timestamp + (int64_t)a->frames;
    }
    size_t frames = (size_t)(stop - origin), total = 0;
    for (size_t i = 0; i < state->text.count; i++)
        total += s[i].count;
    float *mono = mono_of(state->audio.items, state->audio.count, origin, frames);
    word_unit *units = malloc((total ? total : 1) * sizeof *units);
    word_timing *timing = calloc(total ? total : 1, sizeof *timing);
    spark_status st = SPARK_E_NO_MEMORY;
    if (mono && units && timing) {
        size_t k = 0;
        for (size_t i = 0; i < state->text.count; i++)
            for (size_t w = 0; w < s[i].count; w++) {
                units[k] = s[i].units[w];
                /* a sentence ends in a pause even when its text has no full stop */
                if (w + 1 == s[i].count && units[k].pause_after < 0.45)
                    units[k].pause_after = 0.45;
                k++;
            }
        st = align_span(mono, frames, rate, (double)origin / rate, units, total,
                        state->min_pause, timing);
        k = 0;
        for (size_t i = 0; st == SPARK_OK && i < state->text.count; i++)
            for (size_t w = 0; w < s[i].count; w++)
                s[i].timing[w] = timing[k++];
    }
    free(mono);
    free(units);
    free(timing);
    return st;
}

/* Copies of the words' texts, NUL-terminated, for the timing items and the JSON. */
static char *word_text(const sentence_words *s, size_t w)
{
    const char *t = s->text->data.text.utf8 + s->units[w].byte_start;
    size_t n = s->units[w].byte_length;
    char *copy = malloc(n + 1);
    if (copy) {
        memcpy(copy, t, n);
        copy[n] = 0;
    }
    return copy;
}

static spark_status emit_results(align_node *self, const spark_job *job, sentence_words *s,
                                 size_t count, bool report)
{
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += s[i].count;
    char **texts = calloc(total ? total : 1, sizeof *texts);
    timed_word *words = calloc(total ? total : 1, sizeof *words);
    timed_segment *segments = calloc(count ? count : 1, sizeof *segments);
    spark_timing_item *items = calloc(total + 1, sizeof *items);
    spark_status st = SPARK_E_NO_MEMORY;
    size_t k = 0, nseg = 0;
    if (!texts || !words || !segments || !items)
        goto done;
    for (size_t i = 0; i < count; i++)
        for (size_t w = 0; w < s[i].count; w++, k++)
            if (!(texts[k] = word_text(&s[i], w)))
                goto done;
    k = 0;
    for (size_t i = 0; i < count; i++) {
        if (s[i].count == 0)
            continue; /* a sentence without words has no timing */
        const spark_text_data *t = &s[i].text->data.text;
        double score = 0;
        spark_timing_item *item = items;
        *item++ = (spark_timing_item){.level = SPARK_TIMING_SEGMENT,
                                      .start = s[i].timing[0].start,
                                      .end = s[i].timing[s[i].count - 1].end,
                                      .text_offset = t->offset, .text = t->utf8};
        segments[nseg] = (timed_segment){t->utf8, items[0].start, items[0].end, words + k,
                                         s[i].count};
        for (size_t w = 0; w < s[i].count; w++, k++) {
            const word_timing *wt = &s[i].timing[w];
            words[k] = (timed_word){texts[k], wt->start, wt->end, wt->score};
            *item++ = (spark_timing_item){.level = SPARK_TIMING_WORD, .start = wt->start,
                                          .end = wt->end, .score = wt->score,
                                          .text_offset = t->offset >= 0
                                              ? t->offset + (int64_t)s[i].units[w].byte_start
                                              : -1,
                                          .text = texts[k]};
            score += wt->score;
        }
        items[0].score = score / (double)s[i].count;
        spark_packet *packet = self->alloc->timing(self->host, items, s[i].count + 1);
        if (!packet)
            goto done;
        packet->seq = (int64_t)nseg++;
        st = job->emit(job, ALIGN_PORT_TIMING, packet);
        if (st < 0)
            goto done;
    }
    char *json = report ? timings_json(segments, nseg) : NULL;
    if (report && !json) {
        st = SPARK_E_NO_MEMORY;
        goto done;
    }
    if (report)
        job->post_result(job, ALIGN_RESULT_JSON, SPARK_VALUE_JSON, json, 0);
    free(json);
    char number[32];
    snprintf(number, sizeof number, "%zu", total);
    job->post_result(job, ALIGN_RESULT_WORDS, SPARK_VALUE_INTEGER, number, (double)total);
    st = SPARK_OK;
done:
    for (size_t i = 0; texts && i < total; i++)
        free(texts[i]);
    free(texts);
    free(words);
    free(segments);
    free(items);
    if (st == SPARK_E_NO_MEMORY)
        return fail(self, st, "out of memory writing word timings");
    return st;
}

/* Both streams have ended: pair, align, emit. */
static spark_status finish(align_node *self, align_job *state, const spark_job *job)
{
    if (state->text.count > 1)
        qsort(state->text.items, state->text.count, sizeof *state->text.items, by_seq);
    if (state->audio.count > 1)
        qsort(state->audio.items, state->audio.count, sizeof *state->audio.items,
              by_seq_then_time);
    if (state->text.count == 0)
        return emit_results(self, job, NULL, 0, state->report);
    if (state->audio.count == 0)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "the job has text but no audio to align "
                    "it with");
    spans_mode mode = state->spans;
    size_t pieces = audio_pieces(&state->audio);
    if (mode == SPANS_AUTO)
        mode = pieces == state->text.count ? SPANS_PACKETS : SPANS_WHOLE;
    if (mode == SPANS_PACKETS && pieces != state->text.count) {
        char message[240];
        snprintf(message, sizeof message, "spans is 'packets' but the job has %zu text "
                 "segment(s) and audio for %zu; each sentence needs its own audio packets, "
                 "numbered by seq (as the join node sends them)", state->text.count, pieces);
        return fail(self, SPARK_E_INVALID_ARGUMENT, message);
    }
    sentence_words *s = NULL;
    spark_status st = split_sentences(self, &state->text, &s);
    if (st < 0)
        return st;
    st = mode == SPANS_PACKETS ? align_packets(self, state, job, s) : align_whole(self, state, s);
    if (st == SPARK_OK && self->progress)
        st = self->progress->check(self->host, job);
    if (st == SPARK_OK)
        st = emit_results(self, job, s, state->text.count, state->report);
    else if (st == SPARK_E_NO_MEMORY)
        fail(self, st, "out of memory aligning words");
    free_sentences(s, state->text.count);
    return st;
}

static spark_status align_process(void *handle, void *job_state, const spark_job *job,
                                  uint32_t port, const spark_packet *packet)
{
    align_node *self = handle;
    align_job *state = job_state;
    if (port != ALIGN_PORT_TEXT && port != ALIGN_PORT_AUDIO)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "a packet on a port that is no input");
    if (!packet) {
        state->ended |= 1 << port;
        if (state->ended != 3)
            return SPARK_OK;
        return finish(self, state, job);
    }
    int32_t want = port == ALIGN_PORT_TEXT ? SPARK_KIND_TEXT : SPARK_KIND_AUDIO;
    if (packet->kind != want)
        return fail(self, SPARK_E_FORMAT_MISMATCH, port == ALIGN_PORT_TEXT
                    ? "the text port got a packet that is not TEXT"
                    : "the audio port got a packet that is not AUDIO");
    packet_list *list = port == ALIGN_PORT_TEXT ? &state->text : &state->audio;
    if (list_push(list, self->alloc->retain(packet)) < 0) {
        self->alloc->release(packet);
        return fail(self, SPARK_E_NO_MEMORY, "out of memory keeping a packet");
    }
    return SPARK_OK;
}

static spark_status align_job_end(void *handle, void *job_state, const spark_job *job,
                                  spark_status outcome)
{
    align_node *self = handle;
    align_job *state = job_state;
    (void)job;
    (void)outcome;
    for (size_t i = 0; i < state->text.count; i++)
        self->alloc->release(state->text.items[i]);
    for (size_t i = 0; i < state->audio.count; i++)
        self->alloc->release(state->audio.items[i]);
    free(state->text.items);
    free(state->audio.items);
    free(state);
    return SPARK_OK;
}

static void align_destroy(void *handle)
{
    free(handle);
}

const spark_node_ops align_node_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = align_create,
    .activate = align_activate,
    .job_begin = align_job_begin,
    .process = align_process,
    .job_end = align_job_end,
    .destroy = align_destroy,
};
