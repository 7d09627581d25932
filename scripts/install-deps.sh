#!/usr/bin/env bash
# Installs every build, test and run dependency of USP from Debian 12 packages.
# Idempotent: packages already present are skipped by apt.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  librdkafka-dev librocksdb-dev libcpprest-dev nlohmann-json3-dev
  prometheus-cpp-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev
  libboost-dev libboost-system-dev libyaml-cpp-dev libcli11-dev
  libsimdjson-dev libbenchmark-dev libssl-dev zlib1g-dev
  kcat jq curl python3 python3-yaml procps psmisc unzip kubectl nodejs
  prometheus clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# npm: part of some nodejs builds (NodeSource); Debian ships it separately.
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
