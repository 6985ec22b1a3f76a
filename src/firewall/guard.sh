#!/bin/sh
# Hardened Dev Containers: entrypoint of the docker guard container. Docker has no OCI
# hooks, so on docker a small guard container owns the workspace's network namespace and
# the workspace joins it (--network container:GUARD) with no network capabilities. This
# script loads the rules and starts the filtering resolver before it says it is ready; if
# either fails it exits, and docker will not start the workspace in a namespace whose owner
# is not running. The guard's `docker run` sets ip_unprivileged_port_start to 1024 and gives
# the guard alone NET_BIND_SERVICE: only the resolver can send DNS upstream.
# `hdc kube` runs it in a pod too: `guard.sh rules` (an init container on podman, which has
# no native sidecars) loads the rules and exits; with no argument it also runs the resolver
# and, once that answers, writes its network namespace into /tmp/hdc-guard-ready (a native
# sidecar's startup probe) and /hdc-ready/ready (what the pod's lifecycle script waits for).
# Both marks are removed first: a restarted container (or a restarted pod, whose volumes
# outlive it) never finds the previous start's mark.
set -eu
mode=${1:-guard}
d=/hdc-firewall   # the workspace's firewall directory, mounted read-only
fail() { echo "hardened-devcontainers firewall guard: $*; the workspace cannot start" >&2; exit 1; }
rm -f /tmp/hdc-guard-ready
[ ! -d /hdc-ready ] || rm -f /hdc-ready/ready
for f in ipset.restore rules.v4 rules.v6 nat.v4 nat.v6; do [ -r "$d/$f" ] || fail "cannot read $d/$f (as uid $(id -u 2>/dev/null || echo unknown))"; done
# The tools this script runs, named before anything is loaded: the guard's image must have them.
for t in ipset iptables-restore ip6tables-restore sed cat tr head tail sleep readlink rm; do
  command -v "$t" >/dev/null 2>&1 || fail "the guard's image has no $t (it needs sh, iptables, ipset and coreutils)"
done

# Resolvers: the ones hdc recorded at the guard's first start (dns.txt). That first time,
# before any workspace joined, this container's own resolv.conf is still pristine. Without
# dns.txt (a pod using the cluster's DNS), the first start here records resolv.conf in /tmp
# (a pod's emptyDir, which no workspace container mounts) and every later start reads that
# record: in a pod the resolv.conf is shared, and the workspace may have written it since.
dns=$d/dns.txt
if [ ! -r "$dns" ]; then
  dns=/tmp/hdc-upstream.conf
  [ -r "$dns" ] || cat /etc/resolv.conf >"$dns" || fail "cannot record the resolvers of /etc/resolv.conf"
fi
upstream=$(sed -n 's/^[[:space:]]*nameserver[[:space:]]\{1,\}\([0-9.]\{7,15\}\)[[:space:]]*$/\1/p
                  s/^[[:space:]]*nameserver[[:space:]]\{1,\}\([0-9a-fA-F:]\{2,39\}\)[[:space:]]*$/\1/p' "$dns")
{
  cat "$d/ipset.restore"
  for a in $upstream; do case $a in *:*) echo "add hdc-dns6 $a -exist" ;; *) echo "add hdc-dns4 $a -exist" ;; esac; done
} | ipset restore || fail "ipset restore failed"
iptables-restore <"$d/rules.v4" || fail "iptables-restore failed"
ip6tables-restore <"$d/rules.v6" || fail "ip6tables-restore failed"
# Ahead of docker's own nat rules (its embedded DNS at 127.0.0.11), kept.
iptables-restore --noflush <"$d/nat.v4" || fail "the DNS redirect (nat) could not be loaded"
ip6tables-restore --noflush <"$d/nat.v6" || fail "the DNS redirect (nat, IPv6) could not be loaded"
[ "$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)" -ge 1024 ] || fail "ip_unprivileged_port_start is below 1024"
# When the rules were in (the host's clock, ns): the tests measure the window after a start.
echo "hdc-guard-rules-loaded $(date +%s%N 2>/dev/null || echo unknown)"
[ "$mode" = rules ] && exit 0

# The filtering resolver: the host's Node and hdc's bundle, mounted read-only.
ups=$(echo $upstream | tr ' ' ',')
ready=$( { ELECTRON_RUN_AS_NODE=1 /hdc/node /hdc/dist/firewall-resolver.cjs --dir "$d" --socket /tmp/hdc-resolver.sock \
    --upstream "$ups" </dev/null 2>>/tmp/hdc-resolver.log & } | head -n 1 )
case $ready in "ready "*) ;; *) fail "the filtering resolver did not start: $(tail -n 3 /tmp/hdc-resolver.log 2>/dev/null)" ;; esac
netns=$(readlink /proc/self/ns/net) || fail "cannot read its network namespace"
echo "$netns" >/tmp/hdc-guard-ready
[ ! -d /hdc-ready ] || echo "$netns" >/hdc-ready/ready
echo "hdc-guard-ready"
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
