#pragma once
// The build context exactly as `docker build DIR` sends it, from the working tree or from a
// git revision, with digests and a root fingerprint.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "stalecheck/entry.h"
#include "stalecheck/rules.h"

namespace stalecheck {

struct ContextOptions {
  std::string dir = ".";   // the build context directory
  std::string dockerfile;  // as given to -f (relative to the current directory); "" = DIR/Dockerfile
  std::string rev;         // a git revision; "" = the working tree
  int jobs = 0;
  /// The build client whose rules send the context (the ignore file read, the matcher, the
  /// walk).
  BuildRules rules = BuildRules::Buildx();
  std::string rules_chosen_by;  // why `auto` chose them ("" when named)
  /// Use the working tree's stat cache (StatCache): files whose stat data is unchanged since
  /// a run that read them are not read again. Off for --no-cache.
  bool use_cache = false;
};

/// How the context's files got their digests (for --timings).
struct ContextReading {
  uint64_t files = 0;       // regular files with content
  uint64_t from_cache = 0;  // digests the stat cache vouched for
  uint64_t read = 0;        // files read and hashed
  uint64_t bytes_read = 0;
  bool cache_written = false;
  std::string Line() const;  // "context: N files, R read (B bytes), C from the stat cache"
};

struct Context {
  std::string dir;                    // as given
  std::string source;                 // "worktree" or the revision as given
  std::optional<std::string> commit;  // the commit's hex id (with --rev, or HEAD of the worktree's repo)
  std::string dockerfile;             // the Dockerfile path as used
  std::string ignore_file;            // the ignore file applied ("" when none)
  std::string build_rules;            // the name of the rules that sent this context
  std::string build_rules_chosen_by;  // why `--build-rules auto` chose them ("" when named)
  std::vector<FileEntry> entries;     // sorted by path, relative to the context
  Digest128 root;
  /// The Dockerfile's text, from the same source as the context (nullopt if it has none).
  std::optional<std::string> dockerfile_text;
  /// Reads a context file's bytes (path relative to the context) from the same source.
  std::function<absl::StatusOr<std::string>(const std::string&)> read_file;
  ContextReading reading;
};

/// Reads the context. The ignore file is `<Dockerfile>.dockerignore` beside the Dockerfile
/// when it exists and the rules read it (it replaces the root one), else `DIR/.dockerignore`. Errors: a missing
/// context, an unreadable file, a bad ignore pattern (naming the ignore file), an unknown
/// revision.
absl::StatusOr<Context> LoadContext(const ContextOptions& options);

/// The fingerprint root: XXH3-128 over the sorted entries, each written as
/// "path\0type\0mode\0digest-hex\n" (no digest for a directory).
Digest128 RootDigest(const std::vector<FileEntry>& entries);

}  // namespace stalecheck
