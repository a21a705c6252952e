# Multi-stage build of the pgmd tools on Debian 12.
#   docker build -t pgmd .
#   docker run --rm --network host --cap-add NET_RAW --cap-add NET_ADMIN pgmd pgmdump -i eth0
FROM debian:12 AS build
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
# Install the build dependencies first so that the layer is cached across source changes.
RUN scripts/setup.sh --no-build
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DPGMD_BENCH=OFF \
 && cmake --build /build \
 && cmake --install /build --prefix /opt/pgmd

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap0.8 libnl-3-200 libnl-route-3-200 \
      libboost-program-options1.74.0 libcap2 libabsl20220623 libbpf1 libelf1 libisal2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/pgmd /usr/local
ENTRYPOINT []
CMD ["pgmdump", "--help"]
