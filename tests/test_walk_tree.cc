#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "stalecheck/context.h"
#include "stalecheck/walk.h"
#include "test_helpers.h"

using stalecheck::FileType;
using stalecheck::IgnoreMatcher;
using stalecheck::testing::TempDir;

namespace {

std::vector<std::string> Paths(const std::vector<stalecheck::FileEntry>& entries) {
  return stalecheck::testing::PathsOf(entries);
}

std::vector<std::string> Walk(const TempDir& dir, const std::string& ignore, int jobs = 2) {
  auto m = IgnoreMatcher::Parse(ignore);
  REQUIRE(m.ok());
  auto entries = stalecheck::WalkTree(dir.path(), *m, jobs);
  REQUIRE(entries.ok());
  return Paths(*entries);
}

}  // namespace

TEST_SUITE("walk") {
  TEST_CASE("the walk lists files, directories and symlinks sorted, without following links") {
    TempDir d;
    d.Write("b/c.txt", "c");
    d.Write("a.txt", "a");
    std::filesystem::create_directory_symlink("b", d / "link");
    std::filesystem::create_directory_symlink(".", d / "b/loop");  // a symlink loop
    auto m = IgnoreMatcher::Parse("");
    auto entries = stalecheck::WalkTree(d.path(), *m, 2);
    REQUIRE(entries.ok());
    CHECK(Paths(*entries) == std::vector<std::string>{"a.txt", "b", "b/c.txt", "b/loop", "link"});
    CHECK((*entries)[4].type == FileType::kSymlink);
    CHECK((*entries)[4].target == "b");
    CHECK((*entries)[3].target == ".");
  }

  TEST_CASE("fifos, sockets and devices are skipped, never opened") {
    TempDir d;
    d.Write("f", "x");
    REQUIRE(::mkfifo((d / "pipe").c_str(), 0644) == 0);
    CHECK(Walk(d, "") == std::vector<std::string>{"f"});
    auto ctx = stalecheck::LoadContext({.dir = d.path(), .jobs = 2});
    REQUIRE(ctx.ok());
    CHECK(ctx->entries.size() == 1);
  }

  TEST_CASE("an excluded directory is skipped whole unless an exception is written below it") {
    TempDir d;
    d.Write("dir/sub/x", "x");
    d.Write("dir/other", "o");
    d.Write("a/keep/x", "k");
    d.Write("top", "t");
    CHECK(Walk(d, "dir\n!dir/sub\n") ==
          std::vector<std::string>{"a", "a/keep", "a/keep/x", "dir", "dir/sub", "dir/sub/x", "top"});
    // "*/keep" is not written below "a/": the walker never enters "a", so nothing of it is sent.
    CHECK(Walk(d, "*\n!*/keep\n").empty());
    // An exception that matches nothing still makes the walker enter (and send) the directory.
    CHECK(Walk(d, "dir\n!dir/nothing\n") == std::vector<std::string>{"a", "a/keep", "a/keep/x", "dir", "top"});
  }

  TEST_CASE("the walk gives the same result on one thread and on many") {
    TempDir d;
    for (int i = 0; i < 200; ++i) d.Write("d" + std::to_string(i % 7) + "/f" + std::to_string(i), "x");
    CHECK(Walk(d, "d3\n", 1) == Walk(d, "d3\n", 8));
  }

  TEST_CASE("small files are hashed during the walk, large ones after it, with the same digests") {
    TempDir d;
    std::string big(stalecheck::kInlineHashLimit * 3, 'b');
    d.Write("small", "tiny");
    d.Write("big", big);
    auto m = IgnoreMatcher::Parse("");
    auto entries = stalecheck::WalkTree(d.path(), *m, 2);
    REQUIRE(entries.ok());
    CHECK((*entries)[1].digest == stalecheck::HashBytes("tiny"));
    CHECK((*entries)[0].digest == stalecheck::Digest128{});
    REQUIRE(stalecheck::HashFiles(d.path(), *entries, 2).ok());
    CHECK((*entries)[0].digest == stalecheck::HashBytes(big));
    CHECK((*entries)[0].size == big.size());
  }

  TEST_CASE("the root digest does not depend on the number of threads") {
    TempDir d;
    for (int i = 0; i < 300; ++i) d.Write("d" + std::to_string(i % 11) + "/f" + std::to_string(i), std::to_string(i));
    auto one = stalecheck::LoadContext({.dir = d.path(), .jobs = 1});
    auto many = stalecheck::LoadContext({.dir = d.path(), .jobs = 8});
    REQUIRE(one.ok());
    REQUIRE(many.ok());
    CHECK(one->root == many->root);
    d.Write("d0/f0", "changed");
    auto changed = stalecheck::LoadContext({.dir = d.path(), .jobs = 2});
    REQUIRE(changed.ok());
    CHECK_FALSE(changed->root == one->root);
  }

  TEST_CASE("NAME.dockerignore beside the Dockerfile replaces .dockerignore") {
    TempDir d;
    d.Write("a/f", "a");
    d.Write("b/f", "b");
    d.Write(".dockerignore", "a\n");
    d.Write("sub/app.Dockerfile", "FROM scratch\n");
    d.Write("sub/app.Dockerfile.dockerignore", "b\nsub\n**/*.dockerignore\n");
    auto ctx = stalecheck::LoadContext({.dir = d.path(), .dockerfile = d / "sub/app.Dockerfile", .jobs = 2});
    REQUIRE(ctx.ok());
    CHECK(Paths(ctx->entries) == std::vector<std::string>{"a", "a/f"});
    auto root = stalecheck::LoadContext({.dir = d.path(), .jobs = 2});
    REQUIRE(root.ok());
    CHECK(Paths(root->entries) ==
          std::vector<std::string>{".dockerignore", "b", "b/f", "sub", "sub/app.Dockerfile",
                                   "sub/app.Dockerfile.dockerignore"});
  }

  TEST_CASE("bad input is an error that names it") {
    TempDir d;
    SUBCASE("a missing context") {
      auto ctx = stalecheck::LoadContext({.dir = d / "missing"});
      REQUIRE_FALSE(ctx.ok());
      CHECK(std::string(ctx.status().message()).find("missing") != std::string::npos);
    }
    SUBCASE("a bare '!' names the ignore file") {
      d.Write(".dockerignore", "!\n");
      auto ctx = stalecheck::LoadContext({.dir = d.path()});
      REQUIRE_FALSE(ctx.ok());
      CHECK(std::string(ctx.status().message()).find(".dockerignore") != std::string::npos);
    }
    SUBCASE("a file that disappears between walk and hash") {
      d.Write("gone", std::string(stalecheck::kInlineHashLimit + 1, 'x'));
      auto m = IgnoreMatcher::Parse("");
      auto entries = stalecheck::WalkTree(d.path(), *m, 1);
      REQUIRE(entries.ok());
      std::filesystem::remove(d / "gone");
      auto st = stalecheck::HashFiles(d.path(), *entries, 1);
      REQUIRE_FALSE(st.ok());
      CHECK(std::string(st.message()).find("gone") != std::string::npos);
    }
  }
}
