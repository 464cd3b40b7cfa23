// The .dockerignore reader and matcher, under every build client's rules.
#include "stalecheck/ignore.h"
#include "stalecheck/rules.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stalecheck;
  const std::string text = fuzz::Text(data, size);
  static const char* kPaths[] = {"a", "a/b", "src/main.py", ".git/HEAD", "node_modules/x/y.js", "Dockerfile",
                                 "a b/c", "deep/er/still/file.txt", "!x", "\\\\"};
  for (const char* name : {"buildx", "buildx-pre-0.18", "buildkit-20.10", "legacy", "legacy-20.10"}) {
    absl::StatusOr<BuildRules> rules = BuildRules::Named(name);
    if (!rules.ok()) continue;
    absl::StatusOr<IgnoreMatcher> m = IgnoreMatcher::Parse(text, *rules);
    if (!m.ok()) continue;
    for (const char* p : kPaths) {
      (void)m->Excluded(p);
      (void)m->EmptyOnOpen(p);
    }
  }
  return 0;
}
