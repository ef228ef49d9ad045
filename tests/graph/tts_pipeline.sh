#!/usr/bin/env bash
# configs/tts.yaml end to end on the tiny synthetic model: text to a WAV file and an ASS
# file, checked by ffprobe and ffmpeg; the same seed twice gives the same samples; a streamed
# run (--stream -o -) writes the same samples as the stored file; bad input is refused.
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$SPARKHOST" model synth --preset tiny --seed 1 model >/dev/null
export SPARK_MODEL_DIR=$work/model
text='Good morning. The quick brown fox jumps over the lazy dog! Is it raining today?'
run() { "$SPARKHOST" run "$SPARK_SOURCE_DIR/configs/tts.yaml" --text "$text" \
        --input seed=7 --input max_new_tokens=120 "$@"; }
run -o a.wav --input subtitles_output=a.srt --input subtitles=srt --json > a.json
run -o b.wav --input subtitles=none --input word_timings=false --json > b.json
"$SPARKHOST" run "$SPARK_SOURCE_DIR/configs/tts.yaml" --text "$text" --input seed=7 \
    --input max_new_tokens=120 --input format=pcm --input subtitles=none --stream -o - \
    2>stream.err > stream.pcm
ffmpeg -v error -i out/a.wav -f s16le - > a.pcm
ffmpeg -v error -i out/b.wav -f s16le - > b.pcm
cmp a.pcm b.pcm || { echo "seed 7 twice: different audio"; exit 1; }
cmp a.pcm stream.pcm || { echo "streamed audio differs from the stored file"; exit 1; }
[ ! -e out/b.srt ] && [ "$(ls out | wc -l)" -eq 3 ] || { echo "stray files: $(ls out)"; exit 1; }
"$SPARK_PYTHON" - <<'PY'
import json, subprocess
a = json.load(open("a.json"))
b = json.load(open("b.json"))
fail = []
if b["word_timings"] is not None or b["subtitles_url"] is not None:
    fail.append(f"word_timings=false, subtitles=none: {b['word_timings']!r} {b['subtitles_url']!r}")
probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=sample_rate,channels",
                        "-show_entries", "format=duration", "-of", "json", "out/a.wav"],
                       capture_output=True, text=True, check=True)
p = json.loads(probe.stdout)
if abs(float(p["format"]["duration"]) - a["duration"]) > 0.01:
    fail.append(f"ffprobe duration {p['format']['duration']}, result {a['duration']}")
if p["streams"][0]["sample_rate"] != "16000" or p["streams"][0]["channels"] != 1:
    fail.append(f"format {p['streams'][0]}")
if not a["audio_url"].endswith("/out/a.wav") or not a["subtitles_url"].endswith("/out/a.srt"):
    fail.append(f"urls {a['audio_url']} {a['subtitles_url']}")
if abs(a["loudness_lufs"] + 16) > 0.5:
    fail.append(f"loudness {a['loudness_lufs']} LUFS, target -16")
segs = a["word_timings"]["segments"]
words = [w["word"] for s in segs for w in s["words"]]
if " ".join(words) != "Good morning. The quick brown fox jumps over the lazy dog! Is it raining today?":
    fail.append(f"words {words}")
ends = [w["end"] for s in segs for w in s["words"]]
if ends != sorted(ends) or ends[-1] > a["duration"] + 1e-6:
    fail.append("word timings out of order or past the audio")
srt = subprocess.run(["ffmpeg", "-v", "error", "-i", "out/a.srt", "-f", "srt", "-"],
                     capture_output=True, text=True)
if srt.returncode or "Good morning." not in srt.stdout or "raining today?" not in srt.stdout:
    fail.append(f"ffmpeg reads the SRT file as: {srt.stdout!r} {srt.stderr}")
for f in fail:
    print("FAIL", f)
raise SystemExit(1 if fail else 0)
PY
# a bad request names the field and writes nothing
set +e
err=$("$SPARKHOST" run "$SPARK_SOURCE_DIR/configs/tts.yaml" --text "x" --input pitch=loud \
      -o bad.wav 2>&1)
rc=$?
set -e
[ $rc -eq 3 ] && grep -q "pitch" <<<"$err" || { echo "bad pitch: exit $rc: $err"; exit 1; }
[ ! -e out/bad.wav ] || { echo "a refused job wrote out/bad.wav"; exit 1; }
echo "tts_pipeline: ok"
