#include "planar_buffer.h"

#include <stdlib.h>
#include <string.h>

/* Initial allocation, so that appending many small pieces does not reallocate each time. */
#define PLANAR_BUFFER_MIN_CAPACITY 4096u

audio_status planar_buffer_init(planar_buffer *buffer, uint32_t channels)
{
    memset(buffer, 0, sizeof(*buffer));
    if (channels == 0 || channels > PLANAR_BUFFER_MAX_CHANNELS)
        return AUDIO_ERR_INVALID_ARGUMENT;
    buffer->planes = calloc(channels, sizeof(*buffer->planes));
    if (!buffer->planes)
        return AUDIO_ERR_NO_MEMORY;
    buffer->channels = channels;
    return AUDIO_OK;
}

audio_status planar_buffer_reserve(planar_buffer *buffer, uint64_t frames)
{
    if (frames <= buffer->capacity)
        return AUDIO_OK;
    const uint64_t max_frames = SIZE_MAX / sizeof(float);
    if (frames > max_frames)
        return AUDIO_ERR_NO_MEMORY;
    /* Grow geometrically so that appends are amortised O(1). */
    uint64_t capacity = buffer->capacity < PLANAR_BUFFER_MIN_CAPACITY
                            ? PLANAR_BUFFER_MIN_CAPACITY
                            : buffer->capacity;
    while (capacity < frames)
        capacity = capacity > max_frames / 2 ? max_frames : capacity * 2;
    for (uint32_t channel = 0; channel < buffer->channels; channel++) {
        float *plane = realloc(buffer->planes[channel], (size_t)capacity * sizeof(float));
        if (!plane)
            return AUDIO_ERR_NO_MEMORY; /* planes already grown stay valid and larger */
        buffer->planes[channel] = plane;
    }
    buffer->capacity = capacity;
    return AUDIO_OK;
}

audio_status planar_buffer_append(planar_buffer *buffer, const float *const *planes,
                                  uint64_t frames)
{
    if (frames == 0)
        return AUDIO_OK;
    if (frames > UINT64_MAX - buffer->frames)
        return AUDIO_ERR_NO_MEMORY;
    audio_status status = planar_buffer_reserve(buffer, buffer->frames + frames);
    if (status != AUDIO_OK)
        return status;
    for (uint32_t channel = 0; channel < buffer->channels; channel++)
        memcpy(buffer->planes[channel] + buffer->frames, planes[channel],
               (size_t)frames * sizeof(float));
    buffer->frames += frames;
    return AUDIO_OK;
}

void planar_buffer_clear(planar_buffer *buffer)
{
    buffer->frames = 0;
}

void planar_buffer_free(planar_buffer *buffer)
{
    if (buffer->planes) {
        for (uint32_t channel = 0; channel < buffer->channels; channel++)
            free(buffer->planes[channel]);
        free(buffer->planes);
    }
    memset(buffer, 0, sizeof(*buffer));
}
