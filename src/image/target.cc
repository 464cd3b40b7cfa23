#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/image/internal.h"
#include "src/image/readers.h"
#include "stalecheck/cache.h"
#include "stalecheck/hash.h"
#include "stalecheck/image.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

constexpr const char* kTransports[] = {"docker-daemon", "container", "docker-archive", "oci",
                                       "docker",        "tar",       "rootfs"};

bool Exists(const std::string& p, bool* is_dir) {
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) return false;
  *is_dir = S_ISDIR(st.st_mode);
  return true;
}

// "PATH[:TAG]" for docker-archive and oci: the tag is what follows the last ':' when the
// whole string is not itself an existing path.
void SplitPathTag(const std::string& ref, std::string* path, std::string* tag) {
  bool is_dir = false;
  if (Exists(ref, &is_dir)) {
    *path = ref;
    tag->clear();
    return;
  }
  size_t colon = ref.find(':');
  if (colon == std::string::npos) {
    *path = ref;
    tag->clear();
    return;
  }
  *path = ref.substr(0, colon);
  *tag = ref.substr(colon + 1);
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Whether `s` can be an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}).
bool IsTag(const std::string& s) {
  if (s.empty() || s.size() > 128 || s[0] == '.' || s[0] == '-') return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

// "docker-deamon:app:dev" and "tarr:/x.tar" are misspelt transports, not image names: what
// follows the first ':' cannot be a tag, and the word before it is close to a transport.
std::optional<std::string> MisspeltTransport(const std::string& target) {
  size_t colon = target.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  const std::string word = target.substr(0, colon);
  if (word.find_first_of("/.") != std::string::npos || IsTag(target.substr(colon + 1))) return std::nullopt;
  std::optional<std::string> best;
  size_t best_d = 3;
  for (const char* t : kTransports) {
    size_t d = EditDistance(word, t);
    if (d < best_d) {
      best_d = d;
      best = t;
    }
  }
  return best;
}

// docker-archive: the key under which a run that read the archive left what it found, from
// the archive's real path, the tag asked for, and its stat (device, inode, size, mtime and
// ctime in nanoseconds); nullopt when it is no regular file. `settled` says whether its times
// are more than the stat cache's racy margin older than `now_ns`: only then can a later change
// not keep the same key, so only then is the key written.
std::optional<std::string> ArchiveStatKey(const std::string& path, const std::string& tag, int64_t now_ns,
                                          bool* settled) {
  struct stat st;
  char real[PATH_MAX];
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || ::realpath(path.c_str(), real) == nullptr) {
    return std::nullopt;
  }
  const StatKey k = StatKeyOf(st);
  *settled = Settled(k, now_ns);
  const std::string nul(1, '\0');
  return Sha256Of(absl::StrCat("docker-archive stat key v1", nul, real, nul, tag, nul, k.dev, " ", k.ino, " ", k.size,
                               " ", k.mtime_ns, " ", k.ctime_ns));
}

// A target read through the layer cache by its stat key (`stat_key(now, &settled)`): a target
// whose key is recorded is not read again; one read whole (`read()`) keeps its layers, and its
// key when the target is settled and did not change while it was read.
template <typename StatKeyFn, typename ReadFn>
absl::StatusOr<ImageView> ReadByStatKey(const ReadOptions& options, const std::string& transport,
                                        const std::string& path, const StatKeyFn& stat_key, const ReadFn& read) {
  const LayerCache cache = LayerCache::Default(options.use_cache);
  if (!cache.enabled()) return read();
  const int64_t started = RealtimeNs();
  bool settled = false;
  const std::optional<std::string> key = stat_key(started, &settled);
  if (key) {
    absl::StatusOr<std::optional<ImageView>> cached = internal::CachedView(cache, *key, transport, path);
    if (!cached.ok()) return cached.status();
    if (cached->has_value()) return std::move(**cached);
  }
  absl::StatusOr<ImageView> view = read();
  if (!view.ok()) return view;
  bool settled_after = false;
  const bool unchanged = key && stat_key(started, &settled_after) == key;
  internal::CacheView(cache, *view, unchanged && settled ? *key : std::string());
  return view;
}

// The names in a directory, sorted; nullopt when it cannot be read.
std::optional<std::vector<std::string>> SortedNames(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return std::nullopt;
  std::vector<std::string> names;
  while (struct dirent* de = ::readdir(d)) {
    const absl::string_view n = de->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// oci: as ArchiveStatKey, for a layout: its real path, the tag and platform asked for, and the stat of
// oci-layout, index.json, the blob directories and every blob in them (a layout holds what
// every image in it needs, whichever one is asked for: a blob that changed changes the key).
std::optional<std::string> LayoutStatKey(const std::string& path, const std::string& tag, const std::string& platform,
                                         int64_t now_ns, bool* settled) {
  char real[PATH_MAX];
  if (::realpath(path.c_str(), real) == nullptr) return std::nullopt;
  const std::string nul(1, '\0');
  std::string text = absl::StrCat("oci layout stat key v1", nul, real, nul, tag, nul, platform);
  *settled = true;
  auto add = [&](const std::string& rel, bool regular) {
    struct stat st;
    if (::lstat(JoinPath(real, rel).c_str(), &st) != 0) return false;
    if (regular ? !S_ISREG(st.st_mode) : !S_ISDIR(st.st_mode)) return false;
    const StatKey k = StatKeyOf(st);
    *settled = *settled && Settled(k, now_ns);
    absl::StrAppend(&text, nul, rel, nul, k.dev, " ", k.ino, " ", k.size, " ", k.mtime_ns, " ", k.ctime_ns);
    return true;
  };
  if (!add("oci-layout", true) || !add("index.json", true) || !add("blobs", false)) return std::nullopt;
  const std::optional<std::vector<std::string>> algorithms = SortedNames(JoinPath(real, "blobs"));
  if (!algorithms) return std::nullopt;
  for (const std::string& a : *algorithms) {
    const std::string dir = JoinPath("blobs", a);
    if (!add(dir, false)) return std::nullopt;
    const std::optional<std::vector<std::string>> blobs = SortedNames(JoinPath(real, dir));
    if (!blobs) return std::nullopt;
    for (const std::string& b : *blobs) {
      if (!add(JoinPath(dir, b), true)) return std::nullopt;
    }
  }
  return Sha256Of(text);
}

}  // namespace

std::string TargetString(const std::string& transport, const std::string& ref) {
  return absl::StrCat(transport, transport == "docker" ? "://" : ":", ref);
}

std::string TargetName::ToString() const { return TargetString(transport, ref); }

absl::StatusOr<TargetName> ParseTarget(const std::string& target) {
  if (target.empty()) return absl::InvalidArgumentError("empty target");
  for (const char* t : kTransports) {
    std::string prefix = absl::StrCat(t, ":");
    if (absl::StartsWith(target, prefix)) {
      TargetName n{t, target.substr(prefix.size())};
      if (n.transport == "docker") {
        if (!absl::StartsWith(n.ref, "//")) {
          return absl::InvalidArgumentError(absl::StrCat("target ", target, ": write docker://HOST/REPO:TAG"));
        }
        n.ref = n.ref.substr(2);
      }
      if (n.ref.empty()) return absl::InvalidArgumentError(absl::StrCat("target ", target, ": nothing after '", t, ":'"));
      return n;
    }
  }
  bool is_dir = false;
  if (!Exists(target, &is_dir)) {
    if (std::optional<std::string> t = MisspeltTransport(target)) {
      return absl::InvalidArgumentError(absl::StrCat("target ", target, ": unknown transport '",
                                                     target.substr(0, target.find(':')), ":'; did you mean ", *t,
                                                     ":? (transports: docker-daemon, container, docker-archive, oci, docker://, tar, rootfs)"));
    }
  } else {
    bool layout = false;
    if (!is_dir) return TargetName{"docker-archive", target};
    if (Exists(target + "/oci-layout", &layout)) return TargetName{"oci", target};
    return absl::InvalidArgumentError(absl::StrCat(
        "target ", target, ": a directory without oci-layout; for an unpacked filesystem write rootfs:", target));
  }
  return TargetName{"docker-daemon", target};
}

absl::StatusOr<ImageView> ReadImage(const TargetName& target, const ReadOptions& options) {
  absl::StatusOr<ImageView> view;
  std::string path, tag;
  if (target.transport == "docker-archive") {
    SplitPathTag(target.ref, &path, &tag);
    view = ReadByStatKey(
        options, "docker-archive", path,
        [&](int64_t now, bool* settled) { return ArchiveStatKey(path, tag, now, settled); },
        [&] { return internal::ReadDockerArchive(path, tag, options.jobs); });
  } else if (target.transport == "oci") {
    SplitPathTag(target.ref, &path, &tag);
    view = ReadByStatKey(
        options, "oci", path,
        [&](int64_t now, bool* settled) { return LayoutStatKey(path, tag, options.platform, now, settled); },
        [&] { return internal::ReadOciLayout(path, tag, options.platform, options.jobs); });
  } else if (target.transport == "tar") {
    view = internal::ReadFlatTar(target.ref);
  } else if (target.transport == "docker-daemon") {
    view = internal::ReadDaemonImage(target.ref, options);
  } else if (target.transport == "docker") {
    view = internal::ReadRegistryImage(target.ref, options);
  } else if (target.transport == "container") {
    view = internal::ReadContainer(target.ref, options);
  } else if (target.transport == "rootfs") {
    view = internal::ReadRootfs(target.ref, options.jobs);
  } else {
    return absl::UnimplementedError(absl::StrCat(
        target.ToString(), ": this transport is not readable yet; save the image "
                          "(docker save -o app.tar IMAGE) and name docker-archive:app.tar"));
  }
  if (!view.ok()) {
    std::string hint;
    if (target.transport == "docker-archive" && absl::StrContains(view.status().message(), "no manifest.json")) {
      hint = absl::StrCat("; a flat filesystem tar (docker export) is read as tar:", target.ref);
    }
    return absl::Status(view.status().code(),
                        absl::StrCat(target.ToString(), ": ", view.status().message(), hint));
  }
  // A platform the target cannot satisfy is an error, never ignored (an OCI layout chose by it).
  if (!options.platform.empty() && target.transport != "oci" && target.transport != "docker") {
    const std::string have = view->config.is_object() ? internal::PlatformString(view->config) : std::string();
    if (have.empty() || have == "/" || !internal::PlatformMatches(have, options.platform)) {
      return absl::InvalidArgumentError(absl::StrCat(
          target.ToString(), ": --platform ", options.platform, ": the image is ",
          have.empty() || have == "/" ? std::string("of no stated platform") : have));
    }
  }
  view->transport = target.transport;
  view->ref = target.ref;
  return view;
}

bool BuiltByLegacyBuilder(const ImageView& view) {
  for (auto it = view.history.rbegin(); it != view.history.rend(); ++it) {
    if (!it->created_by) continue;
    return it->comment.value_or("") != "buildkit.dockerfile.v0";
  }
  return false;
}

}  // namespace stalecheck
