#pragma once
// Knows nothing of Docker: path cleaning, parallel loops, file descriptors.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace stalecheck {

/// `path` (a file, relative to the current directory or absolute) relative to the root
/// annotations are read against: $GITHUB_WORKSPACE when set and holding it, else the top of
/// the git work tree that holds it, else the current directory; unchanged when it is under
/// none of them.
std::string RepoRelativePath(const std::string& path);

/// Go's path.Clean on a '/'-separated path: collapses repeated separators, removes `.`
/// elements, resolves `..` lexically, drops a trailing `/`. The empty path becomes ".".
std::string CleanPath(absl::string_view path);

/// The last element of a '/'-separated path (the whole path when it has no '/').
std::string Basename(absl::string_view path);

/// The directory holding an absolute '/'-separated path: all before its last '/', or "/" for
/// a path right under the root (or one with no '/'). A part of `path`, or a static "/".
absl::string_view ParentDir(absl::string_view path);

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
absl::Status ParallelFor(size_t count, int jobs,
                         const std::function<absl::Status(size_t, size_t)>& fn);

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

/// Descriptors closed together: each one handed over is held while its number continues a run
/// of consecutive numbers (up to `max_run` long), and a run is closed by one close_range call,
/// not one close each. Only numbers handed over are ever closed, so a table shared with other
/// threads is safe; there a run simply breaks sooner.
class ClosingBatch {
 public:
  explicit ClosingBatch(int max_run = 64) : max_run_(max_run) {}
  ClosingBatch(const ClosingBatch&) = delete;
  ClosingBatch& operator=(const ClosingBatch&) = delete;
  ~ClosingBatch() { Flush(); }

  /// Takes ownership of `fd`; it is closed by the time the batch is flushed or destroyed.
  void Add(int fd);
  /// Closes every descriptor held.
  void Flush();
  /// How many descriptors are held.
  int held() const { return lo_ < 0 ? 0 : hi_ - lo_ + 1; }

 private:
  int max_run_;
  int lo_ = -1;
  int hi_ = -1;
};

/// Leaves `value` for the process's exit to free, for what a command holds when it is done: a
/// million entries take milliseconds to destroy, which nobody waits for. What is kept stays
/// reachable, so leak checkers do not report it. From the main thread, at a command's end.
template <typename T>
void KeepUntilExit(T&& value) {
  static auto* kept = new std::vector<std::shared_ptr<void>>();  // never destroyed
  kept->push_back(std::make_shared<std::decay_t<T>>(std::forward<T>(value)));
}

/// An errno value as a Status naming `what` ("reading x: No such file or directory").
absl::Status ErrnoStatus(int err, absl::string_view what);

/// Reads a whole (small) file into memory.
absl::Status ReadSmallFile(const std::string& path, std::string* out, size_t limit = 64 << 20);

/// Octal permission bits as Docker and `ls` show them: "0644", "4755".
std::string FormatMode(uint32_t mode);
/// Writes FormatMode's 4 digits at `out`; returns the end.
char* FormatModeTo(char* out, uint32_t mode);

/// Runs argv[0] (looked up in PATH) with `input` on its standard input and its standard error
/// discarded; its standard output when it exits 0, else nullopt (also when it cannot start).
std::optional<std::string> RunCapture(const std::vector<std::string>& argv,
                                      const std::string& input = "");

/// Per-phase wall and CPU time (mold's Timer): phases are recorded in order; CPU is the
/// process's (every thread) over the phase, so phases that overlap count their threads'
/// CPU in each.
class PhaseTimer {
 public:
  /// Starts a phase; it ends when the next starts, or at Stop.
  void Start(const std::string& phase);
  void Stop();
  /// A phase measured elsewhere (a thread beside the main one), by its wall time alone.
  void Add(const std::string& phase, double wall_seconds);
  /// "timings: read image 0.412 s wall 0.398 s cpu; …; total …", one line.
  std::string Line() const;

 private:
  struct Phase {
    std::string name;
    double wall = 0;
    double cpu = -1;  // -1: not measured
  };
  std::vector<Phase> phases_;
  std::string current_;
  double wall_start_ = 0, cpu_start_ = 0, first_wall_ = -1, first_cpu_ = 0;
};

/// The process environment's value of `name`; nullopt when it is not set (an empty value is
/// set).
std::optional<std::string> GetEnv(const std::string& name);

/// Seconds on a steady clock, and the process's CPU seconds (user + system, every thread).
double WallSeconds();
double CpuSeconds();

}  // namespace stalecheck
