// The hook at push time: the pushed commits, checked against the image the user tested.

#include <cstdlib>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "stalecheck/check.h"
#include "stalecheck/hook.h"
#include "src/hook/git.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

using Lookup = std::function<std::optional<std::string>(const std::string&)>;

using hook_internal::RunGit;

std::string Short(const std::string& oid) { return oid.substr(0, 12); }

// The files whose entries differ between two contexts (added, removed or changed).
std::vector<std::string> Differences(const Context& a, const Context& b) {
  std::vector<std::string> out;
  size_t i = 0, j = 0;
  while (i < a.entries.size() || j < b.entries.size()) {
    if (j >= b.entries.size() || (i < a.entries.size() && a.entries[i].path < b.entries[j].path)) {
      out.push_back(a.entries[i++].path);
    } else if (i >= a.entries.size() || b.entries[j].path < a.entries[i].path) {
      out.push_back(b.entries[j++].path);
    } else {
      const FileEntry& x = a.entries[i++];
      const FileEntry& y = b.entries[j++];
      if (x.type != y.type || x.digest != y.digest || x.target != y.target || (x.mode & 0111) != (y.mode & 0111)) {
        out.push_back(x.path);
      }
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<PrePushOutcome> RunPrePush(const PrePushOptions& o) {
  const Lookup env = o.getenv ? o.getenv : Lookup(GetEnv);
  // Git runs the hook from the top of the work tree, perhaps with GIT_DIR and friends set
  // (git --git-dir=… push): the work tree is found with them, then they are cleared so that
  // no git run here (submodules, helpers) reads this repository in place of its own.
  std::optional<std::string> top = RunGit(".", {"rev-parse", "--show-toplevel"});
  if (!top || top->empty()) return absl::InvalidArgumentError("hook pre-push: not inside a git work tree");
  const std::optional<std::string> git_dir = RunGit(".", {"rev-parse", "--absolute-git-dir"});
  if (!git_dir) return absl::InvalidArgumentError("hook pre-push: git rev-parse --absolute-git-dir failed");
  // Every git run from here names the repository, so that clearing git's variables below
  // cannot send it to another one.
  const auto git = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--git-dir=" + *git_dir, "--work-tree=" + *top});
    return RunGit(*top, std::move(args));
  };
  std::string mode = git({"config", "--get", "stalecheck.hookMode"}).value_or(o.mode);
  if (mode.empty()) mode = "block";
  if (mode != "block" && mode != "warn") {
    return absl::InvalidArgumentError(absl::StrCat("stalecheck.hookMode ", mode, ": write block or warn"));
  }
  const std::string target = git({"config", "--get", "stalecheck.target"}).value_or("");
  const std::string context_rel = git({"config", "--get", "stalecheck.context"}).value_or(".");
  const std::string dockerfile_rel = git({"config", "--get", "stalecheck.dockerfile"}).value_or("");
  // The configuration is read first: `git -c stalecheck.target=… push` passes it through
  // GIT_CONFIG_PARAMETERS, one of the variables cleared next.
  if (std::optional<std::string> vars = RunGit(".", {"rev-parse", "--local-env-vars"})) {
    for (absl::string_view v : absl::StrSplit(*vars, '\n', absl::SkipEmpty())) ::unsetenv(std::string(v).c_str());
  }
  const std::string context_dir = CleanPath(absl::StrCat(*top, "/", context_rel));

  absl::StatusOr<std::vector<PushedRef>> refs = ParsePrePushInput(o.input);
  if (!refs.ok()) return refs.status();
  if (refs->empty()) {
    // The pre-commit framework keeps git's input and says what is pushed in its variables.
    std::string to = env("PRE_COMMIT_TO_REF").value_or("");
    std::optional<std::string> oid = git({"rev-parse", "--verify", (to.empty() ? "HEAD" : to) + "^{commit}"});
    if (!oid) return absl::InvalidArgumentError(absl::StrCat("hook pre-push: cannot resolve ", to.empty() ? "HEAD" : to));
    refs->push_back({to.empty() ? "HEAD" : to, *oid, "", ""});
  }

  PrePushOutcome out;
  bool stale = false;
  std::set<std::string> trees_checked;
  const std::optional<std::string> head = git({"rev-parse", "--verify", "HEAD^{commit}"});
  for (const PushedRef& ref : *refs) {
    if (ref.deletion()) continue;
    // A tag's id is peeled to its commit; a commit whose context tree was checked already
    // (another ref at it, or at an equal tree) is not checked again.
    std::optional<std::string> commit = git({"rev-parse", "--verify", "--quiet", ref.local_oid + "^{commit}"});
    if (!commit) continue;  // a tag of a tree or blob: no build context
    std::string tree = git({"rev-parse", "--verify", "--quiet", absl::StrCat(*commit, ":", context_rel == "." ? "" : context_rel)})
                           .value_or(*commit);
    if (!trees_checked.insert(tree).second) continue;
    const std::string what = absl::StrCat(ref.local_ref, " (", Short(*commit), ")");
    if (target.empty()) {
      // No image named: say what the push leaves out of the build context.
      if (!head || *head != *commit) continue;
      ContextOptions worktree;
      worktree.dir = context_dir;
      worktree.use_cache = true;
      if (!dockerfile_rel.empty()) worktree.dockerfile = absl::StrCat(*top, "/", dockerfile_rel);
      ContextOptions pushed = worktree;
      pushed.rev = *commit;
      absl::StatusOr<Context> a = LoadContext(pushed);
      if (!a.ok()) return a.status();
      absl::StatusOr<Context> b = LoadContext(worktree);
      if (!b.ok()) return b.status();
      // Git's own directory is in the working tree's context (docker build sends it unless
      // .dockerignore leaves it out) and in no commit: it is no uncommitted change.
      std::vector<std::string> diff;
      for (std::string& p : Differences(*a, *b)) {
        if (p != ".git" && !absl::StartsWith(p, ".git/")) diff.push_back(std::move(p));
      }
      if (diff.empty()) continue;
      absl::StrAppend(&out.report, "stalecheck: warning: ", diff.size(), " file", diff.size() == 1 ? "" : "s",
                      " of the build context ", context_rel, " differ between the working tree and the pushed ", what,
                      ", so an image built here would not be the commit you push:\n");
      for (size_t k = 0; k < diff.size() && k < 20; ++k) absl::StrAppend(&out.report, "  ", diff[k], "\n");
      if (diff.size() > 20) absl::StrAppend(&out.report, "  … and ", diff.size() - 20, " more\n");
      absl::StrAppend(&out.report, "  (git config stalecheck.target docker-daemon:IMAGE names the image to check pushes against)\n");
      continue;
    }
    absl::StatusOr<TargetName> t = ParseTarget(target);
    if (!t.ok()) return absl::Status(t.status().code(), absl::StrCat("stalecheck.target: ", t.status().message()));
    CheckRequest req;
    req.target = *t;
    req.context.dir = context_dir;
    if (!dockerfile_rel.empty()) req.context.dockerfile = absl::StrCat(*top, "/", dockerfile_rel);
    req.context.rev = *commit;
    absl::StatusOr<CheckOutcome> checked = RunCheck(req);
    if (!checked.ok()) {
      if (mode == "warn") {
        absl::StrAppend(&out.report, "stalecheck: warning: could not check ", what, " against ", target, ": ",
                        checked.status().message(), "\n");
        continue;
      }
      return absl::Status(checked.status().code(), absl::StrCat("checking ", what, " against ", target, ": ",
                                                                checked.status().message(),
                                                                " (git push --no-verify skips this hook)"));
    }
    if (!checked->result.stale) continue;
    stale = true;
    absl::StrAppend(&out.report, "stalecheck: ", what, " is not the code in ", target, ":\n",
                    CheckText(checked->Report(), false));
  }
  if (stale) {
    if (mode == "block") {
      out.exit_code = 1;
      absl::StrAppend(&out.report, "stalecheck: push blocked: the pushed code is not the code of ", target,
                      " (rebuild and test it, or git push --no-verify; git config stalecheck.hookMode warn only warns)\n");
    } else {
      absl::StrAppend(&out.report, "stalecheck: warning only (stalecheck.hookMode warn): the push goes on\n");
    }
  }
  return out;
}

}  // namespace stalecheck
