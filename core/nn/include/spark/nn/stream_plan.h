/*
 * spark/nn/stream_plan.h - when a streaming decoder (codec prenet, vocoder) decodes the next
 * range of a growing piece (a sentence whose frames keep arriving).
 *
 * Each range [done, end) is decoded from a window with `lookahead` frames after it (and as
 * many before), so once lookahead covers the model's receptive field a range comes out as the
 * whole-piece decode would give it. The ranges depend only on the order in which frames
 * arrive, never on timing, so a streamed job and the same job unstreamed produce the same
 * samples. The job's first range is short (audio starts early), later ones grow (the context
 * is paid for less often).
 */
#ifndef SPARK_NN_STREAM_PLAN_H
#define SPARK_NN_STREAM_PLAN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct nn_stream_plan {
    size_t lookahead;   /* frames after a range that its decode needs */
    size_t first_chunk; /* frames of the job's first range */
    size_t chunk;       /* the most frames of a later range; 0 (either): each piece whole,
                           once it is complete */
} nn_stream_plan;

/* Frames of the next range when `emitted` frames of the job are out: first_chunk, then as
 * many as are out (so the audio ahead of a listener at least doubles while the decoder needs
 * less than real time for them), up to chunk. 0: no limit. */
static inline size_t nn_stream_range_frames(const nn_stream_plan *plan, size_t emitted)
{
    if (plan->chunk == 0 || plan->first_chunk == 0)
        return 0;
    size_t want = emitted > plan->first_chunk ? emitted : plan->first_chunk;
    return emitted == 0 ? plan->first_chunk : want < plan->chunk ? want : plan->chunk;
}

/* The end of the next range to decode from a piece of `available` frames of which `done` are
 * out; `done` when it is better to wait. ending: no more frames will come. emitted: frames of
 * the job out so far. Until the piece ends at least one frame is held back, so its last range
 * is never empty and can carry the piece's end. */
static inline size_t nn_stream_next_end(const nn_stream_plan *plan, size_t done,
                                        size_t available, bool ending, size_t emitted)
{
    size_t want = nn_stream_range_frames(plan, emitted);
    if (want == 0) /* no streaming: the piece whole, once it is complete */
        return ending ? available : done;
    if (ending)
        return available - done > want ? done + want : available;
    size_t hold = plan->lookahead ? plan->lookahead : 1;
    if (available < done + want + hold)
        return done;
    return done + want;
}

#endif
