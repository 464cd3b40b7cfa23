// git's pre-push input.
#include "stalecheck/hook.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::vector<stalecheck::PushedRef>> refs = stalecheck::ParsePrePushInput(stalecheck::fuzz::Text(data, size));
  if (refs.ok()) {
    for (const stalecheck::PushedRef& r : *refs) {
      (void)r.deletion();
      (void)r.new_ref();
    }
  }
  return 0;
}
