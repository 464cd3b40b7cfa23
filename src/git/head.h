// HEAD read from the repository's files, without libgit2: a working-tree run only reports the
// commit, and starting libgit2 (which parses the whole CA bundle for its TLS stream) cost
// that run more than its walk of a small tree.
#pragma once

#include <optional>
#include <string>

namespace stalecheck::git {

/// HEAD's commit for the repository holding `dir` (a real path), found as libgit2's
/// git_repository_open_ext(dir, 0) and git_reference_name_to_id("HEAD") find it.
/// The outer nullopt means "not certain": a layout this reader does not take (a bare
/// repository, a filesystem boundary, repository extensions such as reftable or SHA-256,
/// another user's repository, anything malformed), for libgit2 to answer. An inner nullopt
/// means certainly none: no repository up to the root, or an unborn branch.
std::optional<std::optional<std::string>> ReadHeadFromFiles(const std::string& dir);

}  // namespace stalecheck::git
