/* fake_host.c - the stand-in engine of fake_host.h. */
#include "fake_host.h"

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- set-up errors ------------------------------------------------------------------ */

/* A mistake in the test's own set-up: said on stderr, never posted as a plugin's error. */
static spark_status setup_failure(const char *format, ...)
    __attribute__((format(printf, 1, 2)));
static spark_status setup_failure(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("fake host: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    return SPARK_E_INTERNAL;
}

/* ---- log ---------------------------------------------------------------------------- */

/* Per thread, as the engine keeps posted errors. */
static _Thread_local char last_error[4096];
static _Thread_local int error_count;
static _Thread_local char last_log[4096];

static void log_line(const spark_host *host, int32_t level, const char *message)
{
    (void)host;
    snprintf(last_log, sizeof last_log, "%s", message ? message : "(null)");
    fprintf(stderr, "   [log %d] %s\n", (int)level, last_log);
}

static void post_error(const spark_host *host, const char *message)
{
    (void)host;
    snprintf(last_error, sizeof last_error, "%s", message ? message : "(null)");
    error_count++;
    fprintf(stderr, "   [error] %s\n", last_error);
}

const char *fake_last_error(void)
{
    return last_error;
}

int fake_error_count(void)
{
    return error_count;
}

const char *fake_last_log(void)
{
    return last_log;
}

void fake_log_clear(void)
{
    last_error[0] = '\0';
    error_count = 0;
    last_log[0] = '\0';
}

static const spark_ext_log log_ext = {
    sizeof(spark_ext_log), 0, log_line, post_error,
};

/* ---- packets ------------------------------------------------------------------------ */

enum { PACKET_MAX_BUFFERS = 3 };

typedef struct fake_packet {
    spark_packet pub; /* first, so a spark_packet pointer is a fake_packet pointer */
    atomic_int refs;
    void *buffers[PACKET_MAX_BUFFERS]; /* the payload's storage, freed with the packet */
    int buffer_count;
} fake_packet;

static atomic_long live_packets;

long fake_live_packets(void)
{
    return atomic_load(&live_packets);
}

static fake_packet *packet_new(int32_t kind)
{
    fake_packet *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->pub.struct_size = sizeof(spark_packet);
    p->pub.kind = kind;
    atomic_init(&p->refs, 1);
    atomic_fetch_add(&live_packets, 1);
    return p;
}

void fake_release(const spark_packet *packet)
{
    fake_packet *p = (fake_packet *)(uintptr_t)packet;
    if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
        return;
    for (int i = 0; i < p->buffer_count; i++)
        free(p->buffers[i]);
    free(p);
    atomic_fetch_sub(&live_packets, 1);
}

static const spark_packet *retain(const spark_packet *packet)
{
    atomic_fetch_add(&((fake_packet *)(uintptr_t)packet)->refs, 1);
    return packet;
}

/* Zero-filled storage owned by the packet; at least one byte, so that an empty payload
 * still has a pointer a plugin may pass to memcpy. */
static void *packet_buffer(fake_packet *p, size_t count, size_t size)
{
    void *buffer;
    size_t bytes;
    if (p->buffer_count == PACKET_MAX_BUFFERS || (size && count > SIZE_MAX / size))
        return NULL;
    bytes = count * size;
    buffer = calloc(bytes ? bytes : 1, 1);
    if (buffer)
        p->buffers[p->buffer_count++] = buffer;
    return buffer;
}

static char *packet_string(fake_packet *p, const char *text)
{
    size_t length = text ? strlen(text) : 0;
    char *copy = packet_buffer(p, length + 1, 1);
    if (copy && length)
        memcpy(copy, text, length);
    return copy;
}

static spark_packet *packet_failed(fake_packet *p)
{
    fake_release(&p->pub);
    return NULL;
}

static spark_packet *alloc_text(const spark_host *host, const char *utf8, uint64_t length,
                                int64_t offset)
{
    fake_packet *p = packet_new(SPARK_KIND_TEXT);
    char *copy;
    (void)host;
    if (!p)
        return NULL;
    if (!(copy = packet_buffer(p, (size_t)length + 1, 1)))
        return packet_failed(p);
    if (length)
        memcpy(copy, utf8, (size_t)length);
    p->pub.data.text.utf8 = copy;
    p->pub.data.text.length = length;
    p->pub.data.text.offset = offset;
    return &p->pub;
}

static spark_packet *alloc_tokens(const spark_host *host, uint64_t count,
                                  const char *vocabulary)
{
    fake_packet *p = packet_new(SPARK_KIND_TOKENS);
    (void)host;
    if (!p)
        return NULL;
    p->pub.data.tokens.ids = packet_buffer(p, (size_t)count, sizeof(int32_t));
    p->pub.data.tokens.vocabulary = packet_string(p, vocabulary);
    if (!p->pub.data.tokens.ids || !p->pub.data.tokens.vocabulary)
        return packet_failed(p);
    p->pub.data.tokens.count = count;
    return &p->pub;
}

static spark_packet *alloc_codes(const spark_host *host, uint64_t n_semantic,
                                 uint64_t n_global, const char *codec, double frame_rate)
{
    fake_packet *p = packet_new(SPARK_KIND_CODES);
    spark_codes_data *codes;
    (void)host;
    if (!p)
        return NULL;
    codes = &p->pub.data.codes;
    codes->semantic = packet_buffer(p, (size_t)n_semantic, sizeof(int32_t));
    codes->global = packet_buffer(p, (size_t)n_global, sizeof(int32_t));
    codes->codec = packet_string(p, codec);
    if (!codes->semantic || !codes->global || !codes->codec)
        return packet_failed(p);
    codes->n_semantic = n_semantic;
    codes->n_global = n_global;
    codes->frame_rate = frame_rate;
    return &p->pub;
}

static spark_packet *alloc_audio(const spark_host *host, uint32_t channels, uint64_t frames,
                                 uint32_t rate)
{
    fake_packet *p = packet_new(SPARK_KIND_AUDIO);
    float **planes;
    float *samples;
    (void)host;
    if (!p)
        return NULL;
    if (frames > SIZE_MAX / sizeof(float) / (channels ? channels : 1))
        return packet_failed(p);
    planes = packet_buffer(p, channels, sizeof *planes);
    samples = packet_buffer(p, (size_t)channels * (size_t)frames, sizeof *samples);
    if (!planes || !samples)
        return packet_failed(p);
    for (uint32_t c = 0; c < channels; c++)
        planes[c] = samples + (size_t)c * (size_t)frames;
    p->pub.data.audio.planes = planes;
    p->pub.data.audio.frames = frames;
    p->pub.data.audio.channels = channels;
    p->pub.data.audio.rate = rate;
    return &p->pub;
}

/* A deep copy: the items in one buffer, all their texts one after another in another. */
static spark_packet *alloc_timing(const spark_host *host, const spark_timing_item *items,
                                  uint64_t count)
{
    fake_packet *p = packet_new(SPARK_KIND_TIMING);
    spark_timing_item *copies;
    char *texts, *next;
    size_t text_bytes = 0;
    (void)host;
    if (!p)
        return NULL;
    for (uint64_t i = 0; i < count; i++)
        text_bytes += (items[i].text ? strlen(items[i].text) : 0) + 1;
    copies = packet_buffer(p, (size_t)count, sizeof *copies);
    texts = packet_buffer(p, text_bytes, 1);
    if (!copies || !texts)
        return packet_failed(p);
    next = texts;
    for (uint64_t i = 0; i < count; i++) {
        size_t length = items[i].text ? strlen(items[i].text) : 0;
        copies[i] = items[i];
        memcpy(next, items[i].text ? items[i].text : "", length + 1);
        copies[i].text = next;
        next += length + 1;
    }
    p->pub.data.timing.items = copies;
    p->pub.data.timing.count = count;
    return &p->pub;
}

static spark_packet *alloc_blob(const spark_host *host, uint64_t size, const char *media_type,
                                const char *file_name)
{
    fake_packet *p = packet_new(SPARK_KIND_BLOB);
    spark_blob_data *blob;
    (void)host;
    if (!p)
        return NULL;
    blob = &p->pub.data.blob;
    blob->bytes = packet_buffer(p, (size_t)size, 1);
    blob->media_type = packet_string(p, media_type);
    blob->file_name = packet_string(p, file_name);
    if (!blob->bytes || !blob->media_type || !blob->file_name)
        return packet_failed(p);
    blob->size = size;
    return &p->pub;
}

static spark_packet *alloc_value(const spark_host *host, const char *name, int32_t type,
                                 const char *text, double number)
{
    fake_packet *p = packet_new(SPARK_KIND_VALUE);
    spark_value_data *value;
    (void)host;
    if (!p)
        return NULL;
    value = &p->pub.data.value;
    value->name = packet_string(p, name);
    value->text = packet_string(p, text);
    if (!value->name || !value->text)
        return packet_failed(p);
    value->type = type;
    value->number = number;
    return &p->pub;
}

static const spark_ext_alloc alloc_ext = {
    sizeof(spark_ext_alloc), 0,
    alloc_text, alloc_tokens, alloc_codes, alloc_audio, alloc_timing, alloc_blob, alloc_value,
    retain, fake_release,
};

spark_packet *fake_audio_packet(uint32_t channels, uint64_t frames, uint32_t rate)
{
    return alloc_audio(fake_host(), channels, frames, rate);
}

spark_packet *fake_text_packet(const char *utf8, uint64_t length, int64_t offset)
{
    return alloc_text(fake_host(), utf8, length, offset);
}

spark_packet *fake_blob_packet(const void *bytes, uint64_t size, const char *media_type,
                               const char *file_name)
{
    spark_packet *packet = alloc_blob(fake_host(), size, media_type, file_name);
    if (packet && size)
        memcpy(packet->data.blob.bytes, bytes, (size_t)size);
    return packet;
}

/* ---- jobs' shared state, progress ---------------------------------------------------- */

typedef struct port_output {
    const spark_packet **packets;
    size_t count;
    size_t capacity;
} port_output;

typedef struct posted_result {
    char *name;
    char *text;
    fake_result value; /* value.text is text */
} posted_result;

struct fake_job {
    spark_job api;
    fake_node *node;
    fake_params *params;
    char *id;
    void *state; /* the node's job state */
    int begun;   /* job_begin succeeded, job_end not yet called */
    port_output outputs[FAKE_MAX_PORTS];
    size_t emitted; /* accepted on all ports together */
    posted_result *results;
    size_t result_count;
    atomic_int stop;              /* SPARK_OK, or what check() and emit() answer */
    atomic_llong cancel_after;    /* emits accepted before refusing; -1: no limit */
    atomic_llong deadline_ns;     /* CLOCK_MONOTONIC; LLONG_MAX: none */
};

static atomic_int cancel_all;

static long long monotonic_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

void fake_cancel_all(int cancelled)
{
    atomic_store(&cancel_all, cancelled != 0);
}

static spark_status progress_check(const spark_host *host, const spark_job *api)
{
    (void)host;
    if (api) {
        fake_job *job = api->host_data;
        spark_status stop = atomic_load(&job->stop);
        if (stop != SPARK_OK)
            return stop;
        if (monotonic_ns() >= atomic_load(&job->deadline_ns))
            return SPARK_E_TIMEOUT;
    }
    return atomic_load(&cancel_all) ? SPARK_E_CANCELLED : SPARK_OK;
}

/* Progress reports are not part of what the tests look at. */
static void progress_report(const spark_host *host, const spark_job *job, double fraction,
                            const char *what)
{
    (void)host, (void)job, (void)fraction, (void)what;
}

static const spark_ext_progress progress_ext = {
    sizeof(spark_ext_progress), 0, progress_check, progress_report,
};

/* ---- hosts -------------------------------------------------------------------------- */

static const void *full_extension(const spark_host *host, const char *ext_id)
{
    (void)host;
    if (strcmp(ext_id, SPARK_EXT_LOG) == 0)
        return &log_ext;
    if (strcmp(ext_id, SPARK_EXT_ALLOC) == 0)
        return &alloc_ext;
    if (strcmp(ext_id, SPARK_EXT_PROGRESS) == 0)
        return &progress_ext;
    return NULL;
}

static const void *log_only_extension(const spark_host *host, const char *ext_id)
{
    (void)host;
    return strcmp(ext_id, SPARK_EXT_LOG) == 0 ? &log_ext : NULL;
}

static const spark_host full_host = {
    sizeof(spark_host), SPARK_ABI_VERSION_INIT, "fake-host", "0", NULL, full_extension,
};

static const spark_host log_only_host = {
    sizeof(spark_host), SPARK_ABI_VERSION_INIT, "fake-host", "0", NULL, log_only_extension,
};

const spark_host *fake_host(void)
{
    return &full_host;
}

const spark_host *fake_host_log_only(void)
{
    return &log_only_host;
}

/* ---- plugins ------------------------------------------------------------------------ */

int fake_plugin_load(fake_plugin *plugin, const char *path)
{
    memset(plugin, 0, sizeof *plugin);
    plugin->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!plugin->handle) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return -1;
    }
    plugin->entry = dlsym(plugin->handle, SPARK_ENTRY_SYMBOL);
    if (!plugin->entry || !plugin->entry->get_factory) {
        fprintf(stderr, "%s: no %s with a get_factory\n", path, SPARK_ENTRY_SYMBOL);
        dlclose(plugin->handle);
        memset(plugin, 0, sizeof *plugin);
        return -1;
    }
    /* init runs only for a plugin the engine would load; others are loaded to be looked at. */
    if (plugin->entry->abi.major == SPARK_ABI_MAJOR && plugin->entry->init &&
        plugin->entry->init(fake_host()) < 0) {
        fprintf(stderr, "%s: init failed: %s\n", path, fake_last_error());
        dlclose(plugin->handle);
        memset(plugin, 0, sizeof *plugin);
        return -1;
    }
    plugin->nodes = plugin->entry->get_factory(SPARK_FACTORY_NODE);
    return 0;
}

void fake_plugin_unload(fake_plugin *plugin)
{
    if (plugin->entry && plugin->entry->abi.major == SPARK_ABI_MAJOR && plugin->entry->deinit)
        plugin->entry->deinit();
    if (plugin->handle)
        dlclose(plugin->handle);
    memset(plugin, 0, sizeof *plugin);
}

const spark_node_desc *fake_plugin_node(const fake_plugin *plugin, const char *id)
{
    for (uint32_t i = 0; plugin->nodes && i < plugin->nodes->node_count; i++)
        if (strcmp(plugin->nodes->nodes[i]->id, id) == 0)
            return plugin->nodes->nodes[i];
    return NULL;
}

int fake_plugin_exports(const fake_plugin *plugin, const char *symbol)
{
    return plugin->handle && dlsym(plugin->handle, symbol) != NULL;
}

fake_export_list fake_plugin_list_exports(const char *path)
{
    fake_export_list list = { 0, -1, 0, 0 };
    char command[4200], line[512];
    FILE *pipe;
    snprintf(command, sizeof command, "nm -D --defined-only '%s'", path);
    pipe = popen(command, "r");
    if (!pipe)
        return list;
    list.nm_started = 1;
    while (fgets(line, sizeof line, pipe)) {
        /* "ADDRESS TYPE NAME[@VERSION]": the name is the last field. */
        char *name = strrchr(line, ' ');
        name = name ? name + 1 : line;
        name[strcspn(name, "@\n")] = '\0';
        if (strcmp(name, SPARK_ENTRY_SYMBOL) == 0) {
            list.has_entry = 1;
        } else {
            fprintf(stderr, "   %s also exports %s\n", path, name);
            list.other_count++;
        }
    }
    list.nm_status = pclose(pipe);
    return list;
}

/* ---- parameters --------------------------------------------------------------------- */

typedef struct param_value {
    char *text; /* NULL: no value */
    int64_t integer;
    double number;
    int32_t boolean;
} param_value;

struct fake_params {
    spark_params api;
    const spark_param_desc *schema;
    uint32_t count;
    param_value *values; /* [count] */
};

static int bool_from_text(const char *text, int32_t *out)
{
    static const char *const truths[] = { "true", "yes", "on", "1" };
    static const char *const lies[] = { "false", "no", "off", "0" };
    for (size_t i = 0; i < sizeof truths / sizeof truths[0]; i++) {
        if (strcasecmp(text, truths[i]) == 0 || strcasecmp(text, lies[i]) == 0) {
            *out = strcasecmp(text, truths[i]) == 0;
            return 0;
        }
    }
    return -1;
}

/* The value of text for one schema entry, parsed as the engine parses it (limits aside). */
static int param_parse(param_value *out, const spark_param_desc *desc, const char *text)
{
    char *end = NULL;
    param_value value = { NULL, 0, 0.0, 0 };
    errno = 0;
    switch (desc->type) {
    case SPARK_PARAM_INTEGER:
        value.integer = strtoll(text, &end, 10);
        if (!*text || *end || errno == ERANGE)
            return setup_failure("parameter %s expects an integer, got '%s'", desc->key, text);
        value.number = (double)value.integer;
        break;
    case SPARK_PARAM_NUMBER:
        value.number = strtod(text, &end);
        if (!*text || *end || errno == ERANGE || !isfinite(value.number))
            return setup_failure("parameter %s expects a number, got '%s'", desc->key, text);
        value.integer = (int64_t)value.number;
        break;
    case SPARK_PARAM_BOOLEAN:
        if (bool_from_text(text, &value.boolean) != 0)
            return setup_failure("parameter %s expects true or false, got '%s'", desc->key,
                                 text);
        value.integer = value.boolean;
        value.number = value.boolean;
        text = value.boolean ? "true" : "false";
        break;
    case SPARK_PARAM_ENUM: {
        int found = 0;
        for (const char *const *choice = desc->choices; choice && *choice; choice++)
            found |= strcmp(*choice, text) == 0;
        if (!found)
            return setup_failure("parameter %s has no choice '%s'", desc->key, text);
        break;
    }
    case SPARK_PARAM_STRING:
    case SPARK_PARAM_URL:
        break;
    default:
        return setup_failure("parameter %s has unknown type %d", desc->key, (int)desc->type);
    }
    value.text = strdup(text);
    if (!value.text)
        return setup_failure("out of memory");
    free(out->text);
    *out = value;
    return 0;
}

static int param_index(const fake_params *params, const char *key)
{
    for (uint32_t i = 0; key && i < params->count; i++)
        if (strcmp(params->schema[i].key, key) == 0)
            return (int)i;
    return -1;
}

static const param_value *param_lookup(void *user, const char *key)
{
    const fake_params *params = user;
    int index = param_index(params, key);
    return index < 0 || !params->values[index].text ? NULL : &params->values[index];
}

static int32_t param_has(void *user, const char *key)
{
    return param_lookup(user, key) != NULL;
}

static const char *param_string(void *user, const char *key)
{
    const param_value *value = param_lookup(user, key);
    return value ? value->text : NULL;
}

static int64_t param_integer(void *user, const char *key)
{
    const param_value *value = param_lookup(user, key);
    return value ? value->integer : 0;
}

static double param_number(void *user, const char *key)
{
    const param_value *value = param_lookup(user, key);
    return value ? value->number : 0.0;
}

static int32_t param_boolean(void *user, const char *key)
{
    const param_value *value = param_lookup(user, key);
    return value ? value->boolean : 0;
}

/* Empty values over schema[count]. */
static fake_params *params_alloc(const spark_param_desc *schema, uint32_t count)
{
    fake_params *params = calloc(1, sizeof *params);
    if (!params)
        return NULL;
    params->values = calloc(count ? count : 1, sizeof *params->values);
    if (!params->values) {
        free(params);
        return NULL;
    }
    params->schema = schema;
    params->count = count;
    params->api.struct_size = sizeof(spark_params);
    params->api.user = params;
    params->api.has = param_has;
    params->api.get_string = param_string;
    params->api.get_integer = param_integer;
    params->api.get_number = param_number;
    params->api.get_boolean = param_boolean;
    return params;
}

static int params_apply(fake_params *params, const char *const *settings)
{
    for (; settings && settings[0]; settings += 2) {
        int index = param_index(params, settings[0]);
        if (index < 0) {
            setup_failure("no parameter '%s' in the schema", settings[0]);
            return -1;
        }
        if (!settings[1]) {
            setup_failure("parameter '%s' has no value", settings[0]);
            return -1;
        }
        if (param_parse(&params->values[index], &params->schema[index], settings[1]) != 0)
            return -1;
    }
    return 0;
}

/* Values over schema[count]: base's when given (a job's start from its node's), else the
 * schema's defaults; then settings on top. */
static fake_params *params_build(const spark_param_desc *schema, uint32_t count,
                                 const fake_params *base, const char *const *settings)
{
    fake_params *params = params_alloc(schema, count);
    int failed = !params;
    if (failed)
        setup_failure("out of memory");
    for (uint32_t i = 0; !failed && i < count; i++) {
        const char *text = base ? base->values[i].text : schema[i].default_value;
        failed = text && param_parse(&params->values[i], &schema[i], text) != 0;
    }
    if (!failed)
        failed = params_apply(params, settings) != 0;
    if (failed) {
        fake_params_free(params);
        return NULL;
    }
    return params;
}

fake_params *fake_params_new(const spark_param_desc *schema, uint32_t count,
                             const char *const *settings)
{
    return params_build(schema, count, NULL, settings);
}

/* A job's values: its node's, with settings on top. */
static fake_params *params_derive(const fake_params *base, const char *const *settings)
{
    return params_build(base->schema, base->count, base, settings);
}

const spark_params *fake_params_api(const fake_params *params)
{
    return params ? &params->api : NULL;
}

void fake_params_free(fake_params *params)
{
    if (!params)
        return;
    for (uint32_t i = 0; i < params->count; i++)
        free(params->values[i].text);
    free(params->values);
    free(params);
}

/* ---- nodes -------------------------------------------------------------------------- */

/* What the engine offers negotiate: inputs carry upstream's format, outputs are to fill. */
static void offer_formats(fake_node *node, const spark_format *input_offer)
{
    const spark_node_desc *desc = node->desc;
    for (uint32_t i = 0; i < desc->port_count; i++) {
        spark_format *format = &node->formats[i];
        memset(format, 0, sizeof *format);
        format->struct_size = sizeof(spark_format);
        if (desc->ports[i].direction != SPARK_PORT_IN)
            continue;
        if (input_offer && input_offer->kind == desc->ports[i].kind)
            *format = *input_offer;
        format->struct_size = sizeof(spark_format);
        format->kind = desc->ports[i].kind;
    }
}

/* What a NULL negotiate means: each output takes the first input of its kind. */
static void default_negotiate(fake_node *node)
{
    const spark_node_desc *desc = node->desc;
    for (uint32_t out = 0; out < desc->port_count; out++) {
        if (desc->ports[out].direction != SPARK_PORT_OUT)
            continue;
        node->formats[out].kind = desc->ports[out].kind;
        for (uint32_t in = 0; in < desc->port_count; in++)
            if (desc->ports[in].direction == SPARK_PORT_IN &&
                desc->ports[in].kind == desc->ports[out].kind) {
                node->formats[out] = node->formats[in];
                break;
            }
    }
}

spark_status fake_node_open(fake_node *node, const spark_node_desc *desc,
                            const char *const *settings, const spark_format *input_offer)
{
    const spark_node_ops *ops;
    spark_status status;
    memset(node, 0, sizeof *node);
    node->desc = desc;
    if (!desc)
        return SPARK_E_NOT_FOUND;
    ops = desc->ops;
    if (desc->port_count > FAKE_MAX_PORTS)
        return setup_failure("%s has %u ports, more than the fake's %d", desc->id,
                             (unsigned)desc->port_count, FAKE_MAX_PORTS);
    node->params = fake_params_new(desc->params, desc->param_count, settings);
    if (!node->params)
        return SPARK_E_INTERNAL;
    status = ops->create(fake_host(), desc->id, &node->self);
    if (status < 0)
        return status;
    if (ops->configure) {
        /* configure's values are borrowed until it returns: a copy of its own shows a
         * plugin that keeps them (AddressSanitizer). */
        fake_params *borrowed = params_derive(node->params, NULL);
        if (!borrowed)
            return setup_failure("out of memory");
        status = ops->configure(node->self, fake_params_api(borrowed));
        fake_params_free(borrowed);
        if (status < 0)
            return status;
    }
    offer_formats(node, input_offer);
    if (ops->negotiate) {
        status = ops->negotiate(node->self, node->formats, desc->port_count);
        if (status < 0)
            return status;
    } else {
        default_negotiate(node);
    }
    if (ops->activate) {
        status = ops->activate(node->self);
        if (status < 0)
            return status;
    }
    node->active = 1;
    return SPARK_OK;
}

void fake_node_close(fake_node *node)
{
    if (node->active && node->desc->ops->deactivate)
        node->desc->ops->deactivate(node->self);
    if (node->self)
        node->desc->ops->destroy(node->self);
    fake_params_free(node->params);
    memset(node, 0, sizeof *node);
}

/* ---- jobs --------------------------------------------------------------------------- */

/* A refused call of the node's, posted as the engine posts it. */
static spark_status refuse(const char *message)
{
    post_error(NULL, message);
    return SPARK_E_INVALID_ARGUMENT;
}

static spark_status job_emit(const spark_job *api, uint32_t port, const spark_packet *packet)
{
    fake_job *job = api->host_data;
    const spark_node_desc *desc = job->node->desc;
    spark_status stop;
    port_output *output;
    long long limit;

    if (!packet)
        return refuse("emit of a NULL packet");
    /* emit owns the packet from here on, also when it refuses it. */
    if (port >= desc->port_count || desc->ports[port].direction != SPARK_PORT_OUT ||
        desc->ports[port].kind != packet->kind) {
        char message[160];
        snprintf(message, sizeof message,
                 "emit on port %u, which is not an output port of the packet's kind",
                 (unsigned)port);
        fake_release(packet);
        return refuse(message);
    }
    stop = atomic_load(&job->stop);
    limit = atomic_load(&job->cancel_after);
    if (stop == SPARK_OK && limit >= 0 && job->emitted >= (size_t)limit)
        stop = SPARK_E_CANCELLED;
    if (stop != SPARK_OK) {
        fake_release(packet);
        return stop;
    }
    output = &job->outputs[port];
    if (output->count == output->capacity) {
        size_t capacity = output->capacity ? output->capacity * 2 : 8;
        const spark_packet **grown = realloc(output->packets, capacity * sizeof *grown);
        if (!grown) {
            fake_release(packet);
            return SPARK_E_NO_MEMORY;
        }
        output->packets = grown;
        output->capacity = capacity;
    }
    output->packets[output->count++] = packet;
    job->emitted++;
    return SPARK_OK;
}

static posted_result *find_result(const fake_job *job, const char *name)
{
    for (size_t i = 0; job && i < job->result_count; i++)
        if (strcmp(job->results[i].name, name) == 0)
            return &job->results[i];
    return NULL;
}

static spark_status job_post_result(const spark_job *api, const char *name, int32_t type,
                                    const char *text, double number)
{
    fake_job *job = api->host_data;
    const spark_node_desc *desc = job->node->desc;
    posted_result *result;
    char *copy;
    int declared = 0;

    for (uint32_t r = 0; name && r < desc->result_count; r++)
        declared |= strcmp(desc->results[r].name, name) == 0;
    if (!declared) {
        char message[160];
        snprintf(message, sizeof message,
                 "result '%s' is not declared in the node's descriptor", name ? name : "(null)");
        return refuse(message);
    }
    copy = strdup(text ? text : "");
    if (!copy)
        return SPARK_E_NO_MEMORY;
    result = find_result(job, name);
    if (!result) {
        posted_result *grown = realloc(job->results, (job->result_count + 1) * sizeof *grown);
        char *name_copy = strdup(name);
        if (grown)
            job->results = grown;
        if (!grown || !name_copy) {
            free(name_copy);
            free(copy);
            return SPARK_E_NO_MEMORY;
        }
        result = &job->results[job->result_count++];
        result->name = name_copy;
        result->text = NULL;
    }
    free(result->text);
    result->text = copy;
    result->value.type = type;
    result->value.text = copy;
    result->value.number = number;
    return SPARK_OK;
}

spark_status fake_job_begin(fake_node *node, const char *id, const char *const *settings,
                            fake_job **out_job)
{
    const spark_node_ops *ops;
    fake_job *job;
    spark_status status;

    *out_job = NULL;
    if (!node || !node->active)
        return setup_failure("a job needs an active node");
    job = calloc(1, sizeof *job);
    if (!job)
        return setup_failure("out of memory");
    job->node = node;
    atomic_init(&job->stop, SPARK_OK);
    atomic_init(&job->cancel_after, -1);
    atomic_init(&job->deadline_ns, LLONG_MAX);
    job->id = strdup(id ? id : "job");
    job->params = params_derive(node->params, settings);
    if (!job->id || !job->params) {
        fake_job_free(job);
        return SPARK_E_INTERNAL;
    }
    job->api.struct_size = sizeof(spark_job);
    job->api.id = job->id;
    job->api.params = fake_params_api(job->params);
    job->api.host_data = job;
    job->api.emit = job_emit;
    job->api.post_result = job_post_result;
    *out_job = job;

    ops = node->desc->ops;
    if (!ops->job_begin) {
        job->begun = 1;
        return SPARK_OK;
    }
    status = ops->job_begin(node->self, &job->api, &job->state);
    job->begun = status >= 0;
    return status;
}

spark_status fake_job_process(fake_job *job, uint32_t port, const spark_packet *packet)
{
    if (!job || !job->begun)
        return setup_failure("process on a job that has not begun");
    return job->node->desc->ops->process(job->node->self, job->state, &job->api, port, packet);
}

spark_status fake_job_end(fake_job *job, spark_status outcome)
{
    spark_status status = SPARK_OK;
    if (!job || !job->begun)
        return SPARK_OK;
    job->begun = 0;
    if (job->node->desc->ops->job_end)
        status = job->node->desc->ops->job_end(job->node->self, job->state, &job->api,
                                               outcome);
    return status;
}

void fake_job_free(fake_job *job)
{
    if (!job)
        return;
    fake_job_end(job, SPARK_E_CANCELLED);
    for (uint32_t port = 0; port < FAKE_MAX_PORTS; port++) {
        for (size_t i = 0; i < job->outputs[port].count; i++)
            fake_release(job->outputs[port].packets[i]);
        free(job->outputs[port].packets);
    }
    for (size_t i = 0; i < job->result_count; i++) {
        free(job->results[i].name);
        free(job->results[i].text);
    }
    free(job->results);
    fake_params_free(job->params);
    free(job->id);
    free(job);
}

size_t fake_job_output_count(const fake_job *job, uint32_t port)
{
    return job && port < FAKE_MAX_PORTS ? job->outputs[port].count : 0;
}

const spark_packet *fake_job_output(const fake_job *job, uint32_t port, size_t index)
{
    return index < fake_job_output_count(job, port) ? job->outputs[port].packets[index] : NULL;
}

const fake_result *fake_job_result(const fake_job *job, const char *name)
{
    const posted_result *result = find_result(job, name);
    return result ? &result->value : NULL;
}

const char *fake_job_result_text(const fake_job *job, const char *name)
{
    const fake_result *result = fake_job_result(job, name);
    return result ? result->text : NULL;
}

void fake_job_stop(fake_job *job, spark_status status)
{
    atomic_store(&job->stop, status);
}

void fake_job_cancel_after_emits(fake_job *job, size_t count)
{
    atomic_store(&job->cancel_after, (long long)count);
}

void fake_job_set_deadline_ms(fake_job *job, int64_t ms_from_now)
{
    atomic_store(&job->deadline_ns, monotonic_ns() + (long long)ms_from_now * 1000000LL);
}
