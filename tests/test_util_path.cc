#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "stalecheck/util.h"

using stalecheck::CleanPath;

namespace {

// Go's path.Clean, written out the plain way: the reference CleanPath's shortcuts answer to.
std::string ReferenceClean(const std::string& p) {
  if (p.empty()) return ".";
  const bool rooted = p[0] == '/';
  std::vector<std::string> out;
  std::string elem;
  for (size_t i = 0; i <= p.size(); ++i) {
    if (i < p.size() && p[i] != '/') {
      elem += p[i];
      continue;
    }
    if (elem == "..") {
      if (!out.empty() && out.back() != "..") out.pop_back();
      else if (!rooted) out.push_back(elem);
    } else if (!elem.empty() && elem != ".") {
      out.push_back(elem);
    }
    elem.clear();
  }
  std::string r = rooted ? "/" : "";
  for (size_t k = 0; k < out.size(); ++k) r += (k > 0 ? "/" : "") + out[k];
  return r.empty() ? "." : r;
}

}  // namespace

TEST_SUITE("util") {
  TEST_CASE("CleanPath agrees with a plain path.Clean on every path of up to 7 characters of a, . and /") {
    const char alphabet[] = {'a', '.', '/'};
    std::vector<std::string> level{""};
    for (int len = 0; len <= 7; ++len) {
      std::vector<std::string> next;
      for (const std::string& p : level) {
        CAPTURE(p);
        REQUIRE(CleanPath(p) == ReferenceClean(p));
        for (char c : alphabet) next.push_back(p + c);
      }
      level = std::move(next);
    }
  }

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
