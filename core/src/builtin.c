/* The plugin compiled into the engine: it goes through the same ABI as any other. */
#include "internal.h"

#include <string.h>

static const spark_node_desc *const builtin_nodes[] = {
    &sp_builtin_join_desc,
    &sp_builtin_fetch_desc,
    &sp_builtin_store_desc,
};

static const spark_node_factory builtin_node_factory = {
    .struct_size = sizeof(spark_node_factory),
    .node_count = sizeof builtin_nodes / sizeof builtin_nodes[0],
    .nodes = builtin_nodes,
};

static const void *builtin_get_factory(const char *factory_id)
{
    if (factory_id && strcmp(factory_id, SPARK_FACTORY_NODE) == 0)
        return &builtin_node_factory;
    return NULL;
}

const spark_entry sp_builtin_entry = {
    .struct_size = sizeof(spark_entry),
    .abi = SPARK_ABI_VERSION_INIT,
    .name = "core",
    .version = SPARK_VERSION,
    .get_factory = builtin_get_factory,
};
