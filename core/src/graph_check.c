/* Pipeline description x registry: plugins exist, parameters are typed and in range, ports
 * exist with matching kinds, every required input is linked, no cycles, inputs and outputs
 * point at real parameters, ports and results. Every problem is one "file:line:" line. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static const char *kind_name(int32_t kind)
{
    static const char *const names[] = {"?", "text", "tokens", "codes", "audio",
                                        "timing", "blob", "value"};
    return kind >= 1 && kind <= 7 ? names[kind] : "?";
}

static int find_node(const spark_pipeline *p, const char *id)
{
    for (size_t i = 0; i < p->node_count; i++)
        if (p->nodes[i]->id && strcmp(p->nodes[i]->id, id) == 0)
            return (int)i;
    return -1;
}

static void suggest_node(const spark_pipeline *p, sp_buf *diag, int line, const char *id,
                         const char *context)
{
    const char **ids = calloc(p->node_count + 1, sizeof *ids);
    for (size_t i = 0; ids && i < p->node_count; i++)
        ids[i] = p->nodes[i]->id;
    const char *close = ids ? sp_suggest(id, ids, p->node_count) : NULL;
    if (close)
        sp_diag(p, diag, line, "%s names unknown node '%s' (did you mean '%s'?)", context, id,
                close);
    else
        sp_diag(p, diag, line, "%s names unknown node '%s'", context, id);
    free(ids);
}

static void suggest_plugin(const spark_pipeline *p, sp_buf *diag, int line, const char *id,
                           const char *want_kind)
{
    const sp_registry *reg = &p->engine->registry;
    const char *conflict = sp_registry_conflict(reg, id);
    if (conflict) {
        sp_diag(p, diag, line, "%s", conflict);
        return;
    }
    const char **ids = calloc(reg->entry_count + 1, sizeof *ids);
    size_t n = 0;
    for (size_t i = 0; ids && i < reg->entry_count; i++)
        if (strcmp(reg->entries[i].info.kind, want_kind) == 0)
            ids[n++] = reg->entries[i].info.id;
    const char *close = ids ? sp_suggest(id, ids, n) : NULL;
    if (close)
        sp_diag(p, diag, line, "unknown plugin id '%s' (did you mean '%s'?)", id, close);
    else
        sp_diag(p, diag, line,
                "unknown plugin id '%s' (see 'sparkhost plugins list' for the installed ones)", id);
    free(ids);
}

/* Checks raw key: value pairs against a schema and stores typed values in set. */
static void check_params(const spark_pipeline *p, sp_buf *diag, const char *owner,
                         const spark_param_desc *schema, uint32_t count, const sp_kv *kv,
                         size_t kv_count, sp_param_set *set)
{
    if (sp_param_set_init(set, schema, count) != 0)
        return;
    for (size_t i = 0; i < kv_count; i++) {
        int idx = sp_param_index(schema, count, kv[i].key);
        if (idx < 0) {
            const char **keys = calloc(count + 1, sizeof *keys);
            for (uint32_t j = 0; keys && j < count; j++)
                keys[j] = schema[j].key;
            const char *close = keys ? sp_suggest(kv[i].key, keys, count) : NULL;
            if (close)
                sp_diag(p, diag, kv[i].line, "%s has no parameter '%s' (did you mean '%s'?)",
                        owner, kv[i].key, close);
            else
                sp_diag(p, diag, kv[i].line, "%s has no parameter '%s'", owner, kv[i].key);
            free(keys);
            continue;
        }
        sp_value v;
        char *why = sp_value_parse(&v, &schema[idx], kv[i].value);
        if (why) {
            if (schema[idx].flags & SPARK_PARAM_SECRET)
                sp_diag(p, diag, kv[i].line, "parameter '%s' of %s has an invalid value "
                        "(not shown: secret)", kv[i].key, owner);
            else
                sp_diag(p, diag, kv[i].line, "parameter '%s' of %s (%s) %s", kv[i].key, owner,
                        sp_param_type_name(schema[idx].type), why);
            free(why);
            continue;
        }
        sp_value_clear(&set->values[idx]);
        set->values[idx] = v;
    }
}

static bool fed_by_input(const spark_pipeline *p, size_t node, int port, int param)
{
    for (size_t i = 0; i < p->input_count; i++)
        for (size_t t = 0; t < p->inputs[i].target_count; t++) {
            const sp_input_target *tg = &p->inputs[i].targets[t];
            if (tg->node == node && ((port >= 0 && tg->port == port) ||
                                     (param >= 0 && tg->param == param)))
                return true;
        }
    return false;
}

static int find_port(const spark_node_desc *d, const char *name, int32_t direction)
{
    for (uint32_t i = 0; i < d->port_count; i++)
        if (strcmp(d->ports[i].name, name) == 0 && d->ports[i].direction == direction)
            return (int)i;
    return -1;
}

/* "node.port" -> node index and port index, or a diagnostic. */
static bool resolve_endpoint(const spark_pipeline *p, sp_buf *diag, int line, const char *text,
                             int32_t direction, size_t *out_node, uint32_t *out_port)
{
    const char *dot = strchr(text, '.');
    const char *side = direction == SPARK_PORT_OUT ? "from" : "to";
    if (!dot) {
        sp_diag(p, diag, line, "link %s '%s' must be node.port", side, text);
        return false;
    }
    char *node_id = sp_strndup(text, (size_t)(dot - text));
    int node = node_id ? find_node(p, node_id) : -1;
    if (node < 0) {
        char *context = sp_printf("link %s '%s'", side, text);
        suggest_node(p, diag, line, node_id ? node_id : "", context ? context : "link");
        free(context);
        free(node_id);
        return false;
    }
    free(node_id);
    const spark_node_desc *d = p->nodes[node]->desc;
    if (!d)
        return false; /* its plugin is unknown: reported already */
    int port = find_port(d, dot + 1, direction);
    if (port < 0) {
        const char **names = calloc(d->port_count + 1, sizeof *names);
        size_t n = 0;
        for (uint32_t i = 0; names && i < d->port_count; i++)
            if (d->ports[i].direction == direction)
                names[n++] = d->ports[i].name;
        const char *close = names ? sp_suggest(dot + 1, names, n) : NULL;
        const char *what = direction == SPARK_PORT_OUT ? "output" : "input";
        if (close)
            sp_diag(p, diag, line, "node '%s' (%s) has no %s port '%s' (did you mean '%s'?)",
                    p->nodes[node]->id, d->id, what, dot + 1, close);
        else
            sp_diag(p, diag, line, "node '%s' (%s) has no %s port '%s'", p->nodes[node]->id,
                    d->id, what, dot + 1);
        free(names);
        return false;
    }
    *out_node = (size_t)node;
    *out_port = (uint32_t)port;
    return true;
}

static void check_links(spark_pipeline *p, sp_buf *diag)
{
    if (!p->links_given) {
        /* Chain nodes in list order: first output of node i to the first input of node
         * i+1 with the same kind. */
        for (size_t i = 0; i + 1 < p->node_count; i++) {
            const spark_node_desc *a = p->nodes[i]->desc, *b = p->nodes[i + 1]->desc;
            if (!a || !b)
                continue;
            int out = -1, in = -1;
            for (uint32_t j = 0; j < a->port_count && out < 0; j++)
                if (a->ports[j].direction == SPARK_PORT_OUT)
                    out = (int)j;
            for (uint32_t j = 0; out >= 0 && j < b->port_count && in < 0; j++)
                if (b->ports[j].direction == SPARK_PORT_IN &&
                    b->ports[j].kind == a->ports[out].kind && !fed_by_input(p, i + 1, (int)j, -1))
                    in = (int)j;
            if (out < 0 || in < 0) {
                sp_diag(p, diag, p->nodes[i + 1]->line,
                        "cannot chain node '%s' after '%s': no matching ports; add a 'links' list",
                        p->nodes[i + 1]->id, p->nodes[i]->id);
                continue;
            }
            sp_pipeline_add_link(p, (sp_link){i, i + 1, (uint32_t)out, (uint32_t)in,
                                              p->nodes[i + 1]->line});
        }
        return;
    }
    for (size_t i = 0; i < p->raw_link_count; i++) {
        const sp_raw_link *r = &p->raw_links[i];
        sp_link l = {.line = r->line};
        bool ok_from = resolve_endpoint(p, diag, r->line, r->from, SPARK_PORT_OUT, &l.from_node,
                                        &l.from_port);
        bool ok_to = resolve_endpoint(p, diag, r->line, r->to, SPARK_PORT_IN, &l.to_node,
                                      &l.to_port);
        if (!ok_to) {
            continue;
        } else if (!ok_from) {
            p->nodes[l.to_node]->link_failed = true;
            continue;
        }
        int32_t kf = p->nodes[l.from_node]->desc->ports[l.from_port].kind;
        int32_t kt = p->nodes[l.to_node]->desc->ports[l.to_port].kind;
        if (kf != kt) {
            sp_diag(p, diag, r->line, "link %s -> %s joins ports of different kinds (%s -> %s)",
                    r->from, r->to, kind_name(kf), kind_name(kt));
            p->nodes[l.to_node]->link_failed = true;
            continue;
        }
        for (size_t j = 0; j < p->link_count; j++)
            if (p->links[j].to_node == l.to_node && p->links[j].to_port == l.to_port)
                sp_diag(p, diag, r->line, "input %s is already linked at line %d", r->to,
                        p->links[j].line);
        sp_pipeline_add_link(p, l);
    }
}

static bool input_type_fits(int32_t input, int32_t param)
{
    if (input == param)
        return true;
    switch (param) {
    case SPARK_PARAM_NUMBER: return input == SPARK_PARAM_INTEGER;
    case SPARK_PARAM_STRING: return input == SPARK_PARAM_ENUM || input == SPARK_PARAM_URL;
    case SPARK_PARAM_URL: return input == SPARK_PARAM_STRING;
    case SPARK_PARAM_ENUM: return input == SPARK_PARAM_STRING;
    default: return false;
    }
}

/* An input with a value map feeds its targets the mapped values: each must fit the
 * parameter (values the map does not name are checked per job). */
static void check_mapped_values(spark_pipeline *p, sp_buf *diag, const sp_input *in,
                                const sp_input_target *tg, const spark_param_desc *pd)
{
    for (size_t m = 0; m < in->map_count; m++) {
        if (!*in->map_to[m])
            continue; /* "" leaves the input unset */
        sp_value v;
        char *why = sp_value_parse(&v, pd, in->map_to[m]);
        if (why)
            sp_diag(p, diag, in->line, "input '%s' maps '%s' to '%s', which parameter %s.%s "
                    "refuses: %s", in->name, in->map_from[m], in->map_to[m], tg->node_name,
                    tg->member, why);
        else
            sp_value_clear(&v);
        free(why);
    }
}

static void check_inputs(spark_pipeline *p, sp_buf *diag)
{
    for (size_t i = 0; i < p->input_count; i++) {
        sp_input *in = &p->inputs[i];
        for (size_t j = 0; j < i; j++) {
            if (strcmp(p->inputs[j].name, in->name) == 0)
                sp_diag(p, diag, in->line, "input '%s' is declared twice", in->name);
            for (size_t a = 0; a < p->inputs[j].alias_count; a++)
                if (strcmp(p->inputs[j].aliases[a], in->name) == 0)
                    sp_diag(p, diag, in->line, "input '%s' is also an alias of input '%s'",
                            in->name, p->inputs[j].name);
        }
        for (size_t t = 0; t < in->target_count; t++) {
            sp_input_target *tg = &in->targets[t];
            int node = find_node(p, tg->node_name);
            if (node < 0) {
                char *context = sp_printf("input '%s'", in->name);
                suggest_node(p, diag, in->line, tg->node_name, context ? context : "input");
                free(context);
                continue;
            }
            tg->node = (size_t)node;
            const spark_node_desc *d = p->nodes[node]->desc;
            if (!d)
                continue;
            tg->port = find_port(d, tg->member, SPARK_PORT_IN);
            tg->param = sp_param_index(d->params, d->param_count, tg->member);
            if (tg->port >= 0) {
                int32_t kind = d->ports[tg->port].kind;
                if (kind != SPARK_KIND_TEXT && kind != SPARK_KIND_VALUE)
                    sp_diag(p, diag, in->line, "input '%s' feeds port %s.%s of kind %s; only "
                            "text and value ports can take job inputs", in->name,
                            tg->node_name, tg->member, kind_name(kind));
            } else if (tg->param >= 0) {
                const spark_param_desc *pd = &d->params[tg->param];
                if (!(pd->flags & SPARK_PARAM_PER_JOB))
                    sp_diag(p, diag, in->line, "input '%s' feeds parameter %s.%s, which cannot "
                            "change per job", in->name, tg->node_name, tg->member);
                else if (in->map_count)
                    check_mapped_values(p, diag, in, tg, pd);
                else if (!input_type_fits(in->type, pd->type))
                    sp_diag(p, diag, in->line, "input '%s' (%s) feeds parameter %s.%s of type %s",
                            in->name, sp_param_type_name(in->type), tg->node_name, tg->member,
                            sp_param_type_name(pd->type));
            } else {
                sp_diag(p, diag, in->line, "input '%s' feeds %s.%s, which is neither an input "
                        "port nor a parameter of %s", in->name, tg->node_name, tg->member, d->id);
            }
        }
    }
}

/* A port takes packets from one place: a link or a job input, not both. */
static void check_fed_ports_unlinked(spark_pipeline *p, sp_buf *diag)
{
    for (size_t i = 0; i < p->input_count; i++)
        for (size_t t = 0; t < p->inputs[i].target_count; t++) {
            const sp_input_target *tg = &p->inputs[i].targets[t];
            if (tg->port < 0)
                continue;
            for (size_t l = 0; l < p->link_count; l++)
                if (p->links[l].to_node == tg->node && p->links[l].to_port == (uint32_t)tg->port)
                    sp_diag(p, diag, p->inputs[i].line, "input '%s' feeds port %s.%s, which is "
                            "already linked at line %d", p->inputs[i].name, tg->node_name,
                            tg->member, p->links[l].line);
        }
}

static void check_outputs(spark_pipeline *p, sp_buf *diag)
{
    for (size_t i = 0; i < p->output_count; i++) {
        sp_output *o = &p->outputs[i];
        int node = find_node(p, o->node_name);
        if (node < 0) {
            char *context = sp_printf("output '%s'", o->name);
            suggest_node(p, diag, o->line, o->node_name, context ? context : "output");
            free(context);
            continue;
        }
        o->node = (size_t)node;
        const spark_node_desc *d = p->nodes[node]->desc;
        if (!d)
            continue;
        bool found = false;
        for (uint32_t r = 0; r < d->result_count; r++)
            if (strcmp(d->results[r].name, o->result) == 0)
                found = true;
        if (!found)
            sp_diag(p, diag, o->line, "output '%s': node '%s' (%s) posts no result '%s'",
                    o->name, o->node_name, d->id, o->result);
    }
}

static void check_required(spark_pipeline *p, sp_buf *diag)
{
    for (size_t n = 0; n < p->node_count; n++) {
        const sp_node *node = p->nodes[n];
        const spark_node_desc *d = node->desc;
        if (!d)
            continue;
        for (uint32_t i = 0; i < d->port_count && !node->link_failed; i++) {
            if (d->ports[i].direction != SPARK_PORT_IN || (d->ports[i].flags & SPARK_PORT_OPTIONAL))
                continue;
            bool linked = fed_by_input(p, n, (int)i, -1);
            for (size_t l = 0; l < p->link_count && !linked; l++)
                linked = p->links[l].to_node == n && p->links[l].to_port == i;
            if (!linked)
                sp_diag(p, diag, node->line, "input port %s.%s (%s) is not linked and no job "
                        "input feeds it", node->id, d->ports[i].name, kind_name(d->ports[i].kind));
        }
        for (uint32_t i = 0; i < d->param_count; i++)
            if ((d->params[i].flags & SPARK_PARAM_REQUIRED) && !node->params.values[i].set &&
                !fed_by_input(p, n, -1, (int)i))
                sp_diag(p, diag, node->line, "node '%s' (%s) needs parameter '%s'", node->id,
                        d->id, d->params[i].key);
    }
}

static void check_storage(spark_pipeline *p, sp_buf *diag)
{
    for (size_t i = 0; i < p->storage_count; i++) {
        sp_storage *s = &p->storages[i];
        if (!s->id || !s->plugin_id)
            continue;
        for (size_t j = 0; j < i; j++)
            if (p->storages[j].id && strcmp(p->storages[j].id, s->id) == 0)
                sp_diag(p, diag, s->line, "storage id '%s' is used twice", s->id);
        s->entry = sp_registry_find(&p->engine->registry, s->plugin_id);
        if (!s->entry || !s->entry->info.storage) {
            suggest_plugin(p, diag, s->line, s->plugin_id, "storage");
            s->entry = NULL;
            continue;
        }
        s->desc = s->entry->info.storage;
        char *owner = sp_printf("storage backend '%s' (%s)", s->id, s->desc->id);
        check_params(p, diag, owner ? owner : s->id, s->desc->params, s->desc->param_count,
                     s->raw_params, s->raw_param_count, &s->params);
        free(owner);
        for (uint32_t k = 0; k < s->desc->param_count; k++)
            if ((s->desc->params[k].flags & SPARK_PARAM_REQUIRED) && !s->params.values[k].set)
                sp_diag(p, diag, s->line, "storage backend '%s' needs parameter '%s'", s->id,
                        s->desc->params[k].key);
    }
}

bool sp_graph_sort(spark_pipeline *p, sp_buf *diag)
{
    size_t n = p->node_count;
    size_t *indegree = calloc(n ? n : 1, sizeof *indegree);
    size_t *order = calloc(n ? n : 1, sizeof *order);
    if (!indegree || !order) {
        free(indegree);
        free(order);
        return false;
    }
    for (size_t l = 0; l < p->link_count; l++)
        indegree[p->links[l].to_node]++;
    size_t count = 0;
    /* Kahn's algorithm, always taking the earliest ready node in file order, so the
     * order is deterministic and follows the file where it can. */
    bool *done = calloc(n ? n : 1, sizeof *done);
    while (done && count < n) {
        size_t pick = n;
        for (size_t i = 0; i < n && pick == n; i++)
            if (!done[i] && indegree[i] == 0)
                pick = i;
        if (pick == n)
            break;
        done[pick] = true;
        order[count++] = pick;
        for (size_t l = 0; l < p->link_count; l++)
            if (p->links[l].from_node == pick)
                indegree[p->links[l].to_node]--;
    }
    bool ok = count == n;
    if (!ok && done) {
        sp_buf names = {0};
        int line = 0;
        for (size_t i = 0; i < n; i++)
            if (!done[i]) {
                sp_buf_printf(&names, "%s%s", names.len ? ", " : "", p->nodes[i]->id);
                if (!line)
                    line = p->nodes[i]->line;
            }
        for (size_t l = 0; l < p->link_count; l++)
            if (!done[p->links[l].to_node] && !done[p->links[l].from_node]) {
                line = p->links[l].line;
                break;
            }
        sp_diag(p, diag, line, "the links form a cycle through nodes %s",
                names.data ? names.data : "");
        sp_buf_free(&names);
    }
    free(done);
    free(indegree);
    free(p->order);
    p->order = ok ? order : NULL;
    if (!ok)
        free(order);
    return ok;
}

void sp_graph_check(spark_pipeline *p, sp_buf *diag)
{
    for (size_t i = 0; i < p->node_count; i++) {
        sp_node *node = p->nodes[i];
        if (!node->id || !node->plugin_id)
            continue;
        node->entry = sp_registry_find(&p->engine->registry, node->plugin_id);
        if (!node->entry || !node->entry->info.node) {
            suggest_plugin(p, diag, node->plugin_line, node->plugin_id, "node");
            node->entry = NULL;
            continue;
        }
        node->desc = node->entry->info.node;
        char *owner = sp_printf("node '%s' (%s)", node->id, node->desc->id);
        check_params(p, diag, owner ? owner : node->id, node->desc->params,
                     node->desc->param_count, node->raw_params, node->raw_param_count,
                     &node->params);
        free(owner);
    }
    check_storage(p, diag);
    check_inputs(p, diag);
    check_links(p, diag);
    check_fed_ports_unlinked(p, diag);
    check_outputs(p, diag);
    check_required(p, diag);
    sp_graph_sort(p, diag);
}
