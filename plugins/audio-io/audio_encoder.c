#include "audio_encoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

#include "planar_buffer.h"
#include "sndfile_memory.h"

#define ENCODER_BLOCK_FRAMES AUDIO_ENCODE_BLOCK_FRAMES

typedef struct file_format_info {
    const char *name;
    const char *media_type;
    const char *file_name;
    int sndfile_major;
} file_format_info;

/* Indexed by audio_file_format. */
static const file_format_info file_formats[] = {
    [AUDIO_FILE_WAV] = { "wav", "audio/wav", "audio.wav", SF_FORMAT_WAV },
    [AUDIO_FILE_FLAC] = { "flac", "audio/flac", "audio.flac", SF_FORMAT_FLAC },
    [AUDIO_FILE_OGG_VORBIS] = { "ogg", "audio/ogg", "audio.ogg", SF_FORMAT_OGG },
    [AUDIO_FILE_OGG_OPUS] = { "opus", "audio/ogg; codecs=opus", "audio.opus", SF_FORMAT_OGG },
    [AUDIO_FILE_MP3] = { "mp3", "audio/mpeg", "audio.mp3", SF_FORMAT_MPEG },
    [AUDIO_FILE_PCM] = { "pcm", "audio/pcm", "audio.pcm", SF_FORMAT_RAW },
};
#define FILE_FORMAT_COUNT (sizeof(file_formats) / sizeof(file_formats[0]))

static const char *const sample_format_names[] = {
    [AUDIO_SAMPLE_PCM16] = "pcm16",
    [AUDIO_SAMPLE_PCM24] = "pcm24",
    [AUDIO_SAMPLE_FLOAT] = "float",
};
#define SAMPLE_FORMAT_COUNT (sizeof(sample_format_names) / sizeof(sample_format_names[0]))

static const uint32_t opus_rates[] = { 8000, 12000, 16000, 24000, 48000 };
static const uint32_t mp3_rates[] = { 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100,
                                      48000 };

static int valid_file_format(audio_file_format format)
{
    return (unsigned)format < FILE_FORMAT_COUNT;
}

static int valid_sample_format(audio_sample_format format)
{
    return (unsigned)format < SAMPLE_FORMAT_COUNT;
}

int audio_file_format_from_name(const char *name, audio_file_format *out_format)
{
    for (size_t i = 0; name && i < FILE_FORMAT_COUNT; i++) {
        if (strcmp(name, file_formats[i].name) == 0) {
            *out_format = (audio_file_format)i;
            return 1;
        }
    }
    return 0;
}

const char *audio_file_format_name(audio_file_format format)
{
    return valid_file_format(format) ? file_formats[format].name : "unknown";
}

const char *audio_file_format_media_type(audio_file_format format)
{
    return valid_file_format(format) ? file_formats[format].media_type
                                     : "application/octet-stream";
}

const char *audio_file_format_file_name(audio_file_format format)
{
    return valid_file_format(format) ? file_formats[format].file_name : "audio.bin";
}

int audio_sample_format_from_name(const char *name, audio_sample_format *out_format)
{
    for (size_t i = 0; name && i < SAMPLE_FORMAT_COUNT; i++) {
        if (strcmp(name, sample_format_names[i]) == 0) {
            *out_format = (audio_sample_format)i;
            return 1;
        }
    }
    return 0;
}

const char *audio_sample_format_name(audio_sample_format format)
{
    return valid_sample_format(format) ? sample_format_names[format] : "unknown";
}

audio_status audio_encode_check_settings(const audio_encode_settings *settings, char *message,
                                         size_t message_capacity)
{
    if (!valid_file_format(settings->format) || !valid_sample_format(settings->sample_format)) {
        audio_message(message, message_capacity, "unknown format or sample format");
        return AUDIO_ERR_INVALID_ARGUMENT;
    }
    if (!(settings->quality >= 0.0 && settings->quality <= 1.0)) {
        audio_message(message, message_capacity, "quality %g is outside 0..1", settings->quality);
        return AUDIO_ERR_INVALID_ARGUMENT;
    }
    const char *format = audio_file_format_name(settings->format);
    switch (settings->sample_format) {
    case AUDIO_SAMPLE_PCM16:
        return AUDIO_OK; /* the default; lossy formats encode from float regardless */
    case AUDIO_SAMPLE_PCM24:
        if (settings->format == AUDIO_FILE_WAV || settings->format == AUDIO_FILE_FLAC ||
            settings->format == AUDIO_FILE_PCM)
            return AUDIO_OK;
        audio_message(message, message_capacity,
                      "sample_format 'pcm24' is only available with format 'wav', 'flac' or "
                      "'pcm', not '%s'",
                      format);
        return AUDIO_ERR_INVALID_ARGUMENT;
    case AUDIO_SAMPLE_FLOAT:
        if (settings->format == AUDIO_FILE_WAV || settings->format == AUDIO_FILE_PCM)
            return AUDIO_OK;
        audio_message(message, message_capacity,
                      "sample_format 'float' is only available with format 'wav' or 'pcm', "
                      "not '%s'",
                      format);
        return AUDIO_ERR_INVALID_ARGUMENT;
    }
    return AUDIO_ERR_INVALID_ARGUMENT;
}

static int rate_in(uint32_t rate, const uint32_t *rates, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (rates[i] == rate)
            return 1;
    return 0;
}

/* "8000, 12000, 16000" */
static void format_rates(char *text, size_t capacity, const uint32_t *rates, size_t count)
{
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < count && used < capacity; i++) {
        int written = snprintf(text + used, capacity - used, "%s%u", i ? ", " : "", rates[i]);
        if (written < 0)
            break;
        used += (size_t)written;
    }
}

audio_status audio_encode_check_stream(const audio_encode_settings *settings, uint32_t rate,
                                       uint32_t channels, char *message,
                                       size_t message_capacity)
{
    const char *format = audio_file_format_name(settings->format);
    if (rate == 0 || rate > INT32_MAX || channels == 0 ||
        channels > PLANAR_BUFFER_MAX_CHANNELS) {
        audio_message(message, message_capacity,
                      "cannot encode %u Hz, %u channel(s) audio as %s", rate, channels, format);
        return AUDIO_ERR_INVALID_ARGUMENT;
    }
    const uint32_t *rates = NULL;
    size_t rate_count = 0;
    if (settings->format == AUDIO_FILE_OGG_OPUS) {
        rates = opus_rates;
        rate_count = sizeof(opus_rates) / sizeof(opus_rates[0]);
    } else if (settings->format == AUDIO_FILE_MP3) {
        rates = mp3_rates;
        rate_count = sizeof(mp3_rates) / sizeof(mp3_rates[0]);
    }
    if (rates && !rate_in(rate, rates, rate_count)) {
        char allowed[128];
        format_rates(allowed, sizeof(allowed), rates, rate_count);
        audio_message(message, message_capacity,
                      "%s cannot encode audio at %u Hz; it accepts only %s Hz (resample first)",
                      format, rate, allowed);
        return AUDIO_ERR_UNSUPPORTED;
    }
    if (settings->format == AUDIO_FILE_MP3 && channels > 2) {
        audio_message(message, message_capacity,
                      "mp3 cannot encode %u channels; it accepts 1 or 2", channels);
        return AUDIO_ERR_UNSUPPORTED;
    }
    return AUDIO_OK;
}

void audio_encode_media_type(const audio_encode_settings *settings, uint32_t rate,
                             uint32_t channels, char *text, size_t capacity)
{
    if (settings->format != AUDIO_FILE_PCM) {
        snprintf(text, capacity, "%s", audio_file_format_media_type(settings->format));
        return;
    }
    const char *layout = settings->sample_format == AUDIO_SAMPLE_FLOAT   ? "f32le"
                         : settings->sample_format == AUDIO_SAMPLE_PCM24 ? "s24le"
                                                                         : "s16le";
    snprintf(text, capacity, "audio/pcm; format=%s; rate=%u; channels=%u", layout, rate,
             channels);
}

int audio_encode_sndfile_format(const audio_encode_settings *settings)
{
    int major = file_formats[settings->format].sndfile_major;
    if (settings->format == AUDIO_FILE_PCM)
        major |= SF_ENDIAN_LITTLE; /* raw data says nothing of its byte order: fix it */
    switch (settings->format) {
    case AUDIO_FILE_OGG_VORBIS:
        return major | SF_FORMAT_VORBIS;
    case AUDIO_FILE_OGG_OPUS:
        return major | SF_FORMAT_OPUS;
    case AUDIO_FILE_MP3:
        return major | SF_FORMAT_MPEG_LAYER_III;
    case AUDIO_FILE_WAV:
    case AUDIO_FILE_FLAC:
    case AUDIO_FILE_PCM:
        break;
    }
    switch (settings->sample_format) {
    case AUDIO_SAMPLE_PCM24:
        return major | SF_FORMAT_PCM_24;
    case AUDIO_SAMPLE_FLOAT:
        return major | SF_FORMAT_FLOAT;
    case AUDIO_SAMPLE_PCM16:
        break;
    }
    return major | SF_FORMAT_PCM_16;
}

/* Encoder commands must come before the first write. */
audio_status audio_encode_configure_handle(SNDFILE *handle, const audio_encode_settings *settings,
                                           char *message, size_t message_capacity)
{
    const char *format = audio_file_format_name(settings->format);
    int integer_pcm = (settings->format == AUDIO_FILE_WAV || settings->format == AUDIO_FILE_FLAC ||
                       settings->format == AUDIO_FILE_PCM) &&
                      settings->sample_format != AUDIO_SAMPLE_FLOAT;
    if (integer_pcm) {
        /* Without clipping, float samples beyond +-1 wrap around in integer PCM. */
        sf_command(handle, SFC_SET_CLIPPING, NULL, SF_TRUE);
    }
    double quality = settings->quality;
    switch (settings->format) {
    case AUDIO_FILE_WAV:
    case AUDIO_FILE_PCM:
        return AUDIO_OK;
    case AUDIO_FILE_FLAC:
        /* quality is the compression level: 0 fastest, 1 smallest. */
        if (sf_command(handle, SFC_SET_COMPRESSION_LEVEL, &quality, sizeof(quality)) != SF_TRUE)
            break;
        return AUDIO_OK;
    case AUDIO_FILE_MP3: {
        /* The quality first: libsndfile's LAME glue re-applies it when the mode changes, and
         * with no quality set yet that re-application reports failure. */
        if (sf_command(handle, SFC_SET_VBR_ENCODING_QUALITY, &quality, sizeof(quality)) !=
            SF_TRUE)
            break;
        int mode = SF_BITRATE_MODE_VARIABLE;
        if (sf_command(handle, SFC_SET_BITRATE_MODE, &mode, sizeof(mode)) != SF_TRUE)
            break;
        return AUDIO_OK;
    }
    case AUDIO_FILE_OGG_VORBIS:
    case AUDIO_FILE_OGG_OPUS:
        if (sf_command(handle, SFC_SET_VBR_ENCODING_QUALITY, &quality, sizeof(quality)) !=
            SF_TRUE)
            break;
        return AUDIO_OK;
    }
    audio_message(message, message_capacity, "%s encoder rejected quality %g: %s", format,
                  settings->quality, sf_strerror(handle));
    return AUDIO_ERR_CODEC;
}

audio_status audio_encode_write_frames(SNDFILE *handle, const float *const *planes,
                                       uint32_t channels, uint64_t frames, char *message,
                                       size_t message_capacity)
{
    float *interleaved = malloc((size_t)ENCODER_BLOCK_FRAMES * channels * sizeof(float));
    if (!interleaved) {
        audio_message(message, message_capacity, "out of memory");
        return AUDIO_ERR_NO_MEMORY;
    }
    audio_status status = AUDIO_OK;
    for (uint64_t start = 0; start < frames;) {
        uint64_t block = frames - start;
        if (block > ENCODER_BLOCK_FRAMES)
            block = ENCODER_BLOCK_FRAMES;
        for (uint64_t frame = 0; frame < block; frame++)
            for (uint32_t channel = 0; channel < channels; channel++)
                interleaved[frame * channels + channel] = planes[channel][start + frame];
        sf_count_t written = sf_writef_float(handle, interleaved, (sf_count_t)block);
        if (written != (sf_count_t)block) {
            audio_message(message, message_capacity, "writing audio failed: %s",
                          sf_strerror(handle));
            status = AUDIO_ERR_CODEC;
            break;
        }
        start += block;
    }
    free(interleaved);
    return status;
}

audio_status audio_encode(const audio_encode_settings *settings, const float *const *planes,
                          uint32_t channels, uint64_t frames, uint32_t rate,
                          uint8_t **out_bytes, size_t *out_size, char *message,
                          size_t message_capacity)
{
    *out_bytes = NULL;
    *out_size = 0;
    audio_status status = audio_encode_check_settings(settings, message, message_capacity);
    if (status == AUDIO_OK)
        status = audio_encode_check_stream(settings, rate, channels, message, message_capacity);
    if (status != AUDIO_OK)
        return status;
    if (frames > (uint64_t)INT64_MAX) {
        audio_message(message, message_capacity, "too many frames (%llu)",
                      (unsigned long long)frames);
        return AUDIO_ERR_INVALID_ARGUMENT;
    }

    const char *format = audio_file_format_name(settings->format);
    SF_INFO info;
    memset(&info, 0, sizeof(info));
    info.samplerate = (int)rate;
    info.channels = (int)channels;
    info.format = audio_encode_sndfile_format(settings);
    if (!sf_format_check(&info)) {
        audio_message(message, message_capacity,
                      "libsndfile cannot write %s (%s) at %u Hz with %u channel(s)", format,
                      audio_sample_format_name(settings->sample_format), rate, channels);
        return AUDIO_ERR_UNSUPPORTED;
    }

    sndfile_memory file;
    char reason[256];
    SNDFILE *handle = sndfile_memory_open_write(&file, &info, reason, sizeof(reason));
    if (!handle) {
        audio_message(message, message_capacity,
                      "cannot start a %s encoder for %u Hz, %u channel(s): %s", format, rate,
                      channels, reason);
        return AUDIO_ERR_UNSUPPORTED;
    }
    status = audio_encode_configure_handle(handle, settings, message, message_capacity);
    if (status == AUDIO_OK)
        status = audio_encode_write_frames(handle, planes, channels, frames, message, message_capacity);
    /* sf_close finishes the file (headers, last pages, LAME tag) and reports a failure. */
    int close_error = sf_close(handle);
    if (status == AUDIO_OK && file.out_of_memory) {
        audio_message(message, message_capacity, "out of memory while encoding %s", format);
        status = AUDIO_ERR_NO_MEMORY;
    }
    if (status == AUDIO_OK && close_error != SF_ERR_NO_ERROR) {
        audio_message(message, message_capacity, "finishing the %s file failed: %s", format,
                      sf_error_number(close_error));
        status = AUDIO_ERR_CODEC;
    }
    if (status != AUDIO_OK) {
        sndfile_memory_release(&file);
        return status;
    }
    *out_bytes = sndfile_memory_take(&file, out_size);
    if (!*out_bytes) {
        audio_message(message, message_capacity, "the %s encoder produced no bytes", format);
        return AUDIO_ERR_CODEC;
    }
    return AUDIO_OK;
}
