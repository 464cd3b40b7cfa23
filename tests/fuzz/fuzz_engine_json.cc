// What the Engine API answers, as the container reader parses it: a container's description
// and its change list.
#include "src/image/internal.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = stalecheck::fuzz::Text(data, size);
  (void)stalecheck::internal::ParseContainerDescription(text);
  (void)stalecheck::internal::ParseChangeList(text);
  return 0;
}
