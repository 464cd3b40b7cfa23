#pragma once
// Content digests: XXH3-128 for files (written as xxh128sum writes it), SHA-256 for blobs.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace stalecheck {

/// An XXH3-128 digest.
struct Digest128 {
  uint64_t high = 0;
  uint64_t low = 0;
  friend bool operator==(const Digest128&, const Digest128&) = default;
  /// 32 lowercase hex digits, in the byte order `xxh128sum` prints.
  std::string Hex() const;
  /// Writes Hex()'s 32 digits at `out`; returns the end.
  char* HexTo(char* out) const;
  /// "xxh128:" + Hex().
  std::string ToString() const;
};

/// XXH3-128 of a byte string.
Digest128 HashBytes(absl::string_view data);

/// Incremental XXH3-128.
class StreamHasher {
 public:
  StreamHasher();
  ~StreamHasher();
  StreamHasher(const StreamHasher&) = delete;
  StreamHasher& operator=(const StreamHasher&) = delete;
  void Update(const void* data, size_t size);
  Digest128 Finish() const;

 private:
  void* state_;
};

struct FileDigest {
  Digest128 digest;
  uint64_t size = 0;  // the bytes that were hashed
};

/// XXH3-128 of a file's bytes, read in bounded chunks. Errors name the path.
absl::StatusOr<FileDigest> HashFile(const std::string& path);

/// A test seam: `hook(path)` runs inside HashFile after the first chunk of each pass over a
/// file larger than one chunk (256 KiB), so that a test can change the file mid-read. Not
/// thread-safe; null removes it.
void SetHashReadHookForTest(std::function<void(const std::string&)> hook);

/// Incremental SHA-256, for blob digests and diff_ids.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t size);
  /// "sha256:" + 64 lowercase hex digits.
  std::string Finish();

 private:
  void* ctx_;
};

/// Incremental SHA-1, for checking git object ids.
class Sha1 {
 public:
  Sha1();
  ~Sha1();
  Sha1(const Sha1&) = delete;
  Sha1& operator=(const Sha1&) = delete;
  /// Starts a new digest.
  void Reset();
  void Update(const void* data, size_t size);
  /// The 20-byte digest of what was given since the last Reset.
  std::array<uint8_t, 20> Finish();

 private:
  void* ctx_;
};

/// "sha256:<hex>" of a byte string.
std::string Sha256Of(absl::string_view data);

}  // namespace stalecheck
