/* Fuzz target for the Qwen2 tokenizer core (plugins/tokenizer-qwen2/qwen2_tokenizer.c).
 *
 * A small byte-level BPE is built once at start (all 256 byte tokens, merges over ASCII and
 * common UTF-8 lead bytes, added tokens with every flag). Each input is encoded: invalid
 * UTF-8 must be refused at the offset qt_utf8_invalid_offset names; valid text must decode
 * back to its NFC form (when it holds no '<', where the tokens that skip the normaliser
 * split the text before NFC). The input's bytes are then also decoded as ids, which must
 * either succeed or name a bad id, never crash. */
#include "qwen2_tokenizer.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gpt2_bytes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static qt_tokenizer *tok;
static qt_session *session;


static const char *const merges[][2] = {
    {"Ġ", "t"}, {"t", "h"}, {"th", "e"}, {"Ġ", "th"}, {"Ġth", "e"}, {"i", "n"}, {"Ġ", "Ġ"}, {"ĠĠ", "ĠĠ"},
    {"Ã", "©"}, {"e", "Ì"}, {"ä", "½"}, {"ä½", "ł"}, {"'", "s"}, {"Ċ", "Ċ"}, {"1", "2"},
};

static const char tokenizer_tail[] =
    "\"normalizer\":{\"type\":\"NFC\"},"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
    "\"pattern\":{\"Regex\":\"\"},\"behavior\":\"Isolated\",\"invert\":false},"
    "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,"
    "\"use_regex\":false}]},\"decoder\":{\"type\":\"ByteLevel\"}}";

static void build(void)
{
    char head[1024];
    snprintf(head, sizeof head, "{%s", tokenizer_tail);
    cJSON *j = cJSON_Parse(head);
    if (!j)
        abort();
    cJSON *split = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(j, "pre_tokenizer"), "pretokenizers"), 0);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(split, "pattern"), "Regex",
                              cJSON_CreateString(qt_qwen2_regex));
    cJSON *added = cJSON_AddArrayToObject(j, "added_tokens");
    const struct { const char *text; bool normalized, lstrip, rstrip, single; } a[] = {
        {"<|im_end|>", false, false, false, false}, {"<|task_tts|>", true, false, false, false},
        {"<|task_tts|>x", true, false, false, false}, {"<L>", false, true, false, false},
        {"<R>", true, false, true, false},           {"<W>", true, false, false, true},
        {"<\xC3\xA9>", true, false, false, false},
    };
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "id", 1000 + (double)i);
        cJSON_AddStringToObject(t, "content", a[i].text);
        cJSON_AddBoolToObject(t, "normalized", a[i].normalized);
        cJSON_AddBoolToObject(t, "special", !a[i].normalized);
        cJSON_AddBoolToObject(t, "lstrip", a[i].lstrip);
        cJSON_AddBoolToObject(t, "rstrip", a[i].rstrip);
        cJSON_AddBoolToObject(t, "single_word", a[i].single);
        cJSON_AddItemToArray(added, t);
    }
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
        char joined[32];
        snprintf(joined, sizeof joined, "%s%s", merges[r][0], merges[r][1]);
        if (!cJSON_GetObjectItemCaseSensitive(vocab, joined))
            cJSON_AddNumberToObject(vocab, joined, 256 + (double)r);
        snprintf(joined, sizeof joined, "%s %s", merges[r][0], merges[r][1]);
        cJSON_AddItemToArray(m, cJSON_CreateString(joined));
    }
    char *json = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char err[512];
    if (!json || qt_load_json(json, strlen(json), &tok, err, sizeof err)) {
        fprintf(stderr, "fuzz_tokenizer: cannot build the tokenizer: %s\n", err);
        abort();
    }
    free(json);
    session = qt_session_new(tok);
    if (!session)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tok)
        build();
    const char *text = (const char *)data;
    qt_ids ids = {0};
    char err[256];
    size_t bad = qt_utf8_invalid_offset(text, size);
    int rc = qt_encode(session, text, size, &ids, err, sizeof err);
    if (bad < size) {
        char want[64];
        snprintf(want, sizeof want, "byte offset %zu", bad);
        if (rc == 0 || !strstr(err, want))
            abort();
    } else {
        if (rc != 0)
            abort();
        char *back = NULL;
        size_t back_len = 0;
        if (qt_decode(tok, ids.v, ids.n, &back, &back_len, err, sizeof err))
            abort();
        if (!memchr(text, '<', size)) {
            size_t nlen = 0;
            char *nfc = qt_nfc(text, size, &nlen);
            if (!nfc || nlen != back_len || memcmp(nfc, back, nlen) != 0)
                abort();
            free(nfc);
        }
        free(back);
    }
    free(ids.v);
    /* The bytes as ids, two per id: valid or refused, never a crash. */
    size_t n = size / 2;
    int32_t *raw = malloc((n ? n : 1) * sizeof *raw);
    if (!raw)
        return 0;
    for (size_t i = 0; i < n; i++)
        raw[i] = (int32_t)(data[2 * i] | (data[2 * i + 1] << 8)) % 1100;
    char *out = NULL;
    if (qt_decode(tok, raw, n, &out, NULL, err, sizeof err) == 0 &&
        qt_utf8_invalid_offset(out, strlen(out)) != strlen(out))
        abort();
    free(out);
    free(raw);
    return 0;
}
