#include "src/git/head.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "stalecheck/util.h"

namespace stalecheck::git {
namespace {

using Answer = std::optional<std::optional<std::string>>;
constexpr Answer kUnsure = std::nullopt;

bool IsHexId(absl::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

// Resolves a path a gitdir or commondir file names, relative to the directory holding it.
std::string Resolve(const std::string& base, absl::string_view named) {
  if (absl::StartsWith(named, "/")) return std::string(named);
  return JoinPath(base, named);
}

bool IsDir(const std::string& p, struct stat* st) { return ::stat(p.c_str(), st) == 0 && S_ISDIR(st->st_mode); }

// Owned by us or by root: what libgit2 1.5 requires before it opens a repository.
bool OwnedSafely(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  return st.st_uid == ::geteuid() || st.st_uid == 0;
}

// A directory libgit2 could take for a repository itself (bare, or a gitdir given as the path).
bool LooksLikeGitDir(const std::string& d) {
  struct stat st {};
  return ::stat(JoinPath(d, "HEAD").c_str(), &st) == 0 && IsDir(JoinPath(d, "objects"), &st);
}

// A configuration this reader can stand behind: no [extensions] (reftable, SHA-256 object ids,
// per-worktree config), no includes that could add them, not bare.
bool PlainConfig(absl::string_view config) {
  bool in_core = false;
  for (absl::string_view line : absl::StrSplit(config, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      const std::string section = absl::AsciiStrToLower(line.substr(1, line.find_first_of(" ]") - 1));
      if (section == "extensions" || section == "include" || section == "includeif") return false;
      in_core = section == "core";
      if (line.find(']') + 1 < line.size()) return false;  // a key on the header's line
      continue;
    }
    if (!in_core) continue;
    const size_t eq = line.find('=');
    const std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, eq)));
    if (key != "bare") continue;
    if (eq == absl::string_view::npos) return false;  // "bare" alone is true
    const std::string value = absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(eq + 1)));
    if (value != "false" && value != "no" && value != "off" && value != "0") return false;
  }
  return true;
}

// Refs each worktree keeps for itself; all others live in the common directory.
bool PerWorktree(absl::string_view ref) {
  return !absl::StartsWith(ref, "refs/") || absl::StartsWith(ref, "refs/bisect/") ||
         absl::StartsWith(ref, "refs/worktree/") || absl::StartsWith(ref, "refs/rewritten/");
}

bool SaneRefName(absl::string_view ref) {
  if (ref.empty() || absl::StartsWith(ref, "/") || absl::EndsWith(ref, "/") || absl::StrContains(ref, "..") ||
      absl::StrContains(ref, "//") || absl::EndsWith(ref, ".lock")) {
    return false;
  }
  for (unsigned char c : ref) {
    if (c <= ' ' || c == 0x7f || c == '\\' || c == ':' || c == '?' || c == '*' || c == '[' || c == '~' || c == '^') {
      return false;
    }
  }
  return true;
}

Answer Lookup(const std::string& gitdir, const std::string& commondir, std::string ref) {
  for (int depth = 0; depth < 5; ++depth) {
    if (!SaneRefName(ref)) return kUnsure;
    const std::string loose = JoinPath(PerWorktree(ref) ? gitdir : commondir, ref);
    struct stat st {};
    if (::lstat(loose.c_str(), &st) == 0) {
      if (!S_ISREG(st.st_mode)) return kUnsure;
      std::string text;
      if (!ReadSmallFile(loose, &text).ok()) return kUnsure;
      absl::string_view v = absl::StripTrailingAsciiWhitespace(text);
      if (IsHexId(v)) return std::optional<std::string>(std::string(v));
      if (!absl::ConsumePrefix(&v, "ref: ")) return kUnsure;
      ref = std::string(absl::StripAsciiWhitespace(v));
      continue;
    }
    if (errno != ENOENT && errno != ENOTDIR) return kUnsure;
    if (PerWorktree(ref)) return kUnsure;
    std::string packed;
    if (!ReadSmallFile(JoinPath(commondir, "packed-refs"), &packed).ok()) {
      struct stat pst {};
      if (::stat(JoinPath(commondir, "packed-refs").c_str(), &pst) == 0) return kUnsure;
      return std::optional<std::string>();  // an unborn branch
    }
    for (absl::string_view line : absl::StrSplit(packed, '\n')) {
      if (line.empty() || line[0] == '#' || line[0] == '^') continue;
      size_t space = line.find(' ');
      if (space == absl::string_view::npos) return kUnsure;
      absl::string_view id = line.substr(0, space);
      absl::string_view name = absl::StripTrailingAsciiWhitespace(line.substr(space + 1));
      if (name == ref) {
        if (!IsHexId(id)) return kUnsure;
        return std::optional<std::string>(std::string(id));
      }
    }
    return std::optional<std::string>();  // an unborn branch
  }
  return kUnsure;  // a chain of symbolic refs longer than libgit2 follows
}

}  // namespace

Answer ReadHeadFromFiles(const std::string& dir) {
  struct stat st {};
  if (!IsDir(dir, &st)) return kUnsure;
  const dev_t device = st.st_dev;
  std::string d = dir;
  for (;;) {
    if (LooksLikeGitDir(d)) return kUnsure;
    const std::string dotgit = JoinPath(d, ".git");
    struct stat gst {};
    if (::stat(dotgit.c_str(), &gst) == 0) {
      std::string gitdir;
      if (S_ISDIR(gst.st_mode)) {
        gitdir = dotgit;
      } else if (S_ISREG(gst.st_mode)) {
        std::string text;
        if (!ReadSmallFile(dotgit, &text).ok()) return kUnsure;
        absl::string_view v = absl::StripAsciiWhitespace(text);
        if (!absl::ConsumePrefix(&v, "gitdir: ")) return kUnsure;
        gitdir = Resolve(d, absl::StripAsciiWhitespace(v));
      } else {
        return kUnsure;
      }
      std::string commondir = gitdir;
      std::string named;
      if (ReadSmallFile(JoinPath(gitdir, "commondir"), &named).ok()) {
        commondir = Resolve(gitdir, absl::StripAsciiWhitespace(named));
      }
      struct stat cst {};
      if (!IsDir(gitdir, &cst) || !IsDir(commondir, &cst)) return kUnsure;
      if (!OwnedSafely(d) || !OwnedSafely(gitdir) || !OwnedSafely(dotgit)) return kUnsure;
      std::string config;
      if (!ReadSmallFile(JoinPath(commondir, "config"), &config).ok()) return kUnsure;
      if (!PlainConfig(config)) return kUnsure;
      std::string head;
      if (!ReadSmallFile(JoinPath(gitdir, "HEAD"), &head).ok()) return kUnsure;
      absl::string_view v = absl::StripTrailingAsciiWhitespace(head);
      if (IsHexId(v)) return std::optional<std::string>(std::string(v));
      if (!absl::ConsumePrefix(&v, "ref: ")) return kUnsure;
      return Lookup(gitdir, commondir, std::string(absl::StripAsciiWhitespace(v)));
    }
    if (errno != ENOENT) return kUnsure;
    if (d == "/") return std::optional<std::string>();  // no repository up to the root
    const std::string up(ParentDir(d));
    struct stat ust {};
    if (!IsDir(up, &ust)) return kUnsure;
    if (ust.st_dev != device) return std::optional<std::string>();  // libgit2 stops at a filesystem boundary
    d = up;
  }
}

}  // namespace stalecheck::git
