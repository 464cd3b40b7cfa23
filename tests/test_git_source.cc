#include <doctest/doctest.h>

#include <algorithm>

#include "stalecheck/context.h"
#include "test_helpers.h"

using stalecheck::testing::Git;
using stalecheck::testing::Sh;
using stalecheck::testing::TempDir;

namespace {

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

TEST_SUITE("git submodules") {
  // A superproject `top` whose `lib` (and `lib/inner`, nested) are submodules, made with git itself.
  struct Super {
    TempDir d;
    Super() {
      d.Write("inner/i.txt", "inner\n");
      Git(d, "-C inner init -q .");
      Git(d, "-C inner add -A");
      Git(d, "-C inner commit -qm i");
      d.Write("lib/s.txt", "s1\n");
      d.Write("lib/d/x", "x\n");
      Git(d, "-C lib init -q .");
      Git(d, "-C lib add -A");
      Git(d, "-C lib commit -qm s1");
      Git(d, "-C lib -c protocol.file.allow=always submodule add -q '" + d / "inner" + "' inner");
      Git(d, "-C lib commit -qm inner");
      d.Write("top/m.txt", "m\n");
      Git(d, "-C top init -q .");
      Git(d, "-C top -c protocol.file.allow=always submodule add -q '" + d / "lib" + "' app/lib");
      Git(d, "-C top -c protocol.file.allow=always submodule update -q --init --recursive");
      Git(d, "-C top add -A");
      Git(d, "-C top commit -qm top");
    }
  };

  TEST_CASE("an initialized submodule's files are read at the commit the revision records") {
    Super s;
    // The submodule's checkout moves on after the commit; the revision still records s1.
    s.d.Write("lib/s.txt", "s2\n");
    Git(s.d, "-C lib commit -qam s2");
    Git(s.d, "-C top/app/lib -c protocol.file.allow=always pull -q");

    auto rev = stalecheck::LoadContext({.dir = s.d / "top", .rev = "HEAD", .jobs = 2});
    REQUIRE(rev.ok());
    CHECK(Paths(*rev) == std::vector<std::string>{".gitmodules", "app", "app/lib", "app/lib/.gitmodules",
                                                  "app/lib/d", "app/lib/d/x", "app/lib/inner",
                                                  "app/lib/inner/i.txt", "app/lib/s.txt", "m.txt"});
    CHECK(rev->entries[8].digest == stalecheck::HashBytes("s1\n"));
    CHECK(rev->entries[7].digest == stalecheck::HashBytes("inner\n"));
    CHECK(*rev->read_file("app/lib/s.txt") == "s1\n");
    CHECK(stalecheck::testing::FirstUnreadableFile(*rev) == "");
    CHECK_FALSE(rev->read_file("app/lib/nothing").ok());

    // A context directory inside the superproject finds the same submodule.
    auto app = stalecheck::LoadContext({.dir = s.d / "top/app", .rev = "HEAD", .jobs = 1});
    REQUIRE(app.ok());
    CHECK(Paths(*app).size() == 7);
    CHECK(app->entries[6].path == "lib/s.txt");
    CHECK(app->entries[6].digest == stalecheck::HashBytes("s1\n"));
    CHECK(stalecheck::testing::FirstUnreadableFile(*app) == "");
  }

  TEST_CASE("a submodule this clone never initialized is an empty directory, as in its checkout") {
    Super s;
    Git(s.d, "clone -q '" + s.d / "top" + "' plain");
    auto rev = stalecheck::LoadContext({.dir = s.d / "plain", .rev = "HEAD", .jobs = 2});
    REQUIRE(rev.ok());
    CHECK(Paths(*rev) == std::vector<std::string>{".gitmodules", "app", "app/lib", "m.txt"});
    // The working tree, which the engine sends, has the same empty directory.
    auto work = stalecheck::LoadContext({.dir = s.d / "plain", .jobs = 2});
    REQUIRE(work.ok());
    const std::vector<std::string> paths = Paths(*work);
    CHECK(std::count(paths.begin(), paths.end(), "app/lib") == 1);
    CHECK(std::count_if(paths.begin(), paths.end(), [](const std::string& p) { return p.rfind("app/lib/", 0) == 0; }) == 0);
  }

  TEST_CASE("an initialized submodule without the recorded commit is an error naming it, unless ignored") {
    Super s;
    // Record a commit of lib that top's copy of lib has never fetched.
    s.d.Write("lib/s.txt", "s3\n");
    Git(s.d, "-C lib commit -qam s3");
    const std::string head = stalecheck::testing::ShOut("git -C '" + s.d / "lib" + "' rev-parse HEAD").substr(0, 40);
    REQUIRE(head.size() == 40);
    Git(s.d, "-C top update-index --cacheinfo 160000," + head + ",app/lib");
    Git(s.d, "-C top commit -qm bump");

    auto rev = stalecheck::LoadContext({.dir = s.d / "top", .rev = "HEAD", .jobs = 2});
    REQUIRE_FALSE(rev.ok());
    CHECK(std::string(rev.status().message()).find("submodule app/lib") != std::string::npos);
    CHECK(std::string(rev.status().message()).find(head) != std::string::npos);

    // The commit before still reads; and with the submodule ignored, it is never opened.
    CHECK(stalecheck::LoadContext({.dir = s.d / "top", .rev = "HEAD~1", .jobs = 2}).ok());
    s.d.Write("top/.dockerignore", "app/lib\n");
    Git(s.d, "-C top add .dockerignore");
    Git(s.d, "-C top commit -qm ignore");
    auto ignored = stalecheck::LoadContext({.dir = s.d / "top", .rev = "HEAD", .jobs = 2});
    REQUIRE(ignored.ok());
    CHECK(Paths(*ignored) == std::vector<std::string>{".dockerignore", ".gitmodules", "app", "m.txt"});
  }
}
