#!/bin/sh
# Hardened Dev Containers: OCI createRuntime hook. Loads the egress firewall into a
# workspace's network namespace before the workspace's first process runs, on every start
# (hdc up, podman start, podman restart). podman runs it as root of the rootless user
# namespace, with the container state JSON on stdin. Any failure exits non-zero, and podman
# then refuses to start the container: fail-closed.
# The hook directory's files (mode, privilege, the firewall files, events, started) are
# owned by src/base/protocol.ts (keep both in step).
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin
fail() { echo "hardened-devcontainers firewall hook: $*; the container was not started" >&2; exit 1; }

# The state is read and parsed with shell builtins only: each process costs 5-10 ms on a
# small VM, and this runs before the workspace's first process, on every start.
nl='
'
state=
while IFS= read -r line || [ -n "$line" ]; do state=${state:+$state$nl}$line; done
# The runtime's own fields (pid, bundle) come before "annotations", whose keys the workspace
# chooses in part (runArgs --annotation): each is read only from its own part, so that an
# annotation named "pid" or "bundle" cannot stand in for the real one. No "annotations"
# before them: no pid, and the start is refused.
own=${state%%\"annotations\"*}
annotations=${state#"$own"}
# field NAME: sets $value to the runtime's field NAME (its last "NAME": in its own part; a
# number or a string up to the first quote, comma or brace), or empty.
field() {
  value=
  case $own in *"\"$1\":"*) ;; *) return 0 ;; esac
  value=${own##*"\"$1\":"}
  while :; do case $value in ' '*) value=${value# } ;; *) break ;; esac; done
  value=${value#\"}
  value=${value%%[\",\}]*}
}
field pid; pid=$value
field bundle; bundle=$value
field id; cid=$value   # the container's full id (64 hex digits), or left out
case $cid in *[!0-9a-f]*) cid= ;; esac
[ "${#cid}" -eq 64 ] || cid=
# annotation KEY: sets $value to hdc's annotation KEY, set last on every container it creates
# (the engine keeps the last of a key). A key is read only where a key begins ({ or , then
# "), so a key of the workspace's (an image's annotation, a quoted runArgs one) that merely
# ends in hdc's name is not it; found more than once: refused. Its value must be a string
# with no quote or backslash in it; otherwise it is empty (and refused below).
annotation() {
  value=
  rest=${annotations#*[{,]\"$1\":}
  [ "$rest" != "$annotations" ] || return 0
  case $rest in *[{,]\"$1\":*) fail "an annotation of hdc's appears twice" ;; esac
  while :; do case $rest in ' '*) rest=${rest# } ;; *) break ;; esac; done
  case $rest in \"*\"*) ;; *) return 0 ;; esac
  rest=${rest#\"}
  case ${rest%%\"*} in *\\*) return 0 ;; esac
  value=${rest%%\"*}
}
annotation dev.hardened-devcontainers.firewall; dir=$value
annotation dev.hardened-devcontainers.role; role=$value
case $pid in ''|*[!0-9]*) fail "no container pid in the state" ;; esac
case $dir in /*) ;; *) fail "no absolute firewall directory in the annotation" ;; esac
case $role in workspace|sidecar) ;; *) fail "no role in the annotations: an older hdc made this container (run hdc down, then hdc up)" ;; esac

# 1. The workspace's privilege, read back from its final OCI spec before its first process:
#    whatever path the privilege took (config, feature, label, a wrapped engine), a container
#    weaker than hdc requires does not run. The sidecar's flags are hdc's own (SYS_ADMIN).
#    One read of the spec (privilege-check.sh's awk) serves the checks below too.
. "${0%/*}/privilege-check.sh"
hdc_spec_read "$bundle/config.json" || fail "cannot read the OCI spec $bundle/config.json"
if [ "$role" != sidecar ]; then
  reason=$(hdc_privilege_check "$bundle/config.json" "$dir/privilege" read) \
    || { echo "hardened-devcontainers: refused: $reason, which the hardened container does not allow; the container was not started" >&2; exit 1; }
fi

# The kernel parameters the firewall depends on (FIREWALL_SYSCTL in hardening/privilege.ts):
# a runtime may write the spec's sysctls after this hook (runc does), so none may be there,
# in any spelling (the runtimes turn "." into "/": no "/", "..", or escape in a name).
case $hdc_sysctls in
  *'/'*|*'..'*|*'\'*|*'"net.ipv4.ip_unprivileged_port_start"'*|*'ip_nonlocal_bind"'*|*'route_localnet"'*)
    echo "hardened-devcontainers: refused: the container sets a kernel parameter the firewall depends on (ip_unprivileged_port_start, ip_nonlocal_bind or route_localnet), or names one in a spelling hdc does not read; the container was not started" >&2; exit 1 ;;
esac

# 2. The firewall, unless hdc wrote "check" (hardenedDevcontainers.firewall.enabled = false).
{ IFS= read -r mode || [ -n "$mode" ]; } <"$dir/mode" 2>/dev/null || fail "cannot read $dir/mode (run hdc up again)"
case $mode in firewall|check) ;; *) fail "unknown mode in $dir/mode (run hdc up again)" ;; esac
if [ "$mode" = firewall ]; then
for f in ipset.restore rules.v4 rules.v6 nat.v4 nat.v6 resolver; do [ -r "$dir/$f" ] || fail "cannot read $dir/$f (run hdc up again)"; done

# DNS is pinned to the resolvers in the resolv.conf podman generated for *this* start
# (rewritten on every start, so an edit made inside the workspace does not survive).
# (The last bind onto /etc/resolv.conf: the one the container sees.)
resolv=$hdc_resolv
# Only podman's own file (in its storage, store= in the policy): a resolv.conf that the
# workspace mounts from a folder of its own must not choose the resolvers DNS may reach.
podman_resolv=
while IFS='=' read -r k v; do
  [ "$k" = store ] && [ -n "$v" ] || continue
  case $resolv in "$v"/overlay-containers/*/userdata/resolv.conf)
    case ${resolv#"$v"/overlay-containers/} in */*/*/*) ;; *) podman_resolv=$resolv ;; esac ;;
  esac
done <"$dir/privilege"
resolv=$podman_resolv
# Its "nameserver ADDRESS" lines (nothing else on the line; an address of 7-15 digits and
# dots, or 2-39 hex digits and colons), read with builtins.
upstream=
if [ -n "$resolv" ] && [ -r "$resolv" ]; then
  while read -r k a extra || [ -n "$k" ]; do
    [ "$k" = nameserver ] && [ -n "$a" ] && [ -z "$extra" ] || continue
    ok=
    case $a in *[!0-9.]*) ;; *) [ ${#a} -lt 7 ] || [ ${#a} -gt 15 ] || ok=1 ;; esac
    case $a in *[!0-9a-fA-F:]*) ;; *) [ ${#a} -lt 2 ] || [ ${#a} -gt 39 ] || ok=1 ;; esac
    [ -z "$ok" ] || upstream=${upstream:+$upstream$nl}$a
  done <"$resolv"
fi
# One nsenter into the workspace's netns (the host's tools) for the loads: the sets (and the
# upstream resolvers), the filter rules, the DNS redirect ahead of the engine's nat rules,
# and no binding below port 1024 but for the resolver. It runs beside the resolver's start
# (below): nothing in the workspace runs before this hook has ended, so the order of the
# two does not matter, and the start costs the longer of them, not their sum.
{
  cat "$dir/ipset.restore"
  for a in $upstream; do case $a in *:*) echo "add hdc-dns6 $a -exist" ;; *) echo "add hdc-dns4 $a -exist" ;; esac; done
} | nsenter -t "$pid" -n -- sh -c 'ipset restore || exit 11; iptables-restore <"$1" || exit 12; ip6tables-restore <"$2" || exit 13
    iptables-restore --noflush <"$3" || exit 14; ip6tables-restore --noflush <"$4" || exit 15
    echo 1024 >/proc/sys/net/ipv4/ip_unprivileged_port_start || exit 16' sh "$dir/rules.v4" "$dir/rules.v6" "$dir/nat.v4" "$dir/nat.v6" &
loads=$!

# The filtering resolver (firewall-resolver.cjs, run by the Node hdc names in $dir/resolver),
# in the workspace's netns, outside its processes: it leaves when the workspace's first
# process does. Its one line on stdout says it listens; nothing resolves without it (the
# rules send every query to it, and no workspace process can bind port 53 in its place).
# A start by hand waits for that line and fails without it. During an `hdc up` of the
# workspace (the events note is here), the container starts beside the resolver's own
# start (Node's, ~0.1 s of CPU): hdc verifies the resolver, through its control socket,
# before any lifecycle command, and stops the container if it does not answer.
{ IFS= read -r node && IFS= read -r script; } <"$dir/resolver" || { wait "$loads" || :; fail "cannot read $dir/resolver (run hdc up again)"; }
ups=
for a in $upstream; do ups=${ups:+$ups,}$a; done
if [ "$role" = workspace ] && [ -e "$dir/events" ]; then
  # The namespace is taken now, while no workspace process exists (fd 3): the resolver must
  # not join one that the first process makes for itself (unshare -n) if it runs first.
  exec 3<"/proc/$pid/ns/net" || fail "cannot open the container's network namespace"
  ELECTRON_RUN_AS_NODE=1 nsenter --net=/proc/self/fd/3 -- setsid "$node" "$script" --dir "$dir" --socket "resolver-$role.sock" \
    --upstream "$ups" --watch-pid "$pid" </dev/null >/dev/null 2>>"$dir/resolver-$role.log" &
  exec 3<&-
  ready="ready (hdc up verifies it)"
else
  ready=$( { ELECTRON_RUN_AS_NODE=1 nsenter -t "$pid" -n -- setsid "$node" "$script" --dir "$dir" --socket "resolver-$role.sock" \
      --upstream "$ups" --watch-pid "$pid" </dev/null 2>>"$dir/resolver-$role.log" & } | { IFS= read -r l || :; printf '%s' "$l"; } )
fi
wait "$loads" \
  || case $? in 12) fail "iptables-restore failed" ;; 13) fail "ip6tables-restore failed" ;; 14|15) fail "the DNS redirect (nat) could not be loaded" ;;
       16) fail "cannot set ip_unprivileged_port_start in the workspace's network namespace" ;; 11|1) fail "ipset restore failed" ;;
       *) fail "the rule loads did not finish (status $?)" ;; esac
case $ready in "ready "*) ;; *) fail "the filtering resolver did not start (see $dir/resolver-$role.log)" ;; esac
fi
# During `hdc up`, the start is reported only once the CLI's events follower is ready to see
# it (the note exists only then; see events-wait.sh, installed next to this script).
if [ "$role" != sidecar ] && [ -e "$dir/events" ]; then
  . "${0%/*}/events-wait.sh"
  hdc_wait_for_events "$dir/events"
fi
# Tells a waiting `hdc up` that the workspace container was created, its pid and its id (an
# event, not a poll). The sidecar shares the directory, not this file.
if [ "$role" != sidecar ]; then echo "$pid${cid:+ $cid}" >"$dir/started" 2>/dev/null || true; fi
