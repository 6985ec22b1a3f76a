#!/usr/bin/env bash
# Installs what the real-VS-Code tests need (Debian 12, run as root):
#   - Debian's chromium (driven by playwright-core), ripgrep and libkrb5-dev;
#   - code-server (the real VS Code server + workbench) into a tools cache outside the repo.
# Idempotent: a second run only checks and prints the code-server path.
# Prints the path of the code-server binary on its last line and writes it to
# $HDC_CACHE/tools/code-server.path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"

CODE_SERVER_VERSION=${CODE_SERVER_VERSION:-4.100.3}
# The rg release @vscode/ripgrep 1.15.11 (code-server 4.100.3's dependency) wants.
RG_CACHE_DIR=vscode-ripgrep-cache-1.15.11
RG_TARBALL=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz

[ "$(id -u)" = 0 ] || { echo "code-server.sh must run as root (try: sudo bash $0)" >&2; exit 1; }

# 1. Debian packages, only the missing ones.
pkgs=(chromium chromium-driver ripgrep libkrb5-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. code-server in its own directory of the tools cache.
tools=$HDC_CACHE/tools
dir=$tools/code-server-$CODE_SERVER_VERSION
bin=$dir/node_modules/.bin/code-server

# Every code-server invocation, even --version, writes a config file (with a generated password) and a
# log directory under the XDG directories: point them at a throwaway directory for this check.
xdg=$(mktemp -d)
trap 'rm -rf "$xdg"' EXIT
runs() { XDG_CONFIG_HOME=$xdg/config XDG_DATA_HOME=$xdg/data "$bin" --version >/dev/null 2>&1; }

if ! runs; then
  echo "==> installing code-server $CODE_SERVER_VERSION into $dir (about 70 s, 300 MB)" >&2
  mkdir -p "$dir"
  # @vscode/ripgrep's postinstall downloads rg unless its cache holds the release tarball.
  # Debian's rg stands in for it (the tarball's top level is the binary, see its download.js).
  rgcache=${TMPDIR:-/tmp}/$RG_CACHE_DIR
  if [ ! -s "$rgcache/$RG_TARBALL" ]; then
    mkdir -p "$rgcache"
    stage=$(mktemp -d)
    cp /usr/bin/rg "$stage/rg"
    tar -C "$stage" -czf "$rgcache/$RG_TARBALL.tmp" rg
    mv "$rgcache/$RG_TARBALL.tmp" "$rgcache/$RG_TARBALL"
    rm -rf "$stage"
  fi
  [ -f "$dir/package.json" ] || printf '{\n  "name": "hdc-tools-code-server",\n  "private": true\n}\n' > "$dir/package.json"
  (cd "$dir" && npm_config_yes=true npm install --unsafe-perm --no-audit --no-fund --loglevel=error \
     "code-server@$CODE_SERVER_VERSION" >&2)
  runs || { echo "code-server $CODE_SERVER_VERSION installed but does not run" >&2; exit 1; }
fi

echo "$bin" > "$tools/code-server.path"
echo "$bin"
