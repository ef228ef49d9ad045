/* qwen2_tokenizer.h - Qwen2 byte-level BPE, id-for-id with Hugging Face `tokenizers`.
 *
 * Free of SDK types: the plugin, the CLI, the tests, the fuzz target and the bench share it.
 * A loaded tokenizer is immutable and may be shared by threads; the word cache and scratch
 * space live in a qt_session, one per thread or job. */
#ifndef SPARK_QWEN2_TOKENIZER_H
#define SPARK_QWEN2_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct qt_tokenizer qt_tokenizer;
typedef struct qt_session qt_session;

/* A growable id list; free v with free(). */
typedef struct qt_ids {
    int32_t *v;
    size_t n, cap;
} qt_ids;

/* The pre-tokenizer regex of Qwen2's tokenizer.json, the only one this tokenizer supports. */
extern const char qt_qwen2_regex[];

/* Load DIR/tokenizer.json, or else DIR/vocab.json + DIR/merges.txt (+ DIR/added_tokens.json,
 * with flags from DIR/tokenizer_config.json when present). Returns 0, or -1 with a message. */
int qt_load_dir(const char *dir, qt_tokenizer **out, char *err, size_t err_cap);
/* Load a tokenizer.json held in memory. */
int qt_load_json(const char *json, size_t len, qt_tokenizer **out, char *err, size_t err_cap);
void qt_free(qt_tokenizer *tok);

/* Regular vocabulary plus added tokens (the largest id + 1). */
size_t qt_vocab_size(const qt_tokenizer *tok);
/* The id of a token given by its exact string (added tokens first, then the vocabulary),
 * or -1. */
int32_t qt_token_id(const qt_tokenizer *tok, const char *token);

qt_session *qt_session_new(const qt_tokenizer *tok);
void qt_session_free(qt_session *s);

/* Append the ids of TEXT (LEN bytes of UTF-8) to OUT. Returns 0, or -1 with a message
 * (invalid UTF-8 names its byte offset). */
int qt_encode(qt_session *s, const char *text, size_t len, qt_ids *out, char *err,
              size_t err_cap);

/* Decode ids to UTF-8 (byte-level decoding; invalid sequences become U+FFFD, as the
 * reference does). *text is NUL-terminated; free it with free(). Unknown ids are an error. */
int qt_decode(const qt_tokenizer *tok, const int32_t *ids, size_t n, char **text,
              size_t *text_len, char *err, size_t err_cap);

/* NFC of TEXT as the tokenizer's normalizer does it (for tests); free() the result. */
char *qt_nfc(const char *text, size_t len, size_t *out_len);

int qt_ids_push(qt_ids *ids, int32_t id);

/* The byte offset of the first invalid UTF-8 sequence in TEXT, or LEN when it is valid. */
size_t qt_utf8_invalid_offset(const char *text, size_t len);

#endif
