#!/bin/sh
# Hardened Dev Containers: reads a container's final OCI spec (podman's config.json, one
# line of JSON) before its first process runs, and refuses one that is weaker than hdc
# requires, whatever path the privilege took. Sourced by the OCI hook; also runnable alone:
#   privilege-check.sh CONFIG_JSON POLICY_FILE   (exit 0: fine; exit 1: the reason on stderr)
# POLICY_FILE is written by hdc (key=value lines): caps (refused capabilities), nnp (1: the
# no-new-privileges setting is on), userns (1: a user namespace is required: rootless),
# protect=DIR (a folder no mount may be, hold or be inside: podman's and hdc's own; one a
# line), allow=FILE (hdc's own read-only mounts from those folders), store=DIR (podman's
# storage roots: its per-container files and volumes), workspace=DIR (the folder the CLI
# mounts: the only place a bind may be writable). The path rule mirrors refusedHostPath in
# privilege.ts.
# POLICY_FILE is the hook directory's `privilege` file, owned by src/base/protocol.ts.

# The functions below set `why` (empty: fine) instead of printing: no subshell per path,
# since the hook runs before the workspace's first process, on every start.

# hdc_own PATH REAL: true for podman's own per-container files and named volumes (under its
# storage roots, store=), and hdc's own read-only files (allow=); not through a symlink
# (REAL, the path as followed, must be PATH itself).
hdc_own() {
  case $nl$allow$nl in *"$nl$1$nl"*) return 0 ;; esac
  [ "$2" = "$1" ] || return 1
  old_ifs2=$IFS; IFS=$nl
  for r in $store; do
    IFS=$old_ifs2
    case $1 in
      "$r"/overlay-containers/*/userdata/resolv.conf|"$r"/overlay-containers/*/userdata/hosts|"$r"/overlay-containers/*/userdata/hostname \
      |"$r"/overlay-containers/*/userdata/.containerenv|"$r"/overlay-containers/*/userdata/shm)
        case ${1#"$r"/overlay-containers/} in */*/*/*) ;; *) return 0 ;; esac ;;
      "$r"/volumes/*/_data) case ${1#"$r"/volumes/} in */*/*) ;; *) return 0 ;; esac ;;
    esac
  done
  IFS=$old_ifs2
  return 1
}

# hdc_refused_path PATH REAL: sets why the workspace may not have PATH (followed: REAL) mounted.
hdc_refused_path() {
  why=
  case $1 in *//*|*/./*|*/../*|*/.|*/..|./*|../*) why="it has \".\" or \"..\" parts or \"//\""; return ;; esac
  hdc_own "$1" "$2" && return
  for q in "$1" "$2"; do
    q=${q%/}
    [ -S "$q" ] && { why="it is a socket (a way to a daemon outside the workspace)"; return; }
    case $q in
      /dev/fuse|/dev/kfd|/dev/dri|/dev/dri/*|/dev/nvidia*) case $q in *[!A-Za-z0-9_/-]*) why="it is not a plain device path"; return ;; esac; continue ;;
      *.sock) why="it is a socket (a way to a daemon outside the workspace)"; return ;;
      ''|/home|/root|/var|/var/lib|/tmp|/var/tmp) why="it holds the home folders, engine state or other users' sockets"; return ;;
      /tmp/tmux-*|/tmp/ssh-*|/tmp/.ICE-unix|/tmp/.ICE-unix/*|/tmp/.font-unix|/tmp/.font-unix/*|/tmp/systemd-private-*|/var/tmp/tmux-*|/var/tmp/ssh-*|/var/tmp/systemd-private-*)
        why="it is a folder of session sockets"; return ;;
      /run|/run/*|/var/run|/var/run/*|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/tmp/.X11-unix|/tmp/.X11-unix/*|/var/lib/docker|/var/lib/docker/*|/var/lib/containers|/var/lib/containers/*)
        why="it is, or is under, a system folder that holds sockets, devices or engine state"; return ;;
    esac
    old_ifs=$IFS; IFS=$nl
    for d in $protect; do
      case $q/ in "$d"/*) IFS=$old_ifs; why="it is or is inside $d, which configures podman or hdc"; return ;; esac
      case $d/ in "$q"/*) IFS=$old_ifs; why="it holds $d, which configures podman or hdc"; return ;; esac
    done
    IFS=$old_ifs
  done
}

# One pass over the spec (one awk process) gives every piece the checks read, one a line:
# B (a bounding set exists), S (a capability set), N (namespaces), P (a network namespace
# path), R (a mount source or device path), W (a bind mount read whole), T (the number of
# "type":"bind"), D (the resolv.conf bind's source), Y (a "sysctl" object), and flags
# (seccomp, apparmor, masked, readonly, nnp). The rest is shell builtins; one readlink -m for
# every path.
hdc_spec_awk='
function scan(line, tag, re,   m, next_) {
  while (match(line, re)) { m = substr(line, RSTART, RLENGTH); next_ = RSTART + RLENGTH; out(tag, m); line = substr(line, next_) }
}
function out(tag, m,   v) {
  if (tag == "R") {
    if (substr(m, 2, 6) == "source") v = substr(m, 11, length(m) - 11); else v = substr(m, 9, length(m) - 9)
    if (substr(v, 1, 1) == "/") print "R " v
  } else if (tag == "N") {
    print "N " m; scan(m, "P", "[{]\"type\":\"network\",\"path\":\"[^\"]*\"")
  } else if (tag == "P") { v = m; sub(/.*"path":"/, "", v); sub(/"$/, "", v); print "P " v }
  else if (tag == "T") nbind++
  else if (tag == "D") { v = m; sub(/.*"source":"/, "", v); sub(/"$/, "", v); print "D " v }
  else print tag " " m
}
{
  all = all (NR > 1 ? "\n" : "") $0
  if (index($0, "\"bounding\":[")) print "B"
  scan($0, "S", "\"(bounding|effective|permitted|inheritable|ambient)\":\\[[^]]*\\]")
  scan($0, "N", "\"namespaces\":\\[[^]]*\\]")
  scan($0, "R", "\"source\":\"([^\"\\\\]|\\\\.)*\"|\"path\":\"/dev/([^\"\\\\]|\\\\.)*\"")
  scan($0, "W", "[{]\"destination\":\"([^\"\\\\]|\\\\.)*\",\"type\":\"bind\",\"source\":\"([^\"\\\\]|\\\\.)*\",\"options\":\\[[^]]*\\]")
  scan($0, "T", "\"type\":\"bind\"")
  scan($0, "D", "\"destination\":\"/etc/resolv.conf\",\"type\":\"bind\",\"source\":\"[^\"]*\"")
  scan($0, "Y", "\"sysctl\":[{][^}]*[}]")
}
END {
  print "T " nbind + 0
  if (index(all, "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\"") || index(all, "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_KILL")) print "F seccomp"
  if (index(all, "\"apparmorProfile\":\"unconfined\"")) print "F unconfined"
  i = index(all, "\"maskedPaths\":["); if (i && index(substr(all, i), "\"/proc/kcore\"")) print "F kcore"
  i = index(all, "\"readonlyPaths\":["); if (i && index(substr(all, i), "\"/proc/sys\"")) print "F procsys"
  if (index(all, "\"noNewPrivileges\":true")) print "F nnp"
}'

# hdc_spec_read SPEC: one awk pass over the spec; sets the pieces below, among them
# hdc_resolv (the last resolv.conf bind's source: the one the container sees) and
# hdc_sysctls (the spec's "sysctl" objects, one a line), which the hook reads too. Returns 1
# when the spec cannot be read.
hdc_spec_read() {
  nl='
'
  [ -r "$1" ] || return 1
  parsed=$(awk "$hdc_spec_awk" "$1") || return 1
  bounding= sets= ns= netpath= sources= all= nall=0 nbind=0 flags= hdc_resolv= hdc_sysctls=
  set -f; old_ifs=$IFS; IFS=$nl
  for line in $parsed; do
    case $line in
      B) bounding=1 ;;
      "S "*) sets=$sets$nl${line#S } ;;
      "N "*) ns=$ns$nl${line#N } ;;
      "P "*) netpath=${netpath:+$netpath$nl}${line#P } ;;
      "R "*) sources=${sources:+$sources$nl}${line#R } ;;
      "W "*) all=${all:+$all$nl}${line#W }; nall=$((nall + 1)) ;;
      "T "*) nbind=${line#T } ;;
      "D "*) hdc_resolv=${line#D } ;;
      "Y "*) hdc_sysctls=${hdc_sysctls:+$hdc_sysctls$nl}${line#Y } ;;
      "F "*) flags="$flags ${line#F } " ;;
    esac
  done
  IFS=$old_ifs; set +f
}

# hdc_privilege_check SPEC POLICY_FILE [read]: prints why the container is weaker than hdc
# requires and returns 1; returns 0 when it is not. Reads the spec with hdc_spec_read, unless
# the third argument says the caller has ("read"): a spec not read leaves nothing to pass.
hdc_privilege_check() {
  spec=$1
  nl='
'
  caps= nnp=0 userns=0 protect= allow= store= workspace=
  while IFS='=' read -r k v; do
    case $k in
      caps) caps=$v ;; nnp) nnp=$v ;; userns) userns=$v ;; workspace) workspace=$v ;;
      protect) protect=$protect$nl$v ;; allow) allow=$allow$nl$v ;; store) store=$store$nl$v ;;
    esac
  done <"$2"
  [ -n "$caps" ] || { echo "no refused-capability list in $2"; return 1; }
  if [ "${3:-}" != read ]; then
    hdc_spec_read "$spec" || { echo "cannot read the OCI spec $spec"; return 1; }
  fi
  old_ifs=$IFS
  # The patterns match JSON structure only: inside a string every quote is escaped (\"), so
  # no string value can imitate them.

  # 1. Capabilities: none of the refused ones in any set (bounding, effective, permitted,
  #    inheritable, ambient). A privileged container holds them all.
  [ -n "$bounding" ] || { echo "the spec has no capability bounding set"; return 1; }
  for c in $caps; do
    case $sets in *"\"CAP_$c\""*) echo "the container holds CAP_$c"; return 1 ;; esac
  done
  # 2. Namespaces of its own: pid, ipc, uts, mount, network and cgroup (none joined: no
  #    "path", but a network namespace of podman's own), and a user namespace when rootless.
  [ -n "$ns" ] || { echo "the spec has no namespaces"; return 1; }
  need="pid ipc uts mount network"
  [ "$userns" = 1 ] && need="$need user"
  for t in $need; do
    case $ns in *"{\"type\":\"$t\""*) ;; *) echo "the container shares the host's $t namespace"; return 1 ;; esac
  done
  for t in pid ipc uts mount user cgroup; do
    case $ns in *"{\"type\":\"$t\",\"path\""*) echo "the container joins another $t namespace"; return 1 ;; esac
  done
  case $netpath in ''|/run/user/*/netns/netns-*|/run/netns/netns-*) ;; *) echo "the container joins the network namespace $netpath"; return 1 ;; esac
  # 3. Confinement: a seccomp filter that denies by default, AppArmor not unconfined, /proc
  #    masked and read-only where the engine's defaults say, no-new-privileges when asked.
  case $flags in *" seccomp "*) ;; *) echo "the container runs without a default-deny seccomp filter"; return 1 ;; esac
  case $flags in *" unconfined "*) echo "the container runs AppArmor-unconfined"; return 1 ;; esac
  case $flags in *" kcore "*) ;; *) echo "the container does not mask /proc/kcore"; return 1 ;; esac
  case $flags in *" procsys "*) ;; *) echo "the container has /proc/sys writable"; return 1 ;; esac
  if [ "$nnp" = 1 ]; then
    case $flags in *" nnp "*) ;; *) echo "the container lacks no-new-privileges"; return 1 ;; esac
  fi
  # 4. Host paths: every mount source and device path (rootless podman binds devices,
  #    rootful lists them), as written and as the kernel follows it; the writable binds'
  #    too: one readlink -m for all.
  writable=
  set -f; IFS=$nl
  for b in $all; do
    case $b in *'"ro"'*) continue ;; esac
    w=${b##*\"source\":\"}; w=${w%%\",\"options\":*}
    writable=${writable:+$writable$nl}$w
  done
  IFS=$old_ifs; set +f
  case $sources in *\\*) echo "the container mounts a path with an escaped character, which this check does not read"; return 1 ;; esac
  reals=
  if [ -n "$sources$writable" ]; then
    reals=$(set -f; IFS=$nl; readlink -m -- $sources $writable) || { echo "cannot follow the container's mount sources"; return 1; }
  fi
  set -f; IFS=$nl
  set -- $reals
  for src in $sources; do
    IFS=$old_ifs; set +f
    hdc_refused_path "$src" "$1"
    shift
    [ -z "$why" ] || { echo "the container mounts $src, and $why"; return 1; }
  done
  IFS=$old_ifs; set +f
  # Every bind must have been read whole (fields in podman's order, with options): else refuse.
  [ "$nbind" -eq "$nall" ] || { echo "the spec has a bind mount this check cannot read whole"; return 1; }
  # 5. Writable binds only inside the workspace folder (as written and as followed), besides
  #    podman's own files and volumes and the allowed devices.
  set -f; IFS=$nl
  for src in $writable; do
    IFS=$old_ifs; set +f
    real=$1; shift
    hdc_own "$src" "$real" && continue
    case $src in /dev/fuse|/dev/kfd|/dev/dri/*|/dev/nvidia*) continue ;; esac
    if [ -n "$workspace" ]; then
      case $src/ in "$workspace"/*) case $real/ in "$workspace"/*) continue ;; esac ;; esac
    fi
    echo "the container has $src writable, outside the workspace folder"; return 1
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
