#include "stalecheck/hook.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "src/hook/git.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

namespace fs = std::filesystem;

using hook_internal::RunGit;

bool Ours(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string first, second;
  std::getline(in, first);
  std::getline(in, second);
  return absl::StartsWith(second, kHookMarker);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// The hook: it runs stalecheck (the one that installed it, else the one on PATH), and first the
// foreign hook it replaced, which gets the same arguments and standard input.
std::string Script(const HookInstallOptions& o, bool chained) {
  std::string mode = o.mode.empty() ? "" : absl::StrCat(" --mode ", o.mode);
  std::string s = absl::StrCat("#!/bin/sh\n", kHookMarker,
                               " (stalecheck hook install wrote it; stalecheck hook uninstall removes it)\n",
                               "STALECHECK=\"", o.stalecheck, "\"\n",
                               "[ -x \"$STALECHECK\" ] || STALECHECK=stalecheck\n");
  if (chained) {
    absl::StrAppend(&s, "# The hook that was here before, kept beside it and run first with the same input.\n",
                    "input=$(cat)\n",
                    "feed() { [ -z \"$input\" ] || printf '%s\\n' \"$input\"; }\n",
                    "prev=\"$(dirname \"$0\")/pre-push.local\"\n",
                    "if [ -x \"$prev\" ]; then feed | \"$prev\" \"$@\" || exit $?; fi\n",
                    "feed | exec \"$STALECHECK\" hook pre-push", mode, " \"$@\"\n");
  } else {
    absl::StrAppend(&s, "exec \"$STALECHECK\" hook pre-push", mode, " \"$@\"\n");
  }
  return s;
}

absl::Status WriteExecutable(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".stalecheck-tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return absl::PermissionDeniedError(absl::StrCat(tmp, ": cannot write"));
  }
  if (::chmod(tmp.c_str(), 0755) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return absl::PermissionDeniedError(absl::StrCat(path, ": ", std::strerror(e)));
  }
  return absl::OkStatus();
}

struct HookPlace {
  std::string dir;         // absolute
  std::string hooks_path;  // core.hooksPath as set, "" when not
};

absl::StatusOr<HookPlace> FindHooks(const std::string& repo) {
  if (!RunGit(repo, {"rev-parse", "--is-inside-work-tree"})) {
    return absl::InvalidArgumentError(absl::StrCat(repo, " is not inside a git work tree"));
  }
  HookPlace place;
  std::optional<std::string> dir = RunGit(repo, {"rev-parse", "--path-format=absolute", "--git-path", "hooks"});
  if (!dir) return absl::InternalError(absl::StrCat("git rev-parse --git-path hooks failed in ", repo));
  place.dir = *dir;
  place.hooks_path = RunGit(repo, {"config", "--get", "core.hooksPath"}).value_or("");
  return place;
}

}  // namespace

std::optional<std::string> hook_internal::RunGit(const std::string& repo, std::vector<std::string> args) {
  std::vector<std::string> argv = {"git", "-C", repo};
  argv.insert(argv.end(), args.begin(), args.end());
  std::optional<std::string> out = RunCapture(argv);
  if (out) *out = std::string(absl::StripTrailingAsciiWhitespace(*out));
  return out;
}

bool PushedRef::deletion() const { return IsZeroOid(local_oid); }
bool PushedRef::new_ref() const { return IsZeroOid(remote_oid); }

bool IsZeroOid(const std::string& oid) {
  return (oid.size() == 40 || oid.size() == 64) && oid.find_first_not_of('0') == std::string::npos;
}

absl::StatusOr<std::vector<PushedRef>> ParsePrePushInput(const std::string& text) {
  std::vector<PushedRef> refs;
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++n;
    line = absl::StripSuffix(line, "\r");
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() != 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("pre-push input line ", n, ": expected <local ref> <local oid> <remote ref> <remote oid>"));
    }
    for (const std::string* oid : {&f[1], &f[3]}) {
      bool hex = !oid->empty() && std::all_of(oid->begin(), oid->end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
      });
      if (!hex || (oid->size() != 40 && oid->size() != 64)) {
        return absl::InvalidArgumentError(
            absl::StrCat("pre-push input line ", n, ": '", *oid, "' is not an object id (40 or 64 hex digits)"));
      }
    }
    refs.push_back({f[0], f[1], f[2], f[3]});
  }
  return refs;
}

absl::StatusOr<std::string> InstallHook(const HookInstallOptions& o) {
  absl::StatusOr<HookPlace> place = FindHooks(o.repo);
  if (!place.ok()) return place.status();
  // husky points core.hooksPath at its generated .husky/_ and runs .husky/<hook> from there:
  // a file written into .husky/_ would be overwritten by the next `husky` run.
  const std::string hp = place->hooks_path;
  if (absl::StrContains(hp, ".husky")) {
    std::optional<std::string> top = RunGit(o.repo, {"rev-parse", "--show-toplevel"});
    std::string husky_dir = hp;
    if (absl::EndsWith(husky_dir, "/_")) husky_dir.resize(husky_dir.size() - 2);
    if (absl::EndsWith(husky_dir, "/_/")) husky_dir.resize(husky_dir.size() - 3);
    std::string file = absl::StrCat(fs::path(husky_dir).is_relative() && top ? *top + "/" : "", husky_dir, "/pre-push");
    return absl::FailedPreconditionError(absl::StrCat("core.hooksPath is ", hp,
                                                      " (husky), which runs ", file,
                                                      ": add the line 'stalecheck hook pre-push \"$@\"' to it "
                                                      "instead; nothing was written"));
  }
  std::error_code ec;
  fs::create_directories(place->dir, ec);
  const std::string hook = place->dir + "/pre-push";
  const std::string local = place->dir + "/pre-push.local";
  bool chained = false;
  if (Exists(hook) && !Ours(hook)) {
    if (!o.force) {
      return absl::AlreadyExistsError(absl::StrCat(hook, " is a hook stalecheck did not write; nothing was written (--force "
                                                   "keeps it as pre-push.local and runs it first)"));
    }
    if (Exists(local)) {
      return absl::AlreadyExistsError(absl::StrCat(local, " exists already; move it away, then install again"));
    }
    if (::rename(hook.c_str(), local.c_str()) != 0) {
      return absl::PermissionDeniedError(absl::StrCat(hook, ": ", std::strerror(errno)));
    }
    chained = true;
  } else if (Exists(hook) && Ours(hook) && Exists(local)) {
    chained = true;  // installed again over its own chained hook
  }
  if (absl::Status s = WriteExecutable(hook, Script(o, chained)); !s.ok()) {
    if (chained && !Exists(hook)) (void)::rename(local.c_str(), hook.c_str());
    return s;
  }
  return absl::StrCat("installed ", hook, chained ? absl::StrCat("; it runs ", local, " first") : "",
                      hp.empty() ? "" : absl::StrCat(" (core.hooksPath ", hp, ")"), "\n");
}

absl::StatusOr<std::string> UninstallHook(const std::string& repo) {
  absl::StatusOr<HookPlace> place = FindHooks(repo);
  if (!place.ok()) return place.status();
  const std::string hook = place->dir + "/pre-push";
  const std::string local = place->dir + "/pre-push.local";
  if (!Exists(hook)) return absl::StrCat("no pre-push hook in ", place->dir, "; nothing to remove\n");
  if (!Ours(hook)) {
    return absl::FailedPreconditionError(absl::StrCat(hook, " is a hook stalecheck did not write; it was left as it is"));
  }
  if (Exists(local)) {
    if (::rename(local.c_str(), hook.c_str()) != 0) {
      return absl::PermissionDeniedError(absl::StrCat(local, ": ", std::strerror(errno)));
    }
    return absl::StrCat("removed stalecheck's hook; ", hook, " is the hook it had chained to again\n");
  }
  if (::unlink(hook.c_str()) != 0) return absl::PermissionDeniedError(absl::StrCat(hook, ": ", std::strerror(errno)));
  return absl::StrCat("removed ", hook, "\n");
}

}  // namespace stalecheck
