#pragma once
// What the hook's installer and its push-time run share: running git.

#include <optional>
#include <string>
#include <vector>

namespace stalecheck::hook_internal {

/// `git -C repo ARGS...`: its standard output without trailing white space when it exits 0,
/// else nullopt.
std::optional<std::string> RunGit(const std::string& repo, std::vector<std::string> args);

}  // namespace stalecheck::hook_internal
