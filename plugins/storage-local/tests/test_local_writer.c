/* Atomic writes of the local storage backend: nothing at the target before commit, exact
 * bytes after, nothing at all after abort, atomic overwrite, and concurrent writers (with a
 * concurrent reader) that always leave one complete version. */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local_path.h"
#include "local_read.h"
#include "local_writer.h"
#include "temp_dir.h"

static char *base;
static local_root root;

static unsigned char *make_content(size_t size, unsigned seed)
{
    unsigned char *bytes = malloc(size);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < size; i++) {
        x = x * 1664525u + 1013904223u;
        bytes[i] = (unsigned char)(x >> 24);
    }
    return bytes;
}

static local_writer *begin(const char *name, bool durable)
{
    local_target target;
    local_error err = {0};
    local_writer *writer = NULL;
    if (local_resolve(&root, name, strlen(name), LOCAL_FOR_WRITE, durable, &target, &err) !=
        LOCAL_OK) {
        fprintf(stderr, "resolve %s: %s\n", name, err.message);
        return NULL;
    }
    if (local_writer_begin(&target, durable, local_default_file_mode(), &writer, &err) !=
        LOCAL_OK)
        fprintf(stderr, "begin %s: %s\n", name, err.message);
    local_target_free(&target);
    return writer;
}

/* Write in uneven chunks, to exercise appends. */
static int write_all(local_writer *writer, const unsigned char *bytes, size_t size)
{
    local_error err;
    size_t done = 0, chunk = 1;
    while (done < size) {
        size_t n = size - done < chunk ? size - done : chunk;
        if (local_writer_write(writer, bytes + done, n, &err) != LOCAL_OK) {
            fprintf(stderr, "write: %s\n", err.message);
            return -1;
        }
        done += n;
        chunk = chunk * 3 + 7;
    }
    return 0;
}

static void test_atomic_write(void)
{
    char *dir = path_join(root.real, "atomic");
    char *target = path_join(dir, "a.bin");
    size_t size = 200000;
    unsigned char *content = make_content(size, 1);

    local_writer *writer = begin("atomic/a.bin", true);
    CHECK(writer != NULL);
    CHECK_STR_EQ(local_writer_path(writer), target);
    CHECK(write_all(writer, content, size / 2) == 0);
    /* Mid-write: no target, exactly one temporary file beside it. */
    CHECK(!path_exists(target));
    CHECK_INT_EQ(dir_count(dir), 1);
    CHECK_INT_EQ(dir_count_matching(dir, ".a.bin.", ".part"), 1);
    CHECK(write_all(writer, content + size / 2, size - size / 2) == 0);
    CHECK(!path_exists(target));

    local_error err;
    CHECK_INT_EQ(local_writer_commit(writer, &err), LOCAL_OK);
    size_t got_size = 0;
    char *got = file_read(target, &got_size);
    CHECK(got != NULL);
    CHECK_INT_EQ(got_size, size);
    CHECK(got && memcmp(got, content, size) == 0);
    CHECK_INT_EQ(dir_count(dir), 1); /* only the target: the temporary file became it */
    struct stat st;
    CHECK(stat(target, &st) == 0);
    CHECK_INT_EQ(st.st_mode & 0777, local_default_file_mode());
    free(got);

    /* An empty object is an object too. */
    writer = begin("atomic/empty.txt", false);
    CHECK(writer != NULL);
    CHECK_INT_EQ(local_writer_commit(writer, &err), LOCAL_OK);
    char *empty = path_join(dir, "empty.txt");
    CHECK(stat(empty, &st) == 0 && st.st_size == 0);
    free(empty);

    free(content);
    free(target);
    free(dir);
}

static void test_abort(void)
{
    char *dir = path_join(root.real, "aborted");
    unsigned char *content = make_content(5000, 2);
    local_writer *writer = begin("aborted/x.wav", true);
    CHECK(writer != NULL);
    CHECK(write_all(writer, content, 5000) == 0);
    CHECK_INT_EQ(dir_count(dir), 1);
    local_writer_abort(writer);
    CHECK_INT_EQ(dir_count(dir), 0); /* no file, no temporary file */
    local_writer_abort(NULL);        /* harmless */
    free(content);
    free(dir);
}

static void test_overwrite(void)
{
    char *target = path_join(root.real, "over.txt");
    CHECK(file_write(target, "old content", 11) == 0);
    local_writer *writer = begin("over.txt", true);
    CHECK(writer != NULL);
    CHECK(write_all(writer, (const unsigned char *)"new content, longer", 19) == 0);
    /* Until commit, readers see the old version in full. */
    char *got = file_read(target, NULL);
    CHECK_STR_EQ(got, "old content");
    free(got);
    local_error err;
    CHECK_INT_EQ(local_writer_commit(writer, &err), LOCAL_OK);
    got = file_read(target, NULL);
    CHECK_STR_EQ(got, "new content, longer");
    free(got);

    /* Aborting an overwrite keeps the old version. */
    writer = begin("over.txt", true);
    CHECK(write_all(writer, (const unsigned char *)"discarded", 9) == 0);
    local_writer_abort(writer);
    got = file_read(target, NULL);
    CHECK_STR_EQ(got, "new content, longer");
    free(got);
    CHECK_INT_EQ(dir_count_matching(root.real, ".over.txt.", ".part"), 0);
    free(target);
}

static void test_long_name(void)
{
    /* A name of NAME_MAX bytes still gets a temporary file (its stem is shortened). */
    char name[256];
    memset(name, 'n', 255);
    name[255] = '\0';
    local_writer *writer = begin(name, false);
    CHECK(writer != NULL);
    CHECK(write_all(writer, (const unsigned char *)"x", 1) == 0);
    local_error err;
    CHECK_INT_EQ(local_writer_commit(writer, &err), LOCAL_OK);
    char *target = path_join(root.real, name);
    CHECK(path_exists(target));
    free(target);
}

/* Concurrency: four writers commit different contents to one target again and again while
 * a reader keeps reading it; every read and the final file must be one whole version. */
enum { WRITERS = 4, ROUNDS = 25 };
static unsigned char *versions[WRITERS];
static size_t version_sizes[WRITERS];
static atomic_int writers_left;
static atomic_int bad_reads;
static atomic_int good_reads;
static atomic_int writer_failures;

static int matches_a_version(const unsigned char *bytes, size_t size)
{
    for (int v = 0; v < WRITERS; v++)
        if (size == version_sizes[v] && memcmp(bytes, versions[v], size) == 0)
            return 1;
    return 0;
}

static void *writer_thread(void *arg)
{
    int v = (int)(intptr_t)arg;
    for (int round = 0; round < ROUNDS; round++) {
        local_writer *writer = begin("shared/target.bin", round % 2 == 0);
        local_error err;
        if (!writer || write_all(writer, versions[v], version_sizes[v]) != 0 ||
            local_writer_commit(writer, &err) != LOCAL_OK)
            atomic_fetch_add(&writer_failures, 1);
    }
    atomic_fetch_sub(&writers_left, 1);
    return NULL;
}

typedef struct read_buffer {
    unsigned char *bytes;
    uint64_t size;
} read_buffer;

static int read_alloc(void *ctx, uint64_t size, uint8_t **out)
{
    read_buffer *buffer = ctx;
    buffer->bytes = malloc(size ? size : 1);
    buffer->size = size;
    *out = buffer->bytes;
    return buffer->bytes ? 0 : -1;
}

static void *reader_thread(void *arg)
{
    const char *path = arg;
    while (atomic_load(&writers_left) > 0) {
        read_buffer buffer = {0};
        local_error err;
        local_status status = local_read_file(path, "shared/target.bin", read_alloc, &buffer, &err);
        if (status == LOCAL_OK) {
            if (matches_a_version(buffer.bytes, buffer.size))
                atomic_fetch_add(&good_reads, 1);
            else
                atomic_fetch_add(&bad_reads, 1);
        } else if (status != LOCAL_E_NOT_FOUND) {
            atomic_fetch_add(&bad_reads, 1);
        }
        free(buffer.bytes);
    }
    return NULL;
}

static void test_concurrent_writers(void)
{
    for (int v = 0; v < WRITERS; v++) {
        version_sizes[v] = 70000 + (size_t)v * 3001;
        versions[v] = make_content(version_sizes[v], 100 + (unsigned)v);
    }
    char *dir = path_join(root.real, "shared");
    char *target = path_join(dir, "target.bin");
    atomic_store(&writers_left, WRITERS);

    pthread_t writers[WRITERS], reader;
    CHECK(pthread_create(&reader, NULL, reader_thread, target) == 0);
    for (int v = 0; v < WRITERS; v++)
        CHECK(pthread_create(&writers[v], NULL, writer_thread, (void *)(intptr_t)v) == 0);
    for (int v = 0; v < WRITERS; v++)
        pthread_join(writers[v], NULL);
    pthread_join(reader, NULL);

    CHECK_INT_EQ(atomic_load(&writer_failures), 0);
    CHECK_INT_EQ(atomic_load(&bad_reads), 0);
    size_t size = 0;
    char *got = file_read(target, &size);
    CHECK(got && matches_a_version((unsigned char *)got, size));
    CHECK_INT_EQ(dir_count(dir), 1); /* no temporary file left by anyone */
    fprintf(stderr, "concurrent: %d whole reads during the writes\n", atomic_load(&good_reads));
    free(got);
    for (int v = 0; v < WRITERS; v++)
        free(versions[v]);
    free(target);
    free(dir);
}

int main(void)
{
    base = temp_dir_create();
    CHECK(base != NULL);
    local_error err;
    CHECK_INT_EQ(local_root_open(base, false, &root, &err), LOCAL_OK);
    test_atomic_write();
    test_abort();
    test_overwrite();
    test_long_name();
    test_concurrent_writers();
    local_root_free(&root);
    temp_dir_remove(base);
    free(base);
    return CHECK_DONE();
}
