/* Job requests: JSON checked against the pipeline's input schema before any node runs. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int request_error(spark_error **error, const char *field, const char *fmt, ...)
    SP_PRINTF(3, 4);

static int request_error(spark_error **error, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = sp_vprintf(fmt, ap);
    va_end(ap);
    spark_error *err = sp_error_new(SPARK_ERROR_REQUEST, SPARK_E_INVALID_ARGUMENT, "%s",
                                    msg ? msg : "invalid request");
    free(msg);
    if (err && field)
        err->field = sp_strdup(field);
    return sp_error_set(error, err);
}

static int find_input(const spark_pipeline *p, const char *name)
{
    for (size_t i = 0; i < p->input_count; i++) {
        if (strcmp(p->inputs[i].name, name) == 0)
            return (int)i;
        for (size_t a = 0; a < p->inputs[i].alias_count; a++)
            if (strcmp(p->inputs[i].aliases[a], name) == 0)
                return (int)i;
    }
    return -1;
}

int spark_pipeline_has_input(const spark_pipeline *pipeline, const char *name)
{
    return find_input(pipeline, name) >= 0;
}

static const char *json_type_name(const cJSON *v)
{
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "a list";
    if (cJSON_IsObject(v)) return "an object";
    return "null";
}

/* JSON value -> the text form sp_value_parse takes, checking the JSON type. */
static char *value_text(const sp_input *in, const cJSON *v, char **why)
{
    switch (in->type) {
    case SPARK_PARAM_STRING:
    case SPARK_PARAM_URL:
    case SPARK_PARAM_ENUM:
        if (cJSON_IsString(v))
            return sp_strdup(v->valuestring);
        *why = sp_printf("must be a string, got %s", json_type_name(v));
        return NULL;
    case SPARK_PARAM_INTEGER:
        if (cJSON_IsNumber(v) && floor(v->valuedouble) == v->valuedouble &&
            fabs(v->valuedouble) < 9.0e15)
            return sp_printf("%.0f", v->valuedouble);
        *why = cJSON_IsNumber(v) ? sp_printf("must be an integer, got %g", v->valuedouble)
                                 : sp_printf("must be an integer, got %s", json_type_name(v));
        return NULL;
    case SPARK_PARAM_NUMBER:
        if (cJSON_IsNumber(v))
            return sp_printf("%.17g", v->valuedouble);
        *why = sp_printf("must be a number, got %s", json_type_name(v));
        return NULL;
    case SPARK_PARAM_BOOLEAN:
        if (cJSON_IsBool(v))
            return sp_strdup(cJSON_IsTrue(v) ? "true" : "false");
        *why = sp_printf("must be true or false, got %s", json_type_name(v));
        return NULL;
    default:
        *why = sp_strdup("has an unknown type");
        return NULL;
    }
}

/* An input's `map`: the request value becomes the mapped text, passed on as a string that
 * each target parses with its own schema; an empty mapped text leaves the input unset. */
static int apply_input_map(const sp_input *in, sp_value *v)
{
    for (size_t m = 0; m < in->map_count; m++) {
        if (strcmp(in->map_from[m], v->text) != 0)
            continue;
        char *text = sp_strdup(in->map_to[m]);
        if (!text)
            return -1;
        sp_value_clear(v);
        if (*text)
            *v = (sp_value){.set = true, .type = SPARK_PARAM_STRING, .text = text};
        else
            free(text);
        return 0;
    }
    return 0;
}

int sp_request_validate(spark_pipeline *p, const char *json, sp_value *out, spark_error **error)
{
    cJSON *root = json && *json ? cJSON_Parse(json) : cJSON_CreateObject();
    if (!root)
        return request_error(error, NULL, "the request is not valid JSON (near byte %td)",
                             cJSON_GetErrorPtr() && json ? cJSON_GetErrorPtr() - json : 0);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return request_error(error, NULL, "the request must be a JSON object of input fields");
    }
    const char **seen_by = calloc(p->input_count ? p->input_count : 1, sizeof *seen_by);
    if (!seen_by) {
        cJSON_Delete(root);
        return sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
    }
    int rc = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        int idx = find_input(p, item->string);
        if (idx < 0) {
            const char **names = calloc(p->input_count + 1, sizeof *names);
            for (size_t i = 0; names && i < p->input_count; i++)
                names[i] = p->inputs[i].name;
            const char *close = names ? sp_suggest(item->string, names, p->input_count) : NULL;
            if (close)
                rc = request_error(error, item->string, "unknown request field '%s' (did you "
                                   "mean '%s'?)", item->string, close);
            else
                rc = request_error(error, item->string, "unknown request field '%s'",
                                   item->string);
            free(names);
            break;
        }
        const sp_input *in = &p->inputs[idx];
        if (cJSON_IsNull(item))
            continue; /* null means "use the default" */
        if (seen_by[idx]) {
            rc = request_error(error, item->string, "request fields '%s' and '%s' both set "
                               "input '%s'", seen_by[idx], item->string, in->name);
            break;
        }
        seen_by[idx] = item->string;
        char *why = NULL;
        char *text = value_text(in, item, &why);
        if (text) {
            sp_value_clear(&out[idx]);
            why = sp_value_parse(&out[idx], &in->schema, text);
            free(text);
        }
        if (why) {
            rc = request_error(error, item->string, "request field '%s' %s", item->string, why);
            free(why);
            break;
        }
    }
    for (size_t i = 0; rc == 0 && i < p->input_count; i++) {
        const sp_input *in = &p->inputs[i];
        if (out[i].set)
            continue;
        if (in->schema.flags & SPARK_PARAM_REQUIRED) {
            rc = request_error(error, in->name, "request field '%s' is required", in->name);
            break;
        }
        if (in->default_text) {
            char *why = sp_value_parse(&out[i], &in->schema, in->default_text);
            if (why) {
                rc = request_error(error, in->name, "default of '%s' %s", in->name, why);
                free(why);
            }
        }
    }
    for (size_t i = 0; rc == 0 && i < p->input_count; i++)
        if (out[i].set && p->inputs[i].map_count && apply_input_map(&p->inputs[i], &out[i]))
            rc = sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
    free(seen_by);
    cJSON_Delete(root);
    return rc;
}

char *spark_pipeline_request_from_pairs(const spark_pipeline *p, const char *const *keys,
                                        const char *const *values, size_t count,
                                        spark_error **error)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        int idx = find_input(p, keys[i]);
        if (idx < 0) {
            const char **names = calloc(p->input_count + 1, sizeof *names);
            for (size_t k = 0; names && k < p->input_count; k++)
                names[k] = p->inputs[k].name;
            const char *close = names ? sp_suggest(keys[i], names, p->input_count) : NULL;
            request_error(error, keys[i], "the pipeline has no input '%s'%s%s%s", keys[i],
                          close ? " (did you mean '" : "", close ? close : "", close ? "'?)" : "");
            free(names);
            cJSON_Delete(root);
            return NULL;
        }
        const sp_input *in = &p->inputs[idx];
        sp_value v;
        char *why = sp_value_parse(&v, &in->schema, values[i]);
        if (why) {
            request_error(error, keys[i], "input '%s' %s", keys[i], why);
            free(why);
            cJSON_Delete(root);
            return NULL;
        }
        cJSON *item;
        if (in->type == SPARK_PARAM_INTEGER || in->type == SPARK_PARAM_NUMBER)
            item = cJSON_CreateNumber(v.number);
        else if (in->type == SPARK_PARAM_BOOLEAN)
            item = cJSON_CreateBool(v.boolean);
        else
            item = cJSON_CreateString(v.text);
        sp_value_clear(&v);
        cJSON_DeleteItemFromObjectCaseSensitive(root, keys[i]);
        cJSON_AddItemToObject(root, keys[i], item);
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text)
        sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
    return text;
}
