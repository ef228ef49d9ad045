/* Learning a byte-level BPE vocabulary from the built-in text, deterministically.
 *
 * The text is split the way Qwen2's pre-tokenizer splits (an approximation that needs no
 * Unicode tables: every non-ASCII code point outside the punctuation blocks counts as a
 * letter), each piece becomes its GPT-2 byte-level symbols, and the most frequent adjacent
 * pair is merged until the vocabulary is full or no pair occurs twice. Filler merges then
 * complete a large vocabulary. Only the training uses the approximation: the written
 * tokenizer.json carries Qwen2's exact regex. */
#include "spark_internal.h"

#include <spark/nn/spark_tokenizer.h>

#include <stdlib.h>
#include <string.h>

struct nn_bpe {
    char **tokens;          /* byte-level strings, by id */
    size_t count, cap;
    size_t (*merges)[2];    /* by rank */
    size_t merge_count, learned;
    nn_strmap index;        /* token -> id */
};

/* ---- GPT-2 byte-to-unicode ------------------------------------------------------------- */

/* Printable bytes map to themselves; the other 68 to U+0100 onwards, in byte order. Ids
 * follow Qwen2's vocabulary: the printable bytes first ("!" is id 0), then the others. */
static void byte_level_table(uint32_t codepoint_of_id[256], uint8_t byte_of_id[256])
{
    int id = 0;
    for (int b = 0; b < 256; b++)
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
            byte_of_id[id] = (uint8_t)b;
            codepoint_of_id[id++] = (uint32_t)b;
        }
    int extra = 0;
    for (int b = 0; b < 256; b++)
        if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
            byte_of_id[id] = (uint8_t)b;
            codepoint_of_id[id++] = 256u + (uint32_t)extra++;
        }
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

/* ---- pre-tokenizing the training text -------------------------------------------------- */

/* Decodes one code point of valid UTF-8 at s; sets *len. */
static uint32_t utf8_decode(const unsigned char *s, size_t *len)
{
    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    if ((s[0] & 0xE0) == 0xC0) {
        *len = 2;
        return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if ((s[0] & 0xF0) == 0xE0) {
        *len = 3;
        return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    *len = 4;
    return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
           ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

static bool is_space(uint32_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || c == 0x85 || c == 0xA0 || c == 0x3000 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029;
}

static bool is_digit(uint32_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_letter(uint32_t c)
{
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c < 0xC0 || c == 0xD7 || c == 0xF7)
        return false;
    /* Punctuation and symbol blocks the text uses. */
    if ((c >= 0x2000 && c <= 0x206F) || (c >= 0x3000 && c <= 0x303F) ||
        (c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) || c == 0x30FB)
        return false;
    return !is_space(c);
}

static bool is_newline(uint32_t c)
{
    return c == '\r' || c == '\n';
}

/* Length in bytes of the pre-token at s (non-empty text). */
static size_t next_piece(const unsigned char *s)
{
    size_t n0, n1;
    uint32_t c0 = utf8_decode(s, &n0);
    /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
    if (c0 == '\'') {
        static const char *const tails[] = {"re", "ve", "ll", "s", "t", "m", "d"};
        for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
            size_t k = strlen(tails[i]), j = 0;
            while (j < k && s[1 + j] && (s[1 + j] | 0x20) == (unsigned char)tails[i][j])
                j++;
            if (j == k)
                return 1 + k;
        }
    }
    uint32_t c1 = s[n0] ? utf8_decode(s + n0, &n1) : 0;
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    size_t start = 0;
    if (is_letter(c0))
        start = 0;
    else if (!is_newline(c0) && !is_digit(c0) && c1 && is_letter(c1))
        start = n0;
    else
        start = (size_t)-1;
    if (start != (size_t)-1) {
        size_t p = start, n;
        while (s[p] && is_letter(utf8_decode(s + p, &n)))
            p += n;
        return p;
    }
    /* \p{N} */
    if (is_digit(c0))
        return 1;
    /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
    {
        size_t p = c0 == ' ' ? 1 : 0, n;
        size_t first = p;
        while (s[p]) {
            uint32_t c = utf8_decode(s + p, &n);
            if (is_space(c) || is_letter(c) || is_digit(c))
                break;
            p += n;
        }
        if (p > first) {
            while (s[p] == '\r' || s[p] == '\n')
                p++;
            return p;
        }
    }
    /* Whitespace: \s*[\r\n]+, then \s+(?!\S), then \s+. */
    size_t p = 0, n, last_newline_end = 0;
    while (s[p]) {
        uint32_t c = utf8_decode(s + p, &n);
        if (!is_space(c))
            break;
        p += n;
        if (is_newline(c))
            last_newline_end = p;
    }
    if (last_newline_end)
        return last_newline_end;
    if (!s[p] || p == n0)
        return p; /* at the end, or a single space before a non-space */
    /* Leave the last whitespace character to prefix the next piece. */
    size_t q = 0, prev = 0;
    while (q < p) {
        prev = q;
        utf8_decode(s + q, &n);
        q += n;
    }
    return prev;
}

/* ---- the pair counts ------------------------------------------------------------------- */

typedef struct pair_counts {
    uint64_t *keys; /* (left << 32 | right) + 1; 0 marks an empty slot */
    int64_t *counts;
    size_t cap;
} pair_counts;

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdu;
    x ^= x >> 33;
    return x;
}

static int pair_add(pair_counts *pc, uint64_t key, int64_t count)
{
    key += 1;
    size_t slot = mix(key) & (pc->cap - 1);
    while (pc->keys[slot] && pc->keys[slot] != key)
        slot = (slot + 1) & (pc->cap - 1);
    pc->keys[slot] = key;
    pc->counts[slot] += count;
    return 0;
}

/* ---- learning -------------------------------------------------------------------------- */

typedef struct word {
    uint32_t *symbols;
    size_t len;
    int64_t count;
} word;

static int add_token(nn_bpe *bpe, const char *text, size_t len)
{
    if (bpe->count == bpe->cap) {
        size_t cap = bpe->cap ? 2 * bpe->cap : 1024;
        char **grown = realloc(bpe->tokens, cap * sizeof *grown);
        if (!grown)
            return -1;
        bpe->tokens = grown;
        bpe->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    if (nn_strmap_put(&bpe->index, copy, len, (int64_t)bpe->count) != 0) {
        free(copy);
        return -1;
    }
    bpe->tokens[bpe->count++] = copy;
    return 0;
}

/* Adds the merge of left and right unless the joined text is already a token (then there is
 * no new id to give it). Returns 1 when added, 0 when skipped, -1 on allocation failure. */
static int add_merge(nn_bpe *bpe, size_t left, size_t right, size_t merge_cap)
{
    size_t ll = strlen(bpe->tokens[left]), rl = strlen(bpe->tokens[right]);
    char *joined = malloc(ll + rl + 1);
    if (!joined)
        return -1;
    memcpy(joined, bpe->tokens[left], ll);
    memcpy(joined + ll, bpe->tokens[right], rl + 1);
    if (nn_strmap_get(&bpe->index, joined, ll + rl) >= 0) {
        free(joined);
        return 0;
    }
    int rc = add_token(bpe, joined, ll + rl);
    free(joined);
    if (rc != 0 || bpe->merge_count >= merge_cap)
        return -1;
    bpe->merges[bpe->merge_count][0] = left;
    bpe->merges[bpe->merge_count][1] = right;
    bpe->merge_count++;
    return 1;
}

static void apply_merge(word *words, size_t n, uint32_t left, uint32_t right, uint32_t merged)
{
    for (size_t w = 0; w < n; w++) {
        size_t out = 0;
        for (size_t i = 0; i < words[w].len; i++) {
            if (i + 1 < words[w].len && words[w].symbols[i] == left &&
                words[w].symbols[i + 1] == right) {
                words[w].symbols[out++] = merged;
                i++;
            } else {
                words[w].symbols[out++] = words[w].symbols[i];
            }
        }
        words[w].len = out;
    }
}

/* Splits the text into pieces and counts each distinct piece once. */
static word *collect_words(const uint8_t id_of_byte[256], size_t *count)
{
    nn_strmap seen = {0};
    word *words = NULL;
    size_t n = 0, cap = 0;
    const unsigned char *s = (const unsigned char *)nn_bpe_corpus;
    while (*s) {
        size_t len = next_piece(s);
        if (len == 0)
            len = 1; /* cannot happen on valid text; never loop forever */
        int64_t at = nn_strmap_get(&seen, (const char *)s, len);
        if (at >= 0) {
            words[at].count++;
        } else {
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                word *grown = realloc(words, cap * sizeof *grown);
                if (!grown)
                    goto fail;
                words = grown;
            }
            words[n].symbols = malloc(len * sizeof *words[n].symbols);
            if (!words[n].symbols || nn_strmap_put(&seen, (const char *)s, len, (int64_t)n)) {
                free(words[n].symbols);
                goto fail;
            }
            for (size_t i = 0; i < len; i++)
                words[n].symbols[i] = id_of_byte[s[i]];
            words[n].len = len;
            words[n].count = 1;
            n++;
        }
        s += len;
    }
    nn_strmap_free(&seen);
    *count = n;
    return words;
fail:
    for (size_t i = 0; i < n; i++)
        free(words[i].symbols);
    free(words);
    nn_strmap_free(&seen);
    return NULL;
}

/* Merges the most frequent pair (ties: lowest left id, then lowest right id) while one occurs
 * at least twice. */
static int learn_from_text(nn_bpe *bpe, word *words, size_t nwords, size_t vocab_size)
{
    size_t symbols = 0;
    for (size_t w = 0; w < nwords; w++)
        symbols += words[w].len;
    pair_counts pc = {0};
    pc.cap = 1;
    while (pc.cap < 2 * symbols + 16)
        pc.cap *= 2;
    pc.keys = malloc(pc.cap * sizeof *pc.keys);
    pc.counts = malloc(pc.cap * sizeof *pc.counts);
    size_t banned_n = 0;
    uint64_t *banned_keys = NULL; /* pairs whose joined text already exists */
    int rc = 0;
    if (!pc.keys || !pc.counts)
        rc = -1;
    while (rc == 0 && bpe->count < vocab_size) {
        memset(pc.keys, 0, pc.cap * sizeof *pc.keys);
        memset(pc.counts, 0, pc.cap * sizeof *pc.counts);
        for (size_t w = 0; w < nwords; w++)
            for (size_t i = 0; i + 1 < words[w].len; i++)
                pair_add(&pc, ((uint64_t)words[w].symbols[i] << 32) | words[w].symbols[i + 1],
                         words[w].count);
        uint64_t best = 0;
        int64_t best_count = 1;
        for (size_t slot = 0; slot < pc.cap; slot++) {
            if (!pc.keys[slot])
                continue;
            uint64_t key = pc.keys[slot] - 1;
            bool is_banned = false;
            for (size_t b = 0; b < banned_n; b++)
                is_banned |= banned_keys[b] == key;
            if (is_banned)
                continue;
            if (pc.counts[slot] > best_count ||
                (pc.counts[slot] == best_count && best_count > 1 && key < best))
                best = key, best_count = pc.counts[slot];
        }
        if (best_count < 2)
            break;
        size_t left = (size_t)(best >> 32), right = (size_t)(best & 0xffffffffu);
        int added = add_merge(bpe, left, right, vocab_size - 256);
        if (added < 0) {
            rc = -1;
        } else if (added == 0) {
            uint64_t *grown = realloc(banned_keys, (banned_n + 1) * sizeof *grown);
            if (!grown)
                rc = -1;
            else
                (banned_keys = grown)[banned_n++] = best;
        } else {
            apply_merge(words, nwords, (uint32_t)left, (uint32_t)right,
                        (uint32_t)(bpe->count - 1));
        }
    }
    free(banned_keys);
    free(pc.keys);
    free(pc.counts);
    return rc;
}

nn_bpe *nn_bpe_learn(size_t vocab_size, char **error)
{
    *error = NULL;
    if (vocab_size < 256) {
        *error = nn_format("a byte-level BPE needs at least 256 tokens, not %zu", vocab_size);
        return NULL;
    }
    nn_bpe *bpe = calloc(1, sizeof *bpe);
    if (!bpe)
        goto oom;
    bpe->merges = malloc((vocab_size - 256 + 1) * sizeof *bpe->merges);
    if (!bpe->merges)
        goto oom;
    uint32_t codepoint_of_id[256];
    uint8_t byte_of_id[256], id_of_byte[256];
    byte_level_table(codepoint_of_id, byte_of_id);
    for (int id = 0; id < 256; id++) {
        char text[4];
        size_t len = utf8_encode(codepoint_of_id[id], text);
        if (add_token(bpe, text, len) != 0)
            goto oom;
        id_of_byte[byte_of_id[id]] = (uint8_t)id;
    }
    size_t nwords = 0;
    word *words = collect_words(id_of_byte, &nwords);
    if (!words)
        goto oom;
    int rc = learn_from_text(bpe, words, nwords, vocab_size);
    for (size_t w = 0; w < nwords; w++)
        free(words[w].symbols);
    free(words);
    if (rc != 0)
        goto oom;
    bpe->learned = bpe->merge_count;
    /* Filler: token i followed by byte j, in order, skipping texts that exist. */
    for (size_t left = 0, byte = 0; bpe->count < vocab_size;) {
        if (add_merge(bpe, left, byte, vocab_size - 256) < 0)
            goto oom;
        if (++byte == 256) {
            byte = 0;
            left++;
        }
    }
    return bpe;
oom:
    nn_bpe_free(bpe);
    *error = nn_format("learning a BPE vocabulary: out of memory");
    return NULL;
}

void nn_bpe_free(nn_bpe *bpe)
{
    if (!bpe)
        return;
    for (size_t i = 0; i < bpe->count; i++)
        free(bpe->tokens[i]);
    free(bpe->tokens);
    free(bpe->merges);
    nn_strmap_free(&bpe->index);
    free(bpe);
}

size_t nn_bpe_token_count(const nn_bpe *bpe)
{
    return bpe->count;
}

const char *nn_bpe_token(const nn_bpe *bpe, size_t id)
{
    return id < bpe->count ? bpe->tokens[id] : NULL;
}

size_t nn_bpe_merge_count(const nn_bpe *bpe)
{
    return bpe->merge_count;
}

size_t nn_bpe_learned_merges(const nn_bpe *bpe)
{
    return bpe->learned;
}

void nn_bpe_merge(const nn_bpe *bpe, size_t rank, size_t *left, size_t *right)
{
    *left = bpe->merges[rank][0];
    *right = bpe->merges[rank][1];
}
