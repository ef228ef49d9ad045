#!/usr/bin/env bash
# The LLM benchmark of issue 5 on the `full` synthetic model (release shapes): per weight
# precision (f32, bf16, int8, each in its own process for its peak RSS) activation time,
# prefill tokens/s of a 300-token prompt and decode tokens/s at contexts 300 and 2000 with
# the grammar-restricted head, for 1 and 2 threads, beside the measured read bandwidth and
# the tokens/s it allows; then bf16 and int8 against f32 over 500 greedy steps.
#   bench/llm/run.sh [BUILD_DIR] [MODEL_DIR]
# (a Release build is best; default build-bench; MODEL_DIR default: synthesised once into
# $TMPDIR/spark-full-model, about 3.3 GB)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-bench}
model=${2:-${TMPDIR:-/tmp}/spark-full-model}
cmake --build "$build" --target bench_llm sparkhost >/dev/null
if [ ! -f "$model/LLM/model.safetensors" ]; then
    "$build/bin/sparkhost" -q model synth --preset full --seed 0 "$model" >/dev/null
fi
grep -m1 'model name' /proc/cpuinfo || true
echo "cores: $(nproc)"
for w in f32 bf16 int8; do
    "$build/bench/bench_llm" speed "$model" $w --threads 1,2 --prompt 300 --contexts 300,2000 \
        --steps 32
done
for w in bf16 int8; do
    "$build/bench/bench_llm" agreement "$model" $w --steps 500 --threads 2
done
