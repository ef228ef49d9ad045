#!/bin/sh
# Builds sdk/template out of tree against a freshly installed SDK, once with CMake
# (find_package(SparkSDK 1) + spark_add_plugin) and once with Makefile.pkgconfig, checks that
# each plugin exports only the entry, and runs template_gain_check on both.
#
# usage: template_check.sh SOURCE_DIR WORK_DIR CMAKE CC PROJECT_VERSION GAIN_CHECK
set -eu
src=$1 work=$2 cmake=$3 cc=$4 version=$5 gain_check=$6
strict="-Wall -Wextra -Werror -pedantic"

rm -rf "$work"
mkdir -p "$work"

echo "== installing the SDK into $work/prefix"
"$cmake" -S "$src/tests/plugins/sdk_install" -B "$work/sdk-build" \
    -DSPARK_SOURCE_DIR="$src" -DSPARK_PROJECT_VERSION="$version" \
    -DCMAKE_INSTALL_PREFIX="$work/prefix" >"$work/sdk-configure.log"
"$cmake" --build "$work/sdk-build" >"$work/sdk-build.log"
"$cmake" --install "$work/sdk-build" >"$work/sdk-install.log"

echo "== building the template with CMake"
"$cmake" -S "$src/sdk/template" -B "$work/cmake-build" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$strict"
"$cmake" --build "$work/cmake-build"
"$cmake" --install "$work/cmake-build" --prefix "$work/plugin-prefix"
test -f "$work/plugin-prefix/lib/sparkhost/plugins/example-gain.so" || {
    echo "example-gain.so was not installed into lib/sparkhost/plugins" >&2
    exit 1
}

echo "== building the template with pkg-config"
mkdir -p "$work/pkgconfig-build"
(cd "$work/pkgconfig-build" &&
    PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" \
    make -f "$src/sdk/template/Makefile.pkgconfig" CC="$cc" CFLAGS="-O2 $strict")

for plugin in "$work/cmake-build/example-gain.so" "$work/pkgconfig-build/example-gain.so"; do
    echo "== checking $plugin"
    if command -v nm >/dev/null 2>&1; then
        exports=$(nm -D --defined-only "$plugin" | awk '{ print $NF }' | sort | tr '\n' ' ')
        if [ "$exports" != "spark_plugin_entry " ]; then
            echo "$plugin exports: $exports(want only spark_plugin_entry)" >&2
            exit 1
        fi
    fi
    "$gain_check" "$plugin"
done
echo "template OK"
