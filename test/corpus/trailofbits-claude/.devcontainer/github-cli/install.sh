#!/bin/sh
# Offline stand-in written for the hdc test corpus: it installs nothing from the
# network, it only records that the feature ran (and with which options).
set -e
mkdir -p /usr/local/share/hdc-corpus
echo "github-cli stand-in installed; options: version=${VERSION:-} installDirectlyFromGitHubRelease=${INSTALLDIRECTLYFROMGITHUBRELEASE:-} extensions=${EXTENSIONS:-}" > /usr/local/share/hdc-corpus/feature-github-cli
