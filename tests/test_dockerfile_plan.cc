#include <doctest/doctest.h>

#include "stalecheck/dockerfile.h"
#include "stalecheck/hash.h"
#include "test_helpers.h"

using stalecheck::FileEntry;
using stalecheck::FileType;

namespace {

FileEntry File(const std::string& path, const std::string& data = "x", uint32_t mode = 0644) {
  return stalecheck::testing::FileOf(path, data, mode);
}

FileEntry Dir(const std::string& path) { return stalecheck::testing::DirOf(path); }

std::vector<FileEntry> Context() {
  return {File("Dockerfile"), File("README.md"), Dir("src"), File("src/a.py"), File("src/b.py"), Dir("src/pkg"),
          File("src/pkg/c.py"), File("run.sh", "#!/bin/sh", 0755), File("x.txt"), File("y.txt")};
}

std::map<std::string, std::string> Plan(const std::string& dockerfile, stalecheck::PlanOptions opts = {}) {
  auto df = stalecheck::ParseDockerfile(dockerfile, "Dockerfile");
  REQUIRE(df.ok());
  auto plan = stalecheck::BuildCopyPlan(*df, Context(), opts);
  REQUIRE(plan.ok());
  std::map<std::string, std::string> out;
  for (const auto& f : plan->files) out[f.path] = f.source;
  return out;
}

using M = std::map<std::string, std::string>;

}  // namespace

TEST_SUITE("dockerfile") {
  TEST_CASE("a directory source copies its contents") {
    CHECK(Plan("FROM scratch\nCOPY src/ /app/\n") ==
          M{{"/app/a.py", "src/a.py"}, {"/app/b.py", "src/b.py"},
            {"/app/pkg", "src/pkg"}, {"/app/pkg/c.py", "src/pkg/c.py"}});
    CHECK(Plan("FROM scratch\nCOPY src /app\n").count("/app/pkg/c.py") == 1);
  }

  TEST_CASE("a file goes to dest/<name> when dest ends in '/', else to dest itself") {
    CHECK(Plan("FROM scratch\nCOPY run.sh /bin/\n") == M{{"/bin/run.sh", "run.sh"}});
    CHECK(Plan("FROM scratch\nCOPY run.sh /bin/start\n") == M{{"/bin/start", "run.sh"}});
  }

  TEST_CASE("relative destinations join WORKDIR, with ARG and ENV expanded") {
    CHECK(Plan("ARG BASE=/srv\nFROM scratch\nARG BASE\nWORKDIR $BASE\nENV SUB=app\nWORKDIR ${SUB}\nCOPY x.txt .\n") ==
          M{{"/srv/app/x.txt", "x.txt"}});
    stalecheck::PlanOptions opts;
    opts.build_args = {{"BASE", "/opt"}};
    CHECK(Plan("ARG BASE=/srv\nFROM scratch\nARG BASE\nWORKDIR $BASE\nCOPY x.txt ./\n", opts) == M{{"/opt/x.txt", "x.txt"}});
  }

  TEST_CASE("wildcards match one level, several sources need a directory") {
    CHECK(Plan("FROM scratch\nCOPY *.txt /d/\n") == M{{"/d/x.txt", "x.txt"}, {"/d/y.txt", "y.txt"}});
    CHECK(Plan("FROM scratch\nCOPY src/*.py /d/\n") == M{{"/d/a.py", "src/a.py"}, {"/d/b.py", "src/b.py"}});
    CHECK(Plan("FROM scratch\nCOPY x.txt y.txt /d\n") == M{{"/d/x.txt", "x.txt"}, {"/d/y.txt", "y.txt"}});
    CHECK(Plan("FROM scratch\nCOPY [\"x.txt\", \"/json\"]\n") == M{{"/json", "x.txt"}});
  }

  TEST_CASE("remote ADD, heredocs and other images are not context copies") {
    CHECK(Plan("FROM scratch\nCOPY --from=nginx:1 /etc/x /c\nADD https://e.x/f /f\nCOPY <<EOF /h\nhi\nEOF\n").empty());
  }

  TEST_CASE("COPY --from a stage follows what that stage copied straight from the context") {
    CHECK(Plan("FROM scratch AS b\nCOPY x.txt /b\nFROM scratch\nCOPY --from=b /b /c\n") == M{{"/c", "x.txt"}});
    CHECK(Plan("FROM scratch AS b\nCOPY src/ /s/\nFROM scratch\nCOPY --from=b /s /app/\n") ==
          M{{"/app/a.py", "src/a.py"}, {"/app/b.py", "src/b.py"}, {"/app/pkg", "src/pkg"}, {"/app/pkg/c.py", "src/pkg/c.py"}});
    CHECK(Plan("FROM scratch AS b\nCOPY src/ /s/\nFROM scratch\nCOPY --from=0 /s/*.py /w/\n") ==
          M{{"/w/a.py", "src/a.py"}, {"/w/b.py", "src/b.py"}});
    // Through two stages.
    CHECK(Plan("FROM scratch AS a\nCOPY x.txt /x\nFROM scratch AS b\nCOPY --from=a /x /y\nFROM scratch\n"
               "COPY --from=b /y /z\n") == M{{"/z", "x.txt"}});
  }

  TEST_CASE("COPY --from leaves out what a later RUN of that stage may have changed, and says why") {
    auto df = stalecheck::ParseDockerfile(
        "FROM scratch AS b\nCOPY src/ /s/\nRUN make\nFROM scratch\nCOPY --from=b /s /app/\n", "Dockerfile");
    REQUIRE(df.ok());
    auto plan = stalecheck::BuildCopyPlan(*df, Context(), {});
    REQUIRE(plan.ok());
    CHECK(plan->files.empty());
    REQUIRE(plan->steps.size() == 1);
    CHECK(plan->steps[0].source == stalecheck::StepSource::kStage);
    CHECK(plan->steps[0].unchecked.find("Dockerfile:3") != std::string::npos);
  }

  TEST_CASE("every instruction but FROM is a step; RUN with a bind mount of the context says so") {
    auto df = stalecheck::ParseDockerfile(
        "FROM scratch\nENV A=1\nWORKDIR /w\nRUN --mount=type=bind,target=/src make\nCOPY x.txt .\nLABEL l=1\n",
        "Dockerfile");
    REQUIRE(df.ok());
    auto plan = stalecheck::BuildCopyPlan(*df, Context(), {});
    REQUIRE(plan.ok());
    std::vector<std::string> keywords;
    for (const auto& s : plan->steps) keywords.push_back(s.keyword);
    CHECK(keywords == std::vector<std::string>{"ENV", "WORKDIR", "RUN", "COPY", "LABEL"});
    CHECK(plan->steps[2].binds_context);
    CHECK_FALSE(plan->steps[2].unchecked.empty());
    CHECK(plan->steps[3].dest_written == ".");
    CHECK(plan->steps[3].written == std::vector<std::string>{"x.txt"});
  }

  TEST_CASE("the chosen stage includes the stages it is built FROM") {
    std::string df = "FROM scratch AS base\nCOPY x.txt /x\nFROM base AS app\nCOPY y.txt /y\nFROM scratch AS other\nCOPY run.sh /r\n";
    stalecheck::PlanOptions opts;
    opts.target = "app";
    CHECK(Plan(df, opts) == M{{"/x", "x.txt"}, {"/y", "y.txt"}});
    CHECK(Plan(df) == M{{"/r", "run.sh"}});
  }

  TEST_CASE("--chmod sets the expected mode; --exclude drops files") {
    auto df = stalecheck::ParseDockerfile("FROM scratch\nCOPY --chmod=0700 --exclude=*.md . /app/\n", "Dockerfile");
    auto plan = stalecheck::BuildCopyPlan(*df, Context(), {});
    REQUIRE(plan.ok());
    bool saw_readme = false;
    for (const auto& f : plan->files) {
      CHECK(f.expected.mode == 0700);
      saw_readme = saw_readme || f.path == "/app/README.md";
    }
    CHECK_FALSE(saw_readme);
  }

  TEST_CASE("--parents keeps the source's directories, below a /./ pivot if there is one") {
    CHECK(Plan("# syntax=docker/dockerfile:1-labs\nFROM scratch\nCOPY --parents src/pkg/c.py x.txt /dst/\n") ==
          M{{"/dst/src/pkg/c.py", "src/pkg/c.py"}, {"/dst/x.txt", "x.txt"}});
    CHECK(Plan("# syntax=docker/dockerfile:1-labs\nFROM scratch\nCOPY --parents src/**/*.py /dst/\n") ==
          M{{"/dst/src/a.py", "src/a.py"}, {"/dst/src/b.py", "src/b.py"}, {"/dst/src/pkg/c.py", "src/pkg/c.py"}});
    CHECK(Plan("# syntax=docker/dockerfile:1-labs\nFROM scratch\nCOPY --parents ./src/./pkg /dst/\n") ==
          M{{"/dst/pkg", "src/pkg"}, {"/dst/pkg/c.py", "src/pkg/c.py"}});
  }

  TEST_CASE("a symbolic --chmod applies to each entry's own mode, with no umask, as the frontend does") {
    using stalecheck::ModeChange;
    auto m = [](const char* text, uint32_t mode, bool dir = false) {
      auto c = ModeChange::Parse(text);
      REQUIRE(c.ok());
      return c->Apply(mode, dir);
    };
    // Each was built on Docker 28.5 and read from its output.
    CHECK(m("u+x,g+x", 0644) == 0754);
    CHECK(m("go-w,a+X", 0644) == 0644);
    CHECK(m("go-w,a+X", 0755) == 0755);
    CHECK(m("u=rwx,go=r", 0600) == 0744);
    CHECK(m("+x", 0644) == 0755);
    CHECK(m("+w", 0644) == 0666);
    CHECK(m("=rw", 0644) == 0666);
    CHECK(m("o=u", 0644) == 0646);
    CHECK(m("g+s,u-w", 0755) == 02555);
    CHECK(m("a+X,g-rwx", 0700, true) == 0701);
    CHECK(m("a+X,g-rwx", 0600) == 0600);
    CHECK(m("0750", 0644) == 0750);
    for (const char* bad : {"", "u", "u+q", "80", "17777", "u+x,,"}) CHECK_FALSE(ModeChange::Parse(bad).ok());
  }

  TEST_CASE("--parents without the labs syntax is refused, naming the line, as the built-in frontend refuses it") {
    auto df = stalecheck::ParseDockerfile("FROM scratch\nCOPY --parents src/ /dst/\n", "Dockerfile");
    REQUIRE(df.ok());
    auto plan = stalecheck::BuildCopyPlan(*df, {}, {});
    REQUIRE_FALSE(plan.ok());
    CHECK(std::string(plan.status().message()).find("Dockerfile:2: COPY --parents is a labs flag") != std::string::npos);
  }

  TEST_CASE("later copies of a path win") {
    CHECK(Plan("FROM scratch\nCOPY x.txt /f\nCOPY y.txt /f\n") == M{{"/f", "y.txt"}});
  }

  TEST_CASE("bad Dockerfiles are errors naming the line") {
    auto df = stalecheck::ParseDockerfile("COPY x /y\n", "Dockerfile");
    REQUIRE(df.ok());
    auto plan = stalecheck::BuildCopyPlan(*df, Context(), {});
    REQUIRE_FALSE(plan.ok());
    CHECK(std::string(plan.status().message()).find("Dockerfile:1") != std::string::npos);
    stalecheck::PlanOptions opts;
    opts.target = "nope";
    auto df2 = stalecheck::ParseDockerfile("FROM scratch\n", "Dockerfile");
    CHECK_FALSE(stalecheck::BuildCopyPlan(*df2, Context(), opts).ok());
  }

  TEST_CASE("GlobMatch is Go's filepath.Match") {
    CHECK(stalecheck::GlobMatch("*.py", "a.py"));
    CHECK_FALSE(stalecheck::GlobMatch("*.py", "d/a.py"));
    CHECK(stalecheck::GlobMatch("d/?.py", "d/a.py"));
    CHECK(stalecheck::GlobMatch("[a-c].py", "b.py"));
    CHECK_FALSE(stalecheck::GlobMatch("[^a-c].py", "b.py"));
    CHECK(stalecheck::GlobMatch("\\*.py", "*.py"));
    CHECK(stalecheck::DoubleStarMatch("a/**/c", "a/c"));
    CHECK(stalecheck::DoubleStarMatch("a/**/c", "a/x/y/c"));
    CHECK_FALSE(stalecheck::DoubleStarMatch("a/*/c", "a/x/y/c"));
  }
}
