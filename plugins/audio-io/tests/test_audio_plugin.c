/* The audio-io plugin through its ABI: loaded with dlopen, driven by a small fake host
 * (alloc, log, progress services, params with defaults filled, jobs that capture what is
 * emitted). ffprobe/ffmpeg judge the encoded output. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/ext/alloc.h>
#include <spark/ext/log.h>
#include <spark/ext/progress.h>
#include <spark/plugin.h>

#include "audio_test_support.h"
#include "check.h"

/* ---- fake host: packets ---------------------------------------------------------------- */

typedef struct fake_packet {
    spark_packet packet; /* first, so a spark_packet * is a fake_packet * */
    int references;
    float **planes;
    uint8_t *bytes;
    char *media_type;
    char *file_name;
} fake_packet;

static long live_packets;

static fake_packet *new_packet(int32_t kind)
{
    fake_packet *fake = calloc(1, sizeof(*fake));
    if (!fake)
        return NULL;
    fake->packet.struct_size = sizeof(spark_packet);
    fake->packet.kind = kind;
    fake->references = 1;
    live_packets++;
    return fake;
}

static void release_packet(const spark_packet *packet)
{
    if (!packet)
        return;
    fake_packet *fake = (fake_packet *)packet;
    if (--fake->references > 0)
        return;
    if (fake->planes) {
        for (uint32_t c = 0; c < fake->packet.data.audio.channels; c++)
            free(fake->planes[c]);
        free(fake->planes);
    }
    free(fake->bytes);
    free(fake->media_type);
    free(fake->file_name);
    free(fake);
    live_packets--;
}

static const spark_packet *retain_packet(const spark_packet *packet)
{
    ((fake_packet *)packet)->references++;
    return packet;
}

static spark_packet *alloc_audio(const spark_host *host, uint32_t channels, uint64_t frames,
                                 uint32_t rate)
{
    (void)host;
    fake_packet *fake = new_packet(SPARK_KIND_AUDIO);
    if (!fake)
        return NULL;
    fake->planes = calloc(channels, sizeof(float *));
    fake->packet.data.audio.channels = channels;
    for (uint32_t c = 0; c < channels; c++)
        fake->planes[c] = calloc(frames ? frames : 1, sizeof(float));
    fake->packet.data.audio.planes = fake->planes;
    fake->packet.data.audio.frames = frames;
    fake->packet.data.audio.rate = rate;
    return &fake->packet;
}

static spark_packet *alloc_blob(const spark_host *host, uint64_t size, const char *media_type,
                                const char *file_name)
{
    (void)host;
    fake_packet *fake = new_packet(SPARK_KIND_BLOB);
    if (!fake)
        return NULL;
    fake->bytes = calloc(size ? size : 1, 1);
    fake->packet.data.blob.bytes = fake->bytes;
    fake->packet.data.blob.size = size;
    fake->media_type = strdup(media_type ? media_type : "");
    fake->file_name = strdup(file_name ? file_name : "");
    fake->packet.data.blob.media_type = fake->media_type;
    fake->packet.data.blob.file_name = fake->file_name;
    return &fake->packet;
}

static const spark_ext_alloc fake_alloc = {
    .struct_size = sizeof(spark_ext_alloc),
    .audio = alloc_audio,
    .blob = alloc_blob,
    .retain = retain_packet,
    .release = release_packet,
};

/* ---- fake host: log and progress -------------------------------------------------------- */

static char last_error[1024];

static void fake_log(const spark_host *host, int32_t level, const char *message)
{
    (void)host;
    fprintf(stderr, "   [log %d] %s\n", (int)level, message);
}

static void fake_error(const spark_host *host, const char *message)
{
    (void)host;
    snprintf(last_error, sizeof(last_error), "%s", message);
    fprintf(stderr, "   [error] %s\n", message);
}

static const spark_ext_log fake_log_service = {
    .struct_size = sizeof(spark_ext_log),
    .log = fake_log,
    .error = fake_error,
};

static int cancel_all_jobs;

static spark_status fake_check(const spark_host *host, const spark_job *job)
{
    (void)host;
    (void)job;
    return cancel_all_jobs ? SPARK_E_CANCELLED : SPARK_OK;
}

static void fake_report(const spark_host *host, const spark_job *job, double fraction,
                        const char *what)
{
    (void)host;
    (void)job;
    (void)fraction;
    (void)what;
}

static const spark_ext_progress fake_progress = {
    .struct_size = sizeof(spark_ext_progress),
    .check = fake_check,
    .report = fake_report,
};

static const void *fake_get_extension(const spark_host *host, const char *id)
{
    (void)host;
    if (strcmp(id, SPARK_EXT_ALLOC) == 0)
        return &fake_alloc;
    if (strcmp(id, SPARK_EXT_LOG) == 0)
        return &fake_log_service;
    if (strcmp(id, SPARK_EXT_PROGRESS) == 0)
        return &fake_progress;
    return NULL;
}

/* A host without the alloc service: nodes cannot work there and must say so. */
static const void *log_only_get_extension(const spark_host *host, const char *id)
{
    (void)host;
    return strcmp(id, SPARK_EXT_LOG) == 0 ? &fake_log_service : NULL;
}

static const spark_host log_only_host = {
    .struct_size = sizeof(spark_host),
    .abi = SPARK_ABI_VERSION_INIT,
    .name = "sparkhost",
    .version = "test",
    .get_extension = log_only_get_extension,
};

static const spark_host fake_host = {
    .struct_size = sizeof(spark_host),
    .abi = SPARK_ABI_VERSION_INIT,
    .name = "sparkhost",
    .version = "test",
    .get_extension = fake_get_extension,
};

/* ---- fake host: params ----------------------------------------------------------------- */

#define MAX_PARAMS 8

typedef struct fake_params {
    spark_params params;
    const spark_node_desc *desc;
    const char *values[MAX_PARAMS]; /* text form, default filled in */
} fake_params;

static const char *param_value(void *user, const char *key)
{
    fake_params *fake = user;
    for (uint32_t i = 0; i < fake->desc->param_count && i < MAX_PARAMS; i++)
        if (strcmp(fake->desc->params[i].key, key) == 0)
            return fake->values[i];
    return NULL;
}

static int32_t param_has(void *user, const char *key)
{
    return param_value(user, key) != NULL;
}

static int64_t param_integer(void *user, const char *key)
{
    const char *value = param_value(user, key);
    return value ? strtoll(value, NULL, 10) : 0;
}

static double param_number(void *user, const char *key)
{
    const char *value = param_value(user, key);
    return value ? strtod(value, NULL) : 0.0;
}

static int32_t param_boolean(void *user, const char *key)
{
    const char *value = param_value(user, key);
    return value && strcmp(value, "true") == 0;
}

/* overrides: NULL-terminated key, value pairs. */
static void make_params(fake_params *fake, const spark_node_desc *desc,
                        const char *const *overrides)
{
    memset(fake, 0, sizeof(*fake));
    fake->desc = desc;
    for (uint32_t i = 0; i < desc->param_count && i < MAX_PARAMS; i++) {
        fake->values[i] = desc->params[i].default_value;
        for (size_t o = 0; overrides && overrides[o]; o += 2)
            if (strcmp(overrides[o], desc->params[i].key) == 0)
                fake->values[i] = overrides[o + 1];
    }
    fake->params.struct_size = sizeof(spark_params);
    fake->params.user = fake;
    fake->params.has = param_has;
    fake->params.get_string = param_value;
    fake->params.get_integer = param_integer;
    fake->params.get_number = param_number;
    fake->params.get_boolean = param_boolean;
}

/* ---- fake host: jobs ------------------------------------------------------------------- */

#define MAX_CAPTURED 256
#define MAX_RESULTS 8

typedef struct captured_result {
    char name[32];
    int32_t type;
    char text[64];
    double number;
} captured_result;

typedef struct fake_job {
    spark_job job;
    fake_params params;
    const spark_packet *emitted[MAX_CAPTURED];
    uint32_t emitted_ports[MAX_CAPTURED];
    size_t emitted_count;
    captured_result results[MAX_RESULTS];
    size_t result_count;
} fake_job;

static spark_status fake_emit(const spark_job *job, uint32_t port, const spark_packet *packet)
{
    fake_job *fake = job->host_data;
    if (fake->emitted_count == MAX_CAPTURED) {
        release_packet(packet);
        return SPARK_E_INTERNAL;
    }
    fake->emitted_ports[fake->emitted_count] = port;
    fake->emitted[fake->emitted_count++] = packet;
    return SPARK_OK;
}

static spark_status fake_post_result(const spark_job *job, const char *name, int32_t type,
                                     const char *text, double number)
{
    fake_job *fake = job->host_data;
    if (fake->result_count == MAX_RESULTS)
        return SPARK_E_INTERNAL;
    captured_result *result = &fake->results[fake->result_count++];
    snprintf(result->name, sizeof(result->name), "%s", name);
    snprintf(result->text, sizeof(result->text), "%s", text ? text : "");
    result->type = type;
    result->number = number;
    return SPARK_OK;
}

static void make_job(fake_job *fake, const spark_node_desc *desc, const char *const *overrides)
{
    memset(fake, 0, sizeof(*fake));
    make_params(&fake->params, desc, overrides);
    fake->job.struct_size = sizeof(spark_job);
    fake->job.id = "test-job";
    fake->job.params = &fake->params.params;
    fake->job.host_data = fake;
    fake->job.emit = fake_emit;
    fake->job.post_result = fake_post_result;
}

static void clear_job(fake_job *fake)
{
    for (size_t i = 0; i < fake->emitted_count; i++)
        release_packet(fake->emitted[i]);
    fake->emitted_count = 0;
}

static const captured_result *find_result(const fake_job *fake, const char *name)
{
    for (size_t i = 0; i < fake->result_count; i++)
        if (strcmp(fake->results[i].name, name) == 0)
            return &fake->results[i];
    return NULL;
}

/* ---- driving nodes --------------------------------------------------------------------- */

typedef struct node {
    const spark_node_desc *desc;
    void *self;
    spark_format formats[2];
} node;

static const spark_node_factory *factory;

static const spark_node_desc *find_desc(const char *id)
{
    for (uint32_t i = 0; factory && i < factory->node_count; i++)
        if (strcmp(factory->nodes[i]->id, id) == 0)
            return factory->nodes[i];
    return NULL;
}

/* create, configure, negotiate (input format offered), activate. */
static spark_status start_node(node *n, const char *id, const char *const *overrides,
                               spark_format offered_input)
{
    memset(n, 0, sizeof(*n));
    n->desc = find_desc(id);
    if (!n->desc)
        return SPARK_E_NOT_FOUND;
    const spark_node_ops *ops = n->desc->ops;
    spark_status status = ops->create(&fake_host, id, &n->self);
    if (status != SPARK_OK)
        return status;
    fake_params params;
    make_params(&params, n->desc, overrides);
    status = ops->configure(n->self, &params.params);
    if (status != SPARK_OK)
        return status;
    n->formats[0] = offered_input;
    n->formats[0].struct_size = sizeof(spark_format);
    n->formats[1].struct_size = sizeof(spark_format);
    status = ops->negotiate(n->self, n->formats, 2);
    if (status == SPARK_OK && ops->activate)
        status = ops->activate(n->self);
    return status;
}

static void stop_node(node *n)
{
    if (!n->self)
        return;
    if (n->desc->ops->deactivate)
        n->desc->ops->deactivate(n->self);
    n->desc->ops->destroy(n->self);
    n->self = NULL;
}

static const spark_format any_audio = { sizeof(spark_format), SPARK_KIND_AUDIO, 0, 0, 0.0,
                                        NULL };
static const spark_format any_blob = { sizeof(spark_format), SPARK_KIND_BLOB, 0, 0, 0.0, NULL };

typedef struct running_job {
    fake_job fake;
    void *state;
    spark_status status;
} running_job;

static spark_status begin(node *n, running_job *run, const char *const *job_overrides)
{
    make_job(&run->fake, n->desc, job_overrides);
    run->state = NULL;
    run->status = n->desc->ops->job_begin(n->self, &run->fake.job, &run->state);
    return run->status;
}

static spark_status feed(node *n, running_job *run, const spark_packet *packet)
{
    if (run->status < 0)
        return run->status;
    spark_status status = n->desc->ops->process(n->self, run->state, &run->fake.job, 0, packet);
    if (status < 0)
        run->status = status;
    return status;
}

static void end(node *n, running_job *run)
{
    n->desc->ops->job_end(n->self, run->state, &run->fake.job,
                          run->status < 0 ? run->status : SPARK_OK);
    clear_job(&run->fake);
}

/* One whole job: every input packet, then the end of the stream. */
static spark_status run_job(node *n, running_job *run, const char *const *job_overrides,
                            const spark_packet *const *inputs, size_t input_count)
{
    if (begin(n, run, job_overrides) != SPARK_OK)
        return run->status;
    for (size_t i = 0; i < input_count && run->status >= 0; i++)
        feed(n, run, inputs[i]);
    if (run->status >= 0)
        feed(n, run, NULL);
    return run->status < 0 ? run->status : SPARK_OK;
}

static spark_packet *blob_from(const uint8_t *bytes, size_t size, const char *file_name)
{
    spark_packet *packet = alloc_blob(&fake_host, size, "application/octet-stream", file_name);
    memcpy(packet->data.blob.bytes, bytes, size);
    return packet;
}

static spark_packet *audio_packet(uint32_t rate, uint32_t channels, uint64_t frames,
                                  double frequency, int64_t seq, int64_t timestamp)
{
    spark_packet *packet = alloc_audio(&fake_host, channels, frames, rate);
    for (uint32_t c = 0; c < channels; c++)
        for (uint64_t i = 0; i < frames; i++)
            packet->data.audio.planes[c][i] =
                (float)(0.5 * sin(2.0 * M_PI * frequency * (double)(timestamp + (int64_t)i) /
                                  rate) /
                        (c + 1));
    packet->data.audio.timestamp = timestamp;
    packet->seq = seq;
    return packet;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_entry_and_descriptors(const spark_entry *entry)
{
    fprintf(stderr, "-- entry and descriptors\n");
    CHECK_INT_EQ(entry->struct_size, sizeof(spark_entry));
    CHECK_INT_EQ(entry->abi.major, SPARK_ABI_MAJOR);
    CHECK(entry->abi.minor <= SPARK_ABI_MINOR);
    CHECK_STR_EQ(entry->name, "audio-io");
    CHECK(entry->get_factory("spark.factory.storage/1") == NULL);
    CHECK(factory != NULL);
    if (!factory)
        return;
    CHECK_INT_EQ(factory->node_count, 3);
    const char *ids[] = { "org.sparkhost.audio.decode", "org.sparkhost.audio.resample",
                          "org.sparkhost.audio.encode" };
    for (size_t i = 0; i < 3; i++) {
        const spark_node_desc *desc = find_desc(ids[i]);
        CHECK(desc != NULL);
        if (!desc)
            continue;
        CHECK_INT_EQ(desc->struct_size, sizeof(spark_node_desc));
        CHECK_INT_EQ(desc->port_count, 2);
        CHECK_STR_EQ(desc->ports[0].name, "in");
        CHECK_INT_EQ(desc->ports[0].direction, SPARK_PORT_IN);
        CHECK_STR_EQ(desc->ports[1].name, "out");
        CHECK_INT_EQ(desc->ports[1].direction, SPARK_PORT_OUT);
        CHECK(desc->ops && desc->ops->create && desc->ops->process && desc->ops->destroy);
        for (uint32_t p = 0; p < desc->param_count; p++) {
            const spark_param_desc *param = &desc->params[p];
            CHECK(param->default_value != NULL);
            if (param->type == SPARK_PARAM_ENUM) {
                int found = 0;
                for (const char *const *choice = param->choices; choice && *choice; choice++)
                    found |= strcmp(*choice, param->default_value) == 0;
                CHECK(found);
            }
        }
    }
    const spark_node_desc *decode = find_desc(ids[0]);
    const spark_node_desc *resample = find_desc(ids[1]);
    const spark_node_desc *encode = find_desc(ids[2]);
    if (!decode || !resample || !encode)
        return;
    for (size_t i = 0; i < 3; i++) {
        const spark_node_desc *desc = find_desc(ids[i]);
        void *self = (void *)&self;
        last_error[0] = '\0';
        CHECK_INT_EQ(desc->ops->create(&log_only_host, ids[i], &self), SPARK_E_UNSUPPORTED);
        CHECK(self == NULL);
        CHECK_STR_CONTAINS(last_error, "spark.ext.alloc/1");
    }
    CHECK_INT_EQ(decode->ports[0].kind, SPARK_KIND_BLOB);
    CHECK_INT_EQ(decode->ports[1].kind, SPARK_KIND_AUDIO);
    CHECK_INT_EQ(resample->ports[0].kind, SPARK_KIND_AUDIO);
    CHECK_INT_EQ(encode->ports[1].kind, SPARK_KIND_BLOB);
    CHECK_STR_EQ(resample->params[0].key, "rate");
    CHECK_STR_EQ(resample->params[0].default_value, "16000");
    CHECK_INT_EQ(encode->result_count, 5);
    CHECK_STR_EQ(encode->params[0].key, "format");
    CHECK(encode->params[0].flags & SPARK_PARAM_PER_JOB);
    CHECK_STR_EQ(encode->params[2].default_value, "0.6");
}

static void test_only_the_entry_is_exported(const char *plugin_path)
{
    fprintf(stderr, "-- exported symbols\n");
    char command[1200];
    snprintf(command, sizeof(command), "nm -D --defined-only '%s'", plugin_path);
    FILE *pipe = popen(command, "r");
    CHECK(pipe != NULL);
    if (!pipe)
        return;
    char line[512];
    int entry_seen = 0, others = 0;
    while (fgets(line, sizeof(line), pipe)) {
        if (strstr(line, " spark_plugin_entry"))
            entry_seen = 1;
        else {
            fprintf(stderr, "   unexpected export: %s", line);
            others++;
        }
    }
    CHECK_INT_EQ(pclose(pipe), 0);
    CHECK(entry_seen);
    CHECK_INT_EQ(others, 0);
}

/* decode (pieces of 0.25 s) -> resample (16 kHz mono) -> encode (flac, chosen per job). */
static void test_pipeline(const char *dir)
{
    fprintf(stderr, "-- decode -> resample -> encode\n");
    char path[1024], command[2048];
    snprintf(path, sizeof(path), "%s/input.wav", dir);
    snprintf(command, sizeof(command),
             "ffmpeg -v error -y -f lavfi -i "
             "\"sine=frequency=1000:sample_rate=44100:duration=1\" -ac 2 '%s'",
             path);
    CHECK(run_command(command));
    size_t size = 0;
    uint8_t *bytes = read_whole_file(path, &size);
    CHECK(bytes != NULL);
    if (!bytes)
        return;

    node decode, resample, encode;
    const char *decode_params[] = { "chunk_seconds", "0.25", NULL };
    const char *resample_params[] = { "rate", "16000", "channels", "1", NULL };
    CHECK_INT_EQ(start_node(&decode, "org.sparkhost.audio.decode", decode_params, any_blob),
                 SPARK_OK);
    CHECK_INT_EQ(decode.formats[1].kind, SPARK_KIND_AUDIO);
    CHECK_INT_EQ(decode.formats[1].rate, 0);
    spark_format offered = decode.formats[1];
    CHECK_INT_EQ(start_node(&resample, "org.sparkhost.audio.resample", resample_params, offered),
                 SPARK_OK);
    CHECK_INT_EQ(resample.formats[1].rate, 16000);
    CHECK_INT_EQ(resample.formats[1].channels, 1);
    CHECK_INT_EQ(start_node(&encode, "org.sparkhost.audio.encode", NULL, resample.formats[1]),
                 SPARK_OK);
    CHECK_INT_EQ(encode.formats[1].kind, SPARK_KIND_BLOB);

    /* decode */
    spark_packet *blob = blob_from(bytes, size, "input.wav");
    running_job decoding;
    CHECK_INT_EQ(run_job(&decode, &decoding, NULL, (const spark_packet *const *)&blob, 1),
                 SPARK_OK);
    CHECK_INT_EQ(decoding.fake.emitted_count, 4);
    for (size_t i = 0; i < decoding.fake.emitted_count; i++) {
        const spark_packet *packet = decoding.fake.emitted[i];
        CHECK_INT_EQ(decoding.fake.emitted_ports[i], 1);
        CHECK_INT_EQ(packet->kind, SPARK_KIND_AUDIO);
        CHECK_INT_EQ(packet->seq, (int64_t)i);
        CHECK_INT_EQ(packet->data.audio.timestamp, (int64_t)(i * 11025));
        CHECK_INT_EQ(packet->data.audio.frames, 11025);
        CHECK_INT_EQ(packet->data.audio.rate, 44100);
        CHECK_INT_EQ(packet->data.audio.channels, 2);
    }

    /* resample */
    running_job resampling;
    CHECK_INT_EQ(run_job(&resample, &resampling, NULL, decoding.fake.emitted,
                         decoding.fake.emitted_count),
                 SPARK_OK);
    uint64_t resampled_frames = 0;
    for (size_t i = 0; i < resampling.fake.emitted_count; i++) {
        const spark_packet *packet = resampling.fake.emitted[i];
        CHECK_INT_EQ(packet->seq, (int64_t)i);
        CHECK_INT_EQ(packet->data.audio.timestamp, (int64_t)resampled_frames);
        CHECK_INT_EQ(packet->data.audio.rate, 16000);
        CHECK_INT_EQ(packet->data.audio.channels, 1);
        resampled_frames += packet->data.audio.frames;
    }
    /* Streaming: output after every input packet, plus the flushed tail. */
    CHECK_INT_EQ(resampling.fake.emitted_count, 5);
    CHECK_NEAR((double)resampled_frames, 16000.0, 3.0);

    /* encode, with the format chosen by the job */
    running_job encoding;
    const char *job_format[] = { "format", "flac", NULL };
    CHECK_INT_EQ(run_job(&encode, &encoding, job_format, resampling.fake.emitted,
                         resampling.fake.emitted_count),
                 SPARK_OK);
    CHECK_INT_EQ(encoding.fake.emitted_count, 1);
    if (encoding.fake.emitted_count == 1) {
        const spark_packet *out = encoding.fake.emitted[0];
        CHECK_INT_EQ(encoding.fake.emitted_ports[0], 1);
        CHECK_INT_EQ(out->kind, SPARK_KIND_BLOB);
        CHECK_STR_EQ(out->data.blob.media_type, "audio/flac");
        CHECK_STR_EQ(out->data.blob.file_name, "audio.flac");
        const captured_result *duration = find_result(&encoding.fake, "duration");
        const captured_result *rate = find_result(&encoding.fake, "sample_rate");
        const captured_result *channels = find_result(&encoding.fake, "channels");
        const captured_result *format = find_result(&encoding.fake, "format");
        const captured_result *byte_count = find_result(&encoding.fake, "bytes");
        CHECK(duration && rate && channels && format && byte_count);
        if (duration && rate && channels && format && byte_count) {
            CHECK_INT_EQ(duration->type, SPARK_VALUE_NUMBER);
            CHECK_NEAR(duration->number, (double)resampled_frames / 16000.0, 1e-9);
            CHECK_INT_EQ(rate->type, SPARK_VALUE_INTEGER);
            CHECK_INT_EQ(rate->number, 16000);
            CHECK_STR_EQ(rate->text, "16000");
            CHECK_INT_EQ(channels->number, 1);
            CHECK_INT_EQ(format->type, SPARK_VALUE_STRING);
            CHECK_STR_EQ(format->text, "flac");
            CHECK_INT_EQ(byte_count->number, (double)out->data.blob.size);
        }
        char out_path[1024];
        snprintf(out_path, sizeof(out_path), "%s/%s", dir, out->data.blob.file_name);
        CHECK(write_whole_file(out_path, out->data.blob.bytes, out->data.blob.size));
        probe_result probe;
        CHECK(ffprobe_audio(out_path, &probe));
        CHECK_STR_EQ(probe.codec_name, "flac");
        CHECK_INT_EQ(probe.sample_rate, 16000);
        CHECK_INT_EQ(probe.channels, 1);
        CHECK_NEAR(probe.duration, 1.0, 0.001);
        size_t frames = 0;
        float *decoded = ffmpeg_decode_interleaved(out_path, 1, &frames);
        CHECK(decoded && frames > 3200);
        if (decoded && frames > 3200)
            CHECK_NEAR(zero_crossing_frequency(decoded + 800, frames - 1600, 1, 16000), 1000.0,
                       10.0);
        free(decoded);
    }

    /* The whole file as one packet when chunk_seconds is 0. */
    node whole;
    CHECK_INT_EQ(start_node(&whole, "org.sparkhost.audio.decode", NULL, any_blob), SPARK_OK);
    running_job whole_job;
    CHECK_INT_EQ(run_job(&whole, &whole_job, NULL, (const spark_packet *const *)&blob, 1),
                 SPARK_OK);
    CHECK_INT_EQ(whole_job.fake.emitted_count, 1);
    if (whole_job.fake.emitted_count == 1)
        CHECK_INT_EQ(whole_job.fake.emitted[0]->data.audio.frames, 44100);
    end(&whole, &whole_job);
    stop_node(&whole);

    end(&decode, &decoding);
    end(&resample, &resampling);
    end(&encode, &encoding);
    stop_node(&decode);
    stop_node(&resample);
    stop_node(&encode);
    release_packet(blob);
    free(bytes);
}

/* Two jobs interleaved on one resample instance give what each gives alone. */
static void test_jobs_are_independent(void)
{
    fprintf(stderr, "-- interleaved jobs on one instance\n");
    const char *params[] = { "rate", "22050", NULL };
    node n;
    CHECK_INT_EQ(start_node(&n, "org.sparkhost.audio.resample", params, any_audio), SPARK_OK);
    enum { PIECES = 6 };
    spark_packet *a[PIECES], *b[PIECES];
    for (int i = 0; i < PIECES; i++) {
        a[i] = audio_packet(48000, 2, 4801, 440.0, i, (int64_t)i * 4801);
        b[i] = audio_packet(16000, 1, 1601, 1000.0, i, (int64_t)i * 1601);
    }
    running_job alone_a, alone_b, mixed_a, mixed_b;
    CHECK_INT_EQ(run_job(&n, &alone_a, NULL, (const spark_packet *const *)a, PIECES), SPARK_OK);
    CHECK_INT_EQ(run_job(&n, &alone_b, NULL, (const spark_packet *const *)b, PIECES), SPARK_OK);
    CHECK_INT_EQ(begin(&n, &mixed_a, NULL), SPARK_OK);
    CHECK_INT_EQ(begin(&n, &mixed_b, NULL), SPARK_OK);
    for (int i = 0; i < PIECES; i++) {
        CHECK_INT_EQ(feed(&n, &mixed_a, a[i]), SPARK_OK);
        CHECK_INT_EQ(feed(&n, &mixed_b, b[i]), SPARK_OK);
    }
    CHECK_INT_EQ(feed(&n, &mixed_b, NULL), SPARK_OK);
    CHECK_INT_EQ(feed(&n, &mixed_a, NULL), SPARK_OK);

    const running_job *pairs[2][2] = { { &alone_a, &mixed_a }, { &alone_b, &mixed_b } };
    for (int p = 0; p < 2; p++) {
        const fake_job *alone = &pairs[p][0]->fake, *mixed = &pairs[p][1]->fake;
        CHECK_INT_EQ(alone->emitted_count, mixed->emitted_count);
        for (size_t i = 0; i < alone->emitted_count && i < mixed->emitted_count; i++) {
            const spark_audio_data *x = &alone->emitted[i]->data.audio;
            const spark_audio_data *y = &mixed->emitted[i]->data.audio;
            CHECK_INT_EQ(x->frames, y->frames);
            CHECK_INT_EQ(x->channels, y->channels);
            CHECK_INT_EQ(x->timestamp, y->timestamp);
            for (uint32_t c = 0; c < x->channels && x->frames == y->frames; c++)
                CHECK(memcmp(x->planes[c], y->planes[c], x->frames * sizeof(float)) == 0);
        }
    }
    end(&n, &alone_a);
    end(&n, &alone_b);
    end(&n, &mixed_a);
    end(&n, &mixed_b);
    stop_node(&n);
    for (int i = 0; i < PIECES; i++) {
        release_packet(a[i]);
        release_packet(b[i]);
    }
}

/* Equal rates: the node hands the samples and positions through unchanged. */
static void test_resample_passthrough(void)
{
    fprintf(stderr, "-- resample pass-through\n");
    const char *params[] = { "rate", "24000", NULL };
    node n;
    CHECK_INT_EQ(start_node(&n, "org.sparkhost.audio.resample", params, any_audio), SPARK_OK);
    spark_packet *in[3];
    for (int i = 0; i < 3; i++)
        in[i] = audio_packet(24000, 2, 1000 + (uint64_t)i, 300.0, i,
                             5000 + i * 1000 + i * (i - 1) / 2);
    running_job run;
    CHECK_INT_EQ(run_job(&n, &run, NULL, (const spark_packet *const *)in, 3), SPARK_OK);
    CHECK_INT_EQ(run.fake.emitted_count, 3);
    for (size_t i = 0; i < 3 && i < run.fake.emitted_count; i++) {
        const spark_audio_data *x = &in[i]->data.audio, *y = &run.fake.emitted[i]->data.audio;
        CHECK_INT_EQ(y->frames, x->frames);
        CHECK_INT_EQ(y->timestamp, x->timestamp);
        for (uint32_t c = 0; c < 2 && x->frames == y->frames; c++)
            CHECK(memcmp(x->planes[c], y->planes[c], x->frames * sizeof(float)) == 0);
    }
    end(&n, &run);
    stop_node(&n);
    for (int i = 0; i < 3; i++)
        release_packet(in[i]);
}

static void test_errors(void)
{
    fprintf(stderr, "-- errors\n");
    /* Undecodable data names the blob and libsndfile's reason. */
    node decode;
    CHECK_INT_EQ(start_node(&decode, "org.sparkhost.audio.decode", NULL, any_blob), SPARK_OK);
    uint8_t garbage[1000];
    memset(garbage, 0x11, sizeof(garbage));
    spark_packet *blob = blob_from(garbage, sizeof(garbage), "broken.mp3");
    running_job run;
    last_error[0] = '\0';
    CHECK_INT_EQ(run_job(&decode, &run, NULL, (const spark_packet *const *)&blob, 1),
                 SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(last_error, "broken.mp3");
    CHECK_STR_CONTAINS(last_error, "Format not recognised");
    end(&decode, &run);
    stop_node(&decode);
    release_packet(blob);

    /* A rate change in the middle of a job. */
    node encode;
    CHECK_INT_EQ(start_node(&encode, "org.sparkhost.audio.encode", NULL, any_audio), SPARK_OK);
    spark_packet *mixed[2] = { audio_packet(24000, 1, 100, 440, 0, 0),
                               audio_packet(22050, 1, 100, 440, 1, 100) };
    last_error[0] = '\0';
    CHECK_INT_EQ(run_job(&encode, &run, NULL, (const spark_packet *const *)mixed, 2),
                 SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(last_error, "22050 Hz");
    CHECK_STR_CONTAINS(last_error, "24000 Hz");
    CHECK_INT_EQ(run.fake.emitted_count, 0);
    end(&encode, &run);

    /* Opus chosen per job, at a rate it cannot take, fails at the first packet. */
    const char *opus[] = { "format", "opus", NULL };
    last_error[0] = '\0';
    CHECK_INT_EQ(run_job(&encode, &run, opus, (const spark_packet *const *)&mixed[1], 1),
                 SPARK_E_UNSUPPORTED);
    CHECK_STR_CONTAINS(last_error, "22050 Hz");
    CHECK_STR_CONTAINS(last_error, "48000");
    end(&encode, &run);

    /* ... and works at 24 kHz, with Opus's media type. */
    CHECK_INT_EQ(run_job(&encode, &run, opus, (const spark_packet *const *)&mixed[0], 1),
                 SPARK_OK);
    CHECK_INT_EQ(run.fake.emitted_count, 1);
    if (run.fake.emitted_count == 1) {
        CHECK_STR_EQ(run.fake.emitted[0]->data.blob.media_type, "audio/ogg; codecs=opus");
        CHECK_STR_EQ(run.fake.emitted[0]->data.blob.file_name, "audio.opus");
    }
    const captured_result *format = find_result(&run.fake, "format");
    CHECK(format && strcmp(format->text, "opus") == 0);
    end(&encode, &run);
    stop_node(&encode);
    release_packet(mixed[0]);
    release_packet(mixed[1]);

    /* A job without audio and an unknown input format has nothing to encode. */
    node silent;
    CHECK_INT_EQ(start_node(&silent, "org.sparkhost.audio.encode", NULL, any_audio), SPARK_OK);
    CHECK_INT_EQ(run_job(&silent, &run, NULL, NULL, 0), SPARK_E_INVALID_ARGUMENT);
    end(&silent, &run);
    stop_node(&silent);

    /* ... but with a negotiated format it is an empty file. */
    spark_format known = any_audio;
    known.rate = 16000;
    known.channels = 1;
    CHECK_INT_EQ(start_node(&silent, "org.sparkhost.audio.encode", NULL, known), SPARK_OK);
    CHECK_INT_EQ(run_job(&silent, &run, NULL, NULL, 0), SPARK_OK);
    CHECK_INT_EQ(run.fake.emitted_count, 1);
    const captured_result *duration = find_result(&run.fake, "duration");
    CHECK(duration && duration->number == 0.0);
    end(&silent, &run);
    stop_node(&silent);

    /* Configuration errors. */
    node bad;
    const char *flac_float[] = { "format", "flac", "sample_format", "float", NULL };
    last_error[0] = '\0';
    CHECK_INT_EQ(start_node(&bad, "org.sparkhost.audio.encode", flac_float, any_audio),
                 SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(last_error, "'float'");
    stop_node(&bad);
    const char *float_wav[] = { "sample_format", "float", NULL };
    CHECK_INT_EQ(start_node(&bad, "org.sparkhost.audio.encode", float_wav, any_audio), SPARK_OK);
    const char *job_mp3[] = { "format", "mp3", NULL };
    CHECK_INT_EQ(begin(&bad, &run, job_mp3), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(last_error, "'mp3'");
    stop_node(&bad);
    spark_format six_channels = any_audio;
    six_channels.channels = 6;
    const char *stereo[] = { "channels", "2", NULL };
    CHECK_INT_EQ(start_node(&bad, "org.sparkhost.audio.resample", stereo, six_channels),
                 SPARK_E_UNSUPPORTED);
    stop_node(&bad);

    /* Cancellation stops the decoder, and its status is returned as is. */
    node writer, reader;
    CHECK_INT_EQ(start_node(&writer, "org.sparkhost.audio.encode", NULL, any_audio), SPARK_OK);
    CHECK_INT_EQ(start_node(&reader, "org.sparkhost.audio.decode", NULL, any_blob), SPARK_OK);
    spark_packet *long_audio = audio_packet(8000, 1, 8000 * 30, 440.0, 0, 0);
    running_job written;
    CHECK_INT_EQ(run_job(&writer, &written, NULL, (const spark_packet *const *)&long_audio, 1),
                 SPARK_OK);
    CHECK_INT_EQ(written.fake.emitted_count, 1);
    if (written.fake.emitted_count == 1) {
        /* Round trip first: pcm16 WAV gives the samples back within quantisation. */
        CHECK_INT_EQ(run_job(&reader, &run, NULL, written.fake.emitted, 1), SPARK_OK);
        CHECK_INT_EQ(run.fake.emitted_count, 1);
        if (run.fake.emitted_count == 1) {
            const spark_audio_data *x = &long_audio->data.audio;
            const spark_audio_data *y = &run.fake.emitted[0]->data.audio;
            CHECK_INT_EQ(y->frames, x->frames);
            CHECK_INT_EQ(y->rate, 8000);
            double worst = 0.0;
            for (uint64_t i = 0; i < x->frames && y->frames == x->frames; i++)
                worst = fmax(worst, fabs((double)x->planes[0][i] - y->planes[0][i]));
            CHECK(worst <= 1.0 / 32767);
        }
        end(&reader, &run);
        cancel_all_jobs = 1;
        CHECK_INT_EQ(run_job(&reader, &run, NULL, written.fake.emitted, 1), SPARK_E_CANCELLED);
        CHECK_INT_EQ(run.fake.emitted_count, 0);
        end(&reader, &run);
        cancel_all_jobs = 0;
    }
    end(&writer, &written);
    release_packet(long_audio);
    stop_node(&writer);
    stop_node(&reader);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PLUGIN.so\n", argv[0]);
        return 1;
    }
    if (!require_ffmpeg_tools())
        return 1;
    void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        fprintf(stderr, "FAIL: cannot load %s: %s\n", argv[1], dlerror());
        return 1;
    }
    const spark_entry *entry = dlsym(library, SPARK_ENTRY_SYMBOL);
    if (!entry) {
        fprintf(stderr, "FAIL: %s does not export %s\n", argv[1], SPARK_ENTRY_SYMBOL);
        return 1;
    }
    factory = entry->get_factory(SPARK_FACTORY_NODE);
    char dir[512];
    if (!make_temp_dir(dir, sizeof(dir))) {
        fprintf(stderr, "FAIL: cannot make a temporary directory\n");
        return 1;
    }
    test_entry_and_descriptors(entry);
    test_only_the_entry_is_exported(argv[1]);
    if (factory) {
        test_pipeline(dir);
        test_jobs_are_independent();
        test_resample_passthrough();
        test_errors();
    }
    CHECK_INT_EQ(live_packets, 0);
    remove_temp_dir(dir);
    dlclose(library);
    return CHECK_DONE();
}
