/* Unit tests of the aligner's parts: word splitting and expected lengths, speech regions on
 * synthetic bursts with known edges, word placement on bursts, and the JSON shape. */
#include "speech_activity.h"
#include "timings_json.h"
#include "word_aligner.h"
#include "word_units.h"

#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define RATE 16000

static int split(const char *text, word_unit **units)
{
    return word_units_split(text, strlen(text), units);
}

static void check_word(const char *text, const word_unit *u, const char *want)
{
    char got[64] = {0};
    memcpy(got, text + u->byte_start, u->byte_length < 63 ? u->byte_length : 63);
    CHECK_STR_EQ(got, want);
}

static void test_words(void)
{
    word_unit *u = NULL;
    const char *t = "Hello, world! 3.14 don't";
    CHECK_INT_EQ(split(t, &u), 4);
    check_word(t, &u[0], "Hello,");
    check_word(t, &u[1], "world!");
    check_word(t, &u[2], "3.14");
    check_word(t, &u[3], "don't");
    CHECK(u[0].pause_after > 0 && u[1].pause_after > u[0].pause_after);
    CHECK(u[2].pause_after == 0 && u[3].pause_after == 0);
    free(u);

    /* CJK: one word per character, punctuation with the character before it */
    t = "你好，世界。";
    CHECK_INT_EQ(split(t, &u), 4);
    check_word(t, &u[0], "你");
    check_word(t, &u[1], "好，");
    check_word(t, &u[3], "界。");
    CHECK(u[1].pause_after > 0 && u[0].pause_after == 0);
    free(u);

    /* mixed scripts, punctuation-only tokens join a neighbour */
    t = "— Hi there — ok 日本";
    CHECK_INT_EQ(split(t, &u), 5);
    check_word(t, &u[0], "— Hi");
    check_word(t, &u[1], "there —");
    check_word(t, &u[2], "ok");
    check_word(t, &u[3], "日");
    free(u);

    /* expected lengths: more syllables take longer, unstressed words less */
    t = "extraordinary cat the";
    CHECK_INT_EQ(split(t, &u), 3);
    CHECK(u[0].weight > 2 * u[1].weight);
    CHECK(u[2].weight < u[1].weight);
    free(u);

    CHECK_INT_EQ(split("   ", &u), 0);
    CHECK(u == NULL);
    CHECK_INT_EQ(split("...", &u), 0);
    CHECK_INT_EQ(word_units_split("ab\xC3(", 4, &u), -1);
    CHECK_INT_EQ(word_units_split("ab\xE2\x82", 4, &u), -1);
}

/* Bursts of noisy vowel-like tone at the given [start, end) seconds; silence elsewhere. */
static float *bursts(const double *edges, size_t count, double duration, size_t *frames)
{
    *frames = (size_t)(duration * RATE);
    float *x = calloc(*frames, sizeof *x);
    unsigned seed = 1;
    for (size_t b = 0; b < count; b++)
        for (size_t i = (size_t)(edges[2 * b] * RATE); i < (size_t)(edges[2 * b + 1] * RATE); i++) {
            seed = seed * 1103515245u + 12345u;
            double noise = ((seed >> 16) & 0x7fff) / 32768.0 - 0.5;
            x[i] = (float)(0.3 * sin(2 * M_PI * 180.0 * i / RATE) + 0.05 * noise);
        }
    return x;
}

static void test_regions(void)
{
    const double edges[] = {0.3, 0.8, 1.0, 1.4};
    size_t n;
    float *x = bursts(edges, 2, 1.7, &n);
    speech_frames fr;
    CHECK(speech_frames_analyse(x, n, RATE, &fr) == 0);
    CHECK_NEAR(fr.hop_seconds, 0.01, 1e-9);
    speech_region *r = NULL;
    CHECK_INT_EQ(speech_regions_find(&fr, 0, fr.count, 10, &r), 2);
    if (r) {
        /* the 25 ms window sees a burst up to 12.5 ms before and after it */
        CHECK_NEAR(r[0].first * fr.hop_seconds, 0.3, 0.02);
        CHECK_NEAR(r[0].end * fr.hop_seconds, 0.8, 0.02);
        CHECK_NEAR(r[1].first * fr.hop_seconds, 1.0, 0.02);
        CHECK_NEAR(r[1].end * fr.hop_seconds, 1.4, 0.02);
    }
    free(r);
    /* a 0.2 s gap is no pause when pauses must last 0.25 s */
    CHECK_INT_EQ(speech_regions_find(&fr, 0, fr.count, 25, &r), 1);
    free(r);
    speech_frames_free(&fr);
    free(x);

    /* digital silence only: no speech */
    float zeros[4000] = {0};
    CHECK(speech_frames_analyse(zeros, 4000, RATE, &fr) == 0);
    CHECK_INT_EQ(speech_regions_find(&fr, 0, fr.count, 10, &r), 0);
    speech_frames_free(&fr);
}

static void place(const char *text, const double *edges, size_t n_bursts, double duration,
                  word_timing *out, size_t want_words)
{
    size_t n;
    float *x = bursts(edges, n_bursts, duration, &n);
    speech_frames fr;
    CHECK(speech_frames_analyse(x, n, RATE, &fr) == 0);
    word_unit *u = NULL;
    CHECK_INT_EQ(split(text, &u), (long long)want_words);
    aligner_settings settings = {.min_pause_seconds = 0.1};
    CHECK(align_words(&fr, 0, fr.count, u, want_words, &settings, out) == 0);
    for (size_t w = 0; w < want_words; w++) {
        CHECK(out[w].start >= 0 && out[w].end <= duration + 0.01);
        CHECK(out[w].start <= out[w].end);
        CHECK(out[w].score >= 0 && out[w].score <= 1);
        if (w > 0)
            CHECK(out[w].start >= out[w - 1].end - 1e-9);
    }
    free(u);
    speech_frames_free(&fr);
    free(x);
}

static void test_placement(void)
{
    word_timing t[8];
    /* one burst per word: each word starts at its burst */
    const double three[] = {0.2, 0.6, 0.8, 1.1, 1.35, 1.9};
    place("one, two, three.", three, 3, 2.2, t, 3);
    CHECK_NEAR(t[0].start, 0.2, 0.02);
    CHECK_NEAR(t[1].start, 0.8, 0.02);
    CHECK_NEAR(t[2].start, 1.35, 0.02);
    CHECK_NEAR(t[2].end, 1.9, 0.02);

    /* more bursts than words: the shortest pause is merged away */
    const double four[] = {0.2, 0.5, 0.56, 0.9, 1.3, 1.7, 2.0, 2.3};
    place("alpha, beta gamma.", four, 4, 2.5, t, 3);
    CHECK_NEAR(t[0].start, 0.2, 0.02);
    CHECK(t[2].end <= 2.31 && t[2].end >= 2.25);

    /* two words in one burst of 1 s with a long first word: it takes most of it */
    const double one[] = {0.1, 1.1};
    place("extraordinarily big.", one, 1, 1.3, t, 2);
    CHECK(t[1].start > 0.6 && t[1].start < 1.05);

    /* no speech at all: words are spread over the stretch, in order */
    const double none[] = {0, 0};
    place("a b c", none, 0, 0.9, t, 3);
    CHECK_NEAR(t[0].start, 0, 0.011);
    CHECK_NEAR(t[2].end, 0.9, 0.011);
}

static void test_json(void)
{
    timed_word w[2] = {{"Hi,", 0.1234, 0.4, 0.9}, {"\"you\"", 0.5, 0.9, 0.55555}};
    timed_segment s = {"Hi, \"you\"", 0.1234, 0.9, w, 2};
    char *text = timings_json(&s, 1);
    CHECK(text != NULL);
    cJSON *root = cJSON_Parse(text);
    CHECK(root != NULL);
    cJSON *segs = cJSON_GetObjectItem(root, "segments");
    CHECK(cJSON_GetArraySize(segs) == 1);
    cJSON *seg = cJSON_GetArrayItem(segs, 0);
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(seg, "text")), "Hi, \"you\"");
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(seg, "start")), 0.123, 1e-9);
    cJSON *words = cJSON_GetObjectItem(seg, "words");
    CHECK(cJSON_GetArraySize(words) == 2);
    cJSON *w1 = cJSON_GetArrayItem(words, 1);
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(w1, "word")), "\"you\"");
    CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(w1, "score")), 0.556, 1e-9);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(root, "word_segments")) == 2);
    cJSON_Delete(root);
    free(text);
    text = timings_json(NULL, 0);
    CHECK_STR_EQ(text, "{\"segments\":[],\"word_segments\":[]}");
    free(text);
}

int main(void)
{
    test_words();
    test_regions();
    test_placement();
    test_json();
    return check_failures ? 1 : 0;
}
