#include <doctest/doctest.h>
#include <stdlib.h>

#include "stalecheck/check.h"
#include "stalecheck/compare.h"
#include "stalecheck/report.h"
#include "stalecheck/util.h"
#include "tests/test_helpers.h"

namespace stalecheck {
namespace {

using testing::Git;
using testing::TempDir;

ImageView WithLabel(const std::string& revision) {
  ImageView v;
  v.config = {{"config", {{"Labels", {{"org.opencontainers.image.revision", revision}}}}}};
  return v;
}

TEST_SUITE("compare.deploy") {
  TEST_CASE("an image's revision: the OCI label first, else a build arg its history recorded") {
    CHECK(ImageRevision(WithLabel("abc1234"))->value == "abc1234");
    CHECK(ImageRevision(WithLabel("abc1234"))->from == "label org.opencontainers.image.revision");
    ImageView v;
    v.history = {{std::string("RUN |2 MODE=prod GIT_COMMIT_SHA=deadbeef01 /bin/sh -c make"), std::nullopt, std::nullopt, 1},
                 {std::string("|1 APP_REVISION=cafe0001 /bin/sh -c true"), std::nullopt, std::nullopt, 2}};
    CHECK(ImageRevision(v)->value == "cafe0001");  // the last one
    CHECK(ImageRevision(v)->from == "build arg APP_REVISION");
    v.history.pop_back();
    CHECK(ImageRevision(v)->value == "deadbeef01");
    v.history = {{std::string("RUN |1 OTHER=1 /bin/sh -c x"), std::nullopt, std::nullopt, 1},
                 {std::string("ENV GIT_COMMIT=1234567"), std::nullopt, std::nullopt, -1}};
    CHECK_FALSE(ImageRevision(v));
  }

  TEST_CASE("a revision finding only for another commit, with the distance when the repository has it") {
    const std::string head = "0123456789abcdef0123456789abcdef01234567";
    CHECK_FALSE(RevisionFinding({"0123456789ab", "x"}, head, std::nullopt));
    CHECK_FALSE(RevisionFinding({"0123456", "x"}, head, std::nullopt));
    std::optional<Finding> f = RevisionFinding({"ffff999", "label l"}, head, std::nullopt);
    REQUIRE(f);
    CHECK(f->status == "revision");
    CHECK_FALSE(f->path);
    CHECK(*f->expected == head);
    CHECK(f->reason.find("a commit this repository does not have") != std::string::npos);
    CommitRelation behind{"ffff999000000000000000000000000000000000", 3, 0};
    CHECK(RevisionFinding({"ffff999", "l"}, head, behind)->reason.find("3 commits behind HEAD") != std::string::npos);
    CommitRelation same{head, 0, 0};
    CHECK_FALSE(RevisionFinding({"main", "l"}, head, same));
  }

  TEST_CASE("RelateCommits counts the commits between two in the repository") {
    TempDir d;
    Git(d, "init -q");
    Git(d, "commit -q --allow-empty -m one");
    std::string first = testing::ShOut("git -C '" + d.path() + "' rev-parse HEAD").substr(0, 40);
    Git(d, "commit -q --allow-empty -m two");
    Git(d, "commit -q --allow-empty -m three");
    std::optional<std::string> head = HeadCommit(d.path());
    REQUIRE(head);
    std::optional<CommitRelation> rel = RelateCommits(d.path(), *head, first.substr(0, 8));
    REQUIRE(rel);
    CHECK(rel->id == first);
    CHECK(rel->ahead == 2);
    CHECK(rel->behind == 0);
    CHECK_FALSE(RelateCommits(d.path(), *head, "ffffffffffff"));
  }

  TEST_CASE("a container that runs an image its name no longer names is outdated") {
    ImageView v;
    CHECK_FALSE(OutdatedContainerFinding(v, "fix"));
    v.container = ContainerInfo{};
    v.container->image_id = "sha256:aaaa";
    v.container->config_image = "app:1";
    v.container->image_now = "sha256:aaaa";
    CHECK_FALSE(OutdatedContainerFinding(v, "fix"));
    v.container->image_now = "sha256:bbbb";
    std::optional<Finding> f = OutdatedContainerFinding(v, "recreate it");
    REQUIRE(f);
    CHECK(f->status == "outdated-container");
    CHECK(*f->actual == "sha256:aaaa");
    CHECK(*f->expected == "sha256:bbbb");
    CHECK(f->reason.find("recreate it") != std::string::npos);
  }
}

TEST_SUITE("report.annotations") {
  TEST_CASE("SARIF and github name the Dockerfile relative to the repository root however -C was typed") {
    CheckRequest req;
    req.target = TargetName{"docker-archive", STALECHECK_FIXTURES "/demo/app-old.tar"};
    req.context.dir = STALECHECK_FIXTURES "/demo/context";  // absolute
    req.build_rules = "buildx";
    absl::StatusOr<CheckOutcome> o = RunCheck(req);
    REQUIRE_MESSAGE(o.ok(), o.status().ToString());
    REQUIRE(o->result.stale);
    ::setenv("GITHUB_WORKSPACE", STALECHECK_FIXTURES "/..", 1);
    CHECK(RepoRelativePath(STALECHECK_FIXTURES "/demo/context/Dockerfile") == "fixtures/demo/context/Dockerfile");
    o->dockerfile_uri = RepoRelativePath(o->context.dockerfile);
    std::string sarif = CheckSarif(o->Report());
    CHECK(sarif.find("\"uri\": \"fixtures/demo/context/Dockerfile\"") != std::string::npos);
    CHECK(sarif.find(STALECHECK_FIXTURES) == std::string::npos);
    std::string gh = CheckGithub(o->Report());
    CHECK(gh.find("::error file=fixtures/demo/context/Dockerfile,line=") == 0);
    ::unsetenv("GITHUB_WORKSPACE");
    // Without GITHUB_WORKSPACE, the git work tree that holds it (this repository) is the root.
    CHECK(RepoRelativePath(STALECHECK_FIXTURES "/demo/context/Dockerfile") == "fixtures/demo/context/Dockerfile");
  }

  TEST_CASE("a path under no root is left as it is") {
    ::unsetenv("GITHUB_WORKSPACE");
    CHECK(RepoRelativePath("/nonexistent-root/x/Dockerfile") == "/nonexistent-root/x/Dockerfile");
  }
}

}  // namespace
}  // namespace stalecheck
