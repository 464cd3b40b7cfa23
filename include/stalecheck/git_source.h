#pragma once
// A build context read from a git revision's objects (libgit2): no checkout, no temp files.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "stalecheck/entry.h"
#include "stalecheck/ignore.h"

namespace stalecheck {

/// The tree of one revision, seen from a context directory inside the repository.
class GitContext {
 public:
  /// Finds the repository that holds `context_dir` and resolves `rev` (anything
  /// `git rev-parse` takes that names a commit or tree). Errors: no repository, an unknown
  /// revision, a context directory that the revision does not have.
  static absl::StatusOr<GitContext> Open(const std::string& context_dir, const std::string& rev);

  GitContext(GitContext&&) noexcept;
  GitContext& operator=(GitContext&&) noexcept;
  ~GitContext();

  /// The commit's full hex id (empty when `rev` named a tree).
  const std::string& commit() const;

  /// The repository's working directory, absolute, with a trailing '/'.
  const std::string& workdir() const;

  /// The bytes of the blob at `repo_path` (relative to the repository root), or nullopt if
  /// the revision has no file there.
  absl::StatusOr<std::optional<std::string>> ReadFile(const std::string& repo_path) const;

  /// The context as the engine's walker would send a checkout of the revision: entries
  /// relative to the context directory, sorted, with digests, hashed on `jobs` threads.
  /// File modes are what a checkout with umask 022 gives (0644, 0755 for executables),
  /// directories 0755, symlinks 0777. A submodule is read from its own repository at the
  /// commit the revision records, as `git clone --recurse-submodules` checks it out; one this
  /// clone never initialized is an empty directory, as in its checkout. Git's own `.git` (the
  /// directory, and the file in each submodule) is no file of the revision and never listed.
  /// File bytes are what that checkout writes: git's conversions (line endings, `ident`) as
  /// the revision's attributes and the repository's config choose them, and Git LFS objects
  /// from the local store in place of their pointers where git-lfs is configured.
  /// Errors: an initialized submodule that lacks the recorded commit; a missing or damaged LFS
  /// object; a filter driver other than Git LFS; `working-tree-encoding`.
  absl::StatusOr<std::vector<FileEntry>> Walk(const IgnoreMatcher& ignore, int jobs);

  /// After Walk: the bytes of the file at context path `rel` as the checkout writes them, the
  /// bytes Walk hashed (submodules, conversions and Git LFS objects included). NotFound: the
  /// revision has no file there. Not thread-safe.
  absl::StatusOr<std::string> ReadContextFile(const std::string& rel);

 private:
  struct Impl;
  explicit GitContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// How a commit named elsewhere (an image's revision label) stands to the context's commit.
struct CommitRelation {
  std::string id;    // the named commit's full hex id
  size_t ahead = 0;  // commits `head` has that it lacks
  size_t behind = 0; // commits it has that `head` lacks
};

/// The full id of HEAD of the repository holding `dir`; nullopt outside a repository or
/// before its first commit.
std::optional<std::string> HeadCommit(const std::string& dir);

/// Resolves `name` (a full or short id, or any revision) in the repository holding `dir` and
/// counts the commits between it and `head` (a full id). nullopt: no repository there, or the
/// repository has no such commit (it was built from a commit this clone never fetched).
std::optional<CommitRelation> RelateCommits(const std::string& dir, const std::string& head, const std::string& name);

}  // namespace stalecheck
