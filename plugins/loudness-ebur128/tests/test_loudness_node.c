/* The loudness node through its ABI (dlopen + the fake engine of tests/support): its
 * measurements on signals synthesised from the EBU Tech 3341 and 3342 definitions, the
 * normalisation's own report, silence passed through bit for bit, and refusals. The output
 * is judged by independent meters (ffmpeg, pyloudnorm) in loudness_tools.sh. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/plugin.h>

#include "check.h"
#include "fake_host.h"
#include "plugin_checks.h"

#define NODE_ID "org.sparkhost.audio.loudness"
enum { PORT_IN = 0, PORT_OUT = 1 };

static const double pi = 3.14159265358979323846;
static fake_plugin plugin;

/* ---- signals ---------------------------------------------------------------------------- */

/* A programme: planar float audio grown segment by segment. */
typedef struct signal {
    uint32_t rate, channels;
    uint64_t frames;
    float *planes[6];
} signal;

static void signal_init(signal *s, uint32_t rate, uint32_t channels)
{
    memset(s, 0, sizeof(*s));
    s->rate = rate;
    s->channels = channels;
}

static void signal_free(signal *s)
{
    for (uint32_t c = 0; c < s->channels; c++)
        free(s->planes[c]);
}

/* Append `seconds` of a sine of frequency hz, phase (radians) and peak level dbfs[c] per
 * channel (-INFINITY: silence on that channel). The phase runs on across segments. */
static void append_sine(signal *s, double seconds, double hz, double phase,
                        const double *dbfs)
{
    uint64_t n = (uint64_t)llround(seconds * s->rate);
    for (uint32_t c = 0; c < s->channels; c++) {
        s->planes[c] = realloc(s->planes[c], (size_t)(s->frames + n) * sizeof(float));
        const double amplitude = isfinite(dbfs[c]) ? pow(10.0, dbfs[c] / 20.0) : 0.0;
        for (uint64_t i = 0; i < n; i++) {
            const double t = (double)(s->frames + i) / s->rate;
            s->planes[c][s->frames + i] = (float)(amplitude * sin(2.0 * pi * hz * t + phase));
        }
    }
    s->frames += n;
}

/* Raised-cosine fades over `seconds` at both ends: a tone that starts or stops abruptly
 * rings in any interpolator and overshoots its steady-state peak. */
static void apply_fades(signal *s, double seconds)
{
    const uint64_t n = (uint64_t)llround(seconds * s->rate);
    for (uint64_t i = 0; i < n && i < s->frames; i++) {
        const float w = (float)(0.5 - 0.5 * cos(pi * (double)i / (double)n));
        for (uint32_t c = 0; c < s->channels; c++) {
            s->planes[c][i] *= w;
            s->planes[c][s->frames - 1 - i] *= w;
        }
    }
}

/* Every channel at the same level. */
static void append_level(signal *s, double seconds, double dbfs)
{
    double levels[6];
    for (int c = 0; c < 6; c++)
        levels[c] = dbfs;
    append_sine(s, seconds, 1000.0, 0.0, levels);
}

/* ---- running the node --------------------------------------------------------------------- */

typedef struct run {
    fake_node node;
    fake_job *job;
    spark_status status; /* first failure, or the last status */
} run;

/* Open the node, begin a job with settings, feed s in packets of piece_seconds, end of
 * stream. The caller checks and then calls run_close. */
static void run_signal(run *r, const signal *s, double piece_seconds,
                       const char *const *settings)
{
    memset(r, 0, sizeof(*r));
    r->status = fake_node_open(&r->node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL);
    if (r->status != SPARK_OK)
        return;
    r->status = fake_job_begin(&r->node, "loudness-test", settings, &r->job);
    if (r->status != SPARK_OK)
        return;
    const uint64_t piece = (uint64_t)llround(piece_seconds * s->rate);
    int64_t seq = 0;
    for (uint64_t at = 0; at < s->frames && r->status >= 0; at += piece, seq++) {
        const uint64_t n = s->frames - at < piece ? s->frames - at : piece;
        spark_packet *p = fake_audio_packet(s->channels, n, s->rate);
        p->seq = seq;
        p->data.audio.timestamp = (int64_t)at;
        for (uint32_t c = 0; c < s->channels; c++)
            memcpy(p->data.audio.planes[c], s->planes[c] + at, (size_t)n * sizeof(float));
        r->status = fake_job_process(r->job, PORT_IN, p);
        fake_release(p);
    }
    if (r->status >= 0)
        r->status = fake_job_process(r->job, PORT_IN, NULL);
}

static void run_close(run *r)
{
    if (r->job) {
        fake_job_end(r->job, r->status < 0 ? r->status : SPARK_OK);
        fake_job_free(r->job);
    }
    fake_node_close(&r->node);
}

static double result_number(const run *r, const char *name)
{
    const fake_result *result = r->job ? fake_job_result(r->job, name) : NULL;
    if (!result) {
        fprintf(stderr, "  no result '%s'\n", name);
        return NAN;
    }
    return result->number;
}

/* ---- Tech 3341 and 3342 measurements ------------------------------------------------------ */

/* The node's input measurement of s, checked against the specified values. */
static void check_measurement(const char *name, const signal *s, double want_i, double want_tp,
                              double want_lra)
{
    run r;
    run_signal(&r, s, 1.0, NULL);
    CHECK_INT_EQ(r.status, SPARK_OK);
    const double i = result_number(&r, "input_integrated");
    const double tp = result_number(&r, "input_true_peak");
    const double lra = result_number(&r, "input_lra");
    fprintf(stderr, "%-12s I %7.2f LUFS  TP %6.2f dBTP  LRA %5.2f LU\n", name, i, tp, lra);
    if (!isnan(want_i))
        CHECK_NEAR(i, want_i, 0.1);
    if (!isnan(want_tp))
        CHECK_NEAR(tp, want_tp, 0.2);
    if (!isnan(want_lra))
        CHECK_NEAR(lra, want_lra, 1.0);
    run_close(&r);
}

static void test_tech3341_loudness(void)
{
    signal s;
    /* 1 and 2: stereo 1 kHz sine at -23 / -33 dBFS, 20 s */
    signal_init(&s, 48000, 2);
    append_level(&s, 20.0, -23.0);
    check_measurement("3341-1", &s, -23.0, NAN, NAN);
    signal_free(&s);
    signal_init(&s, 48000, 2);
    append_level(&s, 20.0, -33.0);
    check_measurement("3341-2", &s, -33.0, NAN, NAN);
    signal_free(&s);
    /* 3: -36 / -23 / -36 dBFS for 10 / 60 / 10 s */
    signal_init(&s, 48000, 2);
    append_level(&s, 10.0, -36.0);
    append_level(&s, 60.0, -23.0);
    append_level(&s, 10.0, -36.0);
    check_measurement("3341-3", &s, -23.0, NAN, NAN);
    signal_free(&s);
    /* 4: -72 / -36 / -23 / -36 / -72 dBFS for 10 / 10 / 60 / 10 / 10 s */
    signal_init(&s, 48000, 2);
    append_level(&s, 10.0, -72.0);
    append_level(&s, 10.0, -36.0);
    append_level(&s, 60.0, -23.0);
    append_level(&s, 10.0, -36.0);
    append_level(&s, 10.0, -72.0);
    check_measurement("3341-4", &s, -23.0, NAN, NAN);
    signal_free(&s);
    /* 5: -26 / -20 / -26 dBFS for 20 / 20.1 / 20 s */
    signal_init(&s, 48000, 2);
    append_level(&s, 20.0, -26.0);
    append_level(&s, 20.1, -20.0);
    append_level(&s, 20.0, -26.0);
    check_measurement("3341-5", &s, -23.0, NAN, NAN);
    signal_free(&s);
    /* 6: 5.0 channels, L and R at -28, C at -24, Ls and Rs at -30 dBFS, 20 s */
    signal_init(&s, 48000, 5);
    const double five[] = { -28.0, -28.0, -24.0, -30.0, -30.0 };
    append_sine(&s, 20.0, 1000.0, 0.0, five);
    check_measurement("3341-6", &s, -23.0, NAN, NAN);
    signal_free(&s);
    /* Calibration (Tech 3341 2.9): stereo 1 kHz at -18 dBFS reads -18.0 */
    signal_init(&s, 48000, 2);
    append_level(&s, 10.0, -18.0);
    check_measurement("calibration", &s, -18.0, NAN, NAN);
    signal_free(&s);
}

/* Tech 3341 15-19: sines at fs/4, fs/6, fs/8 whose sample peaks sit under the true peak. */
static void test_tech3341_true_peak(void)
{
    const struct {
        const char *name;
        double divisor, amplitude, phase_degrees, want_dbtp;
    } cases[] = {
        { "3341-15", 4.0, 0.50, 0.0, -6.0 },  { "3341-16", 4.0, 0.50, 45.0, -6.0 },
        { "3341-17", 6.0, 0.50, 60.0, -6.0 }, { "3341-18", 8.0, 0.50, 67.5, -6.0 },
        { "3341-19", 4.0, 1.41, 45.0, 3.0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        signal s;
        signal_init(&s, 48000, 2);
        const double level = 20.0 * log10(cases[i].amplitude);
        const double levels[2] = { level, level };
        append_sine(&s, 2.0, 48000.0 / cases[i].divisor, cases[i].phase_degrees * pi / 180.0,
                    levels);
        apply_fades(&s, 0.05);
        /* the sample peak is below the true peak in the phase-shifted cases */
        float sample_peak = 0.0f;
        for (uint64_t n = 0; n < s.frames; n++)
            sample_peak = fabsf(s.planes[0][n]) > sample_peak ? fabsf(s.planes[0][n])
                                                              : sample_peak;
        if (cases[i].phase_degrees == 45.0)
            CHECK(20.0 * log10(sample_peak) < cases[i].want_dbtp - 2.5);
        check_measurement(cases[i].name, &s, NAN, cases[i].want_dbtp, NAN);
        signal_free(&s);
    }
}

/* Tech 3342 1-4: tone steps with known loudness range. */
static void test_tech3342_range(void)
{
    const double steps[][5] = {
        { -20.0, -30.0, NAN, NAN, NAN }, { -20.0, -15.0, NAN, NAN, NAN },
        { -40.0, -20.0, NAN, NAN, NAN }, { -50.0, -35.0, -20.0, -35.0, -50.0 },
    };
    const double want[] = { 10.0, 5.0, 20.0, 15.0 };
    for (int k = 0; k < 4; k++) {
        signal s;
        signal_init(&s, 48000, 2);
        for (int j = 0; j < 5 && !isnan(steps[k][j]); j++)
            append_level(&s, 20.0, steps[k][j]);
        char name[16];
        snprintf(name, sizeof(name), "3342-%d", k + 1);
        check_measurement(name, &s, NAN, NAN, want[k]);
        signal_free(&s);
    }
}

/* ---- normalisation ------------------------------------------------------------------------ */

/* The output packets keep the input's pieces; returns the output as one signal. */
static void collect_output(const run *r, const signal *in, double piece_seconds, signal *out)
{
    signal_init(out, in->rate, in->channels);
    const size_t count = fake_job_output_count(r->job, PORT_OUT);
    const uint64_t piece = (uint64_t)llround(piece_seconds * in->rate);
    CHECK_INT_EQ(count, (in->frames + piece - 1) / piece);
    for (uint32_t c = 0; c < in->channels; c++)
        out->planes[c] = malloc((size_t)(in->frames ? in->frames : 1) * sizeof(float));
    for (size_t i = 0; i < count; i++) {
        const spark_packet *p = fake_job_output(r->job, PORT_OUT, i);
        CHECK_INT_EQ(p->kind, SPARK_KIND_AUDIO);
        CHECK_INT_EQ(p->seq, (int64_t)i);
        CHECK_INT_EQ(p->data.audio.timestamp, (int64_t)out->frames);
        CHECK_INT_EQ(p->data.audio.rate, in->rate);
        CHECK_INT_EQ(p->data.audio.channels, in->channels);
        if (out->frames + p->data.audio.frames > in->frames)
            break;
        for (uint32_t c = 0; c < in->channels; c++)
            memcpy(out->planes[c] + out->frames, p->data.audio.planes[c],
                   (size_t)p->data.audio.frames * sizeof(float));
        out->frames += p->data.audio.frames;
    }
    CHECK_INT_EQ(out->frames, in->frames);
}

/* A mono "voice": a 150 Hz pulse train through a formant-like resonance, syllables of
 * 200 ms with 80 ms pauses, and, when clicks, a few 1-sample spikes at 0.9. */
static void make_voice(signal *s, uint32_t rate, double seconds, double level_dbfs, int clicks)
{
    signal_init(s, rate, 1);
    s->frames = (uint64_t)llround(seconds * rate);
    s->planes[0] = calloc((size_t)s->frames, sizeof(float));
    const double amplitude = pow(10.0, level_dbfs / 20.0);
    double y1 = 0.0, y2 = 0.0;
    const double r = 0.995, w = 2.0 * pi * 700.0 / rate;
    for (uint64_t n = 0; n < s->frames; n++) {
        const double t = (double)n / rate;
        const double in_syllable = fmod(t, 0.28) < 0.2 ? 1.0 : 0.0;
        const double pulse = (n % (rate / 150) == 0) ? in_syllable : 0.0;
        const double y = pulse + 2.0 * r * cos(w) * y1 - r * r * y2;
        y2 = y1;
        y1 = y;
        s->planes[0][n] = (float)(amplitude * 0.05 * y);
    }
    if (clicks)
        for (int k = 1; k <= 4; k++)
            s->planes[0][(uint64_t)k * s->frames / 5] = 0.9f;
}

static void test_normalize_report(void)
{
    /* A quiet voice with clicks: +gain needs the limiter to keep the clicks under -1 dBTP. */
    signal in;
    make_voice(&in, 24000, 8.0, -20.0, 1);
    run r;
    const char *const settings[] = { "target", "-16", "ceiling", "-1", NULL };
    run_signal(&r, &in, 0.5, settings);
    CHECK_INT_EQ(r.status, SPARK_OK);
    const double before = result_number(&r, "input_integrated");
    const double after = result_number(&r, "output_integrated");
    const double peak = result_number(&r, "output_true_peak");
    fprintf(stderr, "peaky voice: %.2f -> %.2f LUFS, TP %.2f -> %.2f dBTP, gain %.2f dB, "
                    "limiter %.2f dB\n",
            before, after, result_number(&r, "input_true_peak"), peak,
            result_number(&r, "gain_db"), result_number(&r, "limiter_reduction_db"));
    CHECK(before < -25.0);
    CHECK_NEAR(after, -16.0, 0.2);
    CHECK(peak <= -1.0);
    CHECK(result_number(&r, "limited") == 1.0);
    CHECK(result_number(&r, "normalized") == 1.0);
    CHECK(result_number(&r, "limiter_reduction_db") < -3.0);
    signal out;
    collect_output(&r, &in, 0.5, &out);
    /* away from the clicks the output is the input times one gain */
    const double gain = pow(10.0, result_number(&r, "gain_db") / 20.0);
    const uint64_t probe = in.frames / 10; /* far from every click */
    CHECK_NEAR(out.planes[0][probe], in.planes[0][probe] * gain,
               1e-4 + 1e-4 * fabs(in.planes[0][probe] * gain));
    signal_free(&out);
    run_close(&r);
    signal_free(&in);

    /* Without clicks and with room under the ceiling: one gain, no limiter. */
    make_voice(&in, 24000, 8.0, -30.0, 0);
    run_signal(&r, &in, 0.5, (const char *const[]){ "target", "-23", NULL });
    CHECK_INT_EQ(r.status, SPARK_OK);
    CHECK_NEAR(result_number(&r, "output_integrated"), -23.0, 0.05);
    CHECK(result_number(&r, "limited") == 0.0);
    CHECK_NEAR(result_number(&r, "gain_db"),
               -23.0 - result_number(&r, "input_integrated"), 1e-9);
    run_close(&r);
    signal_free(&in);
}

static void test_dual_mono(void)
{
    signal s;
    signal_init(&s, 48000, 1);
    append_level(&s, 10.0, -20.0);
    run plain, dual;
    run_signal(&plain, &s, 1.0, NULL);
    run_signal(&dual, &s, 1.0, (const char *const[]){ "dual_mono", "true", NULL });
    CHECK_INT_EQ(plain.status, SPARK_OK);
    CHECK_INT_EQ(dual.status, SPARK_OK);
    /* a mono sine reads 3 dB under its peak level; dual-mono adds the second speaker */
    CHECK_NEAR(result_number(&plain, "input_integrated"), -23.0, 0.1);
    CHECK_NEAR(result_number(&dual, "input_integrated"), -20.0, 0.1);
    CHECK_NEAR(result_number(&dual, "output_integrated"), -16.0, 0.1);
    run_close(&plain);
    run_close(&dual);
    signal_free(&s);
}

static void test_silence_passes_through(void)
{
    const double levels[] = { -85.0, -INFINITY };
    for (int k = 0; k < 2; k++) {
        signal s;
        signal_init(&s, 16000, 1);
        append_level(&s, 3.0, levels[k]);
        run r;
        fake_log_clear();
        run_signal(&r, &s, 0.25, NULL);
        CHECK_INT_EQ(r.status, SPARK_OK);
        CHECK_STR_CONTAINS(fake_last_log(), "below the silence gate");
        CHECK(result_number(&r, "normalized") == 0.0);
        CHECK(isinf(result_number(&r, "input_integrated")));
        CHECK(result_number(&r, "gain_db") == 0.0);
        signal out;
        collect_output(&r, &s, 0.25, &out);
        CHECK(out.frames == s.frames &&
              memcmp(out.planes[0], s.planes[0], (size_t)s.frames * sizeof(float)) == 0);
        signal_free(&out);
        run_close(&r);
        signal_free(&s);
    }
    /* Shorter than one 400 ms block: nothing to measure, so nothing changes. */
    {
        signal s;
        signal_init(&s, 16000, 1);
        append_level(&s, 0.3, -20.0);
        run r;
        fake_log_clear();
        run_signal(&r, &s, 0.1, NULL);
        CHECK_INT_EQ(r.status, SPARK_OK);
        CHECK_STR_CONTAINS(fake_last_log(), "shorter than one 400 ms loudness block");
        CHECK(result_number(&r, "normalized") == 0.0);
        signal out;
        collect_output(&r, &s, 0.1, &out);
        CHECK(memcmp(out.planes[0], s.planes[0], (size_t)s.frames * sizeof(float)) == 0);
        signal_free(&out);
        run_close(&r);
        signal_free(&s);
    }
    /* Above -70 LUFS but under a raised gate: also left alone. */
    signal s;
    signal_init(&s, 16000, 1);
    append_level(&s, 3.0, -55.0);
    run r;
    run_signal(&r, &s, 1.0, (const char *const[]){ "silence_gate", "-50", NULL });
    CHECK_INT_EQ(r.status, SPARK_OK);
    CHECK(result_number(&r, "normalized") == 0.0);
    CHECK_NEAR(result_number(&r, "input_integrated"), -58.0, 0.2);
    run_close(&r);
    signal_free(&s);
}

/* enabled false: a loud signal passes through bit for bit and is reported as not normalised. */
static void test_disabled_passes_through(void)
{
    signal s;
    signal_init(&s, 16000, 1);
    append_level(&s, 2.0, -8.0);
    run r;
    run_signal(&r, &s, 0.25, (const char *const[]){ "enabled", "false", NULL });
    CHECK_INT_EQ(r.status, SPARK_OK);
    CHECK(result_number(&r, "normalized") == 0.0);
    signal out;
    collect_output(&r, &s, 0.25, &out);
    CHECK(out.frames == s.frames &&
          memcmp(out.planes[0], s.planes[0], (size_t)s.frames * sizeof(float)) == 0);
    signal_free(&out);
    run_close(&r);
    signal_free(&s);
}

static void test_refusals(void)
{
    /* seven channels: no loudspeaker layout to weight them by */
    run r;
    memset(&r, 0, sizeof(r));
    CHECK_INT_EQ(fake_node_open(&r.node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL),
                 SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&r.node, "seven", NULL, &r.job), SPARK_OK);
    spark_packet *p = fake_audio_packet(7, 480, 48000);
    fake_log_clear();
    r.status = fake_job_process(r.job, PORT_IN, p);
    CHECK_INT_EQ(r.status, SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(fake_last_error(), "not 7");
    fake_release(p);
    run_close(&r);

    /* the rate changes within a job */
    memset(&r, 0, sizeof(r));
    CHECK_INT_EQ(fake_node_open(&r.node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL),
                 SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&r.node, "rates", NULL, &r.job), SPARK_OK);
    spark_packet *a = fake_audio_packet(1, 480, 48000);
    spark_packet *b = fake_audio_packet(1, 160, 16000);
    b->seq = 1;
    CHECK(fake_job_process(r.job, PORT_IN, a) >= 0);
    fake_log_clear();
    r.status = fake_job_process(r.job, PORT_IN, b);
    CHECK_INT_EQ(r.status, SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(fake_last_error(), "16000 Hz");
    fake_release(a);
    fake_release(b);
    run_close(&r);

    /* a gate above the target makes no sense */
    memset(&r, 0, sizeof(r));
    CHECK_INT_EQ(fake_node_open(&r.node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL),
                 SPARK_OK);
    fake_log_clear();
    CHECK_INT_EQ(fake_job_begin(&r.node, "gate",
                                (const char *const[]){ "target", "-30", "silence_gate", "-25",
                                                       NULL },
                                &r.job),
                 SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "silence_gate");
    fake_job_free(r.job);
    r.job = NULL;
    run_close(&r);

    /* a job with no audio emits nothing and fails nothing */
    memset(&r, 0, sizeof(r));
    CHECK_INT_EQ(fake_node_open(&r.node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL),
                 SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&r.node, "empty", NULL, &r.job), SPARK_OK);
    r.status = fake_job_process(r.job, PORT_IN, NULL);
    CHECK_INT_EQ(r.status, SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(r.job, PORT_OUT), 0);
    run_close(&r);
}

/* Jobs with different targets on one instance from several threads at once. */
typedef struct concurrent_job {
    fake_node *node;
    const signal *input;
    double target;
    double got_lufs;
    spark_status status;
} concurrent_job;

static void *run_concurrent_job(void *argument)
{
    concurrent_job *c = argument;
    char target_text[32];
    snprintf(target_text, sizeof(target_text), "%g", c->target);
    fake_job *job = NULL;
    c->status = fake_job_begin(c->node, target_text,
                               (const char *const[]){ "target", target_text, NULL }, &job);
    spark_packet *p = fake_audio_packet(1, c->input->frames, c->input->rate);
    memcpy(p->data.audio.planes[0], c->input->planes[0],
           (size_t)c->input->frames * sizeof(float));
    if (c->status >= 0)
        c->status = fake_job_process(job, PORT_IN, p);
    fake_release(p);
    if (c->status >= 0)
        c->status = fake_job_process(job, PORT_IN, NULL);
    const fake_result *result = job ? fake_job_result(job, "output_integrated") : NULL;
    c->got_lufs = result ? result->number : NAN;
    fake_job_end(job, c->status < 0 ? c->status : SPARK_OK);
    fake_job_free(job);
    return NULL;
}

static void test_concurrent_jobs(void)
{
    signal s;
    make_voice(&s, 16000, 4.0, -20.0, 0);
    fake_node node;
    memset(&node, 0, sizeof(node));
    CHECK_INT_EQ(fake_node_open(&node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL),
                 SPARK_OK);
    concurrent_job jobs[4];
    pthread_t threads[4];
    const double targets[4] = { -30.0, -23.0, -18.0, -14.0 };
    for (int i = 0; i < 4; i++) {
        jobs[i] = (concurrent_job){ .node = &node, .input = &s, .target = targets[i] };
        CHECK_INT_EQ(pthread_create(&threads[i], NULL, run_concurrent_job, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK_INT_EQ(jobs[i].status, SPARK_OK);
        CHECK_NEAR(jobs[i].got_lufs, targets[i], 0.2);
    }
    fake_node_close(&node);
    signal_free(&s);
}

static void test_cancellation(void)
{
    signal s;
    make_voice(&s, 24000, 4.0, -20.0, 1);
    run r;
    memset(&r, 0, sizeof(r));
    CHECK_INT_EQ(fake_node_open(&r.node, fake_plugin_node(&plugin, NODE_ID), NULL, NULL),
                 SPARK_OK);
    CHECK_INT_EQ(fake_job_begin(&r.node, "cancel", NULL, &r.job), SPARK_OK);
    spark_packet *p = fake_audio_packet(1, s.frames, s.rate);
    memcpy(p->data.audio.planes[0], s.planes[0], (size_t)s.frames * sizeof(float));
    CHECK(fake_job_process(r.job, PORT_IN, p) >= 0);
    fake_release(p);
    fake_job_stop(r.job, SPARK_E_CANCELLED);
    r.status = fake_job_process(r.job, PORT_IN, NULL);
    CHECK_INT_EQ(r.status, SPARK_E_CANCELLED);
    CHECK_INT_EQ(fake_job_output_count(r.job, PORT_OUT), 0);
    run_close(&r);
    signal_free(&s);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s loudness-ebur128.so\n", argv[0]);
        return 2;
    }
    const spark_entry *entry = check_load_plugin(&plugin, argv[1], NULL);
    if (!entry)
        return CHECK_DONE();
    CHECK_STR_EQ(entry->name, "loudness-ebur128");
    const spark_node_desc *desc = fake_plugin_node(&plugin, NODE_ID);
    CHECK(desc != NULL);
    if (!desc)
        return CHECK_DONE();
    /* every parameter is usable per job */
    for (uint32_t i = 0; i < desc->param_count; i++)
        CHECK(desc->params[i].flags & SPARK_PARAM_PER_JOB);

    test_tech3341_loudness();
    test_tech3341_true_peak();
    test_tech3342_range();
    test_normalize_report();
    test_dual_mono();
    test_silence_passes_through();
    test_disabled_passes_through();
    test_refusals();
    test_cancellation();
    test_concurrent_jobs();

    CHECK_INT_EQ(fake_live_packets(), 0);
    fake_plugin_unload(&plugin);
    return CHECK_DONE();
}
