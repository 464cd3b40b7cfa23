#include "src/git/object_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "stalecheck/util.h"

namespace stalecheck::git {
namespace {

constexpr size_t kChunk = 128 << 10;      // pread and inflate piece
constexpr size_t kSmallObject = 1 << 20;  // larger buffers take turns between threads
constexpr size_t kCacheLimit = 4 << 20;   // small delta bases kept for reuse, in all
constexpr size_t kMapped = 256 << 10;     // buffers from this size on are mapped directly
constexpr size_t kMaxChain = 10000;       // deltas between an object and its whole base

// Pack entry types (gitformat-pack).
constexpr int kBlob = 3;
constexpr int kOfsDelta = 6;
constexpr int kRefDelta = 7;

std::string HexOf(const ObjectId& id) {
  static const char* kDigits = "0123456789abcdef";
  std::string hex(40, '0');
  for (int i = 0; i < 20; ++i) {
    hex[2 * i] = kDigits[id.bytes[i] >> 4];
    hex[2 * i + 1] = kDigits[id.bytes[i] & 15];
  }
  return hex;
}

uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

absl::Status Corrupt(absl::string_view where, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(where, ": ", what));
}

absl::Status PReadFull(int fd, uint64_t offset, size_t n, uint8_t* out, const std::string& where) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, out + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("reading ", where));
    }
    if (r == 0) return Corrupt(where, "truncated");
    got += static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

// One pack and its version-2 index (gitformat-pack: fan-out, names, CRCs, 32-bit offsets,
// 64-bit offsets, two checksums).
struct Pack {
  std::string path;  // of the .pack, for messages
  UniqueFd fd;
  uint64_t size = 0;
  const uint8_t* idx = nullptr;
  size_t idx_size = 0;
  uint32_t count = 0;
  std::vector<uint64_t> ends;  // every object's offset in order, then the trailer's: an
                               // object's compressed data ends where the next one starts

  Pack() = default;
  Pack(const Pack&) = delete;
  Pack& operator=(const Pack&) = delete;
  ~Pack() {
    if (idx != nullptr) ::munmap(const_cast<uint8_t*>(idx), idx_size);
  }

  const uint8_t* Names() const { return idx + 8 + 1024; }
  const uint8_t* Offsets32() const { return idx + 8 + 1024 + size_t{count} * 24; }
  const uint8_t* Offsets64() const { return idx + 8 + 1024 + size_t{count} * 28; }

  // The pack offset of the k-th object of the index, or nullopt when the index points
  // outside itself.
  std::optional<uint64_t> OffsetAt(uint32_t k) const {
    uint32_t o = Be32(Offsets32() + 4 * size_t{k});
    if ((o & 0x80000000u) == 0) return o;
    size_t at = 8 + 1024 + size_t{count} * 28 + 8 * size_t{o & 0x7fffffffu};
    if (at + 8 > idx_size - 40) return std::nullopt;
    return (uint64_t{Be32(idx + at)} << 32) | Be32(idx + at + 4);
  }

  std::optional<uint64_t> Find(const ObjectId& id) const {
    const uint8_t* fan = idx + 8;
    uint32_t lo = id.bytes[0] == 0 ? 0 : Be32(fan + 4 * (id.bytes[0] - 1));
    uint32_t hi = Be32(fan + 4 * id.bytes[0]);
    const uint8_t* names = Names();
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2;
      int c = std::memcmp(names + 20 * size_t{mid}, id.bytes, 20);
      if (c == 0) return OffsetAt(mid);
      if (c < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return std::nullopt;
  }

  uint64_t EndOf(uint64_t offset) const {
    auto it = std::upper_bound(ends.begin(), ends.end(), offset);
    return it == ends.end() ? ends.back() : *it;
  }
};

// Opens one pack; nullptr (not an error) for anything this reader does not handle, so that
// libgit2 is asked for its objects instead.
std::unique_ptr<Pack> OpenPack(const std::string& idx_path, const std::string& pack_path) {
  auto pack = std::make_unique<Pack>();
  pack->path = pack_path;
  UniqueFd idx_fd(::open(idx_path.c_str(), O_RDONLY | O_CLOEXEC));
  pack->fd = UniqueFd(::open(pack_path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat ist, pst;
  if (!idx_fd.valid() || !pack->fd.valid() || ::fstat(idx_fd.get(), &ist) != 0 ||
      ::fstat(pack->fd.get(), &pst) != 0 || ist.st_size < 8 + 1024 + 40 || pst.st_size < 12 + 20) {
    return nullptr;
  }
  pack->size = static_cast<uint64_t>(pst.st_size);
  pack->idx_size = static_cast<size_t>(ist.st_size);
  void* map = ::mmap(nullptr, pack->idx_size, PROT_READ, MAP_PRIVATE, idx_fd.get(), 0);
  if (map == MAP_FAILED) return nullptr;
  pack->idx = static_cast<const uint8_t*>(map);
  const uint8_t* p = pack->idx;
  if (!(p[0] == 0xff && p[1] == 't' && p[2] == 'O' && p[3] == 'c') || Be32(p + 4) != 2)
    return nullptr;
  uint32_t prev = 0;
  for (int i = 0; i < 256; ++i) {
    uint32_t f = Be32(p + 8 + 4 * i);
    if (f < prev) return nullptr;
    prev = f;
  }
  pack->count = prev;
  if (pack->idx_size < 8 + 1024 + size_t{pack->count} * 28 + 40) return nullptr;
  uint8_t head[12];
  if (!PReadFull(pack->fd.get(), 0, 12, head, pack_path).ok() ||
      std::memcmp(head, "PACK", 4) != 0 || (Be32(head + 4) != 2 && Be32(head + 4) != 3) ||
      Be32(head + 8) != pack->count) {
    return nullptr;
  }
  uint64_t trailer = pack->size - 20;
  pack->ends.reserve(size_t{pack->count} + 1);
  for (uint32_t k = 0; k < pack->count; ++k) {
    std::optional<uint64_t> o = pack->OffsetAt(k);
    if (!o || *o < 12 || *o >= trailer) return nullptr;
    pack->ends.push_back(*o);
  }
  std::sort(pack->ends.begin(), pack->ends.end());
  pack->ends.push_back(trailer);
  return pack;
}

// Where an object is: a pack and an offset, or loose (pack == -1).
struct Location {
  int pack = -1;
  uint64_t offset = 0;
  ObjectId id{};
};

// A pack entry's header.
struct Entry {
  int type = 0;
  uint64_t size = 0;        // inflated size of the entry's data (for a delta: of the delta)
  uint64_t data_begin = 0;  // the zlib stream
  uint64_t data_end = 0;
  uint64_t base_offset = 0;  // offset delta
  ObjectId base_id{};        // reference delta
};

// A buffer of fixed capacity. Large ones are mapped from the OS and unmapped when freed:
// malloc would keep them once its adaptive mmap threshold has grown past their size, and
// peak memory is what this reader exists to bound.
class Bytes {
 public:
  Bytes() = default;

  // Errors: the OS refuses the memory (sizes come from the repository, so this is an error,
  // not an exception).
  static absl::StatusOr<Bytes> Make(uint64_t capacity) {
    Bytes b;
    if (capacity >= kMapped) {
      // Populated at once: one call is cheaper than a page fault per page.
      void* p = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
      if (p == MAP_FAILED) {
        return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", capacity, " bytes"));
      }
      b.data_ = static_cast<char*>(p);
      b.mapped_ = true;
    } else if (capacity > 0) {
      b.data_ = new char[capacity];
    }
    b.cap_ = capacity;
    return b;
  }
  Bytes(Bytes&& o) noexcept { Swap(o); }
  Bytes& operator=(Bytes&& o) noexcept {
    Bytes(std::move(o)).Swap(*this);
    return *this;
  }
  ~Bytes() {
    if (mapped_) {
      ::munmap(data_, cap_);
    } else {
      delete[] data_;
    }
  }
  // Appends what fits; false if `piece` did not fit whole.
  bool Append(absl::string_view piece) {
    if (piece.size() > cap_ - size_) return false;
    std::memcpy(data_ + size_, piece.data(), piece.size());
    size_ += piece.size();
    return true;
  }
  absl::string_view view() const { return absl::string_view(data_, size_); }
  size_t size() const { return size_; }

 private:
  void Swap(Bytes& o) {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(cap_, o.cap_);
    std::swap(mapped_, o.mapped_);
  }
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
  bool mapped_ = false;
};

// An object's bytes, whole in memory, with its pack type (1..4).
struct Object {
  int type = 0;
  Bytes bytes;
};
using Buffer = std::shared_ptr<const Object>;

// Recently built small delta bases (at most kSmallObject each), by pack and offset, shared
// by all threads.
class BaseCache {
 public:
  Buffer Get(int pack, uint64_t offset) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find({pack, offset});
    if (it == map_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }

  void Put(int pack, uint64_t offset, Buffer value) {
    if (value->bytes.size() > kSmallObject) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.contains({pack, offset})) return;
    bytes_ += value->bytes.size();
    lru_.emplace_front(std::make_pair(pack, offset), std::move(value));
    map_[{pack, offset}] = lru_.begin();
    while (bytes_ > kCacheLimit && !lru_.empty()) {
      bytes_ -= lru_.back().second->bytes.size();
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }

 private:
  using Key = std::pair<int, uint64_t>;
  std::mutex mu_;
  std::list<std::pair<Key, Buffer>> lru_;
  absl::flat_hash_map<Key, std::list<std::pair<Key, Buffer>>::iterator> map_;
  size_t bytes_ = 0;
};

// The pack type code of a loose object's type name; 0 for none.
int LooseTypeCode(absl::string_view name) {
  if (name == "commit") return 1;
  if (name == "tree") return 2;
  if (name == "blob") return kBlob;
  if (name == "tag") return 4;
  return 0;
}

// Reads a varint of a delta header (little-endian base-128).
bool DeltaVarint(const uint8_t*& p, const uint8_t* end, uint64_t* out) {
  uint64_t v = 0;
  int shift = 0;
  while (p < end && shift < 64) {
    uint8_t c = *p++;
    v |= uint64_t{c & 0x7fu} << shift;
    shift += 7;
    if ((c & 0x80) == 0) {
      *out = v;
      return true;
    }
  }
  return false;
}

// Walks a delta's instructions (gitformat-pack "Deltified representation"), checking each
// against the sizes in its header and the base's `base_size`: `copy(offset, length)` for a
// range of the base, `insert(bytes)` for literal bytes. Returns the result's size.
template <typename Copy, typename Insert>
absl::StatusOr<uint64_t> WalkDelta(absl::string_view delta, uint64_t base_size, Copy copy,
                                   Insert insert, const std::string& where) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(delta.data());
  const uint8_t* end = p + delta.size();
  uint64_t header_base = 0, result_size = 0;
  if (!DeltaVarint(p, end, &header_base) || !DeltaVarint(p, end, &result_size)) {
    return Corrupt(where, "bad delta header");
  }
  if (header_base != base_size) return Corrupt(where, "delta base has the wrong size");
  uint64_t out = 0;
  while (p < end) {
    uint8_t cmd = *p++;
    if (cmd & 0x80) {
      uint64_t off = 0, len = 0;
      for (int i = 0; i < 4; ++i) {
        if (cmd & (1u << i)) {
          if (p == end) return Corrupt(where, "truncated delta");
          off |= uint64_t{*p++} << (8 * i);
        }
      }
      for (int i = 0; i < 3; ++i) {
        if (cmd & (0x10u << i)) {
          if (p == end) return Corrupt(where, "truncated delta");
          len |= uint64_t{*p++} << (8 * i);
        }
      }
      if (len == 0) len = 0x10000;
      if (off > base_size || len > base_size - off) {
        return Corrupt(where, "delta copies outside its base");
      }
      if (len > result_size - out) return Corrupt(where, "delta overruns its result");
      if (absl::Status s = copy(off, len); !s.ok()) return s;
      out += len;
    } else if (cmd != 0) {
      if (cmd > end - p) return Corrupt(where, "truncated delta");
      if (cmd > result_size - out) return Corrupt(where, "delta overruns its result");
      insert(absl::string_view(reinterpret_cast<const char*>(p), cmd));
      p += cmd;
      out += cmd;
    } else {
      return Corrupt(where, "reserved delta opcode 0");
    }
  }
  if (out != result_size) return Corrupt(where, "delta result has the wrong size");
  return out;
}

// Applies a delta to a base whole in memory, handing the result to `emit` piece by piece;
// returns the result's size.
absl::StatusOr<uint64_t> ApplyDelta(absl::string_view base, absl::string_view delta,
                                    const std::function<void(absl::string_view)>& emit,
                                    const std::string& where) {
  return WalkDelta(
      delta, base.size(),
      [&](uint64_t off, uint64_t len) {
        emit(base.substr(off, len));
        return absl::OkStatus();
      },
      emit, where);
}

// The ranges of a base that one delta copies from, sorted and merged, each with where it
// sits in a buffer that holds only them.
struct Span {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t at = 0;
};

absl::StatusOr<std::vector<Span>> CopiedSpans(absl::string_view delta, uint64_t base_size,
                                              const std::string& where) {
  std::vector<Span> spans;
  absl::StatusOr<uint64_t> n = WalkDelta(
      delta, base_size,
      [&](uint64_t off, uint64_t len) {
        spans.push_back({off, off + len, 0});
        return absl::OkStatus();
      },
      [](absl::string_view) {}, where);
  if (!n.ok()) return n.status();
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });
  std::vector<Span> merged;
  uint64_t at = 0;
  for (const Span& s : spans) {
    if (!merged.empty() && s.begin <= merged.back().end) {
      if (s.end > merged.back().end) {
        at += s.end - merged.back().end;
        merged.back().end = s.end;
      }
      continue;
    }
    merged.push_back({s.begin, s.end, at});
    at += s.end - s.begin;
  }
  return merged;
}

// Large objects (over kSmallObject) take turns between threads, so that memory is bounded by
// the large objects of one delta chain, not by one chain per thread. Large bases built for a
// read stay for the rest of their delta family (git writes a family together, and blobs are
// read in pack order), up to kLargeKept bytes and kLargeSlots objects.
constexpr size_t kLargeKept = 8 << 20;
constexpr size_t kLargeSlots = 8;

uint64_t SlotKey(int pack, uint64_t offset) { return (static_cast<uint64_t>(pack) << 48) | offset; }

struct LargeObjects {
  std::mutex mu;
  // The keys of the kept objects, readable without the lock to skip it cheaply.
  std::array<std::atomic<uint64_t>, kLargeSlots> keys;
  std::array<Buffer, kLargeSlots> objects;     // guarded by mu
  std::array<uint64_t, kLargeSlots> last_use;  // guarded by mu
  uint64_t clock = 0;                          // guarded by mu
  size_t bytes = 0;                            // guarded by mu

  LargeObjects() {
    for (auto& k : keys) k.store(UINT64_MAX, std::memory_order_relaxed);
  }

  void Drop(size_t i) {
    bytes -= objects[i]->bytes.size();
    objects[i].reset();
    keys[i].store(UINT64_MAX, std::memory_order_relaxed);
  }
};

// One read's turn on LargeObjects: taken before its first large buffer, kept to the end.
class LargeTurn {
 public:
  explicit LargeTurn(LargeObjects& large) : large_(large), lock_(large.mu, std::defer_lock) {}

  // Called before allocating `size` bytes: a large buffer takes the turn, and kept objects
  // make room for it, least recently used first.
  void Reserve(uint64_t size) {
    if (size <= kSmallObject) return;
    Lock();
    while (large_.bytes > 0 && large_.bytes + size > kLargeKept) large_.Drop(Oldest());
  }

  // The kept object at (pack, offset), if any.
  Buffer Find(int pack, uint64_t offset) {
    uint64_t key = SlotKey(pack, offset);
    for (size_t i = 0; i < kLargeSlots; ++i) {
      if (large_.keys[i].load(std::memory_order_relaxed) != key) continue;
      Lock();
      if (large_.keys[i].load(std::memory_order_relaxed) != key) return nullptr;
      large_.last_use[i] = ++large_.clock;
      return large_.objects[i];
    }
    return nullptr;
  }

  void Keep(int pack, uint64_t offset, Buffer value) {
    Lock();
    if (value->bytes.size() > kLargeKept) return;
    size_t slot = kLargeSlots;
    for (size_t i = 0; i < kLargeSlots && slot == kLargeSlots; ++i) {
      if (!large_.objects[i]) slot = i;
    }
    if (slot == kLargeSlots) large_.Drop(slot = Oldest());
    while (large_.bytes > 0 && large_.bytes + value->bytes.size() > kLargeKept)
      large_.Drop(Oldest());
    large_.bytes += value->bytes.size();
    large_.objects[slot] = std::move(value);
    large_.last_use[slot] = ++large_.clock;
    large_.keys[slot].store(SlotKey(pack, offset), std::memory_order_relaxed);
  }

 private:
  void Lock() {
    if (!lock_.owns_lock()) lock_.lock();
  }
  // The least recently used kept object; only called while one is kept.
  size_t Oldest() const {
    size_t best = kLargeSlots;
    for (size_t i = 0; i < kLargeSlots; ++i) {
      if (large_.objects[i] && (best == kLargeSlots || large_.last_use[i] < large_.last_use[best]))
        best = i;
    }
    return best;
  }

  LargeObjects& large_;
  std::unique_lock<std::mutex> lock_;
};

}  // namespace

struct ReadScratch::Impl {
  inflate_state state;
  std::vector<uint8_t> in = std::vector<uint8_t>(kChunk);
  std::vector<uint8_t> out = std::vector<uint8_t>(kChunk);
};

ReadScratch::ReadScratch() : impl_(std::make_unique<Impl>()) {}
ReadScratch::~ReadScratch() = default;

struct ObjectReader::Impl {
  std::string objects_dir;
  std::vector<std::unique_ptr<Pack>> packs;  // newest first
  mutable BaseCache cache;
  mutable LargeObjects large;

  std::optional<Location> Locate(const ObjectId& id) const {
    for (size_t i = 0; i < packs.size(); ++i) {
      if (std::optional<uint64_t> o = packs[i]->Find(id))
        return Location{static_cast<int>(i), *o, id};
    }
    std::string hex = HexOf(id);
    std::string path = absl::StrCat(objects_dir, "/", hex.substr(0, 2), "/", hex.substr(2));
    if (::access(path.c_str(), F_OK) == 0) return Location{-1, 0, id};
    return std::nullopt;
  }

  absl::StatusOr<Entry> ReadEntry(const Pack& pack, uint64_t offset) const {
    uint64_t end = pack.EndOf(offset);
    uint8_t head[32];
    size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof head, end - offset));
    if (absl::Status s = PReadFull(pack.fd.get(), offset, n, head, pack.path); !s.ok()) return s;
    const uint8_t* p = head;
    const uint8_t* lim = head + n;
    Entry e;
    if (p == lim) return Corrupt(pack.path, "empty entry");
    uint8_t c = *p++;
    e.type = (c >> 4) & 7;
    e.size = c & 15;
    int shift = 4;
    while (c & 0x80) {
      if (p == lim || shift > 57)
        return Corrupt(pack.path, absl::StrCat("bad entry header at ", offset));
      c = *p++;
      e.size |= uint64_t{c & 0x7fu} << shift;
      shift += 7;
    }
    if (e.type == kOfsDelta) {
      if (p == lim) return Corrupt(pack.path, absl::StrCat("bad delta offset at ", offset));
      c = *p++;
      uint64_t back = c & 127;
      while (c & 128) {
        if (p == lim || back > (uint64_t{1} << 56)) {
          return Corrupt(pack.path, absl::StrCat("bad delta offset at ", offset));
        }
        c = *p++;
        back = ((back + 1) << 7) | (c & 127);
      }
      if (back == 0 || back > offset)
        return Corrupt(pack.path, absl::StrCat("bad delta offset at ", offset));
      e.base_offset = offset - back;
    } else if (e.type == kRefDelta) {
      if (lim - p < 20) return Corrupt(pack.path, absl::StrCat("bad delta base at ", offset));
      std::memcpy(e.base_id.bytes, p, 20);
      p += 20;
    } else if (e.type < 1 || e.type > 4) {
      return Corrupt(pack.path, absl::StrCat("unknown entry type ", e.type, " at ", offset));
    }
    e.data_begin = offset + static_cast<uint64_t>(p - head);
    e.data_end = end;
    // Deflate expands at most 1032 times: a larger size is a damaged header, and must not
    // become an allocation.
    if (e.size / 1032 > e.data_end - e.data_begin) {
      return Corrupt(pack.path,
                     absl::StrCat("entry at ", offset, " claims more bytes than its data holds"));
    }
    return e;
  }

  // Inflates the zlib stream in [begin, end) of `fd`, handing the output to `out` in pieces;
  // returns the inflated size. `limit` bounds the output (a larger stream is corrupt).
  absl::StatusOr<uint64_t> Inflate(int fd, uint64_t begin, uint64_t end, uint64_t limit,
                                   ReadScratch& scratch,
                                   const std::function<absl::Status(absl::string_view)>& out,
                                   const std::string& where) const {
    ReadScratch::Impl& s = *scratch.impl_;
    isal_inflate_init(&s.state);
    s.state.crc_flag = ISAL_ZLIB;
    uint64_t pos = begin;
    uint64_t total = 0;
    for (;;) {
      if (s.state.avail_in == 0 && pos < end) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, end - pos));
        if (absl::Status st = PReadFull(fd, pos, n, s.in.data(), where); !st.ok()) return st;
        pos += n;
        s.state.next_in = s.in.data();
        s.state.avail_in = static_cast<uint32_t>(n);
      }
      uint32_t before_in = s.state.avail_in;
      s.state.next_out = s.out.data();
      s.state.avail_out = static_cast<uint32_t>(s.out.size());
      int ret = isal_inflate(&s.state);
      if (ret != ISAL_DECOMP_OK)
        return Corrupt(where, absl::StrCat("corrupt zlib stream (isal error ", ret, ")"));
      size_t produced = s.out.size() - s.state.avail_out;
      if (produced > 0) {
        if (produced > limit - total) return Corrupt(where, "object larger than its header says");
        total += produced;
        if (absl::Status st =
                out(absl::string_view(reinterpret_cast<const char*>(s.out.data()), produced));
            !st.ok()) {
          return st;
        }
      }
      if (s.state.block_state == ISAL_BLOCK_FINISH) return total;
      if (produced == 0 && s.state.avail_in == before_in && (pos >= end || before_in != 0)) {
        return Corrupt(where, "truncated zlib stream");
      }
    }
  }

  // The whole inflated data of a pack entry (a whole object or a delta).
  absl::StatusOr<Bytes> InflateEntry(const Pack& pack, const Entry& e, ReadScratch& scratch,
                                     LargeTurn& turn) const {
    turn.Reserve(e.size);
    absl::StatusOr<Bytes> data = Bytes::Make(e.size);
    if (!data.ok()) return data.status();
    absl::StatusOr<uint64_t> n = Inflate(
        pack.fd.get(), e.data_begin, e.data_end, e.size, scratch,
        [&](absl::string_view piece) {
          data->Append(piece);  // Inflate keeps the total within e.size
          return absl::OkStatus();
        },
        pack.path);
    if (!n.ok()) return n.status();
    if (*n != e.size) return Corrupt(pack.path, "object smaller than its header says");
    return data;
  }

  // Streams a loose object (zlib of "<type> <size>\0<bytes>"); returns its size.
  absl::StatusOr<uint64_t> ReadLoose(const ObjectId& id, ReadScratch& scratch, std::string* type,
                                     const std::function<void(absl::string_view)>& sink) const {
    std::string hex = HexOf(id);
    std::string path = absl::StrCat(objects_dir, "/", hex.substr(0, 2), "/", hex.substr(2));
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st;
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat("object ", hex, " not found"));
    }
    uint8_t magic[2];
    if (st.st_size < 2 || !PReadFull(fd.get(), 0, 2, magic, path).ok() ||
        (magic[0] & 0x8f) != 0x08 || ((magic[0] << 8) | magic[1]) % 31 != 0) {
      // Not zlib: the legacy "pack-like" loose format, left to libgit2.
      return absl::NotFoundError(
          absl::StrCat("object ", hex, " is in an unsupported loose format"));
    }
    std::string header;
    bool in_header = true;
    uint64_t size = 0, got = 0;
    absl::StatusOr<uint64_t> n = Inflate(
        fd.get(), 0, static_cast<uint64_t>(st.st_size), UINT64_MAX, scratch,
        [&](absl::string_view piece) -> absl::Status {
          if (in_header) {
            size_t nul = piece.find('\0');
            header.append(piece.data(), std::min(nul, piece.size()));
            if (header.size() > 64) return Corrupt(path, "bad loose object header");
            if (nul == absl::string_view::npos) return absl::OkStatus();
            piece.remove_prefix(nul + 1);
            in_header = false;
            size_t space = header.find(' ');
            if (space == std::string::npos || space + 1 == header.size())
              return Corrupt(path, "bad loose object header");
            *type = header.substr(0, space);
            for (size_t i = space + 1; i < header.size(); ++i) {
              char c = header[i];
              if (c < '0' || c > '9' || size > (UINT64_MAX - 9) / 10)
                return Corrupt(path, "bad loose object size");
              size = size * 10 + static_cast<uint64_t>(c - '0');
            }
          }
          if (piece.size() > size - got) return Corrupt(path, "object larger than its header says");
          got += piece.size();
          if (!piece.empty()) sink(piece);
          return absl::OkStatus();
        },
        path);
    if (!n.ok()) return n.status();
    if (in_header || got != size) return Corrupt(path, "object smaller than its header says");
    return size;
  }

  // The location of a delta entry's base.
  absl::StatusOr<Location> BaseOf(int pack, const Entry& e) const {
    if (e.type == kOfsDelta) return Location{pack, e.base_offset, {}};
    std::optional<Location> loc = Locate(e.base_id);
    if (!loc)
      return absl::NotFoundError(absl::StrCat("delta base ", HexOf(e.base_id), " not found"));
    return *loc;
  }

  // The object at `loc`, whole in memory (a delta base).
  absl::StatusOr<Buffer> Materialize(Location loc, ReadScratch& scratch, LargeTurn& turn) const {
    std::vector<std::pair<Location, Entry>> chain;  // deltas still to apply, outermost first
    Buffer base;
    for (;;) {
      if (loc.pack < 0) {
        std::string bytes, loose_type;
        absl::StatusOr<uint64_t> n =
            ReadLoose(loc.id, scratch, &loose_type,
                      [&](absl::string_view piece) { bytes.append(piece.data(), piece.size()); });
        if (!n.ok()) return n.status();
        int type = LooseTypeCode(loose_type);
        if (type == 0)
          return Corrupt(HexOf(loc.id), absl::StrCat("unknown object type '", loose_type, "'"));
        absl::StatusOr<Bytes> copy = Bytes::Make(bytes.size());
        if (!copy.ok()) return copy.status();
        Object object{type, std::move(*copy)};
        object.bytes.Append(bytes);
        base = std::make_shared<const Object>(std::move(object));
        break;
      }
      if ((base = cache.Get(loc.pack, loc.offset)) || (base = turn.Find(loc.pack, loc.offset)))
        break;
      const Pack& pack = *packs[static_cast<size_t>(loc.pack)];
      absl::StatusOr<Entry> e = ReadEntry(pack, loc.offset);
      if (!e.ok()) return e.status();
      if (e->type != kOfsDelta && e->type != kRefDelta) {
        absl::StatusOr<Bytes> bytes = InflateEntry(pack, *e, scratch, turn);
        if (!bytes.ok()) return bytes.status();
        base = std::make_shared<const Object>(Object{e->type, std::move(*bytes)});
        Keep(loc, base, turn);
        break;
      }
      if (chain.size() >= kMaxChain) return Corrupt(pack.path, "delta chain too long");
      chain.emplace_back(loc, *e);
      absl::StatusOr<Location> next = BaseOf(loc.pack, *e);
      if (!next.ok()) return next.status();
      loc = *next;
    }
    for (size_t i = chain.size(); i-- > 0;) {
      const Pack& pack = *packs[static_cast<size_t>(chain[i].first.pack)];
      absl::StatusOr<Bytes> delta = InflateEntry(pack, chain[i].second, scratch, turn);
      if (!delta.ok()) return delta.status();
      const uint8_t* p = reinterpret_cast<const uint8_t*>(delta->view().data());
      const uint8_t* end = p + delta->size();
      uint64_t base_size = 0, result_size = 0;
      if (!DeltaVarint(p, end, &base_size) || !DeltaVarint(p, end, &result_size)) {
        return Corrupt(pack.path, "bad delta header");
      }
      // A dry run checks every instruction before the result's memory is taken: a damaged
      // header cannot make it allocate more than the instructions produce.
      absl::StatusOr<uint64_t> checked = ApplyDelta(
          base->bytes.view(), delta->view(), [](absl::string_view) {}, pack.path);
      if (!checked.ok()) return checked.status();
      turn.Reserve(result_size);
      absl::StatusOr<Bytes> bytes = Bytes::Make(result_size);
      if (!bytes.ok()) return bytes.status();
      Object result{base->type, std::move(*bytes)};  // a delta's object has its base's type
      absl::StatusOr<uint64_t> n = ApplyDelta(
          base->bytes.view(), delta->view(),
          [&](absl::string_view piece) { result.bytes.Append(piece); }, pack.path);
      if (!n.ok()) return n.status();
      base = std::make_shared<const Object>(std::move(result));
      Keep(chain[i].first, base, turn);
    }
    return base;
  }

  // Applies a delta to a whole base too large to keep, without building the base: the base
  // is inflated as a stream and only the ranges the delta copies from it are held.
  absl::StatusOr<uint64_t> ApplyToStreamedBase(const Pack& pack, const Entry& base,
                                               absl::string_view delta, ReadScratch& scratch,
                                               LargeTurn& turn, const ChunkSink& sink) const {
    absl::StatusOr<std::vector<Span>> spans = CopiedSpans(delta, base.size, pack.path);
    if (!spans.ok()) return spans.status();
    uint64_t total =
        spans->empty() ? 0 : spans->back().at + (spans->back().end - spans->back().begin);
    turn.Reserve(total);
    absl::StatusOr<Bytes> held = Bytes::Make(total);
    if (!held.ok()) return held.status();
    size_t next = 0;  // the first span not wholly passed
    uint64_t pos = 0;
    absl::StatusOr<uint64_t> n = Inflate(
        pack.fd.get(), base.data_begin, base.data_end, base.size, scratch,
        [&](absl::string_view piece) {
          uint64_t piece_end = pos + piece.size();
          while (next < spans->size() && (*spans)[next].begin < piece_end) {
            const Span& span = (*spans)[next];
            uint64_t from = std::max(span.begin, pos);
            uint64_t to = std::min(span.end, piece_end);
            held->Append(piece.substr(from - pos, to - from));
            if (span.end > piece_end) break;  // it goes on in the next piece
            ++next;
          }
          pos = piece_end;
          return absl::OkStatus();
        },
        pack.path);
    if (!n.ok()) return n.status();
    if (*n != base.size || held->size() != total) {
      return Corrupt(pack.path, "object smaller than its header says");
    }
    absl::string_view bytes = held->view();
    return WalkDelta(
        delta, base.size,
        [&](uint64_t off, uint64_t len) -> absl::Status {
          auto after =
              std::upper_bound(spans->begin(), spans->end(), off,
                               [](uint64_t o, const Span& span) { return o < span.begin; });
          if (after == spans->begin()) return Corrupt(pack.path, "delta copy outside its spans");
          const Span& span = *std::prev(after);
          sink(bytes.substr(span.at + (off - span.begin), len));
          return absl::OkStatus();
        },
        sink, pack.path);
  }

  // Keeps a built base for the rest of its family: small ones in the cache, a large one in
  // the large slot.
  void Keep(const Location& loc, const Buffer& object, LargeTurn& turn) const {
    if (object->bytes.size() > kSmallObject) {
      turn.Keep(loc.pack, loc.offset, object);
    } else {
      cache.Put(loc.pack, loc.offset, object);
    }
  }
};

ObjectReader::ObjectReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ObjectReader::~ObjectReader() = default;

absl::StatusOr<std::unique_ptr<ObjectReader>> ObjectReader::Open(const std::string& objects_dir) {
  auto impl = std::make_unique<Impl>();
  impl->objects_dir = objects_dir;
  std::string pack_dir = objects_dir + "/pack";
  std::vector<std::pair<int64_t, std::string>> idx_files;  // mtime, stem
  if (DIR* dir = ::opendir(pack_dir.c_str())) {
    while (struct dirent* d = ::readdir(dir)) {
      std::string name = d->d_name;
      if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".idx") != 0) continue;
      struct stat st;
      std::string stem = pack_dir + "/" + name.substr(0, name.size() - 4);
      if (::stat((stem + ".pack").c_str(), &st) != 0) continue;
      idx_files.emplace_back(
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, stem);
    }
    ::closedir(dir);
  }
  // Newest pack first, as git looks them up; the name breaks ties so the order is fixed.
  std::sort(idx_files.begin(), idx_files.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (const auto& [mtime, stem] : idx_files) {
    if (std::unique_ptr<Pack> pack = OpenPack(stem + ".idx", stem + ".pack"))
      impl->packs.push_back(std::move(pack));
  }
  return std::unique_ptr<ObjectReader>(new ObjectReader(std::move(impl)));
}

absl::StatusOr<uint64_t> ObjectReader::ReadBlob(const ObjectId& id, ReadScratch& scratch,
                                                const ChunkSink& sink) const {
  const Impl& m = *impl_;
  std::optional<Location> loc = m.Locate(id);
  if (!loc) return absl::NotFoundError(absl::StrCat("object ", HexOf(id), " not found"));
  std::string not_blob = absl::StrCat("object ", HexOf(id), " is not a blob");
  if (loc->pack < 0) {
    std::string type;
    bool is_blob = true;
    absl::StatusOr<uint64_t> n = m.ReadLoose(id, scratch, &type, [&](absl::string_view piece) {
      if (type != "blob") {
        is_blob = false;
        return;
      }
      sink(piece);
    });
    if (!n.ok()) return n.status();
    if (!is_blob || type != "blob") return absl::InvalidArgumentError(not_blob);
    return *n;
  }
  const Pack& pack = *m.packs[static_cast<size_t>(loc->pack)];
  absl::StatusOr<Entry> e = m.ReadEntry(pack, loc->offset);
  if (!e.ok()) return e.status();
  if (e->type != kOfsDelta && e->type != kRefDelta) {
    // A whole blob is inflated straight into the sink: it is never in memory whole.
    if (e->type != kBlob) return absl::InvalidArgumentError(not_blob);
    absl::StatusOr<uint64_t> n = m.Inflate(
        pack.fd.get(), e->data_begin, e->data_end, e->size, scratch,
        [&](absl::string_view piece) {
          sink(piece);
          return absl::OkStatus();
        },
        pack.path);
    if (!n.ok()) return n.status();
    if (*n != e->size) return Corrupt(pack.path, "object smaller than its header says");
    return *n;
  }
  // A delta's result is streamed as the delta is applied. Its base is built whole (and kept
  // for the rest of its family), unless it is a whole object too large to keep: then only
  // the ranges this delta copies are held.
  LargeTurn turn(m.large);
  absl::StatusOr<Location> base_loc = m.BaseOf(loc->pack, *e);
  if (!base_loc.ok()) return base_loc.status();
  absl::StatusOr<Bytes> delta = m.InflateEntry(pack, *e, scratch, turn);
  if (!delta.ok()) return delta.status();
  if (base_loc->pack >= 0) {
    const Pack& base_pack = *m.packs[static_cast<size_t>(base_loc->pack)];
    absl::StatusOr<Entry> base_entry = m.ReadEntry(base_pack, base_loc->offset);
    if (!base_entry.ok()) return base_entry.status();
    if (base_entry->type != kOfsDelta && base_entry->type != kRefDelta &&
        base_entry->size > kLargeKept) {
      if (base_entry->type != kBlob) return absl::InvalidArgumentError(not_blob);
      return m.ApplyToStreamedBase(base_pack, *base_entry, delta->view(), scratch, turn, sink);
    }
  }
  absl::StatusOr<Buffer> base = m.Materialize(*base_loc, scratch, turn);
  if (!base.ok()) return base.status();
  if ((*base)->type != kBlob) return absl::InvalidArgumentError(not_blob);
  return ApplyDelta((*base)->bytes.view(), delta->view(), sink, pack.path);
}

uint64_t ObjectReader::ReadOrder(const ObjectId& id) const {
  for (size_t i = 0; i < impl_->packs.size(); ++i) {
    if (std::optional<uint64_t> o = impl_->packs[i]->Find(id)) return (uint64_t{i} << 48) | *o;
  }
  return UINT64_MAX;
}

absl::StatusOr<ObjectStorage> ObjectReader::Storage(const ObjectId& id) const {
  const Impl& m = *impl_;
  std::optional<Location> loc = m.Locate(id);
  if (!loc) return absl::NotFoundError(absl::StrCat("object ", HexOf(id), " not found"));
  ObjectStorage out;
  if (loc->pack < 0) return out;
  out.packed = true;
  for (;;) {
    const Pack& pack = *m.packs[static_cast<size_t>(loc->pack)];
    absl::StatusOr<Entry> e = m.ReadEntry(pack, loc->offset);
    if (!e.ok()) return e.status();
    if (out.pack_type == 0) out.pack_type = e->type;
    if (e->type != kOfsDelta && e->type != kRefDelta) return out;
    if (++out.delta_depth > static_cast<int>(kMaxChain))
      return Corrupt(pack.path, "delta chain too long");
    absl::StatusOr<Location> next = m.BaseOf(loc->pack, *e);
    if (!next.ok()) return next.status();
    if (next->pack < 0) return out;
    *loc = *next;
  }
}

}  // namespace stalecheck::git
