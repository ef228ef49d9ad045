#!/usr/bin/env bash
# Builds sparkhost (Release) and runs the main job: configs/tts.yaml speaks a short text into
# out/demo.wav with subtitles in out/demo.ass. It uses the model in $SPARK_MODEL_DIR or
# models/Spark-TTS-0.5B; without one (no access to the hub) it makes a random-weight model
# of the release's layout, so the whole pipeline runs, but the voice is noise.
#   scripts/demo.sh ["text to say"]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DSPARK_BUILD_TESTS=OFF
cmake --build build-release -j"$(nproc)"
sparkhost=build-release/bin/sparkhost
text=${1:-"Hello from sparkhost. This sentence was synthesised on your own machine."}
model=${SPARK_MODEL_DIR:-models/Spark-TTS-0.5B}
limit=()
if [ ! -e "$model/config.yaml" ]; then
    model=models/synthetic-tiny
    [ -e "$model/config.yaml" ] || "$sparkhost" model synth --preset tiny --seed 1 "$model"
    cat >&2 <<MSG
sparkhost demo: no Spark-TTS model in ${SPARK_MODEL_DIR:-models/Spark-TTS-0.5B}, so this run
uses a synthetic model with random weights ($model): the pipeline runs end to end, but the
voice is random noise until the real model is fetched with
    $sparkhost model fetch --only-inference
MSG
    limit=(--input max_new_tokens=250) # random weights never say "end": 5 s per sentence
fi
SPARK_MODEL_DIR=$model "$sparkhost" run configs/tts.yaml --text "$text" --input seed=1 \
    -o demo.wav --input subtitles_output=demo.ass "${limit[@]}"
