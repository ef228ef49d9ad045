#!/usr/bin/env bash
# The installed tree: `cmake --install` puts sparkhost, the plugins and the SDK under a
# prefix; the template plugin is built out of tree against that SDK with find_package and
# with pkg-config; the installed sparkhost, moved to another directory (relocatable), lists
# it and runs it in a pipeline, and ffmpeg measures the gain it applied.
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset SPARK_PLUGIN_PATH # only what the installed tree finds by itself

cmake --install "$SPARK_BUILD_DIR" --prefix "$work/prefix" >"$work/install.log"
test -x "$work/prefix/bin/sparkhost"
test -f "$work/prefix/include/spark/plugin.h"
test -f "$work/prefix/lib/cmake/SparkSDK/SparkSDKConfig.cmake"
test -f "$work/prefix/lib/pkgconfig/sparksdk.pc"
ls "$work/prefix/lib/sparkhost/plugins/"*.so >/dev/null

cmake -S "$SPARK_SOURCE_DIR/sdk/template" -B "$work/template-cmake" \
    -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_C_FLAGS="-Werror" >"$work/template.log"
cmake --build "$work/template-cmake" >>"$work/template.log"
cmake --install "$work/template-cmake" --prefix "$work/prefix" >>"$work/template.log"
mkdir "$work/template-pc"
(cd "$work/template-pc" && PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" \
    make -s -f "$SPARK_SOURCE_DIR/sdk/template/Makefile.pkgconfig" CFLAGS="-O2 -Werror")

mv "$work/prefix" "$work/moved"
sparkhost="$work/moved/bin/sparkhost"
list=$("$sparkhost" plugins list)
echo "$list"
grep -Eq "^org.example.gain +1\.0\.0 +node +$work/moved/lib/sparkhost/plugins/example-gain.so$" \
    <<<"$list"
grep -Eq "^org.sparkhost.audio.encode .* $work/moved/lib/sparkhost/plugins/audio-io.so$" <<<"$list"
# the pkg-config build loads too (its own directory first, so it shadows the installed one)
"$sparkhost" --plugin-path "$work/template-pc" plugins list |
    grep -Eq "^org.example.gain .* $work/template-pc/example-gain.so$"

cat >"$work/gain.yaml" <<'YAML'
version: 1
nodes:
  - {id: read, plugin: org.sparkhost.core.fetch}
  - {id: decode, plugin: org.sparkhost.audio.decode}
  - {id: gain, plugin: org.example.gain}
  - {id: encode, plugin: org.sparkhost.audio.encode, params: {sample_format: float}}
  - {id: store, plugin: org.sparkhost.core.store}
inputs:
  input: {type: url, required: true, to: read.url}
  output: {type: url, required: true, to: store.url}
  gain_db: {type: number, min: -60, max: 24, default: 0, to: gain.gain_db}
YAML
cd "$work"
ffmpeg -loglevel error -f lavfi -i "sine=frequency=500:sample_rate=16000:duration=1" \
    -af volume=0.5 in.wav
"$sparkhost" run gain.yaml --input input=in.wav -o quiet.wav --input gain_db=-6
peak() { ffmpeg -i "$1" -af volumedetect -f null - 2>&1 | sed -n 's/.*max_volume: \(.*\) dB/\1/p'; }
before=$(peak in.wav) after=$(peak quiet.wav)
echo "peak before $before dB, after $after dB"
awk -v a="$before" -v b="$after" 'BEGIN { d = a - b; exit !(d > 5.9 && d < 6.1) }'
echo "install: ok"
