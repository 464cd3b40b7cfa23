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
#include "src/git/delta.h"
#include "src/git/pack.h"
#include "stalecheck/hash.h"
#include "stalecheck/util.h"

namespace stalecheck::git {
namespace {

constexpr size_t kChunk = 128 << 10;      // pread and inflate piece
constexpr size_t kSmallObject = 1 << 20;  // larger buffers take turns between threads
constexpr size_t kCacheLimit = 4 << 20;   // small delta bases kept for reuse, in all
constexpr size_t kMapped = 256 << 10;     // buffers from this size on are mapped directly
constexpr size_t kMaxChain = 10000;       // deltas between an object and its whole base

// Where an object is: a pack and an offset, or loose (pack == -1).
struct Location {
  int pack = -1;
  uint64_t offset = 0;
  ObjectId id{};
};

// A buffer of fixed capacity. Large ones are mapped from the OS, populated in one call, and
// unmapped when freed, whatever malloc's settings: peak memory is what this reader exists to
// bound.
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
    while (large_.bytes > 0 && large_.bytes + value->bytes.size() > kLargeKept) {
      large_.Drop(Oldest());
    }
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
      if (large_.objects[i] &&
          (best == kLargeSlots || large_.last_use[i] < large_.last_use[best])) {
        best = i;
      }
    }
    return best;
  }

  LargeObjects& large_;
  std::unique_lock<std::mutex> lock_;
};

}  // namespace

struct ReadScratch::Impl {
  inflate_state state;
  Sha1 sha;
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
      if (std::optional<uint64_t> o = packs[i]->Find(id)) {
        return Location{static_cast<int>(i), *o, id};
      }
    }
    std::string hex = HexOf(id);
    std::string path = absl::StrCat(objects_dir, "/", hex.substr(0, 2), "/", hex.substr(2));
    if (::access(path.c_str(), F_OK) == 0) return Location{-1, 0, id};
    return std::nullopt;
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
    if (end - begin <= kChunk && limit < kChunk) {
      // Most objects fit one buffer both ways: one stateless call, without the history
      // copies of streaming.
      size_t n = static_cast<size_t>(end - begin);
      if (absl::Status st = PReadFull(fd, begin, n, s.in.data(), where); !st.ok()) return st;
      s.state.next_in = s.in.data();
      s.state.avail_in = static_cast<uint32_t>(n);
      s.state.next_out = s.out.data();
      s.state.avail_out = static_cast<uint32_t>(s.out.size());
      int ret = isal_inflate_stateless(&s.state);
      if (ret != ISAL_DECOMP_OK) {
        return Corrupt(where, absl::StrCat("corrupt zlib stream (isal error ", ret, ")"));
      }
      size_t produced = s.out.size() - s.state.avail_out;
      if (produced > limit) return Corrupt(where, "object larger than its header says");
      if (produced > 0) {
        if (absl::Status st =
                out(absl::string_view(reinterpret_cast<const char*>(s.out.data()), produced));
            !st.ok()) {
          return st;
        }
      }
      return produced;
    }
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
      if (ret != ISAL_DECOMP_OK) {
        return Corrupt(where, absl::StrCat("corrupt zlib stream (isal error ", ret, ")"));
      }
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
  absl::StatusOr<Bytes> InflateEntry(const Pack& pack, const PackEntry& e, ReadScratch& scratch,
                                     LargeTurn& turn) const {
    turn.Reserve(e.size);
    absl::StatusOr<Bytes> data = Bytes::Make(e.size);
    if (!data.ok()) return data.status();
    absl::StatusOr<uint64_t> n = Inflate(
        pack.fd(), e.data_begin, e.data_end, e.size, scratch,
        [&](absl::string_view piece) {
          data->Append(piece);  // Inflate keeps the total within e.size
          return absl::OkStatus();
        },
        pack.path());
    if (!n.ok()) return n.status();
    if (*n != e.size) return Corrupt(pack.path(), "object smaller than its header says");
    return data;
  }

  // Streams a loose object (zlib of "<type> <size>\0<bytes>"); returns its size. `type`
  // and `declared` are set from the header before the first byte reaches `sink`.
  absl::StatusOr<uint64_t> ReadLoose(const ObjectId& id, ReadScratch& scratch, std::string* type,
                                     uint64_t* declared,
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
            if (space == std::string::npos || space + 1 == header.size()) {
              return Corrupt(path, "bad loose object header");
            }
            *type = header.substr(0, space);
            for (size_t i = space + 1; i < header.size(); ++i) {
              char c = header[i];
              if (c < '0' || c > '9' || size > (UINT64_MAX - 9) / 10) {
                return Corrupt(path, "bad loose object size");
              }
              size = size * 10 + static_cast<uint64_t>(c - '0');
            }
            *declared = size;
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
  absl::StatusOr<Location> BaseOf(int pack, const PackEntry& e) const {
    if (e.type == kOfsDelta) return Location{pack, e.base_offset, {}};
    std::optional<Location> loc = Locate(e.base_id);
    if (!loc) {
      return absl::NotFoundError(absl::StrCat("delta base ", HexOf(e.base_id), " not found"));
    }
    return *loc;
  }

  // The object at `loc`, whole in memory (a delta base).
  absl::StatusOr<Buffer> Materialize(Location loc, ReadScratch& scratch, LargeTurn& turn) const {
    std::vector<std::pair<Location, PackEntry>> chain;  // deltas still to apply, outermost first
    Buffer base;
    for (;;) {
      if (loc.pack < 0) {
        std::string bytes, loose_type;
        uint64_t declared = 0;
        absl::StatusOr<uint64_t> n =
            ReadLoose(loc.id, scratch, &loose_type, &declared,
                      [&](absl::string_view piece) { bytes.append(piece.data(), piece.size()); });
        if (!n.ok()) return n.status();
        int type = LooseTypeCode(loose_type);
        if (type == 0) {
          return Corrupt(HexOf(loc.id), absl::StrCat("unknown object type '", loose_type, "'"));
        }
        absl::StatusOr<Bytes> copy = Bytes::Make(bytes.size());
        if (!copy.ok()) return copy.status();
        Object object{type, std::move(*copy)};
        object.bytes.Append(bytes);
        base = std::make_shared<const Object>(std::move(object));
        break;
      }
      if ((base = cache.Get(loc.pack, loc.offset)) || (base = turn.Find(loc.pack, loc.offset))) {
        break;
      }
      const Pack& pack = *packs[static_cast<size_t>(loc.pack)];
      absl::StatusOr<PackEntry> e = ReadEntry(pack, loc.offset);
      if (!e.ok()) return e.status();
      if (!e->is_delta()) {
        absl::StatusOr<Bytes> bytes = InflateEntry(pack, *e, scratch, turn);
        if (!bytes.ok()) return bytes.status();
        base = std::make_shared<const Object>(Object{e->type, std::move(*bytes)});
        Keep(loc, base, turn);
        break;
      }
      if (chain.size() >= kMaxChain) return Corrupt(pack.path(), "delta chain too long");
      chain.emplace_back(loc, *e);
      absl::StatusOr<Location> next = BaseOf(loc.pack, *e);
      if (!next.ok()) return next.status();
      loc = *next;
    }
    for (size_t i = chain.size(); i-- > 0;) {
      const Pack& pack = *packs[static_cast<size_t>(chain[i].first.pack)];
      absl::StatusOr<Bytes> delta = InflateEntry(pack, chain[i].second, scratch, turn);
      if (!delta.ok()) return delta.status();
      std::optional<DeltaSizes> sizes = ReadDeltaSizes(delta->view());
      if (!sizes) return Corrupt(pack.path(), "bad delta header");
      // A dry run checks every instruction before the result's memory is taken: a damaged
      // header cannot make it allocate more than the instructions produce.
      absl::StatusOr<uint64_t> checked = ApplyDelta(
          base->bytes.view(), delta->view(), [](absl::string_view) {}, pack.path());
      if (!checked.ok()) return checked.status();
      turn.Reserve(sizes->result);
      absl::StatusOr<Bytes> bytes = Bytes::Make(sizes->result);
      if (!bytes.ok()) return bytes.status();
      Object result{base->type, std::move(*bytes)};  // a delta's object has its base's type
      absl::StatusOr<uint64_t> n = ApplyDelta(
          base->bytes.view(), delta->view(),
          [&](absl::string_view piece) { result.bytes.Append(piece); }, pack.path());
      if (!n.ok()) return n.status();
      base = std::make_shared<const Object>(std::move(result));
      Keep(chain[i].first, base, turn);
    }
    return base;
  }

  // Applies a delta to a whole base too large to keep, without building the base: the base
  // is inflated as a stream and only the ranges the delta copies from it are held.
  absl::StatusOr<uint64_t> ApplyToStreamedBase(const Pack& pack, const PackEntry& base,
                                               absl::string_view delta, ReadScratch& scratch,
                                               LargeTurn& turn, const ChunkSink& sink) const {
    absl::StatusOr<std::vector<Span>> spans = CopiedSpans(delta, base.size, pack.path());
    if (!spans.ok()) return spans.status();
    uint64_t total =
        spans->empty() ? 0 : spans->back().at + (spans->back().end - spans->back().begin);
    turn.Reserve(total);
    absl::StatusOr<Bytes> held = Bytes::Make(total);
    if (!held.ok()) return held.status();
    size_t next = 0;  // the first span not wholly passed
    uint64_t pos = 0;
    absl::StatusOr<uint64_t> n = Inflate(
        pack.fd(), base.data_begin, base.data_end, base.size, scratch,
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
        pack.path());
    if (!n.ok()) return n.status();
    if (*n != base.size || held->size() != total) {
      return Corrupt(pack.path(), "object smaller than its header says");
    }
    absl::string_view bytes = held->view();
    return WalkDelta(
        delta, base.size,
        [&](uint64_t off, uint64_t len) -> absl::Status {
          auto after =
              std::upper_bound(spans->begin(), spans->end(), off,
                               [](uint64_t o, const Span& span) { return o < span.begin; });
          if (after == spans->begin()) return Corrupt(pack.path(), "delta copy outside its spans");
          const Span& span = *std::prev(after);
          sink(bytes.substr(span.at + (off - span.begin), len));
          return absl::OkStatus();
        },
        sink, pack.path());
  }

  // Streams the blob `id` to `sink`, calling `on_size` with its size before its first byte;
  // returns its size. Errors as for ReadBlob.
  absl::StatusOr<uint64_t> StreamBlob(const ObjectId& id, ReadScratch& scratch,
                                      const std::function<void(uint64_t)>& on_size,
                                      const ChunkSink& sink) const;

  // Keeps a built base for the rest of its family: a small one in the cache, a large one
  // among the kept large objects.
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

std::unique_ptr<ObjectReader> ObjectReader::Open(const std::string& objects_dir) {
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
    if (std::unique_ptr<Pack> pack = Pack::Open(stem + ".idx", stem + ".pack")) {
      impl->packs.push_back(std::move(pack));
    }
  }
  return std::unique_ptr<ObjectReader>(new ObjectReader(std::move(impl)));
}

absl::StatusOr<uint64_t> ObjectReader::Impl::StreamBlob(
    const ObjectId& id, ReadScratch& scratch, const std::function<void(uint64_t)>& on_size,
    const ChunkSink& sink) const {
  const Impl& m = *this;
  std::optional<Location> loc = m.Locate(id);
  if (!loc) return absl::NotFoundError(absl::StrCat("object ", HexOf(id), " not found"));
  std::string not_blob = absl::StrCat("object ", HexOf(id), " is not a blob");
  if (loc->pack < 0) {
    std::string type;
    uint64_t declared = 0;
    bool started = false;
    absl::StatusOr<uint64_t> n =
        m.ReadLoose(id, scratch, &type, &declared, [&](absl::string_view piece) {
          if (type != "blob") return;
          if (!started) on_size(declared);
          started = true;
          sink(piece);
        });
    if (!n.ok()) return n.status();
    if (type != "blob") return absl::InvalidArgumentError(not_blob);
    if (!started) on_size(*n);
    return *n;
  }
  const Pack& pack = *m.packs[static_cast<size_t>(loc->pack)];
  absl::StatusOr<PackEntry> e = ReadEntry(pack, loc->offset);
  if (!e.ok()) return e.status();
  if (!e->is_delta()) {
    // A whole blob is inflated straight into the sink: it is never in memory whole.
    if (e->type != kBlob) return absl::InvalidArgumentError(not_blob);
    on_size(e->size);
    absl::StatusOr<uint64_t> n = m.Inflate(
        pack.fd(), e->data_begin, e->data_end, e->size, scratch,
        [&](absl::string_view piece) {
          sink(piece);
          return absl::OkStatus();
        },
        pack.path());
    if (!n.ok()) return n.status();
    if (*n != e->size) return Corrupt(pack.path(), "object smaller than its header says");
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
  std::optional<DeltaSizes> sizes = ReadDeltaSizes(delta->view());
  if (!sizes) return Corrupt(pack.path(), "bad delta header");
  if (base_loc->pack >= 0) {
    const Pack& base_pack = *m.packs[static_cast<size_t>(base_loc->pack)];
    absl::StatusOr<PackEntry> base_entry = ReadEntry(base_pack, base_loc->offset);
    if (!base_entry.ok()) return base_entry.status();
    if (!base_entry->is_delta() && base_entry->size > kLargeKept) {
      if (base_entry->type != kBlob) return absl::InvalidArgumentError(not_blob);
      on_size(sizes->result);
      return m.ApplyToStreamedBase(base_pack, *base_entry, delta->view(), scratch, turn, sink);
    }
  }
  absl::StatusOr<Buffer> base = m.Materialize(*base_loc, scratch, turn);
  if (!base.ok()) return base.status();
  if ((*base)->type != kBlob) return absl::InvalidArgumentError(not_blob);
  on_size(sizes->result);
  return ApplyDelta((*base)->bytes.view(), delta->view(), sink, pack.path());
}

absl::StatusOr<uint64_t> ObjectReader::ReadBlob(const ObjectId& id, ReadScratch& scratch,
                                                const ChunkSink& sink) const {
  // Every blob is checked against its id as it streams (as libgit2 checks what it reads), so
  // that damage the zlib and delta checks miss cannot pass for the file's bytes.
  Sha1& sha = scratch.impl_->sha;
  sha.Reset();
  absl::StatusOr<uint64_t> n = impl_->StreamBlob(
      id, scratch,
      [&](uint64_t size) {
        std::string header = absl::StrCat("blob ", size);
        sha.Update(header.data(), header.size() + 1);  // with its NUL
      },
      [&](absl::string_view piece) {
        sha.Update(piece.data(), piece.size());
        sink(piece);
      });
  if (!n.ok()) return n.status();
  std::array<uint8_t, 20> got = sha.Finish();
  if (std::memcmp(got.data(), id.bytes, got.size()) != 0) {
    return Corrupt(absl::StrCat("object ", HexOf(id)), "its bytes do not match its id");
  }
  return *n;
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
    absl::StatusOr<PackEntry> e = ReadEntry(pack, loc->offset);
    if (!e.ok()) return e.status();
    if (out.pack_type == 0) out.pack_type = e->type;
    if (!e->is_delta()) return out;
    if (++out.delta_depth > static_cast<int>(kMaxChain)) {
      return Corrupt(pack.path(), "delta chain too long");
    }
    absl::StatusOr<Location> next = m.BaseOf(loc->pack, *e);
    if (!next.ok()) return next.status();
    if (next->pack < 0) return out;
    *loc = *next;
  }
}

}  // namespace stalecheck::git
