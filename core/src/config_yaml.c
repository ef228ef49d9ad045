/* YAML text -> a plain tree of maps, sequences and scalars that keeps the line of every
 * node and key. Anchors and aliases are refused: pipelines are written by hand. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64

void sp_ynode_free(sp_ynode *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->count; i++) {
        sp_ynode_free(node->items[i]);
        if (node->keys)
            free(node->keys[i]);
    }
    free(node->items);
    free(node->keys);
    free(node->key_lines);
    free(node->scalar);
    free(node);
}

static sp_ynode *ynode_new(sp_ynode_type type, int line)
{
    sp_ynode *n = calloc(1, sizeof *n);
    if (n) {
        n->type = type;
        n->line = line;
    }
    return n;
}

static bool ynode_append(sp_ynode *parent, char *key, int key_line, sp_ynode *child)
{
    size_t cap = parent->cap;
    if (!sp_grow((void **)&parent->items, &cap, parent->count + 1, sizeof(sp_ynode *)))
        return false;
    if (parent->type == SP_Y_MAP) {
        size_t kcap = parent->cap, lcap = parent->cap;
        if (!sp_grow((void **)&parent->keys, &kcap, parent->count + 1, sizeof(char *)) ||
            !sp_grow((void **)&parent->key_lines, &lcap, parent->count + 1, sizeof(int)))
            return false;
        parent->keys[parent->count] = key;
        parent->key_lines[parent->count] = key_line;
    }
    parent->cap = cap;
    parent->items[parent->count++] = child;
    return true;
}

typedef struct parse_state {
    yaml_parser_t parser;
    char *error;
} parse_state;

static sp_ynode *parse_node(parse_state *st, yaml_event_t *ev, int depth);

static bool next_event(parse_state *st, yaml_event_t *ev)
{
    if (yaml_parser_parse(&st->parser, ev))
        return true;
    st->error = sp_printf("line %zu: %s", st->parser.problem_mark.line + 1,
                          st->parser.problem ? st->parser.problem : "invalid YAML");
    return false;
}

static sp_ynode *parse_collection(parse_state *st, sp_ynode *node, yaml_event_type_t end,
                                  int depth)
{
    for (;;) {
        yaml_event_t ev;
        if (!next_event(st, &ev))
            goto fail;
        if (ev.type == end) {
            yaml_event_delete(&ev);
            return node;
        }
        char *key = NULL;
        int key_line = 0;
        if (node->type == SP_Y_MAP) {
            if (ev.type != YAML_SCALAR_EVENT) {
                st->error = sp_printf("line %zu: mapping keys must be plain scalars",
                                      ev.start_mark.line + 1);
                yaml_event_delete(&ev);
                goto fail;
            }
            key = sp_strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            key_line = (int)ev.start_mark.line + 1;
            for (size_t i = 0; i < node->count; i++) {
                if (key && strcmp(node->keys[i], key) == 0) {
                    st->error = sp_printf("line %d: key '%s' appears twice (first at line %d)",
                                          key_line, key, node->key_lines[i]);
                    free(key);
                    yaml_event_delete(&ev);
                    goto fail;
                }
            }
            yaml_event_delete(&ev);
            if (!next_event(st, &ev)) {
                free(key);
                goto fail;
            }
        }
        sp_ynode *child = parse_node(st, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!child || !ynode_append(node, key, key_line, child)) {
            free(key);
            sp_ynode_free(child);
            goto fail;
        }
    }
fail:
    sp_ynode_free(node);
    return NULL;
}

static sp_ynode *parse_node(parse_state *st, yaml_event_t *ev, int depth)
{
    int line = (int)ev->start_mark.line + 1;
    if (depth > MAX_DEPTH) {
        st->error = sp_printf("line %d: nesting deeper than %d levels", line, MAX_DEPTH);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        sp_ynode *n = ynode_new(SP_Y_SCALAR, line);
        if (!n)
            return NULL;
        n->scalar = sp_strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        if (!n->scalar) {
            free(n);
            return NULL;
        }
        if (ev->data.scalar.anchor) {
            st->error = sp_printf("line %d: anchors are not supported", line);
            sp_ynode_free(n);
            return NULL;
        }
        return n;
    }
    case YAML_SEQUENCE_START_EVENT: {
        sp_ynode *n = ynode_new(SP_Y_SEQ, line);
        return n ? parse_collection(st, n, YAML_SEQUENCE_END_EVENT, depth) : NULL;
    }
    case YAML_MAPPING_START_EVENT: {
        sp_ynode *n = ynode_new(SP_Y_MAP, line);
        return n ? parse_collection(st, n, YAML_MAPPING_END_EVENT, depth) : NULL;
    }
    case YAML_ALIAS_EVENT:
        st->error = sp_printf("line %d: aliases are not supported", line);
        return NULL;
    default:
        st->error = sp_printf("line %d: unexpected YAML event", line);
        return NULL;
    }
}

sp_ynode *sp_yaml_parse(const char *text, size_t size, char **error_message)
{
    parse_state st = {0};
    *error_message = NULL;
    if (!yaml_parser_initialize(&st.parser)) {
        *error_message = sp_strdup("cannot initialise the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&st.parser, (const unsigned char *)text, size);
    sp_ynode *root = NULL;
    yaml_event_t ev;
    bool in_document = false;
    while (next_event(&st, &ev)) {
        yaml_event_type_t type = ev.type;
        if (type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (type == YAML_DOCUMENT_START_EVENT) {
            if (root) {
                st.error = sp_printf("line %zu: only one YAML document is allowed",
                                     ev.start_mark.line + 1);
                yaml_event_delete(&ev);
                break;
            }
            in_document = true;
        } else if (type == YAML_DOCUMENT_END_EVENT) {
            in_document = false;
        } else if (in_document && type != YAML_STREAM_START_EVENT) {
            root = parse_node(&st, &ev, 0);
            if (!root) {
                yaml_event_delete(&ev);
                break;
            }
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&st.parser);
    if (st.error) {
        sp_ynode_free(root);
        *error_message = st.error;
        return NULL;
    }
    if (!root)
        *error_message = sp_strdup("line 1: the file is empty");
    return root;
}

const sp_ynode *sp_ynode_get(const sp_ynode *map, const char *key)
{
    if (!map || map->type != SP_Y_MAP)
        return NULL;
    for (size_t i = 0; i < map->count; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->items[i];
    return NULL;
}

int sp_ynode_key_line(const sp_ynode *map, const char *key)
{
    if (!map || map->type != SP_Y_MAP)
        return 0;
    for (size_t i = 0; i < map->count; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->key_lines[i];
    return map->line;
}
