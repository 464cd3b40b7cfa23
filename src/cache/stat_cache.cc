#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "stalecheck/cache.h"
#include "stalecheck/hash.h"
#include "stalecheck/util.h"
#include "src/cache/internal.h"

namespace stalecheck {
namespace {

// The format and the digest format it keeps: a change to either is another magic.
constexpr char kMagic[] = "stalecheck stat cache v1 xxh128\n";
constexpr size_t kBlockBytes = 64 << 10;
constexpr size_t kMaxBlockBytes = 1 << 20;

using cache_internal::GetU64;
using cache_internal::PutU64;

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

struct Cursor {
  const std::string& in;
  size_t at = 0;
  bool ok = true;
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at >= in.size()) break;
      const unsigned char c = static_cast<unsigned char>(in[at++]);
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if ((c & 0x80) == 0) return v;
    }
    ok = false;
    return 0;
  }
  uint64_t Fixed() {
    if (in.size() - at < 8) {
      ok = false;
      return 0;
    }
    const uint64_t v = GetU64(in.data() + at);
    at += 8;
    return v;
  }
};

uint64_t Checksum(const std::string& bytes) { return HashBytes(bytes).low; }

std::string Header(const std::string& key, int64_t written_ns) {
  std::string h = kMagic;
  PutU64(h, key.size());
  h += key;
  PutU64(h, static_cast<uint64_t>(written_ns));
  PutU64(h, Checksum(h));
  return h;
}

// Reads exactly n bytes; false at the end of the file or on an error.
bool ReadExactly(std::FILE* f, size_t n, std::string* out) {
  out->resize(n);
  return n == 0 || std::fread(out->data(), 1, n, f) == n;
}

std::string RealPath(const std::string& dir) {
  char buf[PATH_MAX];
  return ::realpath(dir.c_str(), buf) != nullptr ? std::string(buf) : std::string();
}

}  // namespace

bool Settled(const StatKey& key, int64_t ns) {
  return std::max(key.mtime_ns, key.ctime_ns) < ns - StatCache::kRacyMarginNs;
}

int64_t RealtimeNs() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * int64_t{1000000000} + ts.tv_nsec;
}

StatCache::StatCache(std::string file, std::string key) : file_(std::move(file)), key_(std::move(key)) {}

StatCache StatCache::ForContext(const std::string& dir, bool enabled) {
  const std::string root = enabled ? CacheRoot() : std::string();
  const std::string real = RealPath(dir);
  if (root.empty() || real.empty()) return StatCache("", "");
  // The cache must not be written into the context it describes.
  const std::string root_real = RealPath(root);
  for (const std::string& r : {root, root_real}) {
    if (!r.empty() && (r == real || absl::StartsWith(r, real == "/" ? real : real + "/"))) return StatCache("", "");
  }
  return StatCache(absl::StrCat(root, "/context/", HashBytes(real).Hex()), real);
}

bool StatCache::Exists() const {
  struct stat st;
  return enabled() && ::stat(file_.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

StatCache::Applied StatCache::Apply(WalkedTree& tree) const {
  Applied out;
  if (!enabled()) return out;
  std::FILE* f = std::fopen(file_.c_str(), "rbe");
  if (f == nullptr) return out;
  bool bad = false;
  std::string buf;
  // The header: magic, key, the time its walk began, a checksum.
  const size_t magic = std::strlen(kMagic);
  std::string head;
  int64_t written_ns = 0;
  if (!ReadExactly(f, magic + 8, &head) || head.compare(0, magic, kMagic) != 0) {
    bad = true;
  } else {
    const uint64_t key_len = GetU64(head.data() + magic);
    if (key_len != key_.size() || !ReadExactly(f, key_len + 16, &buf) || buf.compare(0, key_len, key_) != 0) {
      bad = true;
    } else {
      written_ns = static_cast<int64_t>(GetU64(buf.data() + key_len));
      if (Header(key_, written_ns) != head + buf) bad = true;
    }
  }
  std::string prev;
  std::string block, len_bytes;
  size_t i = 0;
  const size_t n = tree.entries.size();
  while (!bad) {
    if (!ReadExactly(f, 8, &len_bytes)) {
      bad = true;  // truncated: no end marker
      break;
    }
    const uint64_t len = GetU64(len_bytes.data());
    if (len == 0) {  // the end: the number of records follows
      bad = !ReadExactly(f, 8, &len_bytes) || GetU64(len_bytes.data()) != out.records;
      out.intact = !bad;
      break;
    }
    if (len > kMaxBlockBytes || !ReadExactly(f, len + 8, &block) ||
        GetU64(block.data() + len) != HashBytes(absl::string_view(block.data(), len)).low) {
      bad = true;
      break;
    }
    block.resize(len);
    Cursor c{block};
    while (c.ok && c.at < block.size()) {
      const uint64_t shared = c.Varint();
      const uint64_t suffix = c.Varint();
      if (!c.ok || shared > prev.size() || suffix > block.size() - c.at) {
        c.ok = false;
        break;
      }
      prev.resize(shared);
      prev.append(block, c.at, suffix);
      c.at += suffix;
      StatKey key;
      key.dev = c.Varint();
      key.ino = c.Varint();
      key.size = c.Varint();
      key.mtime_ns = static_cast<int64_t>(c.Varint());
      key.ctime_ns = static_cast<int64_t>(c.Varint());
      Digest128 digest;
      digest.high = c.Fixed();
      digest.low = c.Fixed();
      if (!c.ok) break;
      ++out.records;
      while (i < n && tree.entries[i].path < prev) ++i;
      if (i == n || tree.entries[i].path != prev) continue;
      FileEntry& e = tree.entries[i];
      if (e.type != FileType::kFile || tree.hashed[i] || !tree.stats[i].valid() || !(tree.stats[i] == key)) continue;
      if (!Settled(key, written_ns)) continue;  // racily clean
      e.digest = digest;
      tree.hashed[i] = 1;
      ++out.trusted;
    }
    if (!c.ok) bad = true;
  }
  std::fclose(f);
  if (bad) {
    ::unlink(file_.c_str());  // never trusted again; the caller writes a new one
  } else {
    ::utimensat(AT_FDCWD, file_.c_str(), nullptr, 0);  // recently used, for eviction
  }
  return out;
}

void StatCache::Store(const WalkedTree& tree, int64_t walk_started_ns) const {
  if (!enabled()) return;
  cache_internal::AtomicFile file(file_);
  if (!file.ok()) return;
  file.Write(Header(key_, walk_started_ns));
  std::string block, framed;
  uint64_t records = 0;
  const std::string* prev = nullptr;
  auto flush = [&] {
    if (block.empty()) return;
    framed.clear();
    PutU64(framed, block.size());
    framed += block;
    PutU64(framed, Checksum(block));
    file.Write(framed);
    block.clear();
  };
  for (size_t i = 0; i < tree.entries.size(); ++i) {
    const FileEntry& e = tree.entries[i];
    const StatKey& k = tree.stats[i];
    if (e.type != FileType::kFile || !tree.hashed[i] || !k.valid()) continue;
    size_t shared = 0;
    if (prev != nullptr) {
      const size_t most = std::min(prev->size(), e.path.size());
      while (shared < most && (*prev)[shared] == e.path[shared]) ++shared;
    }
    PutVarint(block, shared);
    PutVarint(block, e.path.size() - shared);
    block.append(e.path, shared, std::string::npos);
    PutVarint(block, k.dev);
    PutVarint(block, k.ino);
    PutVarint(block, k.size);
    PutVarint(block, static_cast<uint64_t>(k.mtime_ns));
    PutVarint(block, static_cast<uint64_t>(k.ctime_ns));
    PutU64(block, e.digest.high);
    PutU64(block, e.digest.low);
    prev = &e.path;
    ++records;
    if (block.size() >= kBlockBytes) flush();
  }
  flush();
  framed.clear();
  PutU64(framed, 0);
  PutU64(framed, records);
  file.Write(framed);
  file.Commit();
}

}  // namespace stalecheck
