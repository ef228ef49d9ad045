/* The one-shot local test. */
#include "local_test.h"

#include "job_exec.h"
#include "rp_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
        if (cap - len < 2) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

cJSON *rp_local_test_load(const char *source)
{
    const char *what = source ? "--test-input" : "test_input.json";
    char *owned = NULL;
    const char *text = source;
    const char *s = source;
    while (s && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    if (!source || *s != '{') {
        const char *path = source ? source : "test_input.json";
        owned = read_file(path);
        if (!owned) {
            if (source)
                rp_log(RP_ERROR, NULL, "--test-input: '%s' is neither JSON nor a readable file: %s",
                       path, strerror(errno));
            else
                rp_log(RP_ERROR, NULL,
                       "no platform (RUNPOD_WEBHOOK_GET_JOB unset), no --test-input and no "
                       "readable ./test_input.json: nothing to do");
            return NULL;
        }
        what = path;
        text = owned;
    }
    cJSON *doc = cJSON_Parse(text);
    free(owned);
    if (!doc) {
        rp_log(RP_ERROR, NULL, "%s is not valid JSON", what);
        return NULL;
    }
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "input"))) {
        rp_log(RP_ERROR, NULL, "%s needs an 'input' object, like {\"input\": {\"text\": \"...\"}}",
               what);
        cJSON_Delete(doc);
        return NULL;
    }
    return doc;
}

int rp_local_test_run(spark_pipeline *pipeline, cJSON *doc)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");
    const char *job_id = cJSON_IsString(id) ? id->valuestring : "local_test";
    job_ctl ctl;
    job_ctl_init(&ctl);
    job_outcome out;
    job_exec_run(pipeline, job_id, cJSON_GetObjectItemCaseSensitive(doc, "input"), &ctl, NULL,
                 NULL, NULL, &out);
    job_ctl_destroy(&ctl);
    char *text = out.body ? cJSON_PrintUnformatted(out.body) : NULL;
    printf("%s\n", text ? text : "{\"error\":\"out of memory\"}");
    fflush(stdout);
    free(text);
    cJSON_Delete(out.body);
    return out.failed || !out.body ? 1 : 0;
}
