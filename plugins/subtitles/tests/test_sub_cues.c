/* Unit tests of cue building and the three writers on small inputs whose exact output is
 * written out by hand here: line breaks, cue splits, segment boundaries, durations, long
 * words cut between grapheme clusters, time formats, escapes, karaoke sums. */
#include "sub_cues.h"
#include "sub_style.h"
#include "sub_text.h"
#include "sub_writers.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

static sub_cue_options options(unsigned chars, unsigned lines, double min, double max)
{
    return (sub_cue_options){chars, lines, min, max};
}

#define W(t, s, e, seg) {(char *)(t), (s), (e), (seg), true, false}

static char *srt_of(const sub_word *words, size_t n, sub_cue_options o)
{
    sub_cue_list cues;
    CHECK(sub_cues_build(words, n, &o, &cues) == 0);
    sub_buf b = {0};
    sub_write_srt(&cues, &b);
    sub_cue_list_free(&cues);
    return b.data;
}

static void test_lines_and_cues(void)
{
    const sub_word words[] = {
        W("The", 0.0, 0.2, 0), W("quick", 0.2, 0.5, 0), W("brown", 0.5, 0.8, 0),
        W("fox", 0.8, 1.0, 0), W("jumps", 1.0, 1.4, 0), W("over", 1.4, 1.7, 0),
        W("Then", 2.0, 2.3, 1), W("more.", 2.3, 2.9, 1)};
    /* 10 characters a line, 2 lines a cue */
    char *srt = srt_of(words, 8, options(10, 2, 0, 10));
    CHECK_STR_EQ(srt, "1\n00:00:00,000 --> 00:00:01,000\nThe quick\nbrown fox\n\n"
                      "2\n00:00:01,000 --> 00:00:01,700\njumps over\n\n"
                      "3\n00:00:02,000 --> 00:00:02,900\nThen more.\n\n");
    free(srt);
    /* max duration 1 s splits the first sentence by time */
    srt = srt_of(words, 8, options(40, 2, 0, 1.0));
    CHECK_STR_EQ(srt, "1\n00:00:00,000 --> 00:00:01,000\nThe quick brown fox\n\n"
                      "2\n00:00:01,000 --> 00:00:01,700\njumps over\n\n"
                      "3\n00:00:02,000 --> 00:00:02,900\nThen more.\n\n");
    free(srt);
    /* min duration 1.5 s stretches a cue up to the next one, not into it */
    const sub_word short_words[] = {W("Hi.", 1.0, 1.2, 0), W("Yo.", 2.0, 2.3, 1)};
    srt = srt_of(short_words, 2, options(40, 2, 1.5, 5));
    CHECK_STR_EQ(srt, "1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n"
                      "2\n00:00:02,000 --> 00:00:03,500\nYo.\n\n");
    free(srt);
}

static void test_long_words_and_clusters(void)
{
    /* 6 clusters a line: the emoji family (one cluster of 7 code points) is never cut */
    const char *family = "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F"
                         "\x91\xA7";
    CHECK_INT_EQ(sub_graphemes(family, strlen(family)), 1);
    char word[128];
    snprintf(word, sizeof word, "abcde%sfghijkl", family);
    sub_word w[] = {W(word, 0, 1.3, 0)};
    sub_cue_options o = options(6, 3, 0, 10);
    sub_cue_list cues;
    CHECK(sub_cues_build(w, 1, &o, &cues) == 0);
    CHECK_INT_EQ(cues.word_count, 3);
    if (cues.word_count == 3) {
        char first[64];
        snprintf(first, sizeof first, "abcde%s", family);
        CHECK_STR_EQ(cues.words[0].text, first);
        CHECK_STR_EQ(cues.words[1].text, "fghijk");
        CHECK_STR_EQ(cues.words[2].text, "l");
        /* time shared by length: 6, 6 and 1 of 13 clusters */
        CHECK_NEAR(cues.words[1].start, 0.6, 1e-9);
        CHECK_NEAR(cues.words[2].start, 1.2, 1e-9);
        CHECK_INT_EQ(cues.cue_count, 1);
        CHECK_INT_EQ(sub_cue_lines(&cues, &cues.cues[0]), 3);
    }
    sub_cue_list_free(&cues);
}

static void test_formats(void)
{
    const sub_word words[] = {
        W("{\\b1}a", 3661.234, 3661.5, 0), W("-->", 3661.5, 3661.8, 0),
        W("<i>&", 3661.8, 3662.004, 0)};
    sub_cue_options o = options(40, 2, 0, 10);
    sub_cue_list cues;
    CHECK(sub_cues_build(words, 3, &o, &cues) == 0);
    sub_buf srt = {0}, vtt = {0}, ass = {0}, kar = {0};
    sub_write_srt(&cues, &srt);
    CHECK_STR_EQ(srt.data, "1\n01:01:01,234 --> 01:01:02,004\n"
                           "\xEF\xBD\x9B\xEF\xBC\xBC" "b1\xEF\xBD\x9D" "a --\xEF\xBC\x9E \xEF\xBC\x9Ci>&\n\n");
    sub_write_vtt(&cues, &vtt);
    CHECK_STR_EQ(vtt.data, "WEBVTT\n\n1\n01:01:01.234 --> 01:01:02.004\n"
                           "\xEF\xBD\x9B\xEF\xBC\xBC" "b1\xEF\xBD\x9D" "a --&gt; &lt;i&gt;&amp;\n\n");
    ass_style style = {1280, 720, "DejaVu Sans", 48, "&H00FFFFFF", "&H0000FFFF", "&H00000000",
                       "&H80000000", true, false, 2, 1, 1, 2, 10, 20, 30, false};
    sub_write_ass(&cues, &style, &ass);
    CHECK_STR_CONTAINS(ass.data, "[Script Info]\nScriptType: v4.00+\nPlayResX: 1280\n"
                                 "PlayResY: 720\n");
    CHECK_STR_CONTAINS(ass.data, "Style: Default,DejaVu Sans,48,&H00FFFFFF,&H0000FFFF,"
                                 "&H00000000,&H80000000,-1,0,0,0,100,100,0,0,1,2,1,2,10,20,"
                                 "30,1\n");
    /* centiseconds, two digits; braces and backslash full-width */
    CHECK_STR_CONTAINS(ass.data, "Dialogue: 0,1:01:01.23,1:01:02.00,Default,,0,0,0,,"
                                 "\xEF\xBD\x9B\xEF\xBC\xBC" "b1\xEF\xBD\x9D" "a --> <i>&\n");
    style.karaoke = true;
    sub_write_ass(&cues, &style, &kar);
    /* 23 + 30 + 20 = 73 cs = 1:01:02.00 - 1:01:01.23 (gap-free words) */
    CHECK_STR_CONTAINS(kar.data, ",,{\\k27}\xEF\xBD\x9B\xEF\xBC\xBC" "b1\xEF\xBD\x9D"
                                 "a {\\k30}--> {\\k20}<i>&\n");
    sub_buf_free(&srt);
    sub_buf_free(&vtt);
    sub_buf_free(&ass);
    sub_buf_free(&kar);
    sub_cue_list_free(&cues);

    /* karaoke gaps become empty syllables; their sum is the event length */
    const sub_word gap_words[] = {W("one", 0.5, 0.9, 0), W("two", 1.2, 1.6, 0)};
    CHECK(sub_cues_build(gap_words, 2, &o, &cues) == 0);
    sub_buf g = {0};
    sub_write_ass(&cues, &style, &g);
    CHECK_STR_CONTAINS(g.data, "Dialogue: 0,0:00:00.50,0:00:01.60,Default,,0,0,0,,"
                               "{\\k40}one {\\k30}{\\k40}two\n");
    sub_buf_free(&g);
    sub_cue_list_free(&cues);
}

static void test_style_values(void)
{
    char c[11];
    CHECK(sub_parse_colour("&H80112233", c) == 0);
    CHECK_STR_EQ(c, "&H80112233");
    CHECK(sub_parse_colour("&hffeedd&", c) == 0);
    CHECK_STR_EQ(c, "&H00FFEEDD");
    CHECK(sub_parse_colour("#FF8000", c) == 0);
    CHECK_STR_EQ(c, "&H000080FF");
    CHECK(sub_parse_colour("#FF800040", c) == 0);
    CHECK_STR_EQ(c, "&HBF0080FF");
    CHECK(sub_parse_colour("red", c) < 0);
    CHECK(sub_parse_colour("&H1234567", c) < 0);
    CHECK(sub_parse_colour("#GG0000", c) < 0);
    CHECK(sub_check_font("DejaVu Sans") == 0);
    CHECK(sub_check_font("Arial,Bold") < 0);
    CHECK(sub_check_font("") < 0);
    CHECK(sub_check_file_stem("talk-01_a") == 0);
    CHECK(sub_check_file_stem("../x") < 0);
    CHECK(sub_check_file_stem(".hidden") < 0);
}

int main(void)
{
    test_lines_and_cues();
    test_long_words_and_clusters();
    test_formats();
    test_style_values();
    return check_failures ? 1 : 0;
}
