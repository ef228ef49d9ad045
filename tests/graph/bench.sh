#!/usr/bin/env bash
# sparkhost bench on configs/tts.yaml and the tiny synthetic model: a table on stdout and a
# JSON file whose numbers agree with each other, with the streamed bytes and with a plain
# `sparkhost run` of the same request; bad arguments exit 2 with a message and write nothing.
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$SPARKHOST" model synth --preset tiny --seed 1 model >/dev/null
tts=$SPARK_SOURCE_DIR/configs/tts.yaml
"$SPARKHOST" bench "$tts" --model model --runs 2 --input max_new_tokens=80 --json r.json \
    > table.txt 2> bench.err || { echo "bench failed: $(cat bench.err)"; exit 1; }
[ -z "$(ls out 2>/dev/null)" ] || { echo "the bench left files in out/: $(ls out)"; exit 1; }

# The same request as the bench's short text, run plainly: its duration and its stored
# PCM bytes are what the bench must report.
"$SPARK_PYTHON" - "$tts" <<'PY'
import json, sys
r = json.load(open("r.json"))
short = r["texts"][0]
with open("short.args", "w") as f:
    for k, v in short["request"].items():
        if k in ("stream", "output", "subtitles_output"):
            continue
        f.write(f"{k}={json.dumps(v) if not isinstance(v, str) else v}\n")
PY
args=()
while IFS= read -r line; do args+=(--input "$line"); done < short.args
SPARK_MODEL_DIR=$work/model "$SPARKHOST" -q run "$tts" "${args[@]}" --input subtitles=none -o short.pcm --json > short.json

"$SPARK_PYTHON" - <<'PY'
import json, os, re
r = json.load(open("r.json"))
plain = json.load(open("short.json"))
fail = []
def check(cond, msg):
    if not cond:
        fail.append(msg)
check(r["mode"] == "voice creation", f"mode {r['mode']}")
check(r["runs"] == 2, f"runs {r['runs']}")
check(r["activation_seconds"] > 0, "activation time")
names = [t["name"] for t in r["texts"]]
check(names == ["short", "medium", "long"], f"texts {names}")
chars = [t["chars"] for t in r["texts"]]
check(chars[0] < chars[1] < chars[2] and chars[2] > 1500, f"text lengths {chars}")
seeds = [t["request"]["seed"] for t in r["texts"]]
check(len(set(seeds)) == 3, f"fixed seeds per text {seeds}")
for t in r["texts"]:
    n = t["name"]
    check(len(t["runs"]) == 2, f"{n}: {len(t['runs'])} runs")
    walls = sorted(run["wall_seconds"] for run in t["runs"])
    check(t["wall_seconds"] == walls[0], f"{n}: reported run is not the median of 2")
    for run in t["runs"] + [t]:
        a, w = run["audio_seconds"], run["wall_seconds"]
        check(a > 0 and w > 0, f"{n}: audio {a} wall {w}")
        check(abs(run["rtf"] - w / a) <= 1e-9 * max(1, w / a), f"{n}: rtf {run['rtf']} vs {w}/{a}")
        check(0 < run["first_audio_seconds"] < w, f"{n}: first audio {run['first_audio_seconds']} wall {w}")
        check(run["job_seconds"] <= w, f"{n}: engine total {run['job_seconds']} > wall {w}")
        # 16-bit mono PCM at 16 kHz: the streamed bytes are the audio's duration
        check(run["media_type"].startswith("audio/pcm") and "rate=16000" in run["media_type"],
              f"{n}: media type {run['media_type']}")
        check(abs(run["audio_bytes"] / 32000 - a) < 1e-6, f"{n}: {run['audio_bytes']} bytes, {a} s")
        check(run["peak_rss_bytes"] > 1e6, f"{n}: peak RSS {run['peak_rss_bytes']}")
        st = run["stages"]
        for stage in ("segment", "llm", "decode", "vocoder", "encode", "store"):
            check(stage in st and st[stage] >= 0, f"{n}: stage {stage} missing")
        check(sum(st.values()) > 0, f"{n}: all stages idle")
        check(run["tokens_generated"] > 0 and run["llm_tokens_per_second"] > 0,
              f"{n}: LLM numbers {run.get('tokens_generated')} {run.get('llm_tokens_per_second')}")
        # configs/tts.yaml outputs tokens_generated but not the LLM's own timings
        check(abs(run["llm_tokens_per_second"] - run["tokens_generated"] / st["llm"]) < 1e-6 *
              run["llm_tokens_per_second"], f"{n}: tokens/s {run['llm_tokens_per_second']}")
    check(t["audio_seconds"] == t["runs"][0]["audio_seconds"] == t["runs"][1]["audio_seconds"],
          f"{n}: one seed, different audio lengths")
check(r["peak_rss_bytes"] >= max(t["peak_rss_bytes"] for t in r["texts"]), "overall peak RSS")
short = r["texts"][0]
check(abs(short["audio_seconds"] - plain["duration"]) < 1e-9,
      f"short: bench {short['audio_seconds']} s, sparkhost run {plain['duration']} s")
size = os.path.getsize("out/short.pcm")
check(size == short["audio_bytes"], f"short: sparkhost run wrote {size} bytes, bench streamed {short['audio_bytes']}")
# The table shows the JSON's numbers, rounded.
rows = {}
for line in open("table.txt"):
    f = line.split()
    if f and f[0] in ("short", "medium", "long") and len(f) == 8:
        rows[f[0]] = f
for t in r["texts"]:
    f = rows.get(t["name"])
    if not f:
        fail.append(f"no table row for {t['name']}")
        continue
    want = [str(t["chars"]), f"{t['audio_seconds']:.3f}", f"{t['wall_seconds']:.3f}",
            f"{t['rtf']:.3f}", f"{t['first_audio_seconds']:.3f}"]
    check(f[1:6] == want, f"table row {f} vs JSON {want}")
    check(abs(float(f[7]) - t["peak_rss_bytes"] / 2**20) < 0.06, f"table RSS {f[7]}")
table = open("table.txt").read()
check(re.search(r"^llm\s+[0-9.]+\s+[0-9.]+\s+[0-9.]+$", table, re.M), "no stage row for llm")
check("activation" in table and "RTF" in table and "first audio" in table, "table header")
for m in fail:
    print("FAIL", m)
raise SystemExit(1 if fail else 0)
PY

# --texts picks texts; the model may come from SPARK_MODEL_DIR as for `run`.
SPARK_MODEL_DIR=$work/model "$SPARKHOST" -q bench "$tts" --texts long,short \
    --input max_new_tokens=40 --json two.json > two.txt
"$SPARK_PYTHON" -c '
import json
names = [t["name"] for t in json.load(open("two.json"))["texts"]]
raise SystemExit(0 if names == ["short", "long"] else "texts: %s" % names)'

"$SPARKHOST" bench --help | grep -q -- "--runs N" || { echo "bench --help"; exit 1; }
"$SPARKHOST" --help | grep -q "bench PIPELINE" || { echo "sparkhost --help lacks bench"; exit 1; }

# Bad arguments: exit 2, a message naming the problem, no JSON file.
expect_usage() {
    local want=$1; shift
    set +e
    err=$("$SPARKHOST" bench "$@" --json bad.json 2>&1 >/dev/null)
    rc=$?
    set -e
    [ $rc -eq 2 ] && grep -q -- "$want" <<<"$err" && [ ! -e bad.json ] ||
        { echo "bench $*: exit $rc, wanted 2 and '$want': $err"; exit 1; }
}
expect_usage "needs a pipeline file" --model model
expect_usage "'--runs' needs\|--runs needs a whole number" "$tts" --model model --runs 0
expect_usage "not 'two'" "$tts" --model model --runs two
expect_usage "unknown text 'huge'" "$tts" --model model --texts short,huge
expect_usage "'$work/nowhere' is not a directory" "$tts" --model "$work/nowhere"
expect_usage "the bench sets 'text'" "$tts" --model model --input text=hello
expect_usage "the bench sets 'stream'" "$tts" --model model --input stream=false
expect_usage "needs KEY=VALUE" "$tts" --model model --input seed
expect_usage "unknown option or missing value: '--fast'" "$tts" --fast
expect_usage "unexpected argument 'again'" "$tts" again
expect_usage "needs the inputs text, stream and output" "$SPARK_SOURCE_DIR/configs/convert.yaml"
# A request the pipeline refuses fails like `run` does (exit 3), naming the field.
set +e
err=$("$SPARKHOST" bench "$tts" --model model --input pitch=loud --json bad.json 2>&1)
rc=$?
set -e
[ $rc -eq 3 ] && grep -q pitch <<<"$err" && [ ! -e bad.json ] ||
    { echo "bad pitch: exit $rc: $err"; exit 1; }
echo "bench: ok"
