#pragma once
// The pre-push hook: installing it where git runs hooks (never over a hook it did not write),
// and reading what git hands it: the refs being pushed.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stalecheck {

/// The first line after the shebang of every hook stalecheck writes; what it looks for
/// before it touches a hook.
inline constexpr char kHookMarker[] = "# stalecheck pre-push hook";

struct HookInstallOptions {
  std::string repo = ".";  // a directory inside the work tree
  bool force = false;      // keep a foreign hook as pre-push.local and chain to it
  std::string mode;        // "", "block" or "warn": written into the hook
  std::string stalecheck;  // the absolute path the hook runs (falls back to PATH)
};

/// Writes the pre-push hook into `git rev-parse --git-path hooks` (core.hooksPath and linked
/// worktrees honoured); returns what it did, for people. Errors (nothing written): not a git
/// work tree; a hook it did not write there (unless --force; then also an existing
/// pre-push.local); core.hooksPath inside husky (the message names the file to add one line to).
absl::StatusOr<std::string> InstallHook(const HookInstallOptions& options);

/// Removes its own hook, restoring a chained pre-push.local; returns what it did. Errors: the
/// hook there is not stalecheck's.
absl::StatusOr<std::string> UninstallHook(const std::string& repo);

/// One line of pre-push input: `<local ref> <local oid> <remote ref> <remote oid>`.
struct PushedRef {
  std::string local_ref;   // "(delete)" for a deletion
  std::string local_oid;
  std::string remote_ref;
  std::string remote_oid;  // all zeros for a new ref
  bool deletion() const;
  bool new_ref() const;
};

/// An object id of only zeros: 40 digits (SHA-1) or 64 (SHA-256).
bool IsZeroOid(const std::string& oid);

/// Parses git's pre-push input. Errors name the line: not four fields, an id that is not 40 or
/// 64 hex digits.
absl::StatusOr<std::vector<PushedRef>> ParsePrePushInput(const std::string& text);

struct PrePushOptions {
  std::string input;  // git's standard input ("" under the pre-commit framework, which keeps it)
  std::string mode;   // --mode from the hook ("" = block); git config stalecheck.hookMode wins
  std::function<std::optional<std::string>(const std::string&)> getenv;  // null: the process's
};

struct PrePushOutcome {
  int exit_code = 0;    // 1 blocks the push
  std::string report;   // for standard error
};

/// What the hook does on `git push`, from inside the work tree: each pushed commit (the local
/// id of each ref; deletions skipped, a tree already checked not checked again) is checked
/// (`check --rev`) against `git config stalecheck.target`, with the context
/// `stalecheck.context` (default: the top of the work tree) and `stalecheck.dockerfile`;
/// stale blocks, unless the mode is warn. With no target it warns about files in the build
/// context that differ between the working tree and the pushed HEAD. Git's repository
/// variables (GIT_DIR, GIT_INDEX_FILE, …) are cleared once the work tree is found. With no
/// input, PRE_COMMIT_TO_REF (the pre-commit framework), else HEAD, is the pushed commit.
/// Errors: bad input, a check that cannot run (block mode: the push is stopped).
absl::StatusOr<PrePushOutcome> RunPrePush(const PrePushOptions& options);

}  // namespace stalecheck
