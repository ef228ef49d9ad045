/* A growable float32 planar buffer: channels planes of frames samples each. Used to collect
 * decoded, resampled or to-be-encoded audio. No SDK dependency. */
#ifndef AUDIO_IO_PLANAR_BUFFER_H
#define AUDIO_IO_PLANAR_BUFFER_H

#include <stdint.h>

#include "audio_status.h"

/* libsndfile's own limit; also keeps every size computation far from overflow. */
#define PLANAR_BUFFER_MAX_CHANNELS 1024u

typedef struct planar_buffer {
    float **planes;    /* [channels][capacity] */
    uint32_t channels;
    uint64_t frames;   /* valid frames in every plane */
    uint64_t capacity; /* allocated frames in every plane */
} planar_buffer;

/* Empty buffer with 1..PLANAR_BUFFER_MAX_CHANNELS channels; allocates nothing yet. */
audio_status planar_buffer_init(planar_buffer *buffer, uint32_t channels);

/* Make room for at least `frames` frames in total (existing data is kept). */
audio_status planar_buffer_reserve(planar_buffer *buffer, uint64_t frames);

/* Append `frames` frames from planes[buffer->channels]. */
audio_status planar_buffer_append(planar_buffer *buffer, const float *const *planes,
                                  uint64_t frames);

/* Forget the frames, keep the allocation. */
void planar_buffer_clear(planar_buffer *buffer);

/* Free everything; the buffer must be initialised again before reuse. NULL-safe fields. */
void planar_buffer_free(planar_buffer *buffer);

#endif
