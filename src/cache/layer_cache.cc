#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "stalecheck/cache.h"
#include "stalecheck/hash.h"
#include "stalecheck/util.h"
#include "src/cache/internal.h"

namespace stalecheck {
namespace {

// The format, and the digest format entries carry: a change to either is another file name.
constexpr char kMagic[] = "stalecheck layer index v1 xxh128\n";

using cache_internal::PutU64;

void PutStr(std::string& out, const std::string& s) {
  PutU64(out, s.size());
  out += s;
}

struct Reader {
  const std::string& in;
  size_t at = 0;
  bool ok = true;
  uint64_t U64() {
    if (at + 8 > in.size()) {
      ok = false;
      return 0;
    }
    const uint64_t v = cache_internal::GetU64(in.data() + at);
    at += 8;
    return v;
  }
  std::string Str() {
    uint64_t n = U64();
    if (!ok || n > in.size() - at) {
      ok = false;
      return "";
    }
    std::string s = in.substr(at, n);
    at += n;
    return s;
  }
};

bool IsSha256(const std::string& d) {
  return absl::StartsWith(d, "sha256:") && d.size() == 71 &&
         d.find_first_not_of("0123456789abcdef", 7) == std::string::npos;
}

}  // namespace

namespace cache_internal {

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

void MakeDirs(const std::string& dir) {
  std::string p;
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i == dir.size() || dir[i] == '/') {
      p = dir.substr(0, i);
      ::mkdir(p.c_str(), 0700);
    }
  }
}

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  MakeDirs(path.substr(0, path.rfind('/')));
  std::random_device rd;
  tmp_ = absl::StrCat(path, ".tmp.", ::getpid(), ".", rd());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFile::Write(const std::string& bytes) {
  size_t done = 0;
  while (fd_ >= 0 && done < bytes.size()) {
    ssize_t w = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      ::close(fd_);
      ::unlink(tmp_.c_str());
      fd_ = -1;
      return;
    }
    done += static_cast<size_t>(w);
  }
}

bool AtomicFile::Commit() {
  if (fd_ < 0) return false;
  const bool closed = ::close(fd_) == 0;
  fd_ = -1;
  if (closed && ::rename(tmp_.c_str(), path_.c_str()) == 0) return true;
  ::unlink(tmp_.c_str());
  return false;
}

}  // namespace cache_internal

std::string CacheRoot() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && x[0] == '/') return absl::StrCat(x, "/stalecheck");
  if (const char* h = std::getenv("HOME"); h != nullptr && h[0] == '/') return absl::StrCat(h, "/.cache/stalecheck");
  return "";
}

std::string EncodeLayerIndex(const LayerContents& layer) {
  std::string body;
  PutStr(body, layer.diff_id);
  PutU64(body, layer.entries.size());
  for (const LayerEntry& le : layer.entries) {
    const FileEntry& f = le.file;
    PutStr(body, f.path);
    PutU64(body, static_cast<uint64_t>(f.type));
    PutU64(body, f.mode);
    PutU64(body, f.size);
    PutU64(body, f.digest.high);
    PutU64(body, f.digest.low);
    PutStr(body, f.target);
    PutU64(body, static_cast<uint64_t>(f.mtime));
    PutStr(body, f.head);
    PutStr(body, le.hardlink);
  }
  PutU64(body, layer.whiteouts.size());
  for (const std::string& w : layer.whiteouts) PutStr(body, w);
  PutU64(body, layer.opaque_dirs.size());
  for (const std::string& o : layer.opaque_dirs) PutStr(body, o);
  const Digest128 sum = HashBytes(body);
  std::string out = kMagic;
  out += body;
  PutU64(out, sum.high);
  PutU64(out, sum.low);
  return out;
}

std::optional<LayerContents> DecodeLayerIndex(const std::string& file) {
  const size_t magic = std::strlen(kMagic);
  if (file.size() < magic + 16 || file.compare(0, magic, kMagic) != 0) return std::nullopt;
  const std::string body = file.substr(magic, file.size() - magic - 16);
  Reader tail{file, file.size() - 16};
  Digest128 want;
  want.high = tail.U64();
  want.low = tail.U64();
  if (!(HashBytes(body) == want)) return std::nullopt;
  Reader r{body};
  LayerContents out;
  out.diff_id = r.Str();
  uint64_t n = r.U64();
  if (!r.ok || n > body.size()) return std::nullopt;
  out.entries.reserve(n);
  for (uint64_t i = 0; i < n && r.ok; ++i) {
    LayerEntry le;
    le.file.path = r.Str();
    uint64_t type = r.U64();
    if (type > static_cast<uint64_t>(FileType::kSpecial)) return std::nullopt;
    le.file.type = static_cast<FileType>(type);
    le.file.mode = static_cast<uint32_t>(r.U64());
    le.file.size = r.U64();
    le.file.digest.high = r.U64();
    le.file.digest.low = r.U64();
    le.file.target = r.Str();
    le.file.mtime = static_cast<int64_t>(r.U64());
    le.file.head = r.Str();
    le.hardlink = r.Str();
    out.entries.push_back(std::move(le));
  }
  for (auto* list : {&out.whiteouts, &out.opaque_dirs}) {
    uint64_t k = r.U64();
    if (!r.ok || k > body.size()) return std::nullopt;
    for (uint64_t i = 0; i < k && r.ok; ++i) list->push_back(r.Str());
  }
  if (!r.ok || r.at != body.size() || !IsSha256(out.diff_id)) return std::nullopt;
  out.blob_digest = out.diff_id;
  return out;
}

LayerCache::LayerCache(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {}

LayerCache LayerCache::Default(bool enabled) { return LayerCache(enabled ? CacheRoot() : std::string()); }

std::string LayerCache::PathOf(const char* kind, const std::string& digest) const {
  return absl::StrCat(dir_, "/", kind, "/", digest.substr(7));
}

std::optional<std::string> LayerCache::Load(const std::string& path) const {
  std::string data;
  if (!ReadSmallFile(path, &data, size_t{1} << 30).ok()) return std::nullopt;
  ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // recently used
  return data;
}

void LayerCache::Store(const std::string& path, const std::string& body) const {
  cache_internal::AtomicFile file(path);
  file.Write(body);
  file.Commit();
}

void LayerCache::Evict() const {
  struct Item {
    std::string path;
    int64_t used;
    uint64_t size;
  };
  std::vector<Item> items;
  uint64_t total = 0;
  for (const char* kind : {"layers", "images", "context", "programs"}) {
    const std::string dir = absl::StrCat(dir_, "/", kind);
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) continue;
    while (struct dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string p = absl::StrCat(dir, "/", e->d_name);
      struct stat st;
      if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      items.push_back({p, static_cast<int64_t>(st.st_mtime), static_cast<uint64_t>(st.st_size)});
      total += static_cast<uint64_t>(st.st_size);
    }
    ::closedir(d);
  }
  if (total <= max_bytes_) return;
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.used < b.used; });
  for (const Item& it : items) {
    if (total <= max_bytes_) break;
    if (::unlink(it.path.c_str()) == 0) total -= it.size;
  }
}

std::optional<LayerContents> LayerCache::Get(const std::string& diff_id) const {
  if (!enabled() || !IsSha256(diff_id)) return std::nullopt;
  const std::string path = PathOf("layers", diff_id);
  std::optional<std::string> data = Load(path);
  if (!data) return std::nullopt;
  std::optional<LayerContents> layer = DecodeLayerIndex(*data);
  if (!layer || layer->diff_id != diff_id) {
    ::unlink(path.c_str());  // corrupt, truncated or misplaced: never trusted
    return std::nullopt;
  }
  return layer;
}

void LayerCache::Put(const LayerContents& layer) const {
  if (!enabled() || !IsSha256(layer.diff_id)) return;
  Store(PathOf("layers", layer.diff_id), EncodeLayerIndex(layer));
  Evict();
}

std::optional<std::string> LayerCache::GetRecord(const std::string& key, const char* kind) const {
  if (!enabled() || !IsSha256(key)) return std::nullopt;
  const std::string path = PathOf(kind, key);
  std::optional<std::string> data = Load(path);
  if (!data || data->size() < 16) return std::nullopt;
  Reader tail{*data, data->size() - 16};
  Digest128 want;
  want.high = tail.U64();
  want.low = tail.U64();
  std::string body = data->substr(0, data->size() - 16);
  if (!(HashBytes(body) == want)) {
    ::unlink(path.c_str());
    return std::nullopt;
  }
  return body;
}

void LayerCache::PutRecord(const std::string& key, const std::string& bytes, const char* kind) const {
  if (!enabled() || !IsSha256(key)) return;
  std::string body = bytes;
  const Digest128 sum = HashBytes(bytes);
  PutU64(body, sum.high);
  PutU64(body, sum.low);
  Store(PathOf(kind, key), body);
}

}  // namespace stalecheck
