#!/usr/bin/env bash
# Word timings and subtitles through the sparkhost CLI (tests/graph/pipelines/
# align_subtitles.yaml): espeak-ng speaks a short text into a WAV and reports its word
# starts; the pipeline segments the text, decodes the WAV, aligns the words and writes SRT,
# WebVTT and karaoke ASS files, with the parameters given as job inputs. Checked: word
# starts in the job result against espeak's (85% within 120 ms), each file read by ffmpeg
# and pysubs2 with the cue times and words of the result, the karaoke file rendered by
# ffmpeg's ass filter, format none writing nothing, and a bad parameter failing the job with
# nothing written.
# usage: align_subtitles_pipeline.sh ESPEAK_SAY
set -eu
espeak_say=$1
pipeline=$SPARK_SOURCE_DIR/tests/graph/pipelines/align_subtitles.yaml
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
text='Hello there, my friend. How are you doing today? Fine, thanks. The quick brown fox jumps over the lazy dog; it never looks back.'
"$espeak_say" "$text" speech.wav speech.words
mkdir results

run() { # run FORMAT OUT [--input K=V ...]
    local format=$1 out=$2; shift 2
    "$SPARKHOST" run "$pipeline" --text "$text" --input audio=speech.wav \
        --input format="$format" -o "$out" "$@" --json > "results/$(basename "$out").json"
}
run srt out/subs.srt --input max_chars_per_line=20
run vtt out/subs.vtt --input max_lines=1
run ass out/subs.ass --input karaoke=true --input play_res_x=1280 --input play_res_y=720 \
    --input primary_colour='#FFFFFF' --input font_size=40

"$SPARK_PYTHON" - "$text" <<'PY'
import json, math, subprocess, sys
import pysubs2

text = sys.argv[1]
fail = []
ref = [(float(a), int(b)) for a, b in (l.split() for l in open("speech.words"))]
for name in ("subs.srt", "subs.vtt", "subs.ass"):
    result = json.load(open(f"results/{name}.json"))
    timings = result["word_timings"]
    words = timings["word_segments"]
    if result["words"] != len(words) or len(words) != len(text.split()):
        fail.append(f"{name}: {result['words']} words in the result, {len(text.split())} in the text")
    # word starts against espeak: each result word is found in the text in order
    at, errors = 0, []
    for w in words:
        at = text.index(w["word"], at)
        inside = [t for t, off in ref if at <= off < at + len(w["word"])]
        if inside:
            errors.append(abs(w["start"] - inside[0]))
        at += len(w["word"])
    within = sum(e <= 0.12 for e in errors) / len(errors)
    if within < 0.85:
        fail.append(f"{name}: only {within:.0%} of word starts within 120 ms")
    # the file, read by pysubs2 and by ffmpeg: cue count, words in order, times in the audio
    subs = [e for e in pysubs2.load(f"out/{name}") if not e.is_comment]
    if len(subs) != result["cues"]:
        fail.append(f"{name}: pysubs2 reads {len(subs)} cues, the result says {result['cues']}")
    said = " ".join(e.plaintext.replace("\n", " ") for e in subs).split()
    if said != text.split():
        fail.append(f"{name}: pysubs2 reads {said}")
    first, last = words[0], words[-1]
    unit = 10 if name.endswith(".ass") else 1
    if abs(subs[0].start - first["start"] * 1000) > unit or subs[-1].end < last["end"] * 1000 - unit:
        fail.append(f"{name}: cues {subs[0].start}..{subs[-1].end} ms, words {first['start']}..{last['end']} s")
    if any(b.start < a.end for a, b in zip(subs, subs[1:])) or any(e.end <= e.start for e in subs):
        fail.append(f"{name}: cues overlap or are empty")
    run = subprocess.run(["ffmpeg", "-v", "error", "-i", f"out/{name}", "-f", "srt", "-"],
                         capture_output=True, text=True)
    blocks = [b.split("\n") for b in run.stdout.strip().split("\n\n")]
    if run.returncode or len(blocks) != len(subs):
        fail.append(f"{name}: ffmpeg reads {len(blocks)} cues: {run.stderr}")
    for b, e in zip(blocks, subs):
        def ms(t):
            h, m, s = t.split(":"); s, f = s.split(",")
            return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(f)
        start, end = (ms(t) for t in b[1].split(" --> "))
        if (start, end) != (e.start, e.end):
            fail.append(f"{name}: ffmpeg and pysubs2 disagree: {b[1]} vs {e.start}..{e.end}")
    if name == "subs.srt" and any(len(l) > 20 for e in subs for l in e.plaintext.split("\n")):
        fail.append("subs.srt: a line longer than max_chars_per_line")
    if name == "subs.vtt" and any("\n" in e.plaintext for e in subs):
        fail.append("subs.vtt: more than max_lines lines")
    if name == "subs.ass":
        body = open("out/subs.ass").read()
        for want in ("PlayResX: 1280", "PlayResY: 720", "Style: Default,DejaVu Sans,40,&H00FFFFFF,", "{\\k"):
            if want not in body:
                fail.append(f"subs.ass lacks {want!r}")
        t0 = subs[1].start / 1000 + 0.3
        r = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=black:s=1280x720:d=1",
                            "-vf", f"setpts=PTS+{t0:.2f}/TB,ass=out/subs.ass", "-frames:v", "1",
                            "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True)
        if r.returncode or max(r.stdout, default=0) < 128:
            fail.append(f"subs.ass: ffmpeg's ass filter drew nothing: {r.stderr.decode()}")
    errors.sort()
    print(f"{name}: {len(subs)} cues, {len(words)} words, word start error median "
          f"{errors[len(errors) // 2] * 1000:.0f} ms, {within:.0%} within 120 ms")
for f in fail:
    print("FAIL", f)
sys.exit(1 if fail else 0)
PY

# format none: the job succeeds, the optional store writes nothing and reports no URL
"$SPARKHOST" run "$pipeline" --text "$text" --input audio=speech.wav --input format=none \
    -o out/none.ass --json > results/none.json
[ ! -e out/none.ass ] || { echo "format none wrote out/none.ass"; exit 1; }
grep -q '"url":null' results/none.json || { echo "format none reports a URL"; exit 1; }
grep -q '"word_timings"' results/none.json || { echo "format none lost the word timings"; exit 1; }

# a bad parameter fails the job (exit 4), names the parameter, and writes nothing
set +e
err=$("$SPARKHOST" run "$pipeline" --text "$text" --input audio=speech.wav \
      --input primary_colour=yellow -o out/bad.ass 2>&1 >/dev/null)
rc=$?
set -e
[ "$rc" -eq 4 ] || { echo "bad colour: exit $rc, want 4: $err"; exit 1; }
grep -q "primary_colour 'yellow' is not a colour" <<<"$err" || { echo "message: $err"; exit 1; }
[ ! -e out/bad.ass ] || { echo "a failed job left out/bad.ass"; exit 1; }
echo "align_subtitles_pipeline: ok"
