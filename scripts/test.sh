#!/usr/bin/env bash
# Installs the dependencies, builds, starts the engines (Docker 20.10, 26, 28, and 28 with the
# containerd image store) and the registry, and runs every test suite: the unit tests, then the
# end-to-end suite once per engine, the package test, then the sanitizer and fuzz runs
# (scripts/sanitize.sh: every fuzz target for STALECHECK_FUZZ_SECONDS (default 30), beside the
# end-to-end suites; then ASan+UBSan unit and end-to-end tests on one engine, and ThreadSanitizer
# over the parallel phases). Engines this script started are stopped again at the end. Arguments
# go to ctest (e.g. `-R e2e-28` for one engine's suite) and skip the sanitizer runs, as
# STALECHECK_SKIP_SANITIZE=1 does.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
sanitize=1
if (($#)) || [[ ${STALECHECK_SKIP_SANITIZE:-} == 1 ]]; then sanitize=0; fi
# The sanitizer builds compile, and then the fuzz targets run, while the end-to-end suites run:
# those wait on the engines more than on the processors. (libFuzzer's time limit is wall time.)
fuzz_seconds=${STALECHECK_FUZZ_SECONDS:-30}
san_pid=
if ((sanitize)); then
  (nice -n 10 scripts/sanitize.sh build >build/sanitize-build.log 2>&1 || { echo "the sanitizer builds failed" >build/sanitize-build.failed; exit 1; }
   nice -n 10 scripts/sanitize.sh fuzz "$fuzz_seconds" >build/fuzz.log 2>&1) &
  san_pid=$!
fi
started=()
for n in 20 26 28 28c; do
  if ! (eval "$(scripts/engine.sh env "$n")"; [[ -x $DOCKER ]] && "$DOCKER" version >/dev/null 2>&1); then
    started+=("$n")
  fi
done
registry_here=0
curl -fsS http://127.0.0.1:5000/v2/ >/dev/null 2>&1 || registry_here=1
cleanup() {
  for n in "${started[@]}"; do scripts/engine.sh stop "$n"; done
  if ((registry_here)); then scripts/engine.sh stop-registry; fi
}
trap cleanup EXIT
scripts/engine.sh start all
ctest --test-dir build --output-on-failure "$@"
if ((sanitize)); then
  if ! wait "$san_pid"; then
    if [[ -f build/sanitize-build.failed ]]; then
      tail -50 build/sanitize-build.log; echo "the sanitizer builds failed" >&2
    else
      cat build/fuzz.log; echo "the fuzz run failed" >&2
    fi
    exit 1
  fi
  cat build/fuzz.log
  STALECHECK_SANITIZE_ENGINE=${STALECHECK_SANITIZE_ENGINE:-26} scripts/sanitize.sh checks
fi
