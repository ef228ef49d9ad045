/* vocoder-wavegen: the plugin entry. */
#include <spark/plugin.h>

#include <string.h>

#include "wavegen_node.h"

static const spark_node_desc *const wavegen_nodes[] = {
    &wavegen_node_desc,
};

static const spark_node_factory wavegen_factory = {
    sizeof(spark_node_factory),
    sizeof wavegen_nodes / sizeof wavegen_nodes[0],
    wavegen_nodes,
};

static const void *wavegen_get_factory(const char *factory_id)
{
    if (strcmp(factory_id, SPARK_FACTORY_NODE) == 0)
        return &wavegen_factory;
    return NULL;
}

SPARK_PLUGIN_ENTRY = {
    sizeof(spark_entry),
    0,
    SPARK_ABI_VERSION_INIT,
    0,
    "vocoder-wavegen",
    "1.0.0",
    NULL,
    NULL,
    wavegen_get_factory,
};
