#!/usr/bin/env bash
# sparkhost model synth and model info on the tiny preset: help and usage errors, byte-identical
# output for a seed (and different weights, same structure, for another), a complete and
# consistent report, and each kind of problem `model info` must catch (exit 3, listed).
set -u
fail=0
bad() { echo "FAIL: $*"; fail=1; }
expect_rc() { # expect_rc WANT CMD...
    local want=$1; shift
    out=$("$@" 2>"$errfile"); rc=$?
    err=$(cat "$errfile")
    [ "$rc" -eq "$want" ] || bad "'$*' exited $rc, want $want (stderr: $err)"
}
expect_out() { grep -Eq -- "$1" <<<"$out" || bad "${2:-output} lacks /$1/"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
errfile=$work/stderr

# help and usage errors
for sub in synth info; do
    expect_rc 0 "$SPARKHOST" model "$sub" --help
    expect_out "^usage: sparkhost model $sub" "model $sub --help"
done
expect_rc 0 "$SPARKHOST" model --help
expect_out "^usage: sparkhost model synth" "model --help"
expect_rc 2 "$SPARKHOST" model synth "$work/x"
grep -q -- "--preset is required" <<<"$err" || bad "missing preset message: $err"
expect_rc 2 "$SPARKHOST" model synth --preset huge "$work/x"
grep -q "unknown preset 'huge'" <<<"$err" || bad "unknown preset message: $err"
expect_rc 2 "$SPARKHOST" model synth --preset tiny --seed -1 "$work/x"
expect_rc 2 "$SPARKHOST" model synth --preset tiny --seed 12abc "$work/x"
expect_rc 2 "$SPARKHOST" model synth --preset tiny
expect_rc 2 "$SPARKHOST" model info
expect_rc 2 "$SPARKHOST" model info --bogus "$work"
expect_rc 3 "$SPARKHOST" model info "$work/nowhere"
[ -e "$work/x" ] && bad "a usage error created the output directory"
touch "$work/file"
expect_rc 4 "$SPARKHOST" model synth --preset tiny "$work/file"
grep -q "file: not a directory" <<<"$err" || bad "writing over a file: $err"

# determinism: same seed, same bytes; another seed, same structure and other weights
start=$(date +%s%N)
expect_rc 0 "$SPARKHOST" model synth --preset tiny --seed 7 "$work/a"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "tiny synth: ${ms} ms, $(du -sk "$work/a" | cut -f1) kB"
expect_out "^wrote .*preset tiny, seed 7"
expect_rc 0 "$SPARKHOST" -q model synth --preset tiny --seed=7 "$work/b"
[ -z "$out" ] || bad "-q still printed: $out"
diff -r "$work/a" "$work/b" >/dev/null || bad "two runs with seed 7 differ: $(diff -rq "$work/a" "$work/b")"
expect_rc 0 "$SPARKHOST" model synth --preset tiny --seed 8 "$work/c"
[ "$(cd "$work/a" && find . -type f | sort)" = "$(cd "$work/c" && find . -type f | sort)" ] ||
    bad "seeds 7 and 8 give different file lists"
for f in config.yaml LLM/config.json LLM/tokenizer.json LLM/merges.txt BiCodec/config.yaml \
         wav2vec2-large-xlsr-53/config.json; do
    cmp -s "$work/a/$f" "$work/c/$f" || bad "$f depends on the seed"
done
for f in LLM/model.safetensors BiCodec/model.safetensors wav2vec2-large-xlsr-53/pytorch_model.bin; do
    [ "$(stat -c %s "$work/a/$f")" = "$(stat -c %s "$work/c/$f")" ] || bad "$f: size depends on the seed"
    cmp -s "$work/a/$f" "$work/c/$f" && bad "$f: seeds 7 and 8 give the same weights"
done
# writing over an existing model with the same seed changes nothing
expect_rc 0 "$SPARKHOST" model synth --preset tiny --seed 7 "$work/c"
diff -r "$work/a" "$work/c" >/dev/null || bad "re-synthesising over seed 8 with seed 7 differs"
[ -z "$(find "$work/a" -name '*.part')" ] || bad "temporary files left behind"

# info: complete, consistent, with the expected counts
expect_rc 0 "$SPARKHOST" model info "$work/a"
expect_out "^status: complete and consistent$"
expect_out "^  llm +LLM/model.safetensors +26 tensors \(26 expected\), F32 26"
expect_out "^  bicodec +BiCodec/model.safetensors +595 tensors \(595 expected\), F32 566 I64 29"
expect_out "^  wav2vec2 +wav2vec2-large-xlsr-53/pytorch_model.bin +317 tensors \(317 expected\)"
expect_out "Qwen2: hidden 64, 2 layers, 4 heads \(2 kv\), head 16, mlp 128, vocab 8000, tied"
expect_out "^tokenizer: 1024 regular tokens \(768 merges\), 6347 added; <\|endoftext\|> 1024, <\|im_end\|> 1026"
expect_out "^  bicodec_semantic +1024 tokens from id 5142$"
expect_rc 0 "$SPARKHOST" model info --json "$work/a"
printf '%s' "$out" >"$work/info.json"
python3 - "$work/info.json" <<'EOF' || bad "info --json content"
import json, sys
info = json.load(open(sys.argv[1]))
assert info["ok"] and info["problems"] == [], info["problems"]
counts = {c["name"]: (c["tensor_count"], c["expected_count"]) for c in info["components"]}
assert counts == {"llm": (26, 26), "bicodec": (595, 595), "wav2vec2": (317, 317)}, counts
for c in info["components"]:
    assert all(t["status"] == "ok" for t in c["tensors"]) and c["missing"] == []
assert info["config"]["llm"]["vocab_size"] == 8000
assert info["tokenizer"]["families"][2]["name"] == "bicodec_semantic"
EOF

# problems: each is found, listed, and makes the exit code 3
broken() { rm -rf "$work/x"; cp -r "$work/a" "$work/x"; }
# (but YAML written the way the release writes it is no problem)
broken; sed -i -e 's/: true$/: True/' -e 's/\[1, 1\]/[1,1]/' -e 's/^  encoder:$/  encoder: # feature encoder/' \
    -e '1i # BiCodec settings' "$work/x/BiCodec/config.yaml"
grep -q 'use_l2_normlize: True' "$work/x/BiCodec/config.yaml" || bad "the YAML edit did not apply"
expect_rc 0 "$SPARKHOST" model info "$work/x"
broken; rm "$work/x/BiCodec/model.safetensors"
expect_rc 3 "$SPARKHOST" model info "$work/x"
expect_out "^  BiCodec/model.safetensors is missing"
broken; rm "$work/x/LLM/vocab.json"
expect_rc 0 "$SPARKHOST" model info "$work/x"
expect_out "^note: LLM/vocab.json is missing" "optional file"
broken; cp "$work/a/LLM/model.safetensors" "$work/x/BiCodec/model.safetensors"
expect_rc 3 "$SPARKHOST" model info "$work/x"
expect_out "BiCodec/model.safetensors: missing tensor decoder.model.0.weight_g F32 \[64, 1, 1\]"
expect_out "BiCodec/model.safetensors: unexpected tensor model.norm.weight F32 \[64\]"
broken; sed -i 's/"intermediate_size":\t128/"intermediate_size":\t96/' "$work/x/LLM/config.json"
expect_rc 3 "$SPARKHOST" model info "$work/x"
expect_out "LLM/model.safetensors: tensor model.layers.0.mlp.up_proj.weight is F32 \[128, 64\], expected F32 \[96, 64\]"
broken; sed -i 's/"eos_token_id":\t1026/"eos_token_id":\t1025/' "$work/x/LLM/config.json"
expect_rc 3 "$SPARKHOST" model info "$work/x"
expect_out "eos_token_id 1025 is not <\|im_end\|> \(1026\)"
broken; sed -i 's/vocos_num_layers: 2/vocos_num_layers: 3/' "$work/x/BiCodec/config.yaml"
expect_rc 3 "$SPARKHOST" model info "$work/x"
expect_out "missing tensor encoder.encoder.convnext.2.gamma"
broken; sed -i 's/    input_channels: 32/    input_channels: 48/' "$work/x/BiCodec/config.yaml"
expect_rc 3 "$SPARKHOST" model info "$work/x"
expect_out "encoder.input_channels 48 differs from the wav2vec2 hidden_size 32"
broken; sed -i 's/^sample_rate: 16000/sample_rate: fast/' "$work/x/config.yaml"
expect_rc 3 "$SPARKHOST" model info "$work/x"
expect_out "config.yaml: sample_rate must be a positive integer"
broken; python3 - "$work/x/LLM/tokenizer.json" <<'EOF'
import json, sys
path = sys.argv[1]
t = json.load(open(path, encoding="utf-8"))
t["added_tokens"] = [a for a in t["added_tokens"] if a["content"] != "<|bicodec_semantic_7|>"]
json.dump(t, open(path, "w", encoding="utf-8"), ensure_ascii=False)
EOF
expect_rc 3 "$SPARKHOST" model info "$work/x"
expect_out "token family bicodec_semantic has 1023 of its 1024 tokens with consecutive ids"
broken; head -c 1000 "$work/a/BiCodec/model.safetensors" >"$work/x/BiCodec/model.safetensors"
expect_rc 3 "$SPARKHOST" model info --json "$work/x"
python3 -c 'import json,sys; i=json.load(sys.stdin); assert not i["ok"] and any("BiCodec/model.safetensors" in p for p in i["problems"]), i["problems"]' <<<"$out" ||
    bad "a truncated weights file is not reported in --json"

[ "$fail" -eq 0 ] && echo "model synth/info: all checks passed"
exit "$fail"
