"""`sparkhost codec decode` end to end on the tiny model: the WAV it writes against the upstream
reference waveform (tests/reference/data/bicodec_decode), and its refusals: each bad input
exits 3 with a message naming the file and the rule, and leaves no output file behind.

    cli_decode_test.py   (SPARKHOST: the sparkhost binary; SPARK_SOURCE_DIR: the sources)
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import soundfile
from safetensors.numpy import load_file

SPARKHOST = os.environ["SPARKHOST"]
DATA = os.path.join(os.environ["SPARK_SOURCE_DIR"], "tests", "reference", "data", "bicodec_decode")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def decode(model, codes, out, *extra):
    return subprocess.run([SPARKHOST, "codec", "decode", "--model", model, "--codes", codes,
                           "-o", out, *extra], capture_output=True, text=True)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model")
        subprocess.run([SPARKHOST, "model", "synth", "--preset", "tiny", model], check=True,
                       capture_output=True)
        ref = load_file(os.path.join(DATA, "medium.safetensors"))
        codes = {"global_codes": ref["global_codes"].tolist(),
                 "semantic_codes": ref["semantic_codes"].tolist()}
        codes_path = os.path.join(tmp, "codes.json")
        with open(codes_path, "w") as f:
            json.dump(codes, f)
        out = os.path.join(tmp, "out.wav")
        for extra in ([], ["--chunk-frames", "7", "--context-frames", "12", "--threads", "1"]):
            r = decode(model, codes_path, out, *extra)
            check(r.returncode == 0, f"decode {' '.join(extra)} exits 0 ({r.stderr.strip()})")
            audio, rate = soundfile.read(out, dtype="float32")
            info = soundfile.info(out)
            check(rate == 16000 and info.channels == 1 and info.subtype == "FLOAT",
                  f"16 kHz mono float WAV (got {rate} Hz, {info.channels} ch, {info.subtype})")
            check(audio.shape[0] == 320 * len(codes["semantic_codes"]), "320 samples per code")
            pre = ref["pre_tanh"]
            err = float(np.max(np.abs(audio - ref["waveform"]))) / float(pre.max() - pre.min())
            check(err <= 1e-4, f"waveform within 1e-4 of the range before the tanh ({err:.3g})")
            os.remove(out)

        def refused(name, payload, needle, model_dir=model):
            path = os.path.join(tmp, name + ".json")
            with open(path, "w") as f:
                f.write(payload if isinstance(payload, str) else json.dumps(payload))
            r = decode(model_dir, path, out)
            check(r.returncode == 3 and needle in r.stderr,
                  f"{name}: exit 3 naming '{needle}' (got {r.returncode}: {r.stderr.strip()})")
            check(not os.path.exists(out), f"{name}: no output file")

        g = codes["global_codes"]
        refused("no_semantic", {"global_codes": g, "semantic_codes": []}, "no semantic codes")
        refused("31_globals", {"global_codes": g[:31], "semantic_codes": [1, 2]},
                "31 global codes given; BiCodec needs exactly 32")
        refused("semantic_range", {"global_codes": g, "semantic_codes": [1, 1024]},
                "semantic code 1 is 1024, outside 0..1023")
        refused("global_range", {"global_codes": [4096] + g[1:], "semantic_codes": [1]},
                "global code 0 is 4096, outside 0..4095")
        refused("not_integer", {"global_codes": g, "semantic_codes": [1.5]},
                '"semantic_codes"[0] is not an integer code')
        refused("no_globals", {"semantic_codes": [1]}, '"global_codes" must be an array')
        refused("not_json", "[1, 2", "not a JSON object")
        refused("no_model", codes, "no BiCodec/config.yaml", model_dir=os.path.join(tmp, "none"))
        check(sorted(os.listdir(tmp)) == sorted(
            ["model", "codes.json", "no_semantic.json", "31_globals.json", "semantic_range.json",
             "global_range.json", "not_integer.json", "no_globals.json", "not_json.json",
             "no_model.json"]), "no temporary files left beside the output")
        r = subprocess.run([SPARKHOST, "codec", "decode", "--help"], capture_output=True, text=True)
        check(r.returncode == 0 and "--codes FILE.json" in r.stdout, "decode --help")
        r = subprocess.run([SPARKHOST, "codec", "decode", "--model", model], capture_output=True,
                           text=True)
        check(r.returncode == 2 and "--codes is required" in r.stderr, "usage error exits 2")
    print("FAILED" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
