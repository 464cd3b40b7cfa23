#pragma once
// The parallel walk of a directory tree as the engine's context walker sends it.

#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "stalecheck/entry.h"
#include "stalecheck/ignore.h"
#include "stalecheck/rules.h"

namespace stalecheck {

/// Files smaller than this are hashed during the walk; HashPending reads the others.
inline constexpr uint64_t kInlineHashLimit = 128 << 10;

/// True for the special files that the context transfer of `rules` sends as empty regular
/// files: devices and sockets for 20.10's clients, sockets alone for buildx (which sends a
/// device as a character device and a FIFO as a FIFO).
bool SentAsEmptyFile(unsigned mode, const BuildRules& rules);

/// What buildx sends for a device or FIFO (`mode` and `rdev` from stat): "char-device M,N"
/// (a block device arrives as a character device), "fifo"; "" for anything else.
std::string SpecialFileSent(unsigned mode, uint64_t rdev);

/// Walks `root` on `jobs` threads and returns what the walker sends, sorted by path (paths
/// relative to `root`): files, directories and symlinks (never followed) that `ignore` does
/// not exclude; an excluded directory is skipped whole unless the matcher's rules enter it,
/// in which case it is listed too (LoadContext settles, by the same rules, whether it is sent).
/// Special files are never opened: 20.10's clients send a device file or a socket as an empty
/// regular file with its permission bits and never send a FIFO; buildx sends a socket as an
/// empty file, and devices and FIFOs as kSpecial entries (see SentAsEmptyFile, SpecialFileSent).
/// Files under kInlineHashLimit get their digest here; WalkTreeWithStats and HashPending
/// leave the rest to be read.
/// Errors: `root` missing or not a directory, a directory or file that cannot be read.
absl::StatusOr<std::vector<FileEntry>> WalkTree(const std::string& root, const IgnoreMatcher& ignore,
                                                const BuildRules& rules, int jobs);

/// What stat said of a regular file the walk read, as the context's stat cache keys it (all
/// zero for anything else, and for a file sent empty without being opened).
struct StatKey {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  bool valid() const { return dev != 0 || ino != 0; }
  friend bool operator==(const StatKey&, const StatKey&) = default;
};

/// A stat result as a StatKey (times in nanoseconds).
StatKey StatKeyOf(const struct stat& st);

/// A walk with what the stat cache needs beside each entry: `stats[i]` and `hashed[i]` (1
/// when entries[i] has its digest) belong to entries[i].
struct WalkedTree {
  std::vector<FileEntry> entries;
  std::vector<StatKey> stats;
  std::vector<uint8_t> hashed;
};

/// WalkTree, keeping each regular file's stat key; small files are hashed during the walk
/// only when `hash_small_files` (a warm stat cache would make that reading wasted).
absl::StatusOr<WalkedTree> WalkTreeWithStats(const std::string& root, const IgnoreMatcher& ignore,
                                             const BuildRules& rules, int jobs, bool hash_small_files);

/// Hashes every file entry of `tree` not yet hashed, on `jobs` threads, largest first.
/// Returns the bytes read. Errors name a file that cannot be read.
absl::StatusOr<uint64_t> HashPending(const std::string& root, WalkedTree& tree, int jobs);

}  // namespace stalecheck
