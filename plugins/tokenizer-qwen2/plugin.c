/* plugin.c - entry and descriptors of the tokenizer-qwen2 plugin: the Spark-TTS prompt
 * builder and the parser of generated ids (tokenizer_nodes.c). */
#include <spark/plugin.h>

#include <string.h>

#include "tokenizer_nodes.h"

static const char *const mode_choices[] = {"control", "clone", "clone_transcript", "auto",
                                           NULL};
static const char *const gender_choices[] = {"female", "male", NULL};
static const char *const level_choices[] = {"very_low", "low", "moderate", "high",
                                            "very_high", NULL};

#define MODEL_DIR_PARAM                                                                    \
    {"model_dir", SPARK_PARAM_URL, SPARK_PARAM_REQUIRED, NULL, 0, 0, 0, 0, NULL,           \
     "The Spark-TTS model directory (its LLM/ holds tokenizer.json, or vocab.json + "      \
     "merges.txt + added_tokens.json), or a tokenizer directory; a local path or file:// " \
     "URL. Every special token is looked up there at activation."}

static const spark_port_desc prompt_ports[] = {
    [PROMPT_PORT_TEXT] = {"text", SPARK_PORT_IN, SPARK_KIND_TEXT, 0, 0, 0, 0,
                          "Text segments; one prompt per segment, with its seq."},
    [PROMPT_PORT_VOICE] = {"voice", SPARK_PORT_IN, SPARK_KIND_CODES, SPARK_PORT_OPTIONAL, 0,
                           0, 0,
                           "The reference voice for the cloning modes: 32 global codes, and "
                           "for clone_transcript the semantic codes of the whole reference. "
                           "In mode auto, segments wait until it brings a voice or ends."},
    [PROMPT_PORT_TOKENS] = {"tokens", SPARK_PORT_OUT, SPARK_KIND_TOKENS, 0, 0, 0, 0,
                            "The prompt's token ids, exactly as the upstream prompt string "
                            "tokenizes (vocabulary " TOKENIZER_VOCABULARY ")."},
};

static const spark_param_desc prompt_params[] = {
    MODEL_DIR_PARAM,
    {"mode", SPARK_PARAM_ENUM, SPARK_PARAM_PER_JOB, "control", 0, 0, 0, 0, mode_choices,
     "control: voice creation from gender, pitch and speed; clone: a reference voice's "
     "global codes; clone_transcript: also the reference's transcript and semantic codes; "
     "auto: decided by port voice: control when it ends empty, clone_transcript when the "
     "voice carries semantic codes and transcript is set, clone otherwise."},
    {"gender", SPARK_PARAM_ENUM, SPARK_PARAM_PER_JOB, "female", 0, 0, 0, 0, gender_choices,
     "Controllable mode: the voice's gender."},
    {"pitch", SPARK_PARAM_ENUM, SPARK_PARAM_PER_JOB, "moderate", 0, 0, 0, 0, level_choices,
     "Controllable mode: the pitch level."},
    {"speed", SPARK_PARAM_ENUM, SPARK_PARAM_PER_JOB, "moderate", 0, 0, 0, 0, level_choices,
     "Controllable mode: the speaking-rate level."},
    {"transcript", SPARK_PARAM_STRING, SPARK_PARAM_PER_JOB, "", 0, 0, 0, 0, NULL,
     "clone_transcript: what the reference audio says; glued before the text with no space, "
     "as upstream does."},
};

static const spark_node_desc prompt_node = {
    .struct_size = sizeof(spark_node_desc),
    .id = "org.sparkhost.tokenizer.qwen2.prompt",
    .name = "Spark-TTS prompt builder",
    .version = "1.0.0",
    .description = "Builds the Spark-TTS LLM prompt of each text segment (controllable or "
                   "voice-cloning format) with the Qwen2 byte-level BPE tokenizer, id for id "
                   "what Hugging Face tokenizers gives for the upstream prompt string.",
    .port_count = sizeof prompt_ports / sizeof prompt_ports[0],
    .param_count = sizeof prompt_params / sizeof prompt_params[0],
    .ports = prompt_ports,
    .params = prompt_params,
    .ops = &prompt_node_ops,
};

static const spark_port_desc parse_ports[] = {
    [PARSE_PORT_TOKENS] = {"tokens", SPARK_PORT_IN, SPARK_KIND_TOKENS, 0, 0, 0, 0,
                           "Generated ids of one segment."},
    [PARSE_PORT_CODES] = {"codes", SPARK_PORT_OUT, SPARK_KIND_CODES, 0, 0, 0, 0,
                          "Its semantic codes in order (50 per second), and in control mode "
                          "the 32 generated global codes."},
};

static const spark_param_desc parse_params[] = {
    MODEL_DIR_PARAM,
    {"mode", SPARK_PARAM_ENUM, SPARK_PARAM_PER_JOB, "control", 0, 0, 0, 0, mode_choices,
     "control: exactly 32 global codes must have been generated; cloning modes: generated "
     "global codes are ignored (the reference's are used); auto: per segment, control when "
     "its ids hold any global code, clone when they hold none (meant for constrained "
     "decoding, whose clone grammar generates no global code)."},
};

static const spark_node_desc parse_node = {
    .struct_size = sizeof(spark_node_desc),
    .id = "org.sparkhost.tokenizer.qwen2.parse_codes",
    .name = "Spark-TTS code parser",
    .version = "1.0.0",
    .description = "Splits the LLM's generated ids into BiCodec semantic codes and, in "
                   "control mode, global codes, with the counts checked.",
    .port_count = sizeof parse_ports / sizeof parse_ports[0],
    .param_count = sizeof parse_params / sizeof parse_params[0],
    .ports = parse_ports,
    .params = parse_params,
    .ops = &parse_node_ops,
};

static const spark_node_desc *const nodes[] = {&prompt_node, &parse_node};

static const spark_node_factory factory = {
    .struct_size = sizeof(spark_node_factory),
    .node_count = 2,
    .nodes = nodes,
};

static const void *get_factory(const char *factory_id)
{
    if (factory_id && strcmp(factory_id, SPARK_FACTORY_NODE) == 0)
        return &factory;
    return NULL;
}

SPARK_PLUGIN_ENTRY = {
    .struct_size = sizeof(spark_entry),
    .abi = SPARK_ABI_VERSION_INIT,
    .name = "tokenizer-qwen2",
    .version = "1.0.0",
    .get_factory = get_factory,
};
