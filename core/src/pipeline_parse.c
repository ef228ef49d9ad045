/* Pipeline file -> pipeline description. Pure data: names are resolved against the
 * registry later, in graph_check.c. Every problem is reported with file:line. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void sp_diag(const spark_pipeline *p, sp_buf *diag, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = sp_vprintf(fmt, ap);
    va_end(ap);
    sp_buf_printf(diag, "%s:%d: %s\n", p->path, line, msg ? msg : "out of memory");
    free(msg);
}

static void check_keys(const spark_pipeline *p, sp_buf *diag, const sp_ynode *map,
                       const char *const *allowed, size_t n_allowed, const char *where)
{
    for (size_t i = 0; i < map->count; i++) {
        bool ok = false;
        for (size_t j = 0; j < n_allowed; j++)
            if (strcmp(map->keys[i], allowed[j]) == 0)
                ok = true;
        if (ok)
            continue;
        const char *close = sp_suggest(map->keys[i], allowed, n_allowed);
        if (close)
            sp_diag(p, diag, map->key_lines[i], "unknown key '%s' in %s (did you mean '%s'?)",
                    map->keys[i], where, close);
        else
            sp_diag(p, diag, map->key_lines[i], "unknown key '%s' in %s", map->keys[i], where);
    }
}

#define CHECK_KEYS(p, diag, map, where, ...)                                                  \
    do {                                                                                      \
        static const char *const allowed_[] = {__VA_ARGS__};                                  \
        check_keys(p, diag, map, allowed_, sizeof allowed_ / sizeof allowed_[0], where);      \
    } while (0)

static const char *scalar(const spark_pipeline *p, sp_buf *diag, const sp_ynode *n,
                          const char *what)
{
    if (!n)
        return NULL;
    if (n->type != SP_Y_SCALAR) {
        sp_diag(p, diag, n->line, "%s must be a single value, not a %s", what,
                n->type == SP_Y_MAP ? "mapping" : "list");
        return NULL;
    }
    return n->scalar;
}

static char *required_scalar(const spark_pipeline *p, sp_buf *diag, const sp_ynode *map,
                             const char *key, const char *where)
{
    const sp_ynode *n = sp_ynode_get(map, key);
    if (!n) {
        sp_diag(p, diag, map->line, "%s has no '%s'", where, key);
        return NULL;
    }
    const char *s = scalar(p, diag, n, key);
    if (s && !*s) {
        sp_diag(p, diag, n->line, "'%s' of %s is empty", key, where);
        return NULL;
    }
    return sp_strdup(s);
}

/* Reads a params mapping into kv pairs, expanding ${env:...}. */
static void parse_params(spark_pipeline *p, sp_buf *diag, const sp_ynode *params, sp_kv **out,
                         size_t *out_count)
{
    *out = NULL;
    *out_count = 0;
    if (!params)
        return;
    if (params->type != SP_Y_MAP) {
        sp_diag(p, diag, params->line, "params must be a mapping of key: value");
        return;
    }
    *out = calloc(params->count ? params->count : 1, sizeof **out);
    if (!*out)
        return;
    for (size_t i = 0; i < params->count; i++) {
        const sp_ynode *v = params->items[i];
        const char *text = scalar(p, diag, v, params->keys[i]);
        if (!text)
            continue;
        char *why = NULL;
        char *expanded = sp_expand_env(text, &why);
        if (!expanded) {
            sp_diag(p, diag, v->line, "parameter '%s': %s", params->keys[i],
                    why ? why : "out of memory");
            free(why);
            continue;
        }
        sp_kv *kv = &(*out)[(*out_count)++];
        kv->key = sp_strdup(params->keys[i]);
        kv->value = expanded;
        kv->line = v->line;
        kv->secret_source = strstr(text, "${env:") != NULL;
    }
}

static void parse_nodes(spark_pipeline *p, sp_buf *diag, const sp_ynode *nodes)
{
    if (!nodes) {
        sp_diag(p, diag, 1, "the pipeline has no 'nodes' list");
        return;
    }
    if (nodes->type != SP_Y_SEQ || nodes->count == 0) {
        sp_diag(p, diag, nodes->line, "'nodes' must be a non-empty list");
        return;
    }
    for (size_t i = 0; i < nodes->count; i++) {
        const sp_ynode *n = nodes->items[i];
        if (n->type != SP_Y_MAP) {
            sp_diag(p, diag, n->line, "each node must be a mapping with id, plugin, params");
            continue;
        }
        CHECK_KEYS(p, diag, n, "a node", "id", "plugin", "params");
        sp_node *node = calloc(1, sizeof *node);
        if (!node)
            return;
        node->line = n->line;
        node->id = required_scalar(p, diag, n, "id", "the node");
        node->plugin_id = required_scalar(p, diag, n, "plugin", "the node");
        node->plugin_line = sp_ynode_get(n, "plugin") ? sp_ynode_get(n, "plugin")->line : n->line;
        if (node->id && !sp_is_identifier(node->id))
            sp_diag(p, diag, n->line, "node id '%s' must match [a-z][a-z0-9_]*", node->id);
        for (size_t j = 0; node->id && j < p->node_count; j++)
            if (p->nodes[j]->id && strcmp(p->nodes[j]->id, node->id) == 0)
                sp_diag(p, diag, n->line, "node id '%s' is used twice (first at line %d)",
                        node->id, p->nodes[j]->line);
        parse_params(p, diag, sp_ynode_get(n, "params"), &node->raw_params,
                     &node->raw_param_count);
        if (sp_pipeline_add_node(p, node) < 0) {
            free(node->id);
            free(node->plugin_id);
            free(node);
            return;
        }
    }
}

static void parse_links(spark_pipeline *p, sp_buf *diag, const sp_ynode *links)
{
    if (!links)
        return;
    p->links_given = true;
    if (links->type != SP_Y_SEQ) {
        sp_diag(p, diag, links->line, "'links' must be a list of {from: node.port, to: node.port}");
        return;
    }
    p->raw_links = calloc(links->count ? links->count : 1, sizeof *p->raw_links);
    if (!p->raw_links)
        return;
    for (size_t i = 0; i < links->count; i++) {
        const sp_ynode *l = links->items[i];
        if (l->type != SP_Y_MAP) {
            sp_diag(p, diag, l->line, "each link must be a mapping {from: node.port, to: node.port}");
            continue;
        }
        CHECK_KEYS(p, diag, l, "a link", "from", "to");
        char *from = required_scalar(p, diag, l, "from", "the link");
        char *to = required_scalar(p, diag, l, "to", "the link");
        if (!from || !to) {
            free(from);
            free(to);
            continue;
        }
        p->raw_links[p->raw_link_count++] = (sp_raw_link){from, to, l->line};
    }
}

static bool parse_number(const char *text, double *out)
{
    char *end = NULL;
    errno = 0;
    *out = strtod(text, &end);
    return *text && !*end && errno != ERANGE;
}

static char **string_list(spark_pipeline *p, sp_buf *diag, const sp_ynode *n, size_t *count,
                          const char *what)
{
    *count = 0;
    if (!n)
        return NULL;
    size_t total = n->type == SP_Y_SEQ ? n->count : 1;
    char **list = calloc(total + 1, sizeof *list);
    if (!list)
        return NULL;
    for (size_t i = 0; i < total; i++) {
        const char *s = scalar(p, diag, n->type == SP_Y_SEQ ? n->items[i] : n, what);
        if (s)
            list[(*count)++] = sp_strdup(s);
    }
    return list;
}

static int32_t input_type(const char *name)
{
    static const struct { const char *name; int32_t type; } types[] = {
        {"string", SPARK_PARAM_STRING}, {"integer", SPARK_PARAM_INTEGER},
        {"number", SPARK_PARAM_NUMBER}, {"boolean", SPARK_PARAM_BOOLEAN},
        {"enum", SPARK_PARAM_ENUM},     {"url", SPARK_PARAM_URL},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(types[i].name, name) == 0)
            return types[i].type;
    return 0;
}

/* `map: {REQUEST_VALUE: VALUE, ...}`: what the targets get for a request value, so an
 * input of one type can drive a parameter of another (enable_subtitles: true/false ->
 * subtitles ass/none). Each key must be a valid value of the input; it is kept in its
 * canonical text, the form request values are compared in. */
static void parse_input_map(spark_pipeline *p, sp_buf *diag, sp_input *in, const sp_ynode *map)
{
    if (!map)
        return;
    if (map->type != SP_Y_MAP || map->count == 0) {
        sp_diag(p, diag, map->line, "'map' of input '%s' must be a mapping of request value: "
                "value", in->name);
        return;
    }
    in->map_from = calloc(map->count, sizeof *in->map_from);
    in->map_to = calloc(map->count, sizeof *in->map_to);
    if (!in->map_from || !in->map_to)
        return;
    for (size_t i = 0; i < map->count; i++) {
        const char *to = scalar(p, diag, map->items[i], "a 'map' value");
        if (!to)
            continue;
        sp_value key;
        char *why = sp_value_parse(&key, &in->schema, map->keys[i]);
        if (why) {
            sp_diag(p, diag, map->key_lines[i], "'map' key '%s' of input '%s' %s", map->keys[i],
                    in->name, why);
            free(why);
            continue;
        }
        in->map_from[in->map_count] = sp_strdup(key.text);
        in->map_to[in->map_count++] = sp_strdup(to);
        sp_value_clear(&key);
    }
}

static void parse_input(spark_pipeline *p, sp_buf *diag, sp_input *in, const char *name,
                        const sp_ynode *n)
{
    in->name = sp_strdup(name);
    in->line = n->line;
    if (!sp_is_identifier(name))
        sp_diag(p, diag, n->line, "input name '%s' must match [a-z][a-z0-9_]*", name);
    if (n->type != SP_Y_MAP) {
        sp_diag(p, diag, n->line, "input '%s' must be a mapping (type, default, to, ...)", name);
        return;
    }
    CHECK_KEYS(p, diag, n, "an input", "type", "default", "required", "min", "max",
               "max_length", "values", "doc", "to", "aliases", "map");
    const char *type = scalar(p, diag, sp_ynode_get(n, "type"), "type");
    if (!type) {
        if (!sp_ynode_get(n, "type"))
            sp_diag(p, diag, n->line, "input '%s' has no 'type'", name);
        return;
    }
    in->type = input_type(type);
    if (!in->type) {
        static const char *const names[] = {"string", "integer", "number", "boolean", "enum", "url"};
        const char *close = sp_suggest(type, names, 6);
        sp_diag(p, diag, sp_ynode_get(n, "type")->line,
                "input '%s' has unknown type '%s'%s%s%s (types: string, integer, number, "
                "boolean, enum, url)", name, type, close ? " (did you mean '" : "",
                close ? close : "", close ? "'?)" : "");
        return;
    }
    in->schema.key = in->name;
    in->schema.type = in->type;
    const char *v;
    if ((v = scalar(p, diag, sp_ynode_get(n, "required"), "required"))) {
        if (strcmp(v, "true") == 0)
            in->schema.flags |= SPARK_PARAM_REQUIRED;
        else if (strcmp(v, "false") != 0)
            sp_diag(p, diag, sp_ynode_get(n, "required")->line,
                    "'required' of input '%s' must be true or false", name);
    }
    const char *bounds[2] = {"min", "max"};
    for (int b = 0; b < 2; b++) {
        if (!(v = scalar(p, diag, sp_ynode_get(n, bounds[b]), bounds[b])))
            continue;
        double x;
        if (!parse_number(v, &x) || (in->type != SPARK_PARAM_INTEGER && in->type != SPARK_PARAM_NUMBER)) {
            sp_diag(p, diag, sp_ynode_get(n, bounds[b])->line,
                    "'%s' of input '%s' must be a number and the input numeric", bounds[b], name);
            continue;
        }
        if (b == 0) {
            in->schema.min = x;
            in->schema.flags |= SPARK_PARAM_HAS_MIN;
        } else {
            in->schema.max = x;
            in->schema.flags |= SPARK_PARAM_HAS_MAX;
        }
    }
    if ((v = scalar(p, diag, sp_ynode_get(n, "max_length"), "max_length"))) {
        double x;
        if (!parse_number(v, &x) || x < 1 || x > 1e9)
            sp_diag(p, diag, sp_ynode_get(n, "max_length")->line,
                    "'max_length' of input '%s' must be a positive integer", name);
        else
            in->schema.max_length = (uint32_t)x;
    }
    size_t n_choices = 0;
    in->choices = string_list(p, diag, sp_ynode_get(n, "values"), &n_choices, "values");
    if (in->type == SPARK_PARAM_ENUM && n_choices == 0)
        sp_diag(p, diag, n->line, "enum input '%s' needs a 'values' list", name);
    in->schema.choices = (const char *const *)in->choices;
    in->doc = sp_strdup(scalar(p, diag, sp_ynode_get(n, "doc"), "doc"));
    in->schema.doc = in->doc;
    in->aliases = string_list(p, diag, sp_ynode_get(n, "aliases"), &in->alias_count, "aliases");
    const sp_ynode *def = sp_ynode_get(n, "default");
    if (def && (v = scalar(p, diag, def, "default"))) {
        if (in->schema.flags & SPARK_PARAM_REQUIRED) {
            sp_diag(p, diag, def->line, "input '%s' is required, so it cannot have a default",
                    name);
        } else {
            sp_value tmp;
            char *why = sp_value_parse(&tmp, &in->schema, v);
            if (why)
                sp_diag(p, diag, def->line, "default of input '%s' %s", name, why);
            free(why);
            sp_value_clear(&tmp);
            in->default_text = sp_strdup(v);
            in->schema.default_value = in->default_text;
        }
    }
    parse_input_map(p, diag, in, sp_ynode_get(n, "map"));
    size_t n_to = 0;
    char **to = string_list(p, diag, sp_ynode_get(n, "to"), &n_to, "to");
    in->targets = calloc(n_to ? n_to : 1, sizeof *in->targets);
    for (size_t i = 0; in->targets && i < n_to; i++) {
        char *dot = strchr(to[i], '.');
        if (!dot) {
            sp_diag(p, diag, sp_ynode_get(n, "to")->line,
                    "'to' of input '%s' must name node.param or node.port, got '%s'", name, to[i]);
            continue;
        }
        sp_input_target *t = &in->targets[in->target_count++];
        t->node_name = sp_strndup(to[i], (size_t)(dot - to[i]));
        t->member = sp_strdup(dot + 1);
        t->port = t->param = -1;
    }
    for (size_t i = 0; i < n_to; i++)
        free(to[i]);
    free(to);
}

static void parse_inputs(spark_pipeline *p, sp_buf *diag, const sp_ynode *inputs)
{
    if (!inputs)
        return;
    if (inputs->type != SP_Y_MAP) {
        sp_diag(p, diag, inputs->line, "'inputs' must be a mapping of name: {type, ...}");
        return;
    }
    p->inputs = calloc(inputs->count ? inputs->count : 1, sizeof *p->inputs);
    if (!p->inputs)
        return;
    for (size_t i = 0; i < inputs->count; i++)
        parse_input(p, diag, &p->inputs[p->input_count++], inputs->keys[i], inputs->items[i]);
}

static void parse_outputs(spark_pipeline *p, sp_buf *diag, const sp_ynode *outputs)
{
    if (!outputs)
        return;
    if (outputs->type != SP_Y_MAP) {
        sp_diag(p, diag, outputs->line, "'outputs' must be a mapping of name: node.result");
        return;
    }
    p->outputs = calloc(outputs->count ? outputs->count : 1, sizeof *p->outputs);
    if (!p->outputs)
        return;
    for (size_t i = 0; i < outputs->count; i++) {
        const char *name = outputs->keys[i];
        const char *from = scalar(p, diag, outputs->items[i], name);
        if (!from)
            continue;
        const char *dot = strchr(from, '.');
        if (!sp_is_identifier(name))
            sp_diag(p, diag, outputs->key_lines[i], "output name '%s' must match [a-z][a-z0-9_]*",
                    name);
        if (!dot) {
            sp_diag(p, diag, outputs->items[i]->line,
                    "output '%s' must name node.result, got '%s'", name, from);
            continue;
        }
        sp_output *o = &p->outputs[p->output_count++];
        o->name = sp_strdup(name);
        o->line = outputs->items[i]->line;
        o->node_name = sp_strndup(from, (size_t)(dot - from));
        o->result = sp_strdup(dot + 1);
    }
}

static void parse_storage(spark_pipeline *p, sp_buf *diag, const sp_ynode *storage)
{
    if (!storage)
        return;
    if (storage->type != SP_Y_SEQ) {
        sp_diag(p, diag, storage->line, "'storage' must be a list of {id, plugin, params}");
        return;
    }
    p->storages = calloc(storage->count ? storage->count : 1, sizeof *p->storages);
    if (!p->storages)
        return;
    for (size_t i = 0; i < storage->count; i++) {
        const sp_ynode *n = storage->items[i];
        if (n->type != SP_Y_MAP) {
            sp_diag(p, diag, n->line, "each storage backend must be a mapping {id, plugin, params}");
            continue;
        }
        CHECK_KEYS(p, diag, n, "a storage backend", "id", "plugin", "params");
        sp_storage *s = &p->storages[p->storage_count++];
        s->line = n->line;
        s->id = required_scalar(p, diag, n, "id", "the storage backend");
        s->plugin_id = required_scalar(p, diag, n, "plugin", "the storage backend");
        parse_params(p, diag, sp_ynode_get(n, "params"), &s->raw_params, &s->raw_param_count);
    }
}

static void parse_plugin_paths(spark_pipeline *p, sp_buf *diag, const sp_ynode *paths)
{
    size_t count = 0;
    char **list = string_list(p, diag, paths, &count, "plugin_path");
    p->plugin_paths = calloc(count + 1, sizeof *p->plugin_paths);
    for (size_t i = 0; p->plugin_paths && i < count; i++) {
        if (list[i][0] == '/')
            p->plugin_paths[p->plugin_path_count++] = sp_strdup(list[i]);
        else
            p->plugin_paths[p->plugin_path_count++] = sp_printf("%s/%s", p->dir, list[i]);
    }
    for (size_t i = 0; i < count; i++)
        free(list[i]);
    free(list);
}

static void parse_root(spark_pipeline *p, sp_buf *diag, const sp_ynode *root)
{
    if (root->type != SP_Y_MAP) {
        sp_diag(p, diag, root->line, "a pipeline file must be a mapping (version, nodes, ...)");
        return;
    }
    CHECK_KEYS(p, diag, root, "the pipeline", "version", "plugin_path", "strict_formats",
               "job_timeout", "storage", "nodes", "links", "inputs", "outputs", "description");
    const sp_ynode *version = sp_ynode_get(root, "version");
    const char *v = scalar(p, diag, version, "version");
    if (!version)
        sp_diag(p, diag, root->line, "the pipeline has no 'version' (use version: 1)");
    else if (v && strcmp(v, "1") != 0)
        sp_diag(p, diag, version->line, "unsupported pipeline version '%s' (this engine reads 1)", v);
    p->version = 1;
    if ((v = scalar(p, diag, sp_ynode_get(root, "strict_formats"), "strict_formats"))) {
        if (strcmp(v, "true") && strcmp(v, "false"))
            sp_diag(p, diag, sp_ynode_get(root, "strict_formats")->line,
                    "strict_formats must be true or false");
        p->strict_formats = strcmp(v, "true") == 0;
    }
    if ((v = scalar(p, diag, sp_ynode_get(root, "job_timeout"), "job_timeout"))) {
        if (!parse_number(v, &p->job_timeout) || p->job_timeout < 0)
            sp_diag(p, diag, sp_ynode_get(root, "job_timeout")->line,
                    "job_timeout must be a number of seconds >= 0");
    }
    parse_plugin_paths(p, diag, sp_ynode_get(root, "plugin_path"));
    parse_storage(p, diag, sp_ynode_get(root, "storage"));
    parse_nodes(p, diag, sp_ynode_get(root, "nodes"));
    parse_links(p, diag, sp_ynode_get(root, "links"));
    parse_inputs(p, diag, sp_ynode_get(root, "inputs"));
    parse_outputs(p, diag, sp_ynode_get(root, "outputs"));
}

spark_pipeline *sp_pipeline_parse(spark_engine *engine, const char *path, sp_buf *diag)
{
    spark_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->engine = engine;
    p->path = sp_strdup(path);
    const char *slash = strrchr(path, '/');
    if (slash == path)
        p->dir = sp_strdup("/");
    else
        p->dir = slash ? sp_strndup(path, (size_t)(slash - path)) : sp_strdup(".");
    size_t size = 0;
    char *text = sp_read_file(path, &size);
    if (!text) {
        sp_buf_printf(diag, "%s: cannot read the pipeline file: %s\n", path, strerror(errno));
        return p;
    }
    char *why = NULL;
    sp_ynode *root = sp_yaml_parse(text, size, &why);
    free(text);
    if (!root) {
        /* why reads "line N: what" */
        sp_buf_printf(diag, "%s:%s\n", path, why && strlen(why) > 5 ? why + 5 : " invalid YAML");
        free(why);
        return p;
    }
    parse_root(p, diag, root);
    sp_ynode_free(root);
    return p;
}

int sp_pipeline_add_node(spark_pipeline *p, sp_node *node)
{
    if (!sp_grow((void **)&p->nodes, &p->node_cap, p->node_count + 1, sizeof(sp_node *)))
        return -1;
    p->nodes[p->node_count] = node;
    return (int)p->node_count++;
}

int sp_pipeline_add_link(spark_pipeline *p, sp_link link)
{
    if (!sp_grow((void **)&p->links, &p->link_cap, p->link_count + 1, sizeof link))
        return -1;
    p->links[p->link_count] = link;
    return (int)p->link_count++;
}

static void free_kvs(sp_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void sp_pipeline_free_description(spark_pipeline *p)
{
    for (size_t i = 0; i < p->node_count; i++) {
        sp_node *n = p->nodes[i];
        free(n->id);
        free(n->plugin_id);
        free_kvs(n->raw_params, n->raw_param_count);
        sp_param_set_free(&n->params);
        free(n->formats);
        free(n);
    }
    free(p->nodes);
    free(p->links);
    for (size_t i = 0; i < p->raw_link_count; i++) {
        free(p->raw_links[i].from);
        free(p->raw_links[i].to);
    }
    free(p->raw_links);
    for (size_t i = 0; i < p->plugin_path_count; i++)
        free(p->plugin_paths[i]);
    free(p->plugin_paths);
    for (size_t i = 0; i < p->input_count; i++) {
        sp_input *in = &p->inputs[i];
        free(in->name);
        free(in->default_text);
        for (size_t j = 0; in->choices && in->choices[j]; j++)
            free(in->choices[j]);
        free(in->choices);
        free(in->doc);
        for (size_t j = 0; j < in->alias_count; j++)
            free(in->aliases[j]);
        free(in->aliases);
        for (size_t j = 0; j < in->map_count; j++) {
            free(in->map_from[j]);
            free(in->map_to[j]);
        }
        free(in->map_from);
        free(in->map_to);
        for (size_t j = 0; j < in->target_count; j++) {
            free(in->targets[j].node_name);
            free(in->targets[j].member);
        }
        free(in->targets);
    }
    free(p->inputs);
    for (size_t i = 0; i < p->output_count; i++) {
        free(p->outputs[i].name);
        free(p->outputs[i].node_name);
        free(p->outputs[i].result);
    }
    free(p->outputs);
    for (size_t i = 0; i < p->storage_count; i++) {
        sp_storage *s = &p->storages[i];
        free(s->id);
        free(s->plugin_id);
        free_kvs(s->raw_params, s->raw_param_count);
        sp_param_set_free(&s->params);
    }
    free(p->storages);
    free(p->order);
    free(p->path);
    free(p->dir);
    free(p);
}
