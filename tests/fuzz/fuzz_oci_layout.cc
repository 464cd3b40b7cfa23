// An OCI layout whose index, manifest and config are the input (split at "\n--\n"); blobs are
// stored under their real digests, so the reader gets past digest checks into the JSON.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "src/image/readers.h"
#include "stalecheck/hash.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// The hex of a blob's sha256, its file name under blobs/sha256.
std::string Sha256(const std::string& s) { return stalecheck::Sha256Of(s).substr(7); }

void Put(const std::filesystem::path& p, const std::string& data) { std::ofstream(p, std::ios::binary) << data; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  using stalecheck::fuzz::Split;
  static const fs::path dir = fs::path("/dev/shm") / absl::StrCat("stalecheck-fuzz-oci-", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir / "blobs/sha256");
  auto [index, rest] = Split(stalecheck::fuzz::Text(data, size), "\n--\n");
  auto [manifest, config] = Split(rest, "\n--\n");
  // "@M" and "@C" in the input stand for the manifest's and the config's digests.
  const std::string cdig = "sha256:" + Sha256(config);
  manifest = absl::StrReplaceAll(manifest, {{"@C", cdig}});
  const std::string mdig = "sha256:" + Sha256(manifest);
  index = absl::StrReplaceAll(index, {{"@M", mdig}, {"@C", cdig}});
  Put(dir / "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
  Put(dir / "index.json", index);
  Put(dir / "blobs/sha256" / Sha256(manifest), manifest);
  Put(dir / "blobs/sha256" / Sha256(config), config);
  (void)stalecheck::internal::ReadOciLayout(dir.string(), "", "", 1);
  (void)stalecheck::internal::ReadOciLayout(dir.string(), "app", "linux/arm64", 1);
  fs::remove_all(dir);
  return 0;
}
