#include "stalecheck/context.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <future>
#include <memory>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "stalecheck/cache.h"
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

absl::StatusOr<IgnoreMatcher> CompileIgnore(const std::string& text, const std::string& origin,
                                            const BuildRules& rules) {
  absl::StatusOr<IgnoreMatcher> m = IgnoreMatcher::Parse(text, rules);
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
  // One line an entry, "path\0type\0mode\0digest\n" (no digest for a directory), hashed as
  // one stream, a buffer at a time.
  StreamHasher h;
  std::string buf;
  buf.reserve(size_t{64} << 10);
  for (const FileEntry& e : entries) {
    buf.append(e.path);
    buf.push_back('\0');
    buf.append(FileTypeName(e.type));
    buf.push_back('\0');
    char text[4 + 1 + 32 + 1];  // mode, '\0', digest, '\n'
    char* end = FormatModeTo(text, e.mode);
    *end++ = '\0';
    if (e.type != FileType::kDir) end = e.digest.HexTo(end);
    *end++ = '\n';
    buf.append(text, static_cast<size_t>(end - text));
    if (buf.size() >= (size_t{60} << 10)) {
      h.Update(buf.data(), buf.size());
      buf.clear();
    }
  }
  h.Update(buf.data(), buf.size());
  return h.Finish();
}

namespace {

// The walk lists an excluded directory it entered; whether it is sent is the client's
// choice. 20.10's BuildKit client sends it. buildx sends it, with its own metadata, only when
// something below it is sent. The legacy builder's CLI never puts it in the tar, and the
// engine makes it again, 0755, as the parent of an entry that is (run on 20.10: `dir` 0700
// with `!dir/keep.txt` lands as 0755 under the legacy builder).
std::vector<FileEntry> SettleExcludedDirs(std::vector<FileEntry> entries,
                                          const IgnoreMatcher& ignore,
                                          BuildRules::ExcludedDir rule) {
  if (rule == BuildRules::ExcludedDir::kSent || ignore.empty()) return entries;
  std::vector<char> excluded(entries.size(), 0);
  bool any = false;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].type == FileType::kDir && ignore.Excluded(entries[i].path))
      excluded[i] = any = true;
  }
  if (!any) return entries;
  // The directories above an entry that is sent.
  absl::flat_hash_set<absl::string_view> above;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (excluded[i]) continue;
    absl::string_view p = entries[i].path;
    for (size_t slash = p.rfind('/'); slash != absl::string_view::npos;
         slash = p.rfind('/', slash - 1)) {
      if (!above.insert(p.substr(0, slash)).second || slash == 0) break;
    }
  }
  // Decided before anything moves: `above` views the entries' own paths.
  std::vector<char> sent(entries.size(), 1);
  for (size_t i = 0; i < entries.size(); ++i) {
    if (excluded[i]) sent[i] = above.contains(entries[i].path);
  }
  std::vector<FileEntry> out;
  out.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!sent[i]) continue;
    if (excluded[i] && rule == BuildRules::ExcludedDir::kRemadeAboveSentEntries)
      entries[i].mode = 0755;
    out.push_back(std::move(entries[i]));
  }
  return out;
}

bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

// buildx sends entry names over gRPC, which refuses a string that is not UTF-8: the build
// fails, so there is no context to compare.
absl::Status CheckNamesSendable(const std::vector<FileEntry>& entries, const BuildRules& rules) {
  if (!rules.utf8_names_only) return absl::OkStatus();
  for (const FileEntry& e : entries) {
    if (ValidUtf8(e.path) && (e.type != FileType::kSymlink || ValidUtf8(e.target))) continue;
    return absl::InvalidArgumentError(absl::StrCat(
        "context file \"", absl::CHexEscape(e.path), "\": its name",
        e.type == FileType::kSymlink ? " or link target" : "", " is not UTF-8, which ", rules.name,
        " cannot send (docker build fails: \"string field contains invalid UTF-8\"); rename it or "
        "exclude it in "
        ".dockerignore"));
  }
  return absl::OkStatus();
}

// The walk and the hashing of a working tree, through its stat cache when there is one: a
// warm walk reads no file, the cache vouches for those whose stat is unchanged, and only the
// rest are read. The cache is written again when anything was read or it was not whole.
absl::StatusOr<WalkedTree> ReadWorktree(const std::string& dir, const IgnoreMatcher& ignore,
                                        const ContextOptions& options, ContextReading* reading) {
  const int64_t started = RealtimeNs();
  const StatCache cache = StatCache::ForContext(dir, options.use_cache);
  const bool warm = cache.Exists();
  absl::StatusOr<WalkedTree> tree =
      WalkTreeWithStats(dir, ignore, options.rules, options.jobs, !warm);
  if (!tree.ok()) return tree.status();
  for (size_t i = 0; i < tree->entries.size(); ++i) {
    if (!tree->stats[i].valid()) continue;
    ++reading->files;
    if (tree->hashed[i]) {
      ++reading->read;
      reading->bytes_read += tree->entries[i].size;
    }
  }
  StatCache::Applied applied;
  if (warm) applied = cache.Apply(*tree);
  reading->from_cache = applied.trusted;
  absl::StatusOr<uint64_t> bytes = HashPending(dir, *tree, options.jobs);
  if (!bytes.ok()) return bytes.status();
  reading->read = reading->files - reading->from_cache;
  reading->bytes_read += *bytes;
  if (cache.enabled() &&
      (reading->read > 0 || !applied.intact || applied.records != reading->files)) {
    cache.Store(*tree, started);
    reading->cache_written = true;
  }
  return tree;
}

}  // namespace

std::string ContextReading::Line() const {
  return absl::StrCat("context: ", files, " files, ", read, " read (", bytes_read, " bytes), ",
                      from_cache, " from the stat cache", cache_written ? ", cache written" : "");
}

absl::StatusOr<Context> LoadContext(const ContextOptions& options) {
  Context ctx;
  ctx.dir = options.dir.empty() ? "." : options.dir;
  ctx.dockerfile =
      options.dockerfile.empty() ? JoinPath(ctx.dir, "Dockerfile") : options.dockerfile;
  struct stat st;
  if (::stat(ctx.dir.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("context directory ", ctx.dir));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("context ", ctx.dir, ": not a directory"));
  }
  ctx.build_rules = options.rules.name;
  ctx.build_rules_chosen_by = options.rules_chosen_by;
  const std::string per_dockerfile = options.rules.per_dockerfile_ignore
                                         ? absl::StrCat(ctx.dockerfile, ".dockerignore")
                                         : std::string();
  const std::string root_ignore = JoinPath(ctx.dir, ".dockerignore");

  if (options.rev.empty()) {
    ctx.source = "worktree";
    // The commit is only reported: asked beside the walk (opening a repository costs
    // milliseconds of start-up).
    std::future<std::optional<std::string>> head =
        std::async(std::launch::async, [dir = ctx.dir] { return HeadCommit(dir); });
    std::string text;
    if (!per_dockerfile.empty() && IsRegularFile(per_dockerfile)) {
      ctx.ignore_file = per_dockerfile;
    } else if (IsRegularFile(root_ignore)) {
      ctx.ignore_file = root_ignore;
    }
    if (!ctx.ignore_file.empty()) {
      if (absl::Status s = ReadSmallFile(ctx.ignore_file, &text); !s.ok()) return s;
    }
    absl::StatusOr<IgnoreMatcher> ignore = CompileIgnore(text, ctx.ignore_file, options.rules);
    if (!ignore.ok()) return ignore.status();
    absl::StatusOr<WalkedTree> tree = ReadWorktree(ctx.dir, *ignore, options, &ctx.reading);
    if (!tree.ok()) return tree.status();
    ctx.entries = std::move(tree->entries);
    ctx.commit = head.get();
    ctx.entries = SettleExcludedDirs(std::move(ctx.entries), *ignore, options.rules.excluded_dir);
    if (absl::Status s = CheckNamesSendable(ctx.entries, options.rules); !s.ok()) return s;
    if (IsRegularFile(ctx.dockerfile)) {
      std::string df;
      if (absl::Status s = ReadSmallFile(ctx.dockerfile, &df); !s.ok()) return s;
      ctx.dockerfile_text = std::move(df);
    }
    std::string dir = ctx.dir;
    ctx.read_file = [dir](const std::string& rel) -> absl::StatusOr<std::string> {
      const std::string path = JoinPath(dir, rel);
      struct stat fst;
      if (::lstat(path.c_str(), &fst) != 0)
        return ErrnoStatus(errno, absl::StrCat("reading ", path));
      std::string data;
      if (!S_ISREG(fst.st_mode)) return data;  // a special file is never opened: no bytes are sent
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
    absl::StatusOr<IgnoreMatcher> ignore = CompileIgnore(text, ctx.ignore_file, options.rules);
    if (!ignore.ok()) return ignore.status();
    absl::StatusOr<std::vector<FileEntry>> entries = git->Walk(*ignore, options.jobs);
    if (!entries.ok()) return entries.status();
    ctx.entries = std::move(*entries);
    ctx.entries = SettleExcludedDirs(std::move(ctx.entries), *ignore, options.rules.excluded_dir);
    if (absl::Status s = CheckNamesSendable(ctx.entries, options.rules); !s.ok()) return s;
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
