/* local_path.c - the storage root, and URL/name -> file resolution under it.
 *
 * Names are resolved in two steps. The lexical step normalises the name without touching
 * the disk, so "..", "." and repeated slashes never reach the kernel: what we check is what
 * we open. The file-system step then walks the directories one at a time with lstat, and
 * every symlink met on the way is resolved with realpath and must land inside the real root.
 * Directories we create are plain mkdir()s, never through a symlink.
 *
 * Threat model: names come from jobs; the root itself is the operator's. A process that can
 * swap a checked directory for a symlink between our check and our open is not defended
 * against (that needs write access to the root already). */
#include "local_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static char *join_path(const char *dir, const char *name)
{
    size_t dir_len = strlen(dir), name_len = strlen(name);
    bool slash = dir_len == 0 || dir[dir_len - 1] != '/';
    char *out = malloc(dir_len + slash + name_len + 1);
    if (!out)
        return NULL;
    memcpy(out, dir, dir_len);
    if (slash)
        out[dir_len] = '/';
    memcpy(out + dir_len + slash, name, name_len + 1);
    return out;
}

bool local_path_is_under(const char *path, const char *root)
{
    size_t root_len = strlen(root);
    if (root_len == 1 && root[0] == '/')
        return path[0] == '/';
    return strncmp(path, root, root_len) == 0 && (path[root_len] == '/' || path[root_len] == '\0');
}

/* What follows root in path ("" for the root itself), or NULL when path is not under it. */
static const char *strip_root(const char *path, const char *root)
{
    if (!local_path_is_under(path, root))
        return NULL;
    size_t root_len = strlen(root);
    if (root_len == 1)
        return path + 1;
    return path + root_len + (path[root_len] == '/');
}

/* Lexically normalise path[0..len): drop empty and "." components, apply "..". An absolute
 * path keeps its leading '/', and ".." at "/" stays at "/" as in the kernel. For a relative
 * path a ".." above the start sets *escaped and fails. Returns a malloc'd string ("" or "/"
 * when nothing is left), NULL on failure (*escaped tells which). */
static char *normalise_lexically(const char *path, size_t len, bool *escaped)
{
    bool absolute = len > 0 && path[0] == '/';
    char *out = malloc(len + 2);
    size_t out_len = 0;
    *escaped = false;
    if (!out)
        return NULL;
    if (absolute)
        out[out_len++] = '/';
    size_t base = out_len; /* nothing before this may be removed */

    size_t i = 0;
    while (i < len) {
        while (i < len && path[i] == '/')
            i++;
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        size_t comp_len = i - start;
        const char *comp = path + start;
        if (comp_len == 0 || (comp_len == 1 && comp[0] == '.'))
            continue;
        if (comp_len == 2 && comp[0] == '.' && comp[1] == '.') {
            if (out_len == base) {
                if (absolute)
                    continue;
                *escaped = true;
                free(out);
                return NULL;
            }
            while (out_len > base && out[out_len - 1] != '/')
                out_len--;
            if (out_len > base)
                out_len--; /* the separator before the dropped component */
            continue;
        }
        if (out_len > base)
            out[out_len++] = '/';
        memcpy(out + out_len, comp, comp_len);
        out_len += comp_len;
    }
    out[out_len] = '\0';
    return out;
}

/* Length of an RFC 3986 scheme followed by "://" at the start of s, else 0. */
static size_t scheme_length(const char *s, size_t len)
{
    size_t i = 0;
    if (len == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                       (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' ||
                       s[i] == '.'))
        i++;
    if (i + 3 <= len && s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/')
        return i;
    return 0;
}

local_status local_root_absolute(const char *root, char **out_abs, local_error *err)
{
    char errbuf[128];
    *out_abs = NULL;
    if (!root || root[0] == '\0')
        return local_fail(err, LOCAL_E_INVALID, "storage root is empty: give a directory");
    const char *path = root;
    if (strncasecmp(root, "file:", 5) == 0) {
        if (strncmp(root + 5, "///", 3) != 0)
            return local_fail(err, LOCAL_E_INVALID,
                              "storage root \"%s\": a file: URL must have the form "
                              "file:///absolute/path",
                              root);
        path = root + 7;
    } else if (scheme_length(root, strlen(root)) > 0) {
        return local_fail(err, LOCAL_E_INVALID,
                          "storage root \"%s\" is not a local directory (only plain paths "
                          "and file:///absolute/path are accepted)",
                          root);
    }
    if (path[0] == '/') {
        *out_abs = strdup(path);
    } else {
        /* Relative roots are taken relative to the working directory of this moment, so a
         * later chdir does not move the root. */
        char *cwd = getcwd(NULL, 0);
        if (!cwd)
            return local_fail(err, LOCAL_E_IO,
                              "storage root \"%s\" is relative and the working directory "
                              "cannot be read: %s",
                              root, local_strerror(errno, errbuf, sizeof errbuf));
        *out_abs = join_path(cwd, path);
        free(cwd);
    }
    if (!*out_abs)
        return local_fail(err, LOCAL_E_NO_MEMORY, "out of memory");
    return LOCAL_OK;
}

/* mkdir -p abs with mode 0755. */
static local_status make_directories(const char *abs, local_error *err)
{
    char errbuf[128];
    char *copy = strdup(abs);
    if (!copy)
        return local_fail(err, LOCAL_E_NO_MEMORY, "out of memory");
    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            local_fail(err, LOCAL_E_IO, "cannot create storage root directory %s: %s", copy,
                       local_strerror(e, errbuf, sizeof errbuf));
            free(copy);
            return LOCAL_E_IO;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    free(copy);
    return LOCAL_OK;
}

local_status local_root_open(const char *abs, bool create, local_root *out, local_error *err)
{
    char errbuf[128];
    struct stat st;
    memset(out, 0, sizeof *out);
    if (stat(abs, &st) != 0) {
        int e = errno;
        if (e == ENOENT && create) {
            local_status status = make_directories(abs, err);
            if (status != LOCAL_OK)
                return status;
            if (stat(abs, &st) != 0)
                return local_fail(err, LOCAL_E_IO, "storage root %s: %s", abs,
                                  local_strerror(errno, errbuf, sizeof errbuf));
        } else if (e == ENOENT) {
            return local_fail(err, LOCAL_E_NOT_FOUND,
                              "storage root %s does not exist (create it, or set "
                              "create_root: true)",
                              abs);
        } else {
            return local_fail(err, local_status_from_errno(e), "storage root %s: %s", abs,
                              local_strerror(e, errbuf, sizeof errbuf));
        }
    }
    if (!S_ISDIR(st.st_mode))
        return local_fail(err, LOCAL_E_INVALID, "storage root %s is not a directory", abs);

    bool escaped;
    out->real = realpath(abs, NULL);
    if (!out->real) {
        int e = errno;
        return local_fail(err, local_status_from_errno(e), "storage root %s: %s", abs,
                          local_strerror(e, errbuf, sizeof errbuf));
    }
    out->given = normalise_lexically(abs, strlen(abs), &escaped);
    if (!out->given) {
        local_root_free(out);
        return local_fail(err, LOCAL_E_NO_MEMORY, "out of memory");
    }
    return LOCAL_OK;
}

void local_root_free(local_root *root)
{
    if (!root)
        return;
    free(root->given);
    free(root->real);
    root->given = root->real = NULL;
}

local_status local_name_parse(const local_root *root, const char *url, size_t len,
                              char **out_rel, local_error *err)
{
    *out_rel = NULL;
    if (len == 0)
        return local_fail(err, LOCAL_E_INVALID,
                          "storage name is empty: give a path under the storage root or a "
                          "file:///absolute/path URL");
    if (memchr(url, '\0', len))
        return local_fail(err, LOCAL_E_INVALID, "storage name \"%s\" contains a NUL byte",
                          url);

    const char *path = url;
    size_t path_len = len;
    if (len >= 5 && strncasecmp(url, "file:", 5) == 0) {
        if (len < 7 || url[5] != '/' || url[6] != '/')
            return local_fail(err, LOCAL_E_INVALID,
                              "\"%s\": a file: URL must have the form file:///absolute/path",
                              url);
        path = url + 7;
        path_len = len - 7;
        if (path_len == 0 || path[0] != '/')
            return local_fail(err, LOCAL_E_INVALID,
                              "\"%s\": file: URLs are absolute (file:///absolute/path); a "
                              "host or a relative name after file:// is not allowed",
                              url);
    } else {
        size_t scheme = scheme_length(url, len);
        if (scheme > 0)
            return local_fail(err, LOCAL_E_INVALID,
                              "\"%s\": scheme \"%.*s\" is not served by the local storage "
                              "backend (it takes file:///absolute/path URLs and plain paths)",
                              url, (int)scheme, url);
    }

    if (path[path_len - 1] == '/')
        return local_fail(err, LOCAL_E_INVALID,
                          "\"%s\" ends with '/': it names a directory, not a file", url);
    const char *last = path + path_len;
    while (last > path && last[-1] != '/')
        last--;
    size_t last_len = (size_t)(path + path_len - last);
    if ((last_len == 1 && last[0] == '.') || (last_len == 2 && last[0] == '.' && last[1] == '.'))
        return local_fail(err, LOCAL_E_INVALID,
                          "\"%s\" ends with \"%.*s\": it names a directory, not a file", url,
                          (int)last_len, last);
    for (const char *p = path; p < path + path_len;) {
        const char *slash = memchr(p, '/', (size_t)(path + path_len - p));
        const char *end = slash ? slash : path + path_len;
        if (end - p > NAME_MAX)
            return local_fail(err, LOCAL_E_INVALID,
                              "\"%s\": a path component is longer than %d bytes", url,
                              NAME_MAX);
        p = end + 1;
    }

    bool escaped = false;
    char *norm = normalise_lexically(path, path_len, &escaped);
    if (!norm && escaped)
        return local_fail(err, LOCAL_E_INVALID,
                          "\"%s\": \"..\" would lead outside the storage root", url);
    if (!norm)
        return local_fail(err, LOCAL_E_NO_MEMORY, "out of memory");

    const char *rel = norm;
    if (norm[0] == '/') {
        /* The configured spelling of the root is accepted as well as its real path, so a
         * root reached through a symlink can be named either way. */
        rel = strip_root(norm, root->real);
        if (!rel)
            rel = strip_root(norm, root->given);
        if (!rel) {
            local_fail(err, LOCAL_E_INVALID,
                       "\"%s\" is outside the storage root %s: absolute paths must lie under "
                       "the root",
                       url, root->real);
            free(norm);
            return LOCAL_E_INVALID;
        }
    }
    if (rel[0] == '\0') {
        free(norm);
        return local_fail(err, LOCAL_E_INVALID,
                          "\"%s\" names the storage root itself, not a file", url);
    }
    *out_rel = strdup(rel);
    free(norm);
    if (!*out_rel)
        return local_fail(err, LOCAL_E_NO_MEMORY, "out of memory");
    if (strlen(root->real) + 1 + strlen(*out_rel) >= PATH_MAX) {
        free(*out_rel);
        *out_rel = NULL;
        return local_fail(err, LOCAL_E_INVALID, "\"%s\": the path is longer than %d bytes",
                          url, PATH_MAX - 1);
    }
    return LOCAL_OK;
}

static local_status fsync_directory(const char *dir, local_error *err)
{
    char errbuf[128];
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return local_fail(err, LOCAL_E_IO, "cannot fsync directory %s: %s", dir,
                          local_strerror(e, errbuf, sizeof errbuf));
    }
    close(fd);
    return LOCAL_OK;
}

/* Resolve the symlink at link_path; it must lead inside the root. *out_real is malloc'd. */
static local_status resolve_symlink(const local_root *root, const char *url,
                                    const char *link_path, local_access access,
                                    char **out_real, local_error *err)
{
    char errbuf[128];
    *out_real = realpath(link_path, NULL);
    if (!*out_real) {
        int e = errno;
        if (e == ENOMEM)
            return local_fail(err, LOCAL_E_NO_MEMORY, "out of memory");
        if (access == LOCAL_FOR_READ)
            return local_fail(err, local_status_from_errno(e), "cannot read \"%s\": %s: %s",
                              url, link_path, local_strerror(e, errbuf, sizeof errbuf));
        return local_fail(err, LOCAL_E_INVALID,
                          "\"%s\": %s is a symlink that cannot be resolved (%s); symlinks in a "
                          "storage name must lead to existing places inside the root",
                          url, link_path, local_strerror(e, errbuf, sizeof errbuf));
    }
    if (!local_path_is_under(*out_real, root->real)) {
        local_fail(err, LOCAL_E_INVALID,
                   "\"%s\": %s is a symlink to %s, outside the storage root %s; symlinks may "
                   "only lead inside the root",
                   url, link_path, *out_real, root->real);
        free(*out_real);
        *out_real = NULL;
        return LOCAL_E_INVALID;
    }
    return LOCAL_OK;
}

/* Step from directory *cur (real) into its component comp, creating it for writes. On
 * success *cur is replaced by the real path of the child directory. */
static local_status enter_directory(const local_root *root, const char *url,
                                    const char *display, char **cur, const char *comp,
                                    local_access access, bool durable, local_error *err)
{
    char errbuf[128];
    struct stat st;
    char *candidate = join_path(*cur, comp);
    if (!candidate)
        return local_fail(err, LOCAL_E_NO_MEMORY, "out of memory");

    for (int attempt = 0;; attempt++) {
        if (lstat(candidate, &st) == 0)
            break;
        int e = errno;
        if (e != ENOENT || access == LOCAL_FOR_READ || attempt > 0) {
            local_status status;
            if (access == LOCAL_FOR_READ)
                status = local_fail(err, local_status_from_errno(e),
                                    "cannot read \"%s\": %s: %s", url, display,
                                    local_strerror(e, errbuf, sizeof errbuf));
            else
                status = local_fail(err, LOCAL_E_IO, "cannot write \"%s\": %s: %s", url,
                                    candidate, local_strerror(e, errbuf, sizeof errbuf));
            free(candidate);
            return status;
        }
        /* EEXIST means a concurrent writer made it first: look again at what is there. */
        if (mkdir(candidate, 0755) != 0 && errno != EEXIST) {
            e = errno;
            local_fail(err, LOCAL_E_IO, "cannot write \"%s\": cannot create directory %s: %s",
                       url, candidate, local_strerror(e, errbuf, sizeof errbuf));
            free(candidate);
            return LOCAL_E_IO;
        }
        if (durable) {
            local_status status = fsync_directory(*cur, err);
            if (status != LOCAL_OK) {
                free(candidate);
                return status;
            }
        }
    }

    if (S_ISLNK(st.st_mode)) {
        char *real;
        local_status status = resolve_symlink(root, url, candidate, access, &real, err);
        free(candidate);
        if (status != LOCAL_OK)
            return status;
        candidate = real;
        if (stat(candidate, &st) != 0)
            st.st_mode = 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (access == LOCAL_FOR_READ)
            local_fail(err, LOCAL_E_NOT_FOUND, "cannot read \"%s\": %s: %s", url, display,
                       local_strerror(ENOTDIR, errbuf, sizeof errbuf));
        else
            local_fail(err, LOCAL_E_IO, "cannot write \"%s\": %s exists and is not a directory",
                       url, candidate);
        free(candidate);
        return access == LOCAL_FOR_READ ? LOCAL_E_NOT_FOUND : LOCAL_E_IO;
    }
    free(*cur);
    *cur = candidate;
    return LOCAL_OK;
}

local_status local_target_resolve(const local_root *root, const char *url, const char *rel,
                                  local_access access, bool durable, local_target *out,
                                  local_error *err)
{
    char errbuf[128];
    memset(out, 0, sizeof *out);
    char *rel_copy = strdup(rel);
    char *display = join_path(root->real, rel);
    char *cur = strdup(root->real);
    local_status status = LOCAL_OK;
    if (!rel_copy || !display || !cur) {
        status = local_fail(err, LOCAL_E_NO_MEMORY, "out of memory");
        goto done;
    }

    /* Every component but the last is a directory to walk into. */
    char *name = rel_copy;
    for (char *slash; (slash = strchr(name, '/')) != NULL; name = slash + 1) {
        *slash = '\0';
        status = enter_directory(root, url, display, &cur, name, access, durable, err);
        if (status != LOCAL_OK)
            goto done;
    }

    out->dir = cur;
    cur = NULL;
    out->name = strdup(name);
    out->path = join_path(out->dir, name);
    if (!out->name || !out->path) {
        status = local_fail(err, LOCAL_E_NO_MEMORY, "out of memory");
        goto done;
    }

    struct stat st;
    if (lstat(out->path, &st) != 0) {
        int e = errno;
        if (access == LOCAL_FOR_READ || e != ENOENT)
            status = local_fail(err,
                                access == LOCAL_FOR_READ ? local_status_from_errno(e)
                                                         : LOCAL_E_IO,
                                "cannot %s \"%s\": %s: %s",
                                access == LOCAL_FOR_READ ? "read" : "write", url, out->path,
                                local_strerror(e, errbuf, sizeof errbuf));
    } else if (access == LOCAL_FOR_READ && S_ISLNK(st.st_mode)) {
        char *real;
        status = resolve_symlink(root, url, out->path, access, &real, err);
        if (status == LOCAL_OK) {
            free(out->path);
            out->path = real;
        }
    } else if (access == LOCAL_FOR_WRITE && S_ISDIR(st.st_mode)) {
        /* A symlink in the last place is fine for writes: rename replaces the link itself. */
        status = local_fail(err, LOCAL_E_INVALID,
                            "cannot write \"%s\": %s is a directory", url, out->path);
    }

done:
    if (status != LOCAL_OK)
        local_target_free(out);
    free(cur);
    free(display);
    free(rel_copy);
    return status;
}

local_status local_resolve(const local_root *root, const char *url, size_t len,
                           local_access access, bool durable, local_target *out,
                           local_error *err)
{
    char *rel;
    memset(out, 0, sizeof *out);
    local_status status = local_name_parse(root, url, len, &rel, err);
    if (status != LOCAL_OK)
        return status;
    status = local_target_resolve(root, url, rel, access, durable, out, err);
    free(rel);
    return status;
}

void local_target_free(local_target *target)
{
    if (!target)
        return;
    free(target->dir);
    free(target->name);
    free(target->path);
    target->dir = target->name = target->path = NULL;
}
