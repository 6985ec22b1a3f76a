#!/bin/bash
# Stand-in written for the hdc test corpus (not the original script). Like the original
# it needs NET_ADMIN: it flushes the filter/nat/mangle tables, creates the
# "allowed-domains" ipset and installs a default-deny egress policy. It fetches and
# resolves nothing (the corpus machine is offline), so the allow-list stays empty apart
# from loopback and DNS. Without NET_ADMIN the first iptables call fails and, with
# set -e, so does the script, exactly where the original would.
set -euo pipefail
IFS=$'\n\t'

iptables -F
iptables -X
iptables -t nat -F
iptables -t nat -X
iptables -t mangle -F
iptables -t mangle -X
ipset destroy allowed-domains 2>/dev/null || true

iptables -A OUTPUT -p udp --dport 53 -j ACCEPT
iptables -A INPUT -p udp --sport 53 -j ACCEPT
iptables -A INPUT -i lo -j ACCEPT
iptables -A OUTPUT -o lo -j ACCEPT

ipset create allowed-domains hash:net

iptables -P INPUT DROP
iptables -P FORWARD DROP
iptables -P OUTPUT DROP
iptables -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
iptables -A OUTPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
iptables -A OUTPUT -m set --match-set allowed-domains dst -j ACCEPT
iptables -A OUTPUT -j REJECT --reject-with icmp-admin-prohibited

echo "Firewall configuration complete (hdc corpus stand-in)"
