#!/usr/bin/env bash
# Qwen2 tokenizer throughput, C vs Hugging Face tokenizers, single thread, same 10 MB
# mixed-language text, same run. Builds the real Qwen2 vocabulary tokenizer with
# tests/reference/tokenizer_reference.py (needs .venv: tests/reference/setup-venv.sh).
#   bench/tokenizer/run.sh [BUILD_DIR]   (a Release build is best; default build-bench)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-bench}
python=.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --build "$build" --target bench_tokenizer >/dev/null
"$python" tests/reference/tokenizer_reference.py "$work/ref" >/dev/null
"$python" bench/tokenizer/tokenizers_side.py write "$work/text.txt"
c=$("$build/bench/bench_tokenizer" "$work/ref/qwen" "$work/text.txt")
py=$("$python" bench/tokenizer/tokenizers_side.py time "$work/ref/qwen/tokenizer.json" "$work/text.txt")
echo "$c"; echo "$py"
for mode in whole lines; do
    cd_=$(grep "^c $mode:" <<<"$c" | sed 's/.*digest //')
    pd_=$(grep "^tokenizers $mode:" <<<"$py" | sed 's/.*digest //')
    [ "$cd_" = "$pd_" ] || { echo "ids differ from tokenizers ($mode)"; exit 1; }
    cr=$(grep "^c $mode:" <<<"$c" | sed 's/.*= \([0-9.]*\) MB\/s.*/\1/')
    pr=$(grep "^tokenizers $mode:" <<<"$py" | sed 's/.*= \([0-9.]*\) MB\/s.*/\1/')
    echo "$mode: ids identical; C / tokenizers = $(awk "BEGIN{printf \"%.2f\", $cr/$pr}")"
done
