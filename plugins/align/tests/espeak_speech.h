/* espeak_speech.h - speech from libespeak-ng with the place of every word, for tests: the
 * synthesis callback collects the samples, and its espeakEVENT_WORD events say where in the
 * audio each word starts. */
#ifndef ALIGN_TEST_ESPEAK_SPEECH_H
#define ALIGN_TEST_ESPEAK_SPEECH_H

#include <stddef.h>

typedef struct espeak_word {
    size_t byte_offset;  /* the word's first byte in the text */
    double start;        /* seconds from the first sample */
} espeak_word;

typedef struct espeak_speech {
    float *samples;      /* mono */
    size_t frames;
    unsigned rate;
    espeak_word *words;
    size_t word_count;
} espeak_speech;

/* Once per process; voice e.g. "en". Returns 0, or -1 with the reason on stderr. */
int espeak_speech_open(const char *voice);
void espeak_speech_close(void);
/* Synthesises utf8 text. Returns 0, or -1 with the reason on stderr. */
int espeak_speech_say(const char *utf8, espeak_speech *out);
void espeak_speech_free(espeak_speech *speech);

/* Writes the samples as 16-bit WAV and "start byte_offset" lines for the words. */
int espeak_speech_write(const espeak_speech *speech, const char *wav_path,
                        const char *words_path);

#endif
