#pragma once
// Git's delta instructions (gitformat-pack, "Deltified representation"): a header with the
// base's and the result's sizes, then instructions that copy a range of the base or insert
// literal bytes. Walked with every bound checked; applied to a base in memory; and the base
// ranges a delta copies, for a base that is streamed instead of held.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace stalecheck::git {
namespace internal {

// Reads one size of a delta header (little-endian base-128).
bool DeltaVarint(const uint8_t*& p, const uint8_t* end, uint64_t* out);

inline absl::Status DeltaError(absl::string_view where, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(where, ": ", what));
}

}  // namespace internal

/// The sizes a delta's header gives.
struct DeltaSizes {
  uint64_t base = 0;
  uint64_t result = 0;
};

/// The header of `delta`, or nullopt when it is damaged.
std::optional<DeltaSizes> ReadDeltaSizes(absl::string_view delta);

/// Walks a delta's instructions, checking each against the sizes in its header and against
/// `base_size`: `copy(offset, length)` (returning a Status) for a range of the base,
/// `insert(bytes)` for literal bytes. Returns the result's size. Errors (DataLoss, naming
/// `where`): a damaged header or instruction, a copy outside the base, a result of another
/// size than the header's, or what `copy` returns.
// Walks a delta's instructions (gitformat-pack "Deltified representation"), checking each
// against the sizes in its header and the base's `base_size`: `copy(offset, length)` for a
// range of the base, `insert(bytes)` for literal bytes. Returns the result's size.
template <typename Copy, typename Insert>
absl::StatusOr<uint64_t> WalkDelta(absl::string_view delta, uint64_t base_size, Copy copy,
                                   Insert insert, const std::string& where) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(delta.data());
  const uint8_t* end = p + delta.size();
  uint64_t header_base = 0, result_size = 0;
  if (!internal::DeltaVarint(p, end, &header_base) ||
      !internal::DeltaVarint(p, end, &result_size)) {
    return internal::DeltaError(where, "bad delta header");
  }
  if (header_base != base_size) return internal::DeltaError(where, "delta base has the wrong size");
  uint64_t out = 0;
  while (p < end) {
    uint8_t cmd = *p++;
    if (cmd & 0x80) {
      uint64_t off = 0, len = 0;
      for (int i = 0; i < 4; ++i) {
        if (cmd & (1u << i)) {
          if (p == end) return internal::DeltaError(where, "truncated delta");
          off |= uint64_t{*p++} << (8 * i);
        }
      }
      for (int i = 0; i < 3; ++i) {
        if (cmd & (0x10u << i)) {
          if (p == end) return internal::DeltaError(where, "truncated delta");
          len |= uint64_t{*p++} << (8 * i);
        }
      }
      if (len == 0) len = 0x10000;
      if (off > base_size || len > base_size - off) {
        return internal::DeltaError(where, "delta copies outside its base");
      }
      if (len > result_size - out) return internal::DeltaError(where, "delta overruns its result");
      if (absl::Status s = copy(off, len); !s.ok()) return s;
      out += len;
    } else if (cmd != 0) {
      if (cmd > end - p) return internal::DeltaError(where, "truncated delta");
      if (cmd > result_size - out) return internal::DeltaError(where, "delta overruns its result");
      insert(absl::string_view(reinterpret_cast<const char*>(p), cmd));
      p += cmd;
      out += cmd;
    } else {
      return internal::DeltaError(where, "reserved delta opcode 0");
    }
  }
  if (out != result_size) return internal::DeltaError(where, "delta result has the wrong size");
  return out;
}

/// Applies `delta` to a base whole in memory, handing the result to `emit` piece by piece;
/// returns the result's size. Errors as for WalkDelta.
absl::StatusOr<uint64_t> ApplyDelta(absl::string_view base, absl::string_view delta,
                                    const std::function<void(absl::string_view)>& emit,
                                    const std::string& where);

/// A range [begin, end) of a base, and where it sits in a buffer that holds only the copied
/// ranges, in order.
struct Span {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t at = 0;
};

/// The ranges of a base of `base_size` bytes that `delta` copies, sorted and merged (ranges
/// that overlap or touch become one). Errors as for WalkDelta.
absl::StatusOr<std::vector<Span>> CopiedSpans(absl::string_view delta, uint64_t base_size,
                                              const std::string& where);

}  // namespace stalecheck::git
