/* The downloader: a small pool of threads, each with its own libcurl handle, taking files
 * biggest first. See download.h for the directory layout. */
#include "download.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define PROGRESS_INTERVAL_MS 200

typedef struct job {
    const hub_file *file;
    char *target; /* DIR/<path> */
    char *part;   /* DIR/.cache/sparkhost/<path>.part */
    char *meta;   /* DIR/.cache/sparkhost/<path>.meta */
} job;

typedef struct pool {
    const download_request *req;
    job *jobs; /* the files to fetch, biggest first */
    size_t count;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next, running, files_done; /* under mu */
    hub_error err;                    /* the first failure, under mu */
    atomic_bool abort;
    atomic_llong bytes_done, bytes_received;
} pool;

/* One file's transfer state, shared with libcurl's callbacks. */
typedef struct transfer {
    pool *pl;
    const job *jb;
    int fd;
    int64_t size; /* bytes in the part file, all of them hashed into md */
    EVP_MD_CTX *md;
    hub_response resp;
    bool body_seen;
    bool bad_range;
    int write_errno;
} transfer;

/* ---- small file-system helpers ---- */

static char *join3(const char *a, const char *b, const char *c)
{
    char *s;
    return asprintf(&s, "%s%s%s", a, b, c) < 0 ? NULL : s;
}

/* Creates every directory above `path` (or `path` itself when `self`). */
static bool make_dirs(const char *path, bool self)
{
    char *p = strdup(path);
    if (!p)
        return false;
    size_t n = strlen(p);
    if (!self) {
        char *slash = strrchr(p, '/');
        n = slash ? (size_t)(slash - p) : 0;
        p[n] = '\0';
    }
    bool ok = true;
    for (size_t i = 1; i <= n && ok; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            ok = false;
        p[i] = saved;
    }
    free(p);
    return ok;
}

/* A rename is durable only once its directory is synced. */
static bool sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return false;
    int fd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return false;
    bool ok = fsync(fd) == 0 || errno == EINVAL; /* some file systems cannot sync directories */
    close(fd);
    return ok;
}

static void digest_hex(EVP_MD_CTX *md, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(md, d, &n);
    for (unsigned int i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    out[64] = '\0';
}

/* Feeds the first `limit` bytes of fd into md. */
static bool hash_fd(int fd, int64_t limit, EVP_MD_CTX *md)
{
    static const size_t chunk = 1 << 20;
    unsigned char *buf = malloc(chunk);
    if (!buf)
        return false;
    int64_t off = 0;
    bool ok = true;
    while (ok && off < limit) {
        size_t want = limit - off < (int64_t)chunk ? (size_t)(limit - off) : chunk;
        ssize_t n = pread(fd, buf, want, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO; /* the file shrank under us */
            ok = false;
            break;
        }
        EVP_DigestUpdate(md, buf, (size_t)n);
        off += n;
    }
    free(buf);
    return ok;
}

static bool sha256_path(const char *path, int64_t size, char out[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 && hash_fd(fd, size, md);
    if (ok)
        digest_hex(md, out);
    EVP_MD_CTX_free(md);
    close(fd);
    return ok;
}

/* ---- the digest cache ---- */

/* What the listing says the file is; "" when it gives no identity. */
static void file_identity(const hub_file *f, char *id, size_t cap)
{
    if (f->sha256[0])
        snprintf(id, cap, "sha256:%s", f->sha256);
    else if (f->blob_id[0])
        snprintf(id, cap, "git:%s", f->blob_id);
    else
        id[0] = '\0';
}

/* True when the record describes exactly this file (size, inode, mtime); its id is copied. */
static bool meta_read(const char *meta, const struct stat *st, char *id, size_t cap)
{
    FILE *fp = fopen(meta, "re");
    if (!fp)
        return false;
    char rec_id[80];
    long long size, mtime_s;
    unsigned long long ino;
    long mtime_ns;
    int n = fscanf(fp, "%79s %lld %llu %lld %ld", rec_id, &size, &ino, &mtime_s, &mtime_ns);
    fclose(fp);
    if (n != 5 || size != (long long)st->st_size || ino != (unsigned long long)st->st_ino ||
        mtime_s != (long long)st->st_mtim.tv_sec || mtime_ns != st->st_mtim.tv_nsec)
        return false;
    snprintf(id, cap, "%s", rec_id);
    return true;
}

/* Best effort: without the record the next run only has to hash the file again. */
static void meta_write(const hub_config *c, const char *meta, const char *target, const char *id)
{
    struct stat st;
    if (!id[0] || stat(target, &st) != 0)
        return;
    char *tmp = join3(meta, ".tmp", "");
    if (!tmp || !make_dirs(meta, false)) {
        free(tmp);
        return;
    }
    FILE *fp = fopen(tmp, "we");
    bool ok = fp && fprintf(fp, "%s %lld %llu %lld %ld\n", id, (long long)st.st_size,
                            (unsigned long long)st.st_ino, (long long)st.st_mtim.tv_sec,
                            st.st_mtim.tv_nsec) > 0;
    if (fp && fclose(fp) != 0)
        ok = false;
    if (!ok || rename(tmp, meta) != 0) {
        hub_log(c, HUB_LOG_DEBUG, "cannot record the digest of %s in %s", target, meta);
        unlink(tmp);
    }
    free(tmp);
}

/* Whether the target already holds this version of the file. */
static bool job_complete(const hub_config *c, const job *jb)
{
    const hub_file *f = jb->file;
    struct stat st;
    if (stat(jb->target, &st) != 0 || !S_ISREG(st.st_mode) || f->size < 0 ||
        st.st_size != f->size)
        return false;
    char want[80], have[80];
    file_identity(f, want, sizeof want);
    bool recorded = meta_read(jb->meta, &st, have, sizeof have);
    if (f->sha256[0]) {
        if (recorded && strncmp(have, "sha256:", 7) == 0)
            return strcmp(have, want) == 0;
        hub_log(c, HUB_LOG_INFO, "checking %s (no cached digest)", f->path);
        char got[65];
        if (!sha256_path(jb->target, f->size, got) || strcmp(got, f->sha256) != 0)
            return false;
        meta_write(c, jb->meta, jb->target, want);
        return true;
    }
    /* A small git file: the size must match, and a record of another version means stale. */
    if (recorded && want[0] && strncmp(have, "git:", 4) == 0)
        return strcmp(have, want) == 0;
    return true;
}

/* ---- one transfer ---- */

static bool restart_part(transfer *t)
{
    atomic_fetch_sub(&t->pl->bytes_done, t->size);
    t->size = 0;
    return ftruncate(t->fd, 0) == 0 && EVP_DigestInit_ex(t->md, EVP_sha256(), NULL) == 1;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *user)
{
    transfer *t = user;
    size_t n = size * nmemb;
    hub_response_header(&t->resp, ptr, n);
    if (n > 5 && strncmp(ptr, "HTTP/", 5) == 0)
        t->body_seen = false; /* a new response starts */
    return n;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    transfer *t = user;
    size_t n = size * nmemb;
    if (atomic_load(&t->pl->abort))
        return 0;
    long status = t->resp.status;
    if (status != 200 && status != 206)
        return n; /* an error page, not file content */
    if (!t->body_seen) {
        t->body_seen = true;
        if (status == 206 && t->resp.range_start != t->size) {
            t->bad_range = true;
            return 0;
        }
        /* A 200 to a Range request is the whole file again. */
        if (status == 200 && t->size > 0 && !restart_part(t)) {
            t->write_errno = errno;
            return 0;
        }
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = pwrite(t->fd, ptr + done, n - done, t->size + (int64_t)done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            t->write_errno = errno;
            return 0;
        }
        done += (size_t)w;
    }
    EVP_DigestUpdate(t->md, ptr, n);
    t->size += (int64_t)n;
    atomic_fetch_add(&t->pl->bytes_done, (long long)n);
    atomic_fetch_add(&t->pl->bytes_received, (long long)n);
    return n;
}

static int on_xfer(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                   curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    transfer *t = user;
    return atomic_load(&t->pl->abort) ? 1 : 0;
}

typedef enum { T_DONE, T_RETRY, T_FAIL } outcome;

static outcome part_failure(transfer *t, hub_error *err, const char *doing, int errnum)
{
    hub_fail(err, HUB_ERR_IO, "%s: cannot %s %s: %s", t->jb->file->path, doing, t->jb->part,
             strerror(errnum));
    return T_FAIL;
}

/* One HTTP attempt. On T_RETRY, `why` says what went wrong and *retry_after what the server
 * asked for (-1: nothing). */
static outcome transfer_once(CURL *h, transfer *t, const char *url, bool resumable, char *why,
                             size_t why_cap, long *retry_after, hub_error *err)
{
    const download_request *r = t->pl->req;
    const hub_file *f = t->jb->file;
    *retry_after = -1;
    if (!resumable && t->size > 0 && !restart_part(t))
        return part_failure(t, err, "truncate", errno);
    char range[32];
    snprintf(range, sizeof range, "%lld-", (long long)t->size);
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';
    hub_response_reset(&t->resp);
    t->body_seen = t->bad_range = false;
    t->write_errno = 0;
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_RANGE, t->size > 0 ? range : NULL);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_xfer);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, t);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL); /* errbuf dies with this frame */
    if (t->write_errno)
        return part_failure(t, err, "write", t->write_errno);
    if (t->bad_range) {
        snprintf(why, why_cap, "the server resumed at byte %lld instead of %lld",
                 (long long)t->resp.range_start, (long long)t->size);
        if (!restart_part(t))
            return part_failure(t, err, "truncate", errno);
        return T_RETRY;
    }
    if (rc != CURLE_OK) {
        snprintf(why, why_cap, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        if (atomic_load(&t->pl->abort) || hub_transient(rc, 0))
            return T_RETRY;
        hub_network_error(err, rc, errbuf, f->path);
        return T_FAIL;
    }
    long status = t->resp.status;
    if (status == 200 || status == 206)
        return T_DONE;
    snprintf(why, why_cap, "HTTP %ld", status);
    if (status == 416 && t->size > 0) { /* our part is longer than the file: start over */
        if (!restart_part(t))
            return part_failure(t, err, "truncate", errno);
        return T_RETRY;
    }
    if (hub_transient(CURLE_OK, status)) {
        *retry_after = t->resp.retry_after_s;
        return T_RETRY;
    }
    hub_http_error(r->hub, err, &t->resp, r->repo, r->revision, f->path);
    return T_FAIL;
}

static bool is_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == 64;
}

/* Sleeps in slices, so an abort elsewhere is noticed. */
static void backoff_sleep(pool *pl, long ms)
{
    while (ms > 0 && !atomic_load(&pl->abort)) {
        long slice = ms < 100 ? ms : 100;
        hub_sleep_ms(slice);
        ms -= slice;
    }
}

/* Places the verified part under its final name: data synced, renamed, directory synced. */
static hub_status place(transfer *t, hub_error *err)
{
    const hub_config *c = t->pl->req->hub;
    const job *jb = t->jb;
    if (fsync(t->fd) != 0)
        return hub_fail(err, HUB_ERR_IO, "%s: cannot sync %s: %s", jb->file->path, jb->part,
                        strerror(errno));
    unlink(jb->meta); /* the old record must not outlive the old file */
    if (rename(jb->part, jb->target) != 0)
        return hub_fail(err, HUB_ERR_IO, "%s: cannot rename %s to %s: %s", jb->file->path,
                        jb->part, jb->target, strerror(errno));
    if (!sync_parent_dir(jb->target))
        return hub_fail(err, HUB_ERR_IO, "%s: cannot sync the directory of %s: %s",
                        jb->file->path, jb->target, strerror(errno));
    char id[80];
    file_identity(jb->file, id, sizeof id);
    meta_write(c, jb->meta, jb->target, id);
    return HUB_OK;
}

static hub_status fetch_job(pool *pl, CURL *h, const job *jb, hub_error *err)
{
    const download_request *r = pl->req;
    const hub_config *c = r->hub;
    const hub_file *f = jb->file;
    /* Only files with a digest resume: for them a stale or foreign prefix is caught. */
    const bool resumable = f->sha256[0] != '\0';
    if (!make_dirs(jb->part, false) || !make_dirs(jb->target, false))
        return hub_fail(err, HUB_ERR_IO, "%s: cannot create the directories for %s: %s", f->path,
                        jb->target, strerror(errno));
    transfer t = {.pl = pl, .jb = jb, .fd = -1};
    hub_response_reset(&t.resp);
    char *url = hub_resolve_url(c, r->repo, r->revision, f->path);
    t.md = EVP_MD_CTX_new();
    if (!url || !t.md || EVP_DigestInit_ex(t.md, EVP_sha256(), NULL) != 1) {
        free(url);
        EVP_MD_CTX_free(t.md);
        return hub_fail(err, HUB_ERR_INTERNAL, "out of memory");
    }
    hub_status st = HUB_OK;
    struct stat sb;
    t.fd = open(jb->part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (t.fd < 0 || fstat(t.fd, &sb) != 0) {
        st = hub_fail(err, HUB_ERR_IO, "%s: cannot open %s: %s", f->path, jb->part,
                      strerror(errno));
        goto out;
    }
    t.size = sb.st_size;
    if (!resumable || (f->size >= 0 && t.size > f->size)) {
        if (ftruncate(t.fd, 0) != 0) {
            st = hub_fail(err, HUB_ERR_IO, "%s: cannot truncate %s: %s", f->path, jb->part,
                          strerror(errno));
            goto out;
        }
        t.size = 0;
    } else if (t.size > 0) {
        hub_log(c, HUB_LOG_INFO, "%s: resuming at byte %lld", f->path, (long long)t.size);
        if (!hash_fd(t.fd, t.size, t.md)) {
            st = hub_fail(err, HUB_ERR_IO, "%s: cannot read %s: %s", f->path, jb->part,
                          strerror(errno));
            goto out;
        }
    }
    atomic_fetch_add(&pl->bytes_done, t.size);

    const int max_attempts = c->max_attempts > 0 ? c->max_attempts : 1;
    int stalled = 0;   /* consecutive failed attempts that brought no data */
    int attempts = 0;  /* all failed attempts, bounded even when each brings a little */
    int mismatches = 0;
    for (;;) {
        char why[CURL_ERROR_SIZE + 64] = "";
        long retry_after = -1;
        int64_t before = t.size;
        outcome o = resumable && f->size >= 0 && t.size == f->size
                        ? T_DONE /* a previous run got every byte but did not place it */
                        : transfer_once(h, &t, url, resumable, why, sizeof why, &retry_after, err);
        if (o == T_FAIL) {
            st = err->status;
            break;
        }
        if (atomic_load(&pl->abort)) {
            st = hub_fail(err, HUB_ERR_INTERNAL, "%s: stopped after another file failed",
                          f->path);
            break;
        }
        if (o == T_RETRY) {
            attempts++;
            stalled = t.size > before ? 1 : stalled + 1;
            if (stalled >= max_attempts || attempts >= 10 * max_attempts) {
                st = hub_fail(err, strncmp(why, "HTTP ", 5) == 0 ? HUB_ERR_HTTP : HUB_ERR_NETWORK,
                              "%s: %s (gave up after %d attempts)", f->path, why, attempts);
                break;
            }
            long wait = hub_backoff_ms(c, stalled, retry_after);
            hub_log(c, HUB_LOG_INFO, "%s: %s; retrying in %.1f s", f->path, why, wait / 1000.0);
            backoff_sleep(pl, wait);
            continue;
        }
        /* Every byte is in: check the size, and the digest where one is known (the listing's,
         * else the hub's X-Linked-Etag, which is the SHA-256 of an LFS file). */
        int64_t want_size = f->size >= 0 ? f->size : t.resp.linked_size;
        const char *want = f->sha256[0]        ? f->sha256
                           : is_hex64(t.resp.linked_etag) ? t.resp.linked_etag
                                                          : NULL;
        char got[65];
        digest_hex(t.md, got);
        char problem[sizeof err->message - 64] = "";
        if (want_size >= 0 && t.size != want_size)
            snprintf(problem, sizeof problem, "size mismatch for %s: expected %lld bytes, got %lld",
                     f->path, (long long)want_size, (long long)t.size);
        else if (want && strcmp(want, got) != 0)
            snprintf(problem, sizeof problem,
                     "checksum mismatch for %s: expected sha256 %s, got %s", f->path, want, got);
        if (problem[0]) {
            if (!restart_part(&t)) {
                st = hub_fail(err, HUB_ERR_IO, "%s: cannot truncate %s: %s", f->path, jb->part,
                              strerror(errno));
                break;
            }
            if (++mismatches >= 2) {
                unlink(jb->part);
                st = hub_fail(err, HUB_ERR_CHECKSUM, "%s (downloaded twice; the partial file "
                              "was deleted)", problem);
                break;
            }
            hub_log(c, HUB_LOG_WARN, "%s; downloading it again", problem);
            continue;
        }
        st = place(&t, err);
        break;
    }
out:
    if (t.fd >= 0)
        close(t.fd);
    if (st != HUB_OK && !resumable)
        unlink(jb->part); /* it would start over anyway */
    EVP_MD_CTX_free(t.md);
    free(url);
    return st;
}

/* ---- the pool ---- */

static void *worker_main(void *arg)
{
    pool *pl = arg;
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *headers = NULL;
    hub_error err = {0};
    CURL *h = hub_easy_new(pl->req->hub, errbuf, &headers, &err);
    while (h) {
        pthread_mutex_lock(&pl->mu);
        if (atomic_load(&pl->abort) || pl->next >= pl->count) {
            pthread_mutex_unlock(&pl->mu);
            break;
        }
        const job *jb = &pl->jobs[pl->next++];
        pthread_mutex_unlock(&pl->mu);
        memset(&err, 0, sizeof err);
        hub_status st = fetch_job(pl, h, jb, &err);
        /* A bad or missing file concerns that file only: the others still complete, so the
         * next run has less to do. Anything else (network, token, disk) would fail them all
         * the same way, so everything stops. */
        bool file_only = st == HUB_ERR_CHECKSUM || st == HUB_ERR_NOT_FOUND;
        pthread_mutex_lock(&pl->mu);
        if (st == HUB_OK)
            pl->files_done++;
        else if (pl->err.status == HUB_OK)
            pl->err = err; /* the first failure is the one reported ... */
        else if (file_only)
            hub_log(pl->req->hub, HUB_LOG_WARN, "%s", err.message); /* ... others are logged */
        if (st != HUB_OK && !file_only)
            atomic_store(&pl->abort, true);
        pthread_cond_broadcast(&pl->cv);
        pthread_mutex_unlock(&pl->mu);
        memset(&err, 0, sizeof err);
    }
    pthread_mutex_lock(&pl->mu);
    if (err.status != HUB_OK && pl->err.status == HUB_OK) { /* no handle */
        pl->err = err;
        atomic_store(&pl->abort, true);
    }
    pl->running--;
    pthread_cond_broadcast(&pl->cv);
    pthread_mutex_unlock(&pl->mu);
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    return NULL;
}

static void report(pool *pl, int64_t total, size_t files_total)
{
    if (!pl->req->progress)
        return;
    pthread_mutex_lock(&pl->mu);
    download_progress p = {
        .bytes_done = atomic_load(&pl->bytes_done),
        .bytes_total = total,
        .bytes_received = atomic_load(&pl->bytes_received),
        .files_done = pl->files_done,
        .files_total = files_total,
    };
    pthread_mutex_unlock(&pl->mu);
    pl->req->progress(pl->req->progress_user, &p);
}

static int by_size_desc(const void *a, const void *b)
{
    int64_t x = ((const job *)a)->file->size, y = ((const job *)b)->file->size;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void free_job(job *jb)
{
    free(jb->target);
    free(jb->part);
    free(jb->meta);
    memset(jb, 0, sizeof *jb);
}

/* Refuses early when the file system plainly lacks room for what is left to download. */
static hub_status check_space(const download_request *r, const job *jobs, size_t n,
                              hub_error *err)
{
    int64_t needed = 0;
    for (size_t i = 0; i < n; i++) {
        const hub_file *f = jobs[i].file;
        if (f->size < 0)
            continue;
        struct stat st;
        int64_t have = f->sha256[0] && stat(jobs[i].part, &st) == 0 ? st.st_size : 0;
        needed += have < f->size ? f->size - have : 0;
    }
    struct statvfs vfs;
    /* Some network and FUSE file systems report no block counts; trust nothing then. */
    if (statvfs(r->dir, &vfs) != 0 || vfs.f_blocks == 0)
        return HUB_OK;
    int64_t avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    if (avail < needed)
        return hub_fail(err, HUB_ERR_IO,
                        "not enough space in %s: %lld MiB to download, %lld MiB free", r->dir,
                        (long long)(needed >> 20), (long long)(avail >> 20));
    return HUB_OK;
}

hub_status download_files(const download_request *r, download_summary *summary, hub_error *err)
{
    memset(summary, 0, sizeof *summary);
    hub_status st = hub_global_init(err);
    if (st != HUB_OK)
        return st;
    pool pl = {.req = r};
    pl.jobs = calloc(r->count ? r->count : 1, sizeof *pl.jobs);
    if (!pl.jobs)
        return hub_fail(err, HUB_ERR_INTERNAL, "out of memory");
    char *cache = join3(r->dir, "/", DOWNLOAD_CACHE_DIR "/");
    if (!cache) {
        free(pl.jobs);
        return hub_fail(err, HUB_ERR_INTERNAL, "out of memory");
    }
    /* Under the lock, so what another process finished meanwhile counts as complete. */
    for (size_t i = 0; i < r->count; i++) {
        job *jb = &pl.jobs[pl.count];
        jb->file = &r->files[i];
        jb->target = join3(r->dir, "/", jb->file->path);
        jb->part = join3(cache, jb->file->path, ".part");
        jb->meta = join3(cache, jb->file->path, ".meta");
        if (!jb->target || !jb->part || !jb->meta) {
            st = hub_fail(err, HUB_ERR_INTERNAL, "out of memory");
            free_job(jb);
            goto out;
        }
        if (job_complete(r->hub, jb)) {
            hub_log(r->hub, HUB_LOG_DEBUG, "%s: already complete", jb->file->path);
            summary->skipped++;
            free_job(jb);
            continue;
        }
        pl.count++;
    }
    qsort(pl.jobs, pl.count, sizeof *pl.jobs, by_size_desc);
    int64_t total = 0;
    for (size_t i = 0; i < pl.count; i++)
        total += pl.jobs[i].file->size > 0 ? pl.jobs[i].file->size : 0;
    if ((st = check_space(r, pl.jobs, pl.count, err)) != HUB_OK)
        goto out;

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pl.cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&pl.mu, NULL);
    int jobs = r->jobs > 0 ? r->jobs : DOWNLOAD_DEFAULT_JOBS;
    if (jobs > DOWNLOAD_MAX_JOBS)
        jobs = DOWNLOAD_MAX_JOBS;
    size_t nthreads = pl.count < (size_t)jobs ? pl.count : (size_t)jobs;
    pthread_t threads[DOWNLOAD_MAX_JOBS];
    size_t started = 0;
    report(&pl, total, pl.count);
    pthread_mutex_lock(&pl.mu);
    for (; started < nthreads; started++) {
        if (pthread_create(&threads[started], NULL, worker_main, &pl) != 0)
            break; /* fewer threads still finish the work */
        pl.running++;
    }
    while (pl.running > 0) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += PROGRESS_INTERVAL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pl.cv, &pl.mu, &until);
        pthread_mutex_unlock(&pl.mu);
        report(&pl, total, pl.count);
        pthread_mutex_lock(&pl.mu);
    }
    pthread_mutex_unlock(&pl.mu);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    report(&pl, total, pl.count);
    pthread_cond_destroy(&pl.cv);
    pthread_mutex_destroy(&pl.mu);

    if (pl.err.status != HUB_OK) {
        st = hub_fail(err, pl.err.status, "%s", pl.err.message);
    } else if (started == 0 && pl.count > 0) {
        st = hub_fail(err, HUB_ERR_INTERNAL, "cannot start a download thread");
    } else {
        summary->fetched = pl.files_done;
        for (size_t i = 0; i < pl.count; i++)
            summary->bytes_fetched += pl.jobs[i].file->size > 0 ? pl.jobs[i].file->size : 0;
    }
out:
    for (size_t i = 0; i < pl.count; i++)
        free_job(&pl.jobs[i]);
    free(pl.jobs);
    free(cache);
    return st;
}

/* ---- the whole fetch ---- */

hub_status download_repo(const fetch_request *r, fetch_result *result, hub_error *err)
{
    memset(result, 0, sizeof *result);
    if (!hub_repo_id_valid(r->repo))
        return hub_fail(err, HUB_ERR_NOT_FOUND, "'%s' is not a repository id (owner/name)",
                        r->repo);
    hub_listing l;
    hub_status st = hub_list(r->hub, r->repo, r->revision, &l, err);
    if (st != HUB_OK)
        return st;
    if (r->only_inference) {
        const char *missing = hub_missing_inference_file(&l);
        if (missing) {
            st = hub_fail(err, HUB_ERR_NOT_FOUND,
                          "%s at revision %s has no %s, which inference needs", r->repo,
                          r->revision, missing);
            goto out;
        }
        size_t kept = 0;
        for (size_t i = 0; i < l.count; i++) {
            if (hub_is_inference_file(l.files[i].path))
                l.files[kept++] = l.files[i];
            else
                free(l.files[i].path);
        }
        l.count = kept;
    }
    if (l.commit)
        snprintf(result->commit, sizeof result->commit, "%s", l.commit);
    if (!make_dirs(r->dir, true)) {
        st = hub_fail(err, HUB_ERR_IO, "cannot create %s: %s", r->dir, strerror(errno));
        goto out;
    }
    fetch_lock lock;
    if ((st = fetch_lock_acquire(&lock, r->dir, r->waiting, r->waiting_user, err)) != HUB_OK)
        goto out;
    download_request dr = {
        .hub = r->hub,
        .repo = r->repo,
        .revision = l.commit ? l.commit : r->revision,
        .dir = r->dir,
        .files = l.files,
        .count = l.count,
        .jobs = r->jobs,
        .progress = r->progress,
        .progress_user = r->progress_user,
    };
    st = download_files(&dr, &result->summary, err);
    fetch_lock_release(&lock);
out:
    hub_listing_free(&l);
    return st;
}
