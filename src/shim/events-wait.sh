# Hardened Dev Containers: sourced by podman-shim.sh (`run`) and by the OCI hook.
# The note's format and HDC_EVENTS/HDC_EVENTS_WAIT are owned by src/base/protocol.ts.
#
# The devcontainers CLI starts `podman events` to wait for its container's start, then runs
# the container. podman 4.3 does not replay an event written before its follower was ready,
# so the CLI could miss the start and wait for ever. The shim's `events` writes
# "PID EVENTS-LOG" to a note file ($HDC_EVENTS, created empty by hdc for each `up`); PID is
# the follower (podman, a child of the shim). This waits until that follower has
# the log open and has moved past its start: podman opens it, then seeks to its end.
#
# hdc_wait_for_events NOTE: returns at once when NOTE does not exist (a start not run by
# hdc), says "since" (the follower replays) or "none" (the CLI's `start`, which follows no
# events); otherwise at most ~1 s for the note and ~3 s for the follower. Never fails: the
# worst case is the race the CLI has without us.
hdc_wait_for_events() {
  _note=$1 _n=0 _pid= _log=
  [ -e "$_note" ] || return 0
  while :; do
    read -r _pid _log <"$_note" 2>/dev/null || :
    [ -z "$_pid" ] || break
    _n=$((_n + 1))
    [ "$_n" -le 100 ] || return 0
    sleep 0.01
  done
  case $_pid in *[!0-9]*) return 0 ;; esac
  [ -n "$_log" ] || return 0
  _n=0
  while [ -d "/proc/$_pid" ] && [ "$_n" -le 300 ]; do
    for _fd in /proc/"$_pid"/fd/*; do
      [ "$_fd" -ef "$_log" ] || continue
      [ -s "$_log" ] || return 0
      while read -r _key _value; do
        [ "$_key" = pos: ] || continue
        [ "$_value" -gt 0 ] && return 0
        break
      done <"/proc/$_pid/fdinfo/${_fd##*/}"
    done
    _n=$((_n + 1))
    sleep 0.01
  done
  return 0
}
