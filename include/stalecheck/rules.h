#pragma once
// The build-client rule sets. What a build context is depends on the client that sends it,
// not on the daemon (DOCKER-NOTES §0): the legacy builder's CLI tars the context itself, the
// 20.10 CLI has a BuildKit client of its own, and Docker 23+ builds through buildx. Each rule
// set is one value that the ignore matcher, the walks and the context reader take.

#include <functional>
#include <optional>
#include <vector>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stalecheck {

struct BuildRules {
  /// How a pattern matches a path.
  enum class Matcher {
    /// Docker 20.10's fileutils: '.' and '$' escaped, other regular-expression characters keep
    /// their meaning; a path is tested, and its one ancestor with as many components as the
    /// pattern.
    kFileutils,
    /// moby/patternmatcher 0.6: '.+()|{}$' escaped; exact, prefix ("foo**") and suffix
    /// ("**foo") patterns compared as strings; each pattern's result on a directory carried
    /// down to what is below it.
    kPatternMatcher,
  };
  /// When the walk enters an excluded directory.
  enum class Descend {
    /// When an exception, as written, starts with "<dir>/" (20.10's fsutil, every legacy CLI).
    kExceptionPrefix,
    /// fsutil's filter walker: as kExceptionPrefix after dropping a trailing "/**" or "/*",
    /// and always when an exception holds a wildcard.
    kFsutilFilter,
  };
  /// What becomes of an excluded directory the walk entered.
  enum class ExcludedDir {
    kSent,                  // sent with its own metadata (20.10's BuildKit client)
    kSentAboveSentEntries,  // sent with its own metadata when something below it is (buildx)
    kRemadeAboveSentEntries,  // not sent; the daemon makes it 0755 when something below it is sent (legacy)
  };

  std::string name;  // "buildx", "buildx-pre-0.18", "buildkit-20.10", "legacy", "legacy-20.10"
  Matcher matcher = Matcher::kPatternMatcher;
  Descend descend = Descend::kFsutilFilter;
  ExcludedDir excluded_dir = ExcludedDir::kSentAboveSentEntries;
  /// BuildKit reads `<Dockerfile>.dockerignore` in place of the root one; the legacy builder
  /// reads only the root `.dockerignore`.
  bool per_dockerfile_ignore = true;
  bool legacy_builder = false;
  /// buildx sends a device as a character device and a FIFO as a FIFO; 20.10's clients send
  /// a device as an empty file and no FIFO.
  bool sends_special_files = true;
  /// buildx's walk sends a file that its Open, judging the path alone, calls excluded: the
  /// file arrives empty (IgnoreMatcher::Judge says so, and the walks never read it) (`*`, `*/sub`, `!dir1/sub/x`, `dir?` sends dir1/sub/x with no bytes,
  /// on buildx 0.13 and 0.29 alike).
  bool empty_when_open_excludes = true;
  /// buildx refuses a name that is not UTF-8 (the build fails: "grpc: failed to unmarshal the
  /// received message: string field contains invalid UTF-8").
  bool utf8_names_only = true;

  /// buildx 0.18 and later (Docker 23+ `docker build`, and `docker buildx build` against any
  /// daemon).
  static BuildRules Buildx();
  /// buildx before 0.18 (its fsutil still sent a name that is not UTF-8 as its bytes).
  static BuildRules BuildxBefore018();
  /// The BuildKit client built into the Docker 20.10 CLI.
  static BuildRules BuildKit2010();
  /// The legacy builder (DOCKER_BUILDKIT=0) of a Docker 23+ CLI.
  static BuildRules Legacy();
  /// The legacy builder of the Docker 20.10 CLI.
  static BuildRules Legacy2010();

  /// The rule set named `name`. Errors: an unknown name, listing the known ones.
  static absl::StatusOr<BuildRules> Named(absl::string_view name);
  static std::vector<std::string> Names();
};

/// What `docker build` on this machine would use, and why.
struct ClientChoice {
  BuildRules rules;
  std::string reason;  // e.g. "docker 28.5.2 with the buildx plugin"
};

/// The environment the choice is made from; every field has the process's own by default.
struct ClientProbe {
  std::string path;             // PATH
  std::string docker_config;    // DOCKER_CONFIG ("" = $HOME/.docker)
  std::string home;             // HOME
  std::string docker_buildkit;  // DOCKER_BUILDKIT ("" = unset)
  /// The engine's preferred builder from GET /_ping (Builder-Version: "1" legacy, "2"
  /// BuildKit; "" when it says nothing or does not answer). Asked only for a 20.10 CLI, which
  /// is the only one that heeds it.
  std::function<std::string()> builder_version;
  /// Runs a client program (`docker --version`, `docker-buildx version`) and returns what it
  /// printed; RunCapture when unset.
  std::function<std::optional<std::string>(const std::vector<std::string>&)> run;
  static ClientProbe FromEnvironment();
};

/// Which builder the checked image's history shows.
enum class ImageBuilder { kUnknown, kLegacy, kBuildKit };

/// Chooses as the docker CLI first in PATH would choose (docker/cli processBuilder for 23+,
/// BuildKitEnabled and the builder alias for 20.10). With no docker client, buildx's rules.
/// The image's history overrules the builder (not the client's version): an image the legacy
/// builder made gets that client's legacy rules; a BuildKit image, where this client would use
/// the legacy builder, gets the client's BuildKit rules (20.10's own, else buildx's).
ClientChoice ChooseBuildRules(const ClientProbe& probe, ImageBuilder image);

}  // namespace stalecheck
