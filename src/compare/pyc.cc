#include <cstring>

#include "absl/strings/str_cat.h"
#include "stalecheck/compare.h"

namespace stalecheck {
namespace {

uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

uint32_t Le32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + static_cast<size_t>(i)]);
  return v;
}

}  // namespace

uint64_t SipHash(int c_rounds, int d_rounds, uint64_t k0, uint64_t k1, const std::string& data) {
  uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
  auto round = [&] {
    v0 += v1; v1 = Rotl(v1, 13); v1 ^= v0; v0 = Rotl(v0, 32);
    v2 += v3; v3 = Rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = Rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = Rotl(v1, 17); v1 ^= v2; v2 = Rotl(v2, 32);
  };
  const size_t n = data.size();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t m = 0;
    std::memcpy(&m, data.data() + i, 8);  // little-endian host
    v3 ^= m;
    for (int r = 0; r < c_rounds; ++r) round();
    v0 ^= m;
  }
  uint64_t b = static_cast<uint64_t>(n) << 56;
  for (size_t j = 0; i + j < n; ++j) b |= static_cast<uint64_t>(static_cast<unsigned char>(data[i + j])) << (8 * j);
  v3 ^= b;
  for (int r = 0; r < c_rounds; ++r) round();
  v0 ^= b;
  v2 ^= 0xff;
  for (int r = 0; r < d_rounds; ++r) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

PycVerdict CheckPycHeader(const std::string& head, int64_t source_mtime, uint64_t source_size,
                          const std::optional<std::string>& source_bytes, std::string* why) {
  if (head.size() < 16) {
    *why = "header shorter than 16 bytes";
    return PycVerdict::kStale;
  }
  if (head[2] != '\r' || head[3] != '\n') {
    *why = "not a Python 3.7+ bytecode header";
    return PycVerdict::kStale;
  }
  const uint32_t magic = Le32(head, 0);
  const uint32_t flags = Le32(head, 4);
  if (flags == 0) {
    uint32_t mtime = Le32(head, 8), size = Le32(head, 12);
    if (mtime != static_cast<uint32_t>(source_mtime) || size != static_cast<uint32_t>(source_size)) {
      *why = absl::StrCat("compiled from a source of mtime ", mtime, " and ", size, " bytes; the .py beside it has mtime ",
                          static_cast<uint32_t>(source_mtime), " and ", static_cast<uint32_t>(source_size), " bytes");
      return PycVerdict::kStale;
    }
    return PycVerdict::kFresh;
  }
  if (flags == 1) return PycVerdict::kUnchecked;  // unchecked hash: Python trusts it
  if (flags != 3) {
    *why = absl::StrCat("invalid flags ", flags);
    return PycVerdict::kStale;
  }
  if (!source_bytes) return PycVerdict::kUnchecked;
  const uint32_t version = magic & 0xffff;
  const bool v311 = version >= 3495;
  uint64_t want = 0;
  std::memcpy(&want, head.data() + 8, 8);
  uint64_t have = SipHash(v311 ? 1 : 2, v311 ? 3 : 4, magic, 0, *source_bytes);
  if (have != want) {
    *why = "compiled from other source bytes (checked hash differs)";
    return PycVerdict::kStale;
  }
  return PycVerdict::kFresh;
}

}  // namespace stalecheck
