#!/usr/bin/env bash
# Builds sparkhost and runs every test but the gpu label (making the reference-library
# virtualenv .venv first when needed).
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
