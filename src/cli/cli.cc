#include "stalecheck/cli.h"

#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <cstdlib>
#include <cxxopts.hpp>
#include <functional>
#include <future>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "stalecheck/audit.h"
#include "stalecheck/check.h"
#include "stalecheck/compare.h"
#include "stalecheck/context.h"
#include "stalecheck/dockerfile.h"
#include "stalecheck/engine.h"
#include "stalecheck/hook.h"
#include "stalecheck/image.h"
#include "stalecheck/report.h"
#include "stalecheck/rules.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

using Args = std::vector<std::string>;

struct Command {
  const char* name;
  const char* usage;
  const char* summary;
  std::function<absl::StatusOr<int>(const Args&)> run;
};

const std::vector<Command>& Commands();

absl::Status Write(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    return absl::UnavailableError("writing to standard output failed");
  }
  return absl::OkStatus();
}

// Parses a command's flags; cxxopts' exceptions stop here.
absl::StatusOr<cxxopts::ParseResult> Parse(cxxopts::Options& options, const Args& args) {
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  try {
    return options.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const cxxopts::exceptions::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(args[0], ": ", e.what()));
  }
}

// A command's --help: its usage and every flag.
absl::StatusOr<int> Help(const cxxopts::Options& o) {
  if (absl::Status s = Write(o.help()); !s.ok()) return s;
  return 0;
}

absl::StatusOr<std::string> FormatFlag(const cxxopts::ParseResult& r, std::initializer_list<const char*> allowed) {
  std::string f = r["format"].as<std::string>();
  for (const char* a : allowed) {
    if (f == a) return f;
  }
  return absl::InvalidArgumentError(absl::StrCat("--format ", f, ": not one of the formats this command writes"));
}

// The image-reading flags that inspect and check share, which ImageReadOptions reads.
void AddImageReadFlags(cxxopts::Options& o) {
  o.add_options()("platform", "os/arch for multi-platform OCI layouts", cxxopts::value<std::string>()->default_value(""))(
      "docker-host", "Engine API endpoint (unix:// or tcp://)", cxxopts::value<std::string>()->default_value(""))(
      "timeout", "seconds to wait for any one network read", cxxopts::value<int>()->default_value("60"))(
      "engine-read", "auto (a local engine's overlay2 storage when readable, else the Engine API) or api",
      cxxopts::value<std::string>()->default_value("auto"))(
      "tls-verify", "docker://: false allows plain HTTP and unverified HTTPS",
      cxxopts::value<std::string>()->default_value("true"))(
      "cert-dir", "docker://: a directory of CA certificates (ca.crt, *.crt) to trust",
      cxxopts::value<std::string>()->default_value(""))(
      "no-cache", "neither read nor write the caches under $XDG_CACHE_HOME/stalecheck (layers, the context's stat cache)")(
      "j,jobs", "worker threads", cxxopts::value<int>()->default_value("0"));
}

// Reads the flags AddImageReadFlags adds: -j, --platform, --docker-host, --timeout, --engine-read, --tls-verify,
// --cert-dir, --no-cache.
absl::StatusOr<ReadOptions> ImageReadOptions(const cxxopts::ParseResult& r) {
  ReadOptions ro;
  if (r["timeout"].as<int>() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("--timeout ", r["timeout"].as<int>(), ": write a number of seconds above 0"));
  }
  const std::string how = r["engine-read"].as<std::string>();
  if (how != "auto" && how != "api") {
    return absl::InvalidArgumentError(absl::StrCat("--engine-read ", how, ": write auto or api"));
  }
  ro.jobs = r["jobs"].as<int>();
  ro.platform = r["platform"].as<std::string>();
  ro.docker_host = r["docker-host"].as<std::string>();
  ro.timeout = r["timeout"].as<int>();
  ro.engine_storage = how == "auto";
  const std::string tls = r["tls-verify"].as<std::string>();
  if (tls != "true" && tls != "false") return absl::InvalidArgumentError(absl::StrCat("--tls-verify=", tls, ": write true or false"));
  ro.tls_verify = tls == "true";
  ro.cert_dir = r["cert-dir"].as<std::string>();
  ro.use_cache = r.count("no-cache") == 0;
  return ro;
}

constexpr const char* kBuildRulesHelp = "auto, buildx, buildkit-20.10, legacy or legacy-20.10";

absl::StatusOr<int> RunFingerprint(const Args& args) {
  cxxopts::Options o("stalecheck fingerprint", "The build context as docker build would send it.");
  o.add_options()("C,context", "build context directory", cxxopts::value<std::string>()->default_value("."))(
      "f,file", "Dockerfile (picks NAME.dockerignore)", cxxopts::value<std::string>()->default_value(""))(
      "rev", "read the context from this git revision", cxxopts::value<std::string>()->default_value(""))(
      "format", "text or json", cxxopts::value<std::string>()->default_value("text"))(
      "root-only", "print only the root digest")(
      "build-rules", kBuildRulesHelp, cxxopts::value<std::string>()->default_value("auto"))(
      "docker-host", "Engine API endpoint, asked for its preferred builder", cxxopts::value<std::string>()->default_value(""))(
      "j,jobs", "worker threads", cxxopts::value<int>()->default_value("0"))(
      "no-cache", "neither read nor write the context's stat cache ($XDG_CACHE_HOME/stalecheck/context)")(
      "timings", "per-phase wall and CPU time on standard error")("h,help", "show these options");
  absl::StatusOr<cxxopts::ParseResult> r = Parse(o, args);
  if (!r.ok()) return r.status();
  if (r->count("help")) return Help(o);
  if (!r->unmatched().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("fingerprint: unexpected argument '", r->unmatched()[0], "'"));
  }
  PhaseTimer timer;
  timer.Start("read context");
  absl::StatusOr<std::string> format = FormatFlag(*r, {"text", "json"});
  if (!format.ok()) return format.status();
  ContextOptions opts;
  opts.dir = (*r)["context"].as<std::string>();
  opts.dockerfile = (*r)["file"].as<std::string>();
  opts.rev = (*r)["rev"].as<std::string>();
  opts.jobs = (*r)["jobs"].as<int>();
  opts.use_cache = r->count("no-cache") == 0;
  if (absl::Status s = ChooseRules((*r)["build-rules"].as<std::string>(), ImageBuilder::kUnknown,
                                   (*r)["docker-host"].as<std::string>(), 60, &opts);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<Context> ctx = LoadContext(opts);
  if (!ctx.ok()) return ctx.status();
  timer.Start("report");
  std::string out;
  if (r->count("root-only")) {
    out = *format == "json" ? JsonText({{"schema_version", 1}, {"root", ctx->root.Hex()}}, -1)
                            : ctx->root.Hex() + "\n";
  } else if (*format == "json") {
    if (absl::Status s = WriteFingerprintJson(*ctx, [](absl::string_view piece) { return Write(std::string(piece)); });
        !s.ok()) {
      return s;
    }
  } else {
    out = FingerprintText(*ctx);
  }
  if (absl::Status s = Write(out); !s.ok()) return s;
  timer.Stop();
  if (r->count("timings")) std::fprintf(stderr, "%s\n%s\n", timer.Line().c_str(), ctx->reading.Line().c_str());
  KeepUntilExit(std::move(*ctx));  // a million entries are the exit's to free
  return 0;
}

absl::StatusOr<int> RunInspect(const Args& args) {
  cxxopts::Options o("stalecheck inspect", "An image's final filesystem with layer attribution.");
  o.add_options()("target", "the image", cxxopts::value<std::string>())(
      "path", "only paths under this prefix (repeatable)", cxxopts::value<std::vector<std::string>>())(

      "format", "text or json", cxxopts::value<std::string>()->default_value("text"))(
      "timings", "per-phase wall and CPU time on standard error")("h,help", "show these options");
  AddImageReadFlags(o);
  o.parse_positional({"target"});
  o.positional_help("TARGET");
  absl::StatusOr<cxxopts::ParseResult> r = Parse(o, args);
  if (!r.ok()) return r.status();
  if (r->count("help")) return Help(o);
  if (!r->count("target")) return absl::InvalidArgumentError("inspect: name a TARGET (e.g. docker-archive:app.tar)");
  if (!r->unmatched().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("inspect: unexpected argument '", r->unmatched()[0], "'"));
  }
  absl::StatusOr<std::string> format = FormatFlag(*r, {"text", "json"});
  if (!format.ok()) return format.status();
  absl::StatusOr<TargetName> target = ParseTarget((*r)["target"].as<std::string>());
  if (!target.ok()) return target.status();
  absl::StatusOr<ReadOptions> read_opts = ImageReadOptions(*r);
  if (!read_opts.ok()) return read_opts.status();
  PhaseTimer timer;
  timer.Start("read image");
  absl::StatusOr<ImageView> view = ReadImage(*target, *read_opts);
  if (!view.ok()) return view.status();
  std::vector<std::string> prefixes;
  if (r->count("path")) {
    for (std::string p : (*r)["path"].as<std::vector<std::string>>()) {
      if (!absl::StartsWith(p, "/")) p = "/" + p;
      while (p.size() > 1 && p.back() == '/') p.pop_back();
      prefixes.push_back(p);
    }
  }
  if (absl::Status s = ReadContainerPaths(*view, prefixes.empty() ? std::vector<std::string>{"/"} : prefixes,
                                          *read_opts);
      !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(target->ToString(), ": ", s.message()));
  }
  if (!prefixes.empty()) {
    for (auto it = view->files.begin(); it != view->files.end();) {
      bool keep = false;
      for (const std::string& p : prefixes) keep = keep || PathUnder(it->first, p);
      it = keep ? std::next(it) : view->files.erase(it);
    }
  }
  timer.Start("report");
  std::string out = *format == "json" ? JsonText(InspectJson(*view)) : InspectText(*view);
  if (absl::Status s = Write(out); !s.ok()) return s;
  timer.Stop();
  if (r->count("timings")) std::fprintf(stderr, "%s\n", timer.Line().c_str());
  return 0;
}

// Writes a report to -o FILE (only once everything succeeded) or to standard output.
absl::Status Emit(const std::string& text, const std::string& output) {
  if (output.empty() || output == "-") return Write(text);
  std::FILE* f = std::fopen(output.c_str(), "wb");
  if (f == nullptr) return absl::InvalidArgumentError(absl::StrCat("-o ", output, ": cannot open for writing"));
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) return absl::UnavailableError(absl::StrCat("-o ", output, ": write failed"));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PathMap>> ParseMaps(const std::vector<std::string>& raw) {
  std::vector<PathMap> maps;
  for (const std::string& m : raw) {
    size_t colon = m.find(':');
    if (colon == std::string::npos || colon + 1 >= m.size() || m[colon + 1] != '/') {
      return absl::InvalidArgumentError(absl::StrCat("--map ", m, ": write SRC:DEST with an absolute DEST"));
    }
    PathMap pm;
    std::string src = CleanPath(absl::StrCat("/", m.substr(0, colon)));
    pm.source = src == "/" ? "" : src.substr(1);
    pm.dest = CleanPath(m.substr(colon + 1));
    pm.dest_is_dir = absl::EndsWith(m, "/");
    maps.push_back(std::move(pm));
  }
  return maps;
}

absl::StatusOr<int> CheckCommand(const Args& args, std::string* output);

// A failed check leaves no report at -o FILE, not even one from an earlier run that a CI step
// could read as this run's.
absl::StatusOr<int> RunCheck(const Args& args) {
  std::string output;
  absl::StatusOr<int> code = CheckCommand(args, &output);
  if (!code.ok() && !output.empty() && output != "-") ::unlink(output.c_str());
  return code;
}

// The flags check and audit share: the context, the plan, the rules, the report.
void AddCheckFlags(cxxopts::Options& o) {
  o.add_options()("C,context", "build context directory", cxxopts::value<std::string>()->default_value("."))(
      "f,file", "Dockerfile", cxxopts::value<std::string>()->default_value(""))(
      "target", "build stage", cxxopts::value<std::string>()->default_value(""))(
      "build-arg", "K=V (repeatable)", cxxopts::value<std::vector<std::string>>())(
      "rev", "take the context from this git revision", cxxopts::value<std::string>()->default_value(""))(
      "build-rules", kBuildRulesHelp, cxxopts::value<std::string>()->default_value("auto"))(
      "format", "text, json, junit, sarif or github", cxxopts::value<std::string>()->default_value("text"))(
      "o,output", "write the report to FILE", cxxopts::value<std::string>()->default_value(""))(
      "timings", "per-phase wall and CPU time on standard error")("h,help", "show these options");
  AddImageReadFlags(o);
}

// Reads the flags AddCheckFlags adds into a request (its target left empty).
absl::StatusOr<CheckRequest> CheckRequestOf(const cxxopts::ParseResult& r) {
  CheckRequest req;
  req.plan.target = r["target"].as<std::string>();
  if (r.count("build-arg")) {
    for (const std::string& kv : r["build-arg"].as<std::vector<std::string>>()) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        return absl::InvalidArgumentError(absl::StrCat("--build-arg ", kv, ": write NAME=VALUE"));
      }
      req.plan.build_args[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  req.build_rules = r["build-rules"].as<std::string>();
  absl::StatusOr<ReadOptions> read_opts = ImageReadOptions(r);
  if (!read_opts.ok()) return read_opts.status();
  req.read = std::move(*read_opts);
  req.context.dir = r["context"].as<std::string>();
  req.context.dockerfile = r["file"].as<std::string>();
  req.context.rev = r["rev"].as<std::string>();
  req.context.jobs = r["jobs"].as<int>();
  req.context.use_cache = req.read.use_cache;
  return req;
}

bool ColorFor(const std::string& output) {
  return output.empty() && ::isatty(STDOUT_FILENO) != 0 && std::getenv("NO_COLOR") == nullptr;
}

absl::StatusOr<int> CheckCommand(const Args& args, std::string* output_flag) {
  cxxopts::Options o("stalecheck check", "Is the image's code the build context's code?");
  o.add_options()("target-image", "the image", cxxopts::value<std::string>())(
      "map", "SRC:DEST, compare without a Dockerfile (repeatable)", cxxopts::value<std::vector<std::string>>());
  AddCheckFlags(o);
  o.parse_positional({"target-image"});
  o.positional_help("TARGET");
  absl::StatusOr<cxxopts::ParseResult> r = Parse(o, args);
  if (!r.ok()) return r.status();
  if (r->count("help")) return Help(o);
  *output_flag = (*r)["output"].as<std::string>();
  if (!r->count("target-image")) return absl::InvalidArgumentError("check: name a TARGET (e.g. docker-archive:app.tar)");
  if (!r->unmatched().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("check: unexpected argument '", r->unmatched()[0], "'"));
  }
  absl::StatusOr<std::string> format = FormatFlag(*r, {"text", "json", "junit", "sarif", "github"});
  if (!format.ok()) return format.status();
  absl::StatusOr<TargetName> target = ParseTarget((*r)["target-image"].as<std::string>());
  if (!target.ok()) return target.status();
  absl::StatusOr<CheckRequest> req = CheckRequestOf(*r);
  if (!req.ok()) return req.status();
  req->target = std::move(*target);
  if (r->count("map")) {
    absl::StatusOr<std::vector<PathMap>> m = ParseMaps((*r)["map"].as<std::vector<std::string>>());
    if (!m.ok()) return m.status();
    req->maps = std::move(*m);
  }
  PhaseTimer timer;
  if (r->count("timings")) req->timer = &timer;
  absl::StatusOr<CheckOutcome> outcome = stalecheck::RunCheck(*req);
  if (!outcome.ok()) return outcome.status();
  timer.Start("report");
  CheckReport report = outcome->Report();
  const std::string output = (*r)["output"].as<std::string>();
  std::string text;
  if (*format == "json") {
    text = JsonText(CheckJson(report));
  } else if (*format == "junit") {
    text = CheckJunit(report);
  } else if (*format == "sarif") {
    text = CheckSarif(report);
  } else if (*format == "github") {
    text = CheckGithub(report);
  } else {
    text = CheckText(report, ColorFor(output));
  }
  if (absl::Status s = Emit(text, output); !s.ok()) return s;
  timer.Stop();
  if (r->count("timings")) {
    std::fprintf(stderr, "%s\n%s\n", timer.Line().c_str(), outcome->context.reading.Line().c_str());
  }
  return outcome->result.stale ? 1 : 0;
}

absl::StatusOr<int> AuditCommand(const Args& args, std::string* output_flag) {
  cxxopts::Options o("stalecheck audit", "Is what runs the code its context holds, and was it recreated?");
  o.add_options()("targets", "container:NAME or docker://REF", cxxopts::value<std::vector<std::string>>())(
      "compose", "a compose file (repeatable, merged in order, as docker compose -f)",
      cxxopts::value<std::vector<std::string>>())(
      "p,project-name", "the compose project name", cxxopts::value<std::string>()->default_value(""))(
      "project-directory", "the compose project directory (default: the first file's)",
      cxxopts::value<std::string>()->default_value(""))(
      "service", "only this compose service (repeatable)", cxxopts::value<std::vector<std::string>>());
  AddCheckFlags(o);
  o.parse_positional({"targets"});
  o.positional_help("[container:NAME | docker://REF]...");
  absl::StatusOr<cxxopts::ParseResult> r = Parse(o, args);
  if (!r.ok()) return r.status();
  if (r->count("help")) return Help(o);
  *output_flag = (*r)["output"].as<std::string>();
  absl::StatusOr<std::string> format = FormatFlag(*r, {"text", "json", "junit", "sarif", "github"});
  if (!format.ok()) return format.status();
  absl::StatusOr<CheckRequest> base = CheckRequestOf(*r);
  if (!base.ok()) return base.status();
  AuditRequest req;
  req.base = std::move(*base);
  if (r->count("targets")) {
    for (const std::string& t : (*r)["targets"].as<std::vector<std::string>>()) {
      absl::StatusOr<TargetName> target = ParseTarget(t);
      if (!target.ok()) return target.status();
      if (target->transport != "container" && target->transport != "docker") {
        return absl::InvalidArgumentError(
            absl::StrCat("audit ", t, ": audit checks what runs or would be pulled: name container:NAME or docker://REF "
                         "(check reads the other transports)"));
      }
      req.targets.push_back(std::move(*target));
    }
  }
  if (r->count("service")) req.services = (*r)["service"].as<std::vector<std::string>>();
  const bool compose_asked = r->count("compose") || r->count("project-name") || r->count("project-directory") ||
                             r->count("service") || req.targets.empty();
  if (compose_asked) {
    ComposeOptions co;
    if (r->count("compose")) co.files = (*r)["compose"].as<std::vector<std::string>>();
    co.project_name = (*r)["project-name"].as<std::string>();
    co.project_directory = (*r)["project-directory"].as<std::string>();
    req.compose = std::move(co);
  }
  PhaseTimer timer;
  if (r->count("timings")) req.base.timer = &timer;
  absl::StatusOr<AuditResult> result = RunAudit(req);
  if (!result.ok()) return result.status();
  timer.Start("report");
  AuditReport report = MakeAuditReport(*result);
  const std::string output = (*r)["output"].as<std::string>();
  std::string text;
  if (*format == "json") {
    text = JsonText(AuditJson(report));
  } else if (*format == "junit") {
    text = AuditJunit(report);
  } else if (*format == "sarif") {
    text = AuditSarif(report);
  } else if (*format == "github") {
    text = AuditGithub(report);
  } else {
    text = AuditText(report, ColorFor(output));
  }
  if (absl::Status s = Emit(text, output); !s.ok()) return s;
  timer.Stop();
  if (r->count("timings")) std::fprintf(stderr, "%s\n", timer.Line().c_str());
  return result->stale ? 1 : 0;
}

// A failed audit leaves no report at -o FILE, as check does.
absl::StatusOr<int> RunAuditCommand(const Args& args) {
  std::string output;
  absl::StatusOr<int> code = AuditCommand(args, &output);
  if (!code.ok() && !output.empty() && output != "-") ::unlink(output.c_str());
  return code;
}

absl::StatusOr<int> RunHook(const Args& args) {
  cxxopts::Options o("stalecheck hook", "The pre-push hook: install, uninstall, or run it (pre-push).");
  o.add_options()("action", "install, uninstall or pre-push", cxxopts::value<std::string>())(
      "git-args", "the remote's name and URL (from git)", cxxopts::value<std::vector<std::string>>())(
      "force", "install: keep a foreign hook as pre-push.local and run it first")(
      "mode", "block (default) or warn", cxxopts::value<std::string>()->default_value(""))("h,help",
                                                                                          "show these options");
  o.parse_positional({"action", "git-args"});
  o.positional_help("install|uninstall|pre-push");
  absl::StatusOr<cxxopts::ParseResult> r = Parse(o, args);
  if (!r.ok()) return r.status();
  if (r->count("help")) return Help(o);
  if (!r->count("action")) return absl::InvalidArgumentError("hook: name install, uninstall or pre-push");
  const std::string action = (*r)["action"].as<std::string>();
  const std::string mode = (*r)["mode"].as<std::string>();
  if (!mode.empty() && mode != "block" && mode != "warn") {
    return absl::InvalidArgumentError(absl::StrCat("--mode ", mode, ": write block or warn"));
  }
  if (action != "pre-push" && r->count("git-args")) {
    return absl::InvalidArgumentError(
        absl::StrCat("hook ", action, ": unexpected argument '", (*r)["git-args"].as<std::vector<std::string>>()[0], "'"));
  }
  if (action == "install") {
    HookInstallOptions ho;
    ho.force = r->count("force") != 0;
    ho.mode = mode;
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    ho.stalecheck = n > 0 ? std::string(self, static_cast<size_t>(n)) : "stalecheck";
    absl::StatusOr<std::string> done = InstallHook(ho);
    if (!done.ok()) return done.status();
    if (absl::Status s = Write(*done); !s.ok()) return s;
    return 0;
  }
  if (action == "uninstall") {
    absl::StatusOr<std::string> done = UninstallHook(".");
    if (!done.ok()) return done.status();
    if (absl::Status s = Write(*done); !s.ok()) return s;
    return 0;
  }
  if (action != "pre-push") {
    return absl::InvalidArgumentError(absl::StrCat("hook ", action, ": write install, uninstall or pre-push"));
  }
  PrePushOptions po;
  po.mode = mode;
  if (::isatty(STDIN_FILENO) == 0) {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      po.input.append(buf, static_cast<size_t>(n));
      if (po.input.size() > (64u << 20)) return absl::InvalidArgumentError("hook pre-push: over 64 MiB of input");
    }
  }
  absl::StatusOr<PrePushOutcome> out = RunPrePush(po);
  if (!out.ok()) return out.status();
  std::fwrite(out->report.data(), 1, out->report.size(), stderr);
  return out->exit_code;
}

absl::StatusOr<int> RunVersion(const Args&) {
  if (absl::Status s = Write("stalecheck 0.1.0\n"); !s.ok()) return s;
  return 0;
}

absl::StatusOr<int> RunHelp(const Args&) {
  std::string out = "usage: stalecheck COMMAND [options]\n\ncommands:\n";
  for (const Command& c : Commands()) absl::StrAppend(&out, "  ", c.usage, "\n      ", c.summary, "\n");
  out += "\n'stalecheck COMMAND --help' lists a command's options.\n";
  if (absl::Status s = Write(out); !s.ok()) return s;
  return 0;
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = {
      {"fingerprint", "fingerprint [-C DIR] [-f DOCKERFILE] [--rev REV] [--format text|json] [--root-only] [--build-rules auto|NAME] "
       "[-j N]",
       "list and hash the build context exactly as docker build sends it", RunFingerprint},
      {"check",
       "check TARGET [-C DIR] [-f DOCKERFILE] [--target STAGE] [--build-arg K=V]... [--rev REV] [--map SRC:DEST]... "
       "[--platform OS/ARCH] [--build-rules auto|NAME] [--format text|json|junit|sarif|github] [-o FILE] [-j N] "
       "[--docker-host URL] [--timeout SECONDS] [--engine-read auto|api] [--tls-verify=false] [--cert-dir DIR] [--no-cache] "
       "[--timings]",
       "say which files in the image differ from the build context, and which layer and line put them there",
       RunCheck},
      {"inspect", "inspect TARGET [--path PREFIX]... [--platform OS/ARCH] [--format text|json] [-j N] [--docker-host URL] "
       "[--timeout SECONDS] [--engine-read auto|api] [--tls-verify=false] [--cert-dir DIR] [--no-cache]",
       "show an image's final filesystem and the layer that put each path there", RunInspect},
      {"audit",
       "audit [container:NAME | docker://REF]... [--compose FILE]... [-p PROJECT] [--project-directory DIR] "
       "[--service NAME]... [options as for check]",
       "check every service of a compose project, or named containers, against their contexts; name containers "
       "not recreated and images built from another commit",
       RunAuditCommand},
      {"hook", "hook install|uninstall [--force] [--mode block|warn]",
       "install the git pre-push hook that checks each pushed commit against git config stalecheck.target "
       "(hook pre-push is what it runs)",
       RunHook},
      {"version", "version", "print the version", RunVersion},
      {"help", "help", "list the commands", RunHelp},
  };
  return commands;
}

}  // namespace

absl::StatusOr<int> RunCommand(const Args& args) {
  if (args.empty()) return absl::InvalidArgumentError("no command given; 'stalecheck help' lists them");
  const std::string& name = args[0];
  if (name == "--help" || name == "-h") return RunHelp(args);
  if (name == "--version") return RunVersion(args);
  for (const Command& c : Commands()) {
    if (name != c.name) continue;
    const bool own_help = name == "check" || name == "fingerprint" || name == "inspect" || name == "audit" || name == "hook";
    for (const std::string& a : args) {
      if (!own_help && (a == "--help" || a == "-h")) {
        if (absl::Status s = Write(absl::StrCat("usage: stalecheck ", c.usage, "\n  ", c.summary, "\n")); !s.ok()) {
          return s;
        }
        return 0;
      }
    }
    return c.run(args);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown command '", name, "'; 'stalecheck help' lists them"));
}

}  // namespace stalecheck
