// A docker-archive (docker save): manifest.json, the config, the layers, each checked.
#include "src/image/readers.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  stalecheck::fuzz::MemFile f(data, size);
  (void)stalecheck::internal::ReadDockerArchive(f.path(), "", 1);
  return 0;
}
