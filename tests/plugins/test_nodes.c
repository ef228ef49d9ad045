/* test-nodes: the entry and node factory of the test plugin; the nodes live beside it. */
#include "test_nodes.h"
#include "test_plugin_util.h"

static const spark_node_desc *const test_nodes[] = {
    &test_source_desc,       &test_text_source_desc, &test_sink_desc, &test_fail_activate_desc,
    &test_fail_process_desc, &test_slow_desc,        &test_passthrough_desc,
};

static const spark_node_factory test_node_factory = {
    sizeof(spark_node_factory),
    (uint32_t)(sizeof test_nodes / sizeof test_nodes[0]),
    test_nodes,
};

static const void *test_get_factory(const char *factory_id)
{
    return test_node_factory_for(factory_id, &test_node_factory);
}

SPARK_PLUGIN_ENTRY = {
    sizeof(spark_entry),
    0,
    SPARK_ABI_VERSION_INIT,
    0,
    "test-nodes",
    TEST_NODES_VERSION,
    NULL, /* init: nothing to set up */
    NULL, /* deinit */
    test_get_factory,
};
