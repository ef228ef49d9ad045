/* Typed parameter values: parsing text by a schema entry, checking limits, and the
 * spark_params getters that plugins call. */
#include "internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *sp_param_type_name(int32_t type)
{
    switch (type) {
    case SPARK_PARAM_STRING: return "string";
    case SPARK_PARAM_INTEGER: return "integer";
    case SPARK_PARAM_NUMBER: return "number";
    case SPARK_PARAM_BOOLEAN: return "boolean";
    case SPARK_PARAM_ENUM: return "enum";
    case SPARK_PARAM_URL: return "url";
    default: return "unknown";
    }
}

void sp_value_clear(sp_value *v)
{
    free(v->text);
    memset(v, 0, sizeof *v);
}

int sp_value_copy(sp_value *dst, const sp_value *src)
{
    *dst = *src;
    dst->text = NULL;
    if (src->text && !(dst->text = sp_strdup(src->text)))
        return -1;
    return 0;
}

static char *check_range(const spark_param_desc *d, double x)
{
    if ((d->flags & SPARK_PARAM_HAS_MIN) && x < d->min)
        return sp_printf("must be at least %g, got %g", d->min, x);
    if ((d->flags & SPARK_PARAM_HAS_MAX) && x > d->max)
        return sp_printf("must be at most %g, got %g", d->max, x);
    return NULL;
}

static char *choices_list(const char *const *choices)
{
    sp_buf b = {0};
    for (size_t i = 0; choices[i]; i++)
        sp_buf_printf(&b, "%s%s", i ? ", " : "", choices[i]);
    return b.data ? b.data : sp_strdup("");
}

char *sp_value_parse(sp_value *out, const spark_param_desc *d, const char *text)
{
    memset(out, 0, sizeof *out);
    out->type = d->type;
    char *end = NULL;
    switch (d->type) {
    case SPARK_PARAM_STRING:
    case SPARK_PARAM_URL:
        if (d->max_length && strlen(text) > d->max_length)
            return sp_printf("must be at most %u bytes long, got %zu", d->max_length,
                             strlen(text));
        if (d->type == SPARK_PARAM_URL) {
            if (!*text)
                return sp_strdup("expects a URL or path, got an empty string");
            for (const char *c = text; *c; c++)
                if ((unsigned char)*c < 0x20 || *c == 0x7f)
                    return sp_strdup("expects a URL or path, got control characters");
        }
        break;
    case SPARK_PARAM_INTEGER: {
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!*text || *end || errno == ERANGE)
            return sp_printf("expects an integer, got '%s'", text);
        char *why = check_range(d, (double)v);
        if (why)
            return why;
        out->integer = v;
        out->number = (double)v;
        break;
    }
    case SPARK_PARAM_NUMBER: {
        errno = 0;
        double v = strtod(text, &end);
        if (!*text || *end || errno == ERANGE || !isfinite(v))
            return sp_printf("expects a number, got '%s'", text);
        char *why = check_range(d, v);
        if (why)
            return why;
        out->number = v;
        out->integer = (int64_t)v;
        break;
    }
    case SPARK_PARAM_BOOLEAN:
        if (!strcasecmp(text, "true") || !strcasecmp(text, "yes") || !strcasecmp(text, "on") ||
            !strcmp(text, "1"))
            out->boolean = true;
        else if (!strcasecmp(text, "false") || !strcasecmp(text, "no") ||
                 !strcasecmp(text, "off") || !strcmp(text, "0"))
            out->boolean = false;
        else
            return sp_printf("expects true or false, got '%s'", text);
        out->integer = out->boolean;
        out->number = out->boolean;
        text = out->boolean ? "true" : "false";
        break;
    case SPARK_PARAM_ENUM: {
        if (!d->choices || !d->choices[0])
            return sp_strdup("has no allowed values");
        bool found = false;
        size_t n = 0;
        for (; d->choices[n]; n++)
            if (strcmp(d->choices[n], text) == 0)
                found = true;
        if (!found) {
            char *list = choices_list(d->choices);
            const char *close = sp_suggest(text, d->choices, n);
            char *msg = close ? sp_printf("must be one of %s, got '%s' (did you mean '%s'?)",
                                          list, text, close)
                              : sp_printf("must be one of %s, got '%s'", list, text);
            free(list);
            return msg;
        }
        break;
    }
    default:
        return sp_strdup("has an unknown type");
    }
    out->text = sp_strdup(text);
    out->set = out->text != NULL;
    return out->text ? NULL : sp_strdup("out of memory");
}

int sp_param_index(const spark_param_desc *schema, uint32_t count, const char *key)
{
    for (uint32_t i = 0; i < count; i++)
        if (strcmp(schema[i].key, key) == 0)
            return (int)i;
    return -1;
}

static const sp_value *lookup(void *user, const char *key)
{
    const sp_param_set *set = user;
    int i = sp_param_index(set->schema, set->count, key);
    if (i < 0 || !set->values[i].set)
        return NULL;
    return &set->values[i];
}

static int32_t api_has(void *user, const char *key)
{
    return lookup(user, key) != NULL;
}

static const char *api_get_string(void *user, const char *key)
{
    const sp_value *v = lookup(user, key);
    return v ? v->text : NULL;
}

static int64_t api_get_integer(void *user, const char *key)
{
    const sp_value *v = lookup(user, key);
    return v ? v->integer : 0;
}

static double api_get_number(void *user, const char *key)
{
    const sp_value *v = lookup(user, key);
    return v ? v->number : 0.0;
}

static int32_t api_get_boolean(void *user, const char *key)
{
    const sp_value *v = lookup(user, key);
    return v ? v->boolean : 0;
}

static void bind_api(sp_param_set *set)
{
    set->api = (spark_params){
        .struct_size = sizeof(spark_params),
        .user = set,
        .has = api_has,
        .get_string = api_get_string,
        .get_integer = api_get_integer,
        .get_number = api_get_number,
        .get_boolean = api_get_boolean,
    };
}

int sp_param_set_init(sp_param_set *set, const spark_param_desc *schema, uint32_t count)
{
    memset(set, 0, sizeof *set);
    set->schema = schema;
    set->count = count;
    set->values = calloc(count ? count : 1, sizeof *set->values);
    if (!set->values)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        if (!schema[i].default_value)
            continue;
        char *why = sp_value_parse(&set->values[i], &schema[i], schema[i].default_value);
        if (why) { /* validated at load, so only out of memory gets here */
            free(why);
            sp_param_set_free(set);
            return -1;
        }
    }
    bind_api(set);
    return 0;
}

int sp_param_set_copy(sp_param_set *dst, const sp_param_set *src)
{
    memset(dst, 0, sizeof *dst);
    dst->schema = src->schema;
    dst->count = src->count;
    dst->values = calloc(src->count ? src->count : 1, sizeof *dst->values);
    if (!dst->values)
        return -1;
    for (uint32_t i = 0; i < src->count; i++) {
        if (sp_value_copy(&dst->values[i], &src->values[i]) != 0) {
            sp_param_set_free(dst);
            return -1;
        }
    }
    bind_api(dst);
    return 0;
}

void sp_param_set_free(sp_param_set *set)
{
    if (set->values)
        for (uint32_t i = 0; i < set->count; i++)
            sp_value_clear(&set->values[i]);
    free(set->values);
    memset(set, 0, sizeof *set);
}

char *sp_expand_env(const char *text, char **error_message)
{
    *error_message = NULL;
    sp_buf out = {0};
    sp_buf_append(&out, "");
    const char *p = text;
    while (*p) {
        const char *start = strstr(p, "${env:");
        if (!start) {
            sp_buf_append(&out, p);
            break;
        }
        const char *close = strchr(start, '}');
        if (!close) {
            *error_message = sp_strdup("unterminated ${env:...}");
            sp_buf_free(&out);
            return NULL;
        }
        char *chunk = sp_strndup(p, (size_t)(start - p));
        char *name = sp_strndup(start + 6, (size_t)(close - start - 6));
        /* ${env:NAME:-fallback}, as in the shell: the fallback when NAME is unset or empty */
        char *fallback = name ? strstr(name, ":-") : NULL;
        if (fallback) {
            *fallback = 0;
            fallback += 2;
        }
        const char *value = name ? getenv(name) : NULL;
        if ((!value || !*value) && fallback)
            value = fallback;
        if (!value) {
            *error_message = sp_printf("environment variable %s is not set", name ? name : "");
            free(chunk);
            free(name);
            sp_buf_free(&out);
            return NULL;
        }
        if (chunk)
            sp_buf_append(&out, chunk);
        sp_buf_append(&out, value);
        free(chunk);
        free(name);
        p = close + 1;
    }
    return out.data;
}
