/* Engine internals with no plugins: the YAML tree, typed values, suggestions, environment
 * expansion, packets. */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void test_yaml_tree_keeps_lines(void)
{
    const char *text = "version: 1\n"
                       "nodes:\n"
                       "  - id: a\n"
                       "    params: {x: '1', y: [2, 3]}\n";
    char *why = NULL;
    sp_ynode *root = sp_yaml_parse(text, strlen(text), &why);
    CHECK(root != NULL);
    CHECK(why == NULL);
    if (!root)
        return;
    CHECK_INT_EQ(root->type, SP_Y_MAP);
    CHECK_INT_EQ(sp_ynode_key_line(root, "nodes"), 2);
    const sp_ynode *nodes = sp_ynode_get(root, "nodes");
    CHECK(nodes && nodes->type == SP_Y_SEQ && nodes->count == 1);
    const sp_ynode *node = nodes ? nodes->items[0] : NULL;
    CHECK_INT_EQ(node ? node->line : 0, 3);
    const sp_ynode *params = sp_ynode_get(node, "params");
    const sp_ynode *x = sp_ynode_get(params, "x");
    CHECK(x && x->quoted && strcmp(x->scalar, "1") == 0 && x->line == 4);
    const sp_ynode *y = sp_ynode_get(params, "y");
    CHECK(y && y->type == SP_Y_SEQ && y->count == 2);
    CHECK(sp_ynode_get(root, "missing") == NULL);
    sp_ynode_free(root);
}

static void test_yaml_errors(void)
{
    struct { const char *text, *want; } cases[] = {
        {"a: 1\nb: 2\na: 3\n", "line 3: key 'a' appears twice (first at line 1)"},
        {"a: &x 1\nb: *x\n", "anchors are not supported"},
        {"a: [1, 2\n", "line"},
        {"", "the file is empty"},
        {"a: 1\n---\nb: 2\n", "only one YAML document"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *why = NULL;
        sp_ynode *root = sp_yaml_parse(cases[i].text, strlen(cases[i].text), &why);
        CHECK(root == NULL);
        CHECK_STR_CONTAINS(why, cases[i].want);
        sp_ynode_free(root);
        free(why);
    }
}

static void expect_value(const spark_param_desc *d, const char *text, const char *error_part)
{
    sp_value v;
    char *why = sp_value_parse(&v, d, text);
    if (error_part) {
        CHECK_STR_CONTAINS(why, error_part);
    } else {
        if (why)
            fprintf(stderr, "unexpected: %s\n", why);
        CHECK(why == NULL);
    }
    free(why);
    sp_value_clear(&v);
}

static void test_values(void)
{
    spark_param_desc integer = {.key = "n", .type = SPARK_PARAM_INTEGER,
                                .flags = SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX,
                                .min = -5, .max = 10};
    expect_value(&integer, "10", NULL);
    expect_value(&integer, "-5", NULL);
    expect_value(&integer, "11", "must be at most 10, got 11");
    expect_value(&integer, "-6", "must be at least -5, got -6");
    expect_value(&integer, "2.5", "expects an integer, got '2.5'");
    expect_value(&integer, "", "expects an integer");
    expect_value(&integer, "99999999999999999999", "expects an integer");

    spark_param_desc number = {.key = "x", .type = SPARK_PARAM_NUMBER,
                               .flags = SPARK_PARAM_HAS_MIN, .min = 0};
    expect_value(&number, "0.25", NULL);
    expect_value(&number, "1e3", NULL);
    expect_value(&number, "-0.1", "must be at least 0");
    expect_value(&number, "nan", "expects a number");
    expect_value(&number, "inf", "expects a number");

    spark_param_desc boolean = {.key = "b", .type = SPARK_PARAM_BOOLEAN};
    sp_value v;
    CHECK(sp_value_parse(&v, &boolean, "yes") == NULL);
    CHECK(v.boolean && strcmp(v.text, "true") == 0);
    sp_value_clear(&v);
    expect_value(&boolean, "maybe", "expects true or false, got 'maybe'");

    static const char *const formats[] = {"wav", "flac", NULL};
    spark_param_desc choice = {.key = "f", .type = SPARK_PARAM_ENUM, .choices = formats};
    expect_value(&choice, "flac", NULL);
    expect_value(&choice, "flca", "must be one of wav, flac, got 'flca' (did you mean 'flac'?)");
    expect_value(&choice, "zzzzzz", "must be one of wav, flac, got 'zzzzzz'");

    spark_param_desc text = {.key = "s", .type = SPARK_PARAM_STRING, .max_length = 4};
    expect_value(&text, "abcd", NULL);
    expect_value(&text, "abcde", "at most 4 bytes long, got 5");
    spark_param_desc url = {.key = "u", .type = SPARK_PARAM_URL};
    expect_value(&url, "s3://bucket/key", NULL);
    expect_value(&url, "", "empty");
    expect_value(&url, "a\nb", "control characters");
}

static void test_param_set_api(void)
{
    static const spark_param_desc schema[] = {
        {.key = "rate", .type = SPARK_PARAM_INTEGER, .default_value = "16000"},
        {.key = "name", .type = SPARK_PARAM_STRING},
    };
    sp_param_set set;
    CHECK_INT_EQ(sp_param_set_init(&set, schema, 2), 0);
    const spark_params *p = &set.api;
    CHECK_INT_EQ(p->get_integer(p->user, "rate"), 16000);
    CHECK(p->has(p->user, "rate"));
    CHECK(!p->has(p->user, "name"));
    CHECK(p->get_string(p->user, "name") == NULL);
    CHECK(p->get_string(p->user, "nope") == NULL);
    sp_param_set copy;
    CHECK_INT_EQ(sp_param_set_copy(&copy, &set), 0);
    sp_param_set_free(&set);
    CHECK_STR_EQ(copy.api.get_string(copy.api.user, "rate"), "16000");
    sp_param_set_free(&copy);
}

static void test_suggest_and_env(void)
{
    const char *const ids[] = {"org.sparkhost.audio.decode", "org.sparkhost.audio.encode"};
    CHECK_STR_EQ(sp_suggest("org.sparkhost.audio.decoder", ids, 2), "org.sparkhost.audio.decode");
    CHECK(sp_suggest("something.else", ids, 2) == NULL);

    setenv("SPARK_UNIT_TEST_VALUE", "secret", 1);
    char *why = NULL;
    char *out = sp_expand_env("a-${env:SPARK_UNIT_TEST_VALUE}-b", &why);
    CHECK_STR_EQ(out, "a-secret-b");
    free(out);
    unsetenv("SPARK_UNIT_TEST_MISSING");
    out = sp_expand_env("${env:SPARK_UNIT_TEST_MISSING}", &why);
    CHECK(out == NULL);
    CHECK_STR_CONTAINS(why, "SPARK_UNIT_TEST_MISSING is not set");
    free(why);
    out = sp_expand_env("${env:SPARK_UNIT_TEST_MISSING:-models/x}/y", &why);
    CHECK_STR_EQ(out, "models/x/y");
    free(out);
    out = sp_expand_env("${env:SPARK_UNIT_TEST_VALUE:-unused}", &why);
    CHECK_STR_EQ(out, "secret");
    free(out);
    out = sp_expand_env("${env:OPEN", &why);
    CHECK(out == NULL);
    CHECK_STR_CONTAINS(why, "unterminated");
    free(why);
}

static void test_packets(void)
{
    const spark_ext_alloc *a = &sp_ext_alloc;
    spark_packet *audio = a->audio(NULL, 2, 1001, 16000);
    CHECK(audio != NULL);
    if (audio) {
        CHECK_INT_EQ(audio->kind, SPARK_KIND_AUDIO);
        CHECK_INT_EQ(audio->data.audio.frames, 1001);
        for (uint32_t c = 0; c < 2; c++) {
            CHECK_INT_EQ((uintptr_t)audio->data.audio.planes[c] % 64, 0);
            CHECK(audio->data.audio.planes[c][1000] == 0.0f);
            audio->data.audio.planes[c][1000] = 1.0f; /* the whole plane is writable */
        }
        const spark_packet *kept = a->retain(audio);
        CHECK(kept == audio);
        a->release(audio);
        CHECK(kept->data.audio.planes[1][1000] == 1.0f); /* still alive: one reference left */
        a->release(kept);
    }
    CHECK(a->audio(NULL, 0, 10, 16000) == NULL);
    CHECK(a->audio(NULL, 2, UINT64_MAX / 2, 16000) == NULL);
    CHECK(a->blob(NULL, UINT64_MAX, "x", "y") == NULL);
    CHECK(a->tokens(NULL, UINT64_MAX / 4, "v") == NULL);

    spark_timing_item items[2] = {
        {.level = SPARK_TIMING_WORD, .start = 0, .end = 0.5, .score = -1, .text_offset = 0,
         .text = "hello"},
        {.level = SPARK_TIMING_WORD, .start = 0.5, .end = 1, .score = -1, .text_offset = 6,
         .text = "world"},
    };
    spark_packet *timing = a->timing(NULL, items, 2);
    CHECK(timing && timing->data.timing.count == 2);
    if (timing) {
        CHECK(timing->data.timing.items[1].text != items[1].text); /* deep copy */
        CHECK_STR_EQ(timing->data.timing.items[1].text, "world");
        a->release(timing);
    }
    spark_packet *text = a->text(NULL, "abc", 2, 7);
    CHECK(text && text->data.text.length == 2 && strcmp(text->data.text.utf8, "ab") == 0 &&
          text->data.text.offset == 7);
    a->release(text);
    spark_packet *codes = a->codes(NULL, 5, 32, "bicodec", 50.0);
    CHECK(codes && codes->data.codes.global >= codes->data.codes.semantic + 5 &&
          (uintptr_t)codes->data.codes.global % 64 == 0 && codes->data.codes.n_global == 32);
    if (codes)
        codes->data.codes.global[31] = 7; /* writable to its end */
    a->release(codes);
    a->release(NULL);
}

int main(void)
{
    test_yaml_tree_keeps_lines();
    test_yaml_errors();
    test_values();
    test_param_set_api();
    test_suggest_and_env();
    test_packets();
    return CHECK_DONE();
}
