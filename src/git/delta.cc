#include "src/git/delta.h"

#include <algorithm>

namespace stalecheck::git {
namespace internal {

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

}  // namespace internal

std::optional<DeltaSizes> ReadDeltaSizes(absl::string_view delta) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(delta.data());
  const uint8_t* end = p + delta.size();
  DeltaSizes sizes;
  if (!internal::DeltaVarint(p, end, &sizes.base) ||
      !internal::DeltaVarint(p, end, &sizes.result)) {
    return std::nullopt;
  }
  return sizes;
}

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

}  // namespace stalecheck::git
