/* Bringing a checked pipeline to life: create and configure every node, negotiate formats,
 * activate in dependency order; and tearing it all down again, from any state. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static const char *phase_name(sp_node_state from)
{
    switch (from) {
    case SP_NODE_NONE: return "create";
    case SP_NODE_CREATED: return "configure";
    case SP_NODE_CONFIGURED: return "activate";
    default: return "?";
    }
}

static int node_failed(spark_pipeline *p, sp_node *node, const char *phase, spark_status st,
                       spark_error **error)
{
    char *msg = sp_posted_error_take(st);
    spark_error *err = sp_error_new(SPARK_ERROR_PIPELINE, st,
                                    "%s:%d: node '%s' (%s) failed in %s: %s", p->path,
                                    node->line, node->id, node->desc->id, phase,
                                    msg ? msg : "");
    free(msg);
    if (err)
        err->node_id = sp_strdup(node->id);
    return sp_error_set(error, err);
}

/* create + configure one node (also used for converters inserted in negotiation). */
int sp_node_instantiate(spark_pipeline *p, sp_node *node, spark_error **error)
{
    const spark_node_ops *ops = node->desc->ops;
    sp_host_ctx_init(&node->host, p->engine, p, node->id, node->desc->id);
    sp_semaphore_init(&node->slots, node->desc->max_concurrent_jobs);
    node->formats = calloc(node->desc->port_count ? node->desc->port_count : 1,
                           sizeof *node->formats);
    if (!node->formats)
        return sp_fail(error, SPARK_ERROR_INTERNAL, "out of memory");
    sp_posted_error_clear();
    spark_status st = ops->create(&node->host.host, node->id, &node->self);
    if (st < 0)
        return node_failed(p, node, phase_name(SP_NODE_NONE), st, error);
    node->state = SP_NODE_CREATED;
    if (ops->configure && (st = ops->configure(node->self, &node->params.api)) < 0)
        return node_failed(p, node, phase_name(SP_NODE_CREATED), st, error);
    node->state = SP_NODE_CONFIGURED;
    return 0;
}

int sp_graph_activate(spark_pipeline *p, spark_error **error)
{
    uint64_t t0 = sp_monotonic_ns();
    for (size_t k = 0; k < p->node_count; k++)
        if (sp_node_instantiate(p, p->nodes[p->order[k]], error) != 0)
            return -1;
    if (sp_graph_negotiate(p, error) != 0)
        return -1;
    for (size_t k = 0; k < p->node_count; k++) {
        sp_node *node = p->nodes[p->order[k]];
        const spark_node_ops *ops = node->desc->ops;
        uint64_t t = sp_monotonic_ns();
        sp_posted_error_clear();
        if (ops->activate) {
            spark_status st = ops->activate(node->self);
            if (st < 0)
                return node_failed(p, node, "activate", st, error);
        }
        node->state = SP_NODE_ACTIVE;
        sp_log(&p->engine->logger, SPARK_LOG_LEVEL_DEBUG, "node %s (%s) active in %.1f ms",
               node->id, node->desc->id, (double)(sp_monotonic_ns() - t) / 1e6);
    }
    sp_log(&p->engine->logger, SPARK_LOG_LEVEL_INFO, "pipeline %s active: %zu nodes in %.1f ms",
           p->path, p->node_count, (double)(sp_monotonic_ns() - t0) / 1e6);
    return 0;
}

void sp_graph_teardown(spark_pipeline *p)
{
    /* Reverse dependency order; nodes that were never ordered go last. */
    for (size_t k = p->node_count; k-- > 0;) {
        sp_node *node = p->nodes[p->order ? p->order[k] : k];
        if (node->state == SP_NODE_NONE)
            continue;
        const spark_node_ops *ops = node->desc->ops;
        if (node->state == SP_NODE_ACTIVE && ops->deactivate)
            ops->deactivate(node->self);
        ops->destroy(node->self);
        node->self = NULL;
        node->state = SP_NODE_NONE;
        sp_semaphore_destroy(&node->slots);
    }
}
