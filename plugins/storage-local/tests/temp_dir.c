/* temp_dir.c - scratch directories and small file helpers for the storage-local tests. */
#include "temp_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *temp_dir_create(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    char *template = path_join(base, "spark-storage-test-XXXXXX");
    if (template && !mkdtemp(template)) {
        free(template);
        return NULL;
    }
    return template;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path);
    return unlink(path);
}

void temp_dir_remove(const char *path)
{
    if (path)
        nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *path_join(const char *a, const char *b)
{
    size_t len = strlen(a) + 1 + strlen(b) + 1;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s/%s", a, b);
    return out;
}

int file_write(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t written = fwrite(data, 1, size, f);
    return (fclose(f) == 0 && written == size) ? 0 : -1;
}

char *file_read(const char *path, size_t *out_size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, size = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t n = fread(buf + size, 1, cap - size, f);
        size += n;
        if (size < cap)
            break;
        cap *= 2;
        char *bigger = realloc(buf, cap + 1);
        if (!bigger)
            free(buf);
        buf = bigger;
    }
    fclose(f);
    if (buf) {
        buf[size] = '\0';
        if (out_size)
            *out_size = size;
    }
    return buf;
}

int path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int dir_count_matching(const char *dir, const char *prefix, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int count = 0;
    size_t prefix_len = strlen(prefix), suffix_len = strlen(suffix);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        size_t len = strlen(e->d_name);
        if (len >= prefix_len + suffix_len && strncmp(e->d_name, prefix, prefix_len) == 0 &&
            strcmp(e->d_name + len - suffix_len, suffix) == 0)
            count++;
    }
    closedir(d);
    return count;
}

int dir_count(const char *dir)
{
    return dir_count_matching(dir, "", "");
}
