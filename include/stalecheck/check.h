#pragma once
// One check, start to end: the image is read, the context is read by the rules of whoever
// built it, the Dockerfile becomes a copy plan, and the plan is compared with the image. The
// `check` command, `audit` (per service) and the pre-push hook (per commit) all run this.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "stalecheck/compare.h"
#include "stalecheck/context.h"
#include "stalecheck/dockerfile.h"
#include "stalecheck/image.h"
#include "stalecheck/report.h"
#include "stalecheck/rules.h"
#include "stalecheck/util.h"

namespace stalecheck {

struct CheckRequest {
  TargetName target;
  ContextOptions context;           // dir, dockerfile (as typed), rev, jobs; rules are chosen here
  std::string build_rules = "auto";  // --build-rules
  PlanOptions plan;                 // --target, --build-arg
  std::vector<PathMap> maps;        // --map: no Dockerfile
  /// Dockerfile text given inline (compose's `dockerfile_inline`), used instead of a file.
  std::optional<std::string> dockerfile_inline;
  ReadOptions read;
  PhaseTimer* timer = nullptr;  // --timings: the phases are recorded here
};

struct CheckOutcome {
  Context context;
  CopyPlan plan;
  ImageView image;
  CheckResult result;
  std::string dockerfile_uri;  // the Dockerfile relative to the repository root (RepoRelativePath)
  CheckReport Report() const { return CheckReport{context, plan, image, result, dockerfile_uri}; }
};

/// Runs one check. Errors name the target or the context part that failed: an unreadable
/// image or context, no Dockerfile, a Dockerfile that does not fit the image, nothing compared.
absl::StatusOr<CheckOutcome> RunCheck(const CheckRequest& request);

/// --build-rules: a named rule set, or (auto) the one `docker build` here would use; the
/// legacy builder's when the image's history shows it built the image. The engine at
/// `docker_host` may be asked for its default builder (waiting at most `timeout` seconds).
absl::Status ChooseRules(const std::string& flag, ImageBuilder image, const std::string& docker_host, int timeout,
                         ContextOptions* options);

}  // namespace stalecheck
