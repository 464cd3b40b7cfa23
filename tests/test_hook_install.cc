#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "stalecheck/hook.h"
#include "tests/test_helpers.h"

namespace stalecheck {
namespace {

using testing::Git;
using testing::Sh;
using testing::TempDir;

HookInstallOptions In(const TempDir& d, bool force = false) {
  HookInstallOptions o;
  o.repo = d.path();
  o.force = force;
  o.stalecheck = "/usr/bin/stalecheck";
  return o;
}

TEST_SUITE("hook") {
  TEST_CASE("pre-push input: four fields a line, ids of 40 or 64 digits, zero ids for new and deleted refs") {
    const std::string z40(40, '0'), z64(64, '0'), a40(40, 'a'), b64(64, 'b');
    absl::StatusOr<std::vector<PushedRef>> refs = ParsePrePushInput(
        "refs/heads/main " + a40 + " refs/heads/main " + z40 + "\n(delete) " + z64 + " refs/heads/old " + b64 + "\n\n");
    REQUIRE(refs.ok());
    REQUIRE(refs->size() == 2);
    CHECK((*refs)[0].new_ref());
    CHECK_FALSE((*refs)[0].deletion());
    CHECK((*refs)[1].deletion());
    CHECK_FALSE((*refs)[1].new_ref());
    CHECK(IsZeroOid(z64));
    CHECK_FALSE(IsZeroOid(std::string(39, '0')));
    CHECK_FALSE(ParsePrePushInput("refs/heads/main abc refs/heads/main " + z40 + "\n").ok());
    CHECK_FALSE(ParsePrePushInput("refs/heads/main " + a40 + "\n").ok());
    CHECK(ParsePrePushInput("").ok());
  }

  TEST_CASE("install writes where git runs hooks and never over a foreign hook without --force") {
    TempDir d;
    Git(d, "init -q");
    const std::string hook = d / ".git/hooks/pre-push";
    SUBCASE("a fresh repository gets the hook, executable, and uninstall removes it") {
      REQUIRE(InstallHook(In(d)).ok());
      CHECK(testing::Slurp(hook).find(kHookMarker) != std::string::npos);
      CHECK(::access(hook.c_str(), X_OK) == 0);
      CHECK(InstallHook(In(d)).ok());  // again over its own
      REQUIRE(UninstallHook(d.path()).ok());
      CHECK_FALSE(std::filesystem::exists(hook));
    }
    SUBCASE("a foreign hook is kept; --force moves it to pre-push.local and uninstall puts it back") {
      d.Write(".git/hooks/pre-push", "#!/bin/sh\necho mine\n");
      absl::StatusOr<std::string> refused = InstallHook(In(d));
      REQUIRE_FALSE(refused.ok());
      CHECK(refused.status().message().find(hook) != std::string::npos);
      CHECK(testing::Slurp(hook) == "#!/bin/sh\necho mine\n");
      CHECK_FALSE(UninstallHook(d.path()).ok());  // not ours: left alone
      REQUIRE(InstallHook(In(d, true)).ok());
      CHECK(testing::Slurp(d / ".git/hooks/pre-push.local") == "#!/bin/sh\necho mine\n");
      CHECK(testing::Slurp(hook).find("pre-push.local") != std::string::npos);
      REQUIRE(UninstallHook(d.path()).ok());
      CHECK(testing::Slurp(hook) == "#!/bin/sh\necho mine\n");
      CHECK_FALSE(std::filesystem::exists(d / ".git/hooks/pre-push.local"));
    }
    SUBCASE("core.hooksPath is where it goes") {
      Git(d, "config core.hooksPath .githooks");
      REQUIRE(InstallHook(In(d)).ok());
      CHECK(testing::Slurp(d / ".githooks/pre-push").find(kHookMarker) != std::string::npos);
      CHECK_FALSE(std::filesystem::exists(hook));
    }
    SUBCASE("husky's core.hooksPath gets nothing; the message names the file to add a line to") {
      Git(d, "config core.hooksPath .husky/_");
      absl::StatusOr<std::string> out = InstallHook(In(d));
      REQUIRE_FALSE(out.ok());
      CHECK(out.status().message().find(d / ".husky/pre-push") != std::string::npos);
      CHECK_FALSE(std::filesystem::exists(d / ".husky"));
    }
  }

  TEST_CASE("a linked worktree installs into the repository's common hooks") {
    TempDir d;
    Git(d, "init -q main");
    REQUIRE(Sh("cd '" + d.path() + "/main' && git -c user.name=t -c user.email=t@t commit -q --allow-empty -m one && "
               "git worktree add -q ../wt 2>/dev/null"));
    HookInstallOptions o = In(d);
    o.repo = d / "wt";
    REQUIRE(InstallHook(o).ok());
    CHECK(std::filesystem::exists(d / "main/.git/hooks/pre-push"));
  }

  TEST_CASE("outside a work tree install is an error") {
    TempDir d;
    CHECK_FALSE(InstallHook(In(d)).ok());
  }
}

}  // namespace
}  // namespace stalecheck
