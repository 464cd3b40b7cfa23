// Kernels: XXH3-128 over buffer sizes, and the .dockerignore matcher over path depths.

#include <benchmark/benchmark.h>

#include <string>

#include "stalecheck/hash.h"
#include "stalecheck/ignore.h"

static void BM_HashBytes(benchmark::State& state) {
  std::string data(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(stalecheck::HashBytes(data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_HashBytes)->RangeMultiplier(16)->Range(64, 4 << 20);

static void BM_IgnoreExcluded(benchmark::State& state) {
  auto m = stalecheck::IgnoreMatcher::Parse(
      "**/*.pyc\n**/__pycache__\nnode_modules\n.git\n*.md\n!README.md\nbuild/**\ndocs/*/tmp?\n");
  std::string path;
  for (int i = 0; i < state.range(0); ++i) path += "dir" + std::to_string(i) + "/";
  path += "file.py";
  for (auto _ : state) benchmark::DoNotOptimize(m->Excluded(path));
}
BENCHMARK(BM_IgnoreExcluded)->DenseRange(1, 9, 4);

BENCHMARK_MAIN();
