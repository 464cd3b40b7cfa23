// The pyc header check (PEP 552): the first 16 bytes are the header, the rest the source.
#include "stalecheck/compare.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in = stalecheck::fuzz::Text(data, size);
  const std::string head = in.substr(0, 16);
  const std::string source = in.size() > 16 ? in.substr(16) : "";
  std::string why;
  (void)stalecheck::CheckPycHeader(head, 1700000000, source.size(), source, &why);
  (void)stalecheck::CheckPycHeader(head, -1, 0, std::nullopt, &why);
  return 0;
}
