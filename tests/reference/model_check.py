#!/usr/bin/env python3
"""Round trip of a model directory through the reference libraries (issue 3, acceptance 1a).

usage: model_check.py MODEL_DIR INFO_JSON

Loads every file of a model directory (as `sparkhost model synth` writes it) with torch,
safetensors, tokenizers, PyYAML, json and transformers, and checks it against what
`sparkhost model info --json` reported (INFO_JSON): the same tensor names, dtypes, shapes
and CRC-32 of the data, the same hyperparameters, the same token ids. Then checks what the
synthetic weights promise (weight_g is the norm of weight_v, batch-norm variances are
positive, embeddings are tied) and that the Hugging Face classes load and run the model.
Prints one line per failure and exits 1 on any.
"""
import json
import math
import os
import sys
import zlib
import zipfile

import numpy as np
import safetensors
import tokenizers
import torch
import yaml

failures = []
checks = 0


def check(cond, message):
    global checks
    checks += 1
    if not cond:
        failures.append(message)
    return cond


DTYPES = {"F32": (np.float32, torch.float32), "I64": (np.int64, torch.int64),
          "F16": (np.float16, torch.float16), "BF16": (None, torch.bfloat16)}


def crc32_of(array):
    return zlib.crc32(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes())


def safetensors_header_names(path):
    """Tensor names in header order (safe_open lists them sorted)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    return [name for name in header if name != "__metadata__"]


def load_component(model_dir, component):
    """name -> numpy array, in file order."""
    path = os.path.join(model_dir, component["path"])
    tensors = {}
    if component["format"] == "safetensors":
        with safetensors.safe_open(path, framework="numpy") as f:
            for name in safetensors_header_names(path):
                tensors[name] = f.get_tensor(name)
            check(sorted(f.keys()) == sorted(tensors), f"{path}: header and keys() disagree")
            metadata = f.metadata() or {}
        if component["name"] == "llm":
            check(metadata.get("format") == "pt", f"{path}: metadata {metadata}, want format pt")
    else:
        check(zipfile.is_zipfile(path), f"{path}: not a zip (torch.save) checkpoint")
        state = torch.load(path, map_location="cpu", weights_only=True)
        check(isinstance(state, dict), f"{path}: not a state dict")
        for name, tensor in state.items():
            check(isinstance(tensor, torch.Tensor), f"{path}: {name} is not a tensor")
            tensors[name] = tensor.numpy()
    return tensors


def check_component(model_dir, component):
    label = component["path"]
    loaded = load_component(model_dir, component)
    reported = component["tensors"]
    check(component["tensor_count"] == len(loaded),
          f"{label}: info says {component['tensor_count']} tensors, the file has {len(loaded)}")
    check([t["name"] for t in reported] == list(loaded),
          f"{label}: tensor names or order differ from info")
    for t in reported:
        array = loaded.get(t["name"])
        if not check(array is not None, f"{label}: {t['name']} reported but not loaded"):
            continue
        want_np = DTYPES[t["dtype"]][0]
        check(array.dtype == want_np, f"{label}: {t['name']} is {array.dtype}, info {t['dtype']}")
        check(list(array.shape) == t["shape"],
              f"{label}: {t['name']} has shape {list(array.shape)}, info {t['shape']}")
        check(crc32_of(array) == t["crc32"], f"{label}: {t['name']} data differ from info's CRC")
        check(t["status"] == "ok", f"{label}: {t['name']} status {t['status']}")
        if array.dtype == np.float32:
            check(bool(np.isfinite(array).all()), f"{label}: {t['name']} has non-finite values")
    return loaded


def check_synthetic_values(loaded, info):
    """What synth promises about the values, for activations in a realistic range."""
    bicodec, llm, w2v = loaded["bicodec"], loaded["llm"], loaded["wav2vec2"]
    for weights in (bicodec, w2v):
        for name, g in weights.items():
            if not name.endswith("weight_g"):
                continue
            v = weights[name[:-1] + "v"].astype(np.float64)
            keep = [d for d in range(3) if g.shape[d] != 1] or [0]
            axes = tuple(d for d in range(3) if d not in keep)
            norm = np.sqrt((v * v).sum(axis=axes, keepdims=True))
            check(np.allclose(g, norm, rtol=1e-5), f"{name} is not the norm of its weight_v")
    for name, array in bicodec.items():
        if name.endswith("running_var"):
            check(bool((array > 0).all()), f"{name} has a non-positive variance")
        if name.endswith("num_batches_tracked"):
            check(array.shape == () and array.dtype == np.int64 and array > 0,
                  f"{name} is not a positive I64 scalar")
    check("lm_head.weight" not in llm, "the LLM has lm_head.weight (embeddings are tied)")
    embed = llm["model.embed_tokens.weight"]
    cfg = info["config"]["llm"]
    check(list(embed.shape) == [cfg["vocab_size"], cfg["hidden_size"]], "embedding shape")
    # Linear weights ~ N(0, 1/fan_in): outputs keep the scale of their inputs.
    q = llm["model.layers.0.self_attn.q_proj.weight"]
    check(abs(q.std() * math.sqrt(q.shape[1]) - 1) < 0.1, f"q_proj std {q.std()}")
    codebook = bicodec["quantizer.codebook.weight"]
    check(len(np.unique(codebook.round(3), axis=0)) == codebook.shape[0], "codebook rows repeat")


def compare_config(section, got, want, where):
    for key, value in got.items():
        if isinstance(value, dict):
            compare_config(f"{section}.{key}", value, want.get(key, {}), where)
            continue
        check(key in want and want[key] == value,
              f"{where}: {section}.{key} is {want.get(key)!r}, info says {value!r}")


def check_configs(model_dir, info):
    def load(name):
        with open(os.path.join(model_dir, name), encoding="utf-8") as f:
            return yaml.safe_load(f) if name.endswith(".yaml") else json.load(f)

    cfg = info["config"]
    compare_config("audio", cfg["audio"], load("config.yaml"), "config.yaml")
    compare_config("llm", cfg["llm"], load("LLM/config.json"), "LLM/config.json")
    compare_config("audio_tokenizer", cfg["bicodec"], load("BiCodec/config.yaml")["audio_tokenizer"],
                   "BiCodec/config.yaml")
    w2v = dict(load("wav2vec2-large-xlsr-53/config.json"))
    w2v.update(load("wav2vec2-large-xlsr-53/preprocessor_config.json"))
    compare_config("wav2vec2", cfg["wav2vec2"], w2v, "wav2vec2-large-xlsr-53")


def check_tokenizer(model_dir, info):
    llm_dir = os.path.join(model_dir, "LLM")
    tok = tokenizers.Tokenizer.from_file(os.path.join(llm_dir, "tokenizer.json"))
    report = info["tokenizer"]
    check(tok.get_vocab_size(with_added_tokens=False) == report["regular"], "regular token count")
    check(tok.get_vocab_size(with_added_tokens=True) == report["regular"] + report["added"],
          "total token count")
    with open(os.path.join(llm_dir, "added_tokens.json"), encoding="utf-8") as f:
        added = json.load(f)
    check(len(added) == report["added"], "added_tokens.json size")
    check(all(tok.token_to_id(text) == i for text, i in added.items()),
          "added_tokens.json ids differ from tokenizer.json")
    first = {f["name"]: f["first_id"] for f in report["families"]}
    check(tok.token_to_id("<|bicodec_global_0|>") == first["bicodec_global"], "global ids")
    check(tok.token_to_id("<|bicodec_semantic_0|>") == first["bicodec_semantic"], "semantic ids")
    check(tok.token_to_id("<|im_end|>") == report["im_end"] == info["config"]["llm"]["eos_token_id"],
          "<|im_end|> is not the eos id")

    # Text round-trips, and merges are used (fewer tokens than bytes).
    sample = "Hello, world! It's 16000 Hz. Grüße aus Köln — привет, мир. 你好，世界。こんにちは"
    ids = tok.encode(sample).ids
    check(tok.decode(ids) == sample, f"decode(encode(sample)) = {tok.decode(ids)!r}")
    check(len(ids) < len(sample.encode("utf-8")) * 0.8, f"{len(ids)} tokens: merges unused?")
    # A Spark prompt is fixed ids around the BPE of the text (spec 3.2).
    text = "The weather was calm."
    prompt = ("<|task_tts|><|start_content|>" + text + "<|end_content|><|start_global_token|>"
              "<|bicodec_global_5|><|end_global_token|>")
    got = tok.encode(prompt).ids
    ids_of = tok.token_to_id
    want = ([ids_of("<|task_tts|>"), ids_of("<|start_content|>")] + tok.encode(text).ids +
            [ids_of("<|end_content|>"), ids_of("<|start_global_token|>"),
             first["bicodec_global"] + 5, ids_of("<|end_global_token|>")])
    check(got == want, f"prompt ids {got} != {want}")
    check(tok.decode(got, skip_special_tokens=True) == prompt,
          "Spark tokens must survive skip_special_tokens (they are not special)")

    # The slow-tokenizer files agree with tokenizer.json.
    with open(os.path.join(llm_dir, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    model = json.loads(tok.to_str())["model"]
    check(vocab == model["vocab"], "vocab.json differs from tokenizer.json")
    with open(os.path.join(llm_dir, "merges.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    check(lines[0] == "#version: 0.2" and lines[1:-1] == merges, "merges.txt differs")
    with open(os.path.join(llm_dir, "tokenizer_config.json"), encoding="utf-8") as f:
        tcfg = json.load(f)
    decoder = tcfg["added_tokens_decoder"]
    check(len(decoder) == report["added"], "tokenizer_config.json added_tokens_decoder size")
    check(all(decoder[str(i)]["content"] == text for text, i in added.items()),
          "tokenizer_config.json ids differ")
    check(tcfg["eos_token"] == "<|im_end|>", "tokenizer_config.json eos")
    return tok


def check_transformers(model_dir, info, tok):
    """The Hugging Face classes load every file without a missing or unexpected key."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    llm_dir = os.path.join(model_dir, "LLM")
    model, loading = transformers.Qwen2ForCausalLM.from_pretrained(
        llm_dir, output_loading_info=True, dtype=torch.float32)
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        check(not loading.get(kind), f"Qwen2ForCausalLM {kind}: {loading.get(kind)}")
    check(model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(),
          "Qwen2ForCausalLM does not tie lm_head to the embedding")
    ids = torch.tensor([tok.encode("<|task_tts|><|start_content|>hello<|end_content|>").ids])
    with torch.no_grad():
        logits = model(ids).logits
    cfg = info["config"]["llm"]
    check(list(logits.shape) == [1, ids.shape[1], cfg["vocab_size"]], "LLM logits shape")
    check(bool(torch.isfinite(logits).all()) and 0.1 < float(logits.std()) < 100,
          f"LLM logits out of range (std {float(logits.std())})")

    fast = transformers.AutoTokenizer.from_pretrained(llm_dir)
    text = "Hello there, 你好。"
    check(fast(text)["input_ids"] == tok.encode(text).ids, "AutoTokenizer encodes differently")

    w2v_dir = os.path.join(model_dir, "wav2vec2-large-xlsr-53")
    w2v, loading = transformers.Wav2Vec2ForPreTraining.from_pretrained(
        w2v_dir, output_loading_info=True, dtype=torch.float32)
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        check(not loading.get(kind), f"Wav2Vec2ForPreTraining {kind}: {loading.get(kind)}")
    extractor = transformers.Wav2Vec2FeatureExtractor.from_pretrained(w2v_dir)
    wave = np.sin(np.arange(16000) * 0.05).astype(np.float32)
    inputs = extractor(wave, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        out = w2v.wav2vec2(inputs.input_values, output_hidden_states=True)
    wcfg = info["config"]["wav2vec2"]
    hidden = out.hidden_states
    check(len(hidden) == wcfg["num_hidden_layers"] + 1, "wav2vec2 hidden state count")
    check(list(hidden[16].shape) == [1, 49, wcfg["hidden_size"]],
          f"wav2vec2 layer 16 shape {list(hidden[16].shape)} (1 s gives 49 frames)")
    check(all(bool(torch.isfinite(h).all()) for h in hidden), "wav2vec2 non-finite activations")
    mix = (hidden[11] + hidden[14] + hidden[16]) / 3
    check(0.05 < float(mix.std()) < 50, f"wav2vec2 mix std {float(mix.std())}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    model_dir, info_path = sys.argv[1], sys.argv[2]
    with open(info_path, encoding="utf-8") as f:
        info = json.load(f)
    check(info["ok"] and not info["problems"], f"model info reports problems: {info['problems']}")
    loaded = {}
    for component in info["components"]:
        loaded[component["name"]] = check_component(model_dir, component)
    check(set(loaded) == {"llm", "bicodec", "wav2vec2"}, f"components {sorted(loaded)}")
    check_synthetic_values(loaded, info)
    check_configs(model_dir, info)
    tok = check_tokenizer(model_dir, info)
    check_transformers(model_dir, info, tok)
    for message in failures:
        print(f"FAIL: {message}")
    print(f"model_check: {checks - len(failures)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
