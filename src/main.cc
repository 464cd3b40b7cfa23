// stalecheck: is the code in this image the code in my build context?

#include <cstdio>
#include <string>
#include <vector>

#include "stalecheck/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<int> code = stalecheck::RunCommand(args);
  if (!code.ok()) {
    std::fprintf(stderr, "stalecheck: error: %s\n", std::string(code.status().message()).c_str());
    return 2;
  }
  return *code;
}
