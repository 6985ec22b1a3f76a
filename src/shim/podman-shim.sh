#!/bin/sh
# Hardened Dev Containers: the --docker-path shim for podman.
# Its states, files and HDC_* variables are owned by src/base/protocol.ts (keep both in step).
# The devcontainers CLI calls this in place of podman. Environment, set by hdc:
#   HDC_ENGINE    real podman to exec (required)
#   HDC_UID/GID   the remote user's ids in the image (required for run/create), or:
#   HDC_PREGATE   every call waits until this file says "open UID GID" (see below); HDC_PID
#                 "open image": the ids come from the image the CLI built (see run/create)
#   HDC_SHIM_LOG  if set, append the argv passed on to podman here (a line per call)
#   HDC_GATE      if set, `exec` waits until this file says "open" (refuses on anything else)
#   HDC_EVENTS    if set, a note file per `up` (created empty): how `events` follows, read by
#                 `run` unless HDC_EVENTS_WAIT=hook (the OCI hook waits); see events-wait.sh
#   HDC_PROBES    if set, a folder per podman binary where the answers to the CLI's engine
#                 probes (SHIM_PROBES in protocol.ts) are kept
#   HDC_ANSWERS   if set, a folder of hdc's answers to the CLI's look-ups (see below)
set -eu
engine=${HDC_ENGINE:?HDC_ENGINE must name the real podman}

# hdc starts the CLI while it still checks the engine and writes the hardening (the CLI's
# start-up costs ~0.2 s). Every call waits here until hdc writes "open UID GID" (the remote
# user's ids); anything else, or hdc (HDC_PID) gone, refuses. Nothing reaches podman before.
# hdc_await FILE: waits until hdc has written FILE (every 10 ms for the first half second,
# the usual case, then every 100 ms: an image pull or a build); refuses if hdc is gone.
hdc_await() {
  n=0
  until [ -s "$1" ]; do
    [ -d "/proc/${HDC_PID:-0}" ] || { echo "hardened-devcontainers: hdc is gone; refusing" >&2; exit 1; }
    n=$((n + 1))
    if [ "$n" -le 50 ]; then sleep 0.01; else sleep 0.1; fi
  done
}
# The CLI's engine probes (three podman processes before its first real call): a kept
# answer is given at once, without podman and so without the pregate.
probe=
if [ -n "${HDC_PROBES:-}" ]; then
  case "$*" in 'buildx version') probe=buildx ;; -v) probe=v ;; 'version --format {{.Server.Version}}') probe=server ;; esac
fi
if [ -n "$probe" ] && [ -f "$HDC_PROBES/$probe.rc" ]; then
  read -r rc <"$HDC_PROBES/$probe.rc" || rc=1
  cat "$HDC_PROBES/$probe.out"; cat "$HDC_PROBES/$probe.err" >&2
  exit "$rc"
fi
if [ -n "${HDC_PREGATE:-}" ]; then
  hdc_await "$HDC_PREGATE"
  read -r state HDC_UID HDC_GID <"$HDC_PREGATE" || :
  [ "$state" = open ] || { echo "hardened-devcontainers: hdc stopped this up before its container was made; refusing" >&2; exit 1; }
fi
started=   # the invocation time, read only when needed: a fork costs ~1 ms per call
now() { [ -n "$started" ] || started=$(date +%s); }

# The subcommand is the first argument that is not an option (`-v` has none).
sub= follow_log=
for a in "$@"; do
  case $a in -*) ;; *) sub=$a; break ;; esac
done

# hdc's answers to the CLI's look-ups (protocol.ts, 7.): a `ps` or `inspect` asked exactly
# as hdc asked it moments before gets podman's answer at once (each podman process costs
# ~60 ms of CPU); every call that may change what they say removes them first.
answers=${HDC_ANSWERS:-}
# drop_answers: the folder goes at once (a rename), then its files. The CLI's calls run side
# by side, and two `rm -rf` of one folder can fail each other (set -e would end the call).
drop_answers() {
  if mv "$answers" "$answers.gone.$$" 2>/dev/null; then rm -rf "$answers.gone.$$" 2>/dev/null || :
  elif [ -e "$answers" ]; then echo "hardened-devcontainers: cannot remove hdc's answers ($answers); refusing" >&2; exit 1
  fi
}
if [ -n "$answers" ] && [ -d "$answers" ]; then
  case $sub in
    ps|inspect)
      nl='
'
      asked=
      for a in "$@"; do
        case $a in *"$nl"*) asked=; break ;; esac
        asked=$asked$a$nl
      done
      if [ -n "$asked" ]; then
        # The folder may go while this reads (a call beside this one dropped it): then podman answers.
        for k in "$answers"/*.key; do
          key=
          { while IFS= read -r l; do key=$key$l$nl; done <"$k"; } 2>/dev/null || continue
          if [ "$key" = "$asked" ] && cat "${k%.key}.out" 2>/dev/null; then exit 0; fi
        done
      fi ;;
  esac
fi
# Not answered: podman's answer to `inspect --type container ID` (the full id) is kept, for
# that argv and for the same with the 12-digit id (the CLI asks three times after the start).
keep_inspect=
if [ -n "$answers" ] && [ "$#" -eq 4 ] && [ "$1 $2 $3" = 'inspect --type container' ]; then
  case $4 in *[!0-9a-f]*) ;; ????????????????????????????????????????????????????????????????) keep_inspect=$4 ;; esac
fi
if [ -n "$answers" ] && [ -d "$answers" ]; then
  case $sub in
    ps|inspect) ;;
    ''|events|version|info) ;;
    buildx) [ "$*" = 'buildx version' ] || drop_answers ;;
    *) drop_answers ;;
  esac
fi

case $sub in
  run|create)
    # A build (Dockerfile or features): hdc reads the remote user from the image this call
    # runs. The argv goes to HDC_PREGATE.run (NUL-separated, written whole); hdc answers
    # "open UID GID" in HDC_PREGATE.ids, or "closed" (a missing user, root): then nothing runs.
    if [ "${HDC_UID:-}" = image ]; then
      printf '%s\0' "$@" >"$HDC_PREGATE.run.tmp" && mv "$HDC_PREGATE.run.tmp" "$HDC_PREGATE.run"
      hdc_await "$HDC_PREGATE.ids"
      read -r state HDC_UID HDC_GID <"$HDC_PREGATE.ids" || :
      [ "$state" = open ] || { echo "hardened-devcontainers: hdc refused the image's remote user (see hdc's message); nothing was run" >&2; exit 1; }
    fi
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
    done
    if [ "$sub" = run ] && [ -n "${HDC_EVENTS:-}" ] && [ "${HDC_EVENTS_WAIT:-}" != hook ]; then
      . "${0%/*}/events-wait.sh"
      hdc_wait_for_events "$HDC_EVENTS"
    fi ;;
  events)
    # The CLI follows `events` for its container's start (see events-wait.sh). With podman's
    # file logger at its default path, `run` (or the hook) waits until this follower is at
    # the log's end. Otherwise --since makes podman replay from this call's start; not with
    # the file logger, as podman then reads the whole log (0.5 s at 14 MB).
    log=${XDG_RUNTIME_DIR:-/nonexistent}/libpod/tmp/events/events.log
    if [ -n "${HDC_EVENTS:-}" ] && [ -f "$log" ]; then
      follow_log=$log   # the follower runs as a child, below; the note names it
    else
      now; set -- "$@" --since "$started"
      [ -z "${HDC_EVENTS:-}" ] || echo since >"$HDC_EVENTS"
    fi ;;
  start)
    # The CLI starts a stopped container without an events follower: say so, so that the
    # hook does not wait for one.
    if [ -n "${HDC_EVENTS:-}" ] && [ ! -s "$HDC_EVENTS" ]; then echo none >"$HDC_EVENTS"; fi ;;
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
      read -r g <"$HDC_GATE" || :
      [ "$g" = open ] || { echo "hardened-devcontainers: the firewall was not verified; refusing exec" >&2; exit 1; }
    fi
    # Answers written while this call waited (hdc's after the start) go before it runs.
    [ -z "$answers" ] || drop_answers ;;
esac

if [ -n "${HDC_SHIM_LOG:-}" ]; then
  # The argv podman really gets, tab-separated: time, then one field per argument.
  # One write per call: calls that log at once (the CLI runs several) must not interleave.
  now; line=$started
  for a in "$@"; do line="$line	$a"; done
  printf '%s\n' "$line" >>"$HDC_SHIM_LOG"
fi

if [ -n "$probe" ]; then
  # A probe this binary has not answered yet: asked, and kept once it succeeds (rc last, so
  # that a reader sees a whole answer). A failed one is never kept: podman's `buildx version`
  # always fails, so the CLI's first call waits at the pregate, and the CLI reads its
  # configuration only once hdc has written the override file (kept, the CLI raced hdc and
  # lost: "Dev container config ... not found").
  p=$HDC_PROBES/$probe; rc=0
  "$engine" "$@" >"$p.out.$$" 2>"$p.err.$$" || rc=$?
  cat "$p.out.$$"; cat "$p.err.$$" >&2
  if [ "$rc" -eq 0 ]; then
    mv -f "$p.out.$$" "$p.out"; mv -f "$p.err.$$" "$p.err"; echo "$rc" >"$p.rc.$$"; mv -f "$p.rc.$$" "$p.rc"
  else
    rm -f "$p.out.$$" "$p.err.$$"
  fi
  exit "$rc"
fi
if [ -n "$follow_log" ]; then
  # podman 4.3's file follower (its tail library) hands on an event line that podman is
  # still writing, fails to parse it, and ends with status 0 and no message: the CLI then
  # waits for ever for a start event that went past (measured: a line written in two parts
  # ends `podman events` at once). So the follower runs as a child and the note names it;
  # when it ends that way, it follows again from this call's start (--since: the file logger
  # then reads the whole log, so only in that case), up to 10 times, 0.2 s apart (a
  # half-written line is whole by then). Any other end is passed on.
  now
  # start_of PID: field 22 of /proc/PID/stat (its start time) into $started_at, read by the
  # shell itself; a pid is the same process only with the same start time.
  start_of() {
    started_at=
    read -r _s 2>/dev/null <"/proc/$1/stat" || return 1
    _s=${_s##*) }
    set -- $_s
    started_at=${20}
  }
  start_of "$$"; shim_born=$started_at
  # hdc_follow ARG...: the follower, and a watcher that ends it once this shim is gone (the
  # CLI ends the shim with SIGKILL when it has its event; a parent-death signal does not
  # hold, as rootless podman clears it when it joins its user namespace). The start times
  # are read before the watcher forks, while the follower cannot have been reaped. The
  # watcher holds none of the CLI's pipes, and ends with the follower.
  hdc_follow() {
    "$engine" "$@" &
    child=$!
    start_of "$child" || return 0
    child_born=$started_at
    (
      same() { start_of "$1" && [ "$started_at" = "$2" ]; }
      while same "$shim" "$shim_born"; do
        same "$child" "$child_born" || exit 0
        sleep 0.5
      done
      same "$child" "$child_born" || exit 0
      kill "$child" 2>/dev/null || exit 0
      sleep 2
      if same "$child" "$child_born"; then kill -KILL "$child" 2>/dev/null || :; fi
    ) </dev/null >/dev/null 2>&1 &
  }
  shim=$$
  hdc_follow "$@"
  printf '%s %s\n' "$child" "$follow_log" >"$HDC_EVENTS"
  # A follower that follows again replays the log from the call's start, and can meet the
  # same half-written line: podman then fails ("unexpected end of JSON input", status 125).
  # So only the first follower's failure is passed on; a replay's is followed again too.
  n=0
  while :; do
    rc=0; wait "$child" || rc=$?
    [ "$rc" -eq 0 ] || [ "$n" -gt 0 ] || exit "$rc"
    n=$((n + 1))
    [ "$n" -le 10 ] || { echo "hardened-devcontainers: podman's events follower kept ending; giving up" >&2; exit 1; }
    echo "hardened-devcontainers: podman's events follower ended on its own (status $rc); following again since the call's start" >&2
    sleep 0.2
    hdc_follow "$@" --since "$started"
  done
fi
if [ -n "$keep_inspect" ] && [ -d "$answers" ]; then
  tmp=$answers.$$.out rc=0
  "$engine" "$@" >"$tmp" || rc=$?
  cat "$tmp"
  if [ "$rc" -eq 0 ]; then
    n=0
    for id in "$keep_inspect" "$(printf %.12s "$keep_inspect")"; do
      n=$((n + 1)) k=$answers/inspect-$$-$n
      { cp "$tmp" "$k.out" && printf 'inspect\n--type\ncontainer\n%s\n' "$id" >"$k.k" && mv "$k.k" "$k.key"; } 2>/dev/null || :
    done
  fi
  rm -f "$tmp"
  exit "$rc"
fi
exec "$engine" "$@"
