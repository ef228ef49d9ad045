/* The audio-io plugin through its ABI: loaded with dlopen, driven by the fake engine of
 * tests/support/fake_host.h (alloc, log, progress services, params with defaults filled,
 * jobs that capture what is emitted). ffprobe/ffmpeg judge the encoded output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spark/plugin.h>

#include "audio_test_support.h"
#include "check.h"
#include "fake_host.h"
#include "plugin_checks.h"

/* ---- driving nodes --------------------------------------------------------------------- */

enum { PORT_IN = 0, PORT_OUT = 1 }; /* every audio-io node has "in" and "out" */

static fake_plugin plugin;
static const spark_node_factory *factory;

/* create, configure, negotiate (input format offered), activate. */
static spark_status start_node(fake_node *n, const char *id, const char *const *settings,
                               spark_format offered_input)
{
    return fake_node_open(n, fake_plugin_node(&plugin, id), settings, &offered_input);
}

static const spark_format any_audio = { sizeof(spark_format), SPARK_KIND_AUDIO, 0, 0, 0.0,
                                        NULL };
static const spark_format any_blob = { sizeof(spark_format), SPARK_KIND_BLOB, 0, 0, 0.0, NULL };

/* A job and the first failure any of its calls returned (SPARK_OK while none has). */
typedef struct running_job {
    fake_job *job;
    spark_status status;
} running_job;

static spark_status begin(fake_node *n, running_job *run, const char *const *job_settings)
{
    run->status = fake_job_begin(n, "test-job", job_settings, &run->job);
    return run->status;
}

static spark_status feed(running_job *run, const spark_packet *packet)
{
    if (run->status < 0)
        return run->status;
    spark_status status = fake_job_process(run->job, PORT_IN, packet);
    if (status < 0)
        run->status = status;
    return status;
}

/* job_end with the job's outcome (only for a job that began), then free it. */
static void end(running_job *run)
{
    fake_job_end(run->job, run->status < 0 ? run->status : SPARK_OK);
    fake_job_free(run->job);
    run->job = NULL;
}

/* One whole job: every input packet, then the end of the stream. */
static spark_status run_job(fake_node *n, running_job *run, const char *const *job_settings,
                            const spark_packet *const *inputs, size_t input_count)
{
    if (begin(n, run, job_settings) != SPARK_OK)
        return run->status;
    for (size_t i = 0; i < input_count && run->status >= 0; i++)
        feed(run, inputs[i]);
    if (run->status >= 0)
        feed(run, NULL);
    return run->status < 0 ? run->status : SPARK_OK;
}

/* The same, fed with what an earlier job emitted on its "out" port. */
static spark_status run_job_on(fake_node *n, running_job *run, const char *const *job_settings,
                               const running_job *upstream)
{
    size_t count = fake_job_output_count(upstream->job, PORT_OUT);
    const spark_packet **inputs = calloc(count ? count : 1, sizeof *inputs);
    if (!inputs)
        return SPARK_E_NO_MEMORY;
    for (size_t i = 0; i < count; i++)
        inputs[i] = fake_job_output(upstream->job, PORT_OUT, i);
    spark_status status = run_job(n, run, job_settings, inputs, count);
    free(inputs);
    return status;
}

static size_t emitted(const running_job *run)
{
    return fake_job_output_count(run->job, PORT_OUT);
}

static const spark_packet *emitted_packet(const running_job *run, size_t index)
{
    return fake_job_output(run->job, PORT_OUT, index);
}

static spark_packet *audio_packet(uint32_t rate, uint32_t channels, uint64_t frames,
                                  double frequency, int64_t seq, int64_t timestamp)
{
    spark_packet *packet = fake_audio_packet(channels, frames, rate);
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
        const spark_node_desc *desc = fake_plugin_node(&plugin, ids[i]);
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
    const spark_node_desc *decode = fake_plugin_node(&plugin, ids[0]);
    const spark_node_desc *resample = fake_plugin_node(&plugin, ids[1]);
    const spark_node_desc *encode = fake_plugin_node(&plugin, ids[2]);
    if (!decode || !resample || !encode)
        return;
    for (size_t i = 0; i < 3; i++) {
        const spark_node_desc *desc = fake_plugin_node(&plugin, ids[i]);
        void *self = (void *)&self;
        fake_log_clear();
        CHECK_INT_EQ(desc->ops->create(fake_host_log_only(), ids[i], &self), SPARK_E_UNSUPPORTED);
        CHECK(self == NULL);
        CHECK_STR_CONTAINS(fake_last_error(), "spark.ext.alloc/1");
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

/* decode (pieces of 0.25 s) -> resample (16 kHz mono) -> encode (flac, chosen per job). */
static void test_pipeline(const char *dir)
{
    fprintf(stderr, "-- decode -> resample -> encode\n");
    fake_log_clear();
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

    fake_node decode, resample, encode;
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
    spark_packet *blob = fake_blob_packet(bytes, size, "application/octet-stream", "input.wav");
    running_job decoding;
    CHECK_INT_EQ(run_job(&decode, &decoding, NULL, (const spark_packet *const *)&blob, 1),
                 SPARK_OK);
    CHECK_INT_EQ(emitted(&decoding), 4);
    /* The fake refuses, with an error, an emit on any port but "out": none was refused. */
    CHECK_INT_EQ(fake_error_count(), 0);
    for (size_t i = 0; i < emitted(&decoding); i++) {
        const spark_packet *packet = emitted_packet(&decoding, i);
        CHECK_INT_EQ(packet->kind, SPARK_KIND_AUDIO);
        CHECK_INT_EQ(packet->seq, (int64_t)i);
        CHECK_INT_EQ(packet->data.audio.timestamp, (int64_t)(i * 11025));
        CHECK_INT_EQ(packet->data.audio.frames, 11025);
        CHECK_INT_EQ(packet->data.audio.rate, 44100);
        CHECK_INT_EQ(packet->data.audio.channels, 2);
    }

    /* resample */
    running_job resampling;
    CHECK_INT_EQ(run_job_on(&resample, &resampling, NULL, &decoding), SPARK_OK);
    uint64_t resampled_frames = 0;
    for (size_t i = 0; i < emitted(&resampling); i++) {
        const spark_packet *packet = emitted_packet(&resampling, i);
        CHECK_INT_EQ(packet->seq, (int64_t)i);
        CHECK_INT_EQ(packet->data.audio.timestamp, (int64_t)resampled_frames);
        CHECK_INT_EQ(packet->data.audio.rate, 16000);
        CHECK_INT_EQ(packet->data.audio.channels, 1);
        resampled_frames += packet->data.audio.frames;
    }
    /* Streaming: output after every input packet, plus the flushed tail. */
    CHECK_INT_EQ(emitted(&resampling), 5);
    CHECK_NEAR((double)resampled_frames, 16000.0, 3.0);

    /* encode, with the format chosen by the job */
    running_job encoding;
    const char *job_format[] = { "format", "flac", NULL };
    CHECK_INT_EQ(run_job_on(&encode, &encoding, job_format, &resampling), SPARK_OK);
    CHECK_INT_EQ(emitted(&encoding), 1);
    if (emitted(&encoding) == 1) {
        const spark_packet *out = emitted_packet(&encoding, 0);
        CHECK_INT_EQ(fake_error_count(), 0); /* emitted on "out", not refused elsewhere */
        CHECK_INT_EQ(out->kind, SPARK_KIND_BLOB);
        CHECK_STR_EQ(out->data.blob.media_type, "audio/flac");
        CHECK_STR_EQ(out->data.blob.file_name, "audio.flac");
        const fake_result *duration = fake_job_result(encoding.job, "duration");
        const fake_result *rate = fake_job_result(encoding.job, "sample_rate");
        const fake_result *channels = fake_job_result(encoding.job, "channels");
        const fake_result *format = fake_job_result(encoding.job, "format");
        const fake_result *byte_count = fake_job_result(encoding.job, "bytes");
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
    fake_node whole;
    CHECK_INT_EQ(start_node(&whole, "org.sparkhost.audio.decode", NULL, any_blob), SPARK_OK);
    running_job whole_job;
    CHECK_INT_EQ(run_job(&whole, &whole_job, NULL, (const spark_packet *const *)&blob, 1),
                 SPARK_OK);
    CHECK_INT_EQ(emitted(&whole_job), 1);
    if (emitted(&whole_job) == 1)
        CHECK_INT_EQ(emitted_packet(&whole_job, 0)->data.audio.frames, 44100);
    end(&whole_job);
    fake_node_close(&whole);

    end(&decoding);
    end(&resampling);
    end(&encoding);
    fake_node_close(&decode);
    fake_node_close(&resample);
    fake_node_close(&encode);
    fake_release(blob);
    free(bytes);
}

/* Two jobs interleaved on one resample instance give what each gives alone. */
static void test_jobs_are_independent(void)
{
    fprintf(stderr, "-- interleaved jobs on one instance\n");
    const char *params[] = { "rate", "22050", NULL };
    fake_node n;
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
        CHECK_INT_EQ(feed(&mixed_a, a[i]), SPARK_OK);
        CHECK_INT_EQ(feed(&mixed_b, b[i]), SPARK_OK);
    }
    CHECK_INT_EQ(feed(&mixed_b, NULL), SPARK_OK);
    CHECK_INT_EQ(feed(&mixed_a, NULL), SPARK_OK);

    const running_job *pairs[2][2] = { { &alone_a, &mixed_a }, { &alone_b, &mixed_b } };
    for (int p = 0; p < 2; p++) {
        const running_job *alone = pairs[p][0], *mixed = pairs[p][1];
        CHECK_INT_EQ(emitted(alone), emitted(mixed));
        for (size_t i = 0; i < emitted(alone) && i < emitted(mixed); i++) {
            const spark_audio_data *x = &emitted_packet(alone, i)->data.audio;
            const spark_audio_data *y = &emitted_packet(mixed, i)->data.audio;
            CHECK_INT_EQ(x->frames, y->frames);
            CHECK_INT_EQ(x->channels, y->channels);
            CHECK_INT_EQ(x->timestamp, y->timestamp);
            for (uint32_t c = 0; c < x->channels && x->frames == y->frames; c++)
                CHECK(memcmp(x->planes[c], y->planes[c], x->frames * sizeof(float)) == 0);
        }
    }
    end(&alone_a);
    end(&alone_b);
    end(&mixed_a);
    end(&mixed_b);
    fake_node_close(&n);
    for (int i = 0; i < PIECES; i++) {
        fake_release(a[i]);
        fake_release(b[i]);
    }
}

/* Equal rates: the node hands the samples and positions through unchanged. */
static void test_resample_passthrough(void)
{
    fprintf(stderr, "-- resample pass-through\n");
    const char *params[] = { "rate", "24000", NULL };
    fake_node n;
    CHECK_INT_EQ(start_node(&n, "org.sparkhost.audio.resample", params, any_audio), SPARK_OK);
    spark_packet *in[3];
    for (int i = 0; i < 3; i++)
        in[i] = audio_packet(24000, 2, 1000 + (uint64_t)i, 300.0, i,
                             5000 + i * 1000 + i * (i - 1) / 2);
    running_job run;
    CHECK_INT_EQ(run_job(&n, &run, NULL, (const spark_packet *const *)in, 3), SPARK_OK);
    CHECK_INT_EQ(emitted(&run), 3);
    for (size_t i = 0; i < 3 && i < emitted(&run); i++) {
        const spark_audio_data *x = &in[i]->data.audio, *y = &emitted_packet(&run, i)->data.audio;
        CHECK_INT_EQ(y->frames, x->frames);
        CHECK_INT_EQ(y->timestamp, x->timestamp);
        for (uint32_t c = 0; c < 2 && x->frames == y->frames; c++)
            CHECK(memcmp(x->planes[c], y->planes[c], x->frames * sizeof(float)) == 0);
    }
    end(&run);
    fake_node_close(&n);
    for (int i = 0; i < 3; i++)
        fake_release(in[i]);
}

static void test_errors(void)
{
    fprintf(stderr, "-- errors\n");
    /* Undecodable data names the blob and libsndfile's reason. */
    fake_node decode;
    CHECK_INT_EQ(start_node(&decode, "org.sparkhost.audio.decode", NULL, any_blob), SPARK_OK);
    uint8_t garbage[1000];
    memset(garbage, 0x11, sizeof(garbage));
    spark_packet *blob =
        fake_blob_packet(garbage, sizeof(garbage), "application/octet-stream", "broken.mp3");
    running_job run;
    fake_log_clear();
    CHECK_INT_EQ(run_job(&decode, &run, NULL, (const spark_packet *const *)&blob, 1),
                 SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "broken.mp3");
    CHECK_STR_CONTAINS(fake_last_error(), "Format not recognised");
    end(&run);
    fake_node_close(&decode);
    fake_release(blob);

    /* A rate change in the middle of a job. */
    fake_node encode;
    CHECK_INT_EQ(start_node(&encode, "org.sparkhost.audio.encode", NULL, any_audio), SPARK_OK);
    spark_packet *mixed[2] = { audio_packet(24000, 1, 100, 440, 0, 0),
                               audio_packet(22050, 1, 100, 440, 1, 100) };
    fake_log_clear();
    CHECK_INT_EQ(run_job(&encode, &run, NULL, (const spark_packet *const *)mixed, 2),
                 SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(fake_last_error(), "22050 Hz");
    CHECK_STR_CONTAINS(fake_last_error(), "24000 Hz");
    CHECK_INT_EQ(emitted(&run), 0);
    end(&run);

    /* Opus chosen per job, at a rate it cannot take, fails at the first packet. */
    const char *opus[] = { "format", "opus", NULL };
    fake_log_clear();
    CHECK_INT_EQ(run_job(&encode, &run, opus, (const spark_packet *const *)&mixed[1], 1),
                 SPARK_E_UNSUPPORTED);
    CHECK_STR_CONTAINS(fake_last_error(), "22050 Hz");
    CHECK_STR_CONTAINS(fake_last_error(), "48000");
    end(&run);

    /* ... and works at 24 kHz, with Opus's media type. */
    CHECK_INT_EQ(run_job(&encode, &run, opus, (const spark_packet *const *)&mixed[0], 1),
                 SPARK_OK);
    CHECK_INT_EQ(emitted(&run), 1);
    if (emitted(&run) == 1) {
        CHECK_STR_EQ(emitted_packet(&run, 0)->data.blob.media_type, "audio/ogg; codecs=opus");
        CHECK_STR_EQ(emitted_packet(&run, 0)->data.blob.file_name, "audio.opus");
    }
    const fake_result *format = fake_job_result(run.job, "format");
    CHECK(format && strcmp(format->text, "opus") == 0);
    end(&run);
    fake_node_close(&encode);
    fake_release(mixed[0]);
    fake_release(mixed[1]);

    /* A job without audio and an unknown input format has nothing to encode. */
    fake_node silent;
    CHECK_INT_EQ(start_node(&silent, "org.sparkhost.audio.encode", NULL, any_audio), SPARK_OK);
    CHECK_INT_EQ(run_job(&silent, &run, NULL, NULL, 0), SPARK_E_INVALID_ARGUMENT);
    end(&run);
    fake_node_close(&silent);

    /* ... but with a negotiated format it is an empty file. */
    spark_format known = any_audio;
    known.rate = 16000;
    known.channels = 1;
    CHECK_INT_EQ(start_node(&silent, "org.sparkhost.audio.encode", NULL, known), SPARK_OK);
    CHECK_INT_EQ(run_job(&silent, &run, NULL, NULL, 0), SPARK_OK);
    CHECK_INT_EQ(emitted(&run), 1);
    const fake_result *duration = fake_job_result(run.job, "duration");
    CHECK(duration && duration->number == 0.0);
    end(&run);
    fake_node_close(&silent);

    /* Configuration errors. */
    fake_node bad;
    const char *flac_float[] = { "format", "flac", "sample_format", "float", NULL };
    fake_log_clear();
    CHECK_INT_EQ(start_node(&bad, "org.sparkhost.audio.encode", flac_float, any_audio),
                 SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "'float'");
    fake_node_close(&bad);
    const char *float_wav[] = { "sample_format", "float", NULL };
    CHECK_INT_EQ(start_node(&bad, "org.sparkhost.audio.encode", float_wav, any_audio), SPARK_OK);
    const char *job_mp3[] = { "format", "mp3", NULL };
    CHECK_INT_EQ(begin(&bad, &run, job_mp3), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "'mp3'");
    end(&run); /* frees the job; a failed job_begin gets no job_end */
    fake_node_close(&bad);
    spark_format six_channels = any_audio;
    six_channels.channels = 6;
    const char *stereo[] = { "channels", "2", NULL };
    CHECK_INT_EQ(start_node(&bad, "org.sparkhost.audio.resample", stereo, six_channels),
                 SPARK_E_UNSUPPORTED);
    fake_node_close(&bad);

    /* Cancellation stops the decoder, and its status is returned as is. */
    fake_node writer, reader;
    CHECK_INT_EQ(start_node(&writer, "org.sparkhost.audio.encode", NULL, any_audio), SPARK_OK);
    CHECK_INT_EQ(start_node(&reader, "org.sparkhost.audio.decode", NULL, any_blob), SPARK_OK);
    spark_packet *long_audio = audio_packet(8000, 1, 8000 * 30, 440.0, 0, 0);
    running_job written;
    CHECK_INT_EQ(run_job(&writer, &written, NULL, (const spark_packet *const *)&long_audio, 1),
                 SPARK_OK);
    CHECK_INT_EQ(emitted(&written), 1);
    if (emitted(&written) == 1) {
        /* Round trip first: pcm16 WAV gives the samples back within quantisation. */
        CHECK_INT_EQ(run_job_on(&reader, &run, NULL, &written), SPARK_OK);
        CHECK_INT_EQ(emitted(&run), 1);
        if (emitted(&run) == 1) {
            const spark_audio_data *x = &long_audio->data.audio;
            const spark_audio_data *y = &emitted_packet(&run, 0)->data.audio;
            CHECK_INT_EQ(y->frames, x->frames);
            CHECK_INT_EQ(y->rate, 8000);
            double worst = 0.0;
            for (uint64_t i = 0; i < x->frames && y->frames == x->frames; i++)
                worst = fmax(worst, fabs((double)x->planes[0][i] - y->planes[0][i]));
            CHECK(worst <= 1.0 / 32767);
        }
        end(&run);
        fake_cancel_all(1);
        CHECK_INT_EQ(run_job_on(&reader, &run, NULL, &written), SPARK_E_CANCELLED);
        CHECK_INT_EQ(emitted(&run), 0);
        end(&run);
        fake_cancel_all(0);
    }
    end(&written);
    fake_release(long_audio);
    fake_node_close(&writer);
    fake_node_close(&reader);
}

/* stream: a header blob, then one blob per packet, making the file the whole job writes
 * (but for the WAV sizes); pcm names its layout; mp3 is refused before any audio. */
static void test_encode_stream(void)
{
    fprintf(stderr, "-- encode, streamed\n");
    fake_node encode;
    CHECK_INT_EQ(start_node(&encode, "org.sparkhost.audio.encode", NULL, any_audio), SPARK_OK);
    spark_packet *packets[4];
    for (int i = 0; i < 4; i++)
        packets[i] = audio_packet(16000, 1, 1000, 440, i, 1000 * i);
    running_job whole = { 0 }, streamed = { 0 }, raw = { 0 }, refused = { 0 };
    const char *stream_wav[] = { "stream", "true", NULL };
    const char *stream_pcm[] = { "format", "pcm", "stream", "true", NULL };
    const char *stream_mp3[] = { "format", "mp3", "stream", "true", NULL };
    CHECK_INT_EQ(run_job(&encode, &whole, NULL, (const spark_packet *const *)packets, 4), SPARK_OK);
    CHECK_INT_EQ(run_job(&encode, &streamed, stream_wav, (const spark_packet *const *)packets, 4),
                 SPARK_OK);
    CHECK_INT_EQ(emitted(&whole), 1);
    CHECK_INT_EQ(emitted(&streamed), 1 + 4);
    if (emitted(&whole) == 1 && emitted(&streamed) == 5) {
        const spark_blob_data *file = &emitted_packet(&whole, 0)->data.blob;
        CHECK_INT_EQ(emitted_packet(&streamed, 0)->data.blob.size, 44);
        CHECK_INT_EQ(file->size, 44 + 4 * 2000);
        uint64_t at = 44;
        for (size_t i = 1; i < 5; i++) {
            const spark_blob_data *piece = &emitted_packet(&streamed, i)->data.blob;
            CHECK_STR_EQ(piece->media_type, "audio/wav");
            CHECK_INT_EQ(piece->size, 2000);
            CHECK(at + piece->size <= file->size &&
                  memcmp(piece->bytes, file->bytes + at, piece->size) == 0);
            at += piece->size;
        }
        const uint8_t *header = emitted_packet(&streamed, 0)->data.blob.bytes;
        CHECK(memcmp(header, "RIFF\xff\xff\xff\xffWAVE", 12) == 0);
        CHECK(memcmp(header + 12, file->bytes + 12, 24) == 0); /* the same fmt chunk */
    }
    CHECK_INT_EQ(run_job(&encode, &raw, stream_pcm, (const spark_packet *const *)packets, 4),
                 SPARK_OK);
    CHECK_INT_EQ(emitted(&raw), 4); /* no header */
    if (emitted(&raw) == 4)
        CHECK_STR_EQ(emitted_packet(&raw, 0)->data.blob.media_type,
                     "audio/pcm; format=s16le; rate=16000; channels=1");
    fake_log_clear();
    CHECK_INT_EQ(begin(&encode, &refused, stream_mp3), SPARK_E_UNSUPPORTED);
    CHECK_STR_CONTAINS(fake_last_error(), "mp3 cannot be streamed");
    fake_job_free(refused.job);
    end(&whole);
    end(&streamed);
    end(&raw);
    for (int i = 0; i < 4; i++)
        fake_release(packets[i]);
    fake_node_close(&encode);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PLUGIN.so\n", argv[0]);
        return 1;
    }
    if (!require_ffmpeg_tools())
        return 1;
    fprintf(stderr, "-- loading, exported symbols\n");
    if (!check_load_plugin(&plugin, argv[1], NULL))
        return CHECK_DONE();
    factory = plugin.nodes;
    char dir[512];
    if (!make_temp_dir(dir, sizeof(dir))) {
        fprintf(stderr, "FAIL: cannot make a temporary directory\n");
        return 1;
    }
    test_entry_and_descriptors(plugin.entry);
    if (factory) {
        test_pipeline(dir);
        test_jobs_are_independent();
        test_resample_passthrough();
        test_errors();
        test_encode_stream();
    }
    CHECK_INT_EQ(fake_live_packets(), 0);
    remove_temp_dir(dir);
    fake_plugin_unload(&plugin);
    return CHECK_DONE();
}
