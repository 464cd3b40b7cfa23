#!/usr/bin/env bash
# Installs the dependencies, builds, starts the engine and the registry, and runs every test
# suite (unit and end-to-end). Services this script started are stopped again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
started_here=0
if ! /usr/bin/docker version >/dev/null 2>&1; then started_here=1; fi
scripts/engine.sh start
cleanup() { if ((started_here)); then scripts/engine.sh stop; fi; }
trap cleanup EXIT
ctest --test-dir build --output-on-failure "$@"
