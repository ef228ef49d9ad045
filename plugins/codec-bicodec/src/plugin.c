/*
 * codec-bicodec: the plugin entry. Each node lives in its own *_node.c and exports one
 * descriptor; adding a node is one include and one line in bicodec_nodes[].
 */
#include <spark/plugin.h>

#include <string.h>

#include "decode_node.h"
#include "encode_node.h"

static const spark_node_desc *const bicodec_nodes[] = {
    &bicodec_decode_desc,
    &bicodec_encode_desc,
};

static const spark_node_factory bicodec_factory = {
    sizeof(spark_node_factory),
    sizeof bicodec_nodes / sizeof bicodec_nodes[0],
    bicodec_nodes,
};

static const void *bicodec_get_factory(const char *factory_id)
{
    if (strcmp(factory_id, SPARK_FACTORY_NODE) == 0)
        return &bicodec_factory;
    return NULL;
}

SPARK_PLUGIN_ENTRY = {
    sizeof(spark_entry),
    0,
    SPARK_ABI_VERSION_INIT,
    0,
    "codec-bicodec",
    "1.0.0",
    NULL,
    NULL,
    bicodec_get_factory,
};
