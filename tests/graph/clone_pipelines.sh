#!/usr/bin/env bash
# configs/clone.yaml and configs/runpod.yaml end to end on the tiny synthetic model, with a
# reference recording made by espeak-ng:
# - clone.yaml: cloning without and with the reference's transcript (each saving its voice),
#   then from the saved voice alone (no reference: the encoder does not run, source "cache");
#   the prompt lengths equal what Hugging Face tokenizers gives for the upstream prompt
#   strings of each mode, built from the saved voices' codes; the saved voice gives the same
#   audio as encoding the reference again; no reference and no voice is a clear error.
# - runpod.yaml: one graph for all modes: voice creation (control prompt) when no reference
#   is given, cloning with the same audio as clone.yaml; the Python worker's names
#   (speaker_gender, max_length, enable_subtitles, enable_whisperx, task_token, output_name)
#   give the same audio and files as ours; save_voice then voice; the files written are
#   checked by ffprobe.
# - sparkhost-runpod --test-input with configs/runpod.yaml: a creation and a cloning job give
#   the audio of the same requests through `sparkhost run`.
#
#   clone_pipelines.sh SPARKHOST_RUNPOD        (SPARKHOST names the CLI)
set -eu
SPARKHOST_RUNPOD=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$SPARKHOST" model synth --preset tiny --seed 1 model >/dev/null
export SPARK_MODEL_DIR=$work/model
ref_text='This is the reference voice speaking.'
espeak-ng -w ref.wav "$ref_text"
text='Good morning to you.'
clone() { "$SPARKHOST" run "$SPARK_SOURCE_DIR/configs/clone.yaml" --text "$text" \
          --input seed=5 --input max_new_tokens=80 \
          --input subtitles_output='clone_subtitles/{job_id}.{ext}' --json "$@"; }
runpod() { "$SPARKHOST" run "$SPARK_SOURCE_DIR/configs/runpod.yaml" --text "$text" \
           --input seed=5 --json "$@"; }

clone --input prompt_speech_url=ref.wav --input save_voice=plain -o out/plain.wav >plain.json
clone --input prompt_speech_url=ref.wav --input prompt_text="$ref_text" --input save_voice=anna \
      -o out/anna.wav >anna.json
clone --input voice=anna -o out/cached.wav >cached.json   # no reference given
set +e
err=$(clone -o out/none.wav 2>&1 >/dev/null)
rc=$?
set -e
[ $rc -ne 0 ] || { echo "clone.yaml with no reference and no voice succeeded"; exit 1; }
grep -q "no reference audio arrived" <<<"$err" || { echo "unclear error: $err"; exit 1; }
[ ! -e out/none.wav ] || { echo "a failed job left out/none.wav"; exit 1; }

# runpod.yaml: its storage root is ./out, so the reference is a name under it
cp ref.wav out/ref.wav
runpod --input gender=male --input pitch=high --input max_new_tokens=80 --input subtitles=none \
       --input word_timings=true -o create.wav >create.json
runpod --input speaker_gender=male --input pitch=high --input max_length=80 \
       --input enable_subtitles=false --input enable_whisperx=true --input task_token=t-42 \
       --input output_name=create_alias.wav >create_alias.json
runpod --input max_new_tokens=80 --input prompt_speech_url=ref.wav --input prompt_text="$ref_text" \
       --input save_voice=bob --input enable_subtitles=true --input subtitles=srt \
       --input subtitles_output=rp_clone.srt -o rp_clone.wav >rp_clone.json
runpod --input max_new_tokens=80 --input voice=bob --input subtitles=none -o rp_cached.wav \
       >rp_cached.json
set +e
err=$(runpod --input max_new_tokens=80 --input save_voice=carl -o never.wav 2>&1 >/dev/null)
rc=$?
set -e
[ $rc -ne 0 ] || { echo "runpod.yaml: save_voice without a reference succeeded"; exit 1; }
grep -q "save_voice: 'carl' needs reference audio" <<<"$err" || { echo "unclear error: $err"; exit 1; }
[ ! -e out/never.wav ] && [ ! -e out/voices/carl.json ] || { echo "a failed job left files"; exit 1; }

# the worker's local test mode, same requests as create.json and rp_clone.json
"$SPARKHOST_RUNPOD" --pipeline "$SPARK_SOURCE_DIR/configs/runpod.yaml" --test-input \
    "{\"input\": {\"text\": \"$text\", \"seed\": 5, \"speaker_gender\": \"male\", \"pitch\": \"high\",
      \"max_length\": 80, \"enable_subtitles\": false, \"output_name\": \"worker_create.wav\"}}" \
    >worker_create.json 2>worker_create.err || { cat worker_create.err; exit 1; }
"$SPARKHOST_RUNPOD" --pipeline "$SPARK_SOURCE_DIR/configs/runpod.yaml" --test-input \
    "{\"input\": {\"text\": \"$text\", \"seed\": 5, \"max_new_tokens\": 80,
      \"prompt_speech_url\": \"ref.wav\", \"prompt_text\": \"$ref_text\",
      \"subtitles\": \"none\", \"output_name\": \"worker_clone.wav\"}}" \
    >worker_clone.json 2>worker_clone.err || { cat worker_clone.err; exit 1; }

pcm() { ffmpeg -v error -i "$1" -f s16le -; }
same_audio() { cmp -s <(pcm "$1") <(pcm "$2") || { echo "$1 and $2 differ"; exit 1; }; }
same_audio out/plain.wav out/cached.wav          # the saved voice = encoding it again
same_audio out/anna.wav out/rp_clone.wav         # one graph clones as clone.yaml does
same_audio out/create.wav out/create_alias.wav   # the Python worker's names mean ours
same_audio out/create.wav out/worker_create.wav
same_audio out/cached.wav out/rp_cached.wav      # a saved voice, without prompt_text
same_audio out/rp_clone.wav out/worker_clone.wav
cmp -s <(pcm out/plain.wav) <(pcm out/anna.wav) && { echo "the transcript changed nothing"; exit 1; }

"$SPARK_PYTHON" - "$SPARK_MODEL_DIR/LLM/tokenizer.json" "$text" "$ref_text" <<'PY'
import json, os, subprocess, sys
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
text, ref_text = sys.argv[2], sys.argv[3]
fail = []

def prompt_len(mode, voice=None, transcript="", gender="female", pitch="moderate"):
    """The upstream prompt strings (cli/SparkTTS.py, spec 3.5)."""
    levels = {"very_low": 0, "low": 1, "moderate": 2, "high": 3, "very_high": 4}
    if mode == "control":
        s = ("<|task_controllable_tts|><|start_content|>" + text + "<|end_content|>"
             "<|start_style_label|>" + f"<|gender_{ {'female': 0, 'male': 1}[gender] }|>"
             + f"<|pitch_label_{levels[pitch]}|><|speed_label_2|><|end_style_label|>")
    else:
        s = ("<|task_tts|><|start_content|>" + (transcript if mode == "clone_transcript" else "")
             + text + "<|end_content|><|start_global_token|>"
             + "".join(f"<|bicodec_global_{x}|>" for x in voice["global_codes"])
             + "<|end_global_token|>")
        if mode == "clone_transcript":
            s += "<|start_semantic_token|>" + "".join(
                f"<|bicodec_semantic_{x}|>" for x in voice["semantic_codes"])
    return len(tok.encode(s, add_special_tokens=False).ids)

def load(name):
    doc = json.load(open(name))
    return doc.get("output", doc)  # the worker wraps its result in {"output": ...}

def expect(name, source, mode, voice=None, transcript="", **labels):
    r = load(name)
    if r.get("voice_source") != source:
        fail.append(f"{name}: voice_source {r.get('voice_source')}, want {source}")
    want = prompt_len(mode, voice, transcript, **labels)
    if r["generation"]["prompt_tokens"] != want:
        fail.append(f"{name}: {r['generation']['prompt_tokens']} prompt tokens, the {mode} "
                    f"prompt has {want}")
    path = r["audio_url"][len("file://"):]
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-show_entries",
         "stream=sample_rate", "-of", "json", path], capture_output=True, text=True,
        check=True).stdout)
    if abs(float(probe["format"]["duration"]) - r["duration"]) > 0.01 or r["duration"] <= 0:
        fail.append(f"{name}: ffprobe says {probe['format']['duration']} s, result {r['duration']}")
    if probe["streams"][0]["sample_rate"] != str(r["sample_rate"]):
        fail.append(f"{name}: sample rate {probe['streams'][0]['sample_rate']}")
    for stage in ("voice", "prompt", "llm", "vocoder", "total"):
        if stage not in r["timings"]:
            fail.append(f"{name}: no timing for {stage}")
    return r

plain = json.load(open("voices/plain.json"))
anna = json.load(open("voices/anna.json"))
bob = json.load(open("out/voices/bob.json"))
if plain["semantic_codes"] or not anna["semantic_codes"] or anna["transcript"] != ref_text:
    fail.append("saved voices: semantic codes only with the transcript")
if plain["global_codes"] != anna["global_codes"] or bob != {**anna, "name": "bob"}:
    fail.append("the same reference gave different voices")
expect("plain.json", "encoder", "clone", plain)
expect("anna.json", "encoder", "clone_transcript", anna, ref_text)
expect("cached.json", "cache", "clone", anna)   # a saved voice without prompt_text: clone
expect("create.json", "none", "control", gender="male", pitch="high")
expect("create_alias.json", "none", "control", gender="male", pitch="high")
expect("worker_create.json", "none", "control", gender="male", pitch="high")
expect("rp_clone.json", "encoder", "clone_transcript", anna, ref_text)
expect("rp_cached.json", "cache", "clone", anna)
expect("worker_clone.json", "encoder", "clone_transcript", anna, ref_text)

for name in ("create.json", "create_alias.json", "worker_create.json"):
    r = load(name)
    if r.get("subtitles_url") is not None:
        fail.append(f"{name}: subtitles off, yet {r['subtitles_url']}")
    words = [w["word"] for s in r["word_timings"]["segments"] for w in s["words"]]
    if " ".join(words) != text:
        fail.append(f"{name}: word timings {words}")
for name, want in (("create_alias.json", "out/create_alias.wav"),
                   ("worker_create.json", "out/worker_create.wav")):
    if not load(name)["audio_url"].endswith(want):
        fail.append(f"{name}: output_name ignored: {load(name)['audio_url']}")
r = load("rp_clone.json")
if not (r["subtitles_url"] or "").endswith("out/rp_clone.srt"):
    fail.append(f"enable_subtitles true with subtitles srt: {r['subtitles_url']}")
else:
    srt = subprocess.run(["ffmpeg", "-v", "error", "-i", "out/rp_clone.srt", "-f", "srt", "-"],
                         capture_output=True, text=True)
    if srt.returncode or "Good morning" not in srt.stdout:
        fail.append(f"ffmpeg reads the SRT file as {srt.stdout!r} {srt.stderr}")
if sorted(f for f in os.listdir("out") if f.endswith((".ass", ".srt", ".vtt"))) != ["rp_clone.srt"]:
    fail.append(f"subtitle files: {sorted(os.listdir('out'))}")
for f in fail:
    print("FAIL", f)
raise SystemExit(1 if fail else 0)
PY
echo "clone.yaml and runpod.yaml: all modes passed"
