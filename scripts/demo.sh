#!/usr/bin/env bash
# Installs the dependencies, builds, and runs stalecheck on the bundled example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# The image was built from the context's previous version: check reports the stale files and
# exits 1 (stale). Any other exit code is a failure of the demo.
set -x
build/stalecheck check docker-archive:fixtures/demo/app-old.tar -C fixtures/demo/context || test $? -eq 1
