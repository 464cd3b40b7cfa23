// The Dockerfile reader and the copy plan over a small fixed context.
#include "stalecheck/dockerfile.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

stalecheck::FileEntry Entry(const std::string& path, stalecheck::FileType type) {
  stalecheck::FileEntry e;
  e.path = path;
  e.type = type;
  e.mode = type == stalecheck::FileType::kDir ? 0755 : 0644;
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stalecheck;
  if (size > (1 << 16)) return 0;
  absl::StatusOr<Dockerfile> df = ParseDockerfile(fuzz::Text(data, size), "Dockerfile");
  if (!df.ok()) return 0;
  static const std::vector<FileEntry> context = {
      Entry("Dockerfile", FileType::kFile), Entry("a.txt", FileType::kFile), Entry("src", FileType::kDir),
      Entry("src/lib", FileType::kDir),     Entry("src/lib/u.py", FileType::kFile), Entry("src/main.py", FileType::kFile)};
  PlanOptions o;
  o.build_args = {{"APP", "/srv"}, {"V", "1"}};
  o.read_context_file = [](const std::string&) -> absl::StatusOr<std::string> { return std::string("not a tar"); };
  (void)BuildCopyPlan(*df, context, o);
  o.target = "build";
  (void)BuildCopyPlan(*df, context, o);
  return 0;
}
