/* sparkhost codec decode | encode: BiCodec codes to audio and back, outside any pipeline. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spark/nn/bicodec_encoder.h>
#include <spark/nn/pool.h>

#include "bicodec_decoder.h"
#include "bicodec_model.h"
#include "encode_reference.h"
#include "encode_voice.h"
#include "wavegen.h"

static const char usage[] =
    "usage: sparkhost codec decode --model DIR --codes FILE.json -o OUT.wav [options]\n"
    "       sparkhost codec encode --model DIR REF_AUDIO [--transcript T] [--save-voice NAME]\n"
    "\n"
    "decode  BiCodec codes -> 16 kHz mono audio (32-bit float WAV)\n"
    "encode  a reference recording -> its voice codes as JSON\n"
    "\n"
    "'sparkhost codec SUBCOMMAND --help' tells more.\n";

static const char decode_usage[] =
    "usage: sparkhost codec decode --model DIR --codes FILE.json -o OUT.wav\n"
    "                              [--threads N] [--chunk-frames N] [--context-frames N]\n"
    "                              [--precision f32|bf16]\n"
    "\n"
    "Decodes BiCodec codes to 16 kHz mono audio, 320 samples per semantic code, written as a\n"
    "32-bit float WAV file (atomically: OUT.wav appears only when complete).\n"
    "\n"
    "  --model DIR          Spark-TTS model directory (holding BiCodec/)\n"
    "  --codes FILE.json    {\"global_codes\": [32 codes], \"semantic_codes\": [codes...]}, as\n"
    "                       'sparkhost codec encode' prints them; - reads standard input\n"
    "  -o, --output FILE    the WAV file to write\n"
    "  --threads N          compute threads (default 0: one per CPU)\n"
    "  --chunk-frames N     vocoder chunk in codes (default 100; 0: all at once)\n"
    "  --context-frames N   codes of context on each side of a chunk (default 12; the\n"
    "                       vocoder's receptive field is 10)\n"
    "  --precision P        f32 (default, as upstream) or bf16: the vocoder's convolutions\n"
    "                       in bf16, about twice as fast (CPUs with AVX512-BF16 only)\n";

typedef struct decode_opts {
    const char *model, *codes, *output, *precision;
    long threads, chunk, context;
} decode_opts;

/* A whole file (or standard input for "-") as text; NULL with errno set. */
static char *read_text(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (n + 1 == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    bool failed = ferror(f);
    if (f != stdin)
        fclose(f);
    if (failed) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* root[key] as an array of integers; -1 with a message naming file and key otherwise. */
static int read_codes(const cJSON *root, const char *path, const char *key, int32_t **out,
                      size_t *count)
{
    const cJSON *array = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsArray(array)) {
        fprintf(stderr, "sparkhost codec decode: %s: \"%s\" must be an array of integer codes\n",
                path, key);
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(array), i = 0;
    *out = malloc((n ? n : 1) * sizeof(int32_t));
    if (!*out)
        return -1;
    const cJSON *item;
    cJSON_ArrayForEach(item, array) {
        double v = cJSON_IsNumber(item) ? item->valuedouble : 0.5;
        if (v != (double)(int64_t)v || v < INT32_MIN || v > INT32_MAX) {
            fprintf(stderr, "sparkhost codec decode: %s: \"%s\"[%zu] is not an integer code\n",
                    path, key, i);
            free(*out);
            *out = NULL;
            return -1;
        }
        (*out)[i++] = (int32_t)v;
    }
    *count = n;
    return 0;
}

static bool parse_count(const char *s, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 1000000)
        return false;
    *out = v;
    return true;
}

static bool is_decode_option(const char *a)
{
    static const char *const options[] = {"--model", "--codes", "-o", "--output", "--threads",
                                          "--chunk-frames", "--context-frames", "--precision"};
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (strcmp(a, options[i]) == 0)
            return true;
    return false;
}

static int parse_decode_args(int argc, char **argv, decode_opts *o)
{
    *o = (decode_opts){.chunk = 100, .context = 12};
    /* every option takes a value: i moves by two */
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(decode_usage, stdout);
            return EXIT_OK;
        }
        bool has_value = i + 1 < argc;
        const char *v = has_value ? argv[i + 1] : NULL;
        if (strcmp(a, "--model") == 0 && has_value)
            o->model = v;
        else if (strcmp(a, "--codes") == 0 && has_value)
            o->codes = v;
        else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && has_value)
            o->output = v;
        else if (strcmp(a, "--precision") == 0 && has_value) {
            if (strcmp(v, "f32") != 0 && strcmp(v, "bf16") != 0)
                return cli_usage_error("codec decode", "--precision is f32 or bf16, not '%s'", v);
            o->precision = v;
        } else if (strcmp(a, "--threads") == 0 && has_value) {
            if (!parse_count(v, &o->threads) || o->threads > 256)
                return cli_usage_error("codec decode", "--threads takes 0..256, not '%s'", v);
        } else if (strcmp(a, "--chunk-frames") == 0 && has_value) {
            if (!parse_count(v, &o->chunk))
                return cli_usage_error("codec decode", "--chunk-frames takes a count, not '%s'", v);
        } else if (strcmp(a, "--context-frames") == 0 && has_value) {
            if (!parse_count(v, &o->context))
                return cli_usage_error("codec decode", "--context-frames takes a count, not '%s'",
                                       v);
        } else if (is_decode_option(a))
            return cli_usage_error("codec decode", "%s needs a value", a);
        else if (a[0] == '-' && a[1])
            return cli_usage_error("codec decode", "unknown option '%s'", a);
        else
            return cli_usage_error("codec decode", "unexpected argument '%s'", a);
    }
    if (!o->model)
        return cli_usage_error("codec decode", "--model is required");
    if (!o->codes)
        return cli_usage_error("codec decode", "--codes is required");
    if (!o->output)
        return cli_usage_error("codec decode", "-o OUT.wav is required");
    return -1; /* go on */
}

/* Writes mono float samples to path atomically: a temporary file beside it, then rename. */
static int write_wav(const char *path, const float *samples, size_t count, int rate)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp)
        return -1;
    snprintf(tmp, len + 16, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "sparkhost codec decode: %s: cannot create: %s\n", path, strerror(errno));
        free(tmp);
        return -1;
    }
    SF_INFO info = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE *sf = sf_open_fd(fd, SFM_WRITE, &info, 1);
    bool ok = sf && sf_writef_float(sf, samples, (sf_count_t)count) == (sf_count_t)count;
    if (!sf)
        close(fd);
    if (sf && sf_close(sf) != 0)
        ok = false;
    if (ok && rename(tmp, path) != 0) {
        fprintf(stderr, "sparkhost codec decode: %s: %s\n", path, strerror(errno));
        ok = false;
    } else if (!ok) {
        fprintf(stderr, "sparkhost codec decode: %s: cannot write the audio: %s\n", path,
                sf_strerror(sf));
    }
    if (!ok)
        unlink(tmp);
    free(tmp);
    return ok ? 0 : -1;
}

static int codec_decode(const cli_globals *g, int argc, char **argv)
{
    decode_opts o;
    int rc = parse_decode_args(argc, argv, &o);
    if (rc >= 0)
        return rc;
    size_t len = 0;
    char *text = read_text(o.codes, &len);
    if (!text) {
        fprintf(stderr, "sparkhost codec decode: %s: cannot read: %s\n", o.codes, strerror(errno));
        return EXIT_INVALID;
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        fprintf(stderr, "sparkhost codec decode: %s: not a JSON object with \"global_codes\" and "
                "\"semantic_codes\"\n", o.codes);
        cJSON_Delete(root);
        return EXIT_INVALID;
    }
    int32_t *global = NULL, *semantic = NULL;
    size_t n_global = 0, n_semantic = 0;
    rc = read_codes(root, o.codes, "global_codes", &global, &n_global) ||
                 read_codes(root, o.codes, "semantic_codes", &semantic, &n_semantic)
             ? EXIT_INVALID : EXIT_OK;
    cJSON_Delete(root);

    char err[1024];
    bicodec_model model;
    bicodec_decoder dec;
    wavegen wg;
    bool have_model = false, have_dec = false, have_wg = false;
    nn_pool *pool = NULL;
    float *latent = NULL, *samples = NULL;
    bicodec_workspace bws = {0};
    wavegen_workspace wws = {0};
    if (rc != EXIT_OK)
        goto done;
    rc = EXIT_INVALID;
    if (bicodec_model_open(&model, o.model, err, sizeof err)) {
        fprintf(stderr, "sparkhost codec decode: %s\n", err);
        goto done;
    }
    have_model = true;
    if (bicodec_decoder_load(&dec, &model, err, sizeof err)) {
        fprintf(stderr, "sparkhost codec decode: %s\n", err);
        goto done;
    }
    have_dec = true;
    if (bicodec_check_codes(&dec, semantic, n_semantic, global, n_global, err, sizeof err)) {
        fprintf(stderr, "sparkhost codec decode: %s: %s\n", o.codes, err);
        goto done;
    }
    if (wavegen_load(&wg, o.model, err, sizeof err)) {
        fprintf(stderr, "sparkhost codec decode: %s\n", err);
        goto done;
    }
    have_wg = true;
    if (o.precision && strcmp(o.precision, "bf16") == 0 &&
        wavegen_use_bf16(&wg, err, sizeof err)) {
        fprintf(stderr, "sparkhost codec decode: --precision bf16: %s\n", err);
        goto done;
    }
    rc = EXIT_INTERNAL;
    pool = nn_pool_create((int)o.threads, err, sizeof err);
    latent = malloc(dec.out_channels * n_semantic * sizeof(float));
    samples = malloc(n_semantic * wg.hop * sizeof(float));
    if (!pool || !latent || !samples) {
        fprintf(stderr, "sparkhost codec decode: %s\n", pool ? "out of memory" : err);
        goto done;
    }
    if (bicodec_decode(pool, &dec, semantic, n_semantic, global, n_global, &bws, latent,
                       n_semantic, NULL, err, sizeof err)) {
        fprintf(stderr, "sparkhost codec decode: %s\n", err);
        goto done;
    }
    size_t chunk = o.chunk ? (size_t)o.chunk : n_semantic;
    for (size_t b = 0; b < n_semantic; b += chunk) {
        size_t e = b + chunk < n_semantic ? b + chunk : n_semantic;
        if (wavegen_forward_range(pool, &wg, latent, n_semantic, n_semantic, b, e,
                                  (size_t)o.context, &wws, samples + b * wg.hop, NULL, err,
                                  sizeof err)) {
            fprintf(stderr, "sparkhost codec decode: %s\n", err);
            goto done;
        }
    }
    int rate = (int)model.config.mel.sample_rate;
    if (write_wav(o.output, samples, n_semantic * wg.hop, rate))
        goto done;
    if (g->verbosity >= 0)
        printf("wrote %s (%zu samples, %.2f s at %d Hz)\n", o.output, n_semantic * wg.hop,
               (double)(n_semantic * wg.hop) / rate, rate);
    rc = EXIT_OK;
done:
    free(global);
    free(semantic);
    free(latent);
    free(samples);
    bicodec_workspace_free(&bws);
    wavegen_workspace_free(&wws);
    nn_pool_destroy(pool);
    if (have_wg)
        wavegen_free(&wg);
    if (have_dec)
        bicodec_decoder_free(&dec);
    if (have_model)
        bicodec_model_close(&model);
    return rc;
}

/* ---- codec encode ---------------------------------------------------------------------- */

static const char encode_usage[] =
    "usage: sparkhost codec encode --model DIR REF_AUDIO [--transcript T]\n"
    "                              [--save-voice NAME [--voice-dir DIR]] [--threads N]\n"
    "\n"
    "Encodes a reference recording (any format libsndfile reads, any rate; channel 0 is used)\n"
    "into the codes of its voice and prints them as one JSON object:\n"
    "  {\"model\": FINGERPRINT, \"transcript\": T or null, \"global_codes\": [32 codes],\n"
    "   \"semantic_codes\": [codes of the reference, 50 per second; empty without T]}\n"
    "\n"
    "  --model DIR        the Spark-TTS model directory\n"
    "  --transcript T     what the reference says: also makes its semantic codes (wav2vec2)\n"
    "  --save-voice NAME  also save the voice as DIR/NAME.json (see --voice-dir), which the\n"
    "                     encode node reuses with `voice: NAME` without encoding again\n"
    "  --voice-dir DIR    where voices are saved (default: voices)\n"
    "  --threads N        compute threads (default: every CPU this process may use)\n"
    "\n"
    "exit codes: 0 done, 2 usage error, 3 unusable reference or model, 4 the voice could not\n"
    "be saved\n";

/* Writes text to path through a temporary file and a rename, so no partial file shows. */
static int write_atomically(const char *path, const char *text)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return -1;
    bool ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int codec_encode(const cli_globals *g, int argc, char **argv)
{
    (void)g;
    const char *model = NULL, *audio_path = NULL, *transcript = NULL, *save_voice = NULL;
    const char *voice_dir = "voices";
    long threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(encode_usage, stdout);
            return EXIT_OK;
        }
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--model") == 0 && has_value) {
            model = argv[++i];
        } else if (strcmp(a, "--transcript") == 0 && has_value) {
            transcript = argv[++i];
        } else if (strcmp(a, "--save-voice") == 0 && has_value) {
            save_voice = argv[++i];
        } else if (strcmp(a, "--voice-dir") == 0 && has_value) {
            voice_dir = argv[++i];
        } else if (strcmp(a, "--threads") == 0 && has_value) {
            char *end = NULL;
            threads = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || threads < 0 || threads > 256)
                return cli_usage_error("codec encode", "--threads must be 0 to 256, got '%s'",
                                       argv[i]);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("codec encode", "unknown or incomplete option '%s'", a);
        } else if (!audio_path) {
            audio_path = a;
        } else {
            return cli_usage_error("codec encode", "one reference audio file, got '%s' too", a);
        }
    }
    if (!model)
        return cli_usage_error("codec encode", "--model DIR is required");
    if (!audio_path)
        return cli_usage_error("codec encode", "the reference audio file is required");
    if (save_voice && !encode_voice_name_valid(save_voice))
        return cli_usage_error("codec encode", "--save-voice: '%s' is not a voice name (1 to %d "
                               "letters, digits, '_' or '-')", save_voice,
                               ENCODE_VOICE_NAME_MAX);

    char err[1024];
    float *samples = NULL;
    size_t frames = 0;
    uint32_t rate = 0;
    if (encode_load_audio_file(audio_path, &samples, &frames, &rate, err, sizeof err) != 0) {
        fprintf(stderr, "sparkhost: %s\n", err);
        return EXIT_INVALID;
    }
    int code = EXIT_INVALID;
    encode_voice voice = {0};
    char *message = NULL, *json = NULL;
    nn_pool *pool = nn_pool_create((int)threads, err, sizeof err);
    nn_bicodec_encoder *encoder = NULL;
    if (!pool) {
        fprintf(stderr, "sparkhost: threads: %s\n", err);
        code = EXIT_INTERNAL;
        goto done;
    }
    bool semantic = transcript && transcript[0];
    encoder = nn_bicodec_encoder_load(model, semantic, pool, &message);
    if (!encoder) {
        fprintf(stderr, "sparkhost: model: %s\n", message ? message : "cannot load");
        goto done;
    }
    if (encode_model_hash(model, voice.model_hash, err, sizeof err) != 0) {
        fprintf(stderr, "sparkhost: model: %s\n", err);
        goto done;
    }
    char model_hash[ENCODE_MODEL_HASH_HEX];
    memcpy(model_hash, voice.model_hash, sizeof model_hash);
    if (encode_reference_voice(encoder, samples, frames, rate, transcript, &voice, err,
                               sizeof err) != 0) {
        fprintf(stderr, "sparkhost: %s: %s\n", audio_path, err);
        goto done;
    }
    memcpy(voice.model_hash, model_hash, sizeof model_hash);
    json = encode_voice_codes_json(&voice);
    if (!json) {
        fprintf(stderr, "sparkhost: out of memory\n");
        code = EXIT_INTERNAL;
        goto done;
    }
    if (save_voice) {
        snprintf(voice.name, sizeof voice.name, "%s", save_voice);
        char path[4096];
        char *whole = encode_voice_to_json(&voice);
        if (!whole || encode_voice_location(voice_dir, save_voice, path, sizeof path) != 0 ||
            (mkdir(voice_dir, 0777) != 0 && errno != EEXIST) || write_atomically(path, whole)) {
            fprintf(stderr, "sparkhost: --save-voice: cannot write %s/%s.json: %s\n", voice_dir,
                    save_voice, strerror(errno));
            free(whole);
            code = EXIT_JOB;
            goto done;
        }
        free(whole);
    }
    puts(json);
    code = EXIT_OK;
done:
    free(json);
    free(message);
    encode_voice_free(&voice);
    nn_bicodec_encoder_free(encoder);
    nn_pool_destroy(pool);
    free(samples);
    return code;
}

static const struct {
    const char *name;
    int (*run)(const cli_globals *g, int argc, char **argv);
} subcommands[] = {
    {"decode", codec_decode},
    {"encode", codec_encode},
};

int cmd_codec(const cli_globals *g, int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return subcommands[i].run(g, argc - 1, argv + 1);
    return cli_usage_error("codec", "unknown subcommand '%s'", argv[1]);
}
