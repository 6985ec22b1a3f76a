#!/bin/sh
# Hardened Dev Containers (`hdc kube`): runs devcontainer.json's lifecycle commands in a pod,
# as the remote user, after the egress firewall is in place. Written by src/kube/manifests.ts,
# which passes everything as arguments (no value of devcontainer.json is ever parsed or
# expanded by a shell here: each is one "$@" word):
#   lifecycle.sh READY THEN [STAGE N WORD1 … WORDN]…
# READY: a file to wait for first (the filtering resolver's, on podman: it holds the network
#   namespace that the rules were loaded in, which must be this container's), or "-". With
#   it, the resolver must also be listening on 127.0.0.1:53 in this namespace (/proc/net/udp
#   is per namespace): guard.sh loads the rules before it starts the resolver, and removes
#   the mark first. The mark alone is not enough: a namespace's inode number is reused once
#   it is freed, so a mark from an earlier start of the pod can name this one; and a
#   workspace container started on its own (podman start NAME-workspace) has no egress
#   container beside it, so no resolver and no rules. This wait keeps devcontainer.json's
#   commands from starting early; it is not a boundary: it runs with the image's shell and
#   devcontainer.json's containerEnv, which can run code before it (README).
# THEN: "exit" when the commands are done (an init container, a postStart hook), or "sleep":
#   stay as the container's process (the workspace, on podman: no native sidecars there).
# A record: STAGE (onCreate, updateContent, postCreate, postStart: for the log), N, then the
# command's N words. A string command arrives as "/bin/sh -c STRING", as the devcontainers
# CLI runs it. The first command that fails ends the script with exit 1.
set -u
ready=$1 then=$2
shift 2
if [ "$ready" != - ]; then
  # The mark holds the egress container's network namespace: the pod's, which is this one's.
  netns=$(readlink /proc/self/ns/net)
  [ -n "$netns" ] || { echo "hdc: cannot read this container's network namespace (readlink); no lifecycle command ran" >&2; exit 1; }
  # resolver_listens: a UDP socket bound to 127.0.0.1:53 in this network namespace.
  resolver_listens() {
    while read -r _ local _; do
      # 127.0.0.1 as the kernel prints it: little-endian hosts, then big-endian ones.
      case $local in 0100007F:0035|7F000001:0035) return 0 ;; esac
    done </proc/net/udp
    return 1
  }
  waited=0
  while [ "$(cat "$ready" 2>/dev/null)" != "$netns" ] || ! resolver_listens; do
    waited=$((waited + 1))
    if [ "$waited" -gt 1200 ]; then echo "hdc: the filtering resolver was not ready after 120 s; no lifecycle command ran" >&2; exit 1; fi
    sleep 0.1
  done
fi
while [ $# -gt 0 ]; do
  stage=$1 n=$2
  shift 2
  echo "hdc: running the ${stage} command" >&2
  # The record's own words, in a subshell: append the first N to "$@", drop the rest.
  (
    total=$#
    i=0
    for word do
      i=$((i + 1))
      if [ "$i" -le "$n" ]; then set -- "$@" "$word"; fi
    done
    shift "$total"
    exec "$@"
  ) || { rc=$?; echo "hdc: the ${stage} command failed (exit ${rc}); the workspace does not start" >&2; exit 1; }
  shift "$n"
done
case $then in
  exit) exit 0 ;;
  sleep) echo "Container started"; trap 'exit 0' TERM; while sleep 1000 & wait $!; do :; done ;;
  *) echo "hdc: unknown THEN $then" >&2; exit 2 ;;
esac
