/* Saved voices: the JSON round-trips every field; malformed or foreign files are refused
 * with a message naming the field; the model fingerprint follows the model's bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "encode_voice.h"
#include "spark/nn/spark_model.h"

static void check_round_trip(void)
{
    int32_t globals[32], semantic[5] = {0, 1023, 7, 512, 99};
    for (int i = 0; i < 32; i++)
        globals[i] = (i * 131) % 4096;
    encode_voice voice = {.transcript = "say \"hi\"\n", .global_codes = globals,
                          .global_count = 32, .semantic_codes = semantic, .semantic_count = 5};
    snprintf(voice.name, sizeof voice.name, "anna-2_b");
    memset(voice.model_hash, 'a', ENCODE_MODEL_HASH_HEX - 1);
    char *json = encode_voice_to_json(&voice);
    CHECK(json != NULL);
    encode_voice back;
    char err[512] = "";
    CHECK_INT_EQ(encode_voice_from_json(json, strlen(json), "v.json", 32, 4096, 1024, &back,
                                        err, sizeof err), 0);
    CHECK_STR_EQ(back.name, "anna-2_b");
    CHECK_STR_EQ(back.model_hash, voice.model_hash);
    CHECK_STR_EQ(back.transcript, "say \"hi\"\n");
    CHECK_INT_EQ(back.global_count, 32);
    CHECK_INT_EQ(back.semantic_count, 5);
    for (size_t i = 0; i < 32 && i < back.global_count; i++)
        CHECK_INT_EQ(back.global_codes[i], globals[i]);
    for (size_t i = 0; i < 5 && i < back.semantic_count; i++)
        CHECK_INT_EQ(back.semantic_codes[i], semantic[i]);
    encode_voice_free(&back);

    /* refusals, each naming what is wrong */
    CHECK_INT_EQ(encode_voice_from_json(json, strlen(json), "v.json", 31, 4096, 1024, &back,
                                        err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "the model needs exactly 31");
    CHECK_INT_EQ(encode_voice_from_json(json, strlen(json), "v.json", 32, 4096, 1000, &back,
                                        err, sizeof err), -1);
    CHECK_STR_CONTAINS(err, "\"semantic_codes\"[1] must be an integer code in 0..999");
    free(json);

    struct { const char *text, *message; } bad[] = {
        {"{", "invalid JSON"},
        {"{\"format\":\"other/1\"}", "\"format\" must be"},
        {"{\"format\":\"sparkhost-voice/1\",\"name\":\"a/b\"}", "\"name\" must be"},
        {"{\"format\":\"sparkhost-voice/1\",\"name\":\"a\",\"model\":\"x\"}", "\"model\""},
        {"{\"format\":\"sparkhost-voice/1\",\"name\":\"a\",\"model\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\","
         "\"global_codes\":[1.5],\"semantic_codes\":[]}", "\"global_codes\"[0]"},
        {"{\"format\":\"sparkhost-voice/1\",\"name\":\"a\",\"model\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\","
         "\"transcript\":\"t\",\"global_codes\":[1],\"semantic_codes\":[]}",
         "needs its semantic codes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        CHECK_INT_EQ(encode_voice_from_json(bad[i].text, strlen(bad[i].text), "v.json", 1, 4096,
                                            1024, &back, err, sizeof err), -1);
        CHECK_STR_CONTAINS(err, bad[i].message);
        CHECK_STR_CONTAINS(err, "v.json");
    }
    CHECK(encode_voice_name_valid("Voice_1-a"));
    CHECK(!encode_voice_name_valid(""));
    CHECK(!encode_voice_name_valid("a.json"));
    CHECK(!encode_voice_name_valid("../x"));
    char long_name[70];
    memset(long_name, 'x', 65);
    long_name[65] = 0;
    CHECK(!encode_voice_name_valid(long_name));
    char where[64];
    CHECK_INT_EQ(encode_voice_location("s3://b/voices/", "anna", where, sizeof where), 0);
    CHECK_STR_EQ(where, "s3://b/voices/anna.json");
    CHECK_INT_EQ(encode_voice_location("voices", "anna", where, sizeof where), 0);
    CHECK_STR_EQ(where, "voices/anna.json");
}

static void synth(const char *dir, uint64_t seed)
{
    nn_spark_preset preset;
    CHECK(nn_spark_preset_get("tiny", &preset));
    char *error = NULL;
    CHECK_INT_EQ(nn_spark_synth(dir, &preset, seed, NULL, &error), 0);
    free(error);
}

static void check_fingerprint(void)
{
    char dir[] = "/tmp/spark-encode-voice-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char a[128], b[128], c[128];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    snprintf(c, sizeof c, "%s/c", dir);
    synth(a, 0);
    synth(b, 0);
    synth(c, 1);
    char ha[ENCODE_MODEL_HASH_HEX], hb[ENCODE_MODEL_HASH_HEX], hc[ENCODE_MODEL_HASH_HEX];
    char err[512];
    CHECK_INT_EQ(encode_model_hash(a, ha, err, sizeof err), 0);
    CHECK_INT_EQ(encode_model_hash(b, hb, err, sizeof err), 0);
    CHECK_INT_EQ(encode_model_hash(c, hc, err, sizeof err), 0);
    CHECK_INT_EQ(strlen(ha), 64);
    CHECK_STR_EQ(ha, hb);           /* same bytes, same fingerprint */
    CHECK(strcmp(ha, hc) != 0);     /* another seed: other weights */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    check_round_trip();
    check_fingerprint();
    return CHECK_DONE();
}
