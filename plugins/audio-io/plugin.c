/* audio-io plugin: the entry and the static descriptors of its three nodes. The nodes are
 * implemented in decode.c, resample.c and encode.c. */
#include <string.h>

#include <spark/plugin.h>

#include "node_support.h"
#include "nodes.h"

#define AUDIO_IO_VERSION "1.0.0"

#define STRINGIFY_VALUE(x) #x
#define STRINGIFY(x) STRINGIFY_VALUE(x)

/* ---- decode ---------------------------------------------------------------------------- */

static const spark_port_desc decode_ports[AUDIO_IO_PORT_COUNT] = {
    [AUDIO_IO_PORT_IN] = { .name = "in", .direction = SPARK_PORT_IN, .kind = SPARK_KIND_BLOB,
                           .doc = "encoded audio bytes: WAV, FLAC, OGG/Vorbis, OGG/Opus, MP3 "
                                  "(anything libsndfile reads)" },
    [AUDIO_IO_PORT_OUT] = { .name = "out", .direction = SPARK_PORT_OUT,
                            .kind = SPARK_KIND_AUDIO,
                            .doc = "float32 planar audio at the file's own rate" },
};

static const char *const decode_channel_choices[] = { "keep", "mix", "first", NULL };

static const spark_param_desc decode_params[] = {
    { .key = DECODE_PARAM_CHANNELS, .type = SPARK_PARAM_ENUM, .default_value = "keep",
      .choices = decode_channel_choices,
      .doc = "keep: all channels; mix: average them into mono; first: channel 0 only" },
    { .key = DECODE_PARAM_CHUNK_SECONDS, .type = SPARK_PARAM_NUMBER,
      .flags = SPARK_PARAM_HAS_MIN, .default_value = "0", .min = 0.0,
      .doc = "0: emit the whole file as one packet; > 0: emit consecutive pieces of this "
             "many seconds (seq 0, 1, 2, ..., timestamp in frames)" },
};

static const spark_node_desc decode_node = {
    .struct_size = sizeof(spark_node_desc),
    .max_concurrent_jobs = 0,
    .id = AUDIO_DECODE_NODE_ID,
    .name = "audio decode",
    .version = AUDIO_IO_VERSION,
    .description = "Decodes an audio file held in a blob into float32 planar audio.",
    .features = NULL,
    .port_count = AUDIO_IO_PORT_COUNT,
    .param_count = sizeof(decode_params) / sizeof(decode_params[0]),
    .ports = decode_ports,
    .params = decode_params,
    .result_count = 0,
    .results = NULL,
    .ops = &audio_decode_node_ops,
};

/* ---- resample -------------------------------------------------------------------------- */

static const spark_port_desc resample_ports[AUDIO_IO_PORT_COUNT] = {
    [AUDIO_IO_PORT_IN] = { .name = "in", .direction = SPARK_PORT_IN, .kind = SPARK_KIND_AUDIO,
                           .doc = "float32 planar audio at any rate" },
    [AUDIO_IO_PORT_OUT] = { .name = "out", .direction = SPARK_PORT_OUT,
                            .kind = SPARK_KIND_AUDIO,
                            .doc = "the same audio at `rate` Hz with `channels` channels" },
};

static const char *const resample_quality_choices[] = { "best", "medium", "fastest", NULL };

static const spark_param_desc resample_params[] = {
    { .key = RESAMPLE_PARAM_RATE, .type = SPARK_PARAM_INTEGER,
      .flags = SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX,
      .default_value = STRINGIFY(RESAMPLE_DEFAULT_RATE), .min = RESAMPLE_MIN_RATE,
      .max = RESAMPLE_MAX_RATE, .doc = "output sample rate in Hz" },
    { .key = RESAMPLE_PARAM_CHANNELS, .type = SPARK_PARAM_INTEGER,
      .flags = SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX, .default_value = "0", .min = 0,
      .max = RESAMPLE_MAX_CHANNELS,
      .doc = "output channels: 0 keeps the input's, 1 averages all channels, N > 1 from mono "
             "duplicates it" },
    { .key = RESAMPLE_PARAM_QUALITY, .type = SPARK_PARAM_ENUM, .default_value = "best",
      .choices = resample_quality_choices,
      .doc = "libsamplerate sinc converter: best (97% bandwidth), medium (90%), fastest "
             "(80%)" },
    { .key = RESAMPLE_PARAM_PIECES, .type = SPARK_PARAM_BOOLEAN, .default_value = "false",
      .doc = "false: the packets are one continuous stream; true: each packet is a piece of "
             "its own (a sentence), converted alone so that it keeps its seq and exact length" },
};

static const char *const resample_features[] = { "streaming", NULL };

static const spark_node_desc resample_node = {
    .struct_size = sizeof(spark_node_desc),
    .max_concurrent_jobs = 0,
    .id = AUDIO_RESAMPLE_NODE_ID,
    .name = "audio resample",
    .version = AUDIO_IO_VERSION,
    .description = "Converts audio to another sample rate and channel count as it streams "
                   "(libsamplerate); equal rates pass the samples through unchanged.",
    .features = resample_features,
    .port_count = AUDIO_IO_PORT_COUNT,
    .param_count = sizeof(resample_params) / sizeof(resample_params[0]),
    .ports = resample_ports,
    .params = resample_params,
    .result_count = 0,
    .results = NULL,
    .ops = &audio_resample_node_ops,
};

/* ---- encode ---------------------------------------------------------------------------- */

static const spark_port_desc encode_ports[AUDIO_IO_PORT_COUNT] = {
    [AUDIO_IO_PORT_IN] = { .name = "in", .direction = SPARK_PORT_IN, .kind = SPARK_KIND_AUDIO,
                           .doc = "float32 planar audio; one rate and channel count per job" },
    [AUDIO_IO_PORT_OUT] = { .name = "out", .direction = SPARK_PORT_OUT,
                            .kind = SPARK_KIND_BLOB,
                            .doc = "one encoded file per job, with media type and file name" },
};

static const char *const encode_format_choices[] = { "wav", "flac", "ogg", "opus", "mp3",
                                                     "pcm", NULL };
static const char *const encode_sample_format_choices[] = { "pcm16", "pcm24", "float", NULL };

static const spark_param_desc encode_params[] = {
    { .key = ENCODE_PARAM_FORMAT, .type = SPARK_PARAM_ENUM, .flags = SPARK_PARAM_PER_JOB,
      .default_value = "wav", .choices = encode_format_choices,
      .doc = "wav, flac, ogg (Vorbis), opus (Ogg Opus; 8/12/16/24/48 kHz only), mp3 or pcm "
             "(raw little-endian samples)" },
    { .key = ENCODE_PARAM_SAMPLE_FORMAT, .type = SPARK_PARAM_ENUM, .default_value = "pcm16",
      .choices = encode_sample_format_choices,
      .doc = "pcm16; pcm24 (wav, flac, pcm); float (wav, pcm). Lossy formats ignore pcm16" },
    { .key = ENCODE_PARAM_QUALITY, .type = SPARK_PARAM_NUMBER,
      .flags = SPARK_PARAM_HAS_MIN | SPARK_PARAM_HAS_MAX,
      .default_value = STRINGIFY(ENCODE_DEFAULT_QUALITY), .min = 0.0, .max = 1.0,
      .doc = "0..1: VBR quality for ogg, opus and mp3 (1 best); compression level for flac "
             "(1 smallest)" },
    { .key = ENCODE_PARAM_STREAM, .type = SPARK_PARAM_BOOLEAN, .flags = SPARK_PARAM_PER_JOB,
      .default_value = "false",
      .doc = "emit the file while it is written: a header, then the bytes of each audio "
             "packet (wav with a streaming header, pcm, flac, ogg, opus; not mp3)" },
};

static const spark_result_desc encode_results[] = {
    { .name = ENCODE_RESULT_DURATION, .type = SPARK_VALUE_NUMBER,
      .doc = "seconds of audio encoded" },
    { .name = ENCODE_RESULT_SAMPLE_RATE, .type = SPARK_VALUE_INTEGER, .doc = "Hz" },
    { .name = ENCODE_RESULT_CHANNELS, .type = SPARK_VALUE_INTEGER, .doc = "channel count" },
    { .name = ENCODE_RESULT_FORMAT, .type = SPARK_VALUE_STRING,
      .doc = "the format parameter used: wav, flac, ogg, opus or mp3" },
    { .name = ENCODE_RESULT_BYTES, .type = SPARK_VALUE_INTEGER,
      .doc = "size of the encoded file" },
};

static const spark_node_desc encode_node = {
    .struct_size = sizeof(spark_node_desc),
    .max_concurrent_jobs = 0,
    .id = AUDIO_ENCODE_NODE_ID,
    .name = "audio encode",
    .version = AUDIO_IO_VERSION,
    .description = "Encodes a job's whole audio into one WAV, FLAC, Ogg Vorbis, Ogg Opus or "
                   "MP3 file.",
    .features = NULL,
    .port_count = AUDIO_IO_PORT_COUNT,
    .param_count = sizeof(encode_params) / sizeof(encode_params[0]),
    .ports = encode_ports,
    .params = encode_params,
    .result_count = sizeof(encode_results) / sizeof(encode_results[0]),
    .results = encode_results,
    .ops = &audio_encode_node_ops,
};

/* ---- entry ----------------------------------------------------------------------------- */

static const spark_node_desc *const audio_io_nodes[] = { &decode_node, &resample_node,
                                                         &encode_node };

static const spark_node_factory audio_io_node_factory = {
    .struct_size = sizeof(spark_node_factory),
    .node_count = sizeof(audio_io_nodes) / sizeof(audio_io_nodes[0]),
    .nodes = audio_io_nodes,
};

static const void *audio_io_get_factory(const char *factory_id)
{
    if (factory_id && strcmp(factory_id, SPARK_FACTORY_NODE) == 0)
        return &audio_io_node_factory;
    return NULL;
}

SPARK_PLUGIN_ENTRY = {
    .struct_size = sizeof(spark_entry),
    .reserved = 0,
    .abi = SPARK_ABI_VERSION_INIT,
    .reserved2 = 0,
    .name = "audio-io",
    .version = AUDIO_IO_VERSION,
    .init = NULL,
    .deinit = NULL,
    .get_factory = audio_io_get_factory,
};
