/*
 * Run-time half of the ABI layout test, shared by abi_layout.c and abi_layout.cpp (compiled
 * once as C11 and once as C++17): no padding holes in any struct, the string ids, and the
 * header's ABI version against the one PLUGINS.md documents.
 */
#ifndef SPARK_TEST_ABI_LAYOUT_RUNTIME_H
#define SPARK_TEST_ABI_LAYOUT_RUNTIME_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi_layout_table.h"

typedef struct abi_row {
    const char *type;
    const char *field; /* NULL for the row that opens a struct */
    size_t offset;     /* struct rows: 0 */
    size_t size;       /* struct rows: sizeof the struct */
} abi_row;

#define ABI_STRUCT(T, size_, align_) { #T, NULL, 0, sizeof(T) },
#define ABI_FIELD(T, f, off_, size_) { #T, #f, offsetof(T, f), sizeof(((T *)0)->f) },
static const abi_row abi_rows[] = { ABI_LAYOUT_TABLE };
#undef ABI_STRUCT
#undef ABI_FIELD

/* Every struct's fields, in order, must tile it exactly: a gap would be compiler padding,
 * which differs between ABIs and cannot be used for growth. */
static int abi_check_no_holes(void)
{
    int failures = 0;
    size_t n = sizeof abi_rows / sizeof abi_rows[0];
    size_t i = 0;
    while (i < n) {
        const abi_row *head = &abi_rows[i++];
        size_t end = 0;
        for (; i < n && abi_rows[i].field; i++) {
            if (abi_rows[i].offset != end) {
                fprintf(stderr, "%s: %zu byte(s) of padding before %s\n", head->type,
                        abi_rows[i].offset - end, abi_rows[i].field);
                failures++;
            }
            end = abi_rows[i].offset + abi_rows[i].size;
        }
        if (end != head->size) {
            fprintf(stderr, "%s: %zu byte(s) of tail padding\n", head->type, head->size - end);
            failures++;
        }
    }
    return failures;
}

static int abi_check_strings(void)
{
    int failures = 0;
#define ABI_STRING(macro, text)                                                        \
    if (strcmp(macro, text) != 0) {                                                    \
        fprintf(stderr, "%s is \"%s\", frozen as \"%s\"\n", #macro, macro, text);     \
        failures++;                                                                    \
    }
    ABI_STRING_TABLE
#undef ABI_STRING
    return failures;
}

/* PLUGINS.md carries one line "Current ABI version: **M.m.p**"; it must match the header. */
static int abi_check_documented_version(void)
{
    const char *source_dir = getenv("SPARK_SOURCE_DIR");
    char path[4096];
    char line[1024];
    const char *marker = "Current ABI version: **";
    unsigned major = 0, minor = 0, patch = 0;
    int found = 0;
    FILE *file;

    if (!source_dir) {
        fprintf(stderr, "SPARK_SOURCE_DIR is not set; run this test through ctest\n");
        return 1;
    }
    if (snprintf(path, sizeof path, "%s/PLUGINS.md", source_dir) >= (int)sizeof path) {
        fprintf(stderr, "SPARK_SOURCE_DIR is too long\n");
        return 1;
    }
    file = fopen(path, "r");
    if (!file) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    while (!found && fgets(line, sizeof line, file)) {
        const char *at = strstr(line, marker);
        if (at && sscanf(at + strlen(marker), "%u.%u.%u", &major, &minor, &patch) == 3)
            found = 1;
    }
    fclose(file);
    if (!found) {
        fprintf(stderr, "%s: no line \"%sM.m.p**\"\n", path, marker);
        return 1;
    }
    if (major != SPARK_ABI_MAJOR || minor != SPARK_ABI_MINOR || patch != SPARK_ABI_PATCH) {
        fprintf(stderr, "PLUGINS.md documents ABI %u.%u.%u, spark/plugin.h is %u.%u.%u\n",
                major, minor, patch, (unsigned)SPARK_ABI_MAJOR, (unsigned)SPARK_ABI_MINOR,
                (unsigned)SPARK_ABI_PATCH);
        return 1;
    }
    return 0;
}

static int abi_run_checks(void)
{
    int failures = abi_check_no_holes() + abi_check_strings() + abi_check_documented_version();
    if (failures)
        fprintf(stderr, "%d ABI check(s) failed\n", failures);
    return failures ? 1 : 0;
}

#endif
