"""Whole-pipeline test of the pitch and speed shift node on speech: espeak-ng speaks a few
sentences, sparkhost runs tests/graph/pipelines/rubberband_shift.yaml on them with the
shift as job inputs, and this script checks the result with its own f0 estimator (YIN, in
numpy) and ffprobe: the fundamental moves by 2^(n/12) and the duration by 1 / speed, both
within 1%, and pitch 0 with speed 1 gives the input back bit for bit.

Run by ctest with SPARKHOST, SPARK_SOURCE_DIR and SPARK_PYTHON set."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import soundfile

SPARKHOST = os.environ["SPARKHOST"]
PIPELINE = os.path.join(os.environ["SPARK_SOURCE_DIR"],
                        "tests/graph/pipelines/rubberband_shift.yaml")
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


FRAME = 0.05  # seconds per f0 frame: 2.5 periods of the lowest voice here (-12 semitones)
HOP = 0.01


def yin_f0(x, rate, fmin=40.0, fmax=800.0, frame=FRAME, hop=HOP, threshold=0.15):
    """f0 per hop (Hz; NaN where unvoiced or quiet), by the YIN difference function."""
    width = int(frame * rate)
    tau_max = int(rate / fmin)
    tau_min = int(rate / fmax)
    step = int(hop * rate)
    loudest = np.max(np.abs(x))
    f0 = []
    for start in range(0, len(x) - width - tau_max, step):
        segment = x[start:start + width + tau_max]
        head = segment[:width]
        if np.sqrt(np.mean(head ** 2)) < 0.02 * loudest:
            f0.append(np.nan)
            continue
        cross = np.correlate(segment, head, "valid")  # cross[tau] = sum seg[j+tau] head[j]
        squares = np.concatenate(([0.0], np.cumsum(segment ** 2)))
        energy_tau = squares[width:width + tau_max + 1] - squares[:tau_max + 1]
        diff = energy_tau[0] + energy_tau - 2.0 * cross
        cumulative = np.cumsum(diff[1:])
        cmnd = np.ones_like(diff)
        cmnd[1:] = diff[1:] * np.arange(1, len(diff)) / np.maximum(cumulative, 1e-12)
        below = np.nonzero(cmnd[tau_min:] < threshold)[0]
        if len(below) == 0:
            f0.append(np.nan)
            continue
        tau = tau_min + below[0]
        while tau + 1 < len(cmnd) and cmnd[tau + 1] < cmnd[tau]:
            tau += 1
        if 0 < tau < len(cmnd) - 1:  # parabolic refinement of the dip
            a, b, c = cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]
            denominator = a - 2.0 * b + c
            offset = 0.5 * (a - c) / denominator if denominator > 0 else 0.0
        else:
            offset = 0.0
        f0.append(rate / (tau + offset))
    return np.array(f0)


def matched_ratio(f0_in, f0_out, speed, frame=FRAME, hop=HOP):
    """Median over frames voiced in both of f0_out(t) / f0_in(t * speed): each output frame
    against the input frame its centre came from."""
    ratios = []
    for k, value in enumerate(f0_out):
        source_centre = (k * hop + frame / 2) * speed
        j = int(round((source_centre - frame / 2) / hop))
        if 0 <= j < len(f0_in) and not np.isnan(value) and not np.isnan(f0_in[j]):
            ratios.append(value / f0_in[j])
    return (float(np.median(ratios)) if ratios else float("nan")), len(ratios)


def ffprobe_seconds(path):
    run = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                          "-of", "default=noprint_wrappers=1:nokey=1", path],
                         capture_output=True, text=True, check=True)
    return float(run.stdout)


def shift(work, source, name, pitch, speed, formants=False):
    target = os.path.join(work, name + ".wav")
    run = subprocess.run([SPARKHOST, "run", PIPELINE, "--input", "input=" + source, "-o",
                          target, "--json", "--input", f"pitch_shift={pitch}",
                          "--input", f"speed_shift={speed}",
                          "--input", f"preserve_formants={str(formants).lower()}"],
                         capture_output=True, text=True, cwd=work)
    if run.returncode != 0:
        print(run.stderr)
        check(False, f"{name}: sparkhost exit code {run.returncode}")
        return None, None
    data, _ = soundfile.read(target, dtype="float64")
    return json.loads(run.stdout), data


def spectral_centroid(x, rate):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    frequencies = np.fft.rfftfreq(len(x), 1.0 / rate)
    return float(np.sum(frequencies * spectrum) / np.sum(spectrum))


def main():
    with tempfile.TemporaryDirectory() as work:
        source = os.path.join(work, "speech.wav")
        subprocess.run(["espeak-ng", "-w", source,
                        "The weather today is calm and bright. Tomorrow a cold wind will "
                        "come from the north, and the evening may bring some rain. On "
                        "Sunday morning the sun returns, warm and gentle, over the valley."],
                       check=True)
        speech, rate = soundfile.read(source, dtype="float64")
        f0_in = yin_f0(speech, rate)
        in_seconds = ffprobe_seconds(source)
        print(f"input: {in_seconds:.3f} s at {rate} Hz, median f0 {np.nanmedian(f0_in):.1f} Hz "
              f"over {np.count_nonzero(~np.isnan(f0_in))} voiced frames")

        # Pitch alone: frame by frame against the input (no latency, so frames line up).
        for pitch in (-12, -5, 4, 12):
            result, out = shift(work, source, f"pitch{pitch:+d}", pitch, 1)
            if out is None:
                continue
            got, frames = matched_ratio(f0_in, yin_f0(out, rate), 1.0)
            want = 2.0 ** (pitch / 12.0)
            print(f"pitch {pitch:+d}: f0 ratio {got:.4f} (want {want:.4f}) over {frames} "
                  f"frames, {len(out)} frames (input {len(speech)})")
            check(frames > 50, f"pitch {pitch:+d}: enough voiced frames")
            check(abs(got / want - 1.0) < 0.01, f"pitch {pitch:+d}: f0 ratio within 1%")
            check(len(out) == len(speech), f"pitch {pitch:+d}: duration kept")

        # Tempo alone and with pitch: duration by ffprobe, f0 frame by frame on the time map.
        for pitch, speed in ((0, 0.5), (0, 0.8), (0, 1.5), (0, 2.0), (3, 1.25), (-7, 0.7)):
            name = f"speed{speed}_pitch{pitch:+d}"
            result, out = shift(work, source, name, pitch, speed)
            if out is None:
                continue
            seconds = ffprobe_seconds(os.path.join(work, name + ".wav"))
            want_seconds = in_seconds / speed
            want_ratio = 2.0 ** (pitch / 12.0)
            got_ratio, frames = matched_ratio(f0_in, yin_f0(out, rate), speed)
            check(frames > 30, f"{name}: enough voiced frames ({frames})")
            print(f"{name}: {seconds:.3f} s (want {want_seconds:.3f}), median f0 ratio "
                  f"{got_ratio:.4f} (want {want_ratio:.4f}), results {result['input_seconds']:.3f}"
                  f" -> {result['output_seconds']:.3f} s")
            check(abs(seconds / want_seconds - 1.0) < 0.01, f"{name}: duration within 1%")
            check(abs(got_ratio / want_ratio - 1.0) < 0.01, f"{name}: f0 within 1%")
            check(abs(result["output_seconds"] - seconds) < 0.001,
                  f"{name}: output_seconds result matches the file")

        # Formants: with them preserved the spectral envelope (centroid) stays closer.
        centroid_in = spectral_centroid(speech, rate)
        _, shifted = shift(work, source, "formants_shifted", 5, 1, formants=False)
        _, kept = shift(work, source, "formants_kept", 5, 1, formants=True)
        if shifted is not None and kept is not None:
            ratio, _ = matched_ratio(f0_in, yin_f0(kept, rate), 1.0)
            moved = spectral_centroid(shifted, rate) / centroid_in
            stayed = spectral_centroid(kept, rate) / centroid_in
            print(f"formants: centroid ratio {moved:.3f} shifted, {stayed:.3f} preserved; f0 "
                  f"ratio {ratio:.4f} preserved")
            check(abs(ratio / 2.0 ** (5 / 12) - 1.0) < 0.01, "formants kept: f0 within 1%")
            check(abs(stayed - 1.0) < abs(moved - 1.0) / 2,
                  "formants kept: the spectral centroid moves less than half as far")

        # Identity: the very samples come back.
        _, same = shift(work, source, "identity", 0, 1)
        if same is not None:
            original, _ = soundfile.read(source, dtype="float64")
            check(len(same) == len(original) and np.array_equal(same, original),
                  "pitch 0 speed 1: output is the input bit for bit")

        # A bad job input is refused with its name; nothing is written.
        refused = subprocess.run([SPARKHOST, "run", PIPELINE, "--input", "input=" + source,
                                  "-o", os.path.join(work, "refused.wav"),
                                  "--input", "speed_shift=3"], capture_output=True, text=True,
                                 cwd=work)
        check(refused.returncode != 0 and "speed_shift" in refused.stderr,
              "speed_shift=3 is refused naming it: " + refused.stderr.strip()[:200])
        check(not os.path.exists(os.path.join(work, "refused.wav")), "no output when refused")
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("shift_speech: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
