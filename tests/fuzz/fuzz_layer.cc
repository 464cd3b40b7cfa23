// Layer decoding (gzip, zstd, plain tar; sniffed), then the layered view over it twice, so
// that whiteouts and opaque directories meet entries of a layer below.
#include "stalecheck/layer.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stalecheck;
  std::vector<LayerContents> layers;
  for (int i = 0; i < 2; ++i) {
    MemoryReader in(absl::string_view(reinterpret_cast<const char*>(data), size));
    absl::StatusOr<LayerContents> layer = DecodeLayer(in, "fuzz layer");
    if (!layer.ok()) return 0;
    layers.push_back(std::move(*layer));
  }
  (void)ApplyLayers(std::move(layers));
  MemoryReader first(absl::string_view(reinterpret_cast<const char*>(data), size));
  (void)DecodeFirstEntry(first, "fuzz entry");
  return 0;
}
