/* Runs one job through the activated graph on the calling thread. Nodes begin in
 * dependency order; packets travel along links through bounded per-port queues and are
 * pumped depth first, so the first piece of output leaves the graph as early as possible;
 * end of stream and failures travel as link status. Every begun node gets job_end with the
 * job's outcome, downstream last, so sinks commit only when everything before them did. */
#include "internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* Packets a port may hold before its node is run. One gives depth-first streaming. */
#define QUEUE_CAPACITY 1

static sp_port_queue *queue_of(sp_job *job, size_t node, uint32_t port)
{
    return &job->queues[node][port];
}

static bool queue_push(sp_port_queue *q, const spark_packet *pkt)
{
    if (q->count == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 4;
        const spark_packet **items = calloc(ncap, sizeof *items);
        if (!items)
            return false;
        for (size_t i = 0; i < q->count; i++)
            items[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = items;
        q->cap = ncap;
        q->head = 0;
    }
    q->items[(q->head + q->count) % q->cap] = pkt;
    q->count++;
    return true;
}

static const spark_packet *queue_pop(sp_port_queue *q)
{
    const spark_packet *pkt = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return pkt;
}

static void set_stop_error(sp_job *job, spark_status st)
{
    spark_error *err;
    if (st == SPARK_E_TIMEOUT)
        err = sp_error_new(SPARK_ERROR_JOB, st, "job %s ran past its deadline of %g s",
                           job->id, job->timeout_seconds);
    else
        err = sp_error_new(SPARK_ERROR_JOB, st, "job %s was cancelled", job->id);
    sp_job_fail(job, err);
}

void sp_job_fail(sp_job *job, spark_error *err)
{
    if (!err)
        err = sp_error_new(SPARK_ERROR_INTERNAL, SPARK_E_NO_MEMORY, "out of memory");
    if (job->error) {
        spark_error_free(err);
        return;
    }
    job->error = err;
    atomic_store(&job->failed, true); /* after the store: check() may run on other threads */
}

spark_status sp_job_check(sp_job *job)
{
    if (atomic_load(&job->failed))
        return job->error->status < 0 ? job->error->status : SPARK_E_CANCELLED;
    if (atomic_load(&job->cancel))
        return SPARK_E_CANCELLED;
    if (job->deadline_ns && sp_monotonic_ns() > job->deadline_ns)
        return SPARK_E_TIMEOUT;
    return SPARK_OK;
}

/* Records why a node call failed; the first failure of a job wins. */
static void record_failure(sp_job *job, size_t node_index, const char *phase, spark_status st)
{
    char *msg = sp_posted_error_take(st);
    if (job->error) {
        free(msg);
        return;
    }
    spark_status stop = sp_job_check(job);
    if ((st == SPARK_E_CANCELLED || st == SPARK_E_TIMEOUT) && stop == st) {
        free(msg);
        set_stop_error(job, st);
        return;
    }
    const spark_pipeline *p = job->pipeline;
    const sp_node *node = p->nodes[node_index];
    spark_error *err = sp_error_new(SPARK_ERROR_JOB, st, "node '%s' (%s, %s:%d) failed in %s: %s",
                                    node->id, node->desc->id, p->path, node->line, phase,
                                    msg ? msg : "");
    free(msg);
    if (err)
        err->node_id = sp_strdup(node->id);
    sp_job_fail(job, err);
}

static void close_node(sp_job *job, size_t node);
static spark_status pump(sp_job *job, size_t node);

static bool audio_fits(const spark_format *want, const spark_packet *pkt)
{
    const spark_audio_data *a = &pkt->data.audio;
    return (!want->rate || want->rate == a->rate) &&
           (!want->channels || want->channels == a->channels);
}

static spark_status call_process(sp_job *job, size_t node_index, uint32_t port,
                                 const spark_packet *pkt)
{
    sp_node_job *nj = &job->nodes[node_index];
    sp_node *node = job->pipeline->nodes[node_index];
    if (nj->closed)
        return SPARK_OK; /* the node ended its stream early: drop the rest */
    spark_status st = sp_job_check(job);
    if (st < 0) {
        if (!job->error)
            set_stop_error(job, st);
        return st;
    }
    if (pkt && pkt->kind == SPARK_KIND_AUDIO && !audio_fits(&node->formats[port], pkt)) {
        const spark_format *f = &node->formats[port];
        char *msg = sp_printf("port '%s' takes audio at %u Hz with %u channel(s), got %u Hz "
                              "with %u; put org.sparkhost.audio.resample before it",
                              node->desc->ports[port].name, f->rate, f->channels,
                              pkt->data.audio.rate, pkt->data.audio.channels);
        sp_posted_error_set(msg);
        free(msg);
        record_failure(job, node_index, "process", SPARK_E_FORMAT_MISMATCH);
        return SPARK_E_FORMAT_MISMATCH;
    }
    uint64_t outer_nested = job->nested_ns;
    job->nested_ns = 0;
    uint64_t t0 = sp_monotonic_ns();
    sp_posted_error_clear();
    st = node->desc->ops->process(node->self, nj->state, &nj->api, port, pkt);
    uint64_t elapsed = sp_monotonic_ns() - t0;
    nj->busy_ns += elapsed > job->nested_ns ? elapsed - job->nested_ns : 0;
    job->nested_ns = outer_nested + elapsed;
    if (st < 0) {
        record_failure(job, node_index, "process", st);
        return st;
    }
    if (st == SPARK_END_OF_STREAM)
        close_node(job, node_index);
    return SPARK_OK;
}

static void close_node(sp_job *job, size_t node_index)
{
    sp_node_job *nj = &job->nodes[node_index];
    if (nj->closed)
        return;
    nj->closed = true;
    job->nodes_closed++;
    spark_pipeline *p = job->pipeline;
    if (job->progress)
        job->progress(job->progress_user, job->id,
                      (double)job->nodes_closed / (double)p->node_count, p->nodes[node_index]->id);
    for (size_t l = 0; l < p->link_count; l++)
        if (p->links[l].from_node == node_index)
            queue_of(job, p->links[l].to_node, p->links[l].to_port)->eos = true;
    for (size_t l = 0; l < p->link_count && !job->error; l++)
        if (p->links[l].from_node == node_index)
            pump(job, p->links[l].to_node);
}

/* Delivers what is waiting at a node's inputs; closes it when every input has ended. */
static spark_status pump(sp_job *job, size_t node_index)
{
    const spark_node_desc *d = job->pipeline->nodes[node_index]->desc;
    bool has_inputs = false, all_ended = true;
    for (uint32_t i = 0; i < d->port_count; i++) {
        if (d->ports[i].direction != SPARK_PORT_IN)
            continue;
        has_inputs = true;
        sp_port_queue *q = queue_of(job, node_index, i);
        while (q->count) {
            if (job->error)
                return job->error->status;
            const spark_packet *pkt = queue_pop(q);
            spark_status st = call_process(job, node_index, i, pkt);
            sp_ext_alloc.release(pkt);
            if (st < 0)
                return st;
        }
        if (q->eos && !q->eos_delivered) {
            q->eos_delivered = true;
            spark_status st = call_process(job, node_index, i, NULL);
            if (st < 0)
                return st;
        }
        if (!q->eos_delivered)
            all_ended = false;
    }
    if (has_inputs && all_ended)
        close_node(job, node_index);
    return job->error ? job->error->status : SPARK_OK;
}

static spark_status job_emit(const spark_job *api, uint32_t port, const spark_packet *pkt)
{
    sp_node_job *nj = api->host_data;
    sp_job *job = nj->job;
    spark_pipeline *p = job->pipeline;
    const sp_node *node = p->nodes[nj->node];
    const spark_node_desc *d = node->desc;
    if (!pkt)
        return SPARK_E_INVALID_ARGUMENT;
    if (port >= d->port_count || d->ports[port].direction != SPARK_PORT_OUT ||
        d->ports[port].kind != pkt->kind || nj->closed) {
        char *msg = nj->closed ? sp_printf("emit after the node's stream ended")
                               : sp_printf("emit on port %u, which is not an output port of "
                                           "the packet's kind", port);
        sp_log(&p->engine->logger, SPARK_LOG_LEVEL_ERROR, "node %s: %s", node->id,
               msg ? msg : "bad emit");
        sp_posted_error_set(msg);
        free(msg);
        sp_ext_alloc.release(pkt);
        return SPARK_E_INVALID_ARGUMENT;
    }
    spark_status st = sp_job_check(job);
    if (st < 0) {
        sp_ext_alloc.release(pkt);
        return st;
    }
    bool ok = true;
    for (size_t l = 0; l < p->link_count; l++)
        if (p->links[l].from_node == nj->node && p->links[l].from_port == port)
            ok = ok && queue_push(queue_of(job, p->links[l].to_node, p->links[l].to_port),
                                  sp_ext_alloc.retain(pkt));
    sp_ext_alloc.release(pkt);
    if (!ok) {
        sp_job_fail(job, sp_error_new(SPARK_ERROR_INTERNAL, SPARK_E_NO_MEMORY, "out of memory"));
        return SPARK_E_NO_MEMORY;
    }
    for (size_t l = 0; l < p->link_count && !job->error; l++) {
        if (p->links[l].from_node != nj->node || p->links[l].from_port != port)
            continue;
        if (queue_of(job, p->links[l].to_node, p->links[l].to_port)->count >= QUEUE_CAPACITY)
            pump(job, p->links[l].to_node);
    }
    return job->error ? sp_job_check(job) : SPARK_OK;
}

static spark_status job_post_result(const spark_job *api, const char *name, int32_t type,
                                    const char *text, double number)
{
    sp_node_job *nj = api->host_data;
    sp_job *job = nj->job;
    const spark_node_desc *d = job->pipeline->nodes[nj->node]->desc;
    bool declared = false;
    for (uint32_t r = 0; name && r < d->result_count; r++)
        if (strcmp(d->results[r].name, name) == 0)
            declared = true;
    if (!declared) {
        char *msg = sp_printf("result '%s' is not declared in the node's descriptor",
                              name ? name : "(null)");
        sp_posted_error_set(msg);
        free(msg);
        return SPARK_E_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&job->lock);
    struct sp_result *slot = NULL;
    for (size_t i = 0; i < job->result_count; i++)
        if (job->results[i].node == nj->node && strcmp(job->results[i].name, name) == 0)
            slot = &job->results[i];
    if (!slot && sp_grow((void **)&job->results, &job->result_cap, job->result_count + 1,
                         sizeof *job->results)) {
        slot = &job->results[job->result_count++];
        slot->node = nj->node;
        slot->name = sp_strdup(name);
    }
    if (slot) {
        free(slot->text);
        slot->type = type;
        slot->text = sp_strdup(text ? text : "");
        slot->number = number;
    }
    pthread_mutex_unlock(&job->lock);
    return slot ? SPARK_OK : SPARK_E_NO_MEMORY;
}

spark_status sp_job_deliver_chunk(const spark_job *api, const spark_chunk *chunk)
{
    sp_node_job *nj = api->host_data;
    sp_job *job = nj->job;
    if (!job->first_chunk_ns)
        job->first_chunk_ns = sp_monotonic_ns();
    if (!job->on_chunk)
        return SPARK_OK;
    if (job->on_chunk(job->chunk_user, chunk) != 0) {
        char *msg = sp_printf("the host refused streamed piece %llu (%zu bytes)",
                              (unsigned long long)chunk->seq, chunk->size);
        sp_posted_error_set(msg);
        free(msg);
        return SPARK_E_IO;
    }
    return SPARK_OK;
}

bool sp_job_takes_chunks(const spark_job *api)
{
    const sp_node_job *nj = api->host_data;
    return nj->job->on_chunk != NULL;
}

/* The node's parameters with the job's per-job values on top. */
static int job_params(sp_job *job, size_t node_index, sp_param_set *out)
{
    spark_pipeline *p = job->pipeline;
    if (sp_param_set_copy(out, &p->nodes[node_index]->params) != 0)
        return -1;
    for (size_t i = 0; i < p->input_count; i++) {
        if (!job->inputs[i].set)
            continue;
        for (size_t t = 0; t < p->inputs[i].target_count; t++) {
            const sp_input_target *tg = &p->inputs[i].targets[t];
            if (tg->node != node_index || tg->param < 0)
                continue;
            sp_value v;
            char *why = sp_value_parse(&v, &out->schema[tg->param], job->inputs[i].text);
            if (why) {
                sp_job_fail(job, sp_error_new(SPARK_ERROR_REQUEST, SPARK_E_INVALID_ARGUMENT,
                                              "request field '%s' does not fit %s.%s: %s",
                                              p->inputs[i].name, tg->node_name, tg->member, why));
                free(why);
                return -1;
            }
            sp_value_clear(&out->values[tg->param]);
            out->values[tg->param] = v;
        }
    }
    return 0;
}

static int begin_nodes(sp_job *job)
{
    spark_pipeline *p = job->pipeline;
    for (size_t k = 0; k < p->node_count && !job->error; k++) {
        size_t n = p->order[k];
        sp_node *node = p->nodes[n];
        sp_node_job *nj = &job->nodes[n];
        nj->job = job;
        nj->node = n;
        job->queues[n] = calloc(node->desc->port_count ? node->desc->port_count : 1,
                                sizeof(sp_port_queue));
        if (!job->queues[n] || job_params(job, n, &nj->params) != 0) {
            sp_job_fail(job, NULL);
            return -1;
        }
        nj->api = (spark_job){
            .struct_size = sizeof(spark_job),
            .id = job->id,
            .params = &nj->params.api,
            .host_data = nj,
            .emit = job_emit,
            .post_result = job_post_result,
        };
        sp_semaphore_acquire(&node->slots);
        nj->slot_held = true;
        spark_status st = sp_job_check(job);
        if (st < 0) {
            set_stop_error(job, st);
            return -1;
        }
        if (node->desc->ops->job_begin) {
            sp_posted_error_clear();
            st = node->desc->ops->job_begin(node->self, &nj->api, &nj->state);
            if (st < 0) {
                record_failure(job, n, "job_begin", st);
                return -1;
            }
        }
        nj->begun = true;
    }
    return job->error ? -1 : 0;
}

/* Job inputs that feed ports become packets; ports nobody links end at once. */
static int inject_inputs(sp_job *job)
{
    spark_pipeline *p = job->pipeline;
    for (size_t i = 0; i < p->input_count; i++) {
        for (size_t t = 0; t < p->inputs[i].target_count; t++) {
            const sp_input_target *tg = &p->inputs[i].targets[t];
            if (tg->port < 0 || !job->inputs[i].set)
                continue;
            const sp_value *v = &job->inputs[i];
            const sp_node *node = p->nodes[tg->node];
            spark_packet *pkt;
            if (node->desc->ports[tg->port].kind == SPARK_KIND_TEXT) {
                pkt = sp_ext_alloc.text(NULL, v->text, strlen(v->text), 0);
            } else {
                int32_t type = v->type == SPARK_PARAM_INTEGER ? SPARK_VALUE_INTEGER
                               : v->type == SPARK_PARAM_NUMBER ? SPARK_VALUE_NUMBER
                               : v->type == SPARK_PARAM_BOOLEAN ? SPARK_VALUE_BOOLEAN
                                                                : SPARK_VALUE_STRING;
                pkt = sp_ext_alloc.value(NULL, p->inputs[i].name, type, v->text, v->number);
            }
            if (!pkt || !queue_push(queue_of(job, tg->node, (uint32_t)tg->port), pkt)) {
                sp_ext_alloc.release(pkt);
                sp_job_fail(job, NULL);
                return -1;
            }
        }
    }
    for (size_t n = 0; n < p->node_count; n++) {
        const spark_node_desc *d = p->nodes[n]->desc;
        for (uint32_t i = 0; i < d->port_count; i++) {
            bool linked = false;
            for (size_t l = 0; l < p->link_count && !linked; l++)
                linked = p->links[l].to_node == n && p->links[l].to_port == i;
            if (d->ports[i].direction == SPARK_PORT_IN && !linked)
                queue_of(job, n, i)->eos = true;
        }
    }
    return 0;
}

static void run_graph(sp_job *job)
{
    spark_pipeline *p = job->pipeline;
    for (size_t k = 0; k < p->node_count && !job->error; k++) {
        size_t n = p->order[k];
        const spark_node_desc *d = p->nodes[n]->desc;
        bool has_inputs = false;
        for (uint32_t i = 0; i < d->port_count; i++)
            has_inputs = has_inputs || d->ports[i].direction == SPARK_PORT_IN;
        if (has_inputs) {
            pump(job, n);
        } else if (!job->nodes[n].closed) {
            if (call_process(job, n, SPARK_PORT_NONE, NULL) == SPARK_OK)
                close_node(job, n);
        }
    }
    for (size_t n = 0; n < p->node_count && !job->error; n++)
        if (!job->nodes[n].closed)
            sp_job_fail(job, sp_error_new(SPARK_ERROR_INTERNAL, SPARK_E_INTERNAL,
                                          "node '%s' never reached the end of its stream",
                                          p->nodes[n]->id));
}

static void end_nodes(sp_job *job)
{
    spark_pipeline *p = job->pipeline;
    spark_status outcome = job->error ? (job->error->status < 0 ? job->error->status
                                                                : SPARK_E_INTERNAL)
                                      : SPARK_OK;
    for (size_t k = 0; k < p->node_count; k++) {
        size_t n = p->order[k];
        sp_node_job *nj = &job->nodes[n];
        if (!nj->begun)
            continue;
        const spark_node_ops *ops = p->nodes[n]->desc->ops;
        if (ops->job_end) {
            sp_posted_error_clear();
            spark_status st = ops->job_end(p->nodes[n]->self, nj->state, &nj->api, outcome);
            if (st < 0) {
                record_failure(job, n, "job_end", st);
                if (outcome == SPARK_OK)
                    outcome = st;
            }
        }
        nj->begun = false;
    }
    sp_storage_abort_writers(job);
    for (size_t k = p->node_count; k-- > 0;) {
        size_t n = p->order[k];
        sp_node_job *nj = &job->nodes[n];
        if (nj->slot_held)
            sp_semaphore_release(&p->nodes[n]->slots);
        nj->slot_held = false;
        if (job->queues[n]) {
            for (uint32_t i = 0; i < p->nodes[n]->desc->port_count; i++) {
                sp_port_queue *q = &job->queues[n][i];
                while (q->count)
                    sp_ext_alloc.release(queue_pop(q));
                free(q->items);
            }
            free(job->queues[n]);
            job->queues[n] = NULL;
        }
        sp_param_set_free(&nj->params);
    }
}

int sp_schedule_run(sp_job *job)
{
    spark_pipeline *p = job->pipeline;
    job->nodes = calloc(p->node_count, sizeof *job->nodes);
    job->queues = calloc(p->node_count, sizeof *job->queues);
    if (!job->nodes || !job->queues) {
        sp_job_fail(job, NULL);
        return -1;
    }
    job->started_ns = sp_monotonic_ns();
    if (begin_nodes(job) == 0 && inject_inputs(job) == 0)
        run_graph(job);
    end_nodes(job);
    return job->error ? -1 : 0;
}

static cJSON *result_to_json(const struct sp_result *r)
{
    switch (r->type) {
    case SPARK_VALUE_INTEGER:
    case SPARK_VALUE_NUMBER:
        return cJSON_CreateNumber(r->number);
    case SPARK_VALUE_BOOLEAN:
        return cJSON_CreateBool(r->number != 0);
    case SPARK_VALUE_JSON: {
        cJSON *v = cJSON_Parse(r->text);
        return v ? v : cJSON_CreateString(r->text);
    }
    default:
        return cJSON_CreateString(r->text);
    }
}

char *sp_job_result_json(sp_job *job)
{
    spark_pipeline *p = job->pipeline;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    if (p->output_count) {
        for (size_t o = 0; o < p->output_count; o++) {
            const sp_output *out = &p->outputs[o];
            cJSON *v = NULL;
            for (size_t i = 0; i < job->result_count && !v; i++)
                if (job->results[i].node == out->node &&
                    strcmp(job->results[i].name, out->result) == 0)
                    v = result_to_json(&job->results[i]);
            cJSON_AddItemToObject(root, out->name, v ? v : cJSON_CreateNull());
        }
    } else {
        for (size_t i = 0; i < job->result_count; i++) {
            char *key = sp_printf("%s.%s", p->nodes[job->results[i].node]->id,
                                  job->results[i].name);
            if (key)
                cJSON_AddItemToObject(root, key, result_to_json(&job->results[i]));
            free(key);
        }
    }
    cJSON *timings = cJSON_AddObjectToObject(root, "timings");
    if (timings) {
        for (size_t k = 0; k < p->node_count; k++) {
            size_t n = p->order[k];
            cJSON_AddNumberToObject(timings, p->nodes[n]->id,
                                    (double)(job->nodes[n].busy_ns / 1000) / 1e6);
        }
        if (job->first_chunk_ns)
            cJSON_AddNumberToObject(timings, "first_chunk",
                                    (double)((job->first_chunk_ns - job->started_ns) / 1000) /
                                        1e6);
        cJSON_AddNumberToObject(timings, "total",
                                (double)((sp_monotonic_ns() - job->started_ns) / 1000) / 1e6);
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}
