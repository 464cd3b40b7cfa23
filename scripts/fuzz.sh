#!/usr/bin/env bash
# Builds the fuzz targets (clang-14, libFuzzer, ASan and UBSan) into build-asan/ and runs each
# for SECONDS (default 60), two at a time, from its seed corpus (tests/fuzz/corpus/NAME, read,
# never written: new inputs go to a temporary directory). A crash, leak, timeout or
# out-of-memory fails the run; its input is kept in build-asan/findings/NAME/ to be made a
# regression test and a seed. Usage: scripts/fuzz.sh [SECONDS] [NAME...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
build=${STALECHECK_FUZZ_BUILD:-build-asan}
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 \
    -DCMAKE_CXX_COMPILER=clang++-14 -DSTALECHECK_FUZZ=ON -DSTALECHECK_BUILD_TESTS=ON >/dev/null
fi
names=("$@")
if ((${#names[@]} == 0)); then
  for f in tests/fuzz/fuzz_*.cc; do n=${f##*/fuzz_}; names+=("${n%.cc}"); done
fi
cmake --build "$build" --target $(printf 'fuzz_%s ' "${names[@]}")
work=$(mktemp -d /tmp/stalecheck-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run_one() {
  local n=$1
  mkdir -p "$work/$n" "$build/findings/$n"
  if "$build/fuzz_$n" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -max_len=262144 \
      -artifact_prefix="$build/findings/$n/" -print_final_stats=1 "$work/$n" "tests/fuzz/corpus/$n" \
      >"$work/$n.log" 2>&1; then
    echo "fuzz $n: ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$work/$n.log" | grep -o '[0-9]*$') runs in ${seconds}s)"
  else
    echo "fuzz $n: FAILED; input kept in $build/findings/$n/" >&2
    grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==' "$work/$n.log" | head -20 >&2
    return 1
  fi
}
failed=0
jobs=${STALECHECK_FUZZ_JOBS:-2}
pids=()
for n in "${names[@]}"; do
  run_one "$n" & pids+=($!)
  if ((${#pids[@]} >= jobs)); then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit $failed
