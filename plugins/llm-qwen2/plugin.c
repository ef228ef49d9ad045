/* plugin.c - entry and descriptor of the llm-qwen2 plugin: the Spark-TTS LLM node
 * (llm_node.c) on the CPU kernels of core/nn. */
#include <spark/plugin.h>

#include <string.h>

#include "llm_node.h"

static const char *const weight_choices[] = {"f32", "bf16", "int8", NULL};
static const char *const kv_choices[] = {"auto", "f32", "f16", NULL};
static const char *const constrain_choices[] = {"auto", "off", "control", "clone", NULL};
static const char *const device_choices[] = {"cpu", "cuda", NULL};

static const spark_port_desc ports[] = {
    [LLM_PORT_PROMPT] = {"prompt", SPARK_PORT_IN, SPARK_KIND_TOKENS, 0, 0, 0, 0,
                         "The prompt ids of one segment per packet (from the prompt builder)."},
    [LLM_PORT_GENERATED] = {"generated", SPARK_PORT_OUT, SPARK_KIND_TOKENS, 0, 0, 0, 0,
                            "All ids generated for a segment (the stop id included), with the "
                            "prompt's seq, once the segment is done: for parse_codes."},
    [LLM_PORT_CODES] = {"codes", SPARK_PORT_OUT, SPARK_KIND_CODES, 0, 0, 0, 0,
                        "Semantic codes streamed in chunks of chunk_size while generating, "
                        "with the prompt's seq; in control mode the first chunk of a segment "
                        "also carries its 32 generated global codes, and its last chunk "
                        "(possibly empty) is flagged SPARK_PACKET_PIECE_END."},
};

#define PER_JOB SPARK_PARAM_PER_JOB
#define MIN SPARK_PARAM_HAS_MIN
#define MAX SPARK_PARAM_HAS_MAX

static const spark_param_desc params[] = {
    {"model_dir", SPARK_PARAM_URL, SPARK_PARAM_REQUIRED, NULL, 0, 0, 0, 0, NULL,
     "The Spark-TTS model directory (a local path or file:// URL); its LLM/ holds "
     "config.json, model.safetensors (F32, BF16 or F16) and added_tokens.json. A bare LLM "
     "directory works too."},
    {"weights", SPARK_PARAM_ENUM, 0, "f32", 0, 0, 0, 0, weight_choices,
     "Precision of the weight matrices, converted at activation: f32 (as released, the "
     "reference), bf16 (half the memory traffic) or int8 (symmetric, one scale per "
     "int8_block columns). Norms, rotary embedding, softmax and logits stay f32."},
    {"kv_cache", SPARK_PARAM_ENUM, 0, "auto", 0, 0, 0, 0, kv_choices,
     "Precision of the KV cache: f16 halves what a decode step reads from it at long "
     "context (2^-11 rounding, below what bf16 or int8 weights cost); auto: f32 with f32 "
     "weights (the reference), f16 otherwise. device cuda keeps its own f32 cache."},
    {"int8_block", SPARK_PARAM_INTEGER, MIN | MAX, "64", 0, 4096, 0, 0, NULL,
     "int8: columns per scale, a multiple of 32; 0 = one scale per row. A matrix whose width "
     "it does not divide gets one scale per row."},
    {"threads", SPARK_PARAM_INTEGER, MIN | MAX, "0", 0, 256, 0, 0, NULL,
     "Threads of the instance's pool, shared by its jobs; 0 = the CPUs this process may use."},
    {"device", SPARK_PARAM_ENUM, 0, "cpu", 0, 0, 0, 0, device_choices,
     "cpu, or cuda: the weights resident on the first NVIDIA GPU (weights f32 or bf16), "
     "sampling on the GPU, the decode steps of concurrent jobs batched (builds with SPARK_CUDA "
     "only; refused at activation when no GPU is usable)."},
    {"temperature", SPARK_PARAM_NUMBER, PER_JOB | MIN | MAX, "0.8", 0, 100, 0, 0, NULL,
     "Sampling temperature; 0 = greedy (the highest logit, top_k and top_p unused)."},
    {"top_k", SPARK_PARAM_INTEGER, PER_JOB | MIN | MAX, "50", 0, 1000000, 0, 0, NULL,
     "Keep the ids whose scaled logit is at least the k-th largest (ties kept); 0 = off."},
    {"top_p", SPARK_PARAM_NUMBER, PER_JOB | MIN | MAX, "0.95", 0, 1, 0, 0, NULL,
     "Then drop the ids whose ascending cumulative probability is at most 1 - top_p (the "
     "best id always stays); 1 = off. Order as transformers: temperature, top-k, top-p."},
    {"max_new_tokens", SPARK_PARAM_INTEGER, PER_JOB | MIN | MAX, "3000", 1, 32768, 0, 0, NULL,
     "Most ids generated per segment (3000, upstream's cap, is about 60 s of speech). A "
     "segment that reaches it keeps the codes it has (stop_reason max_new_tokens) and a "
     "warning is logged."},
    {"min_new_tokens", SPARK_PARAM_INTEGER, PER_JOB | MIN | MAX, "0", 0, 32768, 0, 0, NULL,
     "Stop ids are not allowed before this many ids were generated."},
    {"seed", SPARK_PARAM_INTEGER, PER_JOB | MIN, NULL, 0, 0, 0, 0, NULL,
     "Random seed: the same seed, prompt and parameters give the same ids. Segment i of a "
     "job uses seed + i. Unset: a fresh seed per job."},
    {"stop", SPARK_PARAM_STRING, PER_JOB, "im_end", 0, 0, 64, 0, NULL,
     "Comma-separated ids that end a segment (up to 3): im_end (<|im_end|>, upstream's eos), "
     "end_semantic (<|end_semantic_token|>), endoftext (<|endoftext|>), or a number. With "
     "constrain, a stop id must not be a code token."},
    {"constrain", SPARK_PARAM_ENUM, PER_JOB, "auto", 0, 0, 0, 0, constrain_choices,
     "Constrained decoding, a deliberate deviation from the reference distribution: only ids "
     "of the Spark-TTS output grammar are computed and sampled. control: acoustic section, "
     "exactly 32 globals, semantic tokens, end; clone: semantic tokens, end; auto: control "
     "when the prompt has <|task_controllable_tts|>, else clone; off: every id (upstream)."
     " Constrained runs never end before the first semantic token."},
    {"chunk_size", SPARK_PARAM_INTEGER, PER_JOB | MIN | MAX, "1", 1, 100000, 0, 0, NULL,
     "Semantic codes per streamed packet on port codes (50 = 1 s of speech); 1: each code as "
     "it comes, so the decoder downstream starts its next range the moment it can."},
    {"retries", SPARK_PARAM_INTEGER, PER_JOB | MIN | MAX, "2", 0, 100, 0, 0, NULL,
     "When a segment's output is unusable (no semantic token, or in control mode not exactly "
     "32 global tokens: possible only with constrain off), generate it again with the next "
     "seed up to this many times before the job fails."},
    {"same_voice", SPARK_PARAM_BOOLEAN, PER_JOB, "true", 0, 0, 0, 0, NULL,
     "Voice creation over several segments: the job's later segments are given the 32 global "
     "tokens its first segment generated (forced, not drawn), so one voice speaks the whole "
     "text. false: each segment draws its own voice, as separate upstream calls would."},
};

static const spark_result_desc results[] = {
    {"tokens_generated", SPARK_VALUE_INTEGER, 0,
     "Ids generated over all segments of the job (stop ids included, retries excluded)."},
    {"stop_reason", SPARK_VALUE_STRING, 0,
     "Why the last segment ended: end, max_new_tokens or context_full."},
    {"timings", SPARK_VALUE_JSON, 0,
     "{segments, prompt_tokens, prefill_seconds, generated_tokens, decode_seconds, "
     "decode_tokens_per_second, retries, per_segment: [{tokens, stop_reason}]}"},
};

static const char *const features[] = {"streaming", NULL};

static const spark_node_desc llm_node = {
    .struct_size = sizeof(spark_node_desc),
    .max_concurrent_jobs = 0,
    .id = "org.sparkhost.llm.qwen2",
    .name = "Spark-TTS LLM (Qwen2)",
    .version = "1.0.0",
    .description = "Generates the Spark-TTS audio tokens from a prompt with the Qwen2 LLM on "
                   "the CPU: f32, bf16 or int8 weights, sampling as transformers does, "
                   "optional grammar-constrained decoding, semantic codes streamed in chunks.",
    .features = features,
    .port_count = sizeof ports / sizeof ports[0],
    .param_count = sizeof params / sizeof params[0],
    .ports = ports,
    .params = params,
    .result_count = sizeof results / sizeof results[0],
    .results = results,
    .ops = &llm_node_ops,
};

static const spark_node_desc *const nodes[] = {&llm_node};

static const spark_node_factory factory = {
    .struct_size = sizeof(spark_node_factory),
    .node_count = 1,
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
    .name = "llm-qwen2",
    .version = "1.0.0",
    .get_factory = get_factory,
};
