/* Helpers for the audio-io tests: signals, temporary files, and ffmpeg/ffprobe as the
 * independent judges. Test code only. */
#ifndef AUDIO_IO_TEST_SUPPORT_H
#define AUDIO_IO_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* Fails (returns 0 and says why on stderr) when ffmpeg or ffprobe cannot be run. The audio
 * tests must not pass without their judges. */
int require_ffmpeg_tools(void);

/* A fresh directory under $TMPDIR or /tmp; remove it with remove_temp_dir. Returns 0 on
 * failure. */
int make_temp_dir(char *path, size_t capacity);
void remove_temp_dir(const char *path);

int write_whole_file(const char *path, const void *bytes, size_t size);
/* malloc'd contents, or NULL. */
uint8_t *read_whole_file(const char *path, size_t *out_size);

/* Run a shell command; 1 when it exited with 0. */
int run_command(const char *command);

typedef struct probe_result {
    int sample_rate;
    int channels;
    double duration;
    char codec_name[32];
} probe_result;

/* ffprobe -show_entries stream=sample_rate,channels,codec_name:format=duration -of json,
 * first audio stream. Returns 1 on success. */
int ffprobe_audio(const char *path, probe_result *out);

/* ffmpeg's own decoding of a file as interleaved float32 at the file's rate (48 kHz for
 * Opus) and channel count. malloc'd, or NULL. */
float *ffmpeg_decode_interleaved(const char *path, int channels, size_t *out_frames);

/* Planes of count frames: out[channel][frame] = amplitude * sin(2 pi f t). */
float *make_sine(double frequency, double amplitude, uint32_t rate, size_t frames);

/* Frequency of a periodic signal from its rising zero crossings (interpolated), taken with
 * a stride over interleaved data (stride 1 for a plane). 0 when too few crossings. */
double zero_crossing_frequency(const float *samples, size_t frames, size_t stride,
                               uint32_t rate);

double rms(const float *samples, size_t frames, size_t stride);

#endif
