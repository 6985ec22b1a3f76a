#!/usr/bin/env bash
# Starts or stops a Docker daemon for the docker test suite (root only).
# We only ever stop the dockerd we started, by the PID we recorded.
#   dockerd.sh start   -> starts it if no daemon answers; imports the base image, builds the egress image
#   dockerd.sh stop    -> stops the one we started, if any
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
pidfile=$HDC_STATE/dockerd.pid
mkdir -p "$HDC_STATE"

case "${1:-}" in
  start)
    if docker version >/dev/null 2>&1; then
      echo "==> a Docker daemon already answers; using it"
    else
      echo "==> starting dockerd"
      setsid dockerd >"$HDC_STATE/dockerd.log" 2>&1 < /dev/null &
      echo $! >"$pidfile"
      for _ in $(seq 1 60); do
        docker version >/dev/null 2>&1 && break
        kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -20 "$HDC_STATE/dockerd.log" >&2; exit 1; }
        sleep 0.5
      done
      docker version >/dev/null 2>&1 || { echo "dockerd did not come up" >&2; tail -20 "$HDC_STATE/dockerd.log" >&2; exit 1; }
    fi
    bash "$here/base-image.sh" docker
    # hdc's egress image (the firewall guard's), as `hdc up` would build it on first use:
    # from this machine's Debian packages, no registry. A no-op when docker has it.
    node "$here/../dist/hdc.cjs" egress-image --runtime docker --json >/dev/null ;;
  stop)
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile")
      if kill -0 "$pid" 2>/dev/null; then
        echo "==> stopping dockerd ($pid)"
        kill "$pid"
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      fi
      rm -f "$pidfile"
    fi ;;
  *) echo "usage: dockerd.sh start|stop" >&2; exit 2 ;;
esac
