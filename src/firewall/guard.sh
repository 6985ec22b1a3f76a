#!/bin/sh
# Hardened Dev Containers: entrypoint of the docker guard container. Docker has no OCI
# hooks, so on docker a small guard container owns the workspace's network namespace and
# the workspace joins it (--network container:GUARD) with no network capabilities. This
# script loads the rules before it says it is ready; if they cannot be loaded it exits, and
# docker will not start the workspace in a namespace whose owner is not running.
set -eu
d=/hdc-firewall   # the workspace's firewall directory, mounted read-only
fail() { echo "hardened-devcontainers firewall guard: $*; the workspace cannot start" >&2; exit 1; }
for f in ipset.restore rules.v4 rules.v6; do [ -r "$d/$f" ] || fail "cannot read $d/$f"; done

# Resolvers: the ones hdc recorded at the guard's first start (dns.txt). That first time,
# before any workspace joined, this container's own resolv.conf is still pristine.
dns=$d/dns.txt
[ -r "$dns" ] || dns=/etc/resolv.conf
{
  cat "$d/ipset.restore"
  sed -n 's/^[[:space:]]*nameserver[[:space:]]\{1,\}\([0-9.]\{7,15\}\)[[:space:]]*$/add hdc-dns4 \1 -exist/p
          s/^[[:space:]]*nameserver[[:space:]]\{1,\}\([0-9a-fA-F:]\{2,39\}\)[[:space:]]*$/add hdc-dns6 \1 -exist/p' "$dns"
} | ipset restore || fail "ipset restore failed"
iptables-restore <"$d/rules.v4" || fail "iptables-restore failed"
ip6tables-restore <"$d/rules.v6" || fail "ip6tables-restore failed"
echo "hdc-guard-ready"
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
