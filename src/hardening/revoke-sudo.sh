#!/bin/sh
# Hardened Dev Containers: revokes the remote user's way to root. Run as root from outside
# the workspace (engine exec -u root ... sh -s -- USER), with this file on stdin and the
# user name as an argument, never inside a string. Idempotent: a second run changes nothing.
set -eu
user=$1
id "$user" >/dev/null 2>&1 || { echo "no such user: $user" >&2; exit 2; }
groups=$(id -Gn "$user")

# 1. sudoers.d entries that name the user, one of its groups, or everyone.
if [ -d /etc/sudoers.d ]; then
  for f in /etc/sudoers.d/*; do
    [ -f "$f" ] || continue
    for who in "$user" $groups ALL; do
      case $who in ALL) pat='^[[:space:]]*ALL[[:space:]]' ;; *) pat="^[[:space:]]*%\\{0,1\\}$who[[:space:]]" ;; esac
      if grep -q "$pat" "$f"; then sed -i "/$pat/d" "$f"; fi
    done
  done
fi
# 2. Passwordless lines in /etc/sudoers itself.
if [ -f /etc/sudoers ] && grep -q 'NOPASSWD' /etc/sudoers; then sed -i '/NOPASSWD/d' /etc/sudoers; fi
# 3. The groups that sudo (and polkit) treat as administrators.
for g in sudo wheel admin; do
  case " $groups " in *" $g "*) gpasswd -d "$user" "$g" >/dev/null ;; esac
done
# 4. su: a root account with an empty password would let anyone become root.
if [ -r /etc/shadow ] && awk -F: '$1 == "root" && $2 == "" {found=1} END {exit !found}' /etc/shadow; then
  usermod -p '*' root
fi
# 5. Verify in the same exec: as the user, sudo must refuse without a password; and root's
#    password must not be empty (su needs it). "unavailable": hdc checks with execs instead.
if ! command -v sudo >/dev/null 2>&1; then
  echo "sudo-check: no sudo in the image"
elif command -v runuser >/dev/null 2>&1; then
  if out=$(runuser -u "$user" -- sudo -n true 2>&1 </dev/null); then echo "sudo-check: SUCCEEDED"
  else echo "sudo-check: fails: $(printf '%s\n' "$out" | tail -n 1)"; fi
else
  echo "sudo-check: unavailable"
fi
if [ -r /etc/shadow ]; then
  awk -F: '$1 == "root" { print "root-password: " ($2 == "" ? "EMPTY" : ($2 ~ /^[!*]/ ? "locked" : "set")) }' /etc/shadow
fi
echo revoked
