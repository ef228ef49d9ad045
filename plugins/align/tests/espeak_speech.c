/* espeak_speech.c - libespeak-ng in synchronous mode; the callback appends samples and
 * records word events (their audio_position is in milliseconds from the start). */
#include "espeak_speech.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <espeak-ng/speak_lib.h>
#include <sndfile.h>

static int espeak_rate;
static espeak_speech *current;
static int out_of_memory;

static int collect(short *wav, int count, espeak_EVENT *events)
{
    espeak_speech *s = current;
    if (wav && count > 0) {
        float *grown = realloc(s->samples, (s->frames + (size_t)count) * sizeof *grown);
        if (!grown) {
            out_of_memory = 1;
            return 1;
        }
        s->samples = grown;
        for (int i = 0; i < count; i++)
            s->samples[s->frames + (size_t)i] = (float)wav[i] / 32768.0f;
        s->frames += (size_t)count;
    }
    for (; events && events->type != espeakEVENT_LIST_TERMINATED; events++) {
        if (events->type != espeakEVENT_WORD)
            continue;
        espeak_word *grown = realloc(s->words, (s->word_count + 1) * sizeof *grown);
        if (!grown) {
            out_of_memory = 1;
            return 1;
        }
        s->words = grown;
        /* text_position counts characters from 1; turned into bytes by the caller */
        s->words[s->word_count++] = (espeak_word){(size_t)events->text_position,
                                                 events->audio_position / 1000.0};
    }
    return 0;
}

int espeak_speech_open(const char *voice)
{
    espeak_rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 200, NULL, 0);
    if (espeak_rate <= 0) {
        fprintf(stderr, "espeak-ng could not start (is espeak-ng-data installed?)\n");
        return -1;
    }
    espeak_SetSynthCallback(collect);
    if (espeak_SetVoiceByName(voice) != EE_OK) {
        fprintf(stderr, "espeak-ng has no voice '%s'\n", voice);
        return -1;
    }
    return 0;
}

void espeak_speech_close(void)
{
    espeak_Terminate();
}

/* Byte offset of the character with 1-based position pos. */
static size_t byte_of_char(const char *utf8, size_t pos)
{
    size_t chars = 0, i = 0;
    for (; utf8[i]; i++) {
        if (((unsigned char)utf8[i] & 0xC0) != 0x80) {
            if (++chars == pos)
                return i;
        }
    }
    return i;
}

int espeak_speech_say(const char *utf8, espeak_speech *out)
{
    memset(out, 0, sizeof *out);
    out->rate = (unsigned)espeak_rate;
    current = out;
    out_of_memory = 0;
    espeak_ERROR err = espeak_Synth(utf8, strlen(utf8) + 1, 0, POS_CHARACTER, 0,
                                    espeakCHARS_UTF8, NULL, NULL);
    if (err == EE_OK)
        err = espeak_Synchronize();
    current = NULL;
    if (err != EE_OK || out_of_memory) {
        fprintf(stderr, "espeak-ng failed on \"%s\"\n", utf8);
        espeak_speech_free(out);
        return -1;
    }
    for (size_t w = 0; w < out->word_count; w++)
        out->words[w].byte_offset = byte_of_char(utf8, out->words[w].byte_offset);
    return 0;
}

void espeak_speech_free(espeak_speech *speech)
{
    free(speech->samples);
    free(speech->words);
    memset(speech, 0, sizeof *speech);
}

int espeak_speech_write(const espeak_speech *speech, const char *wav_path,
                        const char *words_path)
{
    SF_INFO info = {.samplerate = (int)speech->rate, .channels = 1,
                    .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *f = sf_open(wav_path, SFM_WRITE, &info);
    if (!f) {
        fprintf(stderr, "cannot write %s: %s\n", wav_path, sf_strerror(NULL));
        return -1;
    }
    sf_count_t n = sf_writef_float(f, speech->samples, (sf_count_t)speech->frames);
    sf_close(f);
    if (n != (sf_count_t)speech->frames) {
        fprintf(stderr, "short write to %s\n", wav_path);
        return -1;
    }
    FILE *w = fopen(words_path, "w");
    if (!w) {
        perror(words_path);
        return -1;
    }
    for (size_t i = 0; i < speech->word_count; i++)
        fprintf(w, "%.3f %zu\n", speech->words[i].start, speech->words[i].byte_offset);
    return fclose(w) == 0 ? 0 : -1;
}
