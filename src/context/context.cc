#include "absl/strings/string_view.h"
#include "stalecheck/context.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "stalecheck/git_source.h"
#include "stalecheck/ignore.h"
#include "stalecheck/util.h"
#include "stalecheck/walk.h"

namespace stalecheck {
namespace {

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::StatusOr<IgnoreMatcher> CompileIgnore(const std::string& text, const std::string& origin) {
  absl::StatusOr<IgnoreMatcher> m = IgnoreMatcher::Parse(text);
  if (!m.ok()) return absl::InvalidArgumentError(absl::StrCat(origin, ": ", m.status().message()));
  return m;
}

std::string Relative(const std::string& path, const std::string& base_slash) {
  char buf[PATH_MAX];
  std::string abs = ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
  if (abs.rfind(base_slash, 0) == 0) return abs.substr(base_slash.size());
  return "";
}

}  // namespace

Digest128 RootDigest(const std::vector<FileEntry>& entries) {
  StreamHasher h;
  std::string line;
  for (const FileEntry& e : entries) {
    line.clear();
    absl::StrAppend(&line, e.path, absl::string_view("\0", 1), FileTypeName(e.type),
                    absl::string_view("\0", 1), FormatMode(e.mode), absl::string_view("\0", 1));
    if (e.type != FileType::kDir) line += e.digest.Hex();
    line += '\n';
    h.Update(line.data(), line.size());
  }
  return h.Finish();
}

namespace {

// The legacy builder's CLI walks into an excluded directory as BuildKit's does (when an
// exception starts with "<dir>/"), but never sends the directory itself: the engine makes it
// again, 0755, as the parent of a file the walk re-included, and not at all when it has none.
// (Run on 20.10: `dir` 0700 with `!dir/keep.txt` lands as 0755 under the legacy builder.)
std::vector<FileEntry> AsLegacyBuilderSends(std::vector<FileEntry> entries, const IgnoreMatcher& ignore) {
  std::vector<FileEntry> out;
  out.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    FileEntry& e = entries[i];
    if (e.type == FileType::kDir && ignore.Excluded(e.path)) {
      const std::string prefix = absl::StrCat(e.path, "/");
      auto below = std::lower_bound(entries.begin() + static_cast<long>(i) + 1, entries.end(), prefix,
                                    [](const FileEntry& x, const std::string& p) { return x.path < p; });
      const bool parent = below != entries.end() && absl::StartsWith(below->path, prefix);
      if (!parent) continue;
      e.mode = 0755;
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

absl::StatusOr<Context> LoadContext(const ContextOptions& options) {
  Context ctx;
  ctx.dir = options.dir.empty() ? "." : options.dir;
  ctx.dockerfile = options.dockerfile.empty() ? JoinPath(ctx.dir, "Dockerfile") : options.dockerfile;
  struct stat st;
  if (::stat(ctx.dir.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("context directory ", ctx.dir));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("context ", ctx.dir, ": not a directory"));
  }
  ctx.build_rules = options.build_rules;
  const std::string per_dockerfile =
      options.per_dockerfile_ignore ? absl::StrCat(ctx.dockerfile, ".dockerignore") : std::string();
  const std::string root_ignore = JoinPath(ctx.dir, ".dockerignore");

  if (options.rev.empty()) {
    ctx.source = "worktree";
    std::string text;
    if (!per_dockerfile.empty() && IsRegularFile(per_dockerfile)) {
      ctx.ignore_file = per_dockerfile;
    } else if (IsRegularFile(root_ignore)) {
      ctx.ignore_file = root_ignore;
    }
    if (!ctx.ignore_file.empty()) {
      if (absl::Status s = ReadSmallFile(ctx.ignore_file, &text); !s.ok()) return s;
    }
    absl::StatusOr<IgnoreMatcher> ignore = CompileIgnore(text, ctx.ignore_file);
    if (!ignore.ok()) return ignore.status();
    absl::StatusOr<std::vector<FileEntry>> entries = WalkTree(ctx.dir, *ignore, options.jobs);
    if (!entries.ok()) return entries.status();
    if (absl::Status s = HashFiles(ctx.dir, *entries, options.jobs); !s.ok()) return s;
    ctx.entries = std::move(*entries);
    if (!options.per_dockerfile_ignore) ctx.entries = AsLegacyBuilderSends(std::move(ctx.entries), *ignore);
    if (IsRegularFile(ctx.dockerfile)) {
      std::string df;
      if (absl::Status s = ReadSmallFile(ctx.dockerfile, &df); !s.ok()) return s;
      ctx.dockerfile_text = std::move(df);
    }
    std::string dir = ctx.dir;
    ctx.read_file = [dir](const std::string& rel) -> absl::StatusOr<std::string> {
      const std::string path = JoinPath(dir, rel);
      struct stat fst;
      if (::lstat(path.c_str(), &fst) != 0) return ErrnoStatus(errno, absl::StrCat("reading ", path));
      std::string data;
      if (SentAsEmptyFile(fst.st_mode)) return data;  // never opened: the engine sends it empty
      if (absl::Status s = ReadSmallFile(path, &data, size_t{1} << 30); !s.ok()) return s;
      return data;
    };
  } else {
    ctx.source = options.rev;
    absl::StatusOr<GitContext> git = GitContext::Open(ctx.dir, options.rev);
    if (!git.ok()) return git.status();
    if (!git->commit().empty()) ctx.commit = git->commit();
    // The ignore files are read from the revision, not from the disk.
    std::string text;
    for (const std::string& candidate : {per_dockerfile, root_ignore}) {
      if (candidate.empty()) continue;
      std::string in_repo = Relative(candidate, git->workdir());
      if (in_repo.empty()) {
        // Not on disk (deleted since): place it by the context directory's position.
        std::string dir_rel = Relative(ctx.dir, git->workdir());
        if (candidate == root_ignore) in_repo = JoinPath(dir_rel, ".dockerignore");
      }
      if (in_repo.empty()) continue;
      absl::StatusOr<std::optional<std::string>> data = git->ReadFile(in_repo);
      if (!data.ok()) return data.status();
      if (data->has_value()) {
        ctx.ignore_file = absl::StrCat(options.rev, ":", in_repo);
        text = std::move(**data);
        break;
      }
    }
    absl::StatusOr<IgnoreMatcher> ignore = CompileIgnore(text, ctx.ignore_file);
    if (!ignore.ok()) return ignore.status();
    absl::StatusOr<std::vector<FileEntry>> entries = git->Walk(*ignore, options.jobs);
    if (!entries.ok()) return entries.status();
    ctx.entries = std::move(*entries);
    if (!options.per_dockerfile_ignore) ctx.entries = AsLegacyBuilderSends(std::move(ctx.entries), *ignore);
    // The Dockerfile too comes from the revision.
    std::string df_in_repo = Relative(ctx.dockerfile, git->workdir());
    if (df_in_repo.empty()) df_in_repo = JoinPath(Relative(ctx.dir, git->workdir()), "Dockerfile");
    absl::StatusOr<std::optional<std::string>> df = git->ReadFile(df_in_repo);
    if (!df.ok()) return df.status();
    ctx.dockerfile_text = std::move(*df);
    auto shared = std::make_shared<GitContext>(std::move(*git));
    ctx.read_file = [shared](const std::string& rel) { return shared->ReadContextFile(rel); };
  }
  ctx.root = RootDigest(ctx.entries);
  return ctx;
}

}  // namespace stalecheck
