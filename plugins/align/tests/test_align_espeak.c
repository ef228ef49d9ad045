/* Acceptance: word starts found by the aligner against the word starts espeak-ng reports
 * for its own speech. Each sentence is synthesised, written as WAV with its reference word
 * starts, read back, aligned, and every aligner word is compared with the espeak word that
 * starts inside it. At least 85% of words must be within 120 ms; the median and the 90th
 * percentile of the errors are printed. */
#include "espeak_speech.h"
#include "speech_activity.h"
#include "word_aligner.h"
#include "word_units.h"

#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sndfile.h>

static const char *const sentences[] = {
    "Hello there.",
    "Yes.",
    "Good morning, everyone.",
    "The quick brown fox jumps over the lazy dog.",
    "Where are you going?",
    "Stop right there!",
    "I think, therefore I am.",
    "She sells sea shells by the sea shore.",
    "It was the best of times; it was the worst of times.",
    "Please call me back when you get a chance.",
    "The meeting starts at nine, not ten.",
    "Would you like tea, coffee, or water?",
    "Nobody expected the results to be so clear.",
    "We walked for hours along the quiet river.",
    "My grandmother baked bread every Sunday morning.",
    "Turn left at the second light, then keep going straight.",
    "Science is a way of thinking, much more than a body of knowledge.",
    "Do not forget your umbrella.",
    "Wow, that was incredible!",
    "The train was late again.",
    "After the storm, the streets were covered with leaves and broken branches.",
    "Could you repeat that, please?",
    "Music fills the empty spaces between our words.",
    "He opened the door slowly and looked inside.",
    "Every child deserves a good education.",
    "Well, I suppose we could try again tomorrow.",
    "The library closes early on holidays.",
    "Fresh vegetables are cheaper at the market.",
    "Why is the sky blue?",
    "Run!",
    "Keep calm and carry on.",
    "They built a small cabin near the edge of the forest.",
    "The experiment failed, but we learned a great deal from it.",
    "Honestly, I have no idea what happened.",
    "Bring a pencil, an eraser, and a ruler to the exam.",
    "The cat sat quietly on the warm windowsill.",
    "Numbers like twelve and forty seven are easy to read.",
    "Our flight departs in three hours.",
    "Listen carefully: the instructions will not be repeated.",
    "The old lighthouse still guides ships through the fog.",
    "Thank you very much for your help.",
    "Is this the right way to the station?",
    "Rain is expected later in the afternoon.",
    "Patience is a virtue, or so they say.",
    "Technology changes faster than most people can follow.",
    "We should leave now; otherwise we will miss the bus.",
    "A journey of a thousand miles begins with a single step.",
    "Please remember to turn off the lights.",
    "The painting was sold for an enormous amount of money.",
    "Actually, the answer is much simpler than you think.",
    "Birds were singing in the garden at dawn.",
    "How many languages do you speak?",
    "The committee will announce its decision next week.",
    "Careful, the floor is still wet!",
    "Reading before bed helps me relax.",
    "Mountains, rivers, and valleys stretched as far as the eye could see.",
    "Her laugh was loud, warm, and completely contagious.",
    "The children played outside until it got dark.",
    "Good ideas often come at unexpected moments.",
    "Finally, after many years of hard work, the bridge was finished.",
};

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int read_wav(const char *path, float **samples, size_t *frames, unsigned *rate)
{
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f || info.channels != 1)
        return -1;
    *samples = malloc((size_t)info.frames * sizeof **samples + 1);
    *frames = (size_t)sf_readf_float(f, *samples, info.frames);
    *rate = (unsigned)info.samplerate;
    sf_close(f);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "align_espeak";
    mkdir(dir, 0755);
    CHECK(espeak_speech_open("en") == 0);
    size_t n_sentences = sizeof sentences / sizeof sentences[0];
    double *errors = malloc(1000 * sizeof *errors);
    size_t n_errors = 0, aligner_words = 0, unmatched = 0;
    aligner_settings settings = {.min_pause_seconds = 0.1};
    for (size_t s = 0; s < n_sentences; s++) {
        const char *text = sentences[s];
        espeak_speech speech;
        CHECK(espeak_speech_say(text, &speech) == 0);
        char wav[512], ref[512];
        snprintf(wav, sizeof wav, "%s/s%02zu.wav", dir, s);
        snprintf(ref, sizeof ref, "%s/s%02zu.words", dir, s);
        CHECK(espeak_speech_write(&speech, wav, ref) == 0);

        float *samples = NULL;
        size_t frames = 0;
        unsigned rate = 0;
        CHECK(read_wav(wav, &samples, &frames, &rate) == 0);
        CHECK(frames == speech.frames && rate == speech.rate);
        speech_frames fr;
        CHECK(speech_frames_analyse(samples, frames, rate, &fr) == 0);
        word_unit *units = NULL;
        int nw = word_units_split(text, strlen(text), &units);
        CHECK(nw > 0);
        if (nw <= 0)
            return 1;
        word_timing *timing = calloc((size_t)nw, sizeof *timing);
        CHECK(align_words(&fr, 0, fr.count, units, (size_t)nw, &settings, timing) == 0);
        double duration = (double)frames / rate;
        for (int w = 0; w < nw; w++) {
            /* ordered, non-overlapping, within the audio */
            CHECK(timing[w].start >= 0 && timing[w].end <= duration + 0.011);
            CHECK(timing[w].start <= timing[w].end);
            if (w > 0)
                CHECK(timing[w].start >= timing[w - 1].end - 1e-9);
            CHECK(timing[w].score >= 0 && timing[w].score <= 1);
            aligner_words++;
            size_t a = units[w].byte_start, b = a + units[w].byte_length;
            const espeak_word *ref_word = NULL;
            for (size_t e = 0; e < speech.word_count && !ref_word; e++)
                if (speech.words[e].byte_offset >= a && speech.words[e].byte_offset < b)
                    ref_word = &speech.words[e];
            if (!ref_word) {
                unmatched++;
                continue;
            }
            double err = fabs(timing[w].start - ref_word->start);
            if (getenv("ALIGN_VERBOSE"))
                printf("%2zu %-16.*s ref %.3f got %.3f err %.3f\n", s, (int)units[w].byte_length,
                       text + a, ref_word->start, timing[w].start, err);
            errors[n_errors++] = err;
        }
        free(timing);
        free(units);
        speech_frames_free(&fr);
        free(samples);
        espeak_speech_free(&speech);
    }
    espeak_speech_close();
    qsort(errors, n_errors, sizeof *errors, compare_double);
    size_t within = 0;
    for (size_t i = 0; i < n_errors; i++)
        within += errors[i] <= 0.120;
    double median = errors[n_errors / 2];
    double p90 = errors[(size_t)(0.9 * (double)(n_errors - 1) + 0.5)];
    printf("sentences %zu, words %zu, compared %zu (no espeak word inside: %zu)\n", n_sentences,
           aligner_words, n_errors, unmatched);
    printf("word start error: median %.1f ms, 90th percentile %.1f ms, within 120 ms %.1f%%\n",
           median * 1000, p90 * 1000, 100.0 * (double)within / (double)n_errors);
    CHECK(n_sentences >= 50);
    CHECK(n_errors >= aligner_words * 9 / 10);
    CHECK(within * 100 >= n_errors * 85);
    free(errors);
    return check_failures ? 1 : 0;
}
