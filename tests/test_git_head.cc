#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "src/git/head.h"
#include "stalecheck/git_source.h"
#include "tests/test_helpers.h"

using stalecheck::HeadCommit;
using stalecheck::git::ReadHeadFromFiles;
using stalecheck::testing::Git;
using stalecheck::testing::ShOut;
using stalecheck::testing::TempDir;

namespace {

// git's own answer, or nullopt where it has none.
std::optional<std::string> GitsHead(const std::string& dir) {
  std::string out = ShOut("git -C '" + dir + "' rev-parse --verify -q HEAD 2>/dev/null");
  if (out.size() < 40) return std::nullopt;
  return out.substr(0, 40);
}

std::string Real(const std::string& p) {
  char buf[PATH_MAX];
  REQUIRE(::realpath(p.c_str(), buf) != nullptr);
  return buf;
}

// The file reader answers, and answers as git does; HeadCommit agrees.
void Certain(const std::string& dir) {
  CAPTURE(dir);
  std::optional<std::optional<std::string>> files = ReadHeadFromFiles(Real(dir));
  REQUIRE(files.has_value());
  CHECK(*files == GitsHead(dir));
  CHECK(HeadCommit(dir) == GitsHead(dir));
}

// The file reader leaves it to libgit2, whose answer is still git's.
void LeftToLibgit2(const std::string& dir) {
  CAPTURE(dir);
  CHECK_FALSE(ReadHeadFromFiles(Real(dir)).has_value());
  CHECK(HeadCommit(dir) == GitsHead(dir));
}

}  // namespace

TEST_SUITE("git: HEAD from the repository's files") {
  TEST_CASE("a branch, loose or packed, detached, from a subdirectory, and an unborn branch read as git reads them") {
    TempDir d;
    Git(d, "init -q -b main");
    d.Write("sub/dir/f", "x");
    Certain(d.path());  // unborn: no commit yet
    CHECK_FALSE(HeadCommit(d.path()).has_value());
    Git(d, "add -A");
    Git(d, "commit -q -m one");
    Certain(d.path());
    Certain(d / "sub/dir");
    Git(d, "pack-refs --all");
    REQUIRE_FALSE(stalecheck::testing::Sh("test -e '" + (d / ".git/refs/heads/main") + "'"));
    Certain(d.path());  // from packed-refs alone
    Git(d, "commit -q --allow-empty -m two");
    Certain(d.path());  // the loose ref wins over the packed one
    Git(d, "checkout -q --detach HEAD~1");
    Certain(d.path());
    Git(d, "checkout -q main");
    Git(d, "symbolic-ref refs/heads/alias refs/heads/main");
    Git(d, "symbolic-ref HEAD refs/heads/alias");
    Certain(d.path());  // a symbolic ref through another
  }

  TEST_CASE("a linked worktree reads its own HEAD and the common refs") {
    TempDir d;
    Git(d, "init -q -b main");
    Git(d, "commit -q --allow-empty -m one");
    Git(d, "commit -q --allow-empty -m two");
    Git(d, "worktree add -q -b other wt HEAD~1");
    Certain(d / "wt");
    Certain(d.path());
    Git(d, "-C wt commit -q --allow-empty -m three");
    Certain(d / "wt");
    CHECK(HeadCommit(d / "wt") != HeadCommit(d.path()));
  }

  TEST_CASE("a directory in no repository has no HEAD") {
    TempDir d;
    d.Write("a/b", "x");
    // The temporary directory is in no repository (the suite's own checkout is elsewhere).
    REQUIRE_FALSE(GitsHead(d.path()).has_value());
    Certain(d / "a");
  }

  TEST_CASE("what the file reader does not take is left to libgit2") {
    TempDir d;
    Git(d, "init -q -b main");
    Git(d, "commit -q --allow-empty -m one");
    SUBCASE("repository extensions") {
      // An [extensions] section, under format version 0 so that git and libgit2 both open it
      // (under LeakSanitizer, libgit2 1.5 leaked pcre2 match data opening this repository at version 1).
      Git(d, "config extensions.noop true");
      LeftToLibgit2(d.path());
    }
    SUBCASE("an include that could add them") {
      Git(d, "config include.path other.cfg");
      LeftToLibgit2(d.path());
    }
    SUBCASE("a bare repository") {
      TempDir bare;
      REQUIRE(stalecheck::testing::Sh("git clone -q --bare '" + d.path() + "' '" + (bare / "r.git") + "'"));
      LeftToLibgit2(bare / "r.git");
    }
    SUBCASE("a HEAD that is neither a ref nor an id") {
      d.Write(".git/HEAD", "garbage\n");
      LeftToLibgit2(d.path());
    }
  }
}
