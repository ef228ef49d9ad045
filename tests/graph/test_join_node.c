/* The built-in join node on the fake host: two pieces (runs of one seq), the first in two
 * packets. Expected samples are written out here from the node's rules: a fade over
 * fade_ms at the end of a piece that another follows and at the start of that next piece,
 * then gap seconds of silence between them, nothing at the ends of the job. It streams:
 * each packet goes out at once but for its last fade_ms, which wait to learn whether a
 * piece ends there; the piece's seq numbers the output, and its last packet is flagged. */
#include <spark/plugin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fake_host.h"

extern const spark_node_desc sp_builtin_join_desc;

enum { RATE = 1000, FADE = 5, GAP = 10, FRAMES = 100 };

static spark_packet *constant(float value, int64_t seq)
{
    spark_packet *p = fake_audio_packet(1, FRAMES, RATE);
    for (size_t i = 0; i < FRAMES; i++)
        p->data.audio.planes[0][i] = value;
    p->seq = seq;
    return p;
}

static size_t out_frames(const fake_job *job)
{
    size_t n = 0;
    for (size_t k = 0; k < fake_job_output_count(job, 1); k++)
        n += fake_job_output(job, 1, k)->data.audio.frames;
    return n;
}

int main(void)
{
    fake_node node;
    const char *settings[] = {"gap", "0.01", "fade_ms", "5", NULL};
    CHECK_INT_EQ(fake_node_open(&node, &sp_builtin_join_desc, settings, NULL), SPARK_OK);
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_job_begin(&node, "join", NULL, &job), SPARK_OK);
    const float values[3] = {0.5f, 0.25f, -1.0f};
    const int64_t seqs[3] = {7, 7, 9};
    for (int k = 0; k < 3; k++) {
        spark_packet *p = constant(values[k], seqs[k]);
        CHECK_INT_EQ(fake_job_process(job, 0, p), SPARK_OK);
        fake_release(p);
        /* all but the last FADE frames of what came in are out; a piece's end adds its gap */
        CHECK_INT_EQ(out_frames(job), (size_t)((k + 1) * FRAMES - FADE + (k == 2 ? GAP : 0)));
    }
    CHECK_INT_EQ(fake_job_process(job, 0, NULL), SPARK_OK);
    const size_t total = 3 * FRAMES + GAP;
    CHECK_INT_EQ(out_frames(job), total);

    float *want = calloc(total, sizeof *want), *got = calloc(total, sizeof *got);
    for (size_t i = 0; i < FRAMES; i++) {
        want[i] = 0.5f;
        want[FRAMES + i] = 0.25f;
        want[2 * FRAMES + GAP + i] = -1.0f;
    }
    for (size_t i = 0; i < FADE; i++) {
        float g = (float)(i + 1) / (FADE + 1);
        want[2 * FRAMES - 1 - i] *= g;             /* the first piece fades out */
        want[2 * FRAMES + GAP + i] *= g;           /* the second fades in */
    }
    size_t at = 0;
    int64_t pieces_ended = 0;
    for (size_t k = 0; k < fake_job_output_count(job, 1); k++) {
        const spark_packet *p = fake_job_output(job, 1, k);
        const spark_audio_data *a = &p->data.audio;
        CHECK_INT_EQ(a->timestamp, (int64_t)at);
        CHECK_INT_EQ(p->seq, pieces_ended); /* output seq numbers the pieces from 0 */
        if (spark_packet_flags(p) & SPARK_PACKET_PIECE_END)
            pieces_ended++;
        for (size_t i = 0; i < a->frames && at + i < total; i++)
            got[at + i] = a->planes[0][i];
        at += a->frames;
    }
    CHECK_INT_EQ(pieces_ended, 2);
    double worst = 0;
    for (size_t i = 0; i < total; i++)
        worst = fmax(worst, fabs((double)got[i] - want[i]));
    CHECK(worst < 1e-7);
    free(want);
    free(got);
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);

    /* pieces of another rate or channel count than the first are refused, naming both */
    CHECK_INT_EQ(fake_job_begin(&node, "mixed", NULL, &job), SPARK_OK);
    spark_packet *a = constant(0.1f, 0), *b = fake_audio_packet(2, FRAMES, RATE);
    b->seq = 1;
    CHECK_INT_EQ(fake_job_process(job, 0, a), SPARK_OK);
    fake_log_clear();
    CHECK_INT_EQ(fake_job_process(job, 0, b), SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(fake_last_error(), "2 channel(s)");
    fake_release(a);
    fake_release(b);
    fake_job_end(job, SPARK_E_FORMAT_MISMATCH);
    fake_job_free(job);
    fake_node_close(&node);
    CHECK_INT_EQ(fake_live_packets(), 0);
    return CHECK_DONE();
}
