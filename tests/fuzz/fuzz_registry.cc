// What a registry conversation parses: image references, WWW-Authenticate challenges, and
// the index a manifest list holds (platform choice).
#include "src/image/internal.h"
#include "stalecheck/registry.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stalecheck;
  const std::string text = fuzz::Text(data, size);
  if (absl::StatusOr<ImageReference> r = ParseImageReference(text); r.ok()) {
    (void)r->Host();
    (void)r->CredentialKey();
  }
  (void)ParseWwwAuthenticate(text);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object() && j.contains("manifests") && j["manifests"].is_array()) {
    std::vector<nlohmann::json> descs(j["manifests"].begin(), j["manifests"].end());
    for (const char* platform : {"", "linux/amd64", "linux/arm64/v8", "windows/amd64"}) {
      (void)internal::ChooseManifest(descs, platform, "fuzz index");
    }
  }
  return 0;
}
