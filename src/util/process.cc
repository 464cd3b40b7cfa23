// Runs a helper program with no shell: arguments as given, `input` on its standard input, its
// standard output captured, its standard error discarded.

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <time.h>

#include <cstdlib>
#include <thread>

#include "absl/strings/str_format.h"
#include "stalecheck/util.h"

extern char** environ;

namespace stalecheck {

std::optional<std::string> RunCapture(const std::vector<std::string>& argv_in, const std::string& input) {
  if (argv_in.empty()) return std::nullopt;
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return std::nullopt;
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return std::nullopt;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0].c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  if (rc != 0) {
    ::close(in[1]);
    ::close(out[0]);
    return std::nullopt;
  }
  // Write from a thread while this one reads, so that neither pipe can fill and stall.
  std::thread writer([fd = in[1], &input] {
    // A program that exits early makes writes fail with EPIPE, not a signal.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    size_t done = 0;
    while (done < input.size()) {
      ssize_t n = ::write(fd, input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::close(fd);
  });
  std::string result;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  writer.join();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return result;
}

std::optional<std::string> GetEnv(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  return v == nullptr ? std::nullopt : std::optional<std::string>(v);
}

double WallSeconds() {
  struct timespec t;
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double CpuSeconds() {
  struct timespec t;
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

void PhaseTimer::Start(const std::string& phase) {
  Stop();
  current_ = phase;
  wall_start_ = WallSeconds();
  cpu_start_ = CpuSeconds();
  if (first_wall_ < 0) {
    first_wall_ = wall_start_;
    first_cpu_ = cpu_start_;
  }
}

void PhaseTimer::Stop() {
  if (current_.empty()) return;
  phases_.push_back({current_, WallSeconds() - wall_start_, CpuSeconds() - cpu_start_});
  current_.clear();
}

void PhaseTimer::Add(const std::string& phase, double wall_seconds) { phases_.push_back({phase, wall_seconds, -1}); }

std::string PhaseTimer::Line() const {
  std::string out = "timings:";
  for (const Phase& p : phases_) {
    absl::StrAppendFormat(&out, " %s %.3f s wall", p.name, p.wall);
    if (p.cpu >= 0) absl::StrAppendFormat(&out, " %.3f s cpu", p.cpu);
    out += ";";
  }
  if (first_wall_ >= 0) {
    absl::StrAppendFormat(&out, " total %.3f s wall %.3f s cpu", WallSeconds() - first_wall_, CpuSeconds() - first_cpu_);
  }
  return out;
}

}  // namespace stalecheck
