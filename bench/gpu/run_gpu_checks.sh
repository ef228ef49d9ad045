#!/bin/sh
# run_gpu_checks.sh BUILD_DIR [MODEL_DIR] - on a machine with an NVIDIA GPU: the gpu-labelled
# tests (tiny and full synthetic models), then the GPU benchmark in bf16 and f32, on the
# release model when MODEL_DIR is given, else on the full synthetic preset. Prints everything;
# exits non-zero when a test fails or the benchmark cannot run.
set -eu
build=${1:?usage: run_gpu_checks.sh BUILD_DIR [MODEL_DIR]}
model=${2:-}
nvidia-smi || echo "nvidia-smi not found; the tests say whether a GPU is usable"
ctest --test-dir "$build" -L gpu --output-on-failure
if [ -n "$model" ]; then
    "$build/bench/bench_gpu" "$model" --weights bf16
    "$build/bench/bench_gpu" "$model" --weights f32
else
    "$build/bench/bench_gpu" --synth full --weights bf16
    "$build/bench/bench_gpu" --synth full --weights f32
fi
