#pragma once
// The parallel walk of a directory tree as the engine's context walker sends it.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "stalecheck/entry.h"
#include "stalecheck/ignore.h"

namespace stalecheck {

/// Files smaller than this are hashed during the walk; HashFiles reads the others.
inline constexpr uint64_t kInlineHashLimit = 128 << 10;

/// True for the special files (character and block devices, sockets) that the engine's context
/// transfer sends as empty regular files.
bool SentAsEmptyFile(unsigned mode);

/// Walks `root` on `jobs` threads and returns what the walker sends, sorted by path (paths
/// relative to `root`): files, directories and symlinks (never followed) that `ignore` does
/// not exclude; an excluded directory is skipped whole unless
/// IgnoreMatcher::WalkExcludedDir says the walker enters it, in which case it is sent too.
/// Special files are never opened: the engine sends a device file or a socket as an empty
/// regular file with its permission bits (see SentAsEmptyFile), and never sends a FIFO.
/// Files under kInlineHashLimit get their digest here; HashFiles does the rest.
/// Errors: `root` missing or not a directory, a directory or file that cannot be read.
absl::StatusOr<std::vector<FileEntry>> WalkTree(const std::string& root, const IgnoreMatcher& ignore,
                                                int jobs);

/// Fills the digest of every file entry of kInlineHashLimit bytes or more (reading
/// `root`/path) on `jobs` threads, largest files first. Errors name a file that cannot be read.
absl::Status HashFiles(const std::string& root, std::vector<FileEntry>& entries, int jobs);

}  // namespace stalecheck
