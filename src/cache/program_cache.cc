#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "stalecheck/cache.h"
#include "stalecheck/hash.h"
#include "stalecheck/util.h"

namespace stalecheck {

std::optional<std::string> ProgramOutput(const std::vector<std::string>& argv, bool enabled) {
  if (argv.empty()) return std::nullopt;
  const std::string root = enabled ? CacheRoot() : std::string();
  struct stat st;
  char real[PATH_MAX];
  if (root.empty() || ::stat(argv[0].c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      ::realpath(argv[0].c_str(), real) == nullptr) {
    return RunCapture(argv);
  }
  const StatKey k = StatKeyOf(st);
  if (!Settled(k, RealtimeNs())) return RunCapture(argv);
  const std::string nul(1, '\0');
  const std::string key = Sha256Of(absl::StrCat("program output v1", nul, real, nul, k.dev, " ", k.ino, " ", k.size,
                                                " ", k.mtime_ns, " ", k.ctime_ns, nul,
                                                absl::StrJoin(argv.begin() + 1, argv.end(), nul)));
  // A checksummed record of the cache's own: a torn or damaged one is a miss.
  const LayerCache cache(root);
  if (std::optional<std::string> remembered = cache.GetRecord(key, "programs")) return remembered;
  std::optional<std::string> out = RunCapture(argv);
  if (out) cache.PutRecord(key, *out, "programs");
  return out;
}

}  // namespace stalecheck
