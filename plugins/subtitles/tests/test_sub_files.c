/* Acceptance: subtitle files for tricky texts (braces and override-like text, arrows, tags
 * and ampersands, very long words, CJK, emoji, right-to-left scripts, hours past one) in
 * ASS, ASS with karaoke, SRT and WebVTT are written to argv[1] together with the cues they
 * were written from (NAME.json: times in seconds and the raw words of each line). Then
 * check_files.py (argv[2], run by $SPARK_PYTHON) reads every file with ffmpeg and pysubs2
 * and compares times and texts, and renders the karaoke files with ffmpeg's ass filter. */
#include "sub_cues.h"
#include "sub_writers.h"

#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct test_case {
    const char *name;
    const char *const *words; /* NULL-terminated; "|" starts a new segment */
    double start, step;       /* word i spans start + i*step .. + 0.8*step */
    bool joined;              /* CJK: no spaces between words */
} test_case;

static const char *const braces[] = {"{\\an8}Top?", "{curly}", "back\\slash", "\\N", "not",
                                     "a", "break,", "commas,", "too.", NULL};
static const char *const arrows[] = {"a", "-->", "b", "<--", "c", "1", "-->", "2", "<i>x</i>",
                                     "Tom", "&", "Jerry", "&amp;", NULL};
static const char *const long_word[] = {
    "Pneumonoultramicroscopicsilicovolcanoconiosis"
    "Pneumonoultramicroscopicsilicovolcanoconiosis", "is", "long.", NULL};
static const char *const cjk[] = {"你", "好", "，", "世", "界", "。", "|", "今", "天", "天",
                                  "气", "很", "好", "。", NULL};
static const char *const emoji[] = {"Family:",
                                    "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D"
                                    "\xF0\x9F\x91\xA7", "party", "\xF0\x9F\x8E\x89", "flag",
                                    "\xF0\x9F\x87\xAF\xF0\x9F\x87\xB5", "caf\x65\xCC\x81.", NULL};
static const char *const rtl[] = {"\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", "\xD7\xA2\xD7\x95\xD7\x9C"
                                  "\xD7\x9D", "|", "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7",
                                  "\xD8\xA8\xD8\xA7\xD9\x84\xD8\xB9\xD8\xA7\xD9\x84\xD9\x85", "|",
                                  "mixed", "\xD7\xA2\xD7\x91\xD7\xA8\xD7\x99\xD7\xAA", "and",
                                  "English.", NULL};

static const test_case cases[] = {
    {"braces", braces, 0.5, 0.37, false},
    {"arrows", arrows, 1.0, 0.41, false},
    {"long_word", long_word, 0.25, 0.9, false},
    {"cjk", cjk, 0.3, 0.25, true},
    {"emoji", emoji, 0.4, 0.5, false},
    {"rtl", rtl, 3600.5, 0.45, false}, /* past one hour */
};

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* The cues as built: times and, per line, the words with a flag for a space before. */
static int write_cues_json(const sub_cue_list *cues, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs("[", f);
    for (size_t c = 0; c < cues->cue_count; c++) {
        const sub_cue *q = &cues->cues[c];
        fprintf(f, "%s{\"start\":%.17g,\"end\":%.17g,\"lines\":[[", c ? "," : "", q->start,
                q->end);
        for (size_t w = q->first; w < q->first + q->count; w++) {
            const sub_word *word = &cues->words[w];
            if (w > q->first)
                fputs(word->line_break_before ? "],[" : ",", f);
            fprintf(f, "[%s,", word->space_before && !word->line_break_before && w > q->first
                                   ? "true" : "false");
            json_string(f, word->text);
            fputs("]", f);
        }
        fputs("]]}", f);
    }
    fputs("]\n", f);
    return fclose(f);
}

static int write_file(const char *path, const sub_buf *b)
{
    FILE *f = fopen(path, "wb");
    if (!f || b->failed)
        return -1;
    fwrite(b->data, 1, b->length, f);
    return fclose(f);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_sub_files DIR check_files.py\n");
        return 2;
    }
    const char *dir = argv[1];
    mkdir(dir, 0755);
    ass_style style = {1280, 720, "DejaVu Sans", 40, "&H00FFFFFF", "&H0000FFFF",
                       "&H00000000", "&H80000000", false, false, 2, 1, 1, 2, 40, 40, 30,
                       false};
    sub_cue_options options = {.max_chars = 24, .max_lines = 2, .min_duration = 0.8,
                               .max_duration = 5};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const test_case *tc = &cases[k];
        sub_word words[32];
        size_t n = 0, segment = 0;
        for (const char *const *w = tc->words; *w; w++) {
            if (strcmp(*w, "|") == 0) {
                segment++;
                continue;
            }
            double start = tc->start + tc->step * (double)n;
            words[n] = (sub_word){(char *)*w, start, start + 0.8 * tc->step, segment,
                                  !tc->joined, false};
            n++;
        }
        sub_cue_list cues;
        CHECK(sub_cues_build(words, n, &options, &cues) == 0);
        char path[512];
        snprintf(path, sizeof path, "%s/%s.json", dir, tc->name);
        CHECK(write_cues_json(&cues, path) == 0);
        sub_buf ass = {0}, karaoke = {0}, srt = {0}, vtt = {0};
        style.karaoke = false;
        sub_write_ass(&cues, &style, &ass);
        style.karaoke = true;
        sub_write_ass(&cues, &style, &karaoke);
        sub_write_srt(&cues, &srt);
        sub_write_vtt(&cues, &vtt);
        snprintf(path, sizeof path, "%s/%s.ass", dir, tc->name);
        CHECK(write_file(path, &ass) == 0);
        snprintf(path, sizeof path, "%s/%s.karaoke.ass", dir, tc->name);
        CHECK(write_file(path, &karaoke) == 0);
        snprintf(path, sizeof path, "%s/%s.srt", dir, tc->name);
        CHECK(write_file(path, &srt) == 0);
        snprintf(path, sizeof path, "%s/%s.vtt", dir, tc->name);
        CHECK(write_file(path, &vtt) == 0);
        sub_buf_free(&ass);
        sub_buf_free(&karaoke);
        sub_buf_free(&srt);
        sub_buf_free(&vtt);
        sub_cue_list_free(&cues);
    }
    const char *python = getenv("SPARK_PYTHON");
    if (!python || !*python) {
        fprintf(stderr, "SPARK_PYTHON is not set (ctest sets it to the project's virtualenv)\n");
        return 1;
    }
    char command[2048];
    snprintf(command, sizeof command, "'%s' '%s' '%s'", python, argv[2], dir);
    int rc = system(command);
    CHECK(rc == 0);
    return check_failures ? 1 : 0;
}
