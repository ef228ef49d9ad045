/* Downloads a hub repository into a directory: parallel transfers, resumption of partial
 * files with Range requests, SHA-256 verification of LFS files, atomic placement (nothing
 * partial ever carries a final name), and a digest cache so complete files are not rehashed.
 *
 * Layout under DIR: the repository's files at their paths; DIR/.fetch.lock; and
 * DIR/.cache/sparkhost/<path>.part (a download in progress) and <path>.meta (what the file at
 * <path> is known to be: "sha256:<hex>" or "git:<blob id>", with its size, inode and mtime). */
#ifndef SPARK_DOWNLOAD_H
#define SPARK_DOWNLOAD_H

#include "fetch_lock.h"
#include "hub_client.h"

#define DOWNLOAD_CACHE_DIR ".cache/sparkhost"
#define DOWNLOAD_DEFAULT_JOBS 4
#define DOWNLOAD_MAX_JOBS 32

typedef struct download_progress {
    int64_t bytes_done;     /* of the files this run fetches, earlier partial data included */
    int64_t bytes_total;    /* the sum of their sizes (a file of unknown size counts 0) */
    int64_t bytes_received; /* over the network during this run: for a rate */
    size_t files_done, files_total;
} download_progress;

/* Called from the thread that called download_files, a few times a second and at the end. */
typedef void (*download_progress_fn)(void *user, const download_progress *p);

typedef struct download_request {
    const hub_config *hub;
    const char *repo;
    const char *revision; /* a commit id keeps every file from one snapshot */
    const char *dir;      /* exists; the caller holds its fetch lock */
    const hub_file *files;
    size_t count;
    int jobs; /* parallel transfers; <= 0: DOWNLOAD_DEFAULT_JOBS */
    download_progress_fn progress;
    void *progress_user;
} download_request;

typedef struct download_summary {
    size_t fetched, skipped; /* files downloaded; files already complete */
    int64_t bytes_fetched;   /* the size of the files downloaded */
} download_summary;

/* Downloads the files missing or incomplete in r->dir and leaves the others alone. On
 * failure the first error is reported; partial files stay in the cache for the next run
 * (except one that failed verification twice, which is deleted). */
hub_status download_files(const download_request *r, download_summary *summary, hub_error *err);

typedef struct fetch_request {
    const hub_config *hub;
    const char *repo;
    const char *revision;
    const char *dir; /* created if missing */
    bool only_inference;
    int jobs;
    download_progress_fn progress;
    void *progress_user;
    fetch_lock_wait_fn waiting; /* another process is fetching into dir */
    void *waiting_user;
} fetch_request;

typedef struct fetch_result {
    char commit[41]; /* the commit the revision resolved to, "" if the hub did not say */
    download_summary summary;
} fetch_result;

/* The whole fetch: list the repository, keep what inference needs if asked, create the
 * directory, take its lock, then download (re-checking what is complete under the lock). */
hub_status download_repo(const fetch_request *r, fetch_result *result, hub_error *err);

#endif
