#!/usr/bin/env bash
# Installs the dependencies, builds, and runs stalecheck on the bundled example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
set -x
build/stalecheck fingerprint -C fixtures/demo/context
build/stalecheck inspect docker-archive:fixtures/demo/app-old.tar --path /srv/app
