/* The pitch and speed shift node through its ABI (dlopen + the fake engine of
 * tests/support) on sines: the frequency moves by 2^(n/12) and the duration scales by
 * 1 / speed, within 1%, measured here by interpolated zero crossings; no leading delay, no
 * lost tail; the identity passes bit for bit without delay. Speech is checked through
 * sparkhost in shift_speech.sh. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/plugin.h>

#include "check.h"
#include "fake_host.h"
#include "plugin_checks.h"

#define NODE_ID "org.sparkhost.audio.shift"
enum { PORT_IN = 0, PORT_OUT = 1 };

static const double pi = 3.14159265358979323846;
static fake_plugin plugin;

/* A tone of hz starting at onset seconds (silence before), lasting to the end. */
static float *make_tone(uint32_t rate, double seconds, double hz, double onset)
{
    const uint64_t frames = (uint64_t)llround(seconds * rate);
    float *x = calloc((size_t)frames, sizeof(float));
    const uint64_t start = (uint64_t)llround(onset * rate);
    const uint64_t fade = rate / 100; /* 10 ms, so the onset does not click */
    for (uint64_t n = start; n < frames; n++) {
        const double ramp = n - start < fade ? (double)(n - start) / fade : 1.0;
        x[n] = (float)(0.5 * ramp * sin(2.0 * pi * hz * (double)(n - start) / rate));
    }
    return x;
}

/* Frequency from the rising zero crossings (linearly interpolated) in x[from, to). */
static double zero_crossing_hz(const float *x, uint64_t from, uint64_t to, uint32_t rate)
{
    double first = -1.0, last = -1.0;
    long count = 0;
    for (uint64_t n = from + 1; n < to; n++) {
        if (x[n - 1] < 0.0f && x[n] >= 0.0f) {
            const double t = (double)(n - 1) + x[n - 1] / (double)(x[n - 1] - x[n]);
            if (first < 0.0)
                first = t;
            last = t;
            count++;
        }
    }
    return count > 1 ? (double)(count - 1) * rate / (last - first) : 0.0;
}

/* The first frame whose magnitude reaches threshold, or frames when none does. */
static uint64_t onset_frame(const float *x, uint64_t frames, float threshold)
{
    for (uint64_t n = 0; n < frames; n++)
        if (fabsf(x[n]) >= threshold)
            return n;
    return frames;
}

typedef struct shifted {
    spark_status status;
    float *audio; /* the output joined, mono */
    uint64_t frames;
    size_t packets;
    int packets_in_order; /* seq 0, 1, ... and timestamps continuous */
} shifted;

/* Run x (mono) through the node in packets of piece frames with job settings. */
static shifted run_shift(const float *x, uint64_t frames, uint32_t rate, uint64_t piece,
                         const char *const *settings)
{
    shifted result = { .status = SPARK_OK, .packets_in_order = 1 };
    fake_node node;
    memset(&node, 0, sizeof(node));
    fake_job *job = NULL;
    result.status = fake_node_open(&node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL);
    if (result.status == SPARK_OK)
        result.status = fake_job_begin(&node, "shift-test", settings, &job);
    int64_t seq = 0;
    for (uint64_t at = 0; at < frames && result.status >= 0; at += piece, seq++) {
        const uint64_t n = frames - at < piece ? frames - at : piece;
        spark_packet *p = fake_audio_packet(1, n, rate);
        p->seq = seq;
        p->data.audio.timestamp = (int64_t)at;
        memcpy(p->data.audio.planes[0], x + at, (size_t)n * sizeof(float));
        result.status = fake_job_process(job, PORT_IN, p);
        fake_release(p);
    }
    if (result.status >= 0)
        result.status = fake_job_process(job, PORT_IN, NULL);
    if (job && result.status >= 0) {
        result.packets = fake_job_output_count(job, PORT_OUT);
        for (size_t i = 0; i < result.packets; i++)
            result.frames += fake_job_output(job, PORT_OUT, i)->data.audio.frames;
        result.audio = malloc((size_t)(result.frames ? result.frames : 1) * sizeof(float));
        uint64_t at = 0;
        for (size_t i = 0; i < result.packets; i++) {
            const spark_packet *p = fake_job_output(job, PORT_OUT, i);
            if (p->seq != (int64_t)i || p->data.audio.timestamp != (int64_t)at ||
                p->data.audio.rate != rate || p->data.audio.channels != 1)
                result.packets_in_order = 0;
            memcpy(result.audio + at, p->data.audio.planes[0],
                   (size_t)p->data.audio.frames * sizeof(float));
            at += p->data.audio.frames;
        }
    }
    if (job) {
        fake_job_end(job, result.status < 0 ? result.status : SPARK_OK);
        fake_job_free(job);
    }
    fake_node_close(&node);
    return result;
}

/* Shift a 3 s tone of 220 Hz that starts after 0.4 s of silence; check pitch, length,
 * onset and tail. */
static void check_shift(double semitones, double speed, int formants)
{
    const uint32_t rate = 24000;
    const double seconds = 3.0, onset = 0.4, hz = 220.0;
    float *x = make_tone(rate, seconds, hz, onset);
    const uint64_t frames = (uint64_t)llround(seconds * rate);
    char pitch_text[32], speed_text[32];
    snprintf(pitch_text, sizeof(pitch_text), "%g", semitones);
    snprintf(speed_text, sizeof(speed_text), "%g", speed);
    const char *const settings[] = { "pitch_shift", pitch_text, "speed_shift", speed_text,
                                     "preserve_formants", formants ? "true" : "false", NULL };
    shifted out = run_shift(x, frames, rate, rate / 4, settings);
    CHECK_INT_EQ(out.status, SPARK_OK);
    CHECK(out.packets_in_order);
    CHECK_INT_EQ(out.packets, 12); /* one per input piece */
    const double want_frames = frames / speed;
    const double want_hz = hz * pow(2.0, semitones / 12.0);
    /* measure in the steady middle of the tone, away from onset and end */
    const uint64_t from = (uint64_t)((onset + 0.5) / speed * rate);
    const uint64_t to = (uint64_t)((seconds - 0.3) / speed * rate);
    const double got_hz = out.frames > to ? zero_crossing_hz(out.audio, from, to, rate) : 0.0;
    const uint64_t got_onset = onset_frame(out.audio, out.frames, 0.1f);
    /* tail: the last 50 ms still carry the tone */
    double tail = 0.0;
    for (uint64_t n = out.frames - rate / 20; n < out.frames; n++)
        tail = fabs(out.audio[n]) > tail ? fabs(out.audio[n]) : tail;
    fprintf(stderr,
            "pitch %+5.1f speed %.2f formants %d: %8.3f Hz (want %8.3f, %+.3f%%), "
            "%llu frames (want %.0f), onset %.1f ms (want %.1f), tail peak %.2f\n",
            semitones, speed, formants, got_hz, want_hz,
            100.0 * (got_hz / want_hz - 1.0), (unsigned long long)out.frames, want_frames,
            1000.0 * got_onset / rate, 1000.0 * onset / speed, tail);
    CHECK(fabs(got_hz / want_hz - 1.0) < 0.01);
    CHECK(fabs((double)out.frames / want_frames - 1.0) < 0.01);
    CHECK_INT_EQ(out.frames, llround(want_frames));
    /* no leading latency: the tone starts where the input's did, scaled (within 15 ms) */
    CHECK(fabs((double)got_onset / rate - onset / speed) < 0.015);
    CHECK(tail > 0.25);
    free(out.audio);
    free(x);
}

static void test_identity_is_bit_exact(void)
{
    const uint32_t rate = 22050;
    const uint64_t frames = 22050;
    float *x = malloc(frames * sizeof(float));
    uint32_t state = 12345;
    for (uint64_t n = 0; n < frames; n++) { /* noise: any processing would show */
        state = state * 1664525u + 1013904223u;
        x[n] = (float)((int32_t)state) / 2147483648.0f;
    }
    fake_node node;
    memset(&node, 0, sizeof(node));
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_node_open(&node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL),
                 SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&node, "identity",
                                (const char *const[]){ "pitch_shift", "0", "speed_shift", "1",
                                                       "preserve_formants", "true", NULL },
                                &job),
                 SPARK_OK);
    const uint64_t piece = 1000;
    size_t index = 0;
    for (uint64_t at = 0; at < frames; at += piece, index++) {
        const uint64_t n = frames - at < piece ? frames - at : piece;
        spark_packet *p = fake_audio_packet(1, n, rate);
        p->seq = (int64_t)index;
        p->data.audio.timestamp = (int64_t)at;
        memcpy(p->data.audio.planes[0], x + at, (size_t)n * sizeof(float));
        CHECK(fake_job_process(job, PORT_IN, p) >= 0);
        /* no latency: each packet is out before the next one goes in */
        CHECK_INT_EQ(fake_job_output_count(job, PORT_OUT), index + 1);
        const spark_packet *o = fake_job_output(job, PORT_OUT, index);
        CHECK(o && o->data.audio.frames == n && o->seq == (int64_t)index &&
              o->data.audio.timestamp == (int64_t)at &&
              memcmp(o->data.audio.planes[0], x + at, (size_t)n * sizeof(float)) == 0);
        fake_release(p);
    }
    CHECK_INT_EQ(fake_job_process(job, PORT_IN, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_OUT), index);
    const fake_result *seconds = fake_job_result(job, "output_seconds");
    CHECK(seconds && fabs(seconds->number - 1.0) < 1e-9);
    fake_job_end(job, SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);
    free(x);
}

/* Stereo with a different tone per channel: each channel keeps its own, shifted. */
static void test_stereo(void)
{
    const uint32_t rate = 24000;
    const uint64_t frames = 2 * rate;
    float *left = make_tone(rate, 2.0, 220.0, 0.0);
    float *right = make_tone(rate, 2.0, 330.0, 0.0);
    fake_node node;
    memset(&node, 0, sizeof(node));
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_node_open(&node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL),
                 SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&node, "stereo",
                                (const char *const[]){ "pitch_shift", "-3", "speed_shift",
                                                       "0.9", NULL },
                                &job),
                 SPARK_OK);
    spark_packet *p = fake_audio_packet(2, frames, rate);
    memcpy(p->data.audio.planes[0], left, (size_t)frames * sizeof(float));
    memcpy(p->data.audio.planes[1], right, (size_t)frames * sizeof(float));
    CHECK(fake_job_process(job, PORT_IN, p) >= 0);
    fake_release(p);
    CHECK_INT_EQ(fake_job_process(job, PORT_IN, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_OUT), 1);
    const spark_packet *o = fake_job_output(job, PORT_OUT, 0);
    if (o) {
        const uint64_t n = o->data.audio.frames;
        CHECK_INT_EQ(o->data.audio.channels, 2);
        CHECK_INT_EQ(n, llround(frames / 0.9));
        const double shift = pow(2.0, -3.0 / 12.0);
        const double got_left = zero_crossing_hz(o->data.audio.planes[0], rate / 2, n - rate / 4,
                                                 rate);
        const double got_right = zero_crossing_hz(o->data.audio.planes[1], rate / 2,
                                                  n - rate / 4, rate);
        fprintf(stderr, "stereo: %.3f Hz and %.3f Hz (want %.3f and %.3f)\n", got_left,
                got_right, 220.0 * shift, 330.0 * shift);
        CHECK(fabs(got_left / (220.0 * shift) - 1.0) < 0.01);
        CHECK(fabs(got_right / (330.0 * shift) - 1.0) < 0.01);
    }
    fake_job_end(job, SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);
    free(left);
    free(right);
}

/* Inputs shorter than the stretcher's window still come out at their scaled length. */
static void test_short_inputs(void)
{
    const uint64_t lengths[] = { 1, 50, 1000 };
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        float *x = make_tone(16000, (double)lengths[i] / 16000.0, 300.0, 0.0);
        shifted out = run_shift(x, lengths[i], 16000, 16000,
                                (const char *const[]){ "pitch_shift", "2", "speed_shift",
                                                       "0.5", NULL });
        CHECK_INT_EQ(out.status, SPARK_OK);
        CHECK_INT_EQ(out.frames, 2 * lengths[i]);
        CHECK_INT_EQ(out.packets, 1);
        free(out.audio);
        free(x);
    }
}

static void test_refusals(void)
{
    const struct {
        const char *key, *value, *message;
    } bad[] = {
        { "pitch_shift", "12.5", "pitch_shift must be -12 to 12" },
        { "speed_shift", "0.25", "speed_shift must be a tempo factor of 0.5 to 2" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fake_node node;
        memset(&node, 0, sizeof(node));
        fake_job *job = NULL;
        CHECK_INT_EQ(fake_node_open(&node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL),
                     SPARK_OK);
        fake_log_clear();
        const char *const settings[] = { bad[i].key, bad[i].value, NULL };
        CHECK_INT_EQ(fake_job_begin(&node, "bad", settings, &job), SPARK_E_INVALID_ARGUMENT);
        CHECK_STR_CONTAINS(fake_last_error(), bad[i].message);
        fake_job_free(job);
        fake_node_close(&node);
    }
    /* node-level values are checked at configure */
    fake_node node;
    memset(&node, 0, sizeof(node));
    fake_log_clear();
    CHECK_INT_EQ(fake_node_open(&node, fake_plugin_node(&plugin, NODE_ID),
                                (const char *const[]){ "pitch_shift", "-13", NULL }, NULL),
                 SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "pitch_shift");
    fake_node_close(&node);
    /* a change of rate inside a job */
    memset(&node, 0, sizeof(node));
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_node_open(&node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL),
                 SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&node, "rates",
                                (const char *const[]){ "speed_shift", "1.5", NULL }, &job),
                 SPARK_OK);
    spark_packet *a = fake_audio_packet(1, 100, 16000);
    spark_packet *b = fake_audio_packet(1, 100, 24000);
    CHECK(fake_job_process(job, PORT_IN, a) >= 0);
    fake_log_clear();
    CHECK_INT_EQ(fake_job_process(job, PORT_IN, b), SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(fake_last_error(), "24000 Hz");
    fake_release(a);
    fake_release(b);
    fake_job_end(job, SPARK_E_FORMAT_MISMATCH);
    fake_job_free(job);
    fake_node_close(&node);
}

/* Jobs with different shifts on one instance from several threads at once: each gets its
 * own frequency and length, so no state is shared between them. */
typedef struct concurrent_job {
    fake_node *node;
    double semitones;
    const float *input;
    uint64_t frames;
    uint32_t rate;
    double got_hz;
    uint64_t got_frames;
    spark_status status;
} concurrent_job;

static void *run_concurrent_job(void *argument)
{
    concurrent_job *c = argument;
    char pitch_text[32];
    snprintf(pitch_text, sizeof(pitch_text), "%g", c->semitones);
    fake_job *job = NULL;
    c->status = fake_job_begin(c->node, pitch_text,
                               (const char *const[]){ "pitch_shift", pitch_text, NULL }, &job);
    spark_packet *p = fake_audio_packet(1, c->frames, c->rate);
    memcpy(p->data.audio.planes[0], c->input, (size_t)c->frames * sizeof(float));
    if (c->status >= 0)
        c->status = fake_job_process(job, PORT_IN, p);
    fake_release(p);
    if (c->status >= 0)
        c->status = fake_job_process(job, PORT_IN, NULL);
    if (c->status >= 0 && fake_job_output_count(job, PORT_OUT) == 1) {
        const spark_packet *o = fake_job_output(job, PORT_OUT, 0);
        c->got_frames = o->data.audio.frames;
        c->got_hz = zero_crossing_hz(o->data.audio.planes[0], c->rate / 2,
                                     c->got_frames - c->rate / 4, c->rate);
    }
    fake_job_end(job, c->status < 0 ? c->status : SPARK_OK);
    fake_job_free(job);
    return NULL;
}

static void test_concurrent_jobs(void)
{
    const uint32_t rate = 16000;
    float *x = make_tone(rate, 2.0, 200.0, 0.0);
    fake_node node;
    memset(&node, 0, sizeof(node));
    CHECK_INT_EQ(fake_node_open(&node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL),
                 SPARK_OK);
    concurrent_job jobs[4];
    pthread_t threads[4];
    const double semitones[4] = { -7.0, -2.0, 2.0, 7.0 };
    for (int i = 0; i < 4; i++) {
        jobs[i] = (concurrent_job){ .node = &node, .semitones = semitones[i], .input = x,
                                    .frames = 2 * rate, .rate = rate };
        CHECK_INT_EQ(pthread_create(&threads[i], NULL, run_concurrent_job, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        const double want = 200.0 * pow(2.0, semitones[i] / 12.0);
        CHECK_INT_EQ(jobs[i].status, SPARK_OK);
        CHECK_INT_EQ(jobs[i].got_frames, 2 * rate);
        CHECK(fabs(jobs[i].got_hz / want - 1.0) < 0.01);
    }
    fake_node_close(&node);
    free(x);
}

static void test_cancellation(void)
{
    const uint32_t rate = 16000;
    float *x = make_tone(rate, 2.0, 200.0, 0.0);
    fake_node node;
    memset(&node, 0, sizeof(node));
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_node_open(&node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL),
                 SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&node, "cancel",
                                (const char *const[]){ "pitch_shift", "3", NULL }, &job),
                 SPARK_OK);
    spark_packet *p = fake_audio_packet(1, 2 * rate, rate);
    memcpy(p->data.audio.planes[0], x, 2 * rate * sizeof(float));
    CHECK(fake_job_process(job, PORT_IN, p) >= 0);
    fake_release(p);
    fake_job_stop(job, SPARK_E_CANCELLED);
    CHECK_INT_EQ(fake_job_process(job, PORT_IN, NULL), SPARK_E_CANCELLED);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_OUT), 0);
    fake_job_end(job, SPARK_E_CANCELLED);
    fake_job_free(job);
    fake_node_close(&node);
    free(x);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s dsp-rubberband.so\n", argv[0]);
        return 2;
    }
    const spark_entry *entry = check_load_plugin(&plugin, argv[1], NULL);
    if (!entry)
        return CHECK_DONE();
    CHECK_STR_EQ(entry->name, "dsp-rubberband");
    const spark_node_desc *desc = fake_plugin_node(&plugin, NODE_ID);
    CHECK(desc != NULL);
    if (!desc)
        return CHECK_DONE();
    for (uint32_t i = 0; i < desc->param_count; i++)
        CHECK(desc->params[i].flags & SPARK_PARAM_PER_JOB);

    test_identity_is_bit_exact();
    const double pitches[] = { -12.0, -7.0, -1.0, 3.0, 12.0 };
    for (size_t i = 0; i < sizeof(pitches) / sizeof(pitches[0]); i++)
        check_shift(pitches[i], 1.0, 0);
    const double speeds[] = { 0.5, 0.8, 1.5, 2.0 };
    for (size_t i = 0; i < sizeof(speeds) / sizeof(speeds[0]); i++)
        check_shift(0.0, speeds[i], 0);
    check_shift(5.0, 1.25, 0);
    check_shift(-4.0, 0.75, 1);
    check_shift(4.0, 1.0, 1);

    test_stereo();
    test_short_inputs();
    test_refusals();
    test_cancellation();
    test_concurrent_jobs();

    CHECK_INT_EQ(fake_live_packets(), 0);
    fake_plugin_unload(&plugin);
    return CHECK_DONE();
}
