#!/bin/sh
# Hardened Dev Containers: the --docker-path shim for podman.
# The devcontainers CLI calls this in place of podman. Environment, set by hdc:
#   HDC_ENGINE    real podman to exec (required)
#   HDC_UID/GID   the remote user's ids in the image (required for run/create)
#   HDC_SHIM_LOG  if set, append the argv passed on to podman here (a line per call)
#   HDC_GATE      if set, `exec` waits until this file says "open" (refuses on anything else)
set -eu
engine=${HDC_ENGINE:?HDC_ENGINE must name the real podman}
started=   # the invocation time, read only when needed: a fork costs ~1 ms per call
now() { [ -n "$started" ] || started=$(date +%s); }

# The subcommand is the first argument that is not an option (`-v` has none).
sub=
for a in "$@"; do
  case $a in -*) ;; *) sub=$a; break ;; esac
done

case $sub in
  run|create)
    # The CLI forces a bare --userns=keep-id, which maps the remote user to the host
    # user's uid. keep-id:uid=U,gid=G maps the host user onto the image's own user
    # instead, so the workspace bind mount is owned by it with no uid-rebuilt image.
    ids="keep-id:uid=${HDC_UID:?HDC_UID must be set},gid=${HDC_GID:?HDC_GID must be set}"
    prev=
    for a in "$@"; do
      shift
      if [ "$a" = --userns=keep-id ]; then a=--userns=$ids
      elif [ "$prev" = --userns ] && [ "$a" = keep-id ]; then a=$ids
      fi
      set -- "$@" "$a"   # rotate: the rewritten argument goes to the back
      prev=$a
    done ;;
  events)
    # podman 4.3's file event logger does not replay events that happened before the
    # watcher was ready, so the CLI can miss the start event and wait forever.
    # --since makes podman read the log from the moment this call began.
    now; set -- "$@" --since "$started" ;;
  exec)
    # The CLI's commands in the container (the lifecycle commands among them) wait until
    # hdc has verified the firewall and written "open" to the gate; anything else refuses.
    if [ -n "${HDC_GATE:-}" ]; then
      n=0
      until [ -s "$HDC_GATE" ]; do
        n=$((n + 1))
        [ "$n" -le 12000 ] || { echo "hardened-devcontainers: the firewall was not verified in 10 minutes; refusing exec" >&2; exit 1; }
        sleep 0.05
      done
      [ "$(cat "$HDC_GATE")" = open ] || { echo "hardened-devcontainers: the firewall was not verified; refusing exec" >&2; exit 1; }
    fi ;;
esac

if [ -n "${HDC_SHIM_LOG:-}" ]; then
  # The argv podman really gets, tab-separated: time, then one field per argument.
  now; { printf '%s' "$started"; printf '\t%s' "$@"; printf '\n'; } >>"$HDC_SHIM_LOG"
fi

exec "$engine" "$@"
