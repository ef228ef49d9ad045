/* The index of usable nodes and storage backends by id. Every plugin is validated when it
 * is added; a refused plugin is skipped with its reason recorded, and an id declared by two
 * files is refused with a message naming both. */
#include "internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static void add_problem(spark_engine *engine, const char *file, const char *reason)
{
    sp_buf_printf(&engine->registry.problems, "%s: %s\n", file, reason);
    sp_log(&engine->logger, SPARK_LOG_LEVEL_WARN, "plugin %s skipped: %s", file, reason);
}

const char *sp_registry_conflict(const sp_registry *reg, const char *id)
{
    for (size_t i = 0; i < reg->conflict_count; i++)
        if (strcmp(reg->conflicts[i].id, id) == 0)
            return reg->conflicts[i].message;
    return NULL;
}

const sp_registry_entry *sp_registry_find(const sp_registry *reg, const char *id)
{
    if (!id || sp_registry_conflict(reg, id))
        return NULL;
    for (size_t i = 0; i < reg->entry_count; i++)
        if (strcmp(reg->entries[i].info.id, id) == 0)
            return &reg->entries[i];
    return NULL;
}

static void record_conflict(spark_engine *engine, const char *id, const char *first_file,
                            const char *second_file)
{
    sp_registry *reg = &engine->registry;
    char *msg = sp_printf("duplicate plugin id '%s': declared by %s and by %s", id, first_file,
                          second_file);
    if (!msg || !sp_grow((void **)&reg->conflicts, &reg->conflict_cap, reg->conflict_count + 1,
                         sizeof reg->conflicts[0])) {
        free(msg);
        return;
    }
    reg->conflicts[reg->conflict_count].id = sp_strdup(id);
    reg->conflicts[reg->conflict_count].message = msg;
    reg->conflict_count++;
    sp_buf_printf(&reg->problems, "%s\n", msg);
    sp_log(&engine->logger, SPARK_LOG_LEVEL_ERROR, "%s", msg);
}

/* Adds one descriptor, or refuses its id when another file declared it too. */
static void add_entry(spark_engine *engine, sp_plugin *plugin, const char *id,
                      const char *version, const char *kind, const spark_node_desc *node,
                      const spark_storage_desc *storage)
{
    sp_registry *reg = &engine->registry;
    const char *earlier = sp_registry_conflict(reg, id);
    if (earlier) {
        sp_buf_printf(&reg->problems, "%s: also declares the duplicate id '%s'\n", plugin->file,
                      id);
        return;
    }
    for (size_t i = 0; i < reg->entry_count; i++) {
        if (strcmp(reg->entries[i].info.id, id) != 0)
            continue;
        record_conflict(engine, id, reg->entries[i].plugin->file, plugin->file);
        memmove(&reg->entries[i], &reg->entries[i + 1],
                (reg->entry_count - i - 1) * sizeof reg->entries[0]);
        reg->entry_count--;
        return;
    }
    if (!sp_grow((void **)&reg->entries, &reg->entry_cap, reg->entry_count + 1,
                 sizeof reg->entries[0]))
        return;
    sp_registry_entry *e = &reg->entries[reg->entry_count++];
    e->plugin = plugin;
    e->info.id = id;
    e->info.version = version;
    e->info.kind = kind;
    e->info.file = plugin->file;
    e->info.node = node;
    e->info.storage = storage;
}

static bool file_already_loaded(sp_registry *reg, const char *file)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    for (size_t i = 0; i < reg->file_name_count; i++)
        if (strcmp(reg->file_names[i], base) == 0)
            return true;
    if (sp_grow((void **)&reg->file_names, &reg->file_name_cap, reg->file_name_count + 1,
                sizeof(char *)))
        reg->file_names[reg->file_name_count++] = sp_strdup(base);
    return false;
}

static bool validate_factories(spark_engine *engine, sp_plugin *plugin,
                               const spark_node_factory **out_nodes,
                               const spark_storage_factory **out_storage)
{
    const spark_entry *entry = plugin->entry;
    const spark_node_factory *nodes = entry->get_factory(SPARK_FACTORY_NODE);
    const spark_storage_factory *storage = entry->get_factory(SPARK_FACTORY_STORAGE);
    if (!nodes && !storage) {
        add_problem(engine, plugin->file, "offers neither a node nor a storage factory");
        return false;
    }
    if (nodes) {
        if (nodes->struct_size < sizeof(spark_node_factory) ||
            (nodes->node_count && !nodes->nodes)) {
            add_problem(engine, plugin->file, "node factory is malformed");
            return false;
        }
        for (uint32_t i = 0; i < nodes->node_count; i++) {
            char *why = nodes->nodes[i] ? sp_validate_node_desc(nodes->nodes[i])
                                        : sp_strdup("node factory has a NULL descriptor");
            if (why) {
                add_problem(engine, plugin->file, why);
                free(why);
                return false;
            }
        }
    }
    if (storage) {
        if (storage->struct_size < sizeof(spark_storage_factory) ||
            (storage->backend_count && !storage->backends)) {
            add_problem(engine, plugin->file, "storage factory is malformed");
            return false;
        }
        for (uint32_t i = 0; i < storage->backend_count; i++) {
            char *why = storage->backends[i]
                            ? sp_validate_storage_desc(storage->backends[i])
                            : sp_strdup("storage factory has a NULL descriptor");
            if (why) {
                add_problem(engine, plugin->file, why);
                free(why);
                return false;
            }
        }
    }
    *out_nodes = nodes;
    *out_storage = storage;
    return true;
}

static void free_plugin(sp_plugin *plugin)
{
    if (!plugin)
        return;
    if (plugin->initialized && plugin->entry->deinit)
        plugin->entry->deinit();
    sp_loader_close(plugin->handle);
    free(plugin->host_ctx);
    free(plugin->file);
    free(plugin);
}

void sp_registry_add_plugin(spark_engine *engine, const char *file, void *handle,
                            const spark_entry *entry)
{
    sp_registry *reg = &engine->registry;
    char *why = sp_validate_entry(entry);
    if (why) {
        add_problem(engine, file, why);
        free(why);
        sp_loader_close(handle);
        return;
    }
    sp_plugin *plugin = calloc(1, sizeof *plugin);
    if (!plugin) {
        sp_loader_close(handle);
        return;
    }
    plugin->file = sp_strdup(file);
    plugin->handle = handle;
    plugin->entry = entry;
    plugin->host_ctx = calloc(1, sizeof *plugin->host_ctx);
    if (!plugin->file || !plugin->host_ctx) {
        free_plugin(plugin);
        return;
    }
    sp_host_ctx_init(plugin->host_ctx, engine, NULL, NULL, entry->name);
    if (entry->init) {
        sp_posted_error_clear();
        spark_status st = entry->init(&plugin->host_ctx->host);
        if (st < 0) {
            char *msg = sp_posted_error_take(st);
            char *reason = sp_printf("init failed: %s", msg ? msg : "");
            add_problem(engine, file, reason ? reason : "init failed");
            free(reason);
            free(msg);
            free_plugin(plugin);
            return;
        }
    }
    plugin->initialized = true;
    const spark_node_factory *nodes = NULL;
    const spark_storage_factory *storage = NULL;
    if (!validate_factories(engine, plugin, &nodes, &storage) ||
        !sp_grow((void **)&reg->plugins, &reg->plugin_cap, reg->plugin_count + 1,
                 sizeof(sp_plugin *))) {
        free_plugin(plugin);
        return;
    }
    reg->plugins[reg->plugin_count++] = plugin;
    if (nodes)
        for (uint32_t i = 0; i < nodes->node_count; i++)
            add_entry(engine, plugin, nodes->nodes[i]->id, nodes->nodes[i]->version, "node",
                      nodes->nodes[i], NULL);
    if (storage)
        for (uint32_t i = 0; i < storage->backend_count; i++)
            add_entry(engine, plugin, storage->backends[i]->id, storage->backends[i]->version,
                      "storage", NULL, storage->backends[i]);
    sp_log(&engine->logger, SPARK_LOG_LEVEL_DEBUG, "loaded plugin %s (%s %s)", file,
           entry->name, entry->version ? entry->version : "");
}

static void visit_file(void *user, const char *path)
{
    spark_engine *engine = user;
    if (file_already_loaded(&engine->registry, path)) {
        sp_log(&engine->logger, SPARK_LOG_LEVEL_DEBUG,
               "plugin %s shadowed by an earlier one of the same name", path);
        return;
    }
    void *handle = NULL;
    const spark_entry *entry = NULL;
    char *why = NULL;
    if (sp_loader_open(path, &handle, &entry, &why) != 0) {
        add_problem(engine, path, why ? why : "cannot open");
        free(why);
        return;
    }
    sp_registry_add_plugin(engine, path, handle, entry);
}

void sp_registry_add_dir(spark_engine *engine, const char *dir)
{
    sp_registry *reg = &engine->registry;
    char resolved[PATH_MAX];
    if (!realpath(dir, resolved)) {
        sp_log(&engine->logger, SPARK_LOG_LEVEL_DEBUG, "plugin directory %s does not exist",
               dir);
        return;
    }
    for (size_t i = 0; i < reg->dir_count; i++)
        if (strcmp(reg->dirs[i], resolved) == 0)
            return;
    if (sp_grow((void **)&reg->dirs, &reg->dir_cap, reg->dir_count + 1, sizeof(char *)))
        reg->dirs[reg->dir_count++] = sp_strdup(resolved);
    sp_loader_scan_dir(resolved, visit_file, engine);
}

void sp_registry_free(sp_registry *reg)
{
    for (size_t i = reg->plugin_count; i-- > 0;)
        free_plugin(reg->plugins[i]);
    free(reg->plugins);
    free(reg->entries);
    for (size_t i = 0; i < reg->dir_count; i++)
        free(reg->dirs[i]);
    free(reg->dirs);
    for (size_t i = 0; i < reg->file_name_count; i++)
        free(reg->file_names[i]);
    free(reg->file_names);
    for (size_t i = 0; i < reg->conflict_count; i++) {
        free(reg->conflicts[i].id);
        free(reg->conflicts[i].message);
    }
    free(reg->conflicts);
    sp_buf_free(&reg->problems);
    memset(reg, 0, sizeof *reg);
}
