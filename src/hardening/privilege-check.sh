#!/bin/sh
# Hardened Dev Containers: reads a container's final OCI spec (podman's config.json, one
# line of JSON) before its first process runs, and refuses one that is weaker than hdc
# requires, whatever path the privilege took. Sourced by the OCI hook; also runnable alone:
#   privilege-check.sh CONFIG_JSON POLICY_FILE   (exit 0: fine; exit 1: the reason on stderr)
# POLICY_FILE is written by hdc (key=value lines): caps (refused capabilities), nnp (1: the
# no-new-privileges setting is on), userns (1: a user namespace is required: rootless).
# The socket/device rules mirror privilege.ts (isEngineSocketPath, ALLOWED_DEVICE).

hdc_privilege_check() {
  spec=$1
  caps= nnp=0 userns=0
  while IFS='=' read -r k v; do
    case $k in caps) caps=$v ;; nnp) nnp=$v ;; userns) userns=$v ;; esac
  done <"$2"
  [ -n "$caps" ] || { echo "no refused-capability list in $2"; return 1; }
  json=$(cat "$spec") || { echo "cannot read the OCI spec $spec"; return 1; }
  # The patterns below match JSON structure only: inside a string every quote is escaped
  # (\"), so no string value can imitate them.

  # 1. Capabilities: none of the refused ones in the bounding set (privileged holds them all).
  bounding=$(printf '%s' "$json" | grep -o '"bounding":\[[^]]*\]') || { echo "the spec has no capability bounding set"; return 1; }
  for c in $caps; do
    case $bounding in *"\"CAP_$c\""*) echo "the container holds CAP_$c"; return 1 ;; esac
  done
  # 2. Namespaces of its own: pid, ipc, uts, mount and network (none joined: no "path" for
  #    pid/ipc/uts), and a user namespace when rootless.
  ns=$(printf '%s' "$json" | grep -o '"namespaces":\[[^]]*\]') || { echo "the spec has no namespaces"; return 1; }
  need="pid ipc uts mount network"
  [ "$userns" = 1 ] && need="$need user"
  for t in $need; do
    case $ns in *"{\"type\":\"$t\""*) ;; *) echo "the container shares the host's $t namespace"; return 1 ;; esac
  done
  for t in pid ipc uts; do
    case $ns in *"{\"type\":\"$t\",\"path\""*) echo "the container joins another $t namespace"; return 1 ;; esac
  done
  # 3. Confinement: a seccomp filter, AppArmor not unconfined, masked /proc paths, and
  #    no-new-privileges when the setting asks for it.
  case $json in *'"seccomp":{'*) ;; *) echo "the container runs without a seccomp filter"; return 1 ;; esac
  case $json in *'"apparmorProfile":"unconfined"'*) echo "the container runs AppArmor-unconfined"; return 1 ;; esac
  case $json in *'"maskedPaths":["'*) ;; *) echo "the container has no masked /proc paths"; return 1 ;; esac
  if [ "$nnp" = 1 ]; then
    case $json in *'"noNewPrivileges":true'*) ;; *) echo "the container lacks no-new-privileges"; return 1 ;; esac
  fi
  # 4. Host devices (rootless podman binds them; rootful lists them) and engine sockets.
  sources=$(printf '%s' "$json" | grep -o '"source":"\([^"\\]\|\\.\)*"\|"path":"/dev/\([^"\\]\|\\.\)*"' | sed 's/^"[a-z]*":"//; s/"$//')
  nl='
'
  set -f; old_ifs=$IFS; IFS=$nl
  for src in $sources; do
    IFS=$old_ifs; set +f
    p=${src%/}
    # An escape could hide a path from these patterns: refuse, never guess.
    case $p in *\\*) echo "the container mounts a path with an escaped character ($src), which this check does not read"; return 1 ;; esac
    case $p in
      /dev/fuse|/dev/kfd|/dev/dri|/dev/dri/*|/dev/nvidia*) ;;
      /dev/*) echo "the container has the host device $p"; return 1 ;;
      */docker.sock|*/podman.sock|*/containerd.sock|*/buildkitd.sock|*/crio.sock|*/dockershim.sock \
      |''|/run|/var/run|/run/user|/var/lib/docker|/var/lib/containers|/proc \
      |/run/docker|/run/docker/*|/var/run/docker|/var/run/docker/*|/run/podman|/run/podman/*|/var/run/podman|/var/run/podman/* \
      |/run/containerd|/run/containerd/*|/var/run/containerd|/var/run/containerd/*)
        echo "the container mounts $src (a container engine's socket or its folder)"; return 1 ;;
      /run/user/*)
        rest=${p#/run/user/}
        case $rest in
          *[!0-9]*) case ${rest#*/} in podman|podman/*|docker|docker/*) echo "the container mounts $src (a container engine's socket or its folder)"; return 1 ;; esac ;;
          *) echo "the container mounts $src (a user's runtime folder, which holds the engine's socket)"; return 1 ;;
        esac ;;
    esac
  done
  IFS=$old_ifs; set +f
  return 0
}

if [ "${0##*/}" = privilege-check.sh ]; then
  set -u
  reason=$(hdc_privilege_check "$1" "$2") && exit 0
  echo "$reason" >&2
  exit 1
fi
