/* The entry declared exactly as spark/plugin.h documents it (SPARK_PLUGIN_ENTRY). Compiled
 * by the abi_entry_macro_* tests as C11 and as C++17; not part of the build. */
#include <spark/plugin.h>

#include <stddef.h>

static const void *entry_macro_get_factory(const char *factory_id)
{
    (void)factory_id;
    return NULL;
}

SPARK_PLUGIN_ENTRY = { sizeof(spark_entry), 0, SPARK_ABI_VERSION_INIT, 0, "abi-entry",
                       "1.0.0", NULL, NULL, entry_macro_get_factory };
