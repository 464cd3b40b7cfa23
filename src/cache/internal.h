#pragma once
// What the caches share: their directories, and files replaced whole by a rename.

#include <cstdint>
#include <string>

namespace stalecheck::cache_internal {

/// The caches' fixed-width integers: 8 bytes, little-endian.
void PutU64(std::string& out, uint64_t v);
uint64_t GetU64(const char* p);

/// Makes `dir` and its parents, each 0700 when made here.
void MakeDirs(const std::string& dir);

/// A file written beside its final name and renamed over it when complete, so that a reader
/// sees the old file or the new one, never a part. Best effort: a write that fails leaves
/// nothing behind.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();  // an uncommitted file is removed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  bool ok() const { return fd_ >= 0; }
  void Write(const std::string& bytes);
  /// Renames the file into place; false when anything failed.
  bool Commit();

 private:
  std::string path_, tmp_;
  int fd_ = -1;
};

}  // namespace stalecheck::cache_internal
