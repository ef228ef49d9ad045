/* Opening plugin files with libltdl (local symbol scope) and finding them on disk.
 * The only file that includes ltdl.h. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <ltdl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t loader_lock = PTHREAD_MUTEX_INITIALIZER;

int sp_loader_init(void)
{
    pthread_mutex_lock(&loader_lock);
    int rc = lt_dlinit();
    pthread_mutex_unlock(&loader_lock);
    return rc == 0 ? 0 : -1;
}

void sp_loader_exit(void)
{
    pthread_mutex_lock(&loader_lock);
    lt_dlexit();
    pthread_mutex_unlock(&loader_lock);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_plugin_file(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && name[0] != '.' && strcmp(name + n - 3, ".so") == 0;
}

int sp_loader_scan_dir(const char *dir, void (*visit)(void *user, const char *path), void *user)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (!is_plugin_file(ent->d_name))
            continue;
        if (!sp_grow((void **)&names, &cap, count + 1, sizeof *names))
            break;
        names[count] = sp_strdup(ent->d_name);
        if (names[count])
            count++;
    }
    closedir(d);
    if (count)
        qsort(names, count, sizeof *names, compare_names);
    for (size_t i = 0; i < count; i++) {
        char *path = sp_printf("%s/%s", dir, names[i]);
        if (path)
            visit(user, path);
        free(path);
        free(names[i]);
    }
    free(names);
    return 0;
}

int sp_loader_open(const char *path, void **out_handle, const spark_entry **out_entry,
                   char **out_error)
{
    *out_handle = NULL;
    *out_entry = NULL;
    pthread_mutex_lock(&loader_lock);
    lt_dladvise advise;
    lt_dlhandle handle = NULL;
    if (lt_dladvise_init(&advise) == 0) {
        lt_dladvise_local(&advise);
        handle = lt_dlopenadvise(path, advise);
        lt_dladvise_destroy(&advise);
    }
    if (!handle) {
        const char *why = lt_dlerror();
        *out_error = sp_printf("cannot open: %s", why ? why : "unknown error");
        pthread_mutex_unlock(&loader_lock);
        return -1;
    }
    const spark_entry *entry = lt_dlsym(handle, SPARK_ENTRY_SYMBOL);
    if (!entry) {
        *out_error = sp_printf("exports no '%s' symbol (not a sparkhost plugin)",
                               SPARK_ENTRY_SYMBOL);
        lt_dlclose(handle);
        pthread_mutex_unlock(&loader_lock);
        return -1;
    }
    pthread_mutex_unlock(&loader_lock);
    *out_handle = handle;
    *out_entry = entry;
    return 0;
}

void sp_loader_close(void *handle)
{
    if (!handle)
        return;
    pthread_mutex_lock(&loader_lock);
    lt_dlclose((lt_dlhandle)handle);
    pthread_mutex_unlock(&loader_lock);
}

char *sp_loader_exe_dir(void)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0)
        return NULL;
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    return sp_strdup(path);
}
