#!/usr/bin/env bash
# sparkhost against the upstream SparkTTS class end to end (tests/reference/data/e2e, made by
# tests/reference/e2e_reference.py): the test pipelines of this folder (f32 weights, greedy,
# no grammar, the whole text one segment, float WAV out) on the tiny synthetic model must give
# the same prompt ids, the same generated ids and the same waveform (see compare_e2e.py).
#   e2e_reference.sh RECORDER_PLUGIN_DIR
set -eu
: "${SPARKHOST:?}" "${SPARK_PYTHON:?}" "${SPARK_SOURCE_DIR:?}"
[ $# -eq 1 ] || { echo "usage: e2e_reference.sh RECORDER_PLUGIN_DIR" >&2; exit 2; }
[ -x "$SPARK_PYTHON" ] || { echo "no Python at $SPARK_PYTHON (tests/reference/setup-venv.sh)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$SPARKHOST" model synth --preset tiny --seed 1 "$work/model" >/dev/null
export SPARK_MODEL_DIR=$work/model
export SPARK_PLUGIN_PATH=${SPARK_PLUGIN_PATH:+$SPARK_PLUGIN_PATH:}$1
cd "$work"
exec "$SPARK_PYTHON" "$SPARK_SOURCE_DIR/tests/e2e/compare_e2e.py" \
    "$SPARK_SOURCE_DIR/tests/reference/data/e2e" "$SPARK_SOURCE_DIR/tests/e2e/pipelines"
