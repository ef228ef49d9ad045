/* test_tokenizer.c - the tokenizer core on a small hand-made byte-level BPE: regex split,
 * merges by rank, added tokens and their flags, NFC, errors, decoding, long words. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "qwen2_tokenizer.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gpt2_bytes.h"


/* Vocabulary: id b for byte b, then the merges below in rank order. */
static const char *const merges[][2] = {
    {"a", "b"},  /* 256 ab */
    {"Ġ", "ab"}, /* 257 Ġab */
    {"Ġ", "Ġ"},  /* 258 ĠĠ */
    {"'", "s"},  /* 259 's */
    {"1", "2"},  /* 260 12: never applies, \p{N} is one digit per piece */
    {"ab", "ab"}, /* 261 abab */
    {"Ã", "©"},  /* 262 é (0xC3 0xA9) */
};
enum { ID_AB = 256, ID_SAB, ID_SS, ID_APOS_S, ID_12, ID_ABAB, ID_E_ACUTE };

static char *tokenizer_json(void)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *added = cJSON_AddArrayToObject(j, "added_tokens");
    const struct { const char *text; int id; bool normalized, lstrip, rstrip, single; } a[] = {
        {"<|x|>", 300, true, false, false, false},
        {"<|x|>long", 301, true, false, false, false},
        {"<L>", 302, false, true, false, false},
        {"<R>", 303, false, false, true, false},
        {"word", 304, true, false, false, true},
    };
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "id", a[i].id);
        cJSON_AddStringToObject(t, "content", a[i].text);
        cJSON_AddBoolToObject(t, "single_word", a[i].single);
        cJSON_AddBoolToObject(t, "lstrip", a[i].lstrip);
        cJSON_AddBoolToObject(t, "rstrip", a[i].rstrip);
        cJSON_AddBoolToObject(t, "normalized", a[i].normalized);
        cJSON_AddBoolToObject(t, "special", !a[i].normalized);
        cJSON_AddItemToArray(added, t);
    }
    cJSON_AddItemToObject(j, "normalizer", cJSON_Parse("{\"type\":\"NFC\"}"));
    cJSON *pre = cJSON_AddObjectToObject(j, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *steps = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *split = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(split, "pattern"), "Regex", qt_qwen2_regex);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddBoolToObject(split, "invert", false);
    cJSON_AddItemToArray(steps, split);
    cJSON_AddItemToArray(steps, cJSON_Parse("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                                            "\"trim_offsets\":false,\"use_regex\":false}"));
    cJSON_AddItemToObject(j, "decoder", cJSON_Parse("{\"type\":\"ByteLevel\"}"));
    cJSON *model = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int b = 0; b < 256; b++) {
        char c[3];
        byte_char(b, c);
        cJSON_AddNumberToObject(vocab, c, b);
    }
    cJSON *m = cJSON_AddArrayToObject(model, "merges");
    for (size_t r = 0; r < sizeof merges / sizeof merges[0]; r++) {
        char joined[16];
        snprintf(joined, sizeof joined, "%s%s", merges[r][0], merges[r][1]);
        cJSON_AddNumberToObject(vocab, joined, 256 + (double)r);
        if (r % 2) { /* both spellings of a merge are accepted */
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, cJSON_CreateString(merges[r][0]));
            cJSON_AddItemToArray(pair, cJSON_CreateString(merges[r][1]));
            cJSON_AddItemToArray(m, pair);
        } else {
            snprintf(joined, sizeof joined, "%s %s", merges[r][0], merges[r][1]);
            cJSON_AddItemToArray(m, cJSON_CreateString(joined));
        }
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static qt_session *session;

static size_t encode(const char *text, int32_t *ids, size_t cap)
{
    qt_ids out = {0};
    char err[256];
    if (qt_encode(session, text, strlen(text), &out, err, sizeof err)) {
        fprintf(stderr, "encode(\"%s\"): %s\n", text, err);
        check_failures++;
        return 0;
    }
    size_t n = out.n;
    for (size_t i = 0; i < n && i < cap; i++)
        ids[i] = out.v[i];
    free(out.v);
    return n;
}

#define EXPECT_IDS(text, ...)                                                            \
    do {                                                                                 \
        const int32_t want_[] = {__VA_ARGS__};                                           \
        int32_t got_[64];                                                                \
        size_t n_ = encode(text, got_, 64);                                              \
        CHECK_INT_EQ(n_, sizeof want_ / sizeof want_[0]);                                \
        for (size_t i_ = 0; i_ < n_ && i_ < sizeof want_ / sizeof want_[0]; i_++)         \
            if (got_[i_] != want_[i_]) {                                                 \
                fprintf(stderr, "%s:%d: \"%s\": id %zu is %d, want %d\n", __FILE__,       \
                        __LINE__, text, i_, (int)got_[i_], (int)want_[i_]);              \
                check_failures++;                                                        \
            }                                                                            \
    } while (0)

static void roundtrip(const qt_tokenizer *tok, const char *text, const char *want)
{
    qt_ids out = {0};
    char err[256];
    CHECK(qt_encode(session, text, strlen(text), &out, err, sizeof err) == 0);
    char *back = NULL;
    size_t len = 0;
    CHECK(qt_decode(tok, out.v, out.n, &back, &len, err, sizeof err) == 0);
    CHECK_STR_EQ(back, want);
    free(back);
    free(out.v);
}

int main(void)
{
    char *json = tokenizer_json();
    qt_tokenizer *tok = NULL;
    char err[512];
    if (qt_load_json(json, strlen(json), &tok, err, sizeof err)) {
        fprintf(stderr, "load: %s\n", err);
        return 1;
    }
    free(json);
    session = qt_session_new(tok);
    CHECK_INT_EQ(qt_vocab_size(tok), 305);
    CHECK_INT_EQ(qt_token_id(tok, "<|x|>"), 300);
    CHECK_INT_EQ(qt_token_id(tok, "Ġab"), ID_SAB);
    CHECK_INT_EQ(qt_token_id(tok, "<|missing|>"), -1);

    /* Merges by rank, over piece boundaries never. */
    EXPECT_IDS("ab", ID_AB);
    EXPECT_IDS("abab", ID_ABAB);
    EXPECT_IDS("ababab", ID_ABAB, ID_AB);
    EXPECT_IDS(" ab", ID_SAB);
    EXPECT_IDS("  ab", 32, ID_SAB); /* Ġ is byte 32 */
    EXPECT_IDS("   ", ID_SS, 32);                          /* trailing run stays whole */
    EXPECT_IDS("12", '1', '2');                            /* one digit per piece */
    EXPECT_IDS("it's", 'i', 't', ID_APOS_S);
    EXPECT_IDS("IT'S", 'I', 'T', '\'', 'S');
    EXPECT_IDS("'sab", ID_APOS_S, ID_AB); /* the contraction ends its piece */
    EXPECT_IDS(" !!ab", 32, '!', '!', ID_AB);
    /* Added tokens: longest match, flags. */
    EXPECT_IDS("ab<|x|>ab", ID_AB, 300, ID_AB);
    EXPECT_IDS("<|x|>longab", 301, ID_AB);
    EXPECT_IDS("ab  <L>ab", ID_AB, 302, ID_AB);
    EXPECT_IDS("<R>   ab", 303, ID_AB);
    EXPECT_IDS("a word b", 'a', 32, 304, 32, 'b');
    EXPECT_IDS("swordy", 's', 'w', 'o', 'r', 'd', 'y'); /* single_word: not inside a word */
    /* NFC before BPE: e + combining acute is é. */
    EXPECT_IDS("e\xCC\x81", ID_E_ACUTE);
    EXPECT_IDS("\xC3\xA9", ID_E_ACUTE);

    /* Unicode 16 letters (U+1C8A) are letters for the reference: "'s" stays a contraction. */
    EXPECT_IDS("\xE1\xB2\x8A's", 0xE1, 0xB2, 0x8A, ID_APOS_S);
    /* Marks newer than the reference's NFC data (U+0D3B) are not reordered there. */
    size_t nlen = 0;
    char *nfc = qt_nfc("x\xCC\x81\xE0\xB4\xBB", 6, &nlen);
    CHECK_STR_EQ(nfc, "x\xCC\x81\xE0\xB4\xBB");
    free(nfc);
    nfc = qt_nfc("x\xCC\x81\xCC\xB4", 5, &nlen); /* U+0334 (class 1) moves before U+0301 */
    CHECK_STR_EQ(nfc, "x\xCC\xB4\xCC\x81");
    free(nfc);

    /* Invalid UTF-8 names its offset. */
    qt_ids out = {0};
    CHECK(qt_encode(session, "ab\xFF", 3, &out, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, "byte offset 2");
    CHECK(qt_encode(session, "\xED\xA0\x80", 3, &out, err, sizeof err) == -1); /* surrogate */
    CHECK(qt_encode(session, "\xC0\xAF", 2, &out, err, sizeof err) == -1);     /* overlong */
    free(out.v);

    roundtrip(tok, "It's  a\tb\r\n\n 12 <|x|> \xE6\x97\xA5\xE6\x9C\xAC e\xCC\x81!",
              "It's  a\tb\r\n\n 12 <|x|> \xE6\x97\xA5\xE6\x9C\xAC \xC3\xA9!");
    /* Decoding a lone byte of a multi-byte character gives U+FFFD; unknown ids fail. */
    int32_t partial[] = {0xE6, 'a'};
    char *text = NULL;
    CHECK(qt_decode(tok, partial, 2, &text, NULL, err, sizeof err) == 0);
    CHECK_STR_EQ(text, "\xEF\xBF\xBD" "a");
    free(text);
    int32_t bad[] = {1, 999};
    CHECK(qt_decode(tok, bad, 2, &text, NULL, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, "999");

    /* A 200 kB word without spaces stays fast (no quadratic merging). */
    size_t big = 200000;
    char *word = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        word[i] = i % 2 ? 'b' : 'a';
    word[big] = '\0';
    clock_t t0 = clock();
    qt_ids ids = {0};
    CHECK(qt_encode(session, word, big, &ids, err, sizeof err) == 0);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK_INT_EQ(ids.n, big / 4);
    for (size_t i = 0; i < ids.n; i++)
        if (ids.v[i] != ID_ABAB) {
            CHECK_INT_EQ(ids.v[i], ID_ABAB);
            break;
        }
    CHECK(secs < 2.0);
    free(ids.v);
    free(word);

    /* Files other than Qwen2's are refused with the reason. */
    const char *other = "{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]},"
                        "\"pre_tokenizer\":{\"type\":\"Whitespace\"}}";
    qt_tokenizer *t2 = NULL;
    CHECK(qt_load_json(other, strlen(other), &t2, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, "pre_tokenizer");
    CHECK(qt_load_json("{", 1, &t2, err, sizeof err) == -1);
    CHECK(qt_load_dir("/nonexistent-dir", &t2, err, sizeof err) == -1);
    CHECK_STR_CONTAINS(err, "vocab.json");

    qt_session_free(session);
    qt_free(tok);
    return check_failures ? 1 : 0;
}
