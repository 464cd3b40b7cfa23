#!/usr/bin/env bash
# The sanitizer and fuzz runs: one clang build with AddressSanitizer and UndefinedBehaviorSanitizer
# (build-asan/: the unit tests, the end-to-end suite on one engine, and the fuzz targets for
# SECONDS each), and a ThreadSanitizer build (build-tsan/) that runs the parallel phases (walk,
# hash, git blob reading, layer decoding) on real trees. Any report fails the run.
# Usage: scripts/sanitize.sh [build|fuzz|checks|run] [FUZZ_SECONDS]   (default: build and run, 60 s)
#   build: configure and compile only (scripts/test.sh starts it early, in the background)
#   fuzz: the fuzz targets only; checks: everything but them; run: both
# STALECHECK_SANITIZE_ENGINE picks the engine of the ASan end-to-end run (default 26).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
seconds=${2:-60}
asan=build-asan
tsan=build-tsan

build() {
  if [[ ! -f $asan/CMakeCache.txt ]]; then
    cmake -S . -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 \
      -DCMAKE_CXX_COMPILER=clang++-14 -DSTALECHECK_FUZZ=ON -DSTALECHECK_BUILD_TESTS=ON >/dev/null
  fi
  if [[ ! -f $tsan/CMakeCache.txt ]]; then
    cmake -S . -B "$tsan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 \
      -DCMAKE_CXX_COMPILER=clang++-14 -DSTALECHECK_TSAN=ON -DSTALECHECK_BUILD_TESTS=OFF >/dev/null
  fi
  cmake --build "$asan"
  cmake --build "$tsan" --target stalecheck
}

fuzz() {
  echo "== fuzz targets, ${seconds}s each"
  STALECHECK_FUZZ_BUILD=$asan scripts/fuzz.sh "$seconds"
}

checks() {
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87
  echo "== unit tests under ASan+UBSan"
  "$asan/unittest"
  local engine=${STALECHECK_SANITIZE_ENGINE:-26}
  echo "== end-to-end suite under ASan+UBSan on engine $engine"
  # The ignore differential's semantics are judged by the plain runs on every engine; here its
  # known shapes and a few generated files are enough to take the code through every rule.
  (cd tests/e2e && STALECHECK_DIFF_CASES=${STALECHECK_DIFF_CASES:-6} STALECHECK="$PWD/../../$asan/stalecheck" STALECHECK_FIXTURES="$PWD/../../fixtures" \
     STALECHECK_ENGINE="$engine" python3 -W ignore -m unittest discover -s . -p 'test_*.py')
  echo "== ThreadSanitizer over the parallel phases"
  export TSAN_OPTIONS=halt_on_error=1:exitcode=88
  local t="$tsan/stalecheck"
  local big=/usr/include
  [[ -d /var/tmp/kslice ]] && big=/var/tmp/kslice
  "$t" fingerprint -C "$big" --root-only -j 4 >/dev/null               # walk and hash
  "$t" fingerprint -C . --rev HEAD --root-only -j 4 >/dev/null          # git blob reading
  "$t" inspect fixtures/images/layered.tar.gz -j 4 >/dev/null           # layer decoding, gzip
  "$t" inspect oci:fixtures/images/layered-oci-zstd -j 4 >/dev/null     # zstd
  set +e
  "$t" check fixtures/demo/app-old.tar -C fixtures/demo/context -j 4 >/dev/null
  code=$?
  set -e
  [[ $code -eq 1 ]] || { echo "check under ThreadSanitizer exited $code, not 1 (stale)" >&2; exit 1; }
  echo "ThreadSanitizer: no reports"
}

case "$what" in
  build) build ;;
  fuzz) fuzz ;;
  checks) checks ;;
  run) checks; fuzz ;;
  all) build; checks; fuzz ;;
  *) echo "usage: scripts/sanitize.sh [build|fuzz|checks|run] [FUZZ_SECONDS]" >&2; exit 2 ;;
esac
