// Kernels: XXH3-128 over buffer sizes, and the .dockerignore matcher over path depths.

#include <benchmark/benchmark.h>

#include <string>

#include <cstdlib>

#include "stalecheck/hash.h"
#include "stalecheck/ignore.h"
#include "stalecheck/layer.h"
#include "stalecheck/util.h"
#include "src/image/internal.h"

static void BM_HashBytes(benchmark::State& state) {
  std::string data(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(stalecheck::HashBytes(data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_HashBytes)->RangeMultiplier(16)->Range(64, 4 << 20);

static void BM_IgnoreExcluded(benchmark::State& state) {
  auto m = stalecheck::IgnoreMatcher::Parse(
      "**/*.pyc\n**/__pycache__\nnode_modules\n.git\n*.md\n!README.md\nbuild/**\ndocs/*/tmp?\n",
      stalecheck::BuildRules::Buildx());
  std::string path;
  for (int i = 0; i < state.range(0); ++i) path += "dir" + std::to_string(i) + "/";
  path += "file.py";
  for (auto _ : state) benchmark::DoNotOptimize(m->Excluded(path));
}
BENCHMARK(BM_IgnoreExcluded)->DenseRange(1, 9, 4);

// The gzip decoder alone (ISA-L) over a real layer blob named by STALECHECK_BENCH_GZ;
// bench/run.sh sets it and times `igzip -dc` on the same blob.
static void BM_GzipReader(benchmark::State& state) {
  const char* path = std::getenv("STALECHECK_BENCH_GZ");
  if (path == nullptr) {
    state.SkipWithError("set STALECHECK_BENCH_GZ to a gzip file");
    return;
  }
  std::string blob;
  if (!stalecheck::ReadSmallFile(path, &blob, size_t{1} << 31).ok()) {
    state.SkipWithError("cannot read STALECHECK_BENCH_GZ");
    return;
  }
  std::vector<char> out(256 << 10);
  uint64_t total = 0;
  for (auto _ : state) {
    stalecheck::MemoryReader in(blob);
    stalecheck::internal::GzipReader gz(in);
    for (;;) {
      auto n = gz.Read(out.data(), out.size());
      if (!n.ok() || *n == 0) break;
      total += *n;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(total));
}
BENCHMARK(BM_GzipReader)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
