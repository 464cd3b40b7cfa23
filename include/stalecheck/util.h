#pragma once
// Knows nothing of Docker: path cleaning, parallel loops, file descriptors.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"

namespace stalecheck {

/// Go's path.Clean on a '/'-separated path: collapses repeated separators, removes `.`
/// elements, resolves `..` lexically, drops a trailing `/`. The empty path becomes ".".
/// `path` (a file, relative to the current directory or absolute) relative to the root
/// annotations are read against: $GITHUB_WORKSPACE when set and holding it, else the top of
/// the git work tree that holds it, else the current directory; unchanged when it is under
/// none of them.
std::string RepoRelativePath(const std::string& path);

std::string CleanPath(absl::string_view path);

/// The last element of a '/'-separated path (the whole path when it has no '/').
std::string Basename(absl::string_view path);

/// Whether absolute `path` is `dir` or below it ("/" and "" hold every path).
bool PathUnder(absl::string_view path, absl::string_view dir);

/// Joins a relative path onto a base ("" or "." base gives the path itself).
std::string JoinPath(absl::string_view base, absl::string_view rel);

/// The number of worker threads to use: `requested` if positive, else the hardware threads.
int ResolveJobs(int requested);

/// Runs `fn(index)` for every index in [0, count) on up to `jobs` threads, handing out
/// indices through an atomic counter. The first non-OK status stops the hand-out and is
/// returned; workers never print.
absl::Status ParallelFor(size_t count, int jobs, const std::function<absl::Status(size_t)>& fn);

/// The number of workers ParallelFor(count, jobs, ...) runs: at least 1, at most `count`.
size_t ParallelWorkers(size_t count, int jobs);

/// ParallelFor that also tells `fn` which worker (0 .. ParallelWorkers()-1) runs it, for
/// per-worker state that must not be shared between threads.
absl::Status ParallelFor(size_t count, int jobs, const std::function<absl::Status(size_t, size_t)>& fn);

/// An owned POSIX file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

/// An errno value as a Status naming `what` ("reading x: No such file or directory").
absl::Status ErrnoStatus(int err, absl::string_view what);

/// Reads a whole (small) file into memory.
absl::Status ReadSmallFile(const std::string& path, std::string* out, size_t limit = 64 << 20);

/// Octal permission bits as Docker and `ls` show them: "0644", "4755".
std::string FormatMode(uint32_t mode);

/// Runs argv[0] (looked up in PATH) with `input` on its standard input and its standard error
/// discarded; its standard output when it exits 0, else nullopt (also when it cannot start).
std::optional<std::string> RunCapture(const std::vector<std::string>& argv, const std::string& input = "");

}  // namespace stalecheck
