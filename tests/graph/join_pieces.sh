#!/usr/bin/env bash
# The join node puts its gap between pieces (runs of packets with one seq), never inside a
# piece: six 0.1 s packets in pieces of 2, 3 and 1 packets, checked by ffprobe's duration.
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
check() { # check PER_PIECE WANT_SECONDS
    "$SPARKHOST" --plugin-path "$SPARK_TEST_PLUGIN_DIR" run \
        "$SPARK_SOURCE_DIR/tests/graph/pipelines/join_pieces.yaml" \
        --input per_piece="$1" -o "out/$1.wav" >/dev/null
    duration=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "out/$1.wav")
    awk -v d="$duration" -v w="$2" 'BEGIN { exit !(d > w - 0.001 && d < w + 0.001) }' || {
        echo "per_piece $1: duration $duration, want $2"; exit 1; }
}
check 2 1.6   # 0.6 s of audio, 3 pieces: 2 gaps of 0.5 s
check 3 1.1   # 2 pieces: 1 gap
check 1 3.1   # 6 pieces: 5 gaps
echo "join_pieces: ok"
