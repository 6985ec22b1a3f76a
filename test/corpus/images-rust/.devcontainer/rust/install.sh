#!/bin/sh
# Offline stand-in written for the hdc test corpus: it installs nothing from the
# network, it only records that the feature ran (and with which options).
set -e
mkdir -p /usr/local/share/hdc-corpus

mkdir -p "${CARGO_HOME:-/usr/local/cargo}/bin" "${RUSTUP_HOME:-/usr/local/rustup}"
echo "rust stand-in installed; options: version=${VERSION:-} profile=${PROFILE:-} targets=${TARGETS:-} components=${COMPONENTS:-}" > /usr/local/share/hdc-corpus/feature-rust
