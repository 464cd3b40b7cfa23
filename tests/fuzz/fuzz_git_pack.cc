// The git object reader over a pack and its index (input: the index, "\n--PACK--\n", the pack):
// every object the index names is read as a blob, and must come out with the id it is read
// by or as an error, never a crash or a wrong object. Also delta application alone.
#include <unistd.h>

#include <cstring>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "src/git/delta.h"
#include "src/git/object_reader.h"
#include "src/git/pack.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  using namespace stalecheck;
  auto [idx, pack] = fuzz::Split(fuzz::Text(data, size), "\n--PACK--\n");
  if (pack.empty()) {
    // A delta over a fixed base: "base\n--\ndelta".
    auto [base, delta] = fuzz::Split(idx, "\n--\n");
    std::string out;
    (void)git::ApplyDelta(base, delta, [&](absl::string_view piece) {
      if (out.size() < (1 << 20)) out.append(piece.data(), piece.size());
    }, "fuzz delta");
    (void)git::ReadDeltaSizes(delta);
    (void)git::CopiedSpans(delta, base.size(), "fuzz delta");
    return 0;
  }
  static const fs::path dir = fs::path("/dev/shm") / absl::StrCat("stalecheck-fuzz-git-", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir / "pack");
  std::ofstream(dir / "pack/pack-fuzz.idx", std::ios::binary) << idx;
  std::ofstream(dir / "pack/pack-fuzz.pack", std::ios::binary) << pack;
  std::unique_ptr<git::ObjectReader> reader = git::ObjectReader::Open(dir.string());
  // The ids the index lists (version 2: magic, version, fanout[256], then the ids).
  if (reader && idx.size() >= 8 + 1024) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(idx.data());
    uint32_t count = (uint32_t{p[8 + 1020]} << 24) | (uint32_t{p[8 + 1021]} << 16) | (uint32_t{p[8 + 1022]} << 8) | p[8 + 1023];
    git::ReadScratch scratch;
    for (uint32_t k = 0; k < count && k < 64 && 8 + 1024 + (k + 1) * 20 <= idx.size(); ++k) {
      git::ObjectId id;
      std::memcpy(id.bytes, p + 8 + 1024 + k * 20, 20);
      uint64_t got = 0;
      (void)reader->ReadBlob(id, scratch, [&](absl::string_view piece) { got += piece.size(); });
      (void)reader->Storage(id);
    }
  }
  fs::remove_all(dir);
  return 0;
}
