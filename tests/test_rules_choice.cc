// `--build-rules auto` chooses as docker build would: fake clients (scripts that answer
// `--version` and `version` as the real docker and docker-buildx do) in a PATH of their own.

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <string>

#include "stalecheck/rules.h"
#include "tests/test_helpers.h"

using stalecheck::BuildRules;
using stalecheck::ChooseBuildRules;
using stalecheck::ClientProbe;
using stalecheck::ImageBuilder;
using stalecheck::testing::TempDir;

namespace {

void Script(const TempDir& d, const std::string& rel, const std::string& output) {
  d.Write(rel, "#!/bin/sh\necho '" + output + "'\n");
  REQUIRE(::chmod((d / rel).c_str(), 0755) == 0);
}

// A docker CLI of `version` in d/bin, and a config directory d/config.
ClientProbe Probe(const TempDir& d, const std::string& version) {
  Script(d, "bin/docker", "Docker version " + version + ", build 0000000");
  ClientProbe p;
  p.path = d / "bin";
  p.docker_config = d / "config";
  p.home = d / "home";
  return p;
}

std::string Rules(const ClientProbe& p, ImageBuilder image = ImageBuilder::kUnknown) {
  return ChooseBuildRules(p, image).rules.name;
}

}  // namespace

TEST_SUITE("rules") {
  TEST_CASE("with no docker client, buildx's rules") {
    TempDir d;
    ClientProbe p;
    p.path = d / "nothing";
    CHECK(Rules(p) == "buildx");
    CHECK(Rules(p, ImageBuilder::kLegacy) == "legacy");
  }

  TEST_CASE("docker 23+ builds with its buildx plugin, and buildx's version picks the rules") {
    TempDir d;
    ClientProbe p = Probe(d, "28.5.2+dfsg4");
    Script(d, "config/cli-plugins/docker-buildx", "github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4");
    CHECK(Rules(p) == "buildx");
    Script(d, "config/cli-plugins/docker-buildx", "github.com/docker/buildx v0.13.1 788433953af10f2a698f5c07611dddce2e08c7a0");
    CHECK(Rules(p) == "buildx-pre-0.18");
    p.docker_buildkit = "0";
    CHECK(Rules(p) == "legacy");
    p.docker_buildkit = "maybe";
    CHECK(Rules(p) == "buildx");  // docker build refuses; nothing is sent
  }

  TEST_CASE("docker 23+ without the plugin falls back to the legacy builder, unless the image says BuildKit") {
    TempDir d;
    ClientProbe p = Probe(d, "28.2.2");
    CHECK(Rules(p) == "legacy");
    CHECK(Rules(p, ImageBuilder::kBuildKit) == "buildx");
    CHECK(ChooseBuildRules(p, ImageBuilder::kBuildKit).reason.find("history shows BuildKit") != std::string::npos);
  }

  TEST_CASE("docker 20.10 heeds DOCKER_BUILDKIT, then the engine's preferred builder, then a builder alias") {
    TempDir d;
    ClientProbe p = Probe(d, "20.10.24+dfsg1");
    p.builder_version = [] { return std::string("1"); };
    CHECK(Rules(p) == "legacy-20.10");
    CHECK(Rules(p, ImageBuilder::kBuildKit) == "buildkit-20.10");
    p.builder_version = [] { return std::string("2"); };
    CHECK(Rules(p) == "buildkit-20.10");
    p.docker_buildkit = "false";
    CHECK(Rules(p) == "legacy-20.10");
    p.docker_buildkit = "1";
    CHECK(Rules(p) == "buildkit-20.10");
    CHECK(Rules(p, ImageBuilder::kLegacy) == "legacy-20.10");
    d.Write("config/config.json", R"({"aliases": {"builder": "buildx"}})");
    Script(d, "config/cli-plugins/docker-buildx", "github.com/docker/buildx v0.29.1 abc");
    CHECK(Rules(p) == "buildx");
  }
}
