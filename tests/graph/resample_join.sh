#!/usr/bin/env bash
# A 44.1 kHz stereo WAV is decoded in 0.5 s pieces, resampled to 16 kHz mono, joined with
# 0.3 s gaps, encoded as FLAC and stored; ffprobe (an independent decoder) checks the file.
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
ffmpeg -loglevel error -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=1.6" \
    -ac 2 -c:a pcm_s16le in.wav
"$SPARKHOST" run "$SPARK_SOURCE_DIR/configs/test/resample_join.yaml" --input input=in.wav \
    -o out/joined.flac --json > result.json
probe=$(ffprobe -v error -select_streams a:0 -show_entries stream=codec_name,sample_rate,channels \
    -show_entries format=duration -of default=noprint_wrappers=1 out/joined.flac)
echo "$probe"
grep -qx 'codec_name=flac' <<<"$probe"
grep -qx 'sample_rate=16000' <<<"$probe"
grep -qx 'channels=1' <<<"$probe"
duration=$(sed -n 's/^duration=//p' <<<"$probe")
# 1.6 s of audio in 4 pieces (0.5, 0.5, 0.5, 0.1 s) plus 3 gaps of 0.3 s = 2.5 s
awk -v d="$duration" 'BEGIN { exit !(d > 2.49 && d < 2.51) }' || {
    echo "duration $duration, want 2.5 s"; exit 1; }
grep -q '"url":"file://' result.json
ls -A out | grep -qvx 'joined.flac' && { echo "stray files in out/"; ls -A out; exit 1; }
echo "resample_join: ok"
