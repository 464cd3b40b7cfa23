// A compose file, loaded as the only file of a project (from a memory-only file), and the
// interpolation and .env readers on their own.
#include "stalecheck/compose.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace stalecheck;
  if (size > (1 << 16)) return 0;
  auto env = [](const std::string& k) -> std::optional<std::string> {
    if (k == "SET") return std::string("value");
    if (k == "EMPTY") return std::string();
    return std::nullopt;
  };
  fuzz::MemFile f(data, size);
  ComposeOptions o;
  o.files = {f.path()};
  o.project_name = "fuzz";
  o.getenv = env;
  (void)LoadCompose(o);
  const std::string text = fuzz::Text(data, size);
  (void)Interpolate(text, env);
  (void)ParseDotEnv(text, env);
  (void)NormalizeProjectName(text);
  return 0;
}
