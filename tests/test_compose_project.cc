#include <doctest/doctest.h>

#include "stalecheck/compose.h"
#include "tests/test_helpers.h"

namespace stalecheck {
namespace {

using testing::TempDir;

std::function<std::optional<std::string>(const std::string&)> EnvOf(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

std::string I(const std::string& s, std::map<std::string, std::string> vars = {}) {
  absl::StatusOr<std::string> out = Interpolate(s, EnvOf(std::move(vars)));
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  return *out;
}

const ComposeService* Find(const ComposeProject& p, const std::string& name) {
  for (const ComposeService& s : p.services) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

TEST_SUITE("compose") {
  TEST_CASE("interpolation follows compose's template rules") {
    SUBCASE("plain and braced variables, unset ones empty") {
      CHECK(I("$A-${B}/$C", {{"A", "1"}, {"B", "2"}}) == "1-2/");
    }
    SUBCASE("defaults with and without the colon tell empty from unset") {
      CHECK(I("${A:-x}", {{"A", ""}}) == "x");
      CHECK(I("${A-x}", {{"A", ""}}) == "");
      CHECK(I("${A-x}") == "x");
    }
    SUBCASE("a default may hold a template of its own") {
      CHECK(I("${A:-${B:-deep}}") == "deep");
      CHECK(I("${A:-pre-$B-post}", {{"B", "b"}}) == "pre-b-post");
    }
    SUBCASE("replacement applies only when the variable is set") {
      CHECK(I("${A:+yes}", {{"A", "1"}}) == "yes");
      CHECK(I("${A:+yes}") == "");
    }
    SUBCASE("two dollars are one") { CHECK(I("$$HOME $${X}") == "$HOME ${X}"); }
    SUBCASE("a required variable that is unset is an error naming it") {
      absl::StatusOr<std::string> out = Interpolate("${TAG:?set TAG}", EnvOf({}));
      REQUIRE_FALSE(out.ok());
      CHECK(out.status().message() == "required variable TAG is missing a value: set TAG");
    }
    SUBCASE("an unclosed template is an error") { CHECK_FALSE(Interpolate("${A", EnvOf({})).ok()); }
  }

  TEST_CASE(".env lines: export, quotes, comments and earlier variables") {
    absl::StatusOr<std::map<std::string, std::string>> vars = ParseDotEnv(
        "# comment\nexport A=1\nB='lit $A'\nC=\"x\\ny $A\"\nD=plain # trailing\nE=${A}2\n", EnvOf({}));
    REQUIRE(vars.ok());
    CHECK(vars->at("A") == "1");
    CHECK(vars->at("B") == "lit $A");
    CHECK(vars->at("C") == "x\ny 1");
    CHECK(vars->at("D") == "plain");
    CHECK(vars->at("E") == "12");
  }

  TEST_CASE("project names are normalised as compose v2 does") {
    CHECK(NormalizeProjectName("My_App.v2") == "my_appv2");
    CHECK(NormalizeProjectName("--x") == "x");
  }

  TEST_CASE("several files merge, and build paths resolve against the project directory and the context") {
    TempDir d;
    d.Write("proj/compose.yaml",
            "services:\n"
            "  web:\n"
            "    build: ./web\n"
            "  api:\n"
            "    build:\n"
            "      context: ${API_DIR:-api}\n"
            "      dockerfile: docker/Dockerfile.prod\n"
            "      args: [GIT_COMMIT, MODE=prod]\n"
            "      target: runtime\n"
            "  db:\n"
            "    image: postgres:16\n");
    d.Write("proj/compose.override.yaml",
            "services:\n"
            "  api:\n"
            "    build:\n"
            "      args:\n"
            "        MODE: dev\n"
            "  inline:\n"
            "    build:\n"
            "      dockerfile_inline: |\n"
            "        FROM scratch\n"
            "        COPY . /\n");
    d.Write("proj/.env", "API_DIR=backend\nGIT_COMMIT=abc123\n");
    ComposeOptions o;
    o.files = {d / "proj/compose.yaml", d / "proj/compose.override.yaml"};
    o.getenv = EnvOf({});
    absl::StatusOr<ComposeProject> p = LoadCompose(o);
    REQUIRE_MESSAGE(p.ok(), p.status().ToString());
    CHECK(p->name == "proj");
    CHECK(p->working_dir == d / "proj");
    REQUIRE(p->services.size() == 4);
    CHECK(p->services[0].name == "api");  // sorted
    const ComposeService* api = Find(*p, "api");
    REQUIRE(api->build);
    CHECK(api->build->context == d / "proj/backend");
    CHECK(api->build->dockerfile == d / "proj/backend/docker/Dockerfile.prod");
    CHECK(api->build->target == "runtime");
    CHECK(api->build->args == std::map<std::string, std::string>{{"GIT_COMMIT", "abc123"}, {"MODE", "dev"}});
    const ComposeService* web = Find(*p, "web");
    CHECK(web->build->context == d / "proj/web");
    CHECK(web->build->dockerfile == d / "proj/web/Dockerfile");
    CHECK_FALSE(Find(*p, "db")->build);
    CHECK(*Find(*p, "db")->image == "postgres:16");
    const ComposeService* inl = Find(*p, "inline");
    CHECK(*inl->build->dockerfile_inline == "FROM scratch\nCOPY . /\n");
    CHECK(inl->build->dockerfile.empty());
  }

  TEST_CASE("the project name: -p, then COMPOSE_PROJECT_NAME (process, then .env), then name:, then the directory") {
    TempDir d;
    d.Write("My.Proj/compose.yaml", "name: Top_Name\nservices: {a: {build: .}}\n");
    ComposeOptions o;
    o.files = {d / "My.Proj/compose.yaml"};
    o.getenv = EnvOf({});
    CHECK(LoadCompose(o)->name == "top_name");
    CHECK(LoadCompose(o)->v1_names == std::vector<std::string>{"myproj"});
    d.Write("My.Proj/.env", "COMPOSE_PROJECT_NAME=fromdotenv\n");
    CHECK(LoadCompose(o)->name == "fromdotenv");
    o.getenv = EnvOf({{"COMPOSE_PROJECT_NAME", "fromenv"}});
    CHECK(LoadCompose(o)->name == "fromenv");
    o.project_name = "flag";
    CHECK(LoadCompose(o)->name == "flag");
    SUBCASE("a -p that is not already normal is refused, as v2 refuses it") {
      o.project_name = "Flag";
      absl::StatusOr<ComposeProject> p = LoadCompose(o);
      REQUIRE_FALSE(p.ok());
      CHECK(p.status().message().find("invalid project name") != std::string::npos);
    }
    SUBCASE("without name:, v2 normalises the directory and v1 keeps its own names") {
      d.Write("x/a_b-C/compose.yaml", "services: {a: {build: .}}\n");
      ComposeOptions o2;
      o2.files = {d / "x/a_b-C/compose.yaml"};
      o2.getenv = EnvOf({});
      absl::StatusOr<ComposeProject> p = LoadCompose(o2);
      REQUIRE(p.ok());
      CHECK(p->name == "a_b-c");
      CHECK(p->v1_names == std::vector<std::string>{"abc"});
    }
  }

  TEST_CASE("merge keys, profiles and remote contexts") {
    TempDir d;
    d.Write("p/compose.yml",
            "x-base: &base\n  build: {context: ./svc, args: {A: '1'}}\n"
            "services:\n"
            "  one:\n    <<: *base\n"
            "  two:\n    build: https://github.com/x/y.git#main\n"
            "  three:\n    build: .\n    profiles: [debug]\n");
    ComposeOptions o;
    o.files = {d / "p/compose.yml"};
    o.getenv = EnvOf({});
    absl::StatusOr<ComposeProject> p = LoadCompose(o);
    REQUIRE_MESSAGE(p.ok(), p.status().ToString());
    CHECK(Find(*p, "one")->build->context == d / "p/svc");
    CHECK(Find(*p, "one")->build->args.at("A") == "1");
    CHECK(Find(*p, "two")->build->remote);
    CHECK_FALSE(Find(*p, "three")->active);
    o.getenv = EnvOf({{"COMPOSE_PROFILES", "debug"}});
    CHECK(LoadCompose(o)->services[2].active);
  }

  TEST_CASE("bad compose input is an error naming the file") {
    TempDir d;
    d.Write("c.yaml", "services: [\n");
    ComposeOptions o;
    o.files = {d / "c.yaml"};
    o.getenv = EnvOf({});
    absl::StatusOr<ComposeProject> p = LoadCompose(o);
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().message().find(d / "c.yaml") == 0);
    d.Write("c.yaml", "services: {a: {build: {dockerfile: D, dockerfile_inline: 'FROM x'}}}\n");
    CHECK_FALSE(LoadCompose(o).ok());
    d.Write("c.yaml", "services: {a: {image: '${TAG:?TAG must be set}'}}\n");
    p = LoadCompose(o);
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().message().find("TAG must be set") != std::string::npos);
  }
}

}  // namespace
}  // namespace stalecheck

namespace stalecheck {
namespace {

TEST_SUITE("compose: hostile YAML") {
  // Found by fuzz_compose: an alias inside its own anchor made an endless tree.
  TEST_CASE("an alias inside its own anchor, deep nesting and alias bombs are errors, not a crash") {
    testing::TempDir d;
    ComposeOptions o;
    o.files = {d / "c.yaml"};
    o.getenv = [](const std::string&) { return std::nullopt; };
    for (const std::string& text :
         {std::string("x: &a\n  web:\n    <<: *a\n"), std::string(5000, '[') + std::string(5000, ']') + "\n",
          std::string("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                      "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                      "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nservices: {}\n")}) {
      d.Write("c.yaml", text);
      absl::StatusOr<ComposeProject> p = LoadCompose(o);
      REQUIRE_FALSE(p.ok());
      CHECK(std::string(p.status().message()).find(d / "c.yaml") == 0);
    }
  }
}

}  // namespace
}  // namespace stalecheck
