#!/usr/bin/env bash
# Installs the Debian 12 packages sparkhost builds and tests with. Run as root (or with sudo).
set -euo pipefail
packages=(
    build-essential cmake pkg-config git
    libltdl-dev libyaml-dev libcjson-dev
    libsndfile1-dev libsamplerate0-dev libutf8proc-dev
    zlib1g-dev        # torch zip checkpoints: inflate and CRC-32
    libcurl4-openssl-dev libssl-dev   # model fetch: HTTP(S) downloads, SHA-256
    ffmpeg            # ffprobe and ffmpeg: independent checks of the audio the tests write
    time              # /usr/bin/time: peak memory of test runs
    python3 python3-venv  # the reference libraries the golden tests compare against
    clang libclang-rt-14-dev  # libFuzzer for tests/fuzz/run.sh
    libopenblas-dev   # model kernels: GEMM for prefill and convolutions
    libfftw3-dev      # codec: the STFT of the mel spectrogram
    libebur128-dev    # loudness measurement (EBU R128)
    librubberband-dev # pitch and tempo shift
    espeak-ng libespeak-ng-dev  # tests: speech with known word positions for the aligner
    libmicrohttpd-dev # Runpod worker: the local --serve-api server
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all packages present"
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
