/* qwen2_tokenizer.c - loading, encoding and decoding of the Qwen2 byte-level BPE.
 *
 * The encoding order is the reference's: added tokens that skip the normalizer are split out
 * of the raw text, each remaining piece is normalised (NFC), the normalised added tokens are
 * split out of it, the rest goes through the Qwen2 regex split, the byte-to-unicode mapping
 * and BPE by merge rank. */
#define _POSIX_C_SOURCE 200809L
#include "qwen2_tokenizer.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

const char qt_qwen2_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Words longer than this are encoded without the cache (as the reference's cache does). */
#define CACHE_MAX_WORD 256
#define CACHE_MAX_ENTRIES 65536

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static uint64_t hash_bytes(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* ---- string -> id map (open addressing; keys point into an owned arena) ---- */

typedef struct str_slot {
    uint32_t off, len; /* into the map's arena */
    int32_t id;        /* -1: empty */
} str_slot;

typedef struct str_map {
    str_slot *slots;
    size_t cap, count;
    char *arena;
    size_t arena_len, arena_cap;
} str_map;

static int str_map_grow(str_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    str_slot *slots = malloc(cap * sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < cap; i++)
        slots[i].id = -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].id < 0)
            continue;
        size_t j = hash_bytes(m->arena + m->slots[i].off, m->slots[i].len) & (cap - 1);
        while (slots[j].id >= 0)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

static int32_t str_map_get(const str_map *m, const char *key, size_t len)
{
    if (!m->cap)
        return -1;
    size_t j = hash_bytes(key, len) & (m->cap - 1);
    while (m->slots[j].id >= 0) {
        if (m->slots[j].len == len && memcmp(m->arena + m->slots[j].off, key, len) == 0)
            return m->slots[j].id;
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

/* Insert or overwrite; returns the arena offset of the key, or -1 on allocation failure. */
static long str_map_put(str_map *m, const char *key, size_t len, int32_t id)
{
    if ((m->count + 1) * 2 > m->cap && str_map_grow(m))
        return -1;
    size_t j = hash_bytes(key, len) & (m->cap - 1);
    while (m->slots[j].id >= 0) {
        if (m->slots[j].len == len && memcmp(m->arena + m->slots[j].off, key, len) == 0) {
            m->slots[j].id = id;
            return m->slots[j].off;
        }
        j = (j + 1) & (m->cap - 1);
    }
    if (m->arena_len + len + 1 > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 4096;
        while (cap < m->arena_len + len + 1)
            cap *= 2;
        char *a = realloc(m->arena, cap);
        if (!a)
            return -1;
        m->arena = a;
        m->arena_cap = cap;
    }
    if (m->arena_len > UINT32_MAX - len - 1)
        return -1;
    memcpy(m->arena + m->arena_len, key, len);
    m->arena[m->arena_len + len] = '\0';
    m->slots[j].off = (uint32_t)m->arena_len;
    m->slots[j].len = (uint32_t)len;
    m->slots[j].id = id;
    m->arena_len += len + 1;
    m->count++;
    return (long)m->slots[j].off;
}

static void str_map_free(str_map *m)
{
    free(m->slots);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

/* ---- merge map: (left id, right id) -> rank and merged id ---- */

typedef struct merge_slot {
    uint64_t key; /* UINT64_MAX: empty */
    uint32_t rank;
    int32_t id;
} merge_slot;

typedef struct merge_map {
    merge_slot *slots;
    size_t cap, count;
} merge_map;

static uint64_t pair_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static const merge_slot *merge_get(const merge_map *m, int32_t a, int32_t b)
{
    if (!m->cap)
        return NULL;
    uint64_t key = pair_key(a, b);
    size_t j = hash_u64(key) & (m->cap - 1);
    while (m->slots[j].key != UINT64_MAX) {
        if (m->slots[j].key == key)
            return &m->slots[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

static int merge_map_init(merge_map *m, size_t expected)
{
    size_t cap = 1024;
    while (cap < expected * 2)
        cap *= 2;
    m->slots = malloc(cap * sizeof *m->slots);
    if (!m->slots)
        return -1;
    for (size_t i = 0; i < cap; i++)
        m->slots[i].key = UINT64_MAX;
    m->cap = cap;
    m->count = 0;
    return 0;
}

/* The first merge of a pair wins, as in the reference (later duplicates keep the first rank). */
static void merge_put(merge_map *m, int32_t a, int32_t b, uint32_t rank, int32_t id)
{
    uint64_t key = pair_key(a, b);
    size_t j = hash_u64(key) & (m->cap - 1);
    while (m->slots[j].key != UINT64_MAX) {
        if (m->slots[j].key == key)
            return;
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j].key = key;
    m->slots[j].rank = rank;
    m->slots[j].id = id;
    m->count++;
}

/* ---- added tokens: a byte trie per matching pass ---- */

typedef struct added_token {
    char *content; /* as matched (normalised when `normalized`) */
    char *raw;     /* as written in the file, for decoding */
    int32_t id;
    bool special, normalized, lstrip, rstrip, single_word;
} added_token;

typedef struct trie_node {
    int32_t child;   /* first child, -1 none */
    int32_t sibling; /* next sibling, -1 none */
    int32_t token;   /* index into added tokens ending here, -1 none */
    unsigned char byte;
} trie_node;

typedef struct trie {
    trie_node *nodes;
    size_t count, cap;
    bool first_byte[256];
    bool empty;
} trie;

static int trie_new_node(trie *t, unsigned char byte)
{
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        trie_node *n = realloc(t->nodes, cap * sizeof *n);
        if (!n)
            return -1;
        t->nodes = n;
        t->cap = cap;
    }
    t->nodes[t->count] = (trie_node){-1, -1, -1, byte};
    return (int)t->count++;
}

static int trie_insert(trie *t, const char *s, int32_t token)
{
    if (t->count == 0 && trie_new_node(t, 0) < 0)
        return -1;
    size_t len = strlen(s);
    if (len == 0)
        return 0; /* the reference never matches an empty token */
    t->first_byte[(unsigned char)s[0]] = true;
    t->empty = false;
    int32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        int32_t c = t->nodes[node].child;
        while (c >= 0 && t->nodes[c].byte != b)
            c = t->nodes[c].sibling;
        if (c < 0) {
            int n = trie_new_node(t, b);
            if (n < 0)
                return -1;
            t->nodes[n].sibling = t->nodes[node].child;
            t->nodes[node].child = n;
            c = n;
        }
        node = c;
    }
    /* Two tokens with the same content: the first one added keeps it. */
    if (t->nodes[node].token < 0)
        t->nodes[node].token = token;
    return 0;
}

/* The longest token starting at s[0], its length in *len; -1 when none. */
static int32_t trie_longest(const trie *t, const char *s, size_t avail, size_t *len)
{
    int32_t best = -1;
    int32_t node = 0;
    for (size_t i = 0; i < avail; i++) {
        unsigned char b = (unsigned char)s[i];
        int32_t c = t->nodes[node].child;
        while (c >= 0 && t->nodes[c].byte != b)
            c = t->nodes[c].sibling;
        if (c < 0)
            break;
        node = c;
        if (t->nodes[node].token >= 0) {
            best = t->nodes[node].token;
            *len = i + 1;
        }
    }
    return best;
}

/* ---- the tokenizer ---- */

struct qt_tokenizer {
    str_map vocab;      /* byte-level token string -> id */
    merge_map merges;
    char **id_text;     /* id -> token string (vocab arena or added token raw) */
    size_t id_count;
    added_token *added;
    size_t added_count;
    str_map added_by_text; /* raw content -> id */
    trie raw_trie, norm_trie;
    bool nfc;
    bool ignore_merges;
    int32_t byte_id[256]; /* id of each single byte's byte-level char, -1 when absent */
};

/* GPT-2's byte -> code point table and its inverse. */
static uint32_t byte_to_cp[256];
static int16_t cp_to_byte[324];
static char byte_utf8[256][3];
static uint8_t byte_utf8_len[256];

static void byte_tables_init(void)
{
    uint32_t extra = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
        byte_to_cp[b] = printable ? (uint32_t)b : 256 + extra++;
    }
    for (int i = 0; i < 324; i++)
        cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = byte_to_cp[b];
        cp_to_byte[cp] = (int16_t)b;
        if (cp < 0x80) {
            byte_utf8[b][0] = (char)cp;
            byte_utf8_len[b] = 1;
        } else {
            byte_utf8[b][0] = (char)(0xC0 | (cp >> 6));
            byte_utf8[b][1] = (char)(0x80 | (cp & 0x3F));
            byte_utf8_len[b] = 2;
        }
    }
}

static pthread_once_t byte_tables_once = PTHREAD_ONCE_INIT;

static qt_tokenizer *tokenizer_new(void)
{
    pthread_once(&byte_tables_once, byte_tables_init);
    return calloc(1, sizeof(qt_tokenizer));
}

void qt_free(qt_tokenizer *t)
{
    if (!t)
        return;
    str_map_free(&t->vocab);
    free(t->merges.slots);
    free(t->id_text);
    for (size_t i = 0; i < t->added_count; i++) {
        free(t->added[i].content);
        free(t->added[i].raw);
    }
    free(t->added);
    str_map_free(&t->added_by_text);
    free(t->raw_trie.nodes);
    free(t->norm_trie.nodes);
    free(t);
}

size_t qt_vocab_size(const qt_tokenizer *t)
{
    return t->id_count;
}

int32_t qt_token_id(const qt_tokenizer *t, const char *token)
{
    size_t len = strlen(token);
    int32_t id = str_map_get(&t->added_by_text, token, len);
    return id >= 0 ? id : str_map_get(&t->vocab, token, len);
}

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s, or 0 when invalid (overlong, surrogate, > U+10FFFF,
 * truncated). */
static size_t utf8_valid_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* Length of the maximal invalid subpart at s (what one U+FFFD replaces). */
static size_t utf8_invalid_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else
        return 1;
    size_t i = 1;
    if (i < avail && s[i] >= lo && s[i] <= hi) {
        i++;
        while (i < n && i < avail && (s[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

static uint32_t utf8_decode(const unsigned char *s, size_t n)
{
    switch (n) {
    case 1:
        return s[0];
    case 2:
        return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3:
        return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
}

/* ---- NFC ---- */

/* Character classes of the Qwen2 regex (also used by unicode_overrides.h). */
enum { C_L = 1, C_N = 2, C_S = 4, C_NL = 8 };

#include "unicode_overrides.h"

static bool nfc_is_opaque(uint32_t cp)
{
    size_t lo = 0, hi = sizeof nfc_opaque / sizeof nfc_opaque[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < nfc_opaque[mid].first)
            hi = mid;
        else if (cp > nfc_opaque[mid].last)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* Code points that are NFC-stable whatever surrounds them: no decomposition that NFC keeps,
 * combining class 0, never the second half of a composition. A piece made only of these is
 * already NFC, which spares utf8proc the common scripts. */
static bool nfc_inert(uint32_t cp)
{
    return cp < 0x300 || (cp >= 0x400 && cp <= 0x482) || (cp >= 0x48A && cp <= 0x52F) ||
           (cp >= 0x621 && cp <= 0x63A) || (cp >= 0x641 && cp <= 0x64A) ||
           (cp >= 0x2010 && cp <= 0x205E) || (cp >= 0x3000 && cp <= 0x3029) ||
           (cp >= 0x3041 && cp <= 0x3096) || (cp >= 0x30A1 && cp <= 0x30FA) ||
           (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
           (cp >= 0xFF01 && cp <= 0xFF5E) || (cp >= 0x1F300 && cp <= 0x1FAFF);
}

static bool needs_nfc(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_valid_len(p + i, len - i);
        if (!n || !nfc_inert(utf8_decode(p + i, n)))
            return true;
        i += n;
    }
    return false;
}

static char *nfc_utf8proc(const char *text, size_t len, size_t *out_len)
{
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len,
                                      &dst, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (n < 0) {
        free(dst);
        return NULL;
    }
    *out_len = (size_t)n;
    return (char *)dst;
}

/* NFC as the reference computes it: code points its older normalisation data lacks stay as
 * they are and, being starters there, cut the text into runs normalised on their own. */
char *qt_nfc(const char *text, size_t len, size_t *out_len)
{
    if (!needs_nfc(text, len)) {
        char *copy = malloc(len + 1);
        if (!copy)
            return NULL;
        memcpy(copy, text, len);
        copy[len] = '\0';
        *out_len = len;
        return copy;
    }
    const unsigned char *p = (const unsigned char *)text;
    char *out = NULL;
    size_t out_n = 0, run = 0;
    for (size_t i = 0; i <= len;) {
        size_t l = i < len ? utf8_valid_len(p + i, len - i) : 0;
        if (i < len && !l) {
            free(out);
            return NULL;
        }
        bool cut = i == len || (p[i] >= 0x80 && nfc_is_opaque(utf8_decode(p + i, l)));
        if (!cut) {
            i += l;
            continue;
        }
        if (run == 0 && i == len && !out)
            return nfc_utf8proc(text, len, out_len); /* the common case: nothing to cut */
        size_t n = 0;
        char *norm = i > run ? nfc_utf8proc(text + run, i - run, &n) : NULL;
        char *grown = (i > run && !norm) ? NULL : realloc(out, out_n + n + l + 1);
        if (!grown) {
            free(norm);
            free(out);
            return NULL;
        }
        out = grown;
        if (n)
            memcpy(out + out_n, norm, n);
        free(norm);
        out_n += n;
        memcpy(out + out_n, text + i, l); /* the opaque code point itself */
        out_n += l;
        out[out_n] = '\0';
        if (i == len)
            break;
        i += l;
        run = i;
    }
    *out_len = out_n;
    return out;
}

/* ---- loading ---- */

static int add_vocab(qt_tokenizer *t, const char *text, size_t len, long long id, char *err,
                     size_t cap)
{
    if (id < 0 || id > INT32_MAX - 1) {
        set_err(err, cap, "vocabulary id %lld of \"%s\" is out of range", id, text);
        return -1;
    }
    if (str_map_put(&t->vocab, text, len, (int32_t)id) < 0) {
        set_err(err, cap, "out of memory");
        return -1;
    }
    return 0;
}

static int add_merge(qt_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                     uint32_t rank, char *err, size_t cap)
{
    int32_t ia = str_map_get(&t->vocab, a, alen);
    int32_t ib = str_map_get(&t->vocab, b, blen);
    char *joined = malloc(alen + blen + 1);
    if (!joined) {
        set_err(err, cap, "out of memory");
        return -1;
    }
    memcpy(joined, a, alen);
    memcpy(joined + alen, b, blen);
    joined[alen + blen] = '\0';
    int32_t inew = str_map_get(&t->vocab, joined, alen + blen);
    if (ia < 0 || ib < 0 || inew < 0) {
        set_err(err, cap, "merge %u \"%.*s %.*s\" uses a token missing from the vocabulary",
                rank, (int)alen, a, (int)blen, b);
        free(joined);
        return -1;
    }
    free(joined);
    merge_put(&t->merges, ia, ib, rank, inew);
    return 0;
}

/* Merges given as "a b" strings or as [a, b] pairs. */
static int load_merges_json(qt_tokenizer *t, const cJSON *merges, char *err, size_t cap)
{
    if (merge_map_init(&t->merges, (size_t)cJSON_GetArraySize(merges))) {
        set_err(err, cap, "out of memory");
        return -1;
    }
    uint32_t rank = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        if (cJSON_IsString(m)) {
            const char *s = m->valuestring;
            const char *sp = strchr(s, ' ');
            if (!sp) {
                set_err(err, cap, "merge %u \"%s\" is not two tokens", rank, s);
                return -1;
            }
            if (add_merge(t, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), rank, err, cap))
                return -1;
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
            const char *a = cJSON_GetArrayItem(m, 0)->valuestring;
            const char *b = cJSON_GetArrayItem(m, 1)->valuestring;
            if (add_merge(t, a, strlen(a), b, strlen(b), rank, err, cap))
                return -1;
        } else {
            set_err(err, cap, "merge %u is neither a string nor a pair of strings", rank);
            return -1;
        }
        rank++;
    }
    return 0;
}

static bool json_bool(const cJSON *obj, const char *key, bool fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : fallback;
}

static int add_added_token(qt_tokenizer *t, const char *content, long long id, bool special,
                           bool normalized, bool lstrip, bool rstrip, bool single_word,
                           char *err, size_t cap)
{
    if (id < 0 || id > INT32_MAX - 1) {
        set_err(err, cap, "added token \"%s\" has an id out of range", content);
        return -1;
    }
    added_token *a = realloc(t->added, (t->added_count + 1) * sizeof *a);
    if (!a) {
        set_err(err, cap, "out of memory");
        return -1;
    }
    t->added = a;
    added_token *tok = &t->added[t->added_count];
    memset(tok, 0, sizeof *tok);
    tok->raw = strdup(content);
    size_t nlen = 0;
    tok->content = normalized && t->nfc ? qt_nfc(content, strlen(content), &nlen)
                                        : strdup(content);
    if (!tok->raw || !tok->content) {
        free(tok->raw);
        free(tok->content);
        set_err(err, cap, "out of memory");
        return -1;
    }
    tok->id = (int32_t)id;
    tok->special = special;
    tok->normalized = normalized;
    tok->lstrip = lstrip;
    tok->rstrip = rstrip;
    tok->single_word = single_word;
    t->added_count++;
    if (str_map_put(&t->added_by_text, content, strlen(content), (int32_t)id) < 0) {
        set_err(err, cap, "out of memory");
        return -1;
    }
    return 0;
}

/* Tries, id -> text table, single-byte ids: everything derived once the lists are loaded. */
static int finish_load(qt_tokenizer *t, char *err, size_t cap)
{
    size_t max_id = 0;
    for (size_t i = 0; i < t->vocab.cap; i++)
        if (t->vocab.slots[i].id >= 0 && (size_t)t->vocab.slots[i].id + 1 > max_id)
            max_id = (size_t)t->vocab.slots[i].id + 1;
    for (size_t i = 0; i < t->added_count; i++)
        if ((size_t)t->added[i].id + 1 > max_id)
            max_id = (size_t)t->added[i].id + 1;
    t->id_count = max_id;
    t->id_text = calloc(max_id ? max_id : 1, sizeof *t->id_text);
    if (!t->id_text) {
        set_err(err, cap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < t->vocab.cap; i++)
        if (t->vocab.slots[i].id >= 0)
            t->id_text[t->vocab.slots[i].id] = t->vocab.arena + t->vocab.slots[i].off;
    for (size_t i = 0; i < t->added_count; i++) {
        t->id_text[t->added[i].id] = t->added[i].raw;
        trie *tr = t->added[i].normalized ? &t->norm_trie : &t->raw_trie;
        if (trie_insert(tr, t->added[i].content, (int32_t)i)) {
            set_err(err, cap, "out of memory");
            return -1;
        }
    }
    for (int b = 0; b < 256; b++)
        t->byte_id[b] = str_map_get(&t->vocab, byte_utf8[b], byte_utf8_len[b]);
    return 0;
}

static bool is_nfc_normalizer(const cJSON *n)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(n, "type");
    if (!cJSON_IsString(type))
        return false;
    if (strcmp(type->valuestring, "NFC") == 0)
        return true;
    if (strcmp(type->valuestring, "Sequence") != 0)
        return false;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
    const cJSON *item;
    int count = 0;
    cJSON_ArrayForEach(item, list) {
        if (!is_nfc_normalizer(item))
            return false;
        count++;
    }
    return count > 0;
}

static bool is_plain_byte_level(const cJSON *p)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    return cJSON_IsString(type) && strcmp(type->valuestring, "ByteLevel") == 0 &&
           !json_bool(p, "add_prefix_space", false) && !json_bool(p, "use_regex", true);
}

static bool is_qwen2_split(const cJSON *p)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(p, "pattern");
    const cJSON *regex = cJSON_GetObjectItemCaseSensitive(pattern, "Regex");
    const cJSON *behavior = cJSON_GetObjectItemCaseSensitive(p, "behavior");
    return cJSON_IsString(type) && strcmp(type->valuestring, "Split") == 0 &&
           cJSON_IsString(regex) && strcmp(regex->valuestring, qt_qwen2_regex) == 0 &&
           cJSON_IsString(behavior) && strcmp(behavior->valuestring, "Isolated") == 0 &&
           !json_bool(p, "invert", false);
}

static int check_pre_tokenizer(const cJSON *pre, char *err, size_t cap)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(pre, "type");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "Sequence") == 0 &&
        cJSON_GetArraySize(steps) == 2 && is_qwen2_split(cJSON_GetArrayItem(steps, 0)) &&
        is_plain_byte_level(cJSON_GetArrayItem(steps, 1)))
        return 0;
    set_err(err, cap, "unsupported pre_tokenizer: only Qwen2's (Split with the Qwen2 regex, "
                      "Isolated, then ByteLevel without its own regex) is implemented");
    return -1;
}

static int load_model(qt_tokenizer *t, const cJSON *root, char *err, size_t cap)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsObject(model) || (type && !(cJSON_IsString(type) &&
                                             strcmp(type->valuestring, "BPE") == 0))) {
        set_err(err, cap, "tokenizer.json: the model is not BPE");
        return -1;
    }
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    const cJSON *suffix = cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix");
    if ((cJSON_IsString(prefix) && prefix->valuestring[0]) ||
        (cJSON_IsString(suffix) && suffix->valuestring[0]) ||
        json_bool(model, "byte_fallback", false)) {
        set_err(err, cap, "tokenizer.json: subword prefixes, suffixes and byte fallback are "
                          "not part of Qwen2's BPE and are not supported");
        return -1;
    }
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (cJSON_IsNumber(dropout) && dropout->valuedouble > 0) {
        set_err(err, cap, "tokenizer.json: BPE dropout is not supported");
        return -1;
    }
    t->ignore_merges = json_bool(model, "ignore_merges", false);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges)) {
        set_err(err, cap, "tokenizer.json: model.vocab or model.merges is missing");
        return -1;
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab) {
        if (!cJSON_IsNumber(v)) {
            set_err(err, cap, "tokenizer.json: vocabulary entry \"%s\" has no numeric id",
                    v->string);
            return -1;
        }
        if (add_vocab(t, v->string, strlen(v->string), (long long)v->valuedouble, err, cap))
            return -1;
    }
    return load_merges_json(t, merges, err, cap);
}

static int load_root(qt_tokenizer *t, const cJSON *root, char *err, size_t cap)
{
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (norm && !cJSON_IsNull(norm)) {
        if (!is_nfc_normalizer(norm)) {
            set_err(err, cap, "unsupported normalizer: only NFC (or none) is implemented");
            return -1;
        }
        t->nfc = true;
    }
    if (check_pre_tokenizer(cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), err, cap))
        return -1;
    const cJSON *decoder = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(decoder, "type");
    if (decoder && !cJSON_IsNull(decoder) &&
        !(cJSON_IsString(dtype) && strcmp(dtype->valuestring, "ByteLevel") == 0)) {
        set_err(err, cap, "unsupported decoder: only ByteLevel is implemented");
        return -1;
    }
    if (load_model(t, root, err, cap))
        return -1;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    const cJSON *a;
    cJSON_ArrayForEach(a, list) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(content)) {
            set_err(err, cap, "tokenizer.json: an added token lacks its id or content");
            return -1;
        }
        bool special = json_bool(a, "special", false);
        if (add_added_token(t, content->valuestring, (long long)id->valuedouble, special,
                            json_bool(a, "normalized", !special), json_bool(a, "lstrip", false),
                            json_bool(a, "rstrip", false), json_bool(a, "single_word", false),
                            err, cap))
            return -1;
    }
    return finish_load(t, err, cap);
}

int qt_load_json(const char *json, size_t len, qt_tokenizer **out, char *err, size_t cap)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        set_err(err, cap, "tokenizer.json is not valid JSON");
        return -1;
    }
    qt_tokenizer *t = tokenizer_new();
    if (!t) {
        cJSON_Delete(root);
        set_err(err, cap, "out of memory");
        return -1;
    }
    int rc = load_root(t, root, err, cap);
    cJSON_Delete(root);
    if (rc) {
        qt_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

static char *read_file(const char *dir, const char *name, size_t *len)
{
    size_t plen = strlen(dir) + strlen(name) + 2;
    char *path = malloc(plen);
    if (!path)
        return NULL;
    snprintf(path, plen, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t n = 0, capacity = 0;
    for (;;) {
        if (n + 65536 + 1 > capacity) {
            capacity = capacity ? capacity * 2 : 1 << 20;
            char *b = realloc(buf, capacity);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, 65536, f);
        n += got;
        if (got < 65536)
            break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* vocab.json + merges.txt (+ added_tokens.json, flags from tokenizer_config.json), with the
 * Qwen2 normalizer and pre-tokenizer that such a directory implies. */
static int load_split_files(qt_tokenizer *t, const char *dir, char *err, size_t cap)
{
    t->nfc = true;
    size_t len = 0;
    char *text = read_file(dir, "vocab.json", &len);
    if (!text) {
        set_err(err, cap, "%s has neither tokenizer.json nor vocab.json", dir);
        return -1;
    }
    cJSON *vocab = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(vocab)) {
        cJSON_Delete(vocab);
        set_err(err, cap, "%s/vocab.json is not a JSON object", dir);
        return -1;
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab) {
        if (!cJSON_IsNumber(v) ||
            add_vocab(t, v->string, strlen(v->string), (long long)v->valuedouble, err, cap)) {
            if (!cJSON_IsNumber(v))
                set_err(err, cap, "vocab.json: \"%s\" has no numeric id", v->string);
            cJSON_Delete(vocab);
            return -1;
        }
    }
    cJSON_Delete(vocab);

    text = read_file(dir, "merges.txt", &len);
    if (!text) {
        set_err(err, cap, "%s/merges.txt is missing", dir);
        return -1;
    }
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    if (merge_map_init(&t->merges, lines)) {
        free(text);
        set_err(err, cap, "out of memory");
        return -1;
    }
    uint32_t rank = 0;
    char *line = text;
    while (line < text + len) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        if (!end)
            end = text + len;
        size_t l = (size_t)(end - line);
        if (l && line[l - 1] == '\r')
            l--;
        bool skip = l == 0 || (rank == 0 && l >= 8 && memcmp(line, "#version", 8) == 0);
        if (!skip) {
            char *sp = memchr(line, ' ', l);
            if (!sp) {
                set_err(err, cap, "merges.txt: line \"%.*s\" is not two tokens", (int)l, line);
                free(text);
                return -1;
            }
            if (add_merge(t, line, (size_t)(sp - line), sp + 1, l - (size_t)(sp - line) - 1,
                          rank, err, cap)) {
                free(text);
                return -1;
            }
            rank++;
        }
        line = end + 1;
    }
    free(text);

    cJSON *config = NULL;
    text = read_file(dir, "tokenizer_config.json", &len);
    if (text) {
        config = cJSON_ParseWithLength(text, len);
        free(text);
    }
    const cJSON *decoder = cJSON_GetObjectItemCaseSensitive(config, "added_tokens_decoder");
    text = read_file(dir, "added_tokens.json", &len);
    cJSON *added = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    int rc = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, added) {
        if (!cJSON_IsNumber(a)) {
            set_err(err, cap, "added_tokens.json: \"%s\" has no numeric id", a->string);
            rc = -1;
            break;
        }
        char key[24];
        snprintf(key, sizeof key, "%lld", (long long)a->valuedouble);
        const cJSON *flags = cJSON_GetObjectItemCaseSensitive(decoder, key);
        bool special = json_bool(flags, "special", false);
        if (add_added_token(t, a->string, (long long)a->valuedouble, special,
                            json_bool(flags, "normalized", !special),
                            json_bool(flags, "lstrip", false), json_bool(flags, "rstrip", false),
                            json_bool(flags, "single_word", false), err, cap)) {
            rc = -1;
            break;
        }
    }
    cJSON_Delete(added);
    cJSON_Delete(config);
    return rc ? rc : finish_load(t, err, cap);
}

int qt_load_dir(const char *dir, qt_tokenizer **out, char *err, size_t cap)
{
    *out = NULL;
    size_t len = 0;
    char *json = read_file(dir, "tokenizer.json", &len);
    if (json) {
        int rc = qt_load_json(json, len, out, err, cap);
        free(json);
        if (rc) {
            char inner[512];
            snprintf(inner, sizeof inner, "%s", err ? err : "");
            set_err(err, cap, "%s/tokenizer.json: %s", dir, inner);
        }
        return rc;
    }
    qt_tokenizer *t = tokenizer_new();
    if (!t) {
        set_err(err, cap, "out of memory");
        return -1;
    }
    if (load_split_files(t, dir, err, cap)) {
        qt_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

/* ---- encoding ---- */

int qt_ids_push(qt_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *v = realloc(ids->v, cap * sizeof *v);
        if (!v)
            return -1;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return 0;
}

typedef struct cache_slot {
    uint64_t hash;
    uint32_t key_off, key_len; /* into the key arena */
    uint32_t ids_off, ids_len; /* into the id arena */
    bool used;
} cache_slot;

typedef struct bpe_sym {
    int32_t id;
    int32_t prev, next; /* -1 none */
    bool alive;
} bpe_sym;

typedef struct heap_item {
    uint32_t rank;
    int32_t pos;
} heap_item;

struct qt_session {
    const qt_tokenizer *tok;
    /* word cache */
    cache_slot *slots;
    size_t slot_cap, slot_count;
    char *keys;
    size_t keys_len, keys_cap;
    int32_t *cids;
    size_t cids_len, cids_cap;
    /* scratch */
    uint32_t *cps;
    uint32_t *offs;
    uint8_t *cls;
    size_t cp_cap;
    bpe_sym *syms;
    size_t sym_cap;
    heap_item *heap;
    size_t heap_cap;
};

qt_session *qt_session_new(const qt_tokenizer *tok)
{
    qt_session *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->tok = tok;
    s->slot_cap = 1024; /* grows with use up to CACHE_MAX_ENTRIES * 2 */
    s->slots = calloc(s->slot_cap, sizeof *s->slots);
    if (!s->slots) {
        free(s);
        return NULL;
    }
    return s;
}

void qt_session_free(qt_session *s)
{
    if (!s)
        return;
    free(s->slots);
    free(s->keys);
    free(s->cids);
    free(s->cps);
    free(s->offs);
    free(s->cls);
    free(s->syms);
    free(s->heap);
    free(s);
}

static void cache_clear(qt_session *s)
{
    memset(s->slots, 0, s->slot_cap * sizeof *s->slots);
    s->slot_count = 0;
    s->keys_len = 0;
    s->cids_len = 0;
}

static const cache_slot *cache_find(const qt_session *s, const char *w, size_t len,
                                    uint64_t h, size_t *where)
{
    size_t j = h & (s->slot_cap - 1);
    while (s->slots[j].used) {
        const cache_slot *c = &s->slots[j];
        if (c->hash == h && c->key_len == len && memcmp(s->keys + c->key_off, w, len) == 0)
            return c;
        j = (j + 1) & (s->slot_cap - 1);
    }
    *where = j;
    return NULL;
}

static void cache_store(qt_session *s, size_t where, const char *w, size_t len, uint64_t h,
                        const int32_t *ids, size_t n)
{
    if (s->slot_count >= CACHE_MAX_ENTRIES)
        return; /* full: later words are computed each time; cleared per encode call */
    if ((s->slot_count + 1) * 2 > s->slot_cap) {
        size_t cap = s->slot_cap * 2;
        cache_slot *slots = calloc(cap, sizeof *slots);
        if (!slots)
            return;
        for (size_t i = 0; i < s->slot_cap; i++) {
            if (!s->slots[i].used)
                continue;
            size_t j = s->slots[i].hash & (cap - 1);
            while (slots[j].used)
                j = (j + 1) & (cap - 1);
            slots[j] = s->slots[i];
        }
        free(s->slots);
        s->slots = slots;
        s->slot_cap = cap;
        where = h & (cap - 1);
        while (s->slots[where].used)
            where = (where + 1) & (cap - 1);
    }
    if (s->keys_len + len > s->keys_cap) {
        size_t cap = s->keys_cap ? s->keys_cap * 2 : 1 << 16;
        while (cap < s->keys_len + len)
            cap *= 2;
        char *k = realloc(s->keys, cap);
        if (!k)
            return;
        s->keys = k;
        s->keys_cap = cap;
    }
    if (s->cids_len + n > s->cids_cap) {
        size_t cap = s->cids_cap ? s->cids_cap * 2 : 1 << 14;
        while (cap < s->cids_len + n)
            cap *= 2;
        int32_t *c = realloc(s->cids, cap * sizeof *c);
        if (!c)
            return;
        s->cids = c;
        s->cids_cap = cap;
    }
    memcpy(s->keys + s->keys_len, w, len);
    memcpy(s->cids + s->cids_len, ids, n * sizeof *ids);
    s->slots[where] = (cache_slot){h, (uint32_t)s->keys_len, (uint32_t)len,
                                   (uint32_t)s->cids_len, (uint32_t)n, true};
    s->keys_len += len;
    s->cids_len += n;
    s->slot_count++;
}

static bool heap_less(heap_item a, heap_item b)
{
    return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos);
}

static void heap_push(qt_session *s, size_t *n, heap_item it)
{
    size_t i = (*n)++;
    s->heap[i] = it;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(s->heap[i], s->heap[p]))
            break;
        heap_item tmp = s->heap[p];
        s->heap[p] = s->heap[i];
        s->heap[i] = tmp;
        i = p;
    }
}

static heap_item heap_pop(qt_session *s, size_t *n)
{
    heap_item top = s->heap[0];
    s->heap[0] = s->heap[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && heap_less(s->heap[l], s->heap[m]))
            m = l;
        if (r < *n && heap_less(s->heap[r], s->heap[m]))
            m = r;
        if (m == i)
            break;
        heap_item tmp = s->heap[m];
        s->heap[m] = s->heap[i];
        s->heap[i] = tmp;
        i = m;
    }
    return top;
}

static int reserve(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    void *n = realloc(*p, c * elem);
    if (!n)
        return -1;
    *p = n;
    *cap = c;
    return 0;
}

static void push_pair(qt_session *s, size_t *hn, int32_t pos)
{
    const bpe_sym *a = &s->syms[pos];
    if (a->next < 0)
        return;
    const merge_slot *m = merge_get(&s->tok->merges, a->id, s->syms[a->next].id);
    if (m)
        heap_push(s, hn, (heap_item){m->rank, pos});
}

/* BPE of one pre-token (raw bytes): merge the lowest-ranked adjacent pair, leftmost first,
 * until none is left. A heap of candidate pairs keeps long words O(n log n). */
static int bpe_word(qt_session *s, const unsigned char *w, size_t len, qt_ids *out)
{
    const qt_tokenizer *t = s->tok;
    if (t->ignore_merges) {
        char small[4 * CACHE_MAX_WORD];
        if (len <= CACHE_MAX_WORD) {
            size_t n = 0;
            for (size_t i = 0; i < len; i++) {
                memcpy(small + n, byte_utf8[w[i]], byte_utf8_len[w[i]]);
                n += byte_utf8_len[w[i]];
            }
            int32_t id = str_map_get(&t->vocab, small, n);
            if (id >= 0)
                return qt_ids_push(out, id);
        }
    }
    if (reserve((void **)&s->syms, &s->sym_cap, len, sizeof *s->syms) ||
        reserve((void **)&s->heap, &s->heap_cap, len, sizeof *s->heap))
        return -1;
    /* Bytes with no vocabulary entry are dropped, as the reference does without unk. */
    int32_t count = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t id = t->byte_id[w[i]];
        if (id < 0)
            continue;
        s->syms[count] = (bpe_sym){id, count - 1, -1, true};
        if (count > 0)
            s->syms[count - 1].next = count;
        count++;
    }
    size_t hn = 0;
    for (int32_t i = 0; i + 1 < count; i++)
        push_pair(s, &hn, i);
    while (hn > 0) {
        heap_item top = heap_pop(s, &hn);
        bpe_sym *a = &s->syms[top.pos];
        if (!a->alive || a->next < 0)
            continue;
        bpe_sym *b = &s->syms[a->next];
        const merge_slot *m = merge_get(&t->merges, a->id, b->id);
        if (!m || m->rank != top.rank)
            continue; /* stale: one side changed since the pair was queued */
        a->id = m->id;
        b->alive = false;
        a->next = b->next;
        if (b->next >= 0)
            s->syms[b->next].prev = top.pos;
        if (a->prev >= 0)
            push_pair(s, &hn, a->prev);
        push_pair(s, &hn, top.pos);
    }
    for (int32_t i = count ? 0 : -1; i >= 0; i = s->syms[i].next)
        if (qt_ids_push(out, s->syms[i].id))
            return -1;
    return 0;
}

static int encode_word(qt_session *s, const char *w, size_t len, qt_ids *out)
{
    if (len > CACHE_MAX_WORD)
        return bpe_word(s, (const unsigned char *)w, len, out);
    uint64_t h = hash_bytes(w, len);
    size_t where = 0;
    const cache_slot *c = cache_find(s, w, len, h, &where);
    if (c) {
        for (uint32_t i = 0; i < c->ids_len; i++)
            if (qt_ids_push(out, s->cids[c->ids_off + i]))
                return -1;
        return 0;
    }
    size_t first = out->n;
    if (bpe_word(s, (const unsigned char *)w, len, out))
        return -1;
    cache_store(s, where, w, len, h, out->v + first, out->n - first);
    return 0;
}


static bool is_white_space(uint32_t cp)
{
    /* Unicode White_Space, which is what \s matches in the reference's regex engine. */
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Letters and numbers assigned after this utf8proc's Unicode version, which the reference's
 * regex engine already knows. */
static uint8_t newer_unicode_class(uint32_t cp)
{
    size_t lo = 0, hi = sizeof unicode_overrides / sizeof unicode_overrides[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < unicode_overrides[mid].first)
            hi = mid;
        else if (cp > unicode_overrides[mid].last)
            lo = mid + 1;
        else
            return unicode_overrides[mid].cls;
    }
    return 0;
}

static uint8_t char_class(uint32_t cp)
{
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return C_L;
        if (cp >= '0' && cp <= '9')
            return C_N;
        if (cp == '\r' || cp == '\n')
            return C_S | C_NL;
        return is_white_space(cp) ? C_S : 0;
    }
    if (is_white_space(cp))
        return C_S;
    utf8proc_category_t category = utf8proc_category((utf8proc_int32_t)cp);
    if (category == UTF8PROC_CATEGORY_CN)
        return newer_unicode_class(cp);
    switch (category) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return C_L;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return C_N;
    default:
        return 0;
    }
}

/* Case-insensitive letter of a contraction: ASCII plus the one non-ASCII case fold that maps
 * onto these letters (U+017F LATIN SMALL LETTER LONG S -> s). */
static uint32_t fold(uint32_t cp)
{
    if (cp == 0x17F)
        return 's';
    return cp < 0x80 ? (uint32_t)((cp >= 'A' && cp <= 'Z') ? cp + 32 : cp) : cp;
}

/* End (exclusive) of the regex match starting at code point i of n. */
static size_t match_at(const uint32_t *cp, const uint8_t *cls, size_t i, size_t n)
{
    uint32_t c = cp[i];
    uint8_t k = cls[i];
    if (c == '\'' && i + 1 < n) {
        uint32_t c1 = fold(cp[i + 1]);
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
            return i + 2;
        if (i + 2 < n) {
            uint32_t c2 = fold(cp[i + 2]);
            if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') ||
                (c1 == 'l' && c2 == 'l'))
                return i + 3;
        }
    }
    if (!(k & (C_L | C_N | C_NL)) && i + 1 < n && (cls[i + 1] & C_L)) {
        size_t j = i + 1;
        while (j < n && (cls[j] & C_L))
            j++;
        return j;
    }
    if (k & C_L) {
        size_t j = i;
        while (j < n && (cls[j] & C_L))
            j++;
        return j;
    }
    if (k & C_N)
        return i + 1;
    size_t j = n;
    if (c == ' ' && i + 1 < n && !(cls[i + 1] & (C_S | C_L | C_N)))
        j = i + 1;
    else if (!(k & C_S))
        j = i;
    if (j < n) {
        while (j < n && !(cls[j] & (C_S | C_L | C_N)))
            j++;
        while (j < n && (cp[j] == '\r' || cp[j] == '\n'))
            j++;
        return j;
    }
    /* Whitespace: up to the last line break of the run, else all but the last space before
     * a non-space, else the whole run. */
    size_t end = i;
    size_t last_nl = n;
    while (end < n && (cls[end] & C_S)) {
        if (cls[end] & C_NL)
            last_nl = end;
        end++;
    }
    if (last_nl != n)
        return last_nl + 1;
    if (end == n || end - i == 1)
        return end;
    return end - 1;
}

static int pretokenize_and_bpe(qt_session *s, const char *text, size_t len, qt_ids *out)
{
    if (len == 0)
        return 0;
    if (len + 1 > s->cp_cap) {
        size_t c = s->cp_cap ? s->cp_cap : 1024;
        while (c < len + 1)
            c *= 2;
        uint32_t *cps = realloc(s->cps, c * sizeof *cps);
        if (cps)
            s->cps = cps;
        uint32_t *offs = realloc(s->offs, c * sizeof *offs);
        if (offs)
            s->offs = offs;
        uint8_t *cls = realloc(s->cls, c);
        if (cls)
            s->cls = cls;
        if (!cps || !offs || !cls)
            return -1;
        s->cp_cap = c;
    }
    const unsigned char *p = (const unsigned char *)text;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t l = p[i] < 0x80 ? 1 : utf8_valid_len(p + i, len - i);
        if (!l)
            return -1; /* checked before; normalisation keeps it valid */
        uint32_t c = utf8_decode(p + i, l);
        s->cps[n] = c;
        s->offs[n] = (uint32_t)i;
        s->cls[n] = char_class(c);
        n++;
        i += l;
    }
    s->offs[n] = (uint32_t)len;
    for (size_t i = 0; i < n;) {
        size_t j = match_at(s->cps, s->cls, i, n);
        if (encode_word(s, text + s->offs[i], s->offs[j] - s->offs[i], out))
            return -1;
        i = j;
    }
    return 0;
}

/* \w and \s of the reference's flag handling (single_word, lstrip, rstrip). */
static bool is_word_char(uint32_t cp)
{
    if (cp == '_')
        return true;
    uint8_t k = char_class(cp);
    if (k & (C_L | C_N))
        return true;
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_MN || c == UTF8PROC_CATEGORY_MC ||
           c == UTF8PROC_CATEGORY_ME || c == UTF8PROC_CATEGORY_PC;
}

static size_t prev_cp_start(const unsigned char *p, size_t pos)
{
    size_t i = pos - 1;
    while (i > 0 && (p[i] & 0xC0) == 0x80)
        i--;
    return i;
}

typedef int (*piece_fn)(qt_session *s, const char *text, size_t len, qt_ids *out);

/* Split TEXT on the tokens of TRIE (leftmost, then longest), encoding the gaps with GAP. */
static int split_added(qt_session *s, const trie *tr, const char *text, size_t len,
                       piece_fn gap, qt_ids *out)
{
    const qt_tokenizer *t = s->tok;
    const unsigned char *p = (const unsigned char *)text;
    size_t start_offset = 0; /* end of the last match */
    size_t i = 0;
    while (!tr->empty && i < len) {
        if (!tr->first_byte[p[i]]) {
            i++;
            continue;
        }
        size_t mlen = 0;
        int32_t idx = trie_longest(tr, text + i, len - i, &mlen);
        if (idx < 0) {
            i++;
            continue;
        }
        const added_token *a = &t->added[idx];
        size_t start = i, stop = i + mlen;
        i = stop;
        if (a->single_word) {
            bool left_ok = start == 0 || !is_word_char(utf8_decode(
                p + prev_cp_start(p, start), utf8_valid_len(p + prev_cp_start(p, start),
                                                            len - prev_cp_start(p, start))));
            bool right_ok = stop == len ||
                            !is_word_char(utf8_decode(p + stop, utf8_valid_len(p + stop,
                                                                               len - stop)));
            if (!left_ok || !right_ok)
                continue;
        }
        if (a->lstrip) {
            size_t ns = start;
            while (ns > start_offset) {
                size_t q = prev_cp_start(p, ns);
                if (!is_white_space(utf8_decode(p + q, utf8_valid_len(p + q, len - q))))
                    break;
                ns = q;
            }
            start = ns;
        }
        if (a->rstrip) {
            while (stop < len) {
                size_t l = utf8_valid_len(p + stop, len - stop);
                if (!is_white_space(utf8_decode(p + stop, l)))
                    break;
                stop += l;
            }
            i = stop;
        }
        if (start > start_offset && gap(s, text + start_offset, start - start_offset, out))
            return -1;
        if (qt_ids_push(out, a->id))
            return -1;
        start_offset = stop;
    }
    if (start_offset < len)
        return gap(s, text + start_offset, len - start_offset, out);
    return 0;
}

static int normalized_piece(qt_session *s, const char *text, size_t len, qt_ids *out)
{
    return split_added(s, &s->tok->norm_trie, text, len, pretokenize_and_bpe, out);
}

static int raw_piece(qt_session *s, const char *text, size_t len, qt_ids *out)
{
    if (!s->tok->nfc)
        return normalized_piece(s, text, len, out);
    size_t nlen = 0;
    char *norm = qt_nfc(text, len, &nlen);
    if (!norm)
        return -1;
    int rc = normalized_piece(s, norm, nlen, out);
    free(norm);
    return rc;
}

size_t qt_utf8_invalid_offset(const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_valid_len(p + i, len - i);
        if (!l)
            return i;
        i += l;
    }
    return len;
}

int qt_encode(qt_session *s, const char *text, size_t len, qt_ids *out, char *err,
              size_t cap)
{
    size_t bad = qt_utf8_invalid_offset(text, len);
    if (bad < len) {
        set_err(err, cap, "invalid UTF-8 at byte offset %zu", bad);
        return -1;
    }
    if (len > UINT32_MAX) {
        set_err(err, cap, "text of %zu bytes is too long (4 GiB at most)", len);
        return -1;
    }
    if (s->slot_count >= CACHE_MAX_ENTRIES)
        cache_clear(s);
    if (split_added(s, &s->tok->raw_trie, text, len, raw_piece, out)) {
        set_err(err, cap, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- decoding ---- */

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static int buf_add(buf *b, const void *data, size_t len)
{
    if (reserve((void **)&b->p, &b->cap, b->n + len + 1, 1))
        return -1;
    memcpy(b->p + b->n, data, len);
    b->n += len;
    return 0;
}

int qt_decode(const qt_tokenizer *t, const int32_t *ids, size_t n, char **text,
              size_t *text_len, char *err, size_t cap)
{
    *text = NULL;
    buf bytes = {0};
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= t->id_count || !t->id_text[ids[i]]) {
            set_err(err, cap, "id %ld at position %zu is not in the vocabulary", (long)ids[i],
                    i);
            free(bytes.p);
            return -1;
        }
        const unsigned char *tok = (const unsigned char *)t->id_text[ids[i]];
        size_t tlen = strlen((const char *)tok);
        size_t mark = bytes.n;
        bool mapped = true;
        for (size_t j = 0; j < tlen && mapped;) {
            size_t l = utf8_valid_len(tok + j, tlen - j);
            uint32_t cp = l ? utf8_decode(tok + j, l) : 0xFFFFFFFF;
            if (!l || cp >= 324 || cp_to_byte[cp] < 0) {
                mapped = false;
                break;
            }
            unsigned char b = (unsigned char)cp_to_byte[cp];
            if (buf_add(&bytes, &b, 1))
                goto oom;
            j += l;
        }
        /* A token with a character outside the byte alphabet goes out verbatim. */
        if (!mapped) {
            bytes.n = mark;
            if (buf_add(&bytes, tok, tlen))
                goto oom;
        }
    }
    /* Invalid UTF-8 from partial byte sequences becomes U+FFFD per maximal subpart. */
    buf outb = {0};
    const unsigned char *p = (const unsigned char *)bytes.p;
    for (size_t i = 0; i < bytes.n;) {
        size_t l = utf8_valid_len(p + i, bytes.n - i);
        if (l) {
            if (buf_add(&outb, p + i, l))
                goto oom2;
            i += l;
        } else {
            if (buf_add(&outb, "\xEF\xBF\xBD", 3))
                goto oom2;
            i += utf8_invalid_len(p + i, bytes.n - i);
        }
    }
    free(bytes.p);
    if (!outb.p && reserve((void **)&outb.p, &outb.cap, 1, 1)) {
        set_err(err, cap, "out of memory");
        return -1;
    }
    outb.p[outb.n] = '\0';
    *text = outb.p;
    if (text_len)
        *text_len = outb.n;
    return 0;
oom2:
    free(outb.p);
oom:
    free(bytes.p);
    set_err(err, cap, "out of memory");
    return -1;
}
