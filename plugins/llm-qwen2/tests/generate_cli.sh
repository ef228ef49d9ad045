#!/usr/bin/env bash
# `sparkhost generate` on the tiny model against the committed transformers dumps: the 64
# greedy ids and the --dump-logits .npy (prefill's last position, then every step), an f16 KV
# cache, bf16 and int8 runs, a constrained run, and the usage errors. Usage: generate_cli.sh WORK_DIR
set -euo pipefail
work=$1
ref=$SPARK_SOURCE_DIR/tests/llm/reference
python=${SPARK_PYTHON:-}
if [ -z "$python" ] || [ ! -x "$python" ]; then
    echo "FAIL: SPARK_PYTHON ($python) is not an executable; run tests/reference/setup-venv.sh" >&2
    exit 1
fi
rm -rf "$work" && mkdir -p "$work"
"$SPARKHOST" -q model synth --preset tiny --seed 0 "$work/tiny" >/dev/null
prompt=$("$python" -c "import json; print(json.dumps(json.load(open('$ref/llm_reference.json'))['prompts'][0]))")
want=$("$python" -c "import json; print(json.dumps(json.load(open('$ref/llm_reference.json'))['greedy_tokens']).replace(' ', ''))")

got=$("$SPARKHOST" -q generate --model "$work/tiny" --ids "$prompt" --greedy --max-new 64 \
      --stop none --dump-logits "$work/logits.npy")
[ "$got" = "$want" ] || { echo "FAIL: greedy ids $got, transformers $want" >&2; exit 1; }
"$python" - "$work/logits.npy" "$ref/greedy_logits.npy" <<'PY'
import sys, numpy as np
got, ref = np.load(sys.argv[1]), np.load(sys.argv[2])
assert got.shape == ref.shape, (got.shape, ref.shape)
d = float(np.abs(got - ref).max()); tol = 1e-4 * max(1.0, float(ref.max() - ref.min()))
print(f"generate --dump-logits: {got.shape[0]} steps, max |diff| {d:.3g} (tolerance {tol:.3g})")
assert d <= tol
PY
echo "$prompt" > "$work/prompt.json"

# f32 weights with an f16 KV cache: transformers' logits within what f16 rounding of the
# cached keys and values costs (2^-11 relative; 2e-3 of the logit range)
"$SPARKHOST" -q generate --model "$work/tiny" --ids "$prompt" --greedy --max-new 64 --stop none \
    --kv f16 --dump-logits "$work/kv16.npy" >/dev/null
"$python" - "$work/kv16.npy" "$ref/greedy_logits.npy" "$work/logits.npy" <<'PY'
import sys, numpy as np
got, ref, f32 = (np.load(a) for a in sys.argv[1:])
scale = max(1.0, float(ref.max() - ref.min()))
d, d32 = float(np.abs(got - ref).max()), float(np.abs(f32 - ref).max())
print(f"generate --kv f16: max |diff| {d:.3g} ({d / scale:.2g} of the range; f32 cache {d32:.3g})")
assert d <= 2e-3 * scale
assert d > d32  # the f16 cache really was used
PY
for w in bf16 int8; do
    out=$("$SPARKHOST" -q generate --model "$work/tiny" --ids @"$work/prompt.json" --weights $w \
          --greedy --max-new 64 --stop none)
    "$python" -c "
a, b = $out, $want
same = sum(x == y for x, y in zip(a, b))
print('$w greedy: %d of 64 ids equal the f32 ones; first difference at step %s' % (same, next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), 'none')))
assert len(a) == 64"
done

# constrained: the first ids are the acoustic section's start and a pitch value
added=$work/tiny/LLM/added_tokens.json
c=$("$SPARKHOST" -q generate --model "$work/tiny" --ids "$prompt" --constrain auto --seed 5 \
    --max-new 50 --dump-logits "$work/c.npy")
"$python" - "$c" "$added" "$work/c.npy" <<'PY'
import json, sys, numpy as np
ids, added = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
assert ids[0] == added["<|start_acoustic_token|>"], ids[:3]
assert added["<|pitch_value_0|>"] <= ids[1] <= added["<|pitch_value_1000|>"], ids[:3]
logits = np.load(sys.argv[3])
assert logits.shape[0] == len(ids)
assert np.isfinite(logits[0]).sum() == 1  # only <|start_acoustic_token|> allowed
print("generate --constrain auto: grammar respected, disallowed logits are -inf")
PY

# usage errors: exit 2 and the option named; nothing written
expect_usage() {
    set +e; msg=$("$SPARKHOST" generate "$@" 2>&1 >/dev/null); rc=$?; set -e
    [ $rc -eq 2 ] || { echo "FAIL: generate $* exited $rc: $msg" >&2; exit 1; }
    echo "usage error ok: $msg"
}
expect_usage --model "$work/tiny" --ids "[1,2" --greedy
expect_usage --model "$work/tiny" --ids "[1,-2]" --greedy
expect_usage --model "$work/tiny" --ids "[1,2]" --weights f16
expect_usage --model "$work/tiny" --ids "[1,2]" --kv f8
expect_usage --model "$work/tiny" --ids "[1,2]" --top-p 1.5
expect_usage --model "$work/tiny" --ids "[1,2]" --constrain maybe
set +e
msg=$("$SPARKHOST" generate --model "$work/tiny" --ids "[1,99999]" --greedy --dump-logits "$work/x.npy" 2>&1)
rc=$?
set -e
[ $rc -eq 3 ] && [[ $msg == *"outside the vocabulary"* ]] && [ ! -e "$work/x.npy" ] || {
    echo "FAIL: an id outside the vocabulary: exit $rc, '$msg'" >&2; exit 1; }
echo "sparkhost generate: ok"
