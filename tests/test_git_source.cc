#include <doctest/doctest.h>

#include "stalecheck/context.h"
#include "test_helpers.h"

using stalecheck::testing::Sh;
using stalecheck::testing::TempDir;

namespace {

void Git(const TempDir& d, const std::string& args) {
  REQUIRE(Sh("cd '" + d.path() + "' && git -c user.name=t -c user.email=t@t " + args + " >/dev/null 2>&1"));
}

std::vector<std::string> Paths(const stalecheck::Context& c) { return stalecheck::testing::PathsOf(c.entries); }

}  // namespace

TEST_SUITE("git") {
  TEST_CASE("--rev reads the committed tree, not the working tree") {
    TempDir d;
    d.Write("app/main.py", "v1\n");
    d.Write("app/run.sh", "#!/bin/sh\n");
    d.Write("app/.dockerignore", "*.log\n");
    d.Write("app/x.log", "log\n");
    REQUIRE(Sh("chmod +x '" + d / "app/run.sh" + "' && ln -s main.py '" + d / "app/link" + "'"));
    Git(d, "init -q .");
    Git(d, "add -A");
    Git(d, "commit -qm one");
    d.Write("app/main.py", "v2 uncommitted\n");
    d.Write("app/new.py", "new\n");

    auto rev = stalecheck::LoadContext({.dir = d / "app", .rev = "HEAD", .jobs = 2});
    REQUIRE(rev.ok());
    CHECK(Paths(*rev) == std::vector<std::string>{".dockerignore", "link", "main.py", "run.sh"});
    CHECK(rev->commit.has_value());
    CHECK(rev->entries[2].digest == stalecheck::HashBytes("v1\n"));
    CHECK(rev->entries[3].mode == 0755);
    CHECK(rev->entries[1].target == "main.py");

    auto work = stalecheck::LoadContext({.dir = d / "app", .jobs = 2});
    REQUIRE(work.ok());
    CHECK(Paths(*work) == std::vector<std::string>{".dockerignore", "link", "main.py", "new.py", "run.sh"});
    CHECK_FALSE(work->root == rev->root);

    // With the working tree back at the commit, both give the same fingerprint.
    d.Write("app/main.py", "v1\n");
    REQUIRE(Sh("rm '" + d / "app/new.py" + "'"));
    auto same = stalecheck::LoadContext({.dir = d / "app", .jobs = 2});
    REQUIRE(same.ok());
    CHECK(same->root == rev->root);
  }

  TEST_CASE("the revision's own ignore file applies") {
    TempDir d;
    d.Write("a", "a");
    d.Write("b", "b");
    d.Write(".dockerignore", "a\n");
    Git(d, "init -q .");
    Git(d, "add -A");
    Git(d, "commit -qm one");
    d.Write(".dockerignore", "b\n");
    auto rev = stalecheck::LoadContext({.dir = d.path(), .rev = "HEAD"});
    REQUIRE(rev.ok());
    CHECK(Paths(*rev) == std::vector<std::string>{".dockerignore", "b"});
  }

  TEST_CASE("an unknown revision and a directory outside git are errors") {
    TempDir d;
    d.Write("a", "a");
    auto outside = stalecheck::LoadContext({.dir = d.path(), .rev = "HEAD"});
    CHECK_FALSE(outside.ok());
    Git(d, "init -q .");
    Git(d, "add -A");
    Git(d, "commit -qm one");
    auto unknown = stalecheck::LoadContext({.dir = d.path(), .rev = "no-such-branch"});
    REQUIRE_FALSE(unknown.ok());
    CHECK(std::string(unknown.status().message()).find("no-such-branch") != std::string::npos);
  }
}
