/*
 * A plugin with one pass-through AUDIO node, for the loader's refusal cases. The build picks:
 *   SINGLE_NODE_ID      the node id
 *   SINGLE_PLUGIN_NAME  the plugin name in the entry
 *   SINGLE_ABI_MAJOR    the ABI major the entry declares (SPARK_ABI_MAJOR + 1 for bad-abi)
 * Built as test-bad-abi (org.sparkhost.test.bad_abi, wrong major) and twice as
 * test-duplicate-a / test-duplicate-b (both org.sparkhost.test.duplicate).
 */
#include "test_plugin_util.h"

#ifndef SINGLE_NODE_ID
#error "SINGLE_NODE_ID must be defined by the build"
#endif
#ifndef SINGLE_PLUGIN_NAME
#error "SINGLE_PLUGIN_NAME must be defined by the build"
#endif
#ifndef SINGLE_ABI_MAJOR
#define SINGLE_ABI_MAJOR SPARK_ABI_MAJOR
#endif

/* No state beyond the host services. */
static spark_status single_create(const spark_host *host, const char *node_id, void **out_self)
{
    (void)node_id;
    return test_instance_create(sizeof(test_services), host, 1, 0, out_self);
}

static const spark_node_ops single_ops = {
    sizeof(spark_node_ops), 0,
    single_create,
    NULL, NULL, NULL, NULL,
    test_forward_process,
    NULL, NULL,
    test_instance_destroy,
};

static const spark_port_desc single_ports[] = {
    { "in", SPARK_PORT_IN, SPARK_KIND_AUDIO, 0, 0, 0, 0, "audio" },
    { "out", SPARK_PORT_OUT, SPARK_KIND_AUDIO, 0, 0, 0, 0, "the same packets" },
};

static const spark_node_desc single_desc = {
    sizeof(spark_node_desc),
    0,
    SINGLE_NODE_ID,
    SINGLE_PLUGIN_NAME,
    "1.0.0",
    "Passes audio through; exists to be refused by the loader (tests only).",
    NULL,
    (uint32_t)(sizeof single_ports / sizeof single_ports[0]),
    0,
    single_ports,
    NULL,
    0, 0, NULL,
    &single_ops,
};

static const spark_node_desc *const single_nodes[] = { &single_desc };

static const spark_node_factory single_factory = {
    sizeof(spark_node_factory), 1, single_nodes,
};

static const void *single_get_factory(const char *factory_id)
{
    return test_node_factory_for(factory_id, &single_factory);
}

SPARK_PLUGIN_ENTRY = {
    sizeof(spark_entry),
    0,
    { SINGLE_ABI_MAJOR, SPARK_ABI_MINOR, SPARK_ABI_PATCH },
    0,
    SINGLE_PLUGIN_NAME,
    "1.0.0",
    NULL,
    NULL,
    single_get_factory,
};
