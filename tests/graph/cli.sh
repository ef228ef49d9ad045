#!/usr/bin/env bash
# The sparkhost command line: help texts, plugin listing and inspection, exit codes by
# error class, one-line errors, and silence on stderr when it is not a terminal.
set -u
fail=0
bad() { echo "FAIL: $*"; fail=1; }
expect_rc() { # expect_rc WANT CMD...
    local want=$1; shift
    out=$("$@" 2>"$errfile"); rc=$?
    err=$(cat "$errfile")
    [ "$rc" -eq "$want" ] || bad "'$*' exited $rc, want $want (stderr: $err)"
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
errfile=$work/stderr
cd "$work"

for cmd in "" "run" "validate" "plugins"; do
    # shellcheck disable=SC2086
    expect_rc 0 "$SPARKHOST" $cmd --help
    grep -q '^usage: sparkhost' <<<"$out" || bad "'sparkhost $cmd --help' prints no usage"
done
expect_rc 0 "$SPARKHOST" --version
grep -q '^sparkhost .*plugin ABI' <<<"$out" || bad "--version: $out"

# usage errors: 2, one line on stderr naming the problem
expect_rc 2 "$SPARKHOST" frobnicate
grep -q "unknown command 'frobnicate'" <<<"$err" || bad "unknown command message: $err"
[ "$(wc -l <<<"$err")" -eq 1 ] || bad "usage error is not one line: $err"
expect_rc 2 "$SPARKHOST" run
expect_rc 2 "$SPARKHOST" run x.yaml --bogus
expect_rc 2 "$SPARKHOST" validate

# plugins list: every plugin built, with id, version and file
expect_rc 0 "$SPARKHOST" plugins list
for id in org.sparkhost.core.join org.sparkhost.core.fetch org.sparkhost.core.store \
          org.sparkhost.audio.decode org.sparkhost.audio.resample org.sparkhost.audio.encode \
          org.sparkhost.storage.local org.sparkhost.text.segment; do
    grep -Eq "^$id +[0-9]+\.[0-9]+\.[0-9]+ +(node|storage) +/.*\.so$|^$id +[0-9.]+ +node +\(built in\)$" \
        <<<"$out" || bad "plugins list lacks $id"
done
[ -z "$err" ] || bad "plugins list printed on stderr: $err"

# plugins inspect: ports and parameters of the local storage and of a node
expect_rc 0 "$SPARKHOST" plugins inspect org.sparkhost.storage.local
for want in '^kind: +storage' '^schemes: .*file' '^parameters:' '^  root +url +default \.' \
            '^  create_root +boolean' '^  durable +boolean'; do
    grep -Eq "$want" <<<"$out" || bad "inspect storage-local lacks /$want/"
done
expect_rc 0 "$SPARKHOST" plugins inspect org.sparkhost.core.store
for want in '^ports:' '^  in +in +blob' '^  url +url +default \{job_id\}/\{file_name\}, per job' \
            '^results:' '^  url +string'; do
    grep -Eq "$want" <<<"$out" || bad "inspect store lacks /$want/"
done
expect_rc 3 "$SPARKHOST" plugins inspect org.sparkhost.nope

# invalid pipeline: 3; invalid request: 3; failed job: 4
expect_rc 3 "$SPARKHOST" validate "$SPARK_SOURCE_DIR/configs/test/bad_cycle.yaml"
expect_rc 3 "$SPARKHOST" run "$SPARK_SOURCE_DIR/configs/convert.yaml" --input format=mp4
grep -q "sparkhost: input 'format' must be one of wav, flac, ogg, opus, mp3, got 'mp4'" \
    <<<"$err" || bad "request error message: $err"
expect_rc 3 "$SPARKHOST" run "$SPARK_SOURCE_DIR/configs/convert.yaml"
grep -q "request field 'input' is required" <<<"$err" || bad "missing field message: $err"
expect_rc 4 "$SPARKHOST" run "$SPARK_SOURCE_DIR/configs/convert.yaml" --input input=missing.wav
grep -q "node 'read'" <<<"$err" && grep -q "missing.wav" <<<"$err" || bad "job error: $err"
[ "$(wc -l <<<"$err")" -eq 1 ] || bad "job error is not one line: $err"

# a job that works, quiet on stderr when stderr is not a terminal
ffmpeg -loglevel error -f lavfi -i "sine=frequency=440:sample_rate=22050:duration=1" in.wav
expect_rc 0 "$SPARKHOST" run "$SPARK_SOURCE_DIR/configs/convert.yaml" --input input=in.wav \
    -o out/a.ogg --input format=ogg
[ -z "$err" ] || bad "stderr not silent: $err"
grep -q '^url: file://.*/out/a.ogg$' <<<"$out" || bad "run output: $out"
grep -q '^format: ogg$' <<<"$out" || bad "run output lacks the format: $out"
expect_rc 0 "$SPARKHOST" run "$SPARK_SOURCE_DIR/configs/convert.yaml" --input input=in.wav \
    -o out/b.wav --input format=wav --json
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["sample_rate"]==16000 and d["channels"]==1 and abs(d["duration"]-1)<0.01, d' "$out" \
    || bad "--json result: $out"

# the job text from --text, --text-file and standard input
segment=(--plugin-path "$SPARK_TEST_PLUGIN_DIR" run "$SPARK_SOURCE_DIR/tests/graph/pipelines/segment.yaml")
expect_rc 0 "$SPARKHOST" "${segment[@]}" --text "Hello there.  How are you?"
grep -qx 'text: Hello there.How are you?' <<<"$out" || bad "--text: $out"
printf 'First line\nSecond line' >text.txt
expect_rc 0 "$SPARKHOST" "${segment[@]}" --text-file text.txt
grep -qx 'text: First lineSecond line' <<<"$out" || bad "--text-file: $out"
out=$(printf 'From stdin. Really.' | "$SPARKHOST" "${segment[@]}" - 2>"$errfile") || bad "stdin run failed"
grep -qx 'text: From stdin.Really.' <<<"$out" || bad "stdin: $out"
expect_rc 2 "$SPARKHOST" "${segment[@]}" --text-file missing.txt
grep -q "cannot read text file 'missing.txt'" <<<"$err" || bad "missing text file: $err"

# SIGTERM and Ctrl-C cancel the running job: exit 4, a message, and no output file left
for sig in TERM INT; do
    mkdir -p "sig$sig"
    SPARK_TEST_OUT="$PWD/sig$sig" "$SPARKHOST" --plugin-path "$SPARK_TEST_PLUGIN_DIR" run \
        "$SPARK_SOURCE_DIR/tests/graph/pipelines/cancel.yaml" --input output=out.wav \
        2>"sig$sig.err" &
    pid=$!
    sleep 1
    kill -$sig $pid
    wait $pid
    rc=$?
    [ $rc -eq 4 ] || bad "SIG$sig: exit $rc, want 4: $(cat "sig$sig.err")"
    grep -q "cancelling the job" "sig$sig.err" || bad "SIG$sig: no message: $(cat "sig$sig.err")"
    [ -z "$(ls -A "sig$sig")" ] || bad "SIG$sig left files: $(ls -A "sig$sig")"
done

[ $fail -eq 0 ] && echo "cli: ok"
exit $fail
