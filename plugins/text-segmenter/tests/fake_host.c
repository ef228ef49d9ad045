/* fake_host.c - see fake_host.h. */
#include "fake_host.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fake_log(const spark_host *host, int32_t level, const char *message)
{
    (void)host;
    (void)level;
    (void)message;
}

static void fake_error(const spark_host *host, const char *message)
{
    fake_host *fake = host->host_data;
    snprintf(fake->last_error, sizeof fake->last_error, "%s", message);
    fake->error_count++;
}

static const spark_ext_log fake_log_ext = {sizeof(spark_ext_log), 0, fake_log, fake_error};

typedef struct fake_packet {
    spark_packet packet;
    fake_host *owner;
    int refs;
    char *utf8;
} fake_packet;

static spark_packet *fake_text(const spark_host *host, const char *utf8, uint64_t length,
                               int64_t offset)
{
    fake_packet *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->owner = host->host_data;
    p->refs = 1;
    p->utf8 = malloc(length + 1);
    if (length)
        memcpy(p->utf8, utf8, length);
    p->utf8[length] = '\0';
    p->packet.struct_size = sizeof(spark_packet);
    p->packet.kind = SPARK_KIND_TEXT;
    p->packet.host_data = p;
    p->packet.data.text.utf8 = p->utf8;
    p->packet.data.text.length = length;
    p->packet.data.text.offset = offset;
    p->owner->live_packets++;
    return &p->packet;
}

static const spark_packet *fake_retain(const spark_packet *packet)
{
    ((fake_packet *)packet->host_data)->refs++;
    return packet;
}

void fake_release(const spark_packet *packet)
{
    if (!packet)
        return;
    fake_packet *p = packet->host_data;
    if (--p->refs > 0)
        return;
    p->owner->live_packets--;
    free(p->utf8);
    free(p);
}

static const spark_ext_alloc fake_alloc_ext = {
    .struct_size = sizeof(spark_ext_alloc),
    .text = fake_text,
    .retain = fake_retain,
    .release = fake_release,
};

static const void *fake_get_extension(const spark_host *host, const char *id)
{
    (void)host;
    if (strcmp(id, SPARK_EXT_LOG) == 0)
        return &fake_log_ext;
    if (strcmp(id, SPARK_EXT_ALLOC) == 0)
        return &fake_alloc_ext;
    return NULL;
}

void fake_host_init(fake_host *fake)
{
    memset(fake, 0, sizeof *fake);
    fake->host.struct_size = sizeof(spark_host);
    fake->host.abi = (spark_version)SPARK_ABI_VERSION_INIT;
    fake->host.name = "fake";
    fake->host.version = "0";
    fake->host.host_data = fake;
    fake->host.get_extension = fake_get_extension;
}

static spark_status fake_emit(const spark_job *job, uint32_t port, const spark_packet *packet)
{
    fake_job *fake = job->host_data;
    if (fake->cancel_after >= 0 && fake->count >= fake->cancel_after) {
        fake_release(packet); /* ownership transfers also on failure */
        return SPARK_E_CANCELLED;
    }
    if (fake->count == FAKE_JOB_MAX_PACKETS) {
        fake_release(packet);
        return SPARK_E_NO_MEMORY;
    }
    fake->ports[fake->count] = port;
    fake->packets[fake->count++] = packet;
    return SPARK_OK;
}

static spark_status fake_post_result(const spark_job *job, const char *name, int32_t type,
                                     const char *text, double number)
{
    (void)job;
    (void)name;
    (void)type;
    (void)text;
    (void)number;
    return SPARK_OK;
}

void fake_job_init(fake_job *fake, const spark_params *params)
{
    memset(fake, 0, sizeof *fake);
    fake->job.struct_size = sizeof(spark_job);
    fake->job.id = "job-1";
    fake->job.params = params;
    fake->job.host_data = fake;
    fake->job.emit = fake_emit;
    fake->job.post_result = fake_post_result;
    fake->cancel_after = -1;
}

void fake_job_clear(fake_job *fake)
{
    for (int i = 0; i < fake->count; i++)
        fake_release(fake->packets[i]);
    fake->count = 0;
}

static const char *lookup(void *user, const char *key)
{
    fake_params *fake = user;
    for (int i = 0; i < fake->count; i++)
        if (strcmp(fake->table[i].key, key) == 0)
            return fake->table[i].value;
    return NULL;
}

static int32_t fake_has(void *user, const char *key)
{
    return lookup(user, key) != NULL;
}

static const char *fake_get_string(void *user, const char *key)
{
    return lookup(user, key);
}

static int64_t fake_get_integer(void *user, const char *key)
{
    const char *v = lookup(user, key);
    return v ? strtoll(v, NULL, 10) : 0;
}

static double fake_get_number(void *user, const char *key)
{
    const char *v = lookup(user, key);
    return v ? strtod(v, NULL) : 0.0;
}

static int32_t fake_get_boolean(void *user, const char *key)
{
    const char *v = lookup(user, key);
    return v && strcmp(v, "true") == 0;
}

void fake_params_init(fake_params *fake, const fake_param *table, int count)
{
    memset(fake, 0, sizeof *fake);
    fake->table = table;
    fake->count = count;
    fake->params.struct_size = sizeof(spark_params);
    fake->params.user = fake;
    fake->params.has = fake_has;
    fake->params.get_string = fake_get_string;
    fake->params.get_integer = fake_get_integer;
    fake->params.get_number = fake_get_number;
    fake->params.get_boolean = fake_get_boolean;
}
