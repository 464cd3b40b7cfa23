#include <doctest/doctest.h>

#include "stalecheck/util.h"

using stalecheck::CleanPath;

TEST_SUITE("util") {
  TEST_CASE("CleanPath behaves like Go's path.Clean") {
    CHECK(CleanPath("") == ".");
    CHECK(CleanPath("a//b/./c/") == "a/b/c");
    CHECK(CleanPath("a/../../b") == "../b");
    CHECK(CleanPath("/../a") == "/a");
    CHECK(CleanPath("/") == "/");
    CHECK(CleanPath("./") == ".");
    CHECK(CleanPath("x/..") == ".");
  }

  TEST_CASE("ParallelFor visits every index once and reports the error") {
    std::vector<int> seen(1000, 0);
    auto st = stalecheck::ParallelFor(seen.size(), 4, [&](size_t i) {
      seen[i]++;
      return absl::OkStatus();
    });
    CHECK(st.ok());
    CHECK(std::count(seen.begin(), seen.end(), 1) == 1000);
    auto bad = stalecheck::ParallelFor(100, 4, [&](size_t i) {
      return i == 42 ? absl::InvalidArgumentError("boom") : absl::OkStatus();
    });
    CHECK(bad.message() == "boom");
  }
}

TEST_CASE("a path is under a directory when it is it or below it, by whole elements") {
  CHECK(stalecheck::PathUnder("/app/a.py", "/app"));
  CHECK(stalecheck::PathUnder("/app", "/app"));
  CHECK_FALSE(stalecheck::PathUnder("/apps/a.py", "/app"));
  CHECK_FALSE(stalecheck::PathUnder("/ap", "/app"));
  CHECK(stalecheck::PathUnder("/x", "/"));
  CHECK(stalecheck::PathUnder("/x", ""));
}
