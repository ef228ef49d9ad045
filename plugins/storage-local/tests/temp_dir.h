/* temp_dir.h - scratch directories and small file helpers for the storage-local tests. */
#ifndef STORAGE_LOCAL_TEST_TEMP_DIR_H
#define STORAGE_LOCAL_TEST_TEMP_DIR_H

#include <stddef.h>

/* A new empty directory under $TMPDIR (or /tmp); malloc'd path, or NULL. */
char *temp_dir_create(void);
/* Remove path and everything below it (symlinks are removed, never followed). */
void temp_dir_remove(const char *path);
/* malloc'd "a/b". */
char *path_join(const char *a, const char *b);
/* Write size bytes to path (plain, not atomic); 0 on success. */
int file_write(const char *path, const void *data, size_t size);
/* Read a whole file; malloc'd buffer with a NUL after the bytes, NULL when missing. */
char *file_read(const char *path, size_t *out_size);
/* 1 when path exists (lstat). */
int path_exists(const char *path);
/* Number of directory entries other than "." and "..", or -1. */
int dir_count(const char *dir);
/* Number of entries whose name starts with prefix and ends with suffix. */
int dir_count_matching(const char *dir, const char *prefix, const char *suffix);

#endif
