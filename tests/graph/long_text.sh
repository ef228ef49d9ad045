#!/usr/bin/env bash
# A 20,000-character text in five languages through configs/tts.yaml on the tiny synthetic
# model (60 tokens per sentence at most, so it stays quick): the job completes, its peak RSS
# is reported and bounded, and the SRT file's cues, read by pysubs2 and ffmpeg, cover the
# whole audio in order with every word of the text.
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$SPARKHOST" model synth --preset tiny --seed 1 model >/dev/null
export SPARK_MODEL_DIR=$work/model
"$SPARK_PYTHON" - <<'PY'
import random
random.seed(5)
pool = ["The quick brown fox jumps over the lazy dog.", "How are you doing today?",
        "It was a bright cold day in April, and the clocks were striking thirteen.",
        "Numbers like 3.14 and 2,500 stay whole!", "今天天气很好。", "我们一起去公园散步吧！",
        "Guten Morgen, wie geht es Ihnen?", "Das ist ein Satz mit Umlauten: äöü ß.",
        "Bonjour à tous, c'est un essai.", "こんにちは、元気ですか。"]
out, n = [], 0
while n < 20000:
    s = random.choice(pool)
    out.append(s)
    n += len(s) + 1
open("long.txt", "w").write(" ".join(out))
PY
/usr/bin/time -f '%M' -o rss.txt "$SPARKHOST" run "$SPARK_SOURCE_DIR/configs/tts.yaml" \
    --text-file long.txt --input seed=1 --input max_new_tokens=60 --input subtitles=srt \
    -o long.wav --input subtitles_output=long.srt --json > long.json
rss_kb=$(cat rss.txt)
echo "20,000 characters: peak RSS $((rss_kb / 1024)) MiB"
[ "$rss_kb" -lt 1048576 ] || { echo "peak RSS $rss_kb kB over 1 GiB"; exit 1; }
"$SPARK_PYTHON" - <<'PY'
import json, subprocess
import pysubs2
r = json.load(open("long.json"))
text = open("long.txt").read()
fail = []
subs = [e for e in pysubs2.load("out/long.srt") if not e.is_comment]
if any(b.start < a.end for a, b in zip(subs, subs[1:])) or any(e.end <= e.start for e in subs):
    fail.append("cues overlap, are out of order or empty")
if subs[0].start > 1000 or subs[-1].end < r["duration"] * 1000 - 1500:
    fail.append(f"cues {subs[0].start}..{subs[-1].end} ms for {r['duration']} s of audio")
said = "".join("".join(e.plaintext.split()) for e in subs)
if said != "".join(text.split()):
    fail.append("the cues' text is not the job's text")
ff = subprocess.run(["ffmpeg", "-v", "error", "-i", "out/long.srt", "-f", "srt", "-"],
                    capture_output=True, text=True)
if ff.returncode or ff.stdout.count(" --> ") != len(subs):
    fail.append(f"ffmpeg reads {ff.stdout.count(' --> ')} cues, pysubs2 {len(subs)}")
print(f"{len(text)} characters, {r['duration']:.1f} s of audio, {len(subs)} cues")
for f in fail:
    print("FAIL", f)
raise SystemExit(1 if fail else 0)
PY
echo "long_text: ok"
