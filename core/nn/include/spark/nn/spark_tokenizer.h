/*
 * spark/nn/spark_tokenizer.h - the tokenizer files of a Spark model directory: learning a
 * byte-level BPE vocabulary for synthetic models, writing the release's tokenizer files
 * (tokenizer.json as the HF `tokenizers` library reads it, plus the slow-tokenizer files),
 * and checking a directory's tokenizer.json against the token families the model needs.
 */
#ifndef SPARK_NN_SPARK_TOKENIZER_H
#define SPARK_NN_SPARK_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include <spark/nn/spark_model.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The pre-tokenizer regex of Qwen2 (spec 3.2), as written in tokenizer.json. */
extern const char nn_qwen2_pretokenize_regex[];

/* A learned byte-level BPE vocabulary: ids 0-255 are the 256 bytes in GPT-2's byte-to-unicode
 * order, id 256 + r is the result of merge r. */
typedef struct nn_bpe nn_bpe;

/* Learns merges from the built-in multilingual text (most frequent pair first, ties to the
 * lowest ids) until vocab_size tokens, then, when the text has no pair left that occurs
 * twice, adds deterministic filler merges (an existing token followed by a byte) so a
 * release-sized vocabulary gets release ids. vocab_size >= 256. NULL with *error set. */
nn_bpe *nn_bpe_learn(size_t vocab_size, char **error);
void nn_bpe_free(nn_bpe *bpe);
size_t nn_bpe_token_count(const nn_bpe *bpe);
/* A token in GPT-2 byte-level form ("Ġthe"). */
const char *nn_bpe_token(const nn_bpe *bpe, size_t id);
size_t nn_bpe_merge_count(const nn_bpe *bpe);
/* Merge `rank` joins tokens *left and *right into token 256 + rank. */
void nn_bpe_merge(const nn_bpe *bpe, size_t rank, size_t *left, size_t *right);
/* How many merges came from the text (the rest are filler). */
size_t nn_bpe_learned_merges(const nn_bpe *bpe);

/* The built-in training text (UTF-8, NFC). */
extern const char nn_bpe_corpus[];

/* Ids of a written tokenizer. */
typedef struct nn_spark_token_ids {
    int64_t regular;   /* BPE tokens */
    int64_t added;     /* Qwen specials and Spark tokens */
    int64_t endoftext; /* <|endoftext|>: bos and pad */
    int64_t im_end;    /* <|im_end|>: eos */
} nn_spark_token_ids;

/* Writes tokenizer.json, tokenizer_config.json, added_tokens.json, vocab.json, merges.txt and
 * special_tokens_map.json into llm_dir: the BPE vocabulary, then the added token families of
 * the config in order. Returns 0, or -1 with *error set. */
int nn_spark_tokenizer_write(const char *llm_dir, const nn_bpe *bpe,
                             const nn_spark_config *config, nn_spark_token_ids *ids,
                             char **error);

/* What a directory's tokenizer.json holds. */
typedef struct nn_spark_tokenizer_report {
    int64_t regular, merges, added;
    int64_t max_id;            /* -1 when no token was read */
    int64_t endoftext, im_end; /* -1 when absent */
    size_t family_count;
    struct {
        const char *name;
        uint32_t expected;     /* tokens the config calls for */
        uint32_t found;        /* of those, present with consecutive ids */
        int64_t first_id;      /* -1 when the first is absent */
    } families[NN_SPARK_MAX_FAMILIES];
} nn_spark_tokenizer_report;

/* Reads tokenizer.json and checks it: a byte-level BPE whose merges join tokens of its
 * vocabulary, unique ids, every added token family of the config present with consecutive
 * ids, every id inside the LLM's vocabulary, and bos and eos naming <|endoftext|> and
 * <|im_end|>. Adds a problem per departure; returns the number added (or 1 when the file
 * cannot be read). */
size_t nn_spark_tokenizer_check(const char *path, const nn_spark_config *config,
                                nn_spark_tokenizer_report *report, nn_problems *problems);

#ifdef __cplusplus
}
#endif

#endif
