#!/bin/sh
# Offline stand-in written for the hdc test corpus: it installs nothing from the
# network, it only records that the feature ran (and with which options).
set -e
mkdir -p /usr/local/share/hdc-corpus
echo "git stand-in installed; options: version=${VERSION:-} ppa=${PPA:-}" > /usr/local/share/hdc-corpus/feature-git
