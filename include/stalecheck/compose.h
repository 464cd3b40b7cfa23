#pragma once
// A compose project as `docker compose` (v2) and `docker-compose` (v1) resolve it: files
// merged, `.env` and `${VAR}` interpolation, the project name, each service's `build:`.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace stalecheck {

struct ComposeBuild {
  std::string context;     // absolute directory; for a remote context, the URL as written
  bool remote = false;     // a git or http context: nothing local to compare with
  std::string dockerfile;  // absolute path ("" with dockerfile_inline)
  std::optional<std::string> dockerfile_inline;
  std::map<std::string, std::string> args;  // keys without a value and not in the environment are dropped
  std::string target;                       // stage, "" = the last
};

struct ComposeService {
  std::string name;
  std::optional<std::string> image;  // `image:`
  std::optional<ComposeBuild> build;
  std::vector<std::string> profiles;  // `profiles:`
  bool active = true;                 // false: only in profiles COMPOSE_PROFILES does not enable
  bool extends = false;               // `extends:`, which is not followed: its build is not known
};

struct ComposeProject {
  /// The name `docker compose` (v2) gives the project, and the names docker-compose 1.29
  /// gives it (its own, and the pre-1.21 "legacy" one it still matches); containers carry
  /// one of them in `com.docker.compose.project`.
  std::string name;
  std::vector<std::string> v1_names;
  std::string working_dir;          // absolute
  std::vector<std::string> files;   // absolute, in merge order
  std::vector<ComposeService> services;  // sorted by name
};

struct ComposeOptions {
  std::vector<std::string> files;  // --compose (repeatable); empty: COMPOSE_FILE, else the default names
                                   // searched from the current directory upwards
  std::string project_name;        // -p
  std::string project_directory;   // "" = the first file's directory
  /// The process environment (a seam for tests); null reads the real one.
  std::function<std::optional<std::string>(const std::string&)> getenv;
};

/// Loads and merges the files. Errors (naming the file): unreadable or malformed YAML, a bad
/// `${…}` template, a `${VAR:?msg}` whose variable is unset, an invalid -p or
/// COMPOSE_PROJECT_NAME, `dockerfile` beside `dockerfile_inline`, no compose file found.
absl::StatusOr<ComposeProject> LoadCompose(const ComposeOptions& options);

/// Compose's interpolation of one value: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:?error}`, `${VAR?error}`, `${VAR:+replacement}`, `${VAR+replacement}` (defaults may
/// hold templates), `$$` for `$`. An unset variable is empty. Errors: an unclosed or bad
/// template, a required variable unset (the message names it).
absl::StatusOr<std::string> Interpolate(const std::string& value,
                                        const std::function<std::optional<std::string>(const std::string&)>& lookup);

/// A `.env` file's variables: `KEY=VALUE` lines, `export ` allowed, `#` comments, single
/// quotes literal, double quotes with `\n` `\t` `\"` `\\` escapes; unquoted and double-quoted
/// values are interpolated with the lines before them and `lookup`.
absl::StatusOr<std::map<std::string, std::string>> ParseDotEnv(
    const std::string& text, const std::function<std::optional<std::string>(const std::string&)>& lookup);

/// v2's project-name normalisation: lower case, only [a-z0-9_-], no leading '_' or '-'.
std::string NormalizeProjectName(const std::string& name);

}  // namespace stalecheck
