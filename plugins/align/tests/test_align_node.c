/* The built align plugin (argv[1], dlopen) with the fake engine: sentences and their speech
 * (espeak-ng) sent as the segmenter and the join node send them, in either order; timing
 * packets per sentence inside each sentence's audio, word offsets into the job text, word
 * starts near espeak's, the WhisperX JSON result; the whole-stream mode; refusals. */
#include "check.h"
#include "plugin_checks.h"

#include "espeak_speech.h"
#include "fake_host.h"

#include <spark/plugin.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

enum { PORT_TEXT, PORT_AUDIO, PORT_TIMING };

static const char job_text[] = "Hello there, my friend. How are you doing today? Fine, thanks.";
static const size_t sentence_at[] = {0, 24, 49};
static const size_t sentence_len[] = {23, 24, 13};
#define SENTENCES 3
#define GAP_SECONDS 0.3

static const spark_node_desc *desc;
static espeak_speech speech[SENTENCES];

static void test_descriptor(const spark_entry *entry)
{
    CHECK_STR_EQ(entry->name, "align");
    const spark_node_factory *factory = entry->get_factory(SPARK_FACTORY_NODE);
    CHECK(factory && factory->node_count == 1);
    if (!factory)
        return;
    desc = factory->nodes[0];
    CHECK_STR_EQ(desc->id, "org.sparkhost.align.words");
    CHECK_INT_EQ(desc->port_count, 3);
    CHECK_STR_EQ(desc->ports[PORT_TEXT].name, "text");
    CHECK_INT_EQ(desc->ports[PORT_TEXT].kind, SPARK_KIND_TEXT);
    CHECK_STR_EQ(desc->ports[PORT_AUDIO].name, "audio");
    CHECK_INT_EQ(desc->ports[PORT_AUDIO].kind, SPARK_KIND_AUDIO);
    CHECK_STR_EQ(desc->ports[PORT_TIMING].name, "timing");
    CHECK_INT_EQ(desc->ports[PORT_TIMING].direction, SPARK_PORT_OUT);
    CHECK_INT_EQ(desc->ports[PORT_TIMING].kind, SPARK_KIND_TIMING);
    CHECK_STR_EQ(desc->params[0].key, "spans");
    CHECK(desc->params[0].flags & SPARK_PARAM_PER_JOB);
    CHECK_STR_EQ(desc->results[0].name, "word_timings");
    CHECK_INT_EQ(desc->results[0].type, SPARK_VALUE_JSON);
}

static void send_text(fake_job *job, int i)
{
    spark_packet *p = fake_text_packet(job_text + sentence_at[i], sentence_len[i],
                                       (int64_t)sentence_at[i]);
    p->seq = i;
    CHECK_INT_EQ(fake_job_process(job, PORT_TEXT, p), SPARK_OK);
    fake_release(p);
}

static int64_t placed_at[SENTENCES]; /* frames, as the join node places the sentences */

/* Sentence i's speech with the join's gap after it, as the join node sends it (stereo, so
 * that channel mixing is exercised). */
static void send_audio(fake_job *job, int i)
{
    size_t gap = (size_t)(GAP_SECONDS * speech[i].rate);
    spark_packet *p = fake_audio_packet(2, speech[i].frames + gap, speech[i].rate);
    for (uint32_t c = 0; c < 2; c++)
        memcpy(p->data.audio.planes[c], speech[i].samples, speech[i].frames * sizeof(float));
    p->data.audio.timestamp = placed_at[i];
    p->seq = i;
    CHECK_INT_EQ(fake_job_process(job, PORT_AUDIO, p), SPARK_OK);
    fake_release(p);
}

/* Sentence i's audio as the vocoder and join send it in streaming: chunks of at most `chunk`
 * frames, all with the sentence's seq, the last one first (order inside a sentence goes by
 * timestamp). */
static void send_audio_chunks(fake_job *job, int i, size_t chunk)
{
    size_t gap = (size_t)(GAP_SECONDS * speech[i].rate);
    size_t total = speech[i].frames + gap;
    size_t starts[64], n = 0;
    for (size_t at = 0; at < total && n < 64; at += chunk)
        starts[n++] = at;
    for (size_t k = n; k-- > 0;) {
        size_t frames = starts[k] + chunk > total ? total - starts[k] : chunk;
        spark_packet *p = fake_audio_packet(1, frames, speech[i].rate);
        for (size_t f = 0; f < frames; f++) {
            size_t at = starts[k] + f;
            p->data.audio.planes[0][f] = at < speech[i].frames ? speech[i].samples[at] : 0.0f;
        }
        p->data.audio.timestamp = placed_at[i] + (int64_t)starts[k];
        p->seq = i;
        CHECK_INT_EQ(fake_job_process(job, PORT_AUDIO, p), SPARK_OK);
        fake_release(p);
    }
}

/* The timing packets of a job with all three sentences; checks common to both modes. Words
 * lie within their sentence's audio (up to slack seconds when the aligner had to find the
 * sentences itself) and start within tolerance of espeak's word starts. */
static void check_timings(fake_job *job, double slack, double tolerance)
{
    CHECK_INT_EQ(fake_job_output_count(job, PORT_TIMING), SENTENCES);
    size_t words_total = 0, near = 0;
    for (size_t i = 0; i < fake_job_output_count(job, PORT_TIMING) && i < SENTENCES; i++) {
        const spark_packet *p = fake_job_output(job, PORT_TIMING, i);
        const spark_timing_data *t = &p->data.timing;
        unsigned rate = speech[i].rate;
        double from = (double)placed_at[i] / rate;
        double to = from + (double)speech[i].frames / rate + GAP_SECONDS;
        CHECK_INT_EQ(p->seq, (long long)i);
        CHECK(t->count >= 2);
        CHECK_INT_EQ(t->items[0].level, SPARK_TIMING_SEGMENT);
        CHECK_INT_EQ(t->items[0].text_offset, (long long)sentence_at[i]);
        CHECK(strlen(t->items[0].text) == sentence_len[i] &&
              memcmp(t->items[0].text, job_text + sentence_at[i], sentence_len[i]) == 0);
        CHECK_NEAR(t->items[0].start, t->items[1].start, 1e-9);
        CHECK_NEAR(t->items[0].end, t->items[t->count - 1].end, 1e-9);
        for (size_t w = 1; w < t->count; w++) {
            const spark_timing_item *it = &t->items[w];
            CHECK_INT_EQ(it->level, SPARK_TIMING_WORD);
            CHECK(it->start >= from - slack && it->end <= to + slack && it->start <= it->end);
            if (w > 1)
                CHECK(it->start >= t->items[w - 1].end - 1e-9);
            CHECK(it->score >= 0 && it->score <= 1);
            /* the word is the job text at its offset */
            CHECK(it->text_offset >= 0 &&
                  strncmp(job_text + it->text_offset, it->text, strlen(it->text)) == 0);
            /* espeak's word that starts inside this word */
            for (size_t e = 0; e < speech[i].word_count; e++) {
                size_t off = sentence_at[i] + speech[i].words[e].byte_offset;
                if (off >= (size_t)it->text_offset && off < it->text_offset + strlen(it->text)) {
                    near += fabs(it->start - (from + speech[i].words[e].start)) <= tolerance;
                    break;
                }
            }
        }
        words_total += t->count - 1;
    }
    CHECK_INT_EQ(words_total, 11);
    CHECK(near >= 10); /* at least 85% of the 11 words */
    const fake_result *words = fake_job_result(job, "words");
    CHECK(words && words->number == 11);
    cJSON *root = cJSON_Parse(fake_job_result_text(job, "word_timings"));
    CHECK(root != NULL);
    cJSON *segments = cJSON_GetObjectItem(root, "segments");
    CHECK_INT_EQ(cJSON_GetArraySize(segments), SENTENCES);
    cJSON *second = cJSON_GetArrayItem(segments, 1);
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(second, "text")),
                 "How are you doing today?");
    cJSON *w0 = cJSON_GetArrayItem(cJSON_GetObjectItem(second, "words"), 0);
    CHECK_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(w0, "word")), "How");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(w0, "start")) &&
          cJSON_IsNumber(cJSON_GetObjectItem(w0, "end")) &&
          cJSON_IsNumber(cJSON_GetObjectItem(w0, "score")));
    CHECK_INT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(root, "word_segments")), 11);
    cJSON_Delete(root);
}

static void test_sentence_packets(void)
{
    fake_node node;
    CHECK_INT_EQ(fake_node_open(&node, desc, NULL, NULL), SPARK_OK);
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_job_begin(&node, "j1", NULL, &job), SPARK_OK);
    /* audio and text interleaved, not in order: pairing goes by seq */
    send_audio(job, 1);
    send_text(job, 0);
    send_audio(job, 0);
    send_text(job, 2);
    send_text(job, 1);
    CHECK_INT_EQ(fake_job_process(job, PORT_TEXT, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_TIMING), 0); /* audio still open */
    send_audio(job, 2);
    CHECK_INT_EQ(fake_job_process(job, PORT_AUDIO, NULL), SPARK_OK);
    check_timings(job, 1e-9, 0.12);
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);
}

/* Each sentence in several packets with its seq: still aligned sentence by sentence. */
static void test_chunked_sentences(void)
{
    fake_node node;
    CHECK_INT_EQ(fake_node_open(&node, desc, NULL, NULL), SPARK_OK);
    fake_job *job = NULL;
    const char *const packets[] = {"spans", "packets", NULL};
    CHECK_INT_EQ(fake_job_begin(&node, "chunks", packets, &job), SPARK_OK);
    for (int i = 0; i < SENTENCES; i++) {
        send_text(job, i);
        send_audio_chunks(job, i, 3200);
    }
    CHECK_INT_EQ(fake_job_process(job, PORT_TEXT, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(job, PORT_AUDIO, NULL), SPARK_OK);
    check_timings(job, 1e-9, 0.12);
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);
}

/* report false: the timing packets still come (for subtitles), the result does not. */
static void test_report_off(void)
{
    fake_node node;
    CHECK_INT_EQ(fake_node_open(&node, desc, NULL, NULL), SPARK_OK);
    fake_job *job = NULL;
    const char *const quiet[] = {"report", "false", NULL};
    CHECK_INT_EQ(fake_job_begin(&node, "quiet", quiet, &job), SPARK_OK);
    for (int i = 0; i < SENTENCES; i++) {
        send_text(job, i);
        send_audio(job, i);
    }
    CHECK_INT_EQ(fake_job_process(job, PORT_TEXT, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(job, PORT_AUDIO, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_TIMING), SENTENCES);
    CHECK(fake_job_result_text(job, "word_timings") == NULL);
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);
}

/* One audio packet holding everything: sentences are found in the stream. */
static void test_whole_stream(void)
{
    fake_node node;
    CHECK_INT_EQ(fake_node_open(&node, desc, NULL, NULL), SPARK_OK);
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_job_begin(&node, "j2", NULL, &job), SPARK_OK);
    unsigned rate = speech[0].rate;
    size_t total = (size_t)(placed_at[SENTENCES - 1]) + speech[SENTENCES - 1].frames +
                   (size_t)(GAP_SECONDS * rate);
    spark_packet *p = fake_audio_packet(1, total, rate);
    for (int i = 0; i < SENTENCES; i++)
        memcpy(p->data.audio.planes[0] + placed_at[i], speech[i].samples,
               speech[i].frames * sizeof(float));
    for (int i = 0; i < SENTENCES; i++)
        send_text(job, i);
    CHECK_INT_EQ(fake_job_process(job, PORT_AUDIO, p), SPARK_OK);
    fake_release(p);
    CHECK_INT_EQ(fake_job_process(job, PORT_AUDIO, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(job, PORT_TEXT, NULL), SPARK_OK);
    check_timings(job, 0.03, 0.12);
    fake_job_free(job);
    fake_node_close(&node);
}

static void test_refusals(void)
{
    fake_node node;
    CHECK_INT_EQ(fake_node_open(&node, desc, NULL, NULL), SPARK_OK);
    /* spans=packets with a count mismatch */
    const char *const packets[] = {"spans", "packets", NULL};
    fake_job *job = NULL;
    CHECK_INT_EQ(fake_job_begin(&node, "j3", packets, &job), SPARK_OK);
    send_text(job, 0);
    send_text(job, 1);
    send_audio(job, 0);
    CHECK_INT_EQ(fake_job_process(job, PORT_TEXT, NULL), SPARK_OK);
    fake_log_clear();
    CHECK_INT_EQ(fake_job_process(job, PORT_AUDIO, NULL), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "2 text segment(s) and audio for 1");
    fake_job_free(job);

    /* text without audio */
    CHECK_INT_EQ(fake_job_begin(&node, "j4", NULL, &job), SPARK_OK);
    send_text(job, 0);
    CHECK_INT_EQ(fake_job_process(job, PORT_AUDIO, NULL), SPARK_OK);
    fake_log_clear();
    CHECK_INT_EQ(fake_job_process(job, PORT_TEXT, NULL), SPARK_E_INVALID_ARGUMENT);
    CHECK_STR_CONTAINS(fake_last_error(), "no audio");
    fake_job_free(job);

    /* a packet of the wrong kind */
    CHECK_INT_EQ(fake_job_begin(&node, "j5", NULL, &job), SPARK_OK);
    spark_packet *audio = fake_audio_packet(1, 10, 16000);
    fake_log_clear();
    CHECK_INT_EQ(fake_job_process(job, PORT_TEXT, audio), SPARK_E_FORMAT_MISMATCH);
    CHECK_STR_CONTAINS(fake_last_error(), "not TEXT");
    fake_release(audio);
    fake_job_free(job);

    /* nothing at all: no timings, an empty document */
    CHECK_INT_EQ(fake_job_begin(&node, "j6", NULL, &job), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(job, PORT_TEXT, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_process(job, PORT_AUDIO, NULL), SPARK_OK);
    CHECK_INT_EQ(fake_job_output_count(job, PORT_TIMING), 0);
    CHECK_STR_EQ(fake_job_result_text(job, "word_timings"), "{\"segments\":[],\"word_segments\":[]}");
    CHECK_INT_EQ(fake_job_end(job, SPARK_OK), SPARK_OK);
    fake_job_free(job);
    fake_node_close(&node);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_align_node PLUGIN.so\n");
        return 2;
    }
    fake_plugin plugin;
    const char *const internal[] = {"align_words", "word_units_split", "timings_json", NULL};
    const spark_entry *entry = check_load_plugin(&plugin, argv[1], internal);
    if (!entry)
        return 1;
    test_descriptor(entry);
    CHECK(espeak_speech_open("en") == 0);
    for (int i = 0; i < SENTENCES; i++) {
        char text[64] = {0};
        memcpy(text, job_text + sentence_at[i], sentence_len[i]);
        CHECK(espeak_speech_say(text, &speech[i]) == 0);
        placed_at[i] = i == 0 ? 0 : placed_at[i - 1] + (int64_t)speech[i - 1].frames +
                                        (int64_t)(GAP_SECONDS * speech[i - 1].rate);
    }
    espeak_speech_close();
    if (desc) {
        test_sentence_packets();
        test_whole_stream();
        test_chunked_sentences();
        test_report_off();
        test_refusals();
    }
    for (int i = 0; i < SENTENCES; i++)
        espeak_speech_free(&speech[i]);
    CHECK_INT_EQ(fake_live_packets(), 0);
    fake_plugin_unload(&plugin);
    return check_failures ? 1 : 0;
}
