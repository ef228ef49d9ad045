#!/usr/bin/env bash
# A tiny synthetic model through the reference Python libraries: tests/reference/model_check.py
# loads every file and compares it with `sparkhost model info --json` (issue 3, acceptance 1a).
set -u
if [ ! -x "${SPARK_PYTHON:-}" ]; then
    echo "FAIL: the reference virtualenv is missing (SPARK_PYTHON='${SPARK_PYTHON:-}');" \
         "create it with tests/reference/setup-venv.sh"
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 # a local directory only
"$SPARKHOST" -q model synth --preset tiny --seed 11 "$work/model" || { echo "FAIL: synth"; exit 1; }
"$SPARKHOST" model info --json "$work/model" >"$work/info.json" ||
    { echo "FAIL: model info reports problems"; cat "$work/info.json"; exit 1; }
"$SPARK_PYTHON" "$SPARK_SOURCE_DIR/tests/reference/model_check.py" "$work/model" "$work/info.json"
