/* Structural checks of what a plugin declares, done once at load, so that the rest of the
 * engine can trust descriptors. Each check returns NULL or a malloc'd reason. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The smallest struct sizes the engine accepts: those of ABI 1.0. */
#define MIN_ENTRY_SIZE (offsetof(spark_entry, get_factory) + sizeof(void *))
#define MIN_NODE_DESC_SIZE (offsetof(spark_node_desc, ops) + sizeof(void *))
#define MIN_NODE_OPS_SIZE (offsetof(spark_node_ops, destroy) + sizeof(void *))
#define MIN_STORAGE_DESC_SIZE (offsetof(spark_storage_desc, ops) + sizeof(void *))
#define MIN_STORAGE_OPS_SIZE (offsetof(spark_storage_ops, destroy) + sizeof(void *))

char *sp_validate_entry(const spark_entry *entry)
{
    if (entry->abi.major != SPARK_ABI_MAJOR)
        return sp_printf("built for plugin ABI %u.%u.%u, this host speaks %u.%u.%u "
                         "(majors must match)",
                         entry->abi.major, entry->abi.minor, entry->abi.patch,
                         SPARK_ABI_MAJOR, SPARK_ABI_MINOR, SPARK_ABI_PATCH);
    if (entry->abi.minor > SPARK_ABI_MINOR)
        return sp_printf("built for plugin ABI %u.%u.%u, newer than this host's %u.%u.%u",
                         entry->abi.major, entry->abi.minor, entry->abi.patch,
                         SPARK_ABI_MAJOR, SPARK_ABI_MINOR, SPARK_ABI_PATCH);
    if (entry->struct_size < MIN_ENTRY_SIZE)
        return sp_printf("entry struct_size %u is smaller than ABI 1.0's %zu",
                         entry->struct_size, (size_t)MIN_ENTRY_SIZE);
    if (!entry->get_factory)
        return sp_strdup("entry has no get_factory function");
    if (!entry->name || !*entry->name)
        return sp_strdup("entry has no name");
    return NULL;
}

static bool valid_plugin_id(const char *id)
{
    /* reverse-DNS: at least two dot-separated parts of [a-z0-9_-] */
    if (!id || !*id)
        return false;
    int dots = 0;
    char prev = '.';
    for (const char *c = id; *c; c++) {
        if (*c == '.') {
            if (prev == '.')
                return false;
            dots++;
        } else if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' ||
                     *c == '-')) {
            return false;
        }
        prev = *c;
    }
    return dots >= 1 && prev != '.';
}

static bool valid_kind(int32_t kind)
{
    return kind >= SPARK_KIND_TEXT && kind <= SPARK_KIND_VALUE;
}

char *sp_validate_param_schema(const spark_param_desc *params, uint32_t count)
{
    if (count && !params)
        return sp_strdup("param_count is set but params is NULL");
    for (uint32_t i = 0; i < count; i++) {
        const spark_param_desc *p = &params[i];
        if (!sp_is_identifier(p->key))
            return sp_printf("parameter %u has an invalid key '%s' (want [a-z][a-z0-9_]*)", i,
                             p->key ? p->key : "(null)");
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(params[j].key, p->key) == 0)
                return sp_printf("parameter '%s' is declared twice", p->key);
        if (p->type < SPARK_PARAM_STRING || p->type > SPARK_PARAM_URL)
            return sp_printf("parameter '%s' has unknown type %d", p->key, (int)p->type);
        if (p->type == SPARK_PARAM_ENUM && (!p->choices || !p->choices[0]))
            return sp_printf("enum parameter '%s' has no choices", p->key);
        if ((p->flags & SPARK_PARAM_HAS_MIN) && (p->flags & SPARK_PARAM_HAS_MAX) &&
            p->min > p->max)
            return sp_printf("parameter '%s' has min %g above max %g", p->key, p->min, p->max);
        if ((p->flags & SPARK_PARAM_REQUIRED) && p->default_value)
            return sp_printf("parameter '%s' is required but has a default", p->key);
        if (p->default_value) {
            sp_value v = {0};
            char *why = sp_value_parse(&v, p, p->default_value);
            sp_value_clear(&v);
            if (why) {
                char *msg = sp_printf("default of parameter '%s' is invalid: %s", p->key, why);
                free(why);
                return msg;
            }
        }
    }
    return NULL;
}

char *sp_validate_node_desc(const spark_node_desc *d)
{
    if (d->struct_size < MIN_NODE_DESC_SIZE)
        return sp_printf("node descriptor struct_size %u is smaller than ABI 1.0's %zu",
                         d->struct_size, (size_t)MIN_NODE_DESC_SIZE);
    if (!valid_plugin_id(d->id))
        return sp_printf("node id '%s' is not a reverse-DNS id", d->id ? d->id : "(null)");
    if (!d->version || !*d->version)
        return sp_printf("node '%s' has no version", d->id);
    if (!d->ops || d->ops->struct_size < MIN_NODE_OPS_SIZE)
        return sp_printf("node '%s' has no ops table or one from before ABI 1.0", d->id);
    if (!d->ops->create || !d->ops->process || !d->ops->destroy)
        return sp_printf("node '%s' lacks a required function (create, process, destroy)",
                         d->id);
    if (d->port_count && !d->ports)
        return sp_printf("node '%s' has port_count but no ports", d->id);
    for (uint32_t i = 0; i < d->port_count; i++) {
        const spark_port_desc *port = &d->ports[i];
        if (!sp_is_identifier(port->name))
            return sp_printf("node '%s' port %u has an invalid name", d->id, i);
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(d->ports[j].name, port->name) == 0)
                return sp_printf("node '%s' declares port '%s' twice", d->id, port->name);
        if (port->direction != SPARK_PORT_IN && port->direction != SPARK_PORT_OUT)
            return sp_printf("node '%s' port '%s' has an invalid direction", d->id, port->name);
        if (!valid_kind(port->kind))
            return sp_printf("node '%s' port '%s' has an invalid kind %d", d->id, port->name,
                             (int)port->kind);
    }
    char *why = sp_validate_param_schema(d->params, d->param_count);
    if (why) {
        char *msg = sp_printf("node '%s': %s", d->id, why);
        free(why);
        return msg;
    }
    if (d->result_count && !d->results)
        return sp_printf("node '%s' has result_count but no results", d->id);
    for (uint32_t i = 0; i < d->result_count; i++) {
        if (!sp_is_identifier(d->results[i].name))
            return sp_printf("node '%s' result %u has an invalid name", d->id, i);
        if (d->results[i].type < SPARK_VALUE_STRING || d->results[i].type > SPARK_VALUE_JSON)
            return sp_printf("node '%s' result '%s' has an invalid type", d->id,
                             d->results[i].name);
    }
    return NULL;
}

char *sp_validate_storage_desc(const spark_storage_desc *d)
{
    if (d->struct_size < MIN_STORAGE_DESC_SIZE)
        return sp_printf("storage descriptor struct_size %u is smaller than ABI 1.0's %zu",
                         d->struct_size, (size_t)MIN_STORAGE_DESC_SIZE);
    if (!valid_plugin_id(d->id))
        return sp_printf("storage id '%s' is not a reverse-DNS id", d->id ? d->id : "(null)");
    if (!d->version || !*d->version)
        return sp_printf("storage backend '%s' has no version", d->id);
    if (!d->schemes || !d->schemes[0])
        return sp_printf("storage backend '%s' declares no URL schemes", d->id);
    const spark_storage_ops *ops = d->ops;
    if (!ops || ops->struct_size < MIN_STORAGE_OPS_SIZE)
        return sp_printf("storage backend '%s' has no ops table or one from before ABI 1.0",
                         d->id);
    if (!ops->create || !ops->read || !ops->write_begin || !ops->write || !ops->write_commit ||
        !ops->write_abort || !ops->destroy)
        return sp_printf("storage backend '%s' lacks a required function", d->id);
    char *why = sp_validate_param_schema(d->params, d->param_count);
    if (why) {
        char *msg = sp_printf("storage backend '%s': %s", d->id, why);
        free(why);
        return msg;
    }
    return NULL;
}
