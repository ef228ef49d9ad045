/* local_path.h - the storage root and the rules that map a URL or a plain name to a file
 * under it. No SDK types: the unit tests link this file directly. */
#ifndef STORAGE_LOCAL_PATH_H
#define STORAGE_LOCAL_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "local_error.h"

/* Where every name resolves. Immutable once local_root_open has filled it, so any number
 * of threads may resolve names against it at once. */
typedef struct local_root {
    char *given; /* absolute, lexically normalised form of the configured root */
    char *real;  /* realpath of the root: absolute, no symlinks, no trailing '/' */
} local_root;

/* The configured root as an absolute path: a relative root is joined to the current working
 * directory now; "file:///abs" is accepted too. *out_abs is malloc'd. */
local_status local_root_absolute(const char *root, char **out_abs, local_error *err);

/* Check that abs exists and is a directory, creating it (and its parents, mode 0755) first
 * when create is set, and fill *out. On failure *out is left empty. */
local_status local_root_open(const char *abs, bool create, local_root *out, local_error *err);

void local_root_free(local_root *root);

/* Lexical step: turn url[0..len) into a normalised path relative to the root such as
 * "dir/name.wav", applying every rule that needs no file system: not empty, no NUL, no
 * trailing '/', file: URLs only as file:///absolute, no other scheme, absolute paths only
 * under the root, no ".." above the root. *out_rel is malloc'd. */
local_status local_name_parse(const local_root *root, const char *url, size_t len,
                              char **out_rel, local_error *err);

typedef enum local_access {
    LOCAL_FOR_READ = 0,
    LOCAL_FOR_WRITE = 1
} local_access;

/* A resolved object. All strings malloc'd. */
typedef struct local_target {
    char *dir;  /* real absolute directory that holds (or will hold) the object */
    char *name; /* the object's last component, as named by the caller */
    char *path; /* the file to open: dir/name, or for a read through a symlink its target */
} local_target;

/* File-system step: walk rel's directories under the root. A component that is a symlink
 * must resolve inside the root; a dangling one is refused for writes (nothing is created
 * through it). For LOCAL_FOR_WRITE missing directories are created (0755; their parents
 * fsync'd when durable); for LOCAL_FOR_READ a missing one is LOCAL_E_NOT_FOUND and a
 * symlink in the last component must resolve inside the root too. url is only used in
 * messages. */
local_status local_target_resolve(const local_root *root, const char *url, const char *rel,
                                  local_access access, bool durable, local_target *out,
                                  local_error *err);

/* Both steps. */
local_status local_resolve(const local_root *root, const char *url, size_t len,
                           local_access access, bool durable, local_target *out,
                           local_error *err);

void local_target_free(local_target *target);

/* 1 when path equals root or lies below it (component-wise, both absolute). */
bool local_path_is_under(const char *path, const char *root);

#endif
