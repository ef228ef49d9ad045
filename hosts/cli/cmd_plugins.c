/* sparkhost plugins list | inspect ID */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: sparkhost plugins list\n"
    "       sparkhost plugins inspect ID\n"
    "\n"
    "list     one line per node and storage backend: id, version, kind, file\n"
    "inspect  a plugin's description, ports, parameters (type, default, limits) and\n"
    "         results, read from its descriptor without creating an instance\n";

static const char *kind_name(int32_t kind)
{
    static const char *const names[] = {"?", "text", "tokens", "codes", "audio",
                                        "timing", "blob", "value"};
    return kind >= 1 && kind <= 7 ? names[kind] : "?";
}

static const char *param_type(int32_t type)
{
    static const char *const names[] = {"?", "string", "integer", "number", "boolean",
                                        "enum", "url"};
    return type >= 1 && type <= 6 ? names[type] : "?";
}

static const char *value_type(int32_t type)
{
    static const char *const names[] = {"?", "string", "integer", "number", "boolean", "json"};
    return type >= 1 && type <= 5 ? names[type] : "?";
}

static void print_params(const spark_param_desc *params, uint32_t count)
{
    printf("parameters:\n");
    if (!count)
        printf("  (none)\n");
    for (uint32_t i = 0; i < count; i++) {
        const spark_param_desc *p = &params[i];
        printf("  %-18s %-8s", p->key, param_type(p->type));
        if (p->flags & SPARK_PARAM_REQUIRED)
            printf(" required");
        else if (p->default_value)
            printf(" default %s", (p->flags & SPARK_PARAM_SECRET) ? "(secret)" : p->default_value);
        if ((p->flags & SPARK_PARAM_HAS_MIN) && (p->flags & SPARK_PARAM_HAS_MAX))
            printf(", %g..%g", p->min, p->max);
        else if (p->flags & SPARK_PARAM_HAS_MIN)
            printf(", >= %g", p->min);
        else if (p->flags & SPARK_PARAM_HAS_MAX)
            printf(", <= %g", p->max);
        if (p->max_length)
            printf(", at most %u bytes", p->max_length);
        if (p->type == SPARK_PARAM_ENUM && p->choices) {
            printf(", one of");
            for (size_t c = 0; p->choices[c]; c++)
                printf("%s %s", c ? "," : "", p->choices[c]);
        }
        if (p->flags & SPARK_PARAM_PER_JOB)
            printf(", per job");
        if (p->flags & SPARK_PARAM_SECRET)
            printf(", secret");
        printf("\n");
        if (p->doc)
            printf("  %-18s %s\n", "", p->doc);
    }
}

static void inspect_node(const spark_plugin_info *info)
{
    const spark_node_desc *d = info->node;
    printf("ports:\n");
    for (uint32_t i = 0; i < d->port_count; i++) {
        const spark_port_desc *p = &d->ports[i];
        printf("  %-18s %-3s %-6s", p->name, p->direction == SPARK_PORT_IN ? "in" : "out",
               kind_name(p->kind));
        if (p->rate)
            printf(" %u Hz", p->rate);
        if (p->channels)
            printf(" %u ch", p->channels);
        if (p->flags & SPARK_PORT_OPTIONAL)
            printf(" (optional)");
        printf("%s%s\n", p->doc ? "  " : "", p->doc ? p->doc : "");
    }
    print_params(d->params, d->param_count);
    printf("results:\n");
    if (!d->result_count)
        printf("  (none)\n");
    for (uint32_t i = 0; i < d->result_count; i++)
        printf("  %-18s %-8s %s\n", d->results[i].name, value_type(d->results[i].type),
               d->results[i].doc ? d->results[i].doc : "");
    printf("concurrent jobs: %s\n", d->max_concurrent_jobs ? "limited" : "any number");
    if (d->max_concurrent_jobs)
        printf("  at most %u per instance\n", d->max_concurrent_jobs);
}

static int inspect(spark_engine *engine, const char *id)
{
    const spark_plugin_info *info = spark_engine_find_plugin(engine, id);
    if (!info) {
        fprintf(stderr, "sparkhost plugins: no plugin with id '%s' (see 'sparkhost plugins "
                "list')\n", id);
        return EXIT_INVALID;
    }
    const char *name = info->node ? info->node->name : info->storage->name;
    const char *description = info->node ? info->node->description : info->storage->description;
    printf("id:          %s\n", info->id);
    printf("name:        %s\n", name ? name : "");
    printf("kind:        %s\n", info->kind);
    printf("version:     %s\n", info->version);
    printf("file:        %s\n", info->file);
    printf("description: %s\n", description ? description : "");
    if (info->node) {
        inspect_node(info);
    } else {
        printf("schemes:    ");
        for (size_t i = 0; info->storage->schemes[i]; i++)
            printf(" %s", *info->storage->schemes[i] ? info->storage->schemes[i] : "(paths)");
        printf("\n");
        print_params(info->storage->params, info->storage->param_count);
    }
    return EXIT_OK;
}

int cmd_plugins(const cli_globals *g, int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "list") != 0 && strcmp(sub, "inspect") != 0)
        return cli_usage_error("plugins", "unknown subcommand '%s'", sub);
    if (argc > 2 && cli_is_help(argv[2])) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    if (strcmp(sub, "inspect") == 0 && argc != 3)
        return cli_usage_error("plugins", "inspect takes one plugin id");
    if (strcmp(sub, "list") == 0 && argc != 2)
        return cli_usage_error("plugins", "list takes no arguments");
    spark_error *error = NULL;
    spark_engine *engine = cli_engine(g, &error);
    if (!engine)
        return cli_report(error);
    int rc = EXIT_OK;
    if (strcmp(sub, "inspect") == 0) {
        rc = inspect(engine, argv[2]);
    } else {
        size_t n = spark_engine_plugin_count(engine);
        for (size_t i = 0; i < n; i++) {
            const spark_plugin_info *info = spark_engine_plugin_at(engine, i);
            printf("%-36s %-8s %-8s %s\n", info->id, info->version, info->kind, info->file);
        }
        const char *problems = spark_engine_plugin_problems(engine);
        if (problems)
            fprintf(stderr, "problems:\n%s", problems);
    }
    spark_engine_free(engine);
    return rc;
}
