#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "stalecheck/util.h"

using stalecheck::ClosingBatch;

namespace {

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

constexpr int kBase = 700;  // above anything the test process holds

// `n` descriptors on /dev/null at consecutive numbers from kBase.
std::vector<int> OpenNull(int n) {
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) fds.push_back(::fcntl(null, F_DUPFD_CLOEXEC, kBase + i));
  ::close(null);
  return fds;
}

}  // namespace

TEST_CASE("a batch holds consecutive descriptors open until it is flushed, then closes them all") {
  std::vector<int> fds = OpenNull(5);
  REQUIRE(fds.back() - fds.front() == 4);
  ClosingBatch batch(64);
  for (int fd : fds) batch.Add(fd);
  CHECK(batch.held() == 5);
  for (int fd : fds) CHECK(IsOpen(fd));
  batch.Flush();
  CHECK(batch.held() == 0);
  for (int fd : fds) CHECK_FALSE(IsOpen(fd));
}

TEST_CASE("a batch closes a full run as it fills, so the next file opened reuses its numbers") {
  std::vector<int> fds = OpenNull(4);
  REQUIRE(fds.back() - fds.front() == 3);
  ClosingBatch batch(4);
  for (int i = 0; i < 3; ++i) batch.Add(fds[i]);
  CHECK(IsOpen(fds[0]));
  batch.Add(fds[3]);
  CHECK(batch.held() == 0);
  for (int fd : fds) CHECK_FALSE(IsOpen(fd));
  const int again = ::fcntl(0, F_DUPFD_CLOEXEC, kBase);
  CHECK(again == fds[0]);
  ::close(again);
}

TEST_CASE("a batch closes only the descriptors handed to it, never one between them") {
  std::vector<int> fds = OpenNull(3);
  REQUIRE(fds[2] - fds[0] == 2);
  ClosingBatch batch(64);
  batch.Add(fds[0]);
  batch.Add(fds[2]);  // fds[1] is not the batch's: the run ends at fds[0], which is closed
  CHECK_FALSE(IsOpen(fds[0]));
  CHECK(IsOpen(fds[2]));
  batch.Flush();
  CHECK_FALSE(IsOpen(fds[2]));
  CHECK(IsOpen(fds[1]));
  ::close(fds[1]);
}

TEST_CASE("a batch destroyed closes what it still holds") {
  std::vector<int> fds = OpenNull(2);
  {
    ClosingBatch batch;
    for (int fd : fds) batch.Add(fd);
  }
  for (int fd : fds) CHECK_FALSE(IsOpen(fd));
}
