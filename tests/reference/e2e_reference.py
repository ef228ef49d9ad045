"""End-to-end reference dumps: the upstream SparkTTS class on the tiny synthetic model.

    e2e_reference.py --sparkhost BIN [--sparktts-src DIR] [--out DIR]

Runs `cli/SparkTTS.py` of the upstream checkout (SparkAudio/Spark-TTS, not on PyPI; given by
--sparktts-src or $SPARKTTS_SRC) exactly as its `inference` method does (BiCodecTokenizer,
transformers AutoTokenizer and AutoModelForCausalLM) on the `tiny` synthetic model, seed
SYNTH_SEED, which BIN makes in a temporary directory (`sparkhost model synth --preset tiny
--seed 1`), for the three modes: voice creation (gender, pitch, speed), cloning from a
reference clip without its transcript, and cloning with it. OUT (default
tests/reference/data/e2e) receives:
  clips/NAME.wav          the reference clips (16 kHz mono float WAV, deterministic signals)
  CASE.safetensors        prompt_ids [P] i64, generated_ids [G] i64 (the new ids only, stop id
                          included when reached), waveform [320 S] f32 (what inference
                          returns), pre_tanh [320 S] f32 (the WaveGenerator output before its
                          final tanh), waveform_f64 and pre_tanh_f64 [320 S] f64 (the same
                          codes decoded by a float64 copy of the upstream BiCodec: the exact
                          values both float32 programs approximate; the random model drives
                          the tanh to +-500, where float32 is ~1e-2 off them, see
                          tests/e2e/compare_e2e.py), and for the cloning cases
                          ref_global_codes [32] i64 and ref_semantic_codes [T] i64 (what
                          BiCodecTokenizer.tokenize gave)
  manifest.json           every case's inputs and max_new_tokens, the model's SHA-256s,
                          library versions, and what was patched

Regenerate everything (byte for byte) with, from the repository root:

    .venv/bin/python tests/reference/e2e_reference.py --sparkhost build/bin/sparkhost \\
        --sparktts-src /path/to/Spark-TTS

What is changed in the upstream run, and why (nothing else is):
  1. model.generate is called with do_sample=False (greedy: the highest logit each step;
     temperature, top_k and top_p unset) and max_new_tokens=CASE's instead of 3000 with
     sampling: sampling draws from torch's RNG, which no other program reproduces, and the
     random tiny model rarely emits <|im_end|>, so 3000 ids would be slow and meaningless.
  2. AutoModelForCausalLM.from_pretrained gets dtype=torch.float32: transformers 5 loads the
     weights in the config's torch_dtype (bfloat16) by default, where transformers 4.x, which
     upstream was written for, loaded float32; float32 is the reference numerics (spec 7).
  3. `soxr` (no wheel in the pinned environment) is a stand-in that refuses to be called: the
     clips are 16 kHz already, so upstream never resamples them.
  4. The device is the CPU, one torch thread.
Observed only (results unchanged): a forward hook keeps the input of the WaveGenerator's
final tanh, and BiCodec.detokenize is wrapped to keep the codes it decodes.

Voice creation needs exactly 32 generated global codes (upstream reshapes them to the FSQ's
32 x 6 digits and fails otherwise) and at least one semantic code. The random model draws
global ids at random, so each voice-creation case's max_new_tokens is the smallest that
ends the greedy output with exactly 32 globals and at least MIN_SEMANTIC semantic ids (found
from one longer greedy run, whose prefix the shorter one is). Texts and labels are tried in
a fixed order until CONTROL_WANTED qualify within SEARCH_TOKENS (3 of 40 do for seed 1). Cloning uses the reference's globals and only needs a
semantic id, so those cases use CLONE_TOKENS ids, or up to the first semantic id if later.
"""
import argparse
import copy
import hashlib
import itertools
import json
import os
import struct
import subprocess
import sys
import tempfile
import types

import numpy as np
import soundfile
import torch
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "data", "e2e")
SYNTH_SEED = 1
SEARCH_TOKENS = 160
MIN_SEMANTIC = 1
CLONE_TOKENS = 48  # extended to the first semantic id when these ids have none
RATE = 16000

# Voice creation: the texts and labels tried, in this order (texts first, then labels), until
# CONTROL_WANTED of them qualify (see above); cases are named control_TEXT_GENDER_PITCH_SPEED.
CONTROL_TEXTS = {
    "hello": "Hello world.",
    "fox": "The quick brown fox jumps over the lazy dog.",
    "morning": "Good morning! Is it raining today?",
    "numbers": "1, 2, 3, go",
    "unicode": "Grüße aus Köln, naïve café.",
    "cjk": "今天天气很好。",
    "long": "Spark speaks every sentence of a long text in one voice, from the first word to "
            "the last.",
    "digits": "Call 555 0199 at 10:30.",
}
CONTROL_LABELS = [("female", "moderate", "moderate"), ("male", "low", "high"),
                  ("female", "very_high", "very_low"), ("male", "very_low", "very_high"),
                  ("female", "high", "low")]
CONTROL_WANTED = 3
# name -> (text, clip, transcript or None)
CLONE_CASES = {
    "clone_hello": ("Hello world.", "voice_a", None),
    "clone_long_text": ("Spark speaks every sentence in the voice of the reference clip.",
                        "voice_b", None),
    "clone_transcript_short": ("Nice to meet you.", "voice_a", "This is my voice."),
    "clone_transcript_long_ref": ("The weather is fine.", "voice_c",
                                  "I read this sentence for the reference recording."),
}
# clip -> (seconds, f0 Hz, noise seed, peak)
CLIPS = {
    "voice_a": (2.5, 140.0, 3, 0.5),   # shorter than the 6 s speaker clip: tiled by upstream
    "voice_b": (7.0, 210.0, 4, 0.3),   # longer: cut to 6 s for the globals, whole for semantics
    "voice_c": (6.5, 180.0, 4, 0.3),
}


def voiced(seconds, f0, seed, peak):
    """Speech-like test signal: a gliding harmonic tone with syllable-rate amplitude and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * RATE))) / RATE
    pitch = f0 * (1.0 + 0.15 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3.1 * t) ** 2
    x = x * envelope + 0.05 * rng.standard_normal(t.size)
    return (x / np.max(np.abs(x)) * peak).astype(np.float32)


def write_float_wav(path, samples):
    """A 16 kHz mono IEEE-float WAV with no PEAK chunk (libsndfile's holds a timestamp, which
    would make every regeneration differ)."""
    data = np.asarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, RATE, RATE * 4, 4, 32)
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE")
        f.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt)
        f.write(b"data" + struct.pack("<I", len(data)) + data)


def install_soxr_refusal():
    module = types.ModuleType("soxr")

    def resample(*args, **kwargs):
        raise RuntimeError("e2e_reference: the clips are 16 kHz; nothing should be resampled")

    module.resample = resample
    sys.modules["soxr"] = module


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_sparktts(src, model_dir):
    if not src or not os.path.isdir(os.path.join(src, "sparktts")):
        sys.exit("e2e_reference: give the Spark-TTS checkout with --sparktts-src or "
                 "SPARKTTS_SRC (a directory holding sparktts/ and cli/)")
    sys.path.insert(0, os.path.abspath(src))
    # transformers probes for soxr when its audio helpers load: load them before the stand-in.
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model  # noqa: F401
    install_soxr_refusal()
    import cli.SparkTTS as upstream

    base = upstream.AutoModelForCausalLM
    upstream.AutoModelForCausalLM = type("AutoModelForCausalLM", (), {
        "from_pretrained": staticmethod(
            lambda path, **kw: base.from_pretrained(path, **{"dtype": torch.float32, **kw}))})
    tts = upstream.SparkTTS(model_dir, device=torch.device("cpu"))
    upstream.AutoModelForCausalLM = base
    assert tts.model.dtype == torch.float32
    return tts


class GreedyGenerate:
    """Stands in for tts.model.generate: greedy with a set max_new_tokens; keeps the ids."""

    def __init__(self, model):
        self.model = model
        self.generate = model.generate
        self.max_new_tokens = None
        self.prompt_ids = self.generated_ids = None

    def __call__(self, **kwargs):
        for key in ("do_sample", "temperature", "top_k", "top_p", "max_new_tokens"):
            kwargs.pop(key, None)
        out = self.generate(**kwargs, do_sample=False, temperature=None, top_k=None,
                            top_p=None, max_new_tokens=self.max_new_tokens,
                            return_dict_in_generate=True, output_logits=True)
        # How close each greedy choice was (best minus second-best logit): a small margin
        # is where another float32 summation order could pick another id.
        top2 = torch.topk(torch.stack([step[0] for step in out.logits]), 2, dim=-1).values
        self.min_margin = float((top2[:, 0] - top2[:, 1]).min())
        out = out.sequences
        prompt = kwargs["input_ids"][0]
        self.prompt_ids = prompt.numpy().astype(np.int64)
        self.generated_ids = out[0, prompt.shape[0]:].numpy().astype(np.int64)
        return out


class PreTanh:
    """Keeps the input of the WaveGenerator's final tanh (the waveform before it)."""

    def __init__(self, decoder):
        last = decoder.model[-1]
        assert isinstance(last, torch.nn.Tanh)
        self.value = None
        last.register_forward_hook(self.hook)

    def hook(self, module, inputs, output):
        self.value = inputs[0][0, 0].detach().numpy().copy()


def id_ranges(llm_dir):
    added = json.load(open(os.path.join(llm_dir, "added_tokens.json")))
    glob = [v for k, v in added.items() if k.startswith("<|bicodec_global_")]
    sem = [v for k, v in added.items() if k.startswith("<|bicodec_semantic_")]
    return (min(glob), max(glob)), (min(sem), max(sem)), added["<|im_end|>"]


def control_length(ids, glob, sem):
    """The smallest prefix length with exactly 32 global ids and MIN_SEMANTIC semantic ids
    that ends on a semantic id (so that one id less would have fewer), or None."""
    n_glob = n_sem = 0
    for i, t in enumerate(ids):
        n_glob += glob[0] <= t <= glob[1]
        is_sem = sem[0] <= t <= sem[1]
        n_sem += is_sem
        if n_glob > 32:
            return None
        if n_glob == 32 and n_sem >= MIN_SEMANTIC and is_sem:
            return i + 1
    return None


def longest_greedy(tts, greedy, **inputs):
    """The ids of one SEARCH_TOKENS-long greedy run; the shorter runs are its prefixes.
    Upstream may fail to decode it (too many globals, no semantic id): that is ignored."""
    greedy.max_new_tokens = SEARCH_TOKENS
    try:
        tts.inference(**inputs)
    except RuntimeError:
        pass
    return greedy.generated_ids.tolist()


def clone_length(ids, sem):
    first = next((i for i, t in enumerate(ids) if sem[0] <= t <= sem[1]), None)
    return None if first is None else max(CLONE_TOKENS, first + 1)


class Float64Decode:
    """Keeps the codes BiCodec.detokenize is called with and decodes them again with a
    float64 copy of the model: the exact values both float32 programs approximate."""

    def __init__(self, bicodec):
        self.detokenize = bicodec.detokenize
        self.double = copy.deepcopy(bicodec).double()
        self.pre_tanh = PreTanh(self.double.decoder)
        self.codes = None
        bicodec.detokenize = self

    def __call__(self, semantic_tokens, global_tokens):
        self.codes = (semantic_tokens, global_tokens)
        return self.detokenize(semantic_tokens, global_tokens)

    def decode(self):
        with torch.no_grad():
            wav = self.double.detokenize(*self.codes)
        return wav.reshape(-1).numpy(), self.pre_tanh.value


def run_case(tts, greedy, pre_tanh, float64, max_new_tokens, **inputs):
    greedy.max_new_tokens = max_new_tokens
    pre_tanh.value = None
    wav = tts.inference(**inputs)
    wav64, pre64 = float64.decode()
    return {"prompt_ids": greedy.prompt_ids, "generated_ids": greedy.generated_ids,
            "waveform": np.asarray(wav, dtype=np.float32).reshape(-1),
            "pre_tanh": pre_tanh.value,
            "waveform_f64": wav64.astype(np.float64), "pre_tanh_f64": pre64,
            "min_greedy_margin": greedy.min_margin}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sparkhost", required=True, help="the built sparkhost program")
    parser.add_argument("--sparktts-src", default=os.environ.get("SPARKTTS_SRC"),
                        help="Spark-TTS checkout (default: $SPARKTTS_SRC)")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    os.makedirs(os.path.join(args.out, "clips"), exist_ok=True)
    for name in os.listdir(args.out):
        if name.endswith(".safetensors"):
            os.remove(os.path.join(args.out, name))

    with tempfile.TemporaryDirectory() as work:
        model_dir = os.path.join(work, "tiny")
        subprocess.run([args.sparkhost, "model", "synth", "--preset", "tiny", "--seed",
                        str(SYNTH_SEED), model_dir], check=True, stdout=subprocess.DEVNULL)
        tts = load_sparktts(args.sparktts_src, model_dir)
        greedy = GreedyGenerate(tts.model)
        tts.model.generate = greedy
        pre_tanh = PreTanh(tts.audio_tokenizer.model.decoder)
        float64 = Float64Decode(tts.audio_tokenizer.model)
        glob, sem, im_end = id_ranges(os.path.join(model_dir, "LLM"))
        import transformers
        manifest = {
            "source": f"upstream cli/SparkTTS.py SparkTTS.inference, transformers "
                      f"{transformers.__version__}, torch {torch.__version__}, CPU float32",
            "synth": f"sparkhost model synth --preset tiny --seed {SYNTH_SEED}",
            "model_sha256": {part: file_sha256(os.path.join(model_dir, part))
                             for part in ("LLM/model.safetensors", "BiCodec/model.safetensors",
                                          "wav2vec2-large-xlsr-53/pytorch_model.bin")},
            "patched": ["generate: do_sample=False, max_new_tokens per case (greedy)",
                        "AutoModelForCausalLM.from_pretrained: dtype=torch.float32",
                        "soxr: a stand-in that refuses to be called (16 kHz clips)",
                        "device: cpu, torch.set_num_threads(1)",
                        "observed only: the final tanh's input, BiCodec.detokenize's codes"],
            "id_ranges": {"global": list(glob), "semantic": list(sem), "im_end": im_end},
            "clips": {}, "cases": {}, "left_out": {},
        }
        for clip, (seconds, f0, seed, peak) in CLIPS.items():
            path = os.path.join(args.out, "clips", clip + ".wav")
            write_float_wav(path, voiced(seconds, f0, seed, peak))
            assert np.array_equal(soundfile.read(path, dtype="float32")[0],
                                  voiced(seconds, f0, seed, peak))
            os.chmod(path, 0o644)
            manifest["clips"][clip] = {"seconds": seconds, "f0": f0, "seed": seed,
                                       "peak": peak}

        tried = 0
        for (key, text), (gender, pitch, speed) in itertools.product(CONTROL_TEXTS.items(),
                                                                     CONTROL_LABELS):
            if sum(c["mode"] == "control" for c in manifest["cases"].values()) == CONTROL_WANTED:
                break
            tried += 1
            control = dict(text=text, gender=gender, pitch=pitch, speed=speed)
            length = control_length(longest_greedy(tts, greedy, **control), glob, sem)
            if length is None:
                continue
            name = f"control_{key}_{gender}_{pitch}_{speed}"
            case = run_case(tts, greedy, pre_tanh, float64, length, **control)
            manifest["cases"][name] = {"mode": "control", **control, "max_new_tokens": length}
            save_case(args.out, name, case, manifest["cases"][name])
        manifest["control_tried"] = tried

        tokenize = tts.audio_tokenizer.tokenize
        for name, (text, clip, transcript) in CLONE_CASES.items():
            clip_path = os.path.join(args.out, "clips", clip + ".wav")
            ref_global, ref_semantic = tokenize(clip_path)
            clone = dict(text=text, prompt_speech_path=clip_path, prompt_text=transcript)
            length = clone_length(longest_greedy(tts, greedy, **clone), sem)
            if length is None:
                manifest["left_out"][name] = f"no semantic id in {SEARCH_TOKENS} greedy ids"
                print(f"{name}: left out ({manifest['left_out'][name]})")
                continue
            case = run_case(tts, greedy, pre_tanh, float64, length, **clone)
            case["ref_global_codes"] = ref_global.reshape(-1).numpy().astype(np.int64)
            case["ref_semantic_codes"] = ref_semantic.reshape(-1).numpy().astype(np.int64)
            manifest["cases"][name] = {
                "mode": "clone_transcript" if transcript is not None else "clone",
                "text": text, "clip": f"clips/{clip}.wav", "prompt_text": transcript,
                "max_new_tokens": length}
            save_case(args.out, name, case, manifest["cases"][name])

    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def save_case(out, name, case, info):
    info["min_greedy_margin"] = float(np.float32(case.pop("min_greedy_margin")))
    path = os.path.join(out, name + ".safetensors")
    save_file({k: np.ascontiguousarray(v) for k, v in case.items()}, path)
    os.chmod(path, 0o644)
    pre = case["pre_tanh"]
    info.update({"prompt_tokens": int(case["prompt_ids"].size),
                 "generated_tokens": int(case["generated_ids"].size),
                 "samples": int(case["waveform"].size),
                 "pre_tanh_range": [float(pre.min()), float(pre.max())]})
    print(f"{name}: prompt {info['prompt_tokens']} ids, generated {info['generated_tokens']}, "
          f"{info['samples']} samples, pre-tanh range {info['pre_tanh_range']}")


if __name__ == "__main__":
    main()
