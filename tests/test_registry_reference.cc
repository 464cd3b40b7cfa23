#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "stalecheck/registry.h"
#include "test_helpers.h"

using stalecheck::ParseImageReference;
using stalecheck::testing::ScopedEnv;

namespace {

std::string Norm(const std::string& ref) {
  auto r = ParseImageReference(ref);
  REQUIRE_MESSAGE(r.ok(), ref, ": ", r.status().message());
  return r->registry + " " + r->repository + " " + (r->digest.empty() ? r->tag : r->digest);
}

}  // namespace

TEST_SUITE("registry: references") {
  TEST_CASE("references are normalised as docker normalises them") {
    CHECK(Norm("busybox") == "docker.io library/busybox latest");
    CHECK(Norm("docker.io/nginx:1.25") == "docker.io library/nginx 1.25");
    CHECK(Norm("index.docker.io/team/app") == "docker.io team/app latest");
    CHECK(Norm("team/app:v2") == "docker.io team/app v2");
    CHECK(Norm("localhost/app") == "localhost app latest");
    CHECK(Norm("127.0.0.1:5000/e2e/app:1") == "127.0.0.1:5000 e2e/app 1");
    CHECK(Norm("registry-1.docker.io/nginx") == "registry-1.docker.io nginx latest");  // not special-cased
    const std::string d = "sha256:" + std::string(64, 'a');
    CHECK(Norm("ghcr.io/o/r:tag@" + d) == "ghcr.io o/r " + d);  // the digest wins
    CHECK(Norm("Registry/app") == "Registry app latest");          // upper case: a registry
  }

  TEST_CASE("where docker.io is contacted and which credentials key it uses") {
    auto hub = ParseImageReference("busybox");
    REQUIRE(hub.ok());
    CHECK(hub->Host() == "registry-1.docker.io");
    CHECK(hub->CredentialKey() == "https://index.docker.io/v1/");
    auto local = ParseImageReference("127.0.0.1:5000/app");
    REQUIRE(local.ok());
    CHECK(local->Host() == "127.0.0.1:5000");
    CHECK(local->CredentialKey() == "127.0.0.1:5000");
  }

  TEST_CASE("malformed references are errors naming them") {
    for (const char* bad : {"UPPER/Repo", "app:bad tag", "app@sha256:123", "app:", "a//b", "-app"}) {
      CAPTURE(bad);
      auto r = ParseImageReference(bad);
      CHECK_FALSE(r.ok());
      if (!r.ok()) CHECK(std::string(r.status().message()).find(bad) != std::string::npos);
    }
  }
}

TEST_SUITE("registry: credentials") {
  TEST_CASE("auths are read as docker reads them: exact key, then by hostname; auth split at the first colon") {
    stalecheck::testing::TempDir d;
    ScopedEnv cfg("DOCKER_CONFIG", d.path());
    d.Write("config.json", R"({"auths": {"https://reg.example:5000/v1/": {"auth": "YWxpY2U6cGE6c3M="},
                                         "other.example": {"username": "bob", "password": "pw"},
                                         "id.example": {"identitytoken": "tok"}}})");
    auto a = stalecheck::FindCredentials("reg.example:5000");
    REQUIRE(a.ok());
    CHECK(a->username == "alice");
    CHECK(a->password == "pa:ss");
    auto b = stalecheck::FindCredentials("other.example");
    REQUIRE(b.ok());
    CHECK(b->username == "bob");
    auto i = stalecheck::FindCredentials("id.example");
    REQUIRE(i.ok());
    CHECK(i->identity_token == "tok");
    auto none = stalecheck::FindCredentials("nobody.example");
    REQUIRE(none.ok());
    CHECK(none->empty());
  }

  TEST_CASE("a helper for the registry wins over credsStore, which wins over auths") {
    stalecheck::testing::TempDir d;
    ScopedEnv cfg("DOCKER_CONFIG", d.path());
    d.Write("bin/docker-credential-one", "#!/bin/sh\nread k\necho '{\"Username\":\"one\",\"Secret\":\"s1\"}'\n");
    d.Write("bin/docker-credential-two", "#!/bin/sh\nread k\necho '{\"Username\":\"<token>\",\"Secret\":\"idtok\"}'\n");
    d.Write("bin/docker-credential-none", "#!/bin/sh\necho 'credentials not found in native keychain'\nexit 1\n");
    for (const char* h : {"one", "two", "none"}) {
      std::filesystem::permissions(d / (std::string("bin/docker-credential-") + h), std::filesystem::perms::owner_all);
    }
    ScopedEnv path("PATH", d / "bin" + ":" + std::getenv("PATH"));
    d.Write("config.json", R"({"credHelpers": {"a.example": "one", "n.example": "none"}, "credsStore": "two",
                               "auths": {"a.example": {"auth": "eDp5"}, "n.example": {"auth": "eDp5"}}})");
    auto a = stalecheck::FindCredentials("a.example");
    REQUIRE(a.ok());
    CHECK(a->username == "one");
    CHECK(a->password == "s1");
    auto b = stalecheck::FindCredentials("b.example");
    REQUIRE(b.ok());
    CHECK(b->identity_token == "idtok");
    CHECK(b->username.empty());
    auto n = stalecheck::FindCredentials("n.example");  // the helper has none: not the plaintext auth
    REQUIRE(n.ok());
    CHECK(n->empty());
  }

  TEST_CASE("a missing config is anonymous; a malformed one is an error naming it") {
    stalecheck::testing::TempDir d;
    ScopedEnv cfg("DOCKER_CONFIG", d.path());
    auto none = stalecheck::FindCredentials("x.example");
    REQUIRE(none.ok());
    CHECK(none->empty());
    d.Write("config.json", "{not json");
    auto bad = stalecheck::FindCredentials("x.example");
    REQUIRE_FALSE(bad.ok());
    CHECK(std::string(bad.status().message()).find("config.json") != std::string::npos);
  }
}
