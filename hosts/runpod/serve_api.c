/* The local development API server. */
#include "serve_api.h"

#include "chunk_stream.h"
#include "job_exec.h"
#include "platform.h"
#include "rp_log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BODY (20u * 1024u * 1024u) /* the platform's /runsync limit */

typedef enum { ST_QUEUED, ST_RUNNING, ST_COMPLETED, ST_FAILED, ST_CANCELLED } api_status;
static const char *const status_names[] = {"IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED",
                                           "CANCELLED"};

typedef struct api_job {
    char id[64];
    char *webhook;
    cJSON *input;
    api_status status;
    cJSON *output;  /* when COMPLETED */
    char *error;    /* when FAILED: the error string */
    bool streamed;  /* /stream has handed the output out */
    bool streaming; /* the request asked to stream: /stream hands out pending items */
    cJSON *pending; /* stream items not yet handed out by /stream (array) */
    double exec_ms;
    job_ctl ctl;
    pthread_t thread;
    struct api_job *next;
} api_job;

typedef struct api_server {
    spark_pipeline *pipeline;
    pthread_mutex_t mu;
    pthread_cond_t done;
    api_job *jobs;
    unsigned long counter;
} api_server;

static bool finished(api_status s) { return s >= ST_COMPLETED; }

/* The job's record as /status shows it. Caller holds the lock. */
static cJSON *record(const api_job *j)
{
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", j->id);
    cJSON_AddStringToObject(r, "status", status_names[j->status]);
    if (finished(j->status))
        cJSON_AddNumberToObject(r, "executionTime", (double)(long)j->exec_ms);
    if (j->status == ST_COMPLETED && j->output)
        cJSON_AddItemToObject(r, "output", cJSON_Duplicate(j->output, true));
    if (j->status == ST_FAILED && j->error)
        cJSON_AddStringToObject(r, "error", j->error);
    return r;
}

static void post_webhook(const char *url, const char *job_id, const char *body)
{
    rp_http http;
    if (rp_http_init(&http, NULL) != 0)
        return;
    for (int attempt = 1; attempt <= 3; attempt++) {
        rp_response r;
        curl_easy_reset(http.curl);
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(http.curl, CURLOPT_URL, url);
        curl_easy_setopt(http.curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(http.curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(http.curl, CURLOPT_TIMEOUT, 10L);
        curl_easy_setopt(http.curl, CURLOPT_NOSIGNAL, 1L);
        memset(&r, 0, sizeof r);
        CURLcode rc = curl_easy_perform(http.curl);
        long status = 0;
        if (rc == CURLE_OK)
            curl_easy_getinfo(http.curl, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(h);
        if (status == 200) {
            rp_log(RP_DEBUG, job_id, "webhook delivered");
            break;
        }
        rp_log(RP_WARN, job_id, "webhook attempt %d of 3 failed (%s)", attempt,
               rc == CURLE_OK ? "HTTP status not 200" : curl_easy_strerror(rc));
        if (attempt < 3)
            rp_sleep_ms(1000);
    }
    rp_http_free(&http);
}

typedef struct run_arg {
    api_server *s;
    api_job *j;
} run_arg;

/* A streaming job's items wait in j->pending until /stream hands them out. */
static int queue_item(void *user, cJSON *item)
{
    run_arg *ra = user;
    pthread_mutex_lock(&ra->s->mu);
    cJSON_AddItemToArray(ra->j->pending, item);
    pthread_mutex_unlock(&ra->s->mu);
    return 0;
}

static void *run_job(void *arg)
{
    run_arg ra = *(run_arg *)arg;
    api_server *s = ra.s;
    api_job *j = ra.j;
    free(arg);
    pthread_mutex_lock(&s->mu);
    if (j->status == ST_QUEUED)
        j->status = ST_RUNNING;
    pthread_mutex_unlock(&s->mu);
    job_outcome out;
    rp_chunk_stream cs = {.sink = queue_item, .user = &ra};
    job_stream_hook hook = {rp_chunk_stream_take, &cs};
    job_exec_run(s->pipeline, j->id, j->input, &j->ctl, NULL, NULL, j->pending ? &hook : NULL,
                 &out);
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(out.body, "output");
    cJSON *last = out.streamed && result ? rp_chunk_stream_result_item(&cs, result) : NULL;
    pthread_mutex_lock(&s->mu);
    if (last)
        cJSON_AddItemToArray(j->pending, last);
    j->exec_ms = out.seconds * 1000.0;
    if (j->status != ST_CANCELLED) {
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(out.body, "error");
        if (cJSON_IsString(err)) {
            j->status = ST_FAILED;
            j->error = strdup(err->valuestring);
        } else {
            j->status = ST_COMPLETED;
            j->output = cJSON_DetachItemFromObjectCaseSensitive(out.body, "output");
        }
    }
    char *body = NULL;
    if (j->webhook) {
        cJSON *rec = record(j);
        body = cJSON_PrintUnformatted(rec);
        cJSON_Delete(rec);
    }
    pthread_cond_broadcast(&s->done);
    pthread_mutex_unlock(&s->mu);
    cJSON_Delete(out.body);
    if (body) {
        post_webhook(j->webhook, j->id, body);
        free(body);
    }
    return NULL;
}

/* ---- HTTP plumbing ---------------------------------------------------------------------- */

typedef struct upload {
    char *data;
    size_t len;
    bool too_big;
} upload;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text)
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned code, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    return reply(c, code, o);
}

static api_job *find_job(api_server *s, const char *id)
{
    for (api_job *j = s->jobs; j; j = j->next)
        if (strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

/* /run and /runsync: check the body, make the job and start it. */
static enum MHD_Result start_job(api_server *s, struct MHD_Connection *c, const upload *u,
                                 bool sync)
{
    if (u->too_big)
        return reply_error(c, 413, "the request body is over 20 MB");
    cJSON *doc = u->data ? cJSON_Parse(u->data) : NULL;
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(doc, "input");
    const cJSON *webhook = cJSON_GetObjectItemCaseSensitive(doc, "webhook");
    if (!cJSON_IsObject(input) || (webhook && !cJSON_IsString(webhook))) {
        cJSON_Delete(doc);
        return reply_error(c, MHD_HTTP_BAD_REQUEST,
                           "the body must be JSON {\"input\": {...}, \"webhook\"?: \"url\"}");
    }
    api_job *j = calloc(1, sizeof *j);
    run_arg *arg = malloc(sizeof *arg);
    if (!j || !arg) {
        free(j);
        free(arg);
        cJSON_Delete(doc);
        return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    job_ctl_init(&j->ctl);
    j->input = cJSON_DetachItemFromObjectCaseSensitive(doc, "input");
    j->streaming = job_wants_stream(s->pipeline, j->input);
    j->pending = j->streaming ? cJSON_CreateArray() : NULL;
    j->webhook = webhook ? strdup(webhook->valuestring) : NULL;
    cJSON_Delete(doc);
    pthread_mutex_lock(&s->mu);
    snprintf(j->id, sizeof j->id, "%s-%lu-%lx", sync ? "sync" : "test", ++s->counter,
             (unsigned long)time(NULL));
    j->next = s->jobs;
    s->jobs = j;
    *arg = (run_arg){s, j};
    if (pthread_create(&j->thread, NULL, run_job, arg) != 0) {
        free(arg);
        j->status = ST_FAILED;
        j->error = strdup("{\"type\":\"internal_error\",\"message\":\"cannot start a thread\"}");
        j->thread = pthread_self(); /* marks "no thread to join" */
    }
    if (sync)
        while (!finished(j->status))
            pthread_cond_wait(&s->done, &s->mu);
    cJSON *r = sync ? record(j) : cJSON_CreateObject();
    if (!sync) {
        cJSON_AddStringToObject(r, "id", j->id);
        cJSON_AddStringToObject(r, "status", status_names[j->status]);
    }
    pthread_mutex_unlock(&s->mu);
    return reply(c, MHD_HTTP_OK, r);
}

static enum MHD_Result job_route(api_server *s, struct MHD_Connection *c, const char *route,
                                 const char *id)
{
    pthread_mutex_lock(&s->mu);
    api_job *j = find_job(s, id);
    if (!j) {
        pthread_mutex_unlock(&s->mu);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "error", "job id not found");
        return reply(c, MHD_HTTP_NOT_FOUND, o);
    }
    cJSON *r;
    if (strcmp(route, "status") == 0) {
        r = record(j);
    } else if (strcmp(route, "stream") == 0) {
        r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "id", j->id);
        cJSON_AddStringToObject(r, "status", status_names[j->status]);
        cJSON *stream = cJSON_AddArrayToObject(r, "stream");
        if (j->pending) {
            /* A streaming job: the items not handed out yet, {"output": item} each. */
            cJSON *item;
            while ((item = cJSON_DetachItemFromArray(j->pending, 0)) != NULL) {
                cJSON *chunk = cJSON_CreateObject();
                cJSON_AddItemToObject(chunk, "output", item);
                cJSON_AddItemToArray(stream, chunk);
            }
        } else if (j->status == ST_COMPLETED && !j->streamed && j->output) {
            /* The whole output is one chunk, handed out once when the job completes. */
            cJSON *chunk = cJSON_CreateObject();
            cJSON_AddItemToObject(chunk, "output", cJSON_Duplicate(j->output, true));
            cJSON_AddItemToArray(stream, chunk);
            j->streamed = true;
        }
        if (j->status == ST_FAILED && j->error)
            cJSON_AddStringToObject(r, "error", j->error);
    } else { /* cancel */
        if (!finished(j->status)) {
            j->status = ST_CANCELLED;
            job_ctl_cancel(&j->ctl);
            rp_log(RP_INFO, j->id, "cancelled through the API");
        }
        r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "id", j->id);
        cJSON_AddStringToObject(r, "status", status_names[j->status]);
    }
    pthread_mutex_unlock(&s->mu);
    return reply(c, MHD_HTTP_OK, r);
}

static enum MHD_Result health(api_server *s, struct MHD_Connection *c)
{
    int counts[5] = {0};
    pthread_mutex_lock(&s->mu);
    for (api_job *j = s->jobs; j; j = j->next)
        counts[j->status]++;
    pthread_mutex_unlock(&s->mu);
    cJSON *r = cJSON_CreateObject();
    cJSON *jobs = cJSON_AddObjectToObject(r, "jobs");
    cJSON_AddNumberToObject(jobs, "completed", counts[ST_COMPLETED]);
    cJSON_AddNumberToObject(jobs, "failed", counts[ST_FAILED]);
    cJSON_AddNumberToObject(jobs, "cancelled", counts[ST_CANCELLED]);
    cJSON_AddNumberToObject(jobs, "inProgress", counts[ST_RUNNING]);
    cJSON_AddNumberToObject(jobs, "inQueue", counts[ST_QUEUED]);
    cJSON_AddNumberToObject(jobs, "retried", 0);
    cJSON *workers = cJSON_AddObjectToObject(r, "workers");
    cJSON_AddNumberToObject(workers, "idle", counts[ST_RUNNING] ? 0 : 1);
    cJSON_AddNumberToObject(workers, "running", counts[ST_RUNNING] ? 1 : 0);
    return reply(c, MHD_HTTP_OK, r);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *data_size, void **con_cls)
{
    (void)version;
    api_server *s = cls;
    upload *u = *con_cls;
    if (!u) {
        u = calloc(1, sizeof *u);
        if (!u)
            return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*data_size) {
        if (u->len + *data_size > MAX_BODY) {
            u->too_big = true;
        } else if (!u->too_big) {
            char *grown = realloc(u->data, u->len + *data_size + 1);
            if (!grown)
                return MHD_NO;
            u->data = grown;
            memcpy(u->data + u->len, data, *data_size);
            u->len += *data_size;
            u->data[u->len] = '\0';
        }
        *data_size = 0;
        return MHD_YES;
    }
    bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    if (strcmp(url, "/run") == 0 || strcmp(url, "/runsync") == 0) {
        if (!post)
            return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
        return start_job(s, c, u, url[4] == 's');
    }
    if (strcmp(url, "/health") == 0)
        return get ? health(s, c) : reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
    static const char *const routes[] = {"status", "stream", "cancel"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(routes[i]);
        if (url[0] == '/' && strncmp(url + 1, routes[i], n) == 0 && url[n + 1] == '/' &&
            url[n + 2]) {
            if (!post && !(get && i < 2))
                return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                                   i < 2 ? "use GET or POST" : "use POST");
            return job_route(s, c, routes[i], url + n + 2);
        }
    }
    return reply_error(c, MHD_HTTP_NOT_FOUND,
                       "unknown route; try /run, /runsync, /status/ID, /stream/ID, /cancel/ID, "
                       "/health");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)c, (void)code;
    upload *u = *con_cls;
    if (u) {
        free(u->data);
        free(u);
    }
    *con_cls = NULL;
}

int rp_serve_api(spark_pipeline *pipeline, const char *host, unsigned port)
{
    api_server s = {.pipeline = pipeline};
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.done, NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        rp_log(RP_ERROR, NULL, "--host needs an IPv4 address, not '%s'", host);
        return 2;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, handle, &s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
        MHD_OPTION_END);
    if (!d) {
        rp_log(RP_ERROR, NULL, "cannot listen on %s:%u (in use, or not an address here)", host,
               port);
        return 1;
    }
    rp_log(RP_INFO, NULL, "serving the local API on http://%s:%u (/run, /runsync, /status/ID, "
           "/stream/ID, /cancel/ID, /health)", host, port);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    sigwait(&set, &sig);
    rp_log(RP_INFO, NULL, "%s: stopping the API; waiting for the jobs in hand",
           sig == SIGTERM ? "SIGTERM" : "SIGINT");
    MHD_stop_daemon(d);
    pthread_t self = pthread_self();
    for (api_job *j = s.jobs, *next; j; j = next) {
        next = j->next;
        if (!pthread_equal(j->thread, self))
            pthread_join(j->thread, NULL);
        job_ctl_destroy(&j->ctl);
        cJSON_Delete(j->input);
        cJSON_Delete(j->output);
        cJSON_Delete(j->pending);
        free(j->error);
        free(j->webhook);
        free(j);
    }
    pthread_cond_destroy(&s.done);
    pthread_mutex_destroy(&s.mu);
    return 0;
}
