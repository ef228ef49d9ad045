"""Runs every case of the end-to-end reference through sparkhost and compares.

    compare_e2e.py DATA_DIR PIPELINE_DIR      (run by e2e_reference.sh, in a scratch folder)

For each case of DATA_DIR/manifest.json: `sparkhost run` of PIPELINE_DIR/control.yaml or
clone.yaml with the case's inputs; its prompt ids and generated ids (the token recorders'
results) must equal the upstream ones, and the float WAV it writes must have the upstream
length and lie within the bound below of upstream's waveform (its float32 output and its
float64 decode of the same codes) at every sample.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import soundfile
from safetensors.numpy import load_file

# The waveform bound, relative to the largest value before the vocoder's final tanh. The
# random tiny model drives the WaveGenerator to +-100..500 before that tanh (the release's
# stays within a few units), so the waveform is as ill-conditioned as
# tests/reference/bicodec_decode_reference.py describes: near a zero crossing a sample moves
# as much as the pre-tanh sum does, and float32 sums of that size round at ~1e-5 of it. Upstream
# in float32 itself is up to 1.1e-2 (4e-5 of that range) off its own float64 decode of the same
# codes. So the waveform must lie within 1e-4 of the pre-tanh peak (the bound the vocoder's
# reference test uses) of upstream's float64 decode and of upstream's float32 output; the
# errors measured are printed. The ids (prompt and generated) must be identical.
WAVE_RELATIVE_TOLERANCE = 1e-4


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def run_case(sparkhost, pipelines, data, name, case):
    inputs = ["--input", f"max_new_tokens={case['max_new_tokens']}"]
    if case["mode"] == "control":
        pipeline = os.path.join(pipelines, "control.yaml")
        for key in ("gender", "pitch", "speed"):
            inputs += ["--input", f"{key}={case[key]}"]
    else:
        pipeline = os.path.join(pipelines, "clone.yaml")
        # The pipelines' storage root is ./out: the clip is read from a copy there.
        os.makedirs(os.path.join("out", "clips"), exist_ok=True)
        shutil.copyfile(os.path.join(data, case["clip"]), os.path.join("out", case["clip"]))
        inputs += ["--input", f"mode={case['mode']}",
                   "--input", f"prompt_speech_url={case['clip']}"]
        if case["prompt_text"] is not None:
            inputs += ["--input", f"prompt_text={case['prompt_text']}"]
    cmd = [sparkhost, "run", pipeline, "--text", case["text"], *inputs, "-o", name + ".wav",
           "--json"]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        return None, f"sparkhost run exited {run.returncode}: {run.stderr.strip()}"
    return json.loads(run.stdout), None


def recorded_ids(result, key):
    packets = result[key]
    if len(packets) != 1 or packets[0][0] != 0:
        raise ValueError(f"{key}: expected one segment (seq 0), got seqs "
                         f"{[p[0] for p in packets]}")
    return packets[0][1]


def main():
    data, pipelines = sys.argv[1], sys.argv[2]
    sparkhost = os.environ["SPARKHOST"]
    model = os.environ["SPARK_MODEL_DIR"]
    manifest = json.load(open(os.path.join(data, "manifest.json"), encoding="utf-8"))
    failures = []
    for part, want in manifest["model_sha256"].items():
        got = sha256(os.path.join(model, part))
        if got != want:
            failures.append(f"model {part}: SHA-256 {got}, the dumps were made with {want} "
                            f"(`{manifest['synth']}` changed: regenerate the dumps)")
    if failures:
        print("\n".join("FAIL " + f for f in failures))
        return 1
    modes = {}
    worst = {"float64": 0.0, "float32": 0.0, "upstream": 0.0}
    for name, case in sorted(manifest["cases"].items()):
        ref = load_file(os.path.join(data, name + ".safetensors"))
        result, error = run_case(sparkhost, pipelines, data, name, case)
        if error:
            failures.append(f"{name}: {error}")
            continue
        try:
            prompt = recorded_ids(result, "prompt_ids")
            generated = recorded_ids(result, "generated_ids")
        except ValueError as e:
            failures.append(f"{name}: {e}")
            continue
        want_prompt = ref["prompt_ids"].tolist()
        want_generated = ref["generated_ids"].tolist()
        if prompt != want_prompt:
            i = first_difference(prompt, want_prompt)
            failures.append(f"{name}: prompt ids differ at {i}: sparkhost {prompt[i:i + 8]}, "
                            f"upstream {want_prompt[i:i + 8]} ({len(prompt)} vs "
                            f"{len(want_prompt)} ids)")
        if generated != want_generated:
            i = first_difference(generated, want_generated)
            failures.append(f"{name}: generated ids differ at {i}: sparkhost "
                            f"{generated[i:i + 8]}, upstream {want_generated[i:i + 8]} "
                            f"({len(generated)} vs {len(want_generated)} ids)")
            continue
        wave, rate = soundfile.read(os.path.join("out", name + ".wav"), dtype="float32")
        want = ref["waveform"]
        if rate != 16000 or wave.ndim != 1 or wave.size != want.size:
            failures.append(f"{name}: WAV of {wave.shape} at {rate} Hz, upstream "
                            f"{want.size} samples at 16000 Hz")
            continue
        bound = WAVE_RELATIVE_TOLERANCE * float(np.max(np.abs(ref["pre_tanh_f64"])))
        line = [f"{name}: {len(prompt)} prompt ids, {len(generated)} generated ids equal; "
                f"{want.size} samples, bound {bound:.3g}"]
        for label, exact in (("float64", ref["waveform_f64"]), ("float32", want)):
            err = np.abs(wave.astype(np.float64) - exact)
            i = int(np.argmax(err))
            worst[label] = max(worst[label], float(err[i]))
            line.append(f"max abs error vs upstream {label} {err[i]:.3g} (sample {i})")
            if err[i] > bound:
                failures.append(f"{name}: waveform sample {i} is {wave[i]:.7f}, upstream "
                                f"{label} {exact[i]:.7f} (error {err[i]:.3g} > {bound:.3g})")
        upstream = float(np.max(np.abs(want - ref["waveform_f64"])))
        worst["upstream"] = max(worst["upstream"], upstream)
        line.append(f"upstream float32 vs float64 {upstream:.3g}")
        print("; ".join(line))
        modes[case["mode"]] = modes.get(case["mode"], 0) + 1
    for mode in ("control", "clone", "clone_transcript"):
        if not any(c["mode"] == mode for c in manifest["cases"].values()):
            failures.append(f"the reference has no {mode} case")
    for f in failures:
        print("FAIL", f)
    print(f"e2e_reference: {len(manifest['cases'])} cases, {len(failures)} failures; "
          f"compared to the waveform: {modes}; worst waveform error vs upstream float64 {worst['float64']:.3g}, "
          f"vs upstream float32 {worst['float32']:.3g} (upstream float32 vs float64 "
          f"{worst['upstream']:.3g})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
