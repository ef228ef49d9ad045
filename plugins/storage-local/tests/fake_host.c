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

/* A blob packet and the storage behind its strings, freed together. */
typedef struct fake_packet {
    spark_packet packet;
    fake_host *owner;
    int refs;
    char *media_type;
    char *file_name;
} fake_packet;

static spark_packet *fake_blob(const spark_host *host, uint64_t size, const char *media_type,
                               const char *file_name)
{
    fake_packet *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->owner = host->host_data;
    p->refs = 1;
    p->media_type = strdup(media_type ? media_type : "");
    p->file_name = strdup(file_name ? file_name : "");
    p->packet.struct_size = sizeof(spark_packet);
    p->packet.kind = SPARK_KIND_BLOB;
    p->packet.host_data = p;
    p->packet.data.blob.bytes = size ? calloc(1, size) : NULL;
    p->packet.data.blob.size = size;
    p->packet.data.blob.media_type = p->media_type;
    p->packet.data.blob.file_name = p->file_name;
    p->owner->live_packets++;
    return &p->packet;
}

static const spark_packet *fake_retain(const spark_packet *packet)
{
    ((fake_packet *)packet->host_data)->refs++;
    return packet;
}

static void fake_release(const spark_packet *packet)
{
    if (!packet)
        return;
    fake_packet *p = packet->host_data;
    if (--p->refs > 0)
        return;
    p->owner->live_packets--;
    free(p->packet.data.blob.bytes);
    free(p->media_type);
    free(p->file_name);
    free(p);
}

static const spark_ext_alloc fake_alloc_ext = {
    .struct_size = sizeof(spark_ext_alloc),
    .blob = fake_blob,
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
