/* The pure segmenter: sentences in English (abbreviations, decimals, initials, quotes),
 * CJK and mixed text, line breaks, merging, splitting of over-long text, invalid UTF-8.
 * Every result is also checked for the invariants: each piece's text is the normalised
 * original bytes at its offset, pieces are in order and within max_chars, and together they
 * hold every non-space character of the input in order. */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "segmenter.h"
#include "text_chars.h"
#include "text_decode.h"
#include "text_normalize.h"

static seg_options options(uint32_t max_chars, uint32_t min_chars, bool split_newlines)
{
    return (seg_options){max_chars, min_chars, split_newlines};
}

/* The non-space characters of text[0..len), concatenated. */
static char *without_spaces(const char *text, size_t len)
{
    text_char *chars;
    size_t n, bad;
    char *out = malloc(len + 1);
    size_t out_len = 0;
    if (text_decode(text, len, &chars, &n, &bad) != TEXT_DECODE_OK) {
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (chars[i].flags & TEXT_CHAR_SPACE)
            continue;
        memcpy(out + out_len, text + chars[i].pos, chars[i].size);
        out_len += chars[i].size;
    }
    out[out_len] = '\0';
    free(chars);
    return out;
}

static void check_invariants(const char *text, size_t len, const seg_options *o,
                             const seg_piece *pieces, size_t count)
{
    size_t previous_end = 0;
    size_t joined_cap = len + 1, joined_len = 0;
    char *joined = malloc(joined_cap);
    joined[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        const seg_piece *p = &pieces[i];
        CHECK(p->offset >= previous_end);
        CHECK(p->offset + p->length <= len);
        previous_end = p->offset + p->length;
        size_t norm_len = 0, norm_chars = 0;
        char *norm = text_normalize(text + p->offset, p->length, &norm_len, &norm_chars);
        CHECK_STR_EQ(norm, p->text);
        CHECK_INT_EQ(norm_len, p->text_length);
        CHECK_INT_EQ(norm_chars, p->chars);
        CHECK_INT_EQ(strlen(p->text), p->text_length);
        CHECK(p->chars <= o->max_chars);
        CHECK(p->text_length > 0);
        /* The located bytes start and end with the segment's own first and last bytes. */
        CHECK(norm && norm_len > 0 && text[p->offset] == norm[0] &&
              text[p->offset + p->length - 1] == norm[norm_len - 1]);
        free(norm);
        char *stripped = without_spaces(p->text, p->text_length);
        size_t s_len = strlen(stripped);
        CHECK(joined_len + s_len < joined_cap);
        if (joined_len + s_len < joined_cap) {
            memcpy(joined + joined_len, stripped, s_len + 1);
            joined_len += s_len;
        }
        free(stripped);
    }
    char *all = without_spaces(text, len);
    CHECK_STR_EQ(joined, all);
    free(all);
    free(joined);
}

/* Segment text and compare the pieces' texts with want[] (NULL-terminated). */
static void expect_segments(const char *text, seg_options o, const char *const *want)
{
    seg_piece *pieces;
    size_t count, bad;
    size_t len = strlen(text);
    CHECK_INT_EQ(seg_segment(text, len, &o, &pieces, &count, &bad), SEG_OK);
    size_t want_count = 0;
    while (want[want_count])
        want_count++;
    CHECK_INT_EQ(count, want_count);
    for (size_t i = 0; i < count && i < want_count; i++)
        CHECK_STR_EQ(pieces[i].text, want[i]);
    if (count != want_count) {
        fprintf(stderr, "  for: %s\n", text);
        for (size_t i = 0; i < count; i++)
            fprintf(stderr, "  got [%zu] \"%s\"\n", i, pieces[i].text);
    }
    check_invariants(text, len, &o, pieces, count);
    seg_free(pieces, count);
}

#define SEGMENTS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_english(void)
{
    const char *text =
        "The quick brown fox jumps over the lazy dog. It was a sunny day!  Was it?\tYes; it "
        "was. \"Quoted sentence.\" (Bracketed sentence.) End";
    expect_segments(text, options(300, 0, true),
                    SEGMENTS("The quick brown fox jumps over the lazy dog.",
                             "It was a sunny day!", "Was it?", "Yes;", "it was.",
                             "\"Quoted sentence.\"", "(Bracketed sentence.)", "End"));
    /* Default merging (min_chars 20). */
    expect_segments(text, options(300, 20, true),
                    SEGMENTS("The quick brown fox jumps over the lazy dog.",
                             "It was a sunny day! Was it?",
                             "Yes; it was. \"Quoted sentence.\"", "(Bracketed sentence.)",
                             "End"));
    expect_segments("Wait?! Really!! Well... fine. He said \u201cHello.\u201d She left.",
                    options(300, 0, true),
                    SEGMENTS("Wait?!", "Really!!", "Well...", "fine.",
                             "He said \u201cHello.\u201d", "She left."));
    /* No terminator at the end, surrounding whitespace trimmed. */
    expect_segments("   Just one sentence without an end   ", options(300, 20, true),
                    SEGMENTS("Just one sentence without an end"));
}

static void test_abbreviations_and_decimals(void)
{
    expect_segments(
        "Mr. Smith paid $3.14 for it, e.g. a bargain. Dr. Who arrived at 5 p.m. yesterday. "
        "J. R. R. Tolkien wrote books, etc. Then he rested. See p. 5 for more. Apples, pears, "
        "etc. are fruit. I met the U.S. team. It costs 3.14. It was I. Then Prof. Ada Lovelace "
        "spoke, i.e. she lectured. Version 2.0 is out.",
        options(300, 0, true),
        SEGMENTS("Mr. Smith paid $3.14 for it, e.g. a bargain.",
                 "Dr. Who arrived at 5 p.m. yesterday.",
                 "J. R. R. Tolkien wrote books, etc.", "Then he rested.",
                 "See p. 5 for more.", "Apples, pears, etc. are fruit.",
                 "I met the U.S. team.", "It costs 3.14.", "It was I.",
                 "Then Prof. Ada Lovelace spoke, i.e. she lectured.", "Version 2.0 is out."));
    /* "etc." before a capital ends the sentence; closers stay with it. */
    expect_segments("(Apples, pears, etc.) are fruit. We sell fruit, etc. Come in.",
                    options(300, 0, true),
                    SEGMENTS("(Apples, pears, etc.) are fruit.", "We sell fruit, etc.",
                             "Come in."));
}

static void test_cjk(void)
{
    expect_segments("今天天气很好。我们去公园吧！你觉得呢？好的；走吧……真的吗？",
                    options(300, 0, true),
                    SEGMENTS("今天天气很好。", "我们去公园吧！", "你觉得呢？", "好的；",
                             "走吧……", "真的吗？"));
    /* Closers stay with the sentence. A known limit: a quoted question followed by a
     * particle (「本当？」と) is split too; min_chars merging usually joins it again. */
    expect_segments("他说：\u201c你好。\u201d然后走了。「本当？」と聞いた。",
                    options(300, 0, true),
                    SEGMENTS("他说：\u201c你好。\u201d", "然后走了。", "「本当？」",
                             "と聞いた。"));
    /* Full-width decimal point is not a boundary; a full-width full stop is. */
    expect_segments("数值是３．１４。结束．下一句", options(300, 0, true),
                    SEGMENTS("数值是３．１４。", "结束．", "下一句"));
    expect_segments("こんにちは。元気ですか？はい、元気です｡", options(300, 0, true),
                    SEGMENTS("こんにちは。", "元気ですか？", "はい、元気です｡"));
    /* Ideographic spaces are whitespace: collapsed to one ASCII space. */
    expect_segments("你好\u3000\u3000世界。", options(300, 0, true), SEGMENTS("你好 世界。"));
    /* Merging of short CJK sentences adds no space where there was none. */
    expect_segments("你好。我很好。谢谢你的关心，我们明天见面吧。", options(300, 5, true),
                    SEGMENTS("你好。我很好。", "谢谢你的关心，我们明天见面吧。"));
}

static void test_mixed(void)
{
    expect_segments("我喜欢Python编程。It is fun! 你呢？OK.好的", options(300, 0, true),
                    SEGMENTS("我喜欢Python编程。", "It is fun!", "你呢？", "OK.好的"));
    /* ASCII punctuation right after CJK text ends the sentence without a space. */
    expect_segments("好的!我们走吧?走.Then we go.", options(300, 0, true),
                    SEGMENTS("好的!", "我们走吧?", "走.", "Then we go."));
    expect_segments("Café au lait coûte 3,50 €. Très bien! 東京は大きい。", options(300, 0, true),
                    SEGMENTS("Café au lait coûte 3,50 €.", "Très bien!", "東京は大きい。"));
}

static void test_newlines(void)
{
    const char *text =
        "Title line\nFirst sentence here. Second\nline continues.\n\nNew paragraph.";
    expect_segments(text, options(300, 0, true),
                    SEGMENTS("Title line", "First sentence here.", "Second", "line continues.",
                             "New paragraph."));
    /* Short lines are not merged across line breaks. */
    expect_segments(text, options(300, 20, true),
                    SEGMENTS("Title line", "First sentence here.", "Second", "line continues.",
                             "New paragraph."));
    expect_segments(text, options(300, 0, false),
                    SEGMENTS("Title line First sentence here.", "Second line continues.",
                             "New paragraph."));
    /* Without split_newlines a blank line still splits, and is not merged across. */
    expect_segments("Hi\n\nthere", options(300, 20, false), SEGMENTS("Hi", "there"));
    expect_segments("One. \n \t \n Two.", options(300, 20, false), SEGMENTS("One.", "Two."));
    /* CR LF, and a line break made of spaces around it. */
    expect_segments("A line\r\nB line\r\n\r\nC", options(300, 0, true),
                    SEGMENTS("A line", "B line", "C"));
    expect_segments("A line\r\nB line\r\n\r\nC", options(300, 0, false),
                    SEGMENTS("A line B line", "C"));
    /* U+2029 splits like a blank line; U+2028, NEL and form feed are line breaks. */
    expect_segments("A\u2029B", options(300, 20, false), SEGMENTS("A", "B"));
    expect_segments("A\u2028B\xc2\x85" "C\fD", options(300, 0, true),
                    SEGMENTS("A", "B", "C", "D"));
    /* NBSP and other Unicode spaces are normalised. */
    expect_segments("a\u00a0\u00a0b\u2003c \t d", options(300, 0, true), SEGMENTS("a b c d"));
}

static void test_empty(void)
{
    const char *inputs[] = {"", "   ", " \n\t\r\n ", "\u3000\u00a0\n\n", "\xef\xbb\xbf"};
    seg_options o = options(300, 20, true);
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        seg_piece *pieces = (seg_piece *)1;
        size_t count = 99, bad;
        CHECK_INT_EQ(seg_segment(inputs[i], strlen(inputs[i]), &o, &pieces, &count, &bad),
                     SEG_OK);
        CHECK_INT_EQ(count, 0);
        CHECK(pieces == NULL);
    }
    seg_piece *pieces;
    size_t count, bad;
    CHECK_INT_EQ(seg_segment(NULL, 0, &o, &pieces, &count, &bad), SEG_OK);
    CHECK_INT_EQ(count, 0);
    /* Control characters (NUL included) are whitespace, so no NUL reaches a segment. */
    const char with_nul[] = "a\0b\x01" "c";
    CHECK_INT_EQ(seg_segment(with_nul, sizeof with_nul - 1, &o, &pieces, &count, &bad), SEG_OK);
    CHECK_INT_EQ(count, 1);
    if (count == 1)
        CHECK_STR_EQ(pieces[0].text, "a b c");
    seg_free(pieces, count);
    seg_options zero = options(0, 0, true);
    CHECK_INT_EQ(seg_segment("x", 1, &zero, &pieces, &count, &bad), SEG_E_INVALID_OPTIONS);
}

static void test_merge(void)
{
    expect_segments("Hi. Ok. Yes. This is a longer sentence that stands alone.",
                    options(300, 20, true),
                    SEGMENTS("Hi. Ok. Yes. This is a longer sentence that stands alone."));
    /* Merging stops where it would pass max_chars. */
    expect_segments("Hi. Ok. Yes. This is a longer sentence that stands alone.",
                    options(30, 20, true),
                    SEGMENTS("Hi. Ok. Yes.", "This is a longer sentence that", "stands alone."));
    /* A short sentence is not merged into a following one that fills max_chars. */
    expect_segments("Short. Exactly twenty-six chars.", options(30, 20, true),
                    SEGMENTS("Short.", "Exactly twenty-six chars."));
    /* min_chars 0: nothing merges. */
    expect_segments("Go. Do. Be.", options(300, 0, true), SEGMENTS("Go.", "Do.", "Be."));
    expect_segments("Go. Do. Be.", options(300, 20, true), SEGMENTS("Go. Do. Be."));
    /* The tail of a cut sentence merges with the next sentence. */
    expect_segments("one two three four five six seven eight nine ten. Next one.",
                    options(40, 20, true),
                    SEGMENTS("one two three four five six seven eight", "nine ten. Next one."));
}

static void test_long_splits(void)
{
    /* A comma late enough in the window wins over whitespace. */
    expect_segments("one two three four five six seven eight, nine ten eleven twelve thirteen "
                    "fourteen.",
                    options(40, 0, true),
                    SEGMENTS("one two three four five six seven eight,",
                             "nine ten eleven twelve thirteen", "fourteen."));
    /* A comma early in the window loses to whitespace. */
    expect_segments("ab, cdefg hijkl mnopq rstuv wxyz1 23456 78901 abcde fghij",
                    options(40, 0, true),
                    SEGMENTS("ab, cdefg hijkl mnopq rstuv wxyz1 23456", "78901 abcde fghij"));
    /* CJK without spaces: cut after clause punctuation, else hard at max_chars. */
    expect_segments("我们今天早上去了公园，然后在湖边散步了很久很久很久很久", options(16, 0, true),
                    SEGMENTS("我们今天早上去了公园，", "然后在湖边散步了很久很久很久很久"));
    expect_segments("一二三四五六七八九十一二三四五六七八九十", options(16, 0, true),
                    SEGMENTS("一二三四五六七八九十一二三四五六", "七八九十"));
    /* An em dash is clause punctuation too, and closers after a comma stay with it. */
    expect_segments("aaaa bbbb cccc dddd eeee\u2014ffff gggg hhhh iiii", options(30, 0, true),
                    SEGMENTS("aaaa bbbb cccc dddd eeee\u2014", "ffff gggg hhhh iiii"));
    expect_segments("He said \"aaaa bbbb cccc,\" and then dddd eeee ffff", options(30, 0, true),
                    SEGMENTS("He said \"aaaa bbbb cccc,\"", "and then dddd eeee ffff"));
}

/* Append s to buf at *len (buf has room). */
static void append(char *buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    memcpy(buf + *len, s, n);
    *len += n;
    buf[*len] = '\0';
}

static void check_long_text(const char *text, size_t len, seg_options o, size_t min_pieces)
{
    seg_piece *pieces;
    size_t count, bad;
    CHECK_INT_EQ(seg_segment(text, len, &o, &pieces, &count, &bad), SEG_OK);
    CHECK(count >= min_pieces);
    check_invariants(text, len, &o, pieces, count);
    /* No piece starts inside a grapheme cluster: not with a combining mark, a ZWJ, a
     * variation selector, or right after a ZWJ. */
    for (size_t i = 0; i < count; i++) {
        const unsigned char *first = (const unsigned char *)text + pieces[i].offset;
        CHECK(!(first[0] == 0xCC && first[1] == 0x81));               /* U+0301 */
        CHECK(!(first[0] == 0xE2 && first[1] == 0x80 && first[2] == 0x8D)); /* U+200D */
        CHECK(!(first[0] == 0xEF && first[1] == 0xB8 && first[2] == 0x8F)); /* U+FE0F */
        if (pieces[i].offset >= 3) {
            const unsigned char *before = first - 3;
            CHECK(!(before[0] == 0xE2 && before[1] == 0x80 && before[2] == 0x8D));
        }
        /* Cuts are as late as possible: a piece falls short of max_chars by less than the
         * longest word (8) plus a space, or the longest grapheme cluster (5). */
        if (i + 1 < count)
            CHECK(pieces[i].chars + 9 >= o.max_chars);
    }
    seg_free(pieces, count);
}

static void test_ten_thousand(void)
{
    enum { TARGET_CHARS = 10000 };
    size_t cap = TARGET_CHARS * 8 + 64;
    char *text = malloc(cap);
    size_t len = 0, chars = 0;
    text[0] = '\0';

    /* Words with spaces (some multi-byte), no punctuation at all. */
    static const char *const words[] = {"lorem", "ipsum", "naïve", "café", "über",
                                        "日本語", "dolor", "sit", "amet", "ελληνικά",
                                        "e\u0301tude"};
    for (size_t w = 0; chars < TARGET_CHARS; w = (w + 4) % 11) {
        const char *word = words[w];
        append(text, &len, word);
        append(text, &len, w % 3 == 0 ? "\u00a0" : " ");
        size_t n = 0;
        for (const char *p = word; *p; p++)
            n += ((unsigned char)*p & 0xC0) != 0x80;
        chars += n + 1;
    }
    check_long_text(text, len, options(300, 20, true), 10000 / 300);
    check_long_text(text, len, options(16, 0, true), 10000 / 16);

    /* No whitespace at all: hard cuts, never inside a grapheme cluster. */
    len = 0;
    chars = 0;
    static const char *const clusters[] = {
        "x", "e\u0301", "字", "\U0001F468\u200D\U0001F469\u200D\U0001F467", "\u2764\uFE0F", "a"};
    for (size_t k = 0; chars < TARGET_CHARS; k++) {
        const char *c = clusters[k % 6];
        append(text, &len, c);
        for (const char *p = c; *p; p++)
            chars += ((unsigned char)*p & 0xC0) != 0x80;
    }
    check_long_text(text, len, options(300, 0, true), 10000 / 300);
    check_long_text(text, len, options(17, 5, false), 10000 / 17);
    free(text);
}

static void expect_invalid(const char *text, size_t len, size_t want_offset)
{
    seg_piece *pieces;
    size_t count, bad = 12345;
    seg_options o = options(300, 20, true);
    CHECK_INT_EQ(seg_segment(text, len, &o, &pieces, &count, &bad), SEG_E_INVALID_UTF8);
    CHECK_INT_EQ(bad, want_offset);
    CHECK_INT_EQ(count, 0);
    CHECK(pieces == NULL);
}

static void test_invalid_utf8(void)
{
    expect_invalid("abc\xC3(", 5, 3);                 /* bad continuation */
    expect_invalid("ok \xE2\x82", 5, 3);              /* truncated at the end */
    expect_invalid("\xC0\xAF", 2, 0);                 /* overlong '/' */
    expect_invalid("ab\xE0\x80\xAF", 5, 2);           /* overlong, 3 bytes */
    expect_invalid("Hello. \xED\xA0\x80", 10, 7);     /* a surrogate */
    expect_invalid("\xF4\x90\x80\x80", 4, 0);         /* above U+10FFFF */
    expect_invalid("caf\xC3\xA9 \x80", 7, 6);         /* lone continuation byte */
    expect_invalid("x\xFF", 2, 1);
    expect_invalid("日本\xE8\xAA", 8, 6);
}

static void test_normalize(void)
{
    size_t len = 0, chars = 0;
    char *out = text_normalize("  a \t\n b\u00a0\u3000c  ", strlen("  a \t\n b\u00a0\u3000c  "),
                               &len, &chars);
    CHECK_STR_EQ(out, "a b c");
    CHECK_INT_EQ(len, 5);
    CHECK_INT_EQ(chars, 5);
    free(out);
    out = text_normalize("", 0, &len, &chars);
    CHECK_STR_EQ(out, "");
    CHECK_INT_EQ(chars, 0);
    free(out);
    out = text_normalize("\xC3", 1, &len, NULL);
    CHECK(out == NULL);
    CHECK(tc_is_space(0x3000) && tc_is_space(0xA0) && tc_is_space(0x2028) && tc_is_space(0));
    CHECK(!tc_is_space('a') && !tc_is_space(0x4E00));
}

int main(void)
{
    test_english();
    test_abbreviations_and_decimals();
    test_cjk();
    test_mixed();
    test_newlines();
    test_empty();
    test_merge();
    test_long_splits();
    test_ten_thousand();
    test_invalid_utf8();
    test_normalize();
    return CHECK_DONE();
}
