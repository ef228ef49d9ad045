#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (AddressSanitizer + UBSan) and runs each for a
# fixed time on a copy of its seed corpus. Any crash, leak or sanitizer report fails.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/../.."
budget=${1:-30}
dir=build-fuzz
CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DSPARK_SANITIZE=ON \
    -DSPARK_FUZZ=ON >/dev/null
targets=()
for corpus in tests/fuzz/corpus/*/; do targets+=("$(basename "$corpus")"); done
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for corpus in tests/fuzz/corpus/*/; do
    name=$(basename "$corpus")
    target="$dir/fuzz/$name"
    [ -x "$target" ] || { echo "fuzz: no target built for corpus $name"; status=1; continue; }
    mkdir -p "$work/$name"
    cp -r "$corpus". "$work/$name/"
    echo "fuzz: $name for ${budget}s"
    if ! "$target" -max_total_time="$budget" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 "$work/$name" >"$work/$name.log" 2>&1; then
        echo "fuzz: $name FAILED"; tail -50 "$work/$name.log"; status=1
    else
        grep -E '^stat::number_of_executed_units' "$work/$name.log" || true
    fi
done
exit $status
