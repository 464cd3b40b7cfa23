#include "src/git/pack.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace stalecheck::git {
namespace {

// Version-2 index layout: an 8-byte header and 256 fan-out words, then per object its name
// (20 bytes), then per object a CRC (4), then per object a 32-bit offset (4), then the 64-bit
// offsets, then the pack's and the index's checksums (20 each).
constexpr size_t kFanout = 8;
constexpr size_t kNames = kFanout + 256 * 4;
constexpr size_t kChecksums = 40;

uint32_t Be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

std::string HexOf(const ObjectId& id) {
  static const char* kDigits = "0123456789abcdef";
  std::string hex(40, '0');
  for (int i = 0; i < 20; ++i) {
    hex[2 * i] = kDigits[id.bytes[i] >> 4];
    hex[2 * i + 1] = kDigits[id.bytes[i] & 15];
  }
  return hex;
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

Pack::~Pack() {
  if (idx_ != nullptr) ::munmap(const_cast<uint8_t*>(idx_), idx_size_);
}

std::optional<uint64_t> Pack::OffsetAt(uint32_t k) const {
  uint32_t o = Be32(idx_ + kNames + size_t{count_} * 24 + 4 * size_t{k});
  if ((o & 0x80000000u) == 0) return o;
  size_t at = kNames + size_t{count_} * 28 + 8 * size_t{o & 0x7fffffffu};
  if (at + 8 > idx_size_ - kChecksums) return std::nullopt;
  return (uint64_t{Be32(idx_ + at)} << 32) | Be32(idx_ + at + 4);
}

std::optional<uint64_t> Pack::Find(const ObjectId& id) const {
  const uint8_t* fan = idx_ + kFanout;
  uint32_t lo = id.bytes[0] == 0 ? 0 : Be32(fan + 4 * (id.bytes[0] - 1));
  uint32_t hi = Be32(fan + 4 * id.bytes[0]);
  const uint8_t* names = idx_ + kNames;
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

uint64_t Pack::EndOf(uint64_t offset) const {
  auto it = std::upper_bound(ends_.begin(), ends_.end(), offset);
  return it == ends_.end() ? ends_.back() : *it;
}

std::unique_ptr<Pack> Pack::Open(const std::string& idx_path, const std::string& pack_path) {
  std::unique_ptr<Pack> pack(new Pack());
  pack->path_ = pack_path;
  UniqueFd idx_fd(::open(idx_path.c_str(), O_RDONLY | O_CLOEXEC));
  pack->fd_ = UniqueFd(::open(pack_path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat ist, pst;
  if (!idx_fd.valid() || !pack->fd_.valid() || ::fstat(idx_fd.get(), &ist) != 0 ||
      ::fstat(pack->fd_.get(), &pst) != 0 ||
      ist.st_size < static_cast<off_t>(kNames + kChecksums) || pst.st_size < 12 + 20) {
    return nullptr;
  }
  pack->size_ = static_cast<uint64_t>(pst.st_size);
  pack->idx_size_ = static_cast<size_t>(ist.st_size);
  void* map = ::mmap(nullptr, pack->idx_size_, PROT_READ, MAP_PRIVATE, idx_fd.get(), 0);
  if (map == MAP_FAILED) return nullptr;
  pack->idx_ = static_cast<const uint8_t*>(map);
  const uint8_t* p = pack->idx_;
  if (!(p[0] == 0xff && p[1] == 't' && p[2] == 'O' && p[3] == 'c') || Be32(p + 4) != 2) {
    return nullptr;
  }
  uint32_t prev = 0;
  for (int i = 0; i < 256; ++i) {
    uint32_t f = Be32(p + kFanout + 4 * i);
    if (f < prev) return nullptr;
    prev = f;
  }
  pack->count_ = prev;
  if (pack->idx_size_ < kNames + size_t{pack->count_} * 28 + kChecksums) return nullptr;
  uint8_t head[12];
  if (!PReadFull(pack->fd_.get(), 0, 12, head, pack_path).ok() ||
      std::memcmp(head, "PACK", 4) != 0 || (Be32(head + 4) != 2 && Be32(head + 4) != 3) ||
      Be32(head + 8) != pack->count_) {
    return nullptr;
  }
  uint64_t trailer = pack->size_ - 20;  // the pack's own checksum
  pack->ends_.reserve(size_t{pack->count_} + 1);
  for (uint32_t k = 0; k < pack->count_; ++k) {
    std::optional<uint64_t> o = pack->OffsetAt(k);
    if (!o || *o < 12 || *o >= trailer) return nullptr;
    pack->ends_.push_back(*o);
  }
  std::sort(pack->ends_.begin(), pack->ends_.end());
  pack->ends_.push_back(trailer);
  return pack;
}

absl::StatusOr<PackEntry> ReadEntry(const Pack& pack, uint64_t offset) {
  uint64_t end = pack.EndOf(offset);
  uint8_t head[32];
  size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof head, end - offset));
  if (absl::Status s = PReadFull(pack.fd(), offset, n, head, pack.path()); !s.ok()) return s;
  const uint8_t* p = head;
  const uint8_t* lim = head + n;
  PackEntry e;
  if (p == lim) return Corrupt(pack.path(), "empty entry");
  uint8_t c = *p++;
  e.type = (c >> 4) & 7;
  e.size = c & 15;
  int shift = 4;
  while (c & 0x80) {
    if (p == lim || shift > 57) {
      return Corrupt(pack.path(), absl::StrCat("bad entry header at ", offset));
    }
    c = *p++;
    e.size |= uint64_t{c & 0x7fu} << shift;
    shift += 7;
  }
  if (e.type == kOfsDelta) {
    if (p == lim) return Corrupt(pack.path(), absl::StrCat("bad delta offset at ", offset));
    c = *p++;
    uint64_t back = c & 127;
    while (c & 128) {
      if (p == lim || back > (uint64_t{1} << 56)) {
        return Corrupt(pack.path(), absl::StrCat("bad delta offset at ", offset));
      }
      c = *p++;
      back = ((back + 1) << 7) | (c & 127);
    }
    if (back == 0 || back > offset) {
      return Corrupt(pack.path(), absl::StrCat("bad delta offset at ", offset));
    }
    e.base_offset = offset - back;
  } else if (e.type == kRefDelta) {
    if (lim - p < 20) return Corrupt(pack.path(), absl::StrCat("bad delta base at ", offset));
    std::memcpy(e.base_id.bytes, p, 20);
    p += 20;
  } else if (e.type < 1 || e.type > 4) {
    return Corrupt(pack.path(), absl::StrCat("unknown entry type ", e.type, " at ", offset));
  }
  e.data_begin = offset + static_cast<uint64_t>(p - head);
  e.data_end = end;
  // Deflate expands at most 1032 times: a larger size is a damaged header, and must not
  // become an allocation.
  if (e.size / 1032 > e.data_end - e.data_begin) {
    return Corrupt(pack.path(),
                   absl::StrCat("entry at ", offset, " claims more bytes than its data holds"));
  }
  return e;
}

}  // namespace stalecheck::git
