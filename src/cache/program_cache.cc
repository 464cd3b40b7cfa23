#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "stalecheck/cache.h"
#include "stalecheck/hash.h"
#include "stalecheck/util.h"
#include "src/cache/internal.h"

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
  const int64_t mtime = st.st_mtim.tv_sec * int64_t{1000000000} + st.st_mtim.tv_nsec;
  const int64_t ctime = st.st_ctim.tv_sec * int64_t{1000000000} + st.st_ctim.tv_nsec;
  if (std::max(mtime, ctime) >= RealtimeNs() - StatCache::kRacyMarginNs) return RunCapture(argv);
  const std::string nul(1, '\0');
  const std::string key = Sha256Of(absl::StrCat("program output v1", nul, real, nul, st.st_dev, " ", st.st_ino, " ",
                                                st.st_size, " ", mtime, " ", ctime, nul,
                                                absl::StrJoin(argv.begin() + 1, argv.end(), nul)));
  const std::string path = absl::StrCat(root, "/programs/", key.substr(7));
  // The record: the output, then the XXH3-128 of it (hex), so that a torn file is a miss.
  std::string record;
  if (ReadSmallFile(path, &record, 1 << 20).ok() && record.size() >= 33 && record[record.size() - 33] == '\n') {
    std::string out = record.substr(0, record.size() - 33);
    if (HashBytes(out).Hex() == record.substr(record.size() - 32)) return out;
  }
  std::optional<std::string> out = RunCapture(argv);
  if (!out) return out;
  cache_internal::AtomicFile file(path);
  file.Write(absl::StrCat(*out, "\n", HashBytes(*out).Hex()));
  file.Commit();
  return out;
}

}  // namespace stalecheck
