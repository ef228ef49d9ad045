/* plugin.c - entry and descriptor of the storage-local plugin. The backend's work is in
 * storage_local.c and the local_*.c files beside it. */
#include <spark/plugin.h>

#include <string.h>

#include "storage_local.h"

static const char *const local_schemes[] = {"file", "", NULL};

static const spark_param_desc local_params[] = {
    {STORAGE_LOCAL_PARAM_ROOT, SPARK_PARAM_URL, 0, ".", 0, 0, 4095, 0, NULL,
     "Directory every name resolves under (a path or file:///absolute/path). A relative root "
     "is relative to the working directory at configure time. It must exist and be a "
     "directory unless create_root is set."},
    {STORAGE_LOCAL_PARAM_CREATE_ROOT, SPARK_PARAM_BOOLEAN, 0, "false", 0, 0, 0, 0, NULL,
     "Create the root directory (and its parents, mode 0755) at activation when missing."},
    {STORAGE_LOCAL_PARAM_DURABLE, SPARK_PARAM_BOOLEAN, 0, "true", 0, 0, 0, 0, NULL,
     "fsync each written file before it is renamed into place, and its directory after, so a "
     "committed object survives a crash."},
};

static const spark_storage_desc local_backend = {
    .struct_size = sizeof(spark_storage_desc),
    .param_count = sizeof local_params / sizeof local_params[0],
    .id = "org.sparkhost.storage.local",
    .name = "Local files",
    .version = "1.0.0",
    .description = "Reads and writes files under one root directory. Writes are atomic (a "
                   "temporary file renamed over the target) and by default durable. Names are "
                   "plain paths under the root or file:///absolute/path URLs; nothing outside "
                   "the root is reachable, also not through symlinks.",
    .schemes = local_schemes,
    .params = local_params,
    .ops = &storage_local_ops,
};

static const spark_storage_desc *const local_backends[] = {&local_backend};

static const spark_storage_factory local_factory = {
    .struct_size = sizeof(spark_storage_factory),
    .backend_count = 1,
    .backends = local_backends,
};

static const void *local_get_factory(const char *factory_id)
{
    if (factory_id && strcmp(factory_id, SPARK_FACTORY_STORAGE) == 0)
        return &local_factory;
    return NULL;
}

SPARK_PLUGIN_ENTRY = {
    .struct_size = sizeof(spark_entry),
    .abi = SPARK_ABI_VERSION_INIT,
    .name = "storage-local",
    .version = "1.0.0",
    .get_factory = local_get_factory,
};
