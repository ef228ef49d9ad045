#!/usr/bin/env bash
# `sparkhost validate` on every configs/test/bad_*.yaml must fail with exit code 3 and print
# the problem the file's first line announces ("# expect: LINE: message"), at file:LINE.
set -u
fail=0
for f in "$SPARK_SOURCE_DIR"/configs/test/bad_*.yaml; do
    expect=$(head -1 "$f" | sed -n 's/^# expect: //p')
    if [ -z "$expect" ]; then
        echo "FAIL $f: no '# expect:' line"; fail=1; continue
    fi
    err=$("$SPARKHOST" validate "$f" 2>&1 >/dev/null); rc=$?
    if [ "$rc" -ne 3 ]; then
        echo "FAIL $f: exit code $rc, want 3"; fail=1
    fi
    line=${expect%%:*}; message=${expect#*: }
    if ! grep -qF -- "$f:$line: " <<<"$err" || ! grep -qF -- "$message" <<<"$err"; then
        echo "FAIL $f: want '$f:$line: ...$message', got:"; echo "$err"; fail=1
    fi
done
for f in "$SPARK_SOURCE_DIR"/configs/test/[!b]*.yaml "$SPARK_SOURCE_DIR"/configs/*.yaml; do
    [ -e "$f" ] || continue
    if ! out=$("$SPARKHOST" validate "$f" 2>&1); then
        echo "FAIL $f should validate:"; echo "$out"; fail=1
    fi
done
[ $fail -eq 0 ] && echo "all pipelines validated as expected"
exit $fail
