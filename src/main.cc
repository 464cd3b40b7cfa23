// stalecheck: is the code in this image the code in my build context?

#include <malloc.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "stalecheck/cli.h"

int main(int argc, char** argv) {
  // A fixed threshold: blocks from 256 KiB on are mapped, and unmapped when freed. glibc's
  // default threshold rises to the size of each large block freed, after which freed large
  // blocks stay in the heap and peak memory follows the largest files read, not their count.
  mallopt(M_MMAP_THRESHOLD, 256 << 10);
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<int> code = absl::InternalError("no result");
  try {
    code = stalecheck::RunCommand(args);
  } catch (const std::exception& e) {
    // Errors are Status values; an exception reaching here is a defect, reported as an error
    // line and exit 2, never an abort.
    code = absl::InternalError(e.what());
  }
  if (!code.ok()) {
    std::fprintf(stderr, "stalecheck: error: %s\n", std::string(code.status().message()).c_str());
    return 2;
  }
  return *code;
}
