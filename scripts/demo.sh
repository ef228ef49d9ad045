#!/usr/bin/env bash
# Builds sparkhost (Release) and runs the bundled default job: configs/convert.yaml on a
# two-second test recording made with ffmpeg, written to out/demo.flac.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DSPARK_BUILD_TESTS=OFF
cmake --build build-release -j"$(nproc)"
mkdir -p out
input=${1:-out/demo-input.wav}
if [ ! -e "$input" ]; then
    ffmpeg -loglevel error -y -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=2" \
        -ac 2 "$input"
fi
build-release/bin/sparkhost run configs/convert.yaml --input input="$input" -o out/demo.flac
