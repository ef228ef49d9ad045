/* spark_prompt.h - the Spark-TTS prompt formats and the parser of generated ids (spec 3.4,
 * 3.5, 3.7), on top of the Qwen2 tokenizer. Free of SDK types. */
#ifndef SPARK_SPARK_PROMPT_H
#define SPARK_SPARK_PROMPT_H

#include "qwen2_tokenizer.h"

#include <stdbool.h>

#define SPARK_GLOBAL_COUNT 32     /* global codes per voice */
#define SPARK_GLOBAL_CODES 4096   /* <|bicodec_global_0..4095|> */
#define SPARK_SEMANTIC_CODES 8192 /* at most <|bicodec_semantic_0..8191|> */

typedef enum spark_prompt_mode {
    SPARK_PROMPT_CLONE,            /* A: reference globals, no transcript */
    SPARK_PROMPT_CLONE_TRANSCRIPT, /* B: reference globals, transcript and semantic codes */
    SPARK_PROMPT_CONTROL,          /* C: gender, pitch and speed labels */
} spark_prompt_mode;

/* The token ids a Spark prompt and its parser need, each looked up by its string. */
typedef struct spark_vocab {
    const qt_tokenizer *tok;
    int32_t *code_of_id; /* per id: semantic code, 0x10000 + global code, or -1 */
    int32_t semantic_codes; /* <|bicodec_semantic_N|> tokens: 8192 in the release */
    size_t id_count;
} spark_vocab;

/* Look up every token the prompts and the parser use; a missing one is an error naming it. */
int spark_vocab_init(spark_vocab *v, const qt_tokenizer *tok, char *err, size_t err_cap);
void spark_vocab_free(spark_vocab *v);

/* Label names: "very_low".."very_high" -> 0..4, "female"/"male" -> 0/1; -1 when unknown. */
int spark_level_index(const char *name);
int spark_gender_index(const char *name);
extern const char *const spark_level_names[5];
extern const char *const spark_gender_names[2];
/* "clone", "clone_transcript", "control" -> the mode; -1 when unknown. */
int spark_mode_from_name(const char *name);

typedef struct spark_prompt_request {
    spark_prompt_mode mode;
    const char *text;
    size_t text_len;
    const char *transcript; /* mode B only */
    size_t transcript_len;
    int gender, pitch, speed; /* mode C: indexes of the label names */
    const int32_t *globals;   /* modes A and B: exactly 32 codes in [0, 4096) */
    size_t global_count;
    const int32_t *semantics; /* mode B: codes in [0, 8192) */
    size_t semantic_count;
} spark_prompt_request;

/* Append the prompt's ids to OUT: exactly what the tokenizer gives for the upstream prompt
 * string (cli/SparkTTS.py). */
int spark_prompt_build(qt_session *s, const spark_vocab *v, const spark_prompt_request *r,
                       qt_ids *out, char *err, size_t err_cap);

/* How many of IDS are global-code tokens (<|bicodec_global_N|>). */
size_t spark_count_globals(const spark_vocab *v, const int32_t *ids, size_t n);

/* Split generated ids into semantic codes (in order) and, in control mode, global codes,
 * which must then be exactly 32. No semantic code at all is an error. */
int spark_parse_codes(const spark_vocab *v, const int32_t *ids, size_t n, bool control,
                      qt_ids *semantics, qt_ids *globals, char *err, size_t err_cap);

#endif
