#include "stalecheck/check.h"

#include "stalecheck/cache.h"

#include <future>

#include "absl/strings/str_cat.h"
#include "stalecheck/engine.h"
#include "stalecheck/util.h"

namespace stalecheck {

absl::Status ChooseRules(const std::string& flag, ImageBuilder image, const std::string& docker_host, int timeout,
                         ContextOptions* options) {
  if (flag != "auto") {
    absl::StatusOr<BuildRules> named = BuildRules::Named(flag);
    if (!named.ok()) return named.status();
    options->rules = std::move(*named);
    options->rules_chosen_by.clear();
    return absl::OkStatus();
  }
  ClientProbe probe = ClientProbe::FromEnvironment();
  const bool use_cache = options->use_cache;
  probe.run = [use_cache](const std::vector<std::string>& argv) { return ProgramOutput(argv, use_cache); };
  probe.builder_version = [&docker_host, timeout]() -> std::string {
    absl::StatusOr<EngineClient> engine = EngineClient::Connect(docker_host, timeout);
    return engine.ok() ? engine->builder_version() : std::string();
  };
  ClientChoice choice = ChooseBuildRules(probe, image);
  options->rules = std::move(choice.rules);
  options->rules_chosen_by = std::move(choice.reason);
  return absl::OkStatus();
}

namespace {

// The plan: from --map pairs, or from the Dockerfile read from the context's own source.
absl::StatusOr<CopyPlan> Plan(const CheckRequest& req, const Context& ctx) {
  if (!req.maps.empty()) return PlanFromMaps(req.maps, ctx.entries);
  if (!ctx.dockerfile_text) {
    return absl::NotFoundError(absl::StrCat(
        "no Dockerfile at ", ctx.dockerfile, req.context.rev.empty() ? "" : absl::StrCat(" in ", req.context.rev),
        req.context.dockerfile.empty() ? " (without -f it is DIR/Dockerfile of -C DIR"
                                       : " (-f is relative to the current directory, as with docker build",
        "; name one with -f, or compare with --map SRC:DEST)"));
  }
  absl::StatusOr<Dockerfile> df = ParseDockerfile(*ctx.dockerfile_text, ctx.dockerfile);
  if (!df.ok()) return df.status();
  PlanOptions plan_opts = req.plan;
  plan_opts.read_context_file = ctx.read_file;
  return BuildCopyPlan(*df, ctx.entries, plan_opts);
}

}  // namespace

absl::StatusOr<CheckOutcome> RunCheck(const CheckRequest& req) {
  // The image is read first: its history says which builder sent the context, and so which
  // rules the context is read with. While the image is read, the context is read as the rules
  // of a BuildKit image (most images) would have it; it is used only when the image's history
  // asks for the same rules.
  const ImageBuilder guess = !req.maps.empty() ? ImageBuilder::kUnknown : ImageBuilder::kBuildKit;
  const std::string& docker_host = req.read.docker_host;
  struct Early {
    ContextOptions options;
    absl::Status rules;
    std::optional<absl::StatusOr<Context>> context;
  };
  PhaseTimer scratch_timer;
  PhaseTimer& timer = req.timer != nullptr ? *req.timer : scratch_timer;
  timer.Start("read image");
  double context_wall = 0;
  std::future<Early> early = std::async(std::launch::async, [&] {
    const double t0 = WallSeconds();
    Early e{req.context, absl::OkStatus(), std::nullopt};
    e.rules = ChooseRules(req.build_rules, guess, docker_host, req.read.timeout, &e.options);
    if (e.rules.ok()) e.context = LoadContext(e.options);
    context_wall = WallSeconds() - t0;
    return e;
  });
  absl::StatusOr<ImageView> view = ReadImage(req.target, req.read);
  Early spec = early.get();
  timer.Stop();
  timer.Add("read context (beside the image)", context_wall);
  if (!view.ok()) return view.status();

  const ImageBuilder builder = !req.maps.empty() || view->history.empty() ? ImageBuilder::kUnknown
                               : BuiltByLegacyBuilder(*view)               ? ImageBuilder::kLegacy
                                                                           : ImageBuilder::kBuildKit;
  ContextOptions copts = req.context;
  if (builder == guess) {
    if (!spec.rules.ok()) return spec.rules;
    copts = spec.options;
  } else if (absl::Status s = ChooseRules(req.build_rules, builder, docker_host, req.read.timeout, &copts); !s.ok()) {
    return s;
  }
  const bool again = !(spec.context && copts.rules.name == spec.options.rules.name);
  if (again) timer.Start(absl::StrCat("read context again (", copts.rules.name, " rules)"));
  absl::StatusOr<Context> ctx = again ? LoadContext(copts) : std::move(*spec.context);
  if (!ctx.ok()) return ctx.status();
  ctx->build_rules_chosen_by = copts.rules_chosen_by;
  if (req.dockerfile_inline) {
    ctx->dockerfile_text = *req.dockerfile_inline;
    ctx->dockerfile = "dockerfile_inline";
  }

  timer.Start("plan");
  absl::StatusOr<CopyPlan> plan = Plan(req, *ctx);
  if (!plan.ok()) return plan.status();

  // A container shows its mounts, and perhaps changes its engine did not list, where the plan
  // copies: those directories are read now.
  std::vector<std::string> roots = plan->dest_roots;
  for (const BuildStep& s : plan->steps) {
    if (s.FromContext()) roots.push_back(s.dest);
  }
  if (view->container) timer.Start("read container paths");
  if (absl::Status s = ReadContainerPaths(*view, roots, req.read); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(req.target.ToString(), ": ", s.message()));
  }

  timer.Start("compare");
  CompareOptions cmp;
  cmp.claims_whole_dest = !req.maps.empty();
  cmp.read_context_file = ctx->read_file;
  std::unique_ptr<BytecodeCompiler> compiler = LocalPythonCompiler();
  cmp.compiler = compiler.get();
  absl::StatusOr<CheckResult> compared = Compare(*plan, *view, cmp);
  if (!compared.ok()) {
    return absl::Status(compared.status().code(), absl::StrCat(req.target.ToString(), ": ", compared.status().message()));
  }
  timer.Stop();
  std::string uri = req.dockerfile_inline ? std::string() : RepoRelativePath(ctx->dockerfile);
  return CheckOutcome{std::move(*ctx), std::move(*plan), std::move(*view), std::move(*compared), std::move(uri)};
}

}  // namespace stalecheck
