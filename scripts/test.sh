#!/usr/bin/env bash
# Builds sparkhost and runs every test, the gpu label only where there is an NVIDIA GPU (making
# the reference-library virtualenv .venv first when needed).
#   scripts/test.sh            normal build in build/
#   scripts/test.sh --sanitize AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
#                              (all but the gpu and slow labels)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
skip=gpu
if [ "${1:-}" = "--sanitize" ]; then
    dir=build-asan
    flags=(-DCMAKE_BUILD_TYPE=Debug -DSPARK_SANITIZE=ON)
    skip='gpu|slow' # the full-size model synth is checked once, in the normal build
fi
tests/reference/setup-venv.sh
cmake -S . -B "$dir" "${flags[@]}"
cmake --build "$dir" -j"$(nproc)"
ctest --test-dir "$dir" -LE "$skip" --output-on-failure -j"$(nproc)"
# The gpu label needs an NVIDIA GPU: run it where there is one, say so where there is none.
if [ "$dir" = build ]; then
    gpu_tests=$(ctest --test-dir "$dir" -N -L gpu | sed -n 's/^Total Tests: //p')
    if [ "${gpu_tests:-0}" -eq 0 ]; then
        echo "test.sh: no gpu tests in this build (SPARK_CUDA is off)"
    elif command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
        ctest --test-dir "$dir" -L gpu --output-on-failure
    else
        echo "test.sh: the gpu label ($gpu_tests tests) is skipped: no NVIDIA GPU here"
    fi
fi
