/* Voices as JSON (cJSON) and the model fingerprint they carry (OpenSSL SHA-256). */
#include "encode_voice.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <spark/nn/spark_model.h>

void encode_voice_free(encode_voice *voice)
{
    if (!voice)
        return;
    free(voice->transcript);
    free(voice->global_codes);
    free(voice->semantic_codes);
    memset(voice, 0, sizeof *voice);
}

bool encode_voice_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > ENCODE_VOICE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static cJSON *code_array(const int32_t *codes, size_t count)
{
    cJSON *array = cJSON_CreateArray();
    for (size_t i = 0; array && i < count; i++) {
        cJSON *item = cJSON_CreateNumber(codes[i]);
        if (!item || !cJSON_AddItemToArray(array, item)) {
            cJSON_Delete(item);
            cJSON_Delete(array);
            return NULL;
        }
    }
    return array;
}

static char *render(const encode_voice *voice, bool whole)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    bool ok = true;
    if (whole) {
        ok &= cJSON_AddStringToObject(root, "format", ENCODE_VOICE_FORMAT) != NULL;
        ok &= cJSON_AddStringToObject(root, "name", voice->name) != NULL;
    }
    ok &= cJSON_AddStringToObject(root, "model", voice->model_hash) != NULL;
    if (voice->transcript)
        ok &= cJSON_AddStringToObject(root, "transcript", voice->transcript) != NULL;
    else
        ok &= cJSON_AddNullToObject(root, "transcript") != NULL;
    cJSON *globals = code_array(voice->global_codes, voice->global_count);
    ok &= globals && cJSON_AddItemToObject(root, "global_codes", globals);
    cJSON *semantic = code_array(voice->semantic_codes, voice->semantic_count);
    ok &= semantic && cJSON_AddItemToObject(root, "semantic_codes", semantic);
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

char *encode_voice_to_json(const encode_voice *voice)
{
    return render(voice, true);
}

char *encode_voice_codes_json(const encode_voice *voice)
{
    return render(voice, false);
}

/* Reads a JSON array of integers in [0, range) into a malloc'd array. */
static int read_codes(const cJSON *array, const char *source, const char *field,
                      uint32_t range, int32_t **out, size_t *count, char *err, size_t err_size)
{
    if (!cJSON_IsArray(array)) {
        snprintf(err, err_size, "%s: \"%s\" must be an array of codes", source, field);
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(array);
    int32_t *codes = malloc((n ? n : 1) * sizeof *codes);
    if (!codes) {
        snprintf(err, err_size, "%s: out of memory", source);
        return -1;
    }
    size_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, array) {
        double v = cJSON_IsNumber(item) ? item->valuedouble : -1.0;
        if (!(v >= 0.0 && v < (double)range && v == (double)(int64_t)v)) {
            snprintf(err, err_size, "%s: \"%s\"[%zu] must be an integer code in 0..%u", source,
                     field, i, range - 1);
            free(codes);
            return -1;
        }
        codes[i++] = (int32_t)v;
    }
    *out = codes;
    *count = n;
    return 0;
}

int encode_voice_from_json(const char *text, size_t length, const char *source,
                           size_t global_count, uint32_t global_range, uint32_t semantic_range,
                           encode_voice *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(text, length);
    if (!root || !cJSON_IsObject(root)) {
        snprintf(err, err_size, "%s: not a voice file (invalid JSON)", source);
        cJSON_Delete(root);
        return -1;
    }
    int rc = -1;
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *transcript = cJSON_GetObjectItemCaseSensitive(root, "transcript");
    if (!cJSON_IsString(format) || strcmp(format->valuestring, ENCODE_VOICE_FORMAT) != 0) {
        snprintf(err, err_size, "%s: \"format\" must be \"%s\"", source, ENCODE_VOICE_FORMAT);
        goto done;
    }
    if (!cJSON_IsString(name) || !encode_voice_name_valid(name->valuestring)) {
        snprintf(err, err_size, "%s: \"name\" must be 1 to %d letters, digits, '_' or '-'",
                 source, ENCODE_VOICE_NAME_MAX);
        goto done;
    }
    if (!cJSON_IsString(model) || strlen(model->valuestring) != ENCODE_MODEL_HASH_HEX - 1) {
        snprintf(err, err_size, "%s: \"model\" must be the 64-digit model fingerprint", source);
        goto done;
    }
    if (transcript && !cJSON_IsNull(transcript) && !cJSON_IsString(transcript)) {
        snprintf(err, err_size, "%s: \"transcript\" must be a string or null", source);
        goto done;
    }
    snprintf(out->name, sizeof out->name, "%s", name->valuestring);
    snprintf(out->model_hash, sizeof out->model_hash, "%s", model->valuestring);
    if (read_codes(cJSON_GetObjectItemCaseSensitive(root, "global_codes"), source,
                   "global_codes", global_range, &out->global_codes, &out->global_count, err,
                   err_size) != 0 ||
        read_codes(cJSON_GetObjectItemCaseSensitive(root, "semantic_codes"), source,
                   "semantic_codes", semantic_range, &out->semantic_codes,
                   &out->semantic_count, err, err_size) != 0)
        goto done;
    if (out->global_count != global_count) {
        snprintf(err, err_size, "%s: %zu global codes, the model needs exactly %zu", source,
                 out->global_count, global_count);
        goto done;
    }
    if (cJSON_IsString(transcript)) {
        out->transcript = strdup(transcript->valuestring);
        if (!out->transcript) {
            snprintf(err, err_size, "%s: out of memory", source);
            goto done;
        }
        if (out->semantic_count == 0) {
            snprintf(err, err_size, "%s: a voice with a transcript needs its semantic codes",
                     source);
            goto done;
        }
    }
    rc = 0;
done:
    cJSON_Delete(root);
    if (rc != 0)
        encode_voice_free(out);
    return rc;
}

/* Hashes a whole small file, or (weights) its size and samples. Missing files are hashed as
 * absent, so the fingerprint still names what was there. */
static int hash_file(EVP_MD_CTX *ctx, const char *dir, const char *rel, bool sampled, char *err,
                     size_t err_size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    EVP_DigestUpdate(ctx, rel, strlen(rel) + 1);
    FILE *f = fopen(path, "rb");
    if (!f) {
        EVP_DigestUpdate(ctx, "absent", 6);
        return 0;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        snprintf(err, err_size, "%s: cannot read its size", path);
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size;
    EVP_DigestUpdate(ctx, &size, sizeof size);
    enum { SAMPLE = 64 * 1024, SAMPLES = 16 };
    unsigned char *buf = malloc(SAMPLE);
    if (!buf) {
        fclose(f);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    int rc = 0;
    if (!sampled || size <= (uint64_t)SAMPLE * SAMPLES) {
        size_t got;
        while ((got = fread(buf, 1, SAMPLE, f)) > 0)
            EVP_DigestUpdate(ctx, buf, got);
    } else {
        for (int i = 0; i < SAMPLES && rc == 0; i++) {
            uint64_t at = (size - SAMPLE) / (SAMPLES - 1) * (uint64_t)i;
            if (fseeko(f, (off_t)at, SEEK_SET) != 0 || fread(buf, 1, SAMPLE, f) != SAMPLE) {
                snprintf(err, err_size, "%s: read failed", path);
                rc = -1;
            } else {
                EVP_DigestUpdate(ctx, buf, SAMPLE);
            }
        }
    }
    if (ferror(f) && rc == 0) {
        snprintf(err, err_size, "%s: read failed", path);
        rc = -1;
    }
    free(buf);
    fclose(f);
    return rc;
}

int encode_model_hash(const char *model_dir, char out[ENCODE_MODEL_HASH_HEX], char *err,
                      size_t err_size)
{
    static const char *const configs[] = {
        "config.yaml", "BiCodec/config.yaml", NN_SPARK_WAV2VEC2_DIR "/config.json",
        NN_SPARK_WAV2VEC2_DIR "/preprocessor_config.json"};
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        snprintf(err, err_size, "SHA-256 is not available");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < sizeof configs / sizeof configs[0] && rc == 0; i++)
        rc = hash_file(ctx, model_dir, configs[i], false, err, err_size);
    if (rc == 0)
        rc = hash_file(ctx, model_dir, nn_spark_component_weights(NN_SPARK_BICODEC), true, err,
                       err_size);
    if (rc == 0)
        rc = hash_file(ctx, model_dir, nn_spark_component_weights(NN_SPARK_WAV2VEC2), true, err,
                       err_size);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (rc == 0 && EVP_DigestFinal_ex(ctx, digest, &len) == 1 && len == 32) {
        for (unsigned int i = 0; i < len; i++)
            snprintf(out + 2 * i, 3, "%02x", digest[i]);
    } else if (rc == 0) {
        snprintf(err, err_size, "SHA-256 failed");
        rc = -1;
    }
    EVP_MD_CTX_free(ctx);
    return rc;
}

int encode_voice_location(const char *store, const char *name, char *out, size_t out_size)
{
    size_t n = strlen(store);
    bool slash = n > 0 && store[n - 1] == '/';
    int len = snprintf(out, out_size, "%s%s%s.json", store, slash || n == 0 ? "" : "/", name);
    return len > 0 && (size_t)len < out_size ? 0 : -1;
}
