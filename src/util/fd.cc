#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "stalecheck/util.h"

namespace stalecheck {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

void ClosingBatch::Add(int fd) {
  if (fd < 0) return;
  if (lo_ >= 0 && fd == hi_ + 1) {
    hi_ = fd;
  } else {
    Flush();
    lo_ = hi_ = fd;
  }
  // A full run is closed now, so the next file opened takes its lowest number again.
  if (held() >= max_run_) Flush();
}

// ThreadSanitizer keeps its own table of descriptors and does not see close_range: a number it
// still holds for open when the kernel hands it out again fails its checks. Under it each
// descriptor is closed with close.
#if defined(__SANITIZE_THREAD__)
constexpr bool kCloseRange = false;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kCloseRange = false;
#else
constexpr bool kCloseRange = true;
#endif
#else
constexpr bool kCloseRange = true;
#endif

void ClosingBatch::Flush() {
  if (lo_ < 0) return;
  // close_range (Linux 5.9) closes the run in one call; where it is missing, one by one.
  if (!kCloseRange || lo_ == hi_ ||
      ::close_range(static_cast<unsigned>(lo_), static_cast<unsigned>(hi_), 0) != 0) {
    for (int fd = lo_; fd <= hi_; ++fd) ::close(fd);
  }
  lo_ = hi_ = -1;
}

absl::Status ErrnoStatus(int err, absl::string_view what) {
  std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InvalidArgumentError(msg);
  }
}

absl::Status ReadSmallFile(const std::string& path, std::string* out, size_t limit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("opening ", path));
  out->clear();
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("reading ", path));
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
    if (out->size() > limit) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": larger than ", limit, " bytes"));
    }
  }
  return absl::OkStatus();
}

}  // namespace stalecheck
