/* Threads and bookkeeping of the deployed worker. */
#include "worker.h"

#include "chunk_stream.h"
#include "job_exec.h"
#include "rp_log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct taken_job {
    char *id;
    cJSON *input;  /* owned; NULL when the job came without one */
    job_ctl ctl;
    bool stopped;  /* the platform stopped it: never report it */
    bool started;
    struct taken_job *next_queued;
    struct taken_job *next_tracked;
} taken_job;

typedef struct worker {
    const rp_platform *pf;
    spark_pipeline *pipeline;
    rp_worker_options opt;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* queue, tracking or shutdown changed */
    taken_job *queue_head, *queue_tail;
    taken_job *tracked;     /* taken and not yet reported */
    size_t tracked_count;
    int running;
    bool taking_done;       /* the take loop has ended: job threads may leave when idle */
    atomic_bool all_done;   /* every job thread has ended */
    atomic_bool shutdown;
} worker;

static void lock(worker *w) { pthread_mutex_lock(&w->mu); }
static void unlock(worker *w) { pthread_mutex_unlock(&w->mu); }

static void free_job(taken_job *j)
{
    job_ctl_destroy(&j->ctl);
    cJSON_Delete(j->input);
    free(j->id);
    free(j);
}

/* Waits on w->changed for at most ms milliseconds. Caller holds the lock. */
static void wait_changed(worker *w, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&w->changed, &w->mu, &ts);
}

/* Sleeps, waking early when shutting down. */
static void pause_ms(worker *w, long ms)
{
    lock(w);
    if (!atomic_load(&w->shutdown))
        wait_changed(w, ms);
    unlock(w);
}

static void untrack(worker *w, taken_job *j)
{
    for (taken_job **pp = &w->tracked; *pp; pp = &(*pp)->next_tracked)
        if (*pp == j) {
            *pp = j->next_tracked;
            w->tracked_count--;
            break;
        }
}

/* The comma-separated ids of the tracked jobs, for the heartbeat. Caller holds the lock. */
static char *tracked_ids(worker *w)
{
    size_t len = 1;
    for (taken_job *j = w->tracked; j; j = j->next_tracked)
        len += strlen(j->id) + 1;
    char *s = calloc(1, len);
    if (!s)
        return NULL;
    for (taken_job *j = w->tracked; j; j = j->next_tracked) {
        if (*s)
            strcat(s, ",");
        strcat(s, j->id);
    }
    return s;
}

/* ---- job threads ------------------------------------------------------------------------ */

typedef struct progress_ctx {
    rp_http *http;
    const char *job_id;
    double last_fraction;
} progress_ctx;

static void post_progress(void *user, const char *engine_job_id, double fraction,
                          const char *node)
{
    (void)engine_job_id;
    progress_ctx *pc = user;
    if (fraction < pc->last_fraction + 0.05 && fraction < 1.0)
        return;
    pc->last_fraction = fraction;
    char body[256];
    snprintf(body, sizeof body, "{\"output\":{\"progress\":%.3f,\"node\":\"%s\"}}", fraction,
             node ? node : "");
    rp_post_stream(pc->http, pc->job_id, body);
}

/* Streamed items of one job: posted to the stream URL in order as {"output": item}. */
typedef struct stream_ctx {
    rp_http *http;
    const char *job_id;
} stream_ctx;

static int post_item(void *user, cJSON *item)
{
    stream_ctx *sc = user;
    cJSON *body = cJSON_CreateObject();
    char *text = NULL;
    if (body) {
        cJSON_AddItemToObject(body, "output", item);
        item = NULL;
        text = cJSON_PrintUnformatted(body);
    }
    cJSON_Delete(item);
    cJSON_Delete(body);
    bool ok = text && rp_post_stream(sc->http, sc->job_id, text);
    if (!ok)
        rp_log(RP_ERROR, sc->job_id, "a streamed piece could not be posted; stopping the job");
    free(text);
    return ok ? 0 : -1;
}

/* A streamed job's final body, as a generator's: the result goes to the stream as its last
 * item, and job-done gets the stream's aggregate without the audio pieces (which only the
 * stream can carry under the size limits): {"output": [result item]}. */
static void finish_streamed(rp_chunk_stream *cs, stream_ctx *sc, job_outcome *out)
{
    cJSON *output = cJSON_GetObjectItemCaseSensitive(out->body, "output");
    if (!output)
        return; /* an error body stays as it is */
    cJSON *item = rp_chunk_stream_result_item(cs, output);
    cJSON *aggregate = cJSON_CreateArray();
    if (!item || !aggregate) {
        cJSON_Delete(item);
        cJSON_Delete(aggregate);
        return;
    }
    cJSON_AddItemToArray(aggregate, cJSON_Duplicate(item, true));
    if (post_item(sc, item) != 0)
        rp_log(RP_WARN, sc->job_id, "the result item did not reach the stream");
    cJSON_ReplaceItemInObjectCaseSensitive(out->body, "output", aggregate);
}

static void *job_thread(void *arg)
{
    worker *w = arg;
    rp_http http;
    if (rp_http_init(&http, w->pf) != 0) {
        rp_log(RP_ERROR, NULL, "cannot create an HTTP handle for a job thread");
        return NULL;
    }
    for (;;) {
        lock(w);
        while (!w->queue_head && !w->taking_done)
            pthread_cond_wait(&w->changed, &w->mu);
        taken_job *j = w->queue_head;
        if (!j) { /* taking is over and nothing is left */
            unlock(w);
            break;
        }
        w->queue_head = j->next_queued;
        if (!w->queue_head)
            w->queue_tail = NULL;
        j->started = true;
        w->running++;
        unlock(w);

        rp_log(RP_INFO, j->id, "started");
        job_outcome out;
        progress_ctx pc = {.http = &http, .job_id = j->id, .last_fraction = -1};
        bool stream = w->opt.stream_progress && w->pf->stream_template;
        stream_ctx sc = {.http = &http, .job_id = j->id};
        rp_chunk_stream cs = {.sink = post_item, .user = &sc};
        job_stream_hook hook = {rp_chunk_stream_take, &cs};
        job_exec_run(w->pipeline, j->id, j->input, &j->ctl, stream ? post_progress : NULL, &pc,
                     w->pf->stream_template ? &hook : NULL, &out);
        if (out.streamed && out.body)
            finish_streamed(&cs, &sc, &out);
        stream = stream || out.streamed;
        lock(w);
        bool stopped = j->stopped;
        unlock(w);
        if (stopped) {
            rp_log(RP_INFO, j->id, "stopped by the platform after %.3f s; not reported",
                   out.seconds);
        } else {
            char *body = out.body ? cJSON_PrintUnformatted(out.body) : NULL;
            bool ok = rp_post_result(&http, j->id, body ? body : "{\"error\":\"out of memory\"}",
                                     stream);
            if (ok)
                rp_log(RP_DEBUG, j->id, "result delivered");
            free(body);
        }
        cJSON_Delete(out.body);
        lock(w);
        untrack(w, j);
        w->running--;
        pthread_cond_broadcast(&w->changed);
        unlock(w);
        free_job(j);
    }
    rp_http_free(&http);
    return NULL;
}

/* ---- taking jobs ------------------------------------------------------------------------ */

/* Queues one job object from job-take. A job without an id cannot be reported and is only
 * logged; one without an input is queued and fails with an error result. */
static void accept_job(worker *w, const cJSON *obj)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (!cJSON_IsString(id) || !*id->valuestring) {
        rp_log(RP_ERROR, NULL, "job-take returned a job without an id; it cannot be reported");
        return;
    }
    taken_job *j = calloc(1, sizeof *j);
    if (!j || !(j->id = strdup(id->valuestring))) {
        free(j);
        rp_log(RP_ERROR, id->valuestring, "out of memory taking the job");
        return;
    }
    job_ctl_init(&j->ctl);
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(obj, "input");
    j->input = input ? cJSON_Duplicate(input, true) : NULL;
    lock(w);
    for (taken_job *t = w->tracked; t; t = t->next_tracked)
        if (strcmp(t->id, j->id) == 0) { /* handed out twice: one run, one report */
            unlock(w);
            rp_log(RP_WARN, j->id, "job-take returned a job already in hand; ignored");
            free_job(j);
            return;
        }
    j->next_tracked = w->tracked;
    w->tracked = j;
    w->tracked_count++;
    if (w->queue_tail)
        w->queue_tail->next_queued = j;
    else
        w->queue_head = j;
    w->queue_tail = j;
    pthread_cond_broadcast(&w->changed);
    unlock(w);
    rp_log(RP_INFO, id->valuestring, "taken"); /* j may be done and freed by now */
}

static double mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void take_once(worker *w, rp_http *http, int wanted, bool in_progress)
{
    bool batch = wanted > 1 && w->pf->take_batch_url;
    char param[64];
    char *url;
    if (batch) {
        snprintf(param, sizeof param, "batch_size=%d&job_in_progress=%d", wanted, in_progress);
        url = rp_url_add_param(w->pf->take_batch_url, param);
    } else {
        snprintf(param, sizeof param, "job_in_progress=%d", in_progress);
        url = rp_url_add_param(w->pf->take_url, param);
    }
    if (!url) {
        pause_ms(w, w->pf->error_sleep_ms);
        return;
    }
    double start = mono_ms();
    rp_response r;
    rp_http_get(http, url, w->pf->take_timeout_ms, &r);
    free(url);
    double took = mono_ms() - start;
    if (r.rc == CURLE_OPERATION_TIMEDOUT && !r.body[0]) {
        rp_log(RP_DEBUG, NULL, "job-take long poll timed out");
    } else if (r.rc != CURLE_OK) {
        rp_log(RP_WARN, NULL, "job-take failed: %s", r.error);
        pause_ms(w, w->pf->error_sleep_ms);
    } else if (r.status == 204 || r.status == 400) {
        if (took < 100) /* the server did not hold the poll: do not hot-loop */
            pause_ms(w, w->pf->error_sleep_ms);
    } else if (r.status == 429) {
        rp_log(RP_WARN, NULL, "job-take: too many requests (HTTP 429); backing off");
        pause_ms(w, w->pf->backoff_429_ms);
    } else if (r.status < 200 || r.status >= 300) {
        rp_log(RP_WARN, NULL, "job-take answered HTTP %ld", r.status);
        pause_ms(w, w->pf->error_sleep_ms);
    } else if (r.len == 0) {
        if (took < 100)
            pause_ms(w, w->pf->error_sleep_ms);
    } else {
        cJSON *doc = cJSON_Parse(r.body);
        if (!doc) {
            rp_log(RP_WARN, NULL, "job-take answered malformed JSON (%zu bytes); ignored", r.len);
            pause_ms(w, w->pf->error_sleep_ms);
        } else if (cJSON_IsArray(doc)) {
            const cJSON *item;
            cJSON_ArrayForEach(item, doc) {
                if (cJSON_IsObject(item))
                    accept_job(w, item);
                else
                    rp_log(RP_WARN, NULL, "job-take batch held a non-object; ignored");
            }
        } else if (cJSON_IsObject(doc)) {
            accept_job(w, doc);
        } else {
            rp_log(RP_WARN, NULL, "job-take answered JSON that is no job; ignored");
        }
        cJSON_Delete(doc);
    }
    rp_response_free(&r);
}

static void take_loop(worker *w)
{
    rp_http http;
    if (rp_http_init(&http, w->pf) != 0) {
        rp_log(RP_ERROR, NULL, "cannot create an HTTP handle for job-take");
        return;
    }
    while (!atomic_load(&w->shutdown)) {
        lock(w);
        int queued = 0;
        for (taken_job *j = w->queue_head; j; j = j->next_queued)
            queued++;
        int wanted = w->opt.concurrency - queued - w->running;
        bool in_progress = w->tracked_count > 0;
        if (wanted <= 0) {
            wait_changed(w, 1000);
            unlock(w);
            continue;
        }
        unlock(w);
        take_once(w, &http, wanted, in_progress);
    }
    rp_http_free(&http);
}

/* ---- stop signals ----------------------------------------------------------------------- */

static void stop_job(worker *w, const char *id)
{
    lock(w);
    taken_job *found = NULL;
    for (taken_job *j = w->tracked; j; j = j->next_tracked)
        if (strcmp(j->id, id) == 0)
            found = j;
    if (found && !found->started) {
        /* Still queued: take it out; nobody else holds it. */
        for (taken_job **pp = &w->queue_head; *pp; pp = &(*pp)->next_queued)
            if (*pp == found) {
                *pp = found->next_queued;
                break;
            }
        w->queue_tail = NULL;
        for (taken_job *j = w->queue_head; j; j = j->next_queued)
            w->queue_tail = j;
        untrack(w, found);
        pthread_cond_broadcast(&w->changed);
        unlock(w);
        rp_log(RP_INFO, id, "stopped by the platform before it started; not reported");
        free_job(found);
        return;
    }
    if (found) {
        found->stopped = true;
        job_ctl_cancel(&found->ctl);
    }
    unlock(w);
    if (found)
        rp_log(RP_INFO, id, "stop signal: cancelling");
    else
        rp_log(RP_DEBUG, id, "stop signal for a job not in hand; ignored");
}

static void *stop_thread(void *arg)
{
    worker *w = arg;
    rp_http http;
    if (rp_http_init(&http, w->pf) != 0)
        return NULL;
    http.abort = &w->all_done;
    while (!atomic_load(&w->all_done)) {
        double start = mono_ms();
        rp_response r;
        rp_http_get(&http, w->pf->stop_url, w->pf->take_timeout_ms, &r);
        double took = mono_ms() - start;
        long sleep = 0;
        if (r.rc == CURLE_OK && r.status == 200 && r.len) {
            cJSON *doc = cJSON_Parse(r.body);
            const cJSON *ids = cJSON_GetObjectItemCaseSensitive(doc, "jobsToStop");
            const cJSON *id;
            cJSON_ArrayForEach(id, ids) {
                if (cJSON_IsString(id))
                    stop_job(w, id->valuestring);
            }
            if (!doc)
                sleep = w->pf->error_sleep_ms;
            cJSON_Delete(doc);
        } else if (r.rc == CURLE_OK && r.status == 429) {
            sleep = w->pf->backoff_429_ms;
        } else if (r.rc == CURLE_ABORTED_BY_CALLBACK) {
            sleep = 0;
        } else if (r.rc != CURLE_OK && r.rc != CURLE_OPERATION_TIMEDOUT) {
            rp_log(RP_DEBUG, NULL, "job-stop poll failed: %s", r.error);
            sleep = w->pf->error_sleep_ms;
        } else if (r.rc == CURLE_OK && r.status != 204 && (r.status < 200 || r.status >= 300)) {
            sleep = w->pf->error_sleep_ms;
        }
        if (!sleep && took < 100 && !atomic_load(&w->all_done))
            sleep = w->pf->error_sleep_ms;
        rp_response_free(&r);
        pause_ms(w, sleep);
    }
    rp_http_free(&http);
    return NULL;
}

/* ---- heartbeat -------------------------------------------------------------------------- */

/* Its own thread and handle: a busy job never delays it. Runs until every job thread ended. */
static void *ping_thread(void *arg)
{
    worker *w = arg;
    rp_http http;
    if (rp_http_init(&http, w->pf) != 0)
        return NULL;
    char version[64];
    snprintf(version, sizeof version, "runpod_version=sparkhost-%s", spark_engine_version());
    char *base = rp_url_add_param(w->pf->ping_url, version);
    http.abort = &w->all_done;
    double next = mono_ms();
    for (;;) {
        if (atomic_load(&w->all_done))
            break;
        lock(w);
        char *ids = tracked_ids(w);
        unlock(w);
        char *url = NULL;
        if (ids && *ids) {
            char *escaped = curl_easy_escape(http.curl, ids, 0);
            char *param = NULL;
            if (escaped && asprintf(&param, "job_id=%s", escaped) >= 0)
                url = rp_url_add_param(base, param);
            free(param);
            curl_free(escaped);
        }
        free(ids);
        rp_response r;
        rp_http_get(&http, url ? url : base, w->pf->ping_interval_ms * 2, &r);
        if (r.rc == CURLE_ABORTED_BY_CALLBACK)
            ;
        else if (r.rc != CURLE_OK)
            rp_log(RP_WARN, NULL, "heartbeat failed: %s", r.error);
        else if (r.status >= 300)
            rp_log(RP_WARN, NULL, "heartbeat answered HTTP %ld", r.status);
        rp_response_free(&r);
        free(url);
        /* Fixed schedule: a slow ping does not push the next one back. */
        next += (double)w->pf->ping_interval_ms;
        double now = mono_ms();
        if (next < now)
            next = now;
        lock(w);
        while (!atomic_load(&w->all_done) && mono_ms() < next)
            wait_changed(w, (long)(next - mono_ms()) + 1);
        unlock(w);
    }
    free(base);
    rp_http_free(&http);
    return NULL;
}

/* ---- signals and the whole --------------------------------------------------------------- */

typedef struct signal_ctx {
    worker *w;
    sigset_t set;
} signal_ctx;

static void *signal_thread(void *arg)
{
    signal_ctx *s = arg;
    int sig = 0;
    while (sigwait(&s->set, &sig) == 0) {
        if (sig == SIGUSR2) /* our own wake-up: the worker is over */
            break;
        bool first = !atomic_exchange(&s->w->shutdown, true);
        lock(s->w);
        size_t in_hand = s->w->tracked_count;
        pthread_cond_broadcast(&s->w->changed);
        unlock(s->w);
        if (first)
            rp_log(RP_INFO, NULL, "%s: no more jobs will be taken; finishing the %zu in hand",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT", in_hand);
    }
    return NULL;
}

int rp_worker_run(const rp_platform *pf, spark_pipeline *pipeline, const rp_worker_options *o)
{
    worker w = {.pf = pf, .pipeline = pipeline, .opt = *o};
    if (w.opt.concurrency < 1)
        w.opt.concurrency = 1;
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.changed, NULL);
    atomic_init(&w.shutdown, false);
    atomic_init(&w.all_done, false);

    signal_ctx sc = {.w = &w};
    sigemptyset(&sc.set);
    sigaddset(&sc.set, SIGTERM);
    sigaddset(&sc.set, SIGINT);
    sigaddset(&sc.set, SIGUSR2);
    pthread_t sig_tid, ping_tid, stop_tid;
    bool sig_ok = pthread_create(&sig_tid, NULL, signal_thread, &sc) == 0;
    bool ping_ok = pf->ping_url && pthread_create(&ping_tid, NULL, ping_thread, &w) == 0;
    bool stop_ok = pf->stop_url && pthread_create(&stop_tid, NULL, stop_thread, &w) == 0;
    pthread_t *jobs = calloc((size_t)w.opt.concurrency, sizeof *jobs);
    int started = 0;
    for (int i = 0; jobs && i < w.opt.concurrency; i++)
        if (pthread_create(&jobs[started], NULL, job_thread, &w) == 0)
            started++;
    int rc = 0;
    if (started == 0) {
        rp_log(RP_ERROR, NULL, "cannot start any job thread");
        rc = 1;
        atomic_store(&w.shutdown, true);
    } else {
        rp_log(RP_INFO, NULL, "worker %s ready: taking up to %d job%s at once", pf->worker_id,
               started, started == 1 ? "" : "s");
        w.opt.concurrency = started;
        take_loop(&w);
    }

    lock(&w);
    w.taking_done = true;
    pthread_cond_broadcast(&w.changed);
    unlock(&w);
    for (int i = 0; i < started; i++)
        pthread_join(jobs[i], NULL);
    free(jobs);
    lock(&w);
    atomic_store(&w.all_done, true);
    pthread_cond_broadcast(&w.changed);
    unlock(&w);
    rp_log(RP_INFO, NULL, "every job in hand is reported");
    if (ping_ok)
        pthread_join(ping_tid, NULL);
    if (stop_ok)
        pthread_join(stop_tid, NULL);
    if (sig_ok) {
        pthread_kill(sig_tid, SIGUSR2);
        pthread_join(sig_tid, NULL);
    }
    pthread_cond_destroy(&w.changed);
    pthread_mutex_destroy(&w.mu);
    return rc;
}
