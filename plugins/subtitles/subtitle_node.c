/* subtitle_node.c - the SDK side of the subtitle writer: collects the job's timing packets,
 * turns their word items (or, without words, their segment items) into cues, writes the
 * chosen format and emits it as one blob at the end of the stream. */
#include "subtitle_node.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sub_cues.h"
#include "sub_style.h"
#include "sub_writers.h"

typedef struct subtitle_node {
    const spark_host *host;
    const spark_ext_log *log;
    const spark_ext_alloc *alloc;
} subtitle_node;

typedef enum { FORMAT_NONE, FORMAT_ASS, FORMAT_SRT, FORMAT_VTT } sub_format;

typedef struct subtitle_job {
    sub_format format;
    sub_cue_options cue;
    ass_style style;
    char font[256];
    char colours[4][11];
    char stem[101];
    const spark_packet **packets;
    size_t count, cap;
} subtitle_job;

static spark_status fail(const subtitle_node *self, spark_status status, const char *message)
{
    if (self->log)
        self->log->error(self->host, message);
    return status;
}

static spark_status subtitle_create(const spark_host *host, const char *node_id, void **out)
{
    (void)node_id;
    *out = NULL;
    subtitle_node *self = calloc(1, sizeof *self);
    if (!self)
        return SPARK_E_NO_MEMORY;
    self->host = host;
    self->log = spark_host_service(host, SPARK_EXT_LOG, SPARK_SIZE_THROUGH(spark_ext_log, error));
    self->alloc = spark_host_service(host, SPARK_EXT_ALLOC,
                                     SPARK_SIZE_THROUGH(spark_ext_alloc, release));
    *out = self;
    return SPARK_OK;
}

static spark_status subtitle_activate(void *handle)
{
    subtitle_node *self = handle;
    if (!self->alloc)
        return fail(self, SPARK_E_UNSUPPORTED, "the host lacks spark.ext.alloc/1, which the "
                    "subtitle writer needs to make its file");
    return SPARK_OK;
}

static const char *const colour_keys[4] = {"primary_colour", "secondary_colour",
                                           "outline_colour", "back_colour"};

/* Reads and checks the job's parameters into state. */
static spark_status read_params(subtitle_node *self, const spark_params *p, subtitle_job *s)
{
    char message[320];
    const char *format = p->get_string(p->user, "format");
    s->format = !format || strcmp(format, "ass") == 0 ? FORMAT_ASS
                : strcmp(format, "srt") == 0          ? FORMAT_SRT
                : strcmp(format, "vtt") == 0          ? FORMAT_VTT
                : strcmp(format, "none") == 0         ? FORMAT_NONE
                                                      : FORMAT_ASS;
    s->cue.max_chars = (unsigned)p->get_integer(p->user, "max_chars_per_line");
    s->cue.max_lines = (unsigned)p->get_integer(p->user, "max_lines");
    s->cue.min_duration = p->get_number(p->user, "min_duration");
    s->cue.max_duration = p->get_number(p->user, "max_duration");
    if (s->cue.max_chars < 1 || s->cue.max_lines < 1 || !(s->cue.max_duration > 0) ||
        s->cue.min_duration < 0) {
        return fail(self, SPARK_E_INVALID_ARGUMENT, "max_chars_per_line and max_lines must be "
                    "at least 1, max_duration above 0 and min_duration at least 0");
    }
    if (s->cue.min_duration > s->cue.max_duration) {
        snprintf(message, sizeof message, "min_duration (%g s) is longer than max_duration "
                 "(%g s)", s->cue.min_duration, s->cue.max_duration);
        return fail(self, SPARK_E_INVALID_ARGUMENT, message);
    }
    const char *font = p->get_string(p->user, "font");
    if (sub_check_font(font) < 0 || strlen(font) >= sizeof s->font) {
        snprintf(message, sizeof message, "font '%.100s' cannot go into an ASS style: it must "
                 "be 1 to 255 bytes without commas or control characters", font ? font : "");
        return fail(self, SPARK_E_INVALID_ARGUMENT, message);
    }
    strcpy(s->font, font);
    for (int i = 0; i < 4; i++) {
        const char *text = p->get_string(p->user, colour_keys[i]);
        if (sub_parse_colour(text, s->colours[i]) < 0) {
            snprintf(message, sizeof message, "%s '%.60s' is not a colour: use &HAABBGGRR "
                     "(ASS, alpha 00 = opaque), &HBBGGRR, #RRGGBB or #RRGGBBAA",
                     colour_keys[i], text ? text : "");
            return fail(self, SPARK_E_INVALID_ARGUMENT, message);
        }
    }
    const char *stem = p->get_string(p->user, "file_name");
    if (sub_check_file_stem(stem) < 0) {
        snprintf(message, sizeof message, "file_name '%.120s' must be 1 to 100 of "
                 "A-Z a-z 0-9 . _ - without a leading dot (the extension is added)",
                 stem ? stem : "");
        return fail(self, SPARK_E_INVALID_ARGUMENT, message);
    }
    strcpy(s->stem, stem);
    s->style = (ass_style){
        .play_res_x = (unsigned)p->get_integer(p->user, "play_res_x"),
        .play_res_y = (unsigned)p->get_integer(p->user, "play_res_y"),
        .font = s->font,
        .font_size = p->get_number(p->user, "font_size"),
        .primary = s->colours[0],
        .secondary = s->colours[1],
        .outline_colour = s->colours[2],
        .back_colour = s->colours[3],
        .bold = p->get_boolean(p->user, "bold") != 0,
        .italic = p->get_boolean(p->user, "italic") != 0,
        .outline = p->get_number(p->user, "outline"),
        .shadow = p->get_number(p->user, "shadow"),
        .border_style = p->get_boolean(p->user, "opaque_box") ? 3 : 1,
        .alignment = (int)p->get_integer(p->user, "alignment"),
        .margin_l = (int)p->get_integer(p->user, "margin_l"),
        .margin_r = (int)p->get_integer(p->user, "margin_r"),
        .margin_v = (int)p->get_integer(p->user, "margin_v"),
        .karaoke = p->get_boolean(p->user, "karaoke") != 0,
    };
    if (s->style.alignment < 1 || s->style.alignment > 9)
        return fail(self, SPARK_E_INVALID_ARGUMENT, "alignment must be 1 to 9 (numpad layout)");
    return SPARK_OK;
}

static spark_status subtitle_job_begin(void *handle, const spark_job *job, void **out_state)
{
    subtitle_node *self = handle;
    subtitle_job *state = calloc(1, sizeof *state);
    if (!state)
        return SPARK_E_NO_MEMORY;
    spark_status st = read_params(self, job->params, state);
    if (st < 0) {
        free(state);
        return st;
    }
    *out_state = state;
    return SPARK_OK;
}

static int by_seq(const void *a, const void *b)
{
    int64_t x = (*(const spark_packet *const *)a)->seq, y = (*(const spark_packet *const *)b)->seq;
    return (x > y) - (x < y);
}

static int blank(const char *text)
{
    for (const char *p = text; p && *p; p++)
        if ((unsigned char)*p > ' ')
            return 0;
    return 1;
}

/* The words of all packets (or their segments when they carry no words). */
static spark_status collect_words(subtitle_node *self, subtitle_job *state, sub_word **out,
                                  size_t *out_count)
{
    size_t total = 0, word_items = 0;
    for (size_t p = 0; p < state->count; p++)
        for (uint64_t i = 0; i < state->packets[p]->data.timing.count; i++) {
            total++;
            word_items += state->packets[p]->data.timing.items[i].level == SPARK_TIMING_WORD;
        }
    int32_t level = word_items ? SPARK_TIMING_WORD : SPARK_TIMING_SEGMENT;
    sub_word *words = calloc(total ? total : 1, sizeof *words);
    if (!words)
        return fail(self, SPARK_E_NO_MEMORY, "out of memory collecting words");
    size_t n = 0, segment = 0;
    int64_t previous_end_offset = -1;
    for (size_t p = 0; p < state->count; p++) {
        const spark_timing_data *t = &state->packets[p]->data.timing;
        for (uint64_t i = 0; i < t->count; i++) {
            const spark_timing_item *it = &t->items[i];
            if (it->level == SPARK_TIMING_SEGMENT && n > 0 && level == SPARK_TIMING_WORD)
                segment++;
            if (it->level != level || blank(it->text))
                continue;
            if (!isfinite(it->start) || !isfinite(it->end) || it->start < 0 ||
                it->end < it->start) {
                free(words);
                char message[200];
                snprintf(message, sizeof message, "timing packet %lld, item %llu: start %g "
                         "and end %g must be finite, start >= 0 and end >= start",
                         (long long)state->packets[p]->seq, (unsigned long long)i, it->start,
                         it->end);
                return fail(self, SPARK_E_INVALID_ARGUMENT, message);
            }
            /* a word right after the previous one in the text (CJK) takes no space */
            bool joined = it->text_offset >= 0 && it->text_offset == previous_end_offset;
            words[n] = (sub_word){.text = (char *)it->text, .start = it->start,
                                  .end = it->end,
                                  .segment = level == SPARK_TIMING_WORD ? segment : n,
                                  .space_before = !joined};
            previous_end_offset = it->text_offset >= 0
                                      ? it->text_offset + (int64_t)strlen(it->text) : -1;
            n++;
        }
    }
    *out = words;
    *out_count = n;
    return SPARK_OK;
}

static const char *const extensions[] = {"", "ass", "srt", "vtt"};
static const char *const media_types[] = {"", "text/x-ssa", "application/x-subrip",
                                          "text/vtt"};

static spark_status finish(subtitle_node *self, subtitle_job *state, const spark_job *job)
{
    if (state->count > 1)
        qsort(state->packets, state->count, sizeof *state->packets, by_seq);
    sub_word *words = NULL;
    size_t count = 0;
    spark_status st = collect_words(self, state, &words, &count);
    if (st < 0)
        return st;
    sub_cue_list cues;
    int rc = sub_cues_build(words, count, &state->cue, &cues);
    free(words); /* the texts are the packets'; cues hold copies */
    if (rc < 0)
        return fail(self, SPARK_E_NO_MEMORY, "out of memory building cues");
    char number[32];
    snprintf(number, sizeof number, "%zu", cues.cue_count);
    job->post_result(job, "cues", SPARK_VALUE_INTEGER, number, (double)cues.cue_count);
    if (state->format == FORMAT_NONE) {
        sub_cue_list_free(&cues);
        return SPARK_OK;
    }
    sub_buf file = {0};
    if (state->format == FORMAT_ASS)
        sub_write_ass(&cues, &state->style, &file);
    else if (state->format == FORMAT_SRT)
        sub_write_srt(&cues, &file);
    else
        sub_write_vtt(&cues, &file);
    sub_cue_list_free(&cues);
    if (file.failed) {
        sub_buf_free(&file);
        return fail(self, SPARK_E_NO_MEMORY, "out of memory writing subtitles");
    }
    char name[128];
    snprintf(name, sizeof name, "%s.%s", state->stem, extensions[state->format]);
    spark_packet *blob = self->alloc->blob(self->host, file.length, media_types[state->format],
                                           name);
    if (!blob) {
        sub_buf_free(&file);
        return fail(self, SPARK_E_NO_MEMORY, "out of memory for the subtitle file");
    }
    if (file.length)
        memcpy(blob->data.blob.bytes, file.data, file.length);
    sub_buf_free(&file);
    return job->emit(job, SUBTITLE_PORT_FILE, blob);
}

static spark_status subtitle_process(void *handle, void *job_state, const spark_job *job,
                                     uint32_t port, const spark_packet *packet)
{
    subtitle_node *self = handle;
    subtitle_job *state = job_state;
    (void)port;
    if (!packet)
        return finish(self, state, job);
    if (packet->kind != SPARK_KIND_TIMING)
        return fail(self, SPARK_E_FORMAT_MISMATCH, "the timing port got a packet that is not "
                    "TIMING");
    if (state->count == state->cap) {
        size_t cap = state->cap ? state->cap * 2 : 16;
        const spark_packet **grown = realloc(state->packets, cap * sizeof *grown);
        if (!grown)
            return fail(self, SPARK_E_NO_MEMORY, "out of memory keeping a timing packet");
        state->packets = grown;
        state->cap = cap;
    }
    state->packets[state->count++] = self->alloc->retain(packet);
    return SPARK_OK;
}

static spark_status subtitle_job_end(void *handle, void *job_state, const spark_job *job,
                                     spark_status outcome)
{
    subtitle_node *self = handle;
    subtitle_job *state = job_state;
    (void)job;
    (void)outcome;
    for (size_t i = 0; i < state->count; i++)
        self->alloc->release(state->packets[i]);
    free(state->packets);
    free(state);
    return SPARK_OK;
}

static void subtitle_destroy(void *handle)
{
    free(handle);
}

const spark_node_ops subtitle_node_ops = {
    .struct_size = sizeof(spark_node_ops),
    .create = subtitle_create,
    .activate = subtitle_activate,
    .job_begin = subtitle_job_begin,
    .process = subtitle_process,
    .job_end = subtitle_job_end,
    .destroy = subtitle_destroy,
};
