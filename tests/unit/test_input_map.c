/* Pipeline inputs with a value `map`: request values reach the targets translated (a boolean
 * switch driving an enum parameter), an empty mapped value leaves the input unset, values the
 * map does not name pass unchanged; map keys that are not values of the input, and mapped
 * values the target parameter refuses, are load errors naming the line. */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static char dir[] = "/tmp/spark-input-map-XXXXXX";

static spark_pipeline *parse(const char *name, const char *yaml, sp_buf *diag)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return NULL;
    fputs(yaml, f);
    fclose(f);
    return sp_pipeline_parse(NULL, path, diag);
}

static const char good[] =
    "version: 1\n"
    "nodes:\n"
    "  - {id: subtitles, plugin: org.sparkhost.subtitles.write}\n"
    "inputs:\n"
    "  subtitles: {type: enum, values: [none, ass, srt], default: ass, to: subtitles.format}\n"
    "  enable_subtitles: {type: boolean, map: {\"true\": \"\", \"false\": none},\n"
    "                     to: subtitles.format}\n"
    "  level: {type: integer, min: 0, max: 9, map: {0: silent, 9: loud}, default: 9,\n"
    "          to: subtitles.format}\n";

static int find(const spark_pipeline *p, const char *name)
{
    for (size_t i = 0; i < p->input_count; i++)
        if (strcmp(p->inputs[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Validates REQUEST; returns the values (caller clears them) or NULL with *error set. */
static sp_value *validate(spark_pipeline *p, const char *request, spark_error **error)
{
    sp_value *values = calloc(p->input_count, sizeof *values);
    if (sp_request_validate(p, request, values, error) != 0) {
        for (size_t i = 0; i < p->input_count; i++)
            sp_value_clear(&values[i]);
        free(values);
        return NULL;
    }
    return values;
}

static void free_values(spark_pipeline *p, sp_value *values)
{
    for (size_t i = 0; values && i < p->input_count; i++)
        sp_value_clear(&values[i]);
    free(values);
}

static void test_mapped_values(void)
{
    sp_buf diag = {0};
    spark_pipeline *p = parse("good.yaml", good, &diag);
    CHECK(p != NULL);
    CHECK_INT_EQ(diag.len, 0);
    if (diag.len)
        fprintf(stderr, "%s\n", diag.data);
    sp_buf_free(&diag);
    if (!p)
        return;
    int subtitles = find(p, "subtitles"), enable = find(p, "enable_subtitles"),
        level = find(p, "level");
    CHECK(subtitles >= 0 && enable >= 0 && level >= 0);
    if (subtitles < 0 || enable < 0 || level < 0) {
        sp_pipeline_free_description(p);
        return;
    }
    spark_error *error = NULL;
    /* false -> "none", a string for the enum target */
    sp_value *v = validate(p, "{\"enable_subtitles\": false}", &error);
    CHECK(v != NULL);
    if (v) {
        CHECK(v[enable].set);
        CHECK_STR_EQ(v[enable].text, "none");
        CHECK_INT_EQ(v[enable].type, SPARK_PARAM_STRING);
        CHECK_STR_EQ(v[subtitles].text, "ass"); /* the other input is untouched */
        CHECK_STR_EQ(v[level].text, "loud");    /* a default is mapped too */
    }
    free_values(p, v);
    /* true -> "": unset, so subtitles (here srt) decides */
    v = validate(p, "{\"enable_subtitles\": true, \"subtitles\": \"srt\", \"level\": 0}", &error);
    CHECK(v != NULL);
    if (v) {
        CHECK(!v[enable].set);
        CHECK_STR_EQ(v[subtitles].text, "srt");
        CHECK_STR_EQ(v[level].text, "silent");
    }
    free_values(p, v);
    /* a value the map does not name passes unchanged; the input's own rules still hold */
    v = validate(p, "{\"level\": 4}", &error);
    CHECK(v != NULL);
    if (v) {
        CHECK_STR_EQ(v[level].text, "4");
        CHECK_INT_EQ(v[level].type, SPARK_PARAM_INTEGER);
        CHECK(!v[enable].set); /* no default: not given, not set */
    }
    free_values(p, v);
    v = validate(p, "{\"enable_subtitles\": \"yes\"}", &error);
    CHECK(v == NULL);
    CHECK(error != NULL);
    if (error) {
        CHECK_STR_EQ(error->field, "enable_subtitles");
        CHECK_STR_CONTAINS(error->message, "must be true or false");
    }
    spark_error_free(error);
    sp_pipeline_free_description(p);
}

static void test_bad_maps(void)
{
    sp_buf diag = {0};
    spark_pipeline *p = parse("bad.yaml",
                              "version: 1\n"
                              "nodes:\n"
                              "  - {id: s, plugin: org.sparkhost.subtitles.write}\n"
                              "inputs:\n"
                              "  on: {type: boolean, to: s.format,\n"
                              "       map: {\"maybe\": ass}}\n"
                              "  n: {type: integer, max: 3, to: s.format, map: {7: ass}}\n"
                              "  list: {type: boolean, to: s.format, map: [a, b]}\n",
                              &diag);
    CHECK(diag.data != NULL);
    if (diag.data) {
        CHECK_STR_CONTAINS(diag.data, ":6: 'map' key 'maybe' of input 'on'");
        CHECK_STR_CONTAINS(diag.data, ":7: 'map' key '7' of input 'n'");
        CHECK_STR_CONTAINS(diag.data, ":8: 'map' of input 'list' must be a mapping");
    }
    sp_buf_free(&diag);
    if (p)
        sp_pipeline_free_description(p);
}

/* Against the node's parameters (the built-in store node): a mapped value the target refuses
 * is a load error at the input's line; mapped values that fit load. */
static void test_mapped_values_fit_targets(void)
{
    spark_engine_options options = {.log_level = -1};
    spark_error *error = NULL;
    spark_engine *engine = spark_engine_new(&options, &error);
    CHECK(engine != NULL);
    spark_error_free(error);
    error = NULL;
    if (!engine)
        return;
    const char *head = "version: 1\n"
                       "nodes:\n"
                       "  - {id: read, plugin: org.sparkhost.core.fetch, params: {url: a}}\n"
                       "  - {id: store, plugin: org.sparkhost.core.store}\n"
                       "links:\n"
                       "  - {from: read.out, to: store.in}\n"
                       "inputs:\n";
    char yaml[1024], path[256];
    snprintf(yaml, sizeof yaml, "%s  keep: {type: enum, values: [yes, no], to: store.optional,\n"
             "         map: {yes: \"true\", no: maybe}}\n", head);
    snprintf(path, sizeof path, "%s/refused.yaml", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(yaml, f);
        fclose(f);
    }
    spark_pipeline *p = spark_pipeline_load(engine, path, NULL, &error);
    CHECK(p == NULL);
    CHECK(error != NULL);
    if (error) {
        CHECK_STR_CONTAINS(error->message, "refused.yaml:8: input 'keep' maps 'no' to 'maybe'");
        CHECK_STR_CONTAINS(error->message, "store.optional");
    }
    spark_error_free(error);
    error = NULL;
    if (p)
        spark_pipeline_free(p);
    snprintf(yaml, sizeof yaml, "%s  keep: {type: enum, values: [yes, no], to: store.optional,\n"
             "         map: {yes: \"true\", no: \"false\"}}\n", head);
    snprintf(path, sizeof path, "%s/fits.yaml", dir);
    f = fopen(path, "w");
    if (f) {
        fputs(yaml, f);
        fclose(f);
    }
    p = spark_pipeline_load(engine, path, NULL, &error);
    CHECK(p != NULL);
    if (error)
        fprintf(stderr, "%s\n", error->message);
    spark_error_free(error);
    if (p)
        spark_pipeline_free(p);
    spark_engine_free(engine);
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    test_mapped_values();
    test_bad_maps();
    test_mapped_values_fit_targets();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return CHECK_DONE();
}
