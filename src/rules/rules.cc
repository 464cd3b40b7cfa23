// The build-client rule sets, and the choice `docker build` on this machine would make.
//
// Read from the clients' sources (docker/cli v20.10.24, v26.1.5, v28.5.2: cmd/docker/builder.go,
// cli/command/cli.go BuildKitEnabled, cli/command/image/build.go; moby/patternmatcher v0.6.0;
// tonistiigi/fsutil filter.go; the archive package the CLIs vendor) and proven by building
// on each engine (tests/e2e/test_ignore_differential.py).

#include "stalecheck/rules.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <future>
#include <utility>
#include <optional>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "stalecheck/util.h"

namespace stalecheck {

BuildRules BuildRules::Buildx() {
  BuildRules r;
  r.name = "buildx";
  r.matcher = Matcher::kPatternMatcher;
  r.descend = Descend::kFsutilFilter;
  r.excluded_dir = ExcludedDir::kSentAboveSentEntries;
  r.per_dockerfile_ignore = true;
  return r;
}

BuildRules BuildRules::BuildxBefore018() {
  BuildRules r = Buildx();
  r.name = "buildx-pre-0.18";
  r.utf8_names_only = false;
  return r;
}

BuildRules BuildRules::BuildKit2010() {
  BuildRules r;
  r.name = "buildkit-20.10";
  r.matcher = Matcher::kFileutils;
  r.descend = Descend::kExceptionPrefix;
  r.excluded_dir = ExcludedDir::kSent;
  r.per_dockerfile_ignore = true;
  r.sends_special_files = false;
  r.utf8_names_only = false;
  r.empty_when_open_excludes = false;
  return r;
}

BuildRules BuildRules::Legacy() {
  BuildRules r;
  r.name = "legacy";
  r.matcher = Matcher::kPatternMatcher;
  r.descend = Descend::kExceptionPrefix;
  r.excluded_dir = ExcludedDir::kRemadeAboveSentEntries;
  r.per_dockerfile_ignore = false;
  r.legacy_builder = true;
  r.sends_special_files = false;
  r.utf8_names_only = false;
  r.empty_when_open_excludes = false;
  return r;
}

BuildRules BuildRules::Legacy2010() {
  BuildRules r = Legacy();
  r.name = "legacy-20.10";
  r.matcher = Matcher::kFileutils;
  return r;
}

std::vector<std::string> BuildRules::Names() {
  return {"buildx", "buildx-pre-0.18", "buildkit-20.10", "legacy", "legacy-20.10"};
}

absl::StatusOr<BuildRules> BuildRules::Named(absl::string_view name) {
  if (name == "buildx") return Buildx();
  if (name == "buildx-pre-0.18") return BuildxBefore018();
  if (name == "buildkit-20.10") return BuildKit2010();
  if (name == "legacy") return Legacy();
  if (name == "legacy-20.10") return Legacy2010();
  return absl::InvalidArgumentError(absl::StrCat("--build-rules: unknown rules \"", name, "\" (auto, ",
                                                 absl::StrJoin(Names(), ", "), ")"));
}

ClientProbe ClientProbe::FromEnvironment() {
  ClientProbe p;
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v == nullptr ? "" : v);
  };
  p.path = env("PATH");
  p.docker_config = env("DOCKER_CONFIG");
  p.home = env("HOME");
  p.docker_buildkit = env("DOCKER_BUILDKIT");
  return p;
}

namespace {

bool IsExecutableFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string FindInPath(const std::string& path, const std::string& name) {
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string full = JoinPath(dir, name);
    if (IsExecutableFile(full)) return full;
  }
  return "";
}

// Go's strconv.ParseBool.
std::optional<bool> ParseGoBool(absl::string_view v) {
  for (absl::string_view t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (v == t) return true;
  }
  for (absl::string_view f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (v == f) return false;
  }
  return std::nullopt;
}

struct CliConfig {
  std::string builder_alias;           // aliases.builder
  std::vector<std::string> extra_dirs;  // cliPluginsExtraDirs
};

CliConfig ReadCliConfig(const std::string& dir) {
  CliConfig c;
  std::string text;
  if (!ReadSmallFile(JoinPath(dir, "config.json"), &text, 1 << 20).ok()) return c;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return c;
  if (auto a = j.find("aliases"); a != j.end() && a->is_object()) {
    if (auto b = a->find("builder"); b != a->end() && b->is_string()) c.builder_alias = b->get<std::string>();
  }
  if (auto e = j.find("cliPluginsExtraDirs"); e != j.end() && e->is_array()) {
    for (const auto& d : *e) {
      if (d.is_string()) c.extra_dirs.push_back(d.get<std::string>());
    }
  }
  return c;
}

// Where a Docker 23+ CLI looks for `docker-NAME` (cli-plugins/manager: the config directory,
// cliPluginsExtraDirs, then the system directories).
std::string FindPlugin(const std::string& config_dir, const CliConfig& config, const std::string& name) {
  std::vector<std::string> dirs = {JoinPath(config_dir, "cli-plugins")};
  dirs.insert(dirs.end(), config.extra_dirs.begin(), config.extra_dirs.end());
  for (const char* d : {"/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
                        "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins"}) {
    dirs.emplace_back(d);
  }
  for (const std::string& d : dirs) {
    std::string full = JoinPath(d, absl::StrCat("docker-", name));
    if (IsExecutableFile(full)) return full;
  }
  return "";
}

// "Docker version 20.10.24+dfsg1, build 297e128" -> 20.10.24+dfsg1, major 20.
bool ClientVersion(const ClientProbe& probe, const std::string& docker, std::string* version, int* major) {
  std::optional<std::string> out = probe.run ? probe.run({docker, "--version"}) : RunCapture({docker, "--version"});
  if (!out) return false;
  absl::string_view s = *out;
  if (!absl::ConsumePrefix(&s, "Docker version ")) return false;
  s = s.substr(0, s.find_first_of(", \n"));
  *version = std::string(s);
  return absl::SimpleAtoi(s.substr(0, s.find('.')), major);
}

// buildx's own version ("github.com/docker/buildx 0.29.1+ds1 <commit>", or "v0.13.1"): its rules
// when it answers, and a note of the version for the reason.
BuildRules BuildxRules(const ClientProbe& probe, const std::string& plugin, std::string* version) {
  std::optional<std::string> out = probe.run ? probe.run({plugin, "version"}) : RunCapture({plugin, "version"});
  if (!out) return BuildRules::Buildx();
  std::vector<absl::string_view> words = absl::StrSplit(*out, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  if (words.size() < 2) return BuildRules::Buildx();
  absl::string_view v = words[1];
  absl::ConsumePrefix(&v, "v");
  *version = std::string(v);
  std::vector<absl::string_view> parts = absl::StrSplit(v, absl::ByAnyChar(".+-"));
  int major = 0, minor = 0;
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &major) || !absl::SimpleAtoi(parts[1], &minor)) {
    return BuildRules::Buildx();
  }
  return major == 0 && minor < 18 ? BuildRules::BuildxBefore018() : BuildRules::Buildx();
}

// buildx's answer to `version`, asked while the docker CLI answers `--version` (each is a Go
// program's start-up, tens of milliseconds).
struct PluginAnswer {
  std::string path;
  std::shared_future<std::pair<BuildRules, std::string>> rules_and_version;
};

PluginAnswer AskPlugin(const ClientProbe& probe, const std::string& path) {
  PluginAnswer a;
  a.path = path;
  if (!path.empty()) {
    a.rules_and_version = std::async(std::launch::async, [&probe, path] {
                            std::string version;
                            BuildRules rules = BuildxRules(probe, path, &version);
                            return std::make_pair(std::move(rules), std::move(version));
                          }).share();
  }
  return a;
}

ClientChoice WithPlugin(const std::string& client, const PluginAnswer& plugin, const std::string& how) {
  const auto& [rules, version] = plugin.rules_and_version.get();
  return {rules, absl::StrCat(client, how, " buildx ", version.empty() ? "" : absl::StrCat(version, " "), "(",
                              plugin.path, ")")};
}

}  // namespace

namespace {

ClientChoice ChooseForClient(const ClientProbe& probe, bool legacy_image);

}  // namespace

ClientChoice ChooseBuildRules(const ClientProbe& probe, ImageBuilder image) {
  ClientChoice c = ChooseForClient(probe, image == ImageBuilder::kLegacy);
  if (image == ImageBuilder::kBuildKit && c.rules.legacy_builder) {
    const bool old = c.rules.matcher == BuildRules::Matcher::kFileutils;
    c.rules = old ? BuildRules::BuildKit2010() : BuildRules::Buildx();
    c.reason = absl::StrCat("the image's history shows BuildKit, where ", c.reason, "; so ",
                            old ? "20.10's BuildKit client" : "buildx");
  }
  return c;
}

namespace {

ClientChoice ChooseForClient(const ClientProbe& probe, bool legacy_image) {
  const std::string docker = FindInPath(probe.path, "docker");
  if (docker.empty()) {
    if (legacy_image) return {BuildRules::Legacy(), "the image's history shows the legacy builder; no docker client in PATH"};
    return {BuildRules::Buildx(), "no docker client in PATH: buildx, as current Docker builds"};
  }
  const std::string config_dir = !probe.docker_config.empty() ? probe.docker_config : JoinPath(probe.home, ".docker");
  const CliConfig config = ReadCliConfig(config_dir);
  const std::string plugin_name = config.builder_alias.empty() ? "buildx" : config.builder_alias;
  const PluginAnswer plugin = AskPlugin(probe, legacy_image ? "" : FindPlugin(config_dir, config, plugin_name));
  std::string version;
  int major = 0;
  if (!ClientVersion(probe, docker, &version, &major)) {
    if (legacy_image) return {BuildRules::Legacy(), absl::StrCat("the image's history shows the legacy builder; ", docker, " did not say its version")};
    return {BuildRules::Buildx(), absl::StrCat(docker, " did not say its version: buildx, as current Docker builds")};
  }
  const std::string client = absl::StrCat("docker ", version, " (", docker, ")");
  const bool old_cli = major < 23;
  if (legacy_image) {
    return {old_cli ? BuildRules::Legacy2010() : BuildRules::Legacy(),
            absl::StrCat("the image's history shows the legacy builder; ", client, "'s")};
  }
  std::optional<bool> buildkit;
  if (!probe.docker_buildkit.empty()) {
    buildkit = ParseGoBool(probe.docker_buildkit);
    if (!buildkit) {
      return {BuildRules::Buildx(),
              absl::StrCat("DOCKER_BUILDKIT=", probe.docker_buildkit, " is not a boolean (", client,
                           " would refuse to build): buildx")};
    }
  }
  if (old_cli) {
    // The 20.10 CLI: a builder alias replaces `build` by `<alias> build`; else DOCKER_BUILDKIT;
    // else the engine's preferred builder from /_ping.
    if (!config.builder_alias.empty()) {
      if (!plugin.path.empty()) return WithPlugin(client, plugin, " with the builder alias to");
      return {BuildRules::Buildx(), absl::StrCat(client, " with the builder alias ", config.builder_alias)};
    }
    if (buildkit) {
      return {*buildkit ? BuildRules::BuildKit2010() : BuildRules::Legacy2010(),
              absl::StrCat(client, " with DOCKER_BUILDKIT=", probe.docker_buildkit)};
    }
    const std::string preferred = probe.builder_version ? probe.builder_version() : "";
    if (preferred == "2") {
      return {BuildRules::BuildKit2010(), absl::StrCat(client, "; the engine prefers BuildKit")};
    }
    return {BuildRules::Legacy2010(), absl::StrCat(client, " without DOCKER_BUILDKIT: the legacy builder")};
  }
  // Docker 23+: DOCKER_BUILDKIT=0 is the legacy builder; otherwise the builder plugin (buildx,
  // or the alias) when it is there; without it, the legacy builder (or an error when BuildKit
  // was asked for).
  if (buildkit && !*buildkit) {
    return {BuildRules::Legacy(), absl::StrCat(client, " with DOCKER_BUILDKIT=", probe.docker_buildkit)};
  }
  if (!plugin.path.empty()) return WithPlugin(client, plugin, " with");
  if (buildkit || !config.builder_alias.empty()) {
    return {BuildRules::Buildx(),
            absl::StrCat(client, " has no ", plugin_name, " plugin and would refuse to build: buildx")};
  }
  return {BuildRules::Legacy(), absl::StrCat(client, " has no buildx plugin: the legacy builder")};
}

}  // namespace

}  // namespace stalecheck
