#pragma once
// What `git checkout` writes for a blob, where that is not the blob's stored bytes: the
// conversions git's attributes and config choose (line endings, `ident`, filter drivers).

#include <git2.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stalecheck::git {

/// A Git LFS pointer file's object (spec v1).
struct LfsPointer {
  std::string oid;  // 64 lowercase hex digits of the object's SHA-256
  uint64_t size = 0;
};

/// The object a Git LFS pointer names, or nullopt when `data` is not a pointer (git-lfs then
/// checks the bytes out as they are).
std::optional<LfsPointer> ParseLfsPointer(absl::string_view data);

/// Pointer files are smaller than this (the spec's limit).
inline constexpr size_t kLfsPointerMaxSize = 1024;

/// How a checkout writes one file.
enum class CheckoutKind {
  kStored,   // the blob's bytes as they are
  kFilters,  // converted by git's built-in filters (CRLF line endings, `ident`)
  kLfs,      // a Git LFS pointer replaced by its object from the local LFS store
};

/// Git's checkout conversions for one repository at one revision. The attributes are the
/// revision's own `.gitattributes` files, `$GIT_DIR/info/attributes` and the global and system
/// attribute files (never the working tree's or the index's), and the repository's config
/// chooses what they do (core.autocrlf, core.eol, filter drivers): what a fresh checkout of
/// the revision gets. One per thread: libgit2's repository objects are not shared.
class CheckoutConversions {
 public:
  /// False when no checkout of `repo` can convert anything: no attribute that converts
  /// (`text`, `eol`, `crlf`, `ident`, `filter`, `working-tree-encoding`) is named in the
  /// revision's `.gitattributes` files (`tree_attributes`, their texts), in info/attributes or
  /// in the global or system attribute files, and core.autocrlf is not true. Conservative: a
  /// true answer only means that Kind must be asked.
  static bool AnyPossible(git_repository* repo, const std::vector<std::string>& tree_attributes);

  /// `gitdir`: the repository's git directory; `tree`: the revision's root tree.
  static absl::StatusOr<std::unique_ptr<CheckoutConversions>> Open(const std::string& gitdir,
                                                                   const git_oid& tree);
  ~CheckoutConversions();

  /// How the file at `path` (relative to the repository's root) is checked out. Errors, each
  /// naming `shown`: a filter driver other than Git LFS that the config runs, a filter the
  /// config marks required but does not define, `working-tree-encoding`.
  absl::StatusOr<CheckoutKind> Kind(const std::string& path, const std::string& shown);

  /// kFilters: the bytes the checkout writes at `path` for blob `id`, whose bytes are `bytes`.
  absl::StatusOr<std::string> Filtered(const std::string& path, std::string bytes, const git_oid& id,
                                       const std::string& shown);

  /// kLfs: where the local LFS store keeps `pointer`'s object.
  std::string LfsObjectPath(const LfsPointer& pointer) const;

 private:
  CheckoutConversions() = default;
  git_repository* repo_ = nullptr;
  git_index* index_ = nullptr;
  git_config* config_ = nullptr;
  bool autocrlf_ = false;       // core.autocrlf=true
  bool core_eol_crlf_ = false;  // core.eol=crlf
  bool no_system_attributes_ = false;
  std::string lfs_objects_;
};

}  // namespace stalecheck::git
