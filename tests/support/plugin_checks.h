/* plugin_checks.h - CHECKs every plugin test makes on the DSO it loads. Include after check.h:
 * the functions count their failures in the including test's check_failures. */
#ifndef SPARK_TEST_PLUGIN_CHECKS_H
#define SPARK_TEST_PLUGIN_CHECKS_H

#include "check.h"
#include "fake_host.h"

#include <spark/plugin.h>

#include <stdio.h>

/* Loads the plugin at path with fake_plugin_load and checks that it exports its entry and
 * nothing else (the version script's job): none of internal_names (NULL-terminated, may be
 * NULL) is found by dlsym, and nm lists only the entry. Returns the entry, NULL when the
 * plugin could not be loaded. */
static inline const spark_entry *check_load_plugin(fake_plugin *plugin, const char *path,
                                                   const char *const *internal_names)
{
    CHECK_INT_EQ(fake_plugin_load(plugin, path), 0);
    CHECK(plugin->entry != NULL);
    for (const char *const *name = internal_names; name && *name; name++) {
        CHECK(!fake_plugin_exports(plugin, *name));
        if (fake_plugin_exports(plugin, *name))
            fprintf(stderr, "  %s exports %s\n", path, *name);
    }
    fake_export_list exports = fake_plugin_list_exports(path);
    CHECK(exports.nm_started);
    CHECK_INT_EQ(exports.nm_status, 0);
    CHECK(exports.has_entry);
    CHECK_INT_EQ(exports.other_count, 0);
    return plugin->entry;
}

#endif
