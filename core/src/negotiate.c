/* Format negotiation in dependency order. Each input is offered the format upstream
 * produces; a node may ask for another. An audio rate or channel mismatch is fixed by
 * inserting the resampler node (named in the log), or refused with strict_formats. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESAMPLER_ID "org.sparkhost.audio.resample"

static const sp_link *link_into(const spark_pipeline *p, size_t node, uint32_t port)
{
    for (size_t l = 0; l < p->link_count; l++)
        if (p->links[l].to_node == node && p->links[l].to_port == port)
            return &p->links[l];
    return NULL;
}

/* "16000 Hz, 1 channel(s)"; '?' for what is known only at run time. */
static void describe(const spark_format *f, char *out, size_t cap)
{
    if (f->kind != SPARK_KIND_AUDIO) {
        snprintf(out, cap, "%s", f->name ? f->name : "any");
        return;
    }
    char rate[16] = "?", channels[16] = "?";
    if (f->rate)
        snprintf(rate, sizeof rate, "%u", f->rate);
    if (f->channels)
        snprintf(channels, sizeof channels, "%u", f->channels);
    snprintf(out, cap, "%s Hz, %s channel(s)", rate, channels);
}

/* Fills input offers, calls the node's negotiate (or the default), fills outputs. */
static int negotiate_node(spark_pipeline *p, size_t index, spark_format *offers,
                          spark_error **error)
{
    sp_node *node = p->nodes[index];
    const spark_node_desc *d = node->desc;
    for (uint32_t i = 0; i < d->port_count; i++) {
        spark_format *f = &node->formats[i];
        memset(f, 0, sizeof *f);
        f->struct_size = sizeof *f;
        f->kind = d->ports[i].kind;
        if (d->ports[i].direction != SPARK_PORT_IN)
            continue;
        const sp_link *l = link_into(p, index, i);
        if (l)
            *f = p->nodes[l->from_node]->formats[l->from_port];
        offers[i] = *f;
        if (d->ports[i].rate)
            f->rate = d->ports[i].rate;
        if (d->ports[i].channels)
            f->channels = d->ports[i].channels;
    }
    if (d->ops->negotiate) {
        sp_posted_error_clear();
        spark_status st = d->ops->negotiate(node->self, node->formats, d->port_count);
        if (st < 0) {
            char *msg = sp_posted_error_take(st);
            spark_error *err = sp_error_new(SPARK_ERROR_PIPELINE, st,
                                            "%s:%d: node '%s' (%s) failed in negotiate: %s",
                                            p->path, node->line, node->id, d->id, msg);
            free(msg);
            if (err)
                err->node_id = sp_strdup(node->id);
            return sp_error_set(error, err);
        }
    } else {
        for (uint32_t o = 0; o < d->port_count; o++) {
            if (d->ports[o].direction != SPARK_PORT_OUT)
                continue;
            for (uint32_t i = 0; i < d->port_count; i++)
                if (d->ports[i].direction == SPARK_PORT_IN && d->ports[i].kind == d->ports[o].kind) {
                    node->formats[o] = node->formats[i];
                    break;
                }
        }
    }
    for (uint32_t i = 0; i < d->port_count; i++)
        node->formats[i].kind = d->ports[i].kind; /* a node may not change kinds */
    return 0;
}

static int port_named(const spark_node_desc *d, const char *name, int32_t direction)
{
    for (uint32_t i = 0; i < d->port_count; i++)
        if (d->ports[i].direction == direction && strcmp(d->ports[i].name, name) == 0)
            return (int)i;
    return -1;
}

static bool set_param(sp_node *node, const char *key, unsigned value)
{
    int idx = sp_param_index(node->desc->params, node->desc->param_count, key);
    if (idx < 0)
        return false;
    char text[32];
    snprintf(text, sizeof text, "%u", value);
    sp_value v;
    char *why = sp_value_parse(&v, &node->desc->params[idx], text);
    if (why) {
        free(why);
        return false;
    }
    sp_value_clear(&node->params.values[idx]);
    node->params.values[idx] = v;
    return true;
}

/* Puts a resampler on link l so that its consumer gets `want`. */
static int insert_resampler(spark_pipeline *p, size_t link_index, const spark_format *want,
                            const spark_format *have, spark_error **error)
{
    sp_link link = p->links[link_index];
    sp_node *to = p->nodes[link.to_node];
    const sp_node *from = p->nodes[link.from_node];
    const sp_registry_entry *e = sp_registry_find(&p->engine->registry, RESAMPLER_ID);
    char have_s[64], want_s[64];
    describe(have, have_s, sizeof have_s);
    describe(want, want_s, sizeof want_s);
    if (!e || !e->info.node)
        return sp_fail(error, SPARK_ERROR_PIPELINE,
                       "%s:%d: %s.%s needs %s but %s.%s gives %s, and no resampler plugin (%s) "
                       "is installed", p->path, link.line, to->id,
                       to->desc->ports[link.to_port].name, want_s, from->id,
                       from->desc->ports[link.from_port].name, have_s, RESAMPLER_ID);
    sp_node *r = calloc(1, sizeof *r);
    if (!r)
        return sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
    r->id = sp_printf("%s_resample_%zu", to->id, p->node_count);
    r->plugin_id = sp_strdup(RESAMPLER_ID);
    r->line = link.line;
    r->auto_inserted = true;
    r->entry = e;
    r->desc = e->info.node;
    int in = port_named(r->desc, "in", SPARK_PORT_IN);
    int out = port_named(r->desc, "out", SPARK_PORT_OUT);
    int index = -1;
    if (r->id && r->plugin_id && in >= 0 && out >= 0 &&
        sp_param_set_init(&r->params, r->desc->params, r->desc->param_count) == 0 &&
        set_param(r, "rate", want->rate ? want->rate : have->rate) &&
        (!want->channels || set_param(r, "channels", want->channels)))
        index = sp_pipeline_add_node(p, r);
    if (index < 0) {
        sp_param_set_free(&r->params);
        free(r->id);
        free(r->plugin_id);
        free(r);
        return sp_fail(error, SPARK_ERROR_PIPELINE, "%s:%d: cannot set up the resampler %s",
                       p->path, link.line, RESAMPLER_ID);
    }
    p->links[link_index].to_node = (size_t)index;
    p->links[link_index].to_port = (uint32_t)in;
    if (sp_pipeline_add_link(p, (sp_link){(size_t)index, link.to_node, (uint32_t)out,
                                          link.to_port, link.line}) < 0)
        return sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
    if (sp_node_instantiate(p, r, error) != 0)
        return -1;
    spark_format offers[8] = {{0}};
    if (r->desc->port_count > 8)
        return sp_fail(error, SPARK_ERROR_PIPELINE, "resampler has too many ports");
    if (negotiate_node(p, (size_t)index, offers, error) != 0)
        return -1;
    sp_log(&p->engine->logger, SPARK_LOG_LEVEL_INFO,
           "inserted resampler '%s' (%s) between %s.%s and %s.%s: %s -> %s", r->id,
           RESAMPLER_ID, from->id, from->desc->ports[link.from_port].name, to->id,
           to->desc->ports[link.to_port].name, have_s, want_s);
    return 0;
}

int sp_graph_negotiate(spark_pipeline *p, spark_error **error)
{
    size_t count = p->node_count; /* converters appended during the loop are done inline */
    for (size_t k = 0; k < count; k++) {
        size_t index = p->order[k];
        const spark_node_desc *d = p->nodes[index]->desc;
        spark_format *offers = calloc(d->port_count ? d->port_count : 1, sizeof *offers);
        if (!offers)
            return sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
        if (negotiate_node(p, index, offers, error) != 0) {
            free(offers);
            return -1;
        }
        for (uint32_t i = 0; i < d->port_count; i++) {
            if (d->ports[i].direction != SPARK_PORT_IN)
                continue;
            const sp_link *l = link_into(p, index, i);
            if (!l)
                continue;
            sp_node *node = p->nodes[index];
            const spark_format *want = &node->formats[i], *have = &offers[i];
            bool rate_differs = want->rate && have->rate && want->rate != have->rate;
            bool channels_differ = want->channels && have->channels &&
                                   want->channels != have->channels;
            bool name_differs = want->name && have->name && strcmp(want->name, have->name) != 0;
            if (name_differs) {
                sp_fail(error, SPARK_ERROR_PIPELINE,
                        "%s:%d: %s.%s takes '%s' but is linked to a port that gives '%s'",
                        p->path, l->line, node->id, d->ports[i].name, want->name, have->name);
                free(offers);
                return -1;
            }
            /* A rate or channel count known only at run time (a decoded file) may not fit:
             * a resampler passes audio that already fits through unchanged. */
            bool unknown = want->kind == SPARK_KIND_AUDIO && !p->strict_formats &&
                           ((want->rate && !have->rate) || (want->channels && !have->channels));
            if (!rate_differs && !channels_differ && !unknown)
                continue;
            if (p->strict_formats || want->kind != SPARK_KIND_AUDIO) {
                char want_s[64], have_s[64];
                describe(want, want_s, sizeof want_s);
                describe(have, have_s, sizeof have_s);
                free(offers);
                return sp_fail(error, SPARK_ERROR_PIPELINE,
                               "%s:%d: %s.%s needs %s but gets %s%s", p->path, l->line, node->id,
                               d->ports[i].name, want_s, have_s,
                               p->strict_formats ? " (strict_formats: true forbids inserting a "
                                                   "resampler)" : "");
            }
            if (insert_resampler(p, (size_t)(l - p->links), want, have, error) != 0) {
                free(offers);
                return -1;
            }
        }
        free(offers);
    }
    if (p->node_count != count) {
        sp_buf diag = {0};
        bool ok = sp_graph_sort(p, &diag);
        sp_buf_free(&diag);
        if (!ok)
            return sp_fail(error, SPARK_ERROR_INTERNAL, "graph order lost after inserting "
                           "converters");
    }
    return 0;
}
