#!/bin/sh
# Benchmark baseline, run inside a workspace's netns: the per-name loop of the common
# reference firewall script. One dig, then one `ipset add` per address, name after name.
# Usage: bench-baseline.sh RESOLVER NAME...
set -eu
resolver=$1; shift
ipset create hdc-bench-seq hash:net family inet -exist
for name in "$@"; do
  for ip in $(dig +short A "@$resolver" "$name"); do
    ipset add hdc-bench-seq "$ip" -exist
  done
done
ipset destroy hdc-bench-seq
