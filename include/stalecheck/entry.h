#pragma once
// One filesystem entry as stalecheck compares it, shared by the context and image views.

#include <cstdint>
#include <string>

#include "stalecheck/hash.h"

namespace stalecheck {

/// kSpecial: a device or a FIFO, which buildx sends as what it is (its `target` describes it:
/// "char-device 1,3", "block-device 7,0", "fifo").
enum class FileType : uint8_t { kFile, kDir, kSymlink, kSpecial };

/// "file", "dir", "symlink" or "special", as the JSON schema writes it.
const char* FileTypeName(FileType type);

struct FileEntry {
  std::string path;  // '/'-separated; relative (context) or absolute (image)
  FileType type = FileType::kFile;
  uint32_t mode = 0;  // permission bits (07777)
  uint64_t size = 0;  // bytes of a file, length of a symlink target, 0 for a directory
  Digest128 digest;   // of the file bytes, or of the symlink target; zero for a directory
  std::string target;  // a symlink's target; what a special file is
  int64_t mtime = 0;   // seconds since the epoch (not part of any digest)
  std::string head;    // the first 16 bytes of a `.pyc` file (empty for anything else)
};

/// Whether a path names Python bytecode (ends in ".pyc").
bool IsPyc(const std::string& path);

}  // namespace stalecheck
