#!/usr/bin/env bash
# Starts (start) or stops (stop) the Docker engine and a local registry for the end-to-end
# tests. start is a no-op for a service that already answers.
set -euo pipefail
state=${STALECHECK_STATE:-/tmp/stalecheck-engine}
mkdir -p "$state"
docker=/usr/bin/docker

start_engine() {
  if $docker version >/dev/null 2>&1; then return 0; fi
  dockerd --storage-driver=overlay2 >"$state/dockerd.log" 2>&1 &
  echo $! >"$state/dockerd.pid"
  for _ in $(seq 1 60); do
    if $docker version >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "dockerd did not come up; its log:" >&2
  tail -n 30 "$state/dockerd.log" >&2
  return 1
}

start_registry() {
  if curl -fsS http://127.0.0.1:5000/v2/ >/dev/null 2>&1; then return 0; fi
  mkdir -p "$state/registry"
  cat >"$state/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $state/registry
http:
  addr: 127.0.0.1:5000
YML
  docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 &
  echo $! >"$state/registry.pid"
  for _ in $(seq 1 30); do
    if curl -fsS http://127.0.0.1:5000/v2/ >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "docker-registry did not come up; its log:" >&2
  tail -n 30 "$state/registry.log" >&2
  return 1
}

stop_one() {
  local pidfile="$state/$1.pid"
  [[ -f $pidfile ]] || return 0
  local pid
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  rm -f "$pidfile"
}

case "${1:-}" in
  start) start_engine; start_registry ;;
  stop) stop_one registry; stop_one dockerd ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
