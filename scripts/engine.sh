#!/usr/bin/env bash
# The Docker engines and the local registry the end-to-end tests drive.
#
#   scripts/engine.sh start [20|26|28|28c|all]   start the engine(s) (default 20) and the registry
#   scripts/engine.sh stop  [20|26|28|all]   stop what start started (default all, and the registry)
#   scripts/engine.sh stop-registry          stop the registry alone
#   scripts/engine.sh env   20|26|28         print the engine's client settings as shell exports
#
# 20 is Debian 12's installed docker.io (default socket, data root and docker0). 26 and 28 are
# the docker.io, docker-cli, docker-buildx and docker-compose packages of Debian's trixie and sid,
# fetched with `apt-get download` through a sources list and state directory of their own (the
# host's apt configuration is untouched) and unpacked with `dpkg -x`, never installed. Each has
# its own socket, data root, exec root, bridge and DOCKER_CONFIG (for its CLI plugins). 28c is
# engine 28's binaries with the containerd image store ("containerd-snapshotter"), as Docker 29
# and Docker Desktop default to, on this machine's containerd. start is a no-op for an engine
# that already answers; a fetch or start that fails fails loudly.
set -euo pipefail
state=${STALECHECK_STATE:-/tmp/stalecheck-engine}
mkdir -p "$state"

suite_of() { case $1 in 26) echo trixie ;; 28 | 28c) echo sid ;; esac; }
# The unpacked packages engine $1 runs (28c runs 28's).
root_of() { echo "$state/${1%c}/root"; }
# Each extra engine's bridge and subnet, away from docker0's 172.17.0.0/16.
bridge_of() { echo "stalecheck$1"; }
subnet_of() { case $1 in 28c) echo "10.199.29.1/24" ;; *) echo "10.199.$1.1/24" ;; esac; }

# The client settings of engine $1: DOCKER (the CLI), DOCKER_HOST, DOCKER_CONFIG.
engine_env() {
  case $1 in
    20)
      echo "export STALECHECK_ENGINE=20"
      echo "export DOCKER=/usr/bin/docker"
      echo "export DOCKER_HOST=unix:///var/run/docker.sock"
      echo "export DOCKER_CONFIG=$state/20/config"
      ;;
    26 | 28 | 28c)
      local dir=$state/$1
      echo "export STALECHECK_ENGINE=$1"
      echo "export DOCKER=$(root_of "$1")/usr/bin/docker"
      echo "export DOCKER_HOST=unix://$dir/docker.sock"
      echo "export DOCKER_CONFIG=$dir/config"
      ;;
    *) echo "engine.sh: unknown engine '$1' (20, 26, 28 or 28c)" >&2; return 2 ;;
  esac
}

answers() { # engine number
  (eval "$(engine_env "$1")"; "$DOCKER" version >/dev/null 2>&1)
}

# Fetches and unpacks engine $1's packages once, into $state/$1/root.
fetch_engine() {
  local n=${1%c} suite dir apt
  suite=$(suite_of "$n")
  dir=$state/$n
  [[ -x $dir/root/usr/sbin/dockerd && -x $dir/root/usr/bin/docker ]] && return 0
  apt=$state/apt
  mkdir -p "$apt/etc" "$apt/state/lists/partial" "$apt/cache/archives/partial" "$dir/debs"
  cat >"$apt/etc/sources.list" <<EOF
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main
EOF
  local opts=(-q -o "Dir::Etc::SourceList=$apt/etc/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State=$apt/state" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1
    -o APT::Sandbox::User=root)
  if [[ ! -f $apt/updated ]]; then
    apt-get "${opts[@]}" update >"$apt/update.log" 2>&1 || { cat "$apt/update.log" >&2; return 1; }
    touch "$apt/updated"
  fi
  rm -rf "$dir/debs"/*.deb "$dir/root"
  (cd "$dir/debs" && apt-get "${opts[@]}" download \
    "docker.io/$suite" "docker-cli/$suite" "docker-buildx/$suite" "docker-compose/$suite") \
    >"$dir/fetch.log" 2>&1 || { echo "fetching engine $n's packages from $suite failed:" >&2; cat "$dir/fetch.log" >&2; return 1; }
  local deb
  for deb in "$dir/debs"/*.deb; do dpkg -x "$deb" "$dir/root"; done
  [[ -x $dir/root/usr/sbin/dockerd ]] || { echo "engine $n: no dockerd in $suite's docker.io" >&2; return 1; }
}

start_engine() {
  local n=$1
  if answers "$n"; then report "$n"; return 0; fi
  local dir=$state/$n
  mkdir -p "$dir/config"
  case $n in
    20)
      dockerd --storage-driver=overlay2 >"$dir/dockerd.log" 2>&1 &
      echo $! >"$dir/dockerd.pid"
      ;;
    26 | 28 | 28c)
      fetch_engine "$n"
      local root
      root=$(root_of "$n")
      # The CLI finds buildx and compose through its own DOCKER_CONFIG, never the host's.
      mkdir -p "$dir/config/cli-plugins" "$dir/data" "$dir/exec"
      ln -sf "$root/usr/libexec/docker/cli-plugins/docker-buildx" "$dir/config/cli-plugins/docker-buildx"
      ln -sf "$root/usr/libexec/docker/cli-plugins/docker-compose" "$dir/config/cli-plugins/docker-compose"
      [[ -f $dir/config/config.json ]] || echo '{}' >"$dir/config/config.json"
      # 28c keeps images in containerd's content store, with its overlayfs snapshotter.
      if [[ $n == 28c ]]; then
        echo '{"features": {"containerd-snapshotter": true}}' >"$dir/daemon.json"
      else
        echo '{"storage-driver": "overlay2"}' >"$dir/daemon.json"
      fi
      local br
      br=$(bridge_of "$n")
      if ! ip link show "$br" >/dev/null 2>&1; then
        ip link add "$br" type bridge
        ip addr add "$(subnet_of "$n")" dev "$br"
      fi
      ip link set "$br" up
      # docker-init and docker-proxy come from the same package as dockerd.
      PATH=$root/usr/bin:$root/usr/sbin:$PATH \
        "$root/usr/sbin/dockerd" --config-file "$dir/daemon.json" --host "unix://$dir/docker.sock" --data-root "$dir/data" \
        --exec-root "$dir/exec" --pidfile "$dir/docker.pid" --bridge "$br" --iptables=false \
        --ip6tables=false >"$dir/dockerd.log" 2>&1 &
      echo $! >"$dir/dockerd.pid"
      ;;
  esac
  for _ in $(seq 1 60); do
    if answers "$n"; then report "$n"; return 0; fi
    sleep 1
  done
  echo "engine $n (dockerd) did not come up; its log:" >&2
  tail -n 30 "$dir/dockerd.log" >&2
  return 1
}

# Prints the versions engine $1 reports: daemon, CLI, buildx, compose.
report() {
  (
    eval "$(engine_env "$1")"
    local server client buildx compose
    server=$("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null)
    client=$("$DOCKER" version --format '{{.Client.Version}}' 2>/dev/null)
    buildx=$("$DOCKER" buildx version 2>/dev/null | awk '{print $2}') || true
    if [[ $1 == 20 ]]; then
      compose=$(docker-compose version --short 2>/dev/null || echo none)
    else
      compose=$("$DOCKER" compose version --short 2>/dev/null || echo none)
    fi
    local store
    store=$("$DOCKER" info --format '{{.Driver}}' 2>/dev/null) || true
    echo "engine $1: dockerd ${server}, docker CLI ${client}, buildx ${buildx:-none}, compose ${compose}, storage ${store}"
  )
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

stop_pid() { # pid file
  [[ -f $1 ]] || return 0
  local pid
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  rm -f "$1"
}

stop_engine() {
  local n=$1
  stop_pid "$state/$n/dockerd.pid"
  if [[ $n != 20 ]] && ip link show "$(bridge_of "$n")" >/dev/null 2>&1; then
    ip link delete "$(bridge_of "$n")" 2>/dev/null || true
  fi
}

engines() { # the engines a start or stop argument names
  case ${1:-} in
    all) echo 20 26 28 28c ;;
    20 | 26 | 28 | 28c) echo "$1" ;;
    *) echo "engine.sh: unknown engine '$1' (20, 26, 28, 28c or all)" >&2; return 2 ;;
  esac
}

case "${1:-}" in
  start)
    for n in $(engines "${2:-20}"); do start_engine "$n"; done
    start_registry
    ;;
  stop)
    # With no engine named: all of them and the registry.
    if [[ -z ${2:-} || ${2:-} == all ]]; then stop_pid "$state/registry.pid"; fi
    for n in $(engines "${2:-all}"); do stop_engine "$n"; done
    ;;
  stop-registry) stop_pid "$state/registry.pid" ;;
  env) engine_env "${2:-20}" ;;
  *) echo "usage: $0 start|stop [20|26|28|all] | stop-registry | env 20|26|28" >&2; exit 2 ;;
esac
