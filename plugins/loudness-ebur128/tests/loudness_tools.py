"""Whole-pipeline test of the loudness node: audio files (espeak-ng speech at several levels,
with clicks, dense and clipped, stereo, near-silent and below the gate) go through sparkhost
with tests/graph/pipelines/loudness_normalize.yaml (and once after the pitch and speed shift,
loudness_after_shift.yaml), and the output is measured by two meters
that share no code with libebur128: ffmpeg's ebur128 filter (integrated loudness and true
peak) and pyloudnorm (integrated loudness).

Run by ctest with SPARKHOST, SPARK_SOURCE_DIR and SPARK_PYTHON set."""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import pyloudnorm
import soundfile
from scipy.signal import resample_poly

SPARKHOST = os.environ["SPARKHOST"]
PIPELINE = os.path.join(os.environ["SPARK_SOURCE_DIR"],
                        "tests/graph/pipelines/loudness_normalize.yaml")
CHAIN = os.path.join(os.environ["SPARK_SOURCE_DIR"],
                     "tests/graph/pipelines/loudness_after_shift.yaml")
TOLERANCE_LU = 0.5
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def speech(path, text):
    """Mono float speech from espeak-ng at its own rate (22050 Hz)."""
    subprocess.run(["espeak-ng", "-w", path, text], check=True)
    data, rate = soundfile.read(path, dtype="float64")
    return data, rate


def ffmpeg_ebur128(path, dual_mono=False):
    """(integrated LUFS, true peak dBTP) from ffmpeg's ebur128 filter summary."""
    options = "ebur128=peak=true" + (":dualmono=true" if dual_mono else "")
    run = subprocess.run(["ffmpeg", "-nostats", "-hide_banner", "-i", path, "-af", options,
                          "-f", "null", "-"], capture_output=True, text=True, check=True)
    summary = run.stderr[run.stderr.rindex("Summary:"):]
    integrated = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))
    peak = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return integrated, peak


def pyloudnorm_integrated(data, rate):
    return pyloudnorm.Meter(rate).integrated_loudness(data)


def run_node(work, name, data, rate, inputs):
    """Write data as a float WAV, normalise it through sparkhost, return (result, output
    path, stderr)."""
    source = os.path.join(work, name + ".in.wav")
    target = os.path.join(work, name + ".out.wav")
    soundfile.write(source, data, rate, subtype="FLOAT")
    command = [SPARKHOST, "run", PIPELINE, "--input", "input=" + source, "-o", target,
               "--json"]
    for key, value in inputs.items():
        command += ["--input", f"{key}={value}"]
    run = subprocess.run(command, capture_output=True, text=True, cwd=work)
    if run.returncode != 0:
        print(run.stderr)
        check(False, f"{name}: sparkhost exit code {run.returncode}")
        return None, target, run.stderr
    return json.loads(run.stdout), target, run.stderr


def normalised_case(work, name, data, rate, target=-16.0, ceiling=-1.0, dual_mono=False,
                    expect_limited=None):
    inputs = {"target": target, "ceiling": ceiling, "dual_mono": str(dual_mono).lower()}
    result, path, _ = run_node(work, name, data, rate, inputs)
    if result is None:
        return
    in_ff, in_peak = ffmpeg_ebur128(os.path.join(work, name + ".in.wav"), dual_mono)
    out_ff, out_peak = ffmpeg_ebur128(path, dual_mono)
    out, out_rate = soundfile.read(path, dtype="float64")
    measured = out if not dual_mono else np.stack([out, out], axis=1)
    out_py = pyloudnorm_integrated(measured, out_rate)
    print(f"{name}: input {result['input_integrated']:.2f} LUFS (ffmpeg {in_ff:.1f}), "
          f"TP {result['input_true_peak']:.2f} (ffmpeg {in_peak:.1f}) -> output "
          f"{result['output_integrated']:.2f} LUFS (ffmpeg {out_ff:.1f}, pyloudnorm "
          f"{out_py:.2f}), TP {result['output_true_peak']:.2f} (ffmpeg {out_peak:.1f}), "
          f"gain {result['gain_db']:.2f} dB, limiter {result['limiter_reduction_db']:.2f} dB")
    check(out_rate == rate and len(out) == len(data), f"{name}: same rate and length")
    check(result["normalized"] is True, f"{name}: normalised")
    check(abs(in_ff - result["input_integrated"]) <= 0.2,
          f"{name}: input loudness agrees with ffmpeg within 0.2 LU")
    check(abs(out_ff - target) <= TOLERANCE_LU,
          f"{name}: ffmpeg reads {out_ff} LUFS, target {target} +/- {TOLERANCE_LU}")
    check(abs(out_py - target) <= TOLERANCE_LU,
          f"{name}: pyloudnorm reads {out_py:.2f} LUFS, target {target} +/- {TOLERANCE_LU}")
    check(out_peak <= ceiling, f"{name}: ffmpeg true peak {out_peak} dBTP <= {ceiling}")
    if expect_limited is not None:
        check(result["limited"] is expect_limited, f"{name}: limited is {expect_limited}")


def unreachable_case(work, name, data, rate, target, ceiling):
    """A target the ceiling leaves no room for: the limiter stops short of flattening the
    speech, the ceiling still holds, and a warning says so."""
    result, path, stderr = run_node(work, name, data, rate,
                                    {"target": target, "ceiling": ceiling})
    if result is None:
        return
    out_ff, out_peak = ffmpeg_ebur128(path)
    print(f"{name}: {result['input_integrated']:.2f} -> {result['output_integrated']:.2f} "
          f"LUFS (ffmpeg {out_ff:.1f}), TP ffmpeg {out_peak:.1f}")
    check(out_peak <= ceiling, f"{name}: ffmpeg true peak {out_peak} dBTP <= {ceiling}")
    check(out_ff < target - TOLERANCE_LU, f"{name}: stops short of the target")
    check(result["output_integrated"] > result["input_integrated"] + 5,
          f"{name}: still raised by the limiter's make-up gain")
    check("not the target" in stderr, f"{name}: a warning says the target was not reached")


def chain_case(work, name, data, rate):
    """Shift (pitch +2, speed 1.25) and then normalise, in one pipeline."""
    source = os.path.join(work, name + ".in.wav")
    target = os.path.join(work, name + ".out.wav")
    soundfile.write(source, data, rate, subtype="FLOAT")
    run = subprocess.run([SPARKHOST, "run", CHAIN, "--input", "input=" + source, "-o",
                          target, "--json", "--input", "pitch_shift=2", "--input",
                          "speed_shift=1.25", "--input", "target=-18"],
                         capture_output=True, text=True, cwd=work)
    if run.returncode != 0:
        print(run.stderr)
        check(False, f"{name}: sparkhost exit code {run.returncode}")
        return
    result = json.loads(run.stdout)
    out, out_rate = soundfile.read(target, dtype="float64")
    out_ff, out_peak = ffmpeg_ebur128(target)
    out_py = pyloudnorm_integrated(out, out_rate)
    print(f"{name}: {len(data)} -> {len(out)} frames, {result['output_integrated']:.2f} LUFS "
          f"(ffmpeg {out_ff:.1f}, pyloudnorm {out_py:.2f}), TP ffmpeg {out_peak:.1f}")
    check(abs(len(out) / (len(data) / 1.25) - 1.0) < 0.01, f"{name}: duration / 1.25")
    check(abs(out_ff + 18.0) <= TOLERANCE_LU and abs(out_py + 18.0) <= TOLERANCE_LU,
          f"{name}: ffmpeg and pyloudnorm within {TOLERANCE_LU} LU of -18")
    check(out_peak <= -1.0, f"{name}: ffmpeg true peak {out_peak} dBTP <= -1")


def silent_case(work, name, data, rate):
    result, path, stderr = run_node(work, name, data, rate, {})
    if result is None:
        return
    out, _ = soundfile.read(path, dtype="float32")
    check(result["normalized"] is False, f"{name}: not normalised")
    check(result["gain_db"] == 0, f"{name}: gain 0 dB")
    check(np.array_equal(out, data.astype(np.float32)), f"{name}: output equals input")
    check("below the silence gate" in stderr, f"{name}: a warning says why")


def main():
    with tempfile.TemporaryDirectory() as work:
        voice, rate = speech(os.path.join(work, "voice.wav"),
                             "Loudness normalisation keeps every programme at the same "
                             "level. Quiet speech is raised, loud speech is lowered, and "
                             "the peaks stay under the ceiling, even with sharp clicks.")
        voice = voice / np.max(np.abs(voice))  # peak at 0 dBFS
        clicks = np.zeros_like(voice)
        for k in range(1, 6):
            clicks[k * len(voice) // 6] = 0.95
        dense = np.tanh(6.0 * voice) / np.tanh(6.0)  # clipped: loud, small crest factor

        normalised_case(work, "quiet", voice * 0.02, rate)
        normalised_case(work, "loud", dense * 0.99, rate, expect_limited=False)
        normalised_case(work, "peaky", voice * 0.05 + clicks, rate, expect_limited=True)
        normalised_case(work, "near_silent", voice * 0.005, rate)  # about -65 LUFS
        normalised_case(work, "hot_target", voice, rate, target=-13.0, ceiling=-1.0,
                        expect_limited=True)
        unreachable_case(work, "unreachable", voice, rate, target=-8.0, ceiling=-1.0)
        normalised_case(work, "broadcast", voice * 0.3, rate, target=-23.0, ceiling=-2.0,
                        expect_limited=False)
        stereo = np.stack([voice * 0.1, np.roll(voice, 2000) * 0.05], axis=1)
        normalised_case(work, "stereo", stereo, rate, target=-14.0)
        normalised_case(work, "dual_mono", voice * 0.05, rate, target=-16.0, dual_mono=True)
        # Other rates: the limiter oversamples 4x at 48 kHz and 12x at 16 kHz.
        voice48 = resample_poly(voice, 320, 147)  # 22050 -> 48000 Hz
        peaky48 = np.stack([voice48 * 0.04, voice48 * 0.03], axis=1)
        for k in range(1, 4):
            peaky48[k * len(voice48) // 4, k % 2] = -0.9
        normalised_case(work, "peaky_48k_stereo", peaky48, 48000, target=-16.0,
                        expect_limited=True)
        voice16 = resample_poly(voice, 320, 441)  # 22050 -> 16000 Hz
        normalised_case(work, "quiet_16k", voice16 * 0.03, 16000, target=-18.0)
        chain_case(work, "after_shift", voice * 0.1, rate)
        silent_case(work, "below_gate", (voice * 1e-5).astype(np.float32), rate)
        silent_case(work, "digital_silence", np.zeros(rate * 2, dtype=np.float32), rate)

        # A bad job input is refused with its name and rule, and no file is left behind.
        refused = subprocess.run([SPARKHOST, "run", PIPELINE, "--input", "input=x.wav",
                                  "-o", os.path.join(work, "refused.wav"),
                                  "--input", "target=-3"], capture_output=True, text=True,
                                 cwd=work)
        check(refused.returncode != 0 and "target" in refused.stderr,
              "target=-3 is refused naming 'target': " + refused.stderr.strip()[:200])
        check(not os.path.exists(os.path.join(work, "refused.wav")), "no output when refused")
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("loudness_tools: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
