#pragma once
// Git pack files and their version-2 indexes (gitformat-pack), and the headers of their
// entries. Read with pread and a read-only map of the index; nothing is inflated here.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "stalecheck/util.h"

namespace stalecheck::git {

/// A SHA-1 object id, raw.
struct ObjectId {
  uint8_t bytes[20];
};

/// 40 lowercase hex digits.
std::string HexOf(const ObjectId& id);

/// Pack entry types: 1..4 are whole objects (commit, tree, blob, tag).
constexpr int kBlob = 3;
constexpr int kOfsDelta = 6;  // a delta whose base is earlier in the same pack
constexpr int kRefDelta = 7;  // a delta whose base is named by its id

/// DataLoss "where: what", for damaged repository data.
absl::Status Corrupt(absl::string_view where, absl::string_view what);

/// Reads exactly `n` bytes at `offset`; a short file is Corrupt, naming `where`.
absl::Status PReadFull(int fd, uint64_t offset, size_t n, uint8_t* out, const std::string& where);

/// One pack and its index. Safe to read from any number of threads.
class Pack {
 public:
  /// Opens `pack_path` with its `idx_path`. nullptr (not an error) for anything this reader
  /// does not handle (an index other than version 2, a pack that does not match its index),
  /// so that libgit2 is asked for those objects instead.
  static std::unique_ptr<Pack> Open(const std::string& idx_path, const std::string& pack_path);
  ~Pack();
  Pack(const Pack&) = delete;
  Pack& operator=(const Pack&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }

  /// The offset of `id` in the pack, or nullopt.
  std::optional<uint64_t> Find(const ObjectId& id) const;

  /// Where the entry at `offset` ends: the next entry's offset, or the trailer's.
  uint64_t EndOf(uint64_t offset) const;

 private:
  Pack() = default;
  std::optional<uint64_t> OffsetAt(uint32_t k) const;

  std::string path_;
  UniqueFd fd_;
  uint64_t size_ = 0;
  const uint8_t* idx_ = nullptr;
  size_t idx_size_ = 0;
  uint32_t count_ = 0;
  std::vector<uint64_t> ends_;  // every entry's offset in order, then the trailer's
};

/// A pack entry's header.
struct PackEntry {
  int type = 0;
  uint64_t size = 0;        // inflated size of the entry's data (for a delta: of the delta)
  uint64_t data_begin = 0;  // the zlib stream
  uint64_t data_end = 0;
  uint64_t base_offset = 0;  // kOfsDelta
  ObjectId base_id{};        // kRefDelta

  bool is_delta() const { return type == kOfsDelta || type == kRefDelta; }
};

/// Reads and checks the header of the entry at `offset`. Errors: Corrupt.
absl::StatusOr<PackEntry> ReadEntry(const Pack& pack, uint64_t offset);

}  // namespace stalecheck::git
