/* s3_client_tool - drives s3_client from the integration tests. Configuration from the
 * AWS environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,
 * AWS_ENDPOINT_URL) plus S3_TOOL_ADDRESSING (path|virtual), S3_TOOL_RESOLVE (curl resolve
 * pin), S3_TOOL_THRESHOLD, S3_TOOL_PART_SIZE, S3_TOOL_THREADS, S3_TOOL_ATTEMPTS.
 *
 *   put BUCKET KEY FILE (read into memory first) | putfile BUCKET KEY FILE (parts read from
 *   the file) | get BUCKET KEY FILE | getto BUCKET KEY FILE (into memory sized by the
 *   response, s3_get_to) | head BUCKET KEY | delete BUCKET KEY
 *   presign GET|PUT BUCKET KEY EXPIRES | geturl URL FILE
 * Errors go to stderr as the client words them; exit status 1. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3_client.h"

static void log_line(void *user, int level, const char *message)
{
    (void)user;
    fprintf(stderr, "s3 [%d] %s\n", level, message);
}

static long env_long(const char *name, long fallback)
{
    const char *value = getenv(name);
    return value && value[0] ? atol(value) : fallback;
}

static bool read_file(const char *path, s3_buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char chunk[1 << 16];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        s3_buf_append(out, chunk, n);
    bool ok = !ferror(f) && s3_buf_ok(out);
    fclose(f);
    return ok;
}

static bool write_file(const char *path, const s3_buf *data)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data->data ? data->data : "", 1, data->len, f) == data->len;
    return fclose(f) == 0 && ok;
}

/* An s3_sink over an s3_buf: exactly size bytes, reused when a retry asks for the same. */
static uint8_t *reserve_buf(void *user, uint64_t size)
{
    s3_buf *buf = user;
    s3_buf_reset(buf);
    if (!s3_buf_reserve(buf, (size_t)size))
        return NULL;
    buf->len = (size_t)size;
    buf->data[size] = '\0';
    return (uint8_t *)buf->data;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: s3_client_tool put|putfile|get|getto|head|delete|presign|geturl ...\n");
        return 2;
    }
    const char *addressing = getenv("S3_TOOL_ADDRESSING");
    const char *region = getenv("AWS_REGION");
    s3_client_config config = {
        .endpoint = getenv("AWS_ENDPOINT_URL"),
        .region = region ? region : "us-east-1",
        .access_key_id = getenv("AWS_ACCESS_KEY_ID"),
        .secret_access_key = getenv("AWS_SECRET_ACCESS_KEY"),
        .session_token = getenv("AWS_SESSION_TOKEN"),
        .addressing = !addressing ? S3_ADDRESSING_AUTO
                      : strcmp(addressing, "virtual") == 0 ? S3_ADDRESSING_VIRTUAL
                                                           : S3_ADDRESSING_PATH,
        .resolve = getenv("S3_TOOL_RESOLVE"),
        .connect_timeout_ms = 5000,
        .request_timeout_ms = env_long("S3_TOOL_REQUEST_TIMEOUT_MS", 120000),
        .low_speed_bytes = 1024,
        .low_speed_seconds = 30,
        .max_attempts = (int)env_long("S3_TOOL_ATTEMPTS", 4),
        .total_timeout_ms = 300000,
        .backoff_base_s = 0.05,
        .backoff_cap_s = 1.0,
        .multipart_threshold = (uint64_t)env_long("S3_TOOL_THRESHOLD", 16 << 20),
        .part_size = (uint64_t)env_long("S3_TOOL_PART_SIZE", 8 << 20),
        .upload_threads = (int)env_long("S3_TOOL_THREADS", 4),
        .log = log_line,
    };
    s3_error err;
    s3_client *client = s3_client_new(&config, &err);
    if (!client) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    const char *command = argv[1];
    bool ok = false;
    s3_buf data;
    s3_buf_init(&data);
    s3_object_info info = {0};
    if (strcmp(command, "put") == 0 && argc == 5) {
        ok = read_file(argv[4], &data) &&
             s3_put(client, argv[2], argv[3], data.data, data.len, "application/octet-stream",
                    NULL, &info, &err);
        if (ok)
            printf("etag %s\n", info.etag);
    } else if (strcmp(command, "putfile") == 0 && argc == 5) {
        int fd = open(argv[4], O_RDONLY);
        struct stat st;
        ok = fd >= 0 && fstat(fd, &st) == 0 &&
             s3_put_file(client, argv[2], argv[3], fd, (uint64_t)st.st_size,
                         "application/octet-stream", NULL, &info, &err);
        if (fd >= 0)
            close(fd);
        if (ok)
            printf("etag %s\n", info.etag);
    } else if (strcmp(command, "get") == 0 && argc == 5) {
        ok = s3_get(client, argv[2], argv[3], (uint64_t)1 << 34, NULL, &data, &info, &err) &&
             write_file(argv[4], &data);
    } else if (strcmp(command, "getto") == 0 && argc == 5) {
        const s3_sink sink = {reserve_buf, &data};
        ok = s3_get_to(client, argv[2], argv[3], (uint64_t)1 << 34, NULL, &sink, &info, &err) &&
             info.size == data.len && write_file(argv[4], &data);
    } else if (strcmp(command, "head") == 0 && argc == 4) {
        ok = s3_head(client, argv[2], argv[3], &info, &err);
        if (ok)
            printf("size %llu etag %s\n", (unsigned long long)info.size, info.etag);
    } else if (strcmp(command, "delete") == 0 && argc == 4) {
        ok = s3_delete(client, argv[2], argv[3], &err);
    } else if (strcmp(command, "presign") == 0 && argc == 6) {
        ok = s3_presign_url(client, argv[2], argv[3], argv[4], atol(argv[5]), &data, &err);
        if (ok)
            printf("%s\n", s3_buf_str(&data));
    } else if (strcmp(command, "geturl") == 0 && argc == 4) {
        ok = s3_get_url(client, argv[2], (uint64_t)1 << 34, NULL, &data, &err) &&
             write_file(argv[3], &data);
    } else {
        fprintf(stderr, "s3_client_tool: bad arguments\n");
        s3_client_free(client);
        return 2;
    }
    if (!ok)
        fprintf(stderr, "error: %s\n", err.message[0] ? err.message : "local I/O failed");
    s3_buf_free(&data);
    s3_client_free(client);
    return ok ? 0 : 1;
}
