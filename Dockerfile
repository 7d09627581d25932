# syntax=docker/dockerfile:1
# USP image: usp-runtime (worker, serve, backfill), usp-operator and uspctl.
#   docker build -t usp:0.1.0 .
# The build stage uses the same scripts as the README (scripts/install-deps.sh,
# scripts/build.sh); the runtime stage has only the shared libraries the
# binaries link and runs as the non-root user 65532 (Pod Security "restricted").

FROM debian:12 AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when the list changes.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# Tests are built too (build.sh builds everything); only the binaries are kept.
RUN USP_BUILD_TYPE=Release scripts/build.sh /build \
 && mkdir -p /out \
 && for b in usp-runtime usp-operator uspctl; do \
      path=$(find /build -type f -name "$b" -perm -u+x -not -path '*/CMakeFiles/*' | head -n 1); \
      if [ -z "$path" ]; then echo "binary $b was not built" >&2; exit 1; fi; \
      install -m 0755 "$path" "/out/$b"; \
    done \
 && strip --strip-unneeded /out/*

FROM debian:12-slim
ENV DEBIAN_FRONTEND=noninteractive
# Runtime shared libraries of the three binaries (Debian 12 names).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libcpprest2.10 \
      libfmt9 \
      libprometheus-cpp-core1.0 \
      librdkafka1 \
      librocksdb7.8 \
      libsimdjson14 \
      libspdlog1.10 \
      libssl3 \
      libyaml-cpp0.7 \
      zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin nonroot \
 && install -d -o 65532 -g 65532 -m 0750 /var/lib/usp
COPY --from=build /out/ /usr/local/bin/
# Fail the build, not the pod, when a shared library is missing.
RUN for b in usp-runtime usp-operator uspctl; do \
      if ldd "/usr/local/bin/$b" | grep -q 'not found'; then \
        ldd "/usr/local/bin/$b" >&2; exit 1; \
      fi; \
    done
USER 65532:65532
WORKDIR /var/lib/usp
# No ENTRYPOINT: the chart and the operator choose the binary (usp-operator,
# usp-runtime worker|serve|backfill, uspctl).
CMD ["usp-runtime", "--help"]
