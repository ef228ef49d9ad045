#!/usr/bin/env bash
# The voice cache end to end through `sparkhost`: a pipeline job encodes a reference and saves
# its voice; a later job naming that voice gets the same codes from the store, with a silent
# reference that the encoder would refuse (so it never ran); a failed job saves nothing; a
# voice saved by `sparkhost codec encode` serves the node too, and a voice of another model
# is refused. The codes of the first job are the upstream reference codes.
#
#   test_encode_voice_cache.sh DATA_DIR        (SPARKHOST names the binary)
set -u
data=$1
fail=0
bad() { echo "FAIL: $*"; fail=1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

cp "$data/clips/short.wav" short.wav   # pipelines read under the storage root
"$SPARKHOST" model synth --preset tiny model >/dev/null || { echo "synth failed"; exit 1; }
"$SPARKHOST" model synth --preset tiny --seed 7 other >/dev/null || exit 1
"${SPARK_PYTHON:-python3}" - "$data" <<'PY' || exit 1
import struct, sys, wave
with wave.open("silent.wav", "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
    w.writeframes(b"\0\0" * 16000)
PY

cat >encode.yaml <<YAML
version: 1
storage:
  - id: local
    plugin: org.sparkhost.storage.local
    params: {root: $work}
nodes:
  - id: read
    plugin: org.sparkhost.core.fetch
  - id: decode
    plugin: org.sparkhost.audio.decode
  - id: encode
    plugin: org.sparkhost.codec.bicodec.encode
    params: {model: $work/model, voice_store: $work/voices, threads: 1}
inputs:
  input: {type: url, required: true, to: read.url}
  transcript: {type: string, default: "", to: encode.transcript}
  voice: {type: string, default: "", to: encode.voice}
  save_voice: {type: string, default: "", to: encode.save_voice}
outputs:
  voice: encode.voice
  source: encode.source
YAML

# codes of a --json result, or of a voice file, as "globals|semantic"
codes() {
    "${SPARK_PYTHON:-python3}" -c '
import json, sys
doc = json.load(sys.stdin)
v = doc.get("voice", doc)
if isinstance(v, str):
    v = json.loads(v)
print(",".join(map(str, v["global_codes"])) + "|" + ",".join(map(str, v["semantic_codes"])))'
}
reference=$("${SPARK_PYTHON:-python3}" - "$data/short.safetensors" <<'PY'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
def ints(name):
    a, b = header[name]["data_offsets"]
    blob = raw[8 + n + a:8 + n + b]
    return list(struct.unpack("<%dq" % (len(blob) // 8), blob))
print(",".join(map(str, ints("global_codes"))) + "|" + ",".join(map(str, ints("semantic_codes"))))
PY
)

run() { "$SPARKHOST" run encode.yaml --json "$@"; }

# 1. encode and save
out=$(run --input input=short.wav --input transcript="a short test" \
          --input save_voice=anna 2>err1) || bad "encode job failed: $(cat err1)"
[ "$(codes <<<"$out")" = "$reference" ] || bad "encoded codes differ from the reference"
grep -q '"source": *"encoder"' <<<"$out" || bad "first job: source is not encoder: $out"
[ -f voices/anna.json ] || bad "voices/anna.json was not saved"
[ "$(codes <voices/anna.json)" = "$reference" ] || bad "saved voice differs from the codes"
grep -q '"transcript":"a short test"' voices/anna.json || bad "saved voice lacks its transcript"

# 2. the cached voice: a silent reference would fail the encoder, so it did not run
out=$(run --input input=silent.wav --input voice=anna 2>err2) || bad "cached job failed: $(cat err2)"
grep -q '"source": *"cache"' <<<"$out" || bad "second job: source is not cache: $out"
[ "$(codes <<<"$out")" = "$reference" ] || bad "cached codes differ"

# 3. a failed job saves nothing and names the problem
run --input input=silent.wav --input save_voice=bob >/dev/null 2>err3 && bad "silent reference accepted"
grep -q "silent" err3 || bad "silent reference: message lacks 'silent': $(cat err3)"
[ ! -e voices/bob.json ] || bad "a failed job left voices/bob.json"
ls voices | grep -v '^anna.json$' && bad "stray files in voices/"

# 4. an unknown voice
run --input input=silent.wav --input voice=nobody >/dev/null 2>err4 && bad "unknown voice accepted"
grep -q "no voice named 'nobody'" err4 || bad "unknown voice message: $(cat err4)"

# 5. the CLI saves a voice the node reads; its codes are the reference's
out=$("$SPARKHOST" codec encode --model model "$data/clips/short.wav" --transcript "a short test" \
      --save-voice cli_voice --voice-dir voices --threads 1 2>err5) || bad "codec encode failed: $(cat err5)"
[ "$(codes <<<"$out")" = "$reference" ] || bad "codec encode codes differ from the reference"
out=$(run --input input=silent.wav --input voice=cli_voice 2>err6) || bad "node could not use the CLI's voice: $(cat err6)"
[ "$(codes <<<"$out")" = "$reference" ] || bad "CLI voice through the node differs"

# 6. a voice made by another model is refused
"$SPARKHOST" codec encode --model other "$data/clips/short.wav" --save-voice foreign \
    --voice-dir voices >/dev/null 2>err7 || bad "codec encode on the other model failed: $(cat err7)"
run --input input=silent.wav --input voice=foreign >/dev/null 2>err8 && bad "foreign voice accepted"
grep -q "made by another model" err8 || bad "foreign voice message: $(cat err8)"

# 7. CLI guards: usage and unusable references
"$SPARKHOST" codec encode --model model silent.wav >/dev/null 2>err9; rc=$?
[ "$rc" -eq 3 ] || bad "silent reference: exit $rc, want 3"
grep -q "silent" err9 || bad "CLI silent message: $(cat err9)"
"$SPARKHOST" codec encode "$data/clips/short.wav" >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || bad "missing --model: exit $rc, want 2"

[ $fail -eq 0 ] && echo "voice cache: all checks passed"
exit $fail
