#!/bin/sh
# Hardened Dev Containers: revokes the remote user's way to root. Run as root from outside
# the workspace (engine exec -u root ... sh -s -- USER), with this file on stdin and the
# user name as an argument, never inside a string. Idempotent: a second run changes nothing.
# Few processes (each costs 5-10 ms on a small VM, and this is on the up's critical path).
set -eu
user=$1
groups=$(id -Gn "$user" 2>/dev/null) || { echo "no such user: $user" >&2; exit 2; }
# The names go into the patterns below, so they may hold only what user and group names hold
# on Debian and its kin: letters, digits, '.', '_' and '-' (a '.' matches any character there,
# which can only remove more). Anything else (an image's own /etc/group can say anything)
# is refused: the container then stops, with sudo unverified.
names=
set -f # a group named "*" is a name here, not a pattern
for who in "$user" $groups; do
  case $who in
    ''|*[!A-Za-z0-9._-]*) echo "cannot revoke sudo safely: the user or one of its groups is named \"$who\", with characters other than letters, digits, '.', '_' and '-'" >&2; exit 3 ;;
  esac
  names=${names:+$names|}$who
done
set +f

# 1. sudoers.d entries that name the user, one of its groups, or everyone.
pat="^[[:space:]]*(%?($names)|ALL)[[:space:]]"
if [ -d /etc/sudoers.d ]; then
  for f in /etc/sudoers.d/*; do
    [ -f "$f" ] || continue
    if grep -qE -- "$pat" "$f"; then sed -i -E "/$pat/d" "$f"; fi
  done
fi
# 2. Passwordless lines in /etc/sudoers itself.
if [ -f /etc/sudoers ] && grep -q 'NOPASSWD' /etc/sudoers; then sed -i '/NOPASSWD/d' /etc/sudoers; fi
# 3. The groups that sudo (and polkit) treat as administrators.
for g in sudo wheel admin; do
  case " $groups " in *" $g "*) gpasswd -d "$user" "$g" >/dev/null ;; esac
done
# 4. su: a root account with an empty password would let anyone become root.
root_password() {
  root_pw=unreadable
  [ -r /etc/shadow ] || return 0
  while IFS=: read -r name pw rest || [ -n "$name" ]; do # the last line may lack its newline
    [ "$name" = root ] || continue
    case $pw in '') root_pw=EMPTY ;; '!'*|'*'*) root_pw=locked ;; *) root_pw=set ;; esac
    return 0
  done </etc/shadow
}
root_password
if [ "$root_pw" = EMPTY ]; then usermod -p '*' root; root_password; fi
# 5. Verify in the same exec: as the user, sudo must refuse without a password; and root's
#    password must not be empty (su needs it). "unavailable": hdc checks with execs instead.
if ! command -v sudo >/dev/null 2>&1; then
  echo "sudo-check: no sudo in the image"
elif command -v runuser >/dev/null 2>&1; then
  if out=$(runuser -u "$user" -- sudo -n true 2>&1 </dev/null); then echo "sudo-check: SUCCEEDED"
  else echo "sudo-check: fails: ${out##*"
"}"; fi
else
  echo "sudo-check: unavailable"
fi
[ "$root_pw" = unreadable ] || echo "root-password: $root_pw"
echo revoked
