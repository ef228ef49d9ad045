# sparkhost-runpod image: the Runpod serverless worker with its plugins and pipelines.
#
#   CPU:  docker build -t sparkhost-runpod .
#   CUDA: docker build -t sparkhost-runpod:cuda \
#           --build-arg BUILD_IMAGE=nvidia/cuda:12.4.1-devel-ubuntu22.04 \
#           --build-arg RUNTIME_IMAGE=nvidia/cuda:12.4.1-runtime-ubuntu22.04 \
#           --build-arg SPARK_CUDA=ON .
#
# The build stage compiles and runs `cmake --install`; the runtime stage holds only the
# installed tree (binaries, plugins), the pipelines under configs/, and the runtime libraries
# (the CUDA runtime libraries come with the CUDA runtime base image).
ARG BUILD_IMAGE=debian:12
ARG RUNTIME_IMAGE=debian:12-slim

FROM ${BUILD_IMAGE} AS build
ARG SPARK_CUDA=OFF
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libltdl-dev libyaml-dev libcjson-dev libsndfile1-dev libsamplerate0-dev \
        libutf8proc-dev zlib1g-dev libcurl4-openssl-dev libssl-dev libopenblas-dev \
        libfftw3-dev libebur128-dev librubberband-dev libespeak-ng-dev libmicrohttpd-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DSPARK_BUILD_TESTS=OFF \
        -DSPARK_CUDA=${SPARK_CUDA} \
    && cmake --build /build -j"$(nproc)" \
    && cmake --install /build --prefix /opt/sparkhost \
    && mkdir -p /opt/sparkhost/share/sparkhost \
    && cp -r configs /opt/sparkhost/share/sparkhost/configs \
    && rm -rf /opt/sparkhost/include /opt/sparkhost/lib/cmake /opt/sparkhost/lib/pkgconfig

FROM ${RUNTIME_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
        ca-certificates libltdl7 libyaml-0-2 libcjson1 libsndfile1 libsamplerate0 \
        libutf8proc2 zlib1g libcurl4 libssl3 libopenblas0 libfftw3-single3 libfftw3-double3 \
        libebur128-1 librubberband2 libespeak-ng1 libmicrohttpd12 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/sparkhost /opt/sparkhost
ENV PATH=/opt/sparkhost/bin:$PATH \
    SPARKHOST_MODEL_DIR=/runpod-volume/models/Spark-TTS-0.5B
# The default pipeline is configs/runpod.yaml, relative to this directory.
WORKDIR /opt/sparkhost/share/sparkhost
CMD ["sparkhost-runpod"]
