#pragma once
// The commands: one table, each command parses its own flags and returns an exit code.

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stalecheck {

/// Runs `stalecheck ARGS...` (args[0] is the command). Output goes to stdout; the returned
/// code is 0 (fresh / success) or 1 (stale). An error status means exit 2; the caller prints
/// it.
absl::StatusOr<int> RunCommand(const std::vector<std::string>& args);

}  // namespace stalecheck
