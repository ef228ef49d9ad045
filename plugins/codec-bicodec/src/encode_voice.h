/*
 * encode_voice.h - a voice: the codes BiCodec's encoder made from a reference recording (32
 * global codes; with a transcript also the reference's semantic codes), the transcript, and a
 * fingerprint of the model that made them. Saved as JSON under a name, so a repeated voice
 * costs nothing to encode; a voice made by another model is refused. Free of SDK types.
 *
 * {"format": "sparkhost-voice/1", "name": "anna", "model": "<sha256 hex>",
 *  "transcript": "..." | null, "global_codes": [...32], "semantic_codes": [...]}
 */
#ifndef ENCODE_VOICE_H
#define ENCODE_VOICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENCODE_VOICE_FORMAT "sparkhost-voice/1"
#define ENCODE_VOICE_NAME_MAX 64
#define ENCODE_MODEL_HASH_HEX 65 /* 64 hex digits and the NUL */

typedef struct encode_voice {
    char name[ENCODE_VOICE_NAME_MAX + 1];
    char model_hash[ENCODE_MODEL_HASH_HEX];
    char *transcript;          /* NULL: none (no semantic codes) */
    int32_t *global_codes;
    size_t global_count;
    int32_t *semantic_codes;   /* NULL when there is no transcript */
    size_t semantic_count;
} encode_voice;

void encode_voice_free(encode_voice *voice);

/* A voice name is 1..64 of [A-Za-z0-9_-]: it becomes part of a file name or object key. */
bool encode_voice_name_valid(const char *name);

/* The JSON text of a voice (malloc'd; NULL when out of memory). */
char *encode_voice_to_json(const encode_voice *voice);
/* The codes alone as JSON, as `sparkhost codec encode` prints them (malloc'd). */
char *encode_voice_codes_json(const encode_voice *voice);

/* Parses a voice file's text. global_count and code_range bound what is accepted. Returns 0,
 * or -1 with err naming what is wrong (source: the file or URL, for the message). */
int encode_voice_from_json(const char *text, size_t length, const char *source,
                           size_t global_count, uint32_t global_range, uint32_t semantic_range,
                           encode_voice *out, char *err, size_t err_size);

/* The fingerprint of a model directory: SHA-256 over its config files, and for each weights
 * file its size and 64 KiB read at 16 evenly spaced offsets (any retrained or re-seeded
 * model differs there), as 64 hex digits. Returns 0, or -1 with err set. */
int encode_model_hash(const char *model_dir, char out[ENCODE_MODEL_HASH_HEX], char *err,
                      size_t err_size);

/* <dir>/<name>.json, the place of a voice under a store URL or directory. */
int encode_voice_location(const char *store, const char *name, char *out, size_t out_size);

#endif
