#include "sndfile_memory.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Serialises sf_open_virtual with the read of libsndfile's global error state. */
static pthread_mutex_t sndfile_open_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Write buffers start at this size so small files need one allocation. */
#define SNDFILE_MEMORY_MIN_CAPACITY ((sf_count_t)65536)

static sndfile_memory *memory_of(void *user_data)
{
    return (sndfile_memory *)user_data;
}

static const uint8_t *memory_bytes(const sndfile_memory *file)
{
    return file->owned ? file->owned : file->source;
}

static sf_count_t memory_get_filelen(void *user_data)
{
    return memory_of(user_data)->size;
}

static sf_count_t memory_seek(sf_count_t offset, int whence, void *user_data)
{
    sndfile_memory *file = memory_of(user_data);
    sf_count_t base;
    switch (whence) {
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = file->position;
        break;
    case SEEK_END:
        base = file->size;
        break;
    default:
        return -1;
    }
    if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0)
        return -1;
    /* Seeking past the end is allowed; a later write fills the gap with zeros. */
    file->position = base + offset;
    return file->position;
}

static sf_count_t memory_read(void *ptr, sf_count_t count, void *user_data)
{
    sndfile_memory *file = memory_of(user_data);
    if (count <= 0 || file->position >= file->size)
        return 0;
    sf_count_t available = file->size - file->position;
    sf_count_t n = count < available ? count : available;
    memcpy(ptr, memory_bytes(file) + file->position, (size_t)n);
    file->position += n;
    return n;
}

static sf_count_t memory_read_only_write(const void *ptr, sf_count_t count, void *user_data)
{
    (void)ptr;
    (void)count;
    (void)user_data;
    return 0;
}

static int memory_grow(sndfile_memory *file, sf_count_t needed)
{
    if (needed <= file->capacity)
        return 1;
    const sf_count_t limit = (sf_count_t)(SIZE_MAX < (uint64_t)INT64_MAX ? SIZE_MAX : INT64_MAX);
    sf_count_t capacity = file->capacity < SNDFILE_MEMORY_MIN_CAPACITY
                              ? SNDFILE_MEMORY_MIN_CAPACITY
                              : file->capacity;
    while (capacity < needed)
        capacity = capacity > limit / 2 ? limit : capacity * 2;
    uint8_t *bytes = realloc(file->owned, (size_t)capacity);
    if (!bytes)
        return 0;
    file->owned = bytes;
    file->capacity = capacity;
    return 1;
}

static sf_count_t memory_write(const void *ptr, sf_count_t count, void *user_data)
{
    sndfile_memory *file = memory_of(user_data);
    if (count <= 0)
        return 0;
    if (file->position > INT64_MAX - count || !memory_grow(file, file->position + count)) {
        file->out_of_memory = 1;
        return 0;
    }
    if (file->position > file->size)
        memset(file->owned + file->size, 0, (size_t)(file->position - file->size));
    memcpy(file->owned + file->position, ptr, (size_t)count);
    file->position += count;
    if (file->position > file->size)
        file->size = file->position;
    return count;
}

static sf_count_t memory_tell(void *user_data)
{
    return memory_of(user_data)->position;
}

SNDFILE *sndfile_open_virtual_serialised(SF_VIRTUAL_IO *io, int mode, SF_INFO *info,
                                         void *user_data, char *message,
                                         size_t message_capacity)
{
    pthread_mutex_lock(&sndfile_open_mutex);
    SNDFILE *handle = sf_open_virtual(io, mode, info, user_data);
    if (!handle)
        audio_message(message, message_capacity, "%s", sf_strerror(NULL));
    pthread_mutex_unlock(&sndfile_open_mutex);
    return handle;
}

SNDFILE *sndfile_memory_open_read(sndfile_memory *file, const uint8_t *bytes, size_t size,
                                  SF_INFO *info, char *message, size_t message_capacity)
{
    memset(file, 0, sizeof(*file));
    if ((uint64_t)size > (uint64_t)INT64_MAX) {
        audio_message(message, message_capacity, "input of %zu bytes is too large", size);
        return NULL;
    }
    file->source = bytes;
    file->size = (sf_count_t)size;
    memset(info, 0, sizeof(*info)); /* format 0: let libsndfile detect it */
    SF_VIRTUAL_IO read_io = { memory_get_filelen, memory_seek, memory_read,
                              memory_read_only_write, memory_tell };
    return sndfile_open_virtual_serialised(&read_io, SFM_READ, info, file, message,
                                           message_capacity);
}

SNDFILE *sndfile_memory_open_write(sndfile_memory *file, SF_INFO *info, char *message,
                                   size_t message_capacity)
{
    memset(file, 0, sizeof(*file));
    SF_VIRTUAL_IO write_io = { memory_get_filelen, memory_seek, memory_read, memory_write,
                               memory_tell };
    SNDFILE *handle = sndfile_open_virtual_serialised(&write_io, SFM_WRITE, info, file,
                                                      message, message_capacity);
    if (!handle)
        sndfile_memory_release(file);
    return handle;
}

uint8_t *sndfile_memory_take(sndfile_memory *file, size_t *out_size)
{
    uint8_t *bytes = file->owned;
    *out_size = (size_t)file->size;
    file->owned = NULL;
    file->size = file->capacity = file->position = 0;
    return bytes;
}

void sndfile_memory_release(sndfile_memory *file)
{
    free(file->owned);
    memset(file, 0, sizeof(*file));
}
