/* The tokenizer files of a Spark model: written for synthetic models in the layout of the
 * Qwen2 tokenizer the release extends (spec 3.2, 3.3), and checked when a directory is
 * inspected. Ids are never assumed: they follow from the vocabulary and the family order. */
#include "spark_internal.h"

#include <spark/nn/spark_tokenizer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char nn_qwen2_pretokenize_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* The Qwen specials that special_tokens_map.json lists as additional special tokens. */
enum { QWEN_ADDITIONAL_FIRST = 1, QWEN_ADDITIONAL_LAST = 13 }; /* <|im_start|> .. <|video_pad|> */

/* ---- the added tokens ------------------------------------------------------------------ */

typedef struct added_token {
    char text[NN_SPARK_TOKEN_MAX];
    int64_t id;
    bool special; /* special tokens are matched before normalisation; Spark's are not */
} added_token;

static added_token *list_added(const nn_spark_config *config, int64_t first_id, size_t *count)
{
    nn_spark_token_family families[NN_SPARK_MAX_FAMILIES];
    size_t nf = nn_spark_token_families(config, families);
    size_t total = 0;
    for (size_t f = 0; f < nf; f++)
        total += families[f].count;
    added_token *tokens = calloc(total ? total : 1, sizeof *tokens);
    if (!tokens)
        return NULL;
    size_t n = 0;
    for (size_t f = 0; f < nf; f++)
        for (uint32_t i = 0; i < families[f].count; i++, n++) {
            nn_spark_family_token(&families[f], i, tokens[n].text);
            tokens[n].id = first_id + (int64_t)n;
            tokens[n].special = f == 0 && nn_spark_qwen_special_is_special(i);
        }
    *count = n;
    return tokens;
}

static cJSON *added_token_json(const added_token *t, bool qwen, bool with_id)
{
    cJSON *j = cJSON_CreateObject();
    if (with_id)
        cJSON_AddNumberToObject(j, "id", (double)t->id);
    cJSON_AddStringToObject(j, "content", t->text);
    cJSON_AddBoolToObject(j, "single_word", false);
    cJSON_AddBoolToObject(j, "lstrip", false);
    cJSON_AddBoolToObject(j, "rstrip", false);
    /* The Qwen specials skip the normalizer; Spark's tokens were added with add_tokens. */
    cJSON_AddBoolToObject(j, "normalized", !qwen);
    cJSON_AddBoolToObject(j, "special", t->special);
    return j;
}

static cJSON *byte_level(void)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", "ByteLevel");
    cJSON_AddBoolToObject(j, "add_prefix_space", false);
    cJSON_AddBoolToObject(j, "trim_offsets", false);
    cJSON_AddBoolToObject(j, "use_regex", false);
    return j;
}

static char *merge_text(const nn_bpe *bpe, size_t rank)
{
    size_t left, right;
    nn_bpe_merge(bpe, rank, &left, &right);
    return nn_format("%s %s", nn_bpe_token(bpe, left), nn_bpe_token(bpe, right));
}

static cJSON *tokenizer_json(const nn_bpe *bpe, const added_token *added, size_t added_count,
                             size_t qwen_count)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "version", "1.0");
    cJSON_AddNullToObject(j, "truncation");
    cJSON_AddNullToObject(j, "padding");
    cJSON *list = cJSON_AddArrayToObject(j, "added_tokens");
    for (size_t i = 0; list && i < added_count; i++)
        cJSON_AddItemToArray(list, added_token_json(&added[i], i < qwen_count, true));
    cJSON *normalizer = cJSON_AddObjectToObject(j, "normalizer");
    cJSON_AddStringToObject(normalizer, "type", "NFC");
    cJSON *pre = cJSON_AddObjectToObject(j, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Sequence");
    cJSON *steps = cJSON_AddArrayToObject(pre, "pretokenizers");
    cJSON *split = cJSON_CreateObject();
    cJSON_AddStringToObject(split, "type", "Split");
    cJSON *pattern = cJSON_AddObjectToObject(split, "pattern");
    cJSON_AddStringToObject(pattern, "Regex", nn_qwen2_pretokenize_regex);
    cJSON_AddStringToObject(split, "behavior", "Isolated");
    cJSON_AddBoolToObject(split, "invert", false);
    cJSON_AddItemToArray(steps, split);
    cJSON_AddItemToArray(steps, byte_level());
    cJSON_AddItemToObject(j, "post_processor", byte_level());
    cJSON_AddItemToObject(j, "decoder", byte_level());
    cJSON *model = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddStringToObject(model, "continuing_subword_prefix", "");
    cJSON_AddStringToObject(model, "end_of_word_suffix", "");
    cJSON_AddBoolToObject(model, "fuse_unk", false);
    cJSON_AddBoolToObject(model, "byte_fallback", false);
    cJSON_AddBoolToObject(model, "ignore_merges", false);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (size_t id = 0; vocab && id < nn_bpe_token_count(bpe); id++)
        cJSON_AddItemToObject(vocab, nn_bpe_token(bpe, id), cJSON_CreateNumber((double)id));
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    for (size_t r = 0; merges && r < nn_bpe_merge_count(bpe); r++) {
        char *text = merge_text(bpe, r);
        cJSON_AddItemToArray(merges, cJSON_CreateString(text ? text : ""));
        free(text);
    }
    return j;
}

static const char chat_template[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}";

static cJSON *tokenizer_config_json(const added_token *added, size_t added_count,
                                    size_t qwen_count)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddBoolToObject(j, "add_prefix_space", false);
    cJSON *decoder = cJSON_AddObjectToObject(j, "added_tokens_decoder");
    for (size_t i = 0; decoder && i < added_count; i++) {
        char key[24];
        snprintf(key, sizeof key, "%lld", (long long)added[i].id);
        cJSON_AddItemToObject(decoder, key, added_token_json(&added[i], i < qwen_count, false));
    }
    cJSON *extra = cJSON_AddArrayToObject(j, "additional_special_tokens");
    for (size_t i = QWEN_ADDITIONAL_FIRST; extra && i <= QWEN_ADDITIONAL_LAST; i++)
        cJSON_AddItemToArray(extra, cJSON_CreateString(added[i].text));
    cJSON_AddNullToObject(j, "bos_token");
    cJSON_AddStringToObject(j, "chat_template", chat_template);
    cJSON_AddBoolToObject(j, "clean_up_tokenization_spaces", false);
    cJSON_AddStringToObject(j, "eos_token", "<|im_end|>");
    cJSON_AddStringToObject(j, "errors", "replace");
    cJSON_AddNumberToObject(j, "model_max_length", 131072);
    cJSON_AddStringToObject(j, "pad_token", "<|endoftext|>");
    cJSON_AddBoolToObject(j, "split_special_tokens", false);
    cJSON_AddStringToObject(j, "tokenizer_class", "Qwen2Tokenizer");
    cJSON_AddNullToObject(j, "unk_token");
    return j;
}

static cJSON *special_token_json(const char *content)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "content", content);
    cJSON_AddBoolToObject(j, "lstrip", false);
    cJSON_AddBoolToObject(j, "normalized", false);
    cJSON_AddBoolToObject(j, "rstrip", false);
    cJSON_AddBoolToObject(j, "single_word", false);
    return j;
}

static cJSON *special_tokens_map_json(const added_token *added)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *extra = cJSON_AddArrayToObject(j, "additional_special_tokens");
    for (size_t i = QWEN_ADDITIONAL_FIRST; extra && i <= QWEN_ADDITIONAL_LAST; i++)
        cJSON_AddItemToArray(extra, cJSON_CreateString(added[i].text));
    cJSON_AddItemToObject(j, "eos_token", special_token_json("<|im_end|>"));
    cJSON_AddItemToObject(j, "pad_token", special_token_json("<|endoftext|>"));
    return j;
}

/* Sorted by text in code-point order (byte order of UTF-8), as Python's sort_keys writes. */
typedef struct keyed {
    const char *text;
    int64_t id;
} keyed;

static int keyed_compare(const void *a, const void *b)
{
    return strcmp(((const keyed *)a)->text, ((const keyed *)b)->text);
}

static cJSON *sorted_map(keyed *items, size_t n)
{
    qsort(items, n, sizeof *items, keyed_compare);
    cJSON *j = cJSON_CreateObject();
    for (size_t i = 0; j && i < n; i++)
        cJSON_AddItemToObject(j, items[i].text, cJSON_CreateNumber((double)items[i].id));
    return j;
}

static int write_merges(const char *dir, const nn_bpe *bpe, char **error)
{
    nn_text t = {0};
    nn_text_puts(&t, "#version: 0.2\n");
    for (size_t r = 0; r < nn_bpe_merge_count(bpe); r++) {
        char *line = merge_text(bpe, r);
        if (!line) {
            t.failed = true;
            break;
        }
        nn_text_puts(&t, line);
        nn_text_puts(&t, "\n");
        free(line);
    }
    return nn_write_text_in(dir, "merges.txt", nn_text_finish(&t), error);
}

int nn_spark_tokenizer_write(const char *llm_dir, const nn_bpe *bpe,
                             const nn_spark_config *config, nn_spark_token_ids *ids,
                             char **error)
{
    *error = NULL;
    const int64_t regular = (int64_t)nn_bpe_token_count(bpe);
    size_t added_count = 0;
    added_token *added = list_added(config, regular, &added_count);
    nn_spark_token_family families[NN_SPARK_MAX_FAMILIES];
    nn_spark_token_families(config, families);
    const size_t qwen_count = families[0].count;
    keyed *items = NULL;
    int rc = -1;
    if (!added)
        goto oom;
    ids->regular = regular;
    ids->added = (int64_t)added_count;
    ids->endoftext = regular + 0; /* the first two Qwen specials in family order */
    ids->im_end = regular + 2;
    if (strcmp(added[0].text, "<|endoftext|>") != 0 || strcmp(added[2].text, "<|im_end|>") != 0) {
        *error = nn_format("the Qwen specials are not in their release order");
        goto done;
    }
    if (nn_write_json_in(llm_dir, "tokenizer.json",
                         tokenizer_json(bpe, added, added_count, qwen_count), error) ||
        nn_write_json_in(llm_dir, "tokenizer_config.json",
                         tokenizer_config_json(added, added_count, qwen_count), error) ||
        nn_write_json_in(llm_dir, "special_tokens_map.json", special_tokens_map_json(added),
                         error) ||
        write_merges(llm_dir, bpe, error))
        goto done;
    items = malloc((added_count + (size_t)regular) * sizeof *items);
    if (!items)
        goto oom;
    for (size_t i = 0; i < added_count; i++)
        items[i] = (keyed){added[i].text, added[i].id};
    if (nn_write_json_in(llm_dir, "added_tokens.json", sorted_map(items, added_count), error))
        goto done;
    for (int64_t id = 0; id < regular; id++)
        items[id] = (keyed){nn_bpe_token(bpe, (size_t)id), id};
    if (nn_write_json_in(llm_dir, "vocab.json", sorted_map(items, (size_t)regular), error))
        goto done;
    rc = 0;
    goto done;
oom:
    *error = nn_format("%s: writing the tokenizer: out of memory", llm_dir);
done:
    free(items);
    free(added);
    return rc;
}

/* ---- checking -------------------------------------------------------------------------- */

static void note_id(nn_spark_tokenizer_report *report, int64_t id)
{
    if (id > report->max_id)
        report->max_id = id;
}

/* Reads model.vocab into a map and checks its ids: unique, 0..n-1. */
static size_t check_vocab(const cJSON *vocab, nn_strmap *map, nn_spark_tokenizer_report *report,
                          nn_problems *problems)
{
    size_t found = 0;
    int64_t n = cJSON_GetArraySize(vocab);
    uint8_t *seen = calloc((size_t)(n ? n : 1), 1);
    if (!seen) {
        nn_problems_add(problems, "LLM/tokenizer.json: out of memory");
        return 1;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, vocab)
    {
        double d = item->valuedouble;
        int64_t id = (int64_t)d;
        if (!cJSON_IsNumber(item) || d != (double)id || id < 0 || id >= n || seen[id]) {
            if (found++ < 5)
                nn_problems_add(problems,
                                "LLM/tokenizer.json: vocabulary token \"%s\" has id %g, not a "
                                "unique id below %lld",
                                item->string, d, (long long)n);
            continue;
        }
        seen[id] = 1;
        note_id(report, id);
        if (nn_strmap_put(map, item->string, strlen(item->string), id) != 0) {
            nn_problems_add(problems, "LLM/tokenizer.json: out of memory");
            found++;
            break;
        }
    }
    free(seen);
    report->regular = n;
    return found;
}

/* Every merge joins two vocabulary tokens into a third. */
static size_t check_merges(const cJSON *merges, const nn_strmap *vocab,
                           nn_spark_tokenizer_report *report, nn_problems *problems)
{
    size_t found = 0;
    int64_t rank = 0;
    const cJSON *item;
    char *joined = NULL;
    size_t joined_cap = 0;
    cJSON_ArrayForEach(item, merges)
    {
        const char *left = NULL, *right = NULL;
        size_t left_len = 0;
        if (cJSON_IsString(item)) { /* "a b" */
            const char *space = strchr(item->valuestring, ' ');
            if (space) {
                left = item->valuestring;
                left_len = (size_t)(space - left);
                right = space + 1;
            }
        } else if (cJSON_IsArray(item) && cJSON_GetArraySize(item) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(item, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(item, 1))) { /* ["a", "b"] */
            left = cJSON_GetArrayItem(item, 0)->valuestring;
            left_len = strlen(left);
            right = cJSON_GetArrayItem(item, 1)->valuestring;
        }
        bool ok = left && right;
        if (ok) {
            size_t right_len = strlen(right);
            if (left_len + right_len + 1 > joined_cap) {
                joined_cap = 2 * (left_len + right_len + 1);
                char *grown = realloc(joined, joined_cap);
                if (!grown) {
                    nn_problems_add(problems, "LLM/tokenizer.json: out of memory");
                    found++;
                    break;
                }
                joined = grown;
            }
            memcpy(joined, left, left_len);
            memcpy(joined + left_len, right, right_len + 1);
            ok = nn_strmap_get(vocab, left, left_len) >= 0 &&
                 nn_strmap_get(vocab, right, right_len) >= 0 &&
                 nn_strmap_get(vocab, joined, left_len + right_len) >= 0;
        }
        if (!ok && found++ < 5)
            nn_problems_add(problems,
                            "LLM/tokenizer.json: merge %lld does not join two vocabulary "
                            "tokens into a third",
                            (long long)rank);
        rank++;
    }
    free(joined);
    report->merges = rank;
    return found;
}

size_t nn_spark_tokenizer_check(const char *path, const nn_spark_config *config,
                                nn_spark_tokenizer_report *report, nn_problems *problems)
{
    memset(report, 0, sizeof *report);
    report->max_id = report->endoftext = report->im_end = -1;
    char *error = NULL;
    char *text = nn_read_file(path, NULL, &error);
    if (!text) {
        nn_problems_add(problems, "%s", error);
        free(error);
        return 1;
    }
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) {
        nn_problems_add(problems, "LLM/tokenizer.json: invalid JSON");
        return 1;
    }
    size_t found = 0;
    nn_strmap vocab = {0}, added = {0};
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab_json = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") != 0 ||
        !cJSON_IsObject(vocab_json) || !cJSON_IsArray(merges)) {
        nn_problems_add(problems, "LLM/tokenizer.json: model is not a BPE with a vocab and "
                                  "merges");
        found++;
        goto done;
    }
    /* Byte-level: the pre-tokenizer (or a step of it) is ByteLevel. */
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(j, "pre_tokenizer");
    bool byte_level_found = false;
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
    const cJSON *step;
    cJSON_ArrayForEach(step, steps)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(step, "type");
        byte_level_found |= cJSON_IsString(t) && strcmp(t->valuestring, "ByteLevel") == 0;
    }
    const cJSON *pre_type = cJSON_GetObjectItemCaseSensitive(pre, "type");
    byte_level_found |= cJSON_IsString(pre_type) && strcmp(pre_type->valuestring, "ByteLevel") == 0;
    if (!byte_level_found) {
        nn_problems_add(problems, "LLM/tokenizer.json: the pre-tokenizer is not byte-level");
        found++;
    }
    found += check_vocab(vocab_json, &vocab, report, problems);
    found += check_merges(merges, &vocab, report, problems);

    const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "added_tokens");
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(content) || id->valuedouble < 0) {
            nn_problems_add(problems, "LLM/tokenizer.json: added token %lld has no id or content",
                            (long long)report->added);
            found++;
            continue;
        }
        int64_t v = (int64_t)id->valuedouble;
        if (v < report->regular || nn_strmap_get(&added, content->valuestring,
                                                 strlen(content->valuestring)) >= 0) {
            nn_problems_add(problems, "LLM/tokenizer.json: added token \"%s\" (id %lld) reuses "
                                      "a text or an id of the vocabulary",
                            content->valuestring, (long long)v);
            found++;
        }
        nn_strmap_put(&added, content->valuestring, strlen(content->valuestring), v);
        note_id(report, v);
        report->added++;
    }

    nn_spark_token_family families[NN_SPARK_MAX_FAMILIES];
    report->family_count = nn_spark_token_families(config, families);
    for (size_t f = 0; f < report->family_count; f++) {
        report->families[f].name = families[f].name;
        report->families[f].expected = families[f].count;
        char token[NN_SPARK_TOKEN_MAX];
        nn_spark_family_token(&families[f], 0, token);
        int64_t first = nn_strmap_get(&added, token, strlen(token));
        report->families[f].first_id = first;
        uint32_t ok = 0;
        for (uint32_t i = 0; first >= 0 && i < families[f].count; i++) {
            nn_spark_family_token(&families[f], i, token);
            if (nn_strmap_get(&added, token, strlen(token)) == first + (int64_t)i)
                ok++;
        }
        report->families[f].found = ok;
        if (ok != families[f].count) {
            nn_problems_add(problems,
                            "LLM/tokenizer.json: token family %s has %u of its %u tokens with "
                            "consecutive ids",
                            families[f].name, ok, families[f].count);
            found++;
        }
    }
    report->endoftext = nn_strmap_get(&added, "<|endoftext|>", 13);
    report->im_end = nn_strmap_get(&added, "<|im_end|>", 10);
    if (report->max_id >= config->llm.vocab_size) {
        nn_problems_add(problems, "LLM/tokenizer.json: token id %lld is outside the LLM's %lld "
                                  "embedding rows",
                        (long long)report->max_id, (long long)config->llm.vocab_size);
        found++;
    }
    if (report->im_end != config->llm.eos_token_id) {
        nn_problems_add(problems, "LLM/config.json: eos_token_id %lld is not <|im_end|> (%lld)",
                        (long long)config->llm.eos_token_id, (long long)report->im_end);
        found++;
    }
    /* bos_token_id 0 means the key is absent: no added token can have id 0. */
    if (config->llm.bos_token_id && report->endoftext != config->llm.bos_token_id) {
        nn_problems_add(problems,
                        "LLM/config.json: bos_token_id %lld is not <|endoftext|> (%lld)",
                        (long long)config->llm.bos_token_id, (long long)report->endoftext);
        found++;
    }
done:
    nn_strmap_free(&vocab);
    nn_strmap_free(&added);
    cJSON_Delete(j);
    return found;
}
