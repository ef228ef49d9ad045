#!/usr/bin/env bash
# sparkhost run --stream: every streamable format gives the samples of the file written in
# one piece (ffmpeg decodes both); the WAV streaming header is read by ffprobe and ffmpeg
# from a pipe; -o - writes to a pipe while the job runs (the first bytes arrive before the
# job ends); a reader that goes away fails the job; a failing streamed job leaves no file;
# mp3 and pipelines without a 'stream' input are refused with clear messages.
set -u
fail=0
bad() { echo "FAIL: $*"; fail=1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export SPARK_TEST_OUT="$work/out"
mkdir -p "$SPARK_TEST_OUT"
pipelines="$SPARK_SOURCE_DIR/tests/graph/pipelines"
run() { "$SPARKHOST" --plugin-path "$SPARK_TEST_PLUGIN_DIR" run "$@"; }
# decode FILE RAWFORMAT [DEMUXER-ARGS...]: the samples as raw bytes, by ffmpeg
decode() {
    local file=$1 raw=$2; shift 2
    ffmpeg -v error "$@" -i "$file" -f "$raw" -
}

# 1. streamed == whole, in samples, for each format (mono pcm16 at 16 kHz; 20 packets)
for format in wav pcm flac ogg opus; do
    run "$pipelines/stream_audio.yaml" --input format=$format --input count=20 \
        -o whole.$format >/dev/null 2>whole.err || bad "$format whole: $(cat whole.err)"
    run "$pipelines/stream_audio.yaml" --input format=$format --input count=20 --stream \
        -o streamed.$format --json >result.json 2>streamed.err ||
        bad "$format streamed: $(cat streamed.err)"
    grep -q '"first_chunk":' result.json || bad "$format: no timings.first_chunk: $(cat result.json)"
    demux=()
    [ $format = pcm ] && demux=(-f s16le -ar 16000 -ac 1)
    decode "out/whole.$format" s16le "${demux[@]}" >whole.raw
    decode "out/streamed.$format" s16le "${demux[@]}" >streamed.raw
    size=$(stat -c %s whole.raw)
    [ "$size" -gt 60000 ] || bad "$format: only $size bytes decoded"
    cmp -s whole.raw streamed.raw || bad "$format: streamed samples differ from the whole file's"
done
# the lossless ones decode to exactly the source's 20 x 1600 frames
for format in wav pcm flac; do
    demux=()
    [ $format = pcm ] && demux=(-f s16le -ar 16000 -ac 1)
    n=$(decode "out/streamed.$format" s16le "${demux[@]}" | wc -c)
    [ "$n" -eq $((20 * 1600 * 2)) ] || bad "$format: streamed file has $n bytes of samples"
done
# raw pcm streamed is byte for byte the whole file; the WAV differs only in its two sizes
cmp -s out/whole.pcm out/streamed.pcm || bad "pcm: streamed bytes differ"
cmp -s <(tail -c +45 out/whole.wav) <(tail -c +45 out/streamed.wav) || bad "wav: data differs"
[ "$(od -An -tx1 -j4 -N4 out/streamed.wav | tr -d ' ')" = ffffffff ] || bad "wav: RIFF size set"
[ "$(od -An -tx1 -j40 -N4 out/streamed.wav | tr -d ' ')" = ffffffff ] || bad "wav: data size set"

# stereo float32 at 24 kHz: wav (IEEE float) and pcm (f32le)
for format in wav pcm; do
    run "$pipelines/stream_float.yaml" --input format=$format -o fwhole.$format >/dev/null ||
        bad "float $format whole"
    run "$pipelines/stream_float.yaml" --input format=$format --stream -o fstreamed.$format \
        >/dev/null || bad "float $format streamed"
    demux=()
    [ $format = pcm ] && demux=(-f f32le -ar 24000 -ac 2)
    decode "out/fwhole.$format" f32le "${demux[@]}" >fwhole.raw
    decode "out/fstreamed.$format" f32le "${demux[@]}" >fstreamed.raw
    [ "$(stat -c %s fwhole.raw)" -eq $((6 * 1600 * 2 * 4)) ] || bad "float $format: size"
    cmp -s fwhole.raw fstreamed.raw || bad "float $format: streamed samples differ"
done
probe=$(ffprobe -v error -show_entries stream=codec_name,sample_rate,channels -of \
    default=nw=1 out/fstreamed.wav)
grep -qx codec_name=pcm_f32le <<<"$probe" && grep -qx sample_rate=24000 <<<"$probe" &&
    grep -qx channels=2 <<<"$probe" || bad "float wav probe: $probe"

# 2. the WAV streaming header from a pipe: ffprobe reads it, ffmpeg decodes the same samples
probe=$(run "$pipelines/stream_audio.yaml" --input count=20 --stream -o - 2>/dev/null |
    ffprobe -v error -show_entries stream=codec_name,sample_rate,channels -of default=nw=1 -)
for want in codec_name=pcm_s16le sample_rate=16000 channels=1; do
    grep -qx "$want" <<<"$probe" || bad "ffprobe from a pipe lacks $want: $probe"
done
run "$pipelines/stream_audio.yaml" --input count=20 --stream -o - 2>piped.err |
    ffmpeg -v error -f wav -i - -f s16le - >piped.raw
decode out/whole.wav s16le >whole.raw
cmp -s whole.raw piped.raw || bad "-o - to ffmpeg: samples differ from the whole file's"
# the result goes to stderr when stdout carries the audio
grep -qx 'url: -' piped.err || bad "-o -: result not on stderr: $(cat piped.err)"
[ -z "$(ls -A out | grep -v -e '^whole\.' -e '^streamed\.' -e '^fwhole\.' -e '^fstreamed\.')" ] ||
    bad "-o - left files: $(ls -A out)"

# 3. the first bytes reach the pipe while the job still runs (5 packets, 300 ms each), and
#    -v says when; the reader checks the writer is still alive when the first byte comes
"$SPARK_PYTHON" - "$SPARKHOST" "$SPARK_TEST_PLUGIN_DIR" "$pipelines/stream_audio.yaml" <<'EOF' ||
import subprocess, sys
sparkhost, plugins, pipeline = sys.argv[1:4]
proc = subprocess.Popen([sparkhost, "--plugin-path", plugins, "-v", "run", pipeline,
                         "--stream", "-o", "-", "--input", "count=5", "--input", "delay_ms=300",
                         "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
first = proc.stdout.read(1)
alive_at_first_byte = proc.poll() is None
rest = proc.stdout.read()
err = proc.stderr.read().decode()
rc = proc.wait()
ok = True
if not (first == b"R" and alive_at_first_byte):
    print("first byte", first, "came after the job ended"); ok = False
if rc != 0 or len(first + rest) != 44 + 5 * 1600 * 2:
    print("rc", rc, "bytes", len(first + rest), err); ok = False
if "sparkhost: first streamed bytes after" not in err or '"first_chunk":' not in err:
    print("no time to first byte on stderr:", err); ok = False
sys.exit(0 if ok else 1)
EOF
    bad "first bytes before the job ends"

# 4. a reader that goes away: the job fails (exit 4) with a message, no file is left
run "$pipelines/stream_audio.yaml" --input count=50 --input delay_ms=20 --stream -o - \
    2>gone.err | head -c 100 >/dev/null
rc=${PIPESTATUS[0]}
[ "$rc" -eq 4 ] || bad "reader gone: exit $rc, want 4"
grep -q "writing the output to standard output failed" gone.err || bad "reader gone: $(cat gone.err)"

# 5. a streamed job that fails after its first pieces: exit 4, no file, nothing staged left
ls -A out >before.txt
run "$pipelines/stream_fail.yaml" -o failed.wav 2>failed.err
rc=$?
[ $rc -eq 4 ] || bad "failing stream: exit $rc, want 4"
grep -q "failed on purpose at packet 3" failed.err || bad "failing stream: $(cat failed.err)"
ls -A out | cmp -s - before.txt || bad "failing stream left files: $(ls -A out)"
# to a pipe, the pieces before the failure went out (header + 3 packets) and the exit says so
n=$(run "$pipelines/stream_fail.yaml" -o - 2>/dev/null | wc -c)
[ "$n" -eq $((44 + 3 * 1600 * 2)) ] || bad "failing stream to a pipe: $n bytes"

# 6. refusals: mp3 cannot stream; --stream needs a 'stream' input; exit codes by class
run "$pipelines/stream_audio.yaml" --input format=mp3 --stream -o x.mp3 2>mp3.err
rc=$?
[ $rc -eq 4 ] || bad "mp3 stream: exit $rc, want 4"
grep -q "mp3 cannot be streamed" mp3.err || bad "mp3 stream: $(cat mp3.err)"
[ ! -e out/x.mp3 ] || bad "mp3 stream left a file"
run "$pipelines/cancel.yaml" --input output=y.wav --stream 2>nostream.err
rc=$?
[ $rc -eq 2 ] || bad "--stream without a stream input: exit $rc, want 2"
grep -q "needs a pipeline with a 'stream' input" nostream.err || bad "$(cat nostream.err)"

[ $fail -eq 0 ] && echo "stream: ok"
exit $fail
