#pragma once
// Reading one layer: bytes in (a reader seam), decompression by magic bytes, tar entries out,
// with the blob digest and the diff_id computed in the same pass. And the layered view:
// layers applied in order with whiteouts and opaque directories.

#include <cstddef>
#include <cstdint>
#include <map>
#include <functional>
#include <memory>
#include <thread>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "stalecheck/entry.h"

namespace stalecheck {

/// A pull-style byte stream: the seam every image reader goes through.
class ByteReader {
 public:
  virtual ~ByteReader() = default;
  /// Reads up to `cap` bytes; 0 at the end. Errors say what failed.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t cap) = 0;
};

/// A reader over bytes in memory.
class MemoryReader : public ByteReader {
 public:
  explicit MemoryReader(absl::string_view data) : data_(data) {}
  absl::StatusOr<size_t> Read(char* buf, size_t cap) override;

 private:
  absl::string_view data_;
};

/// A reader over a file descriptor (owned), from its current position to its end.
class FdReader : public ByteReader {
 public:
  explicit FdReader(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  ~FdReader() override;
  absl::StatusOr<size_t> Read(char* buf, size_t cap) override;
  /// Opens a file for reading.
  static absl::StatusOr<std::unique_ptr<FdReader>> Open(const std::string& path);

 private:
  int fd_;
  std::string name_;
};

/// A pull stream over what a producer writes, in a thread of its own, into a pipe (an HTTP
/// transfer, say): `produce` writes to the descriptor it is given and closes it. The status
/// `produce` returns is the error of the read that meets the end of the stream.
class PipeReader : public ByteReader {
 public:
  PipeReader(std::function<absl::Status(int fd)> produce, std::string name);
  ~PipeReader() override;
  absl::StatusOr<size_t> Read(char* buf, size_t cap) override;
  /// Stops reading (a producer still writing meets a closed pipe) and returns its status.
  absl::Status Finish();

 private:
  std::unique_ptr<FdReader> reader_;
  std::thread writer_;
  absl::Status produced_;
};

enum class Compression { kNone, kGzip, kZstd };

/// Compression by magic bytes: gzip 1f 8b, zstd 28 b5 2f fd, anything else none.
Compression SniffCompression(absl::string_view head);

/// Whether a stream's first 512 bytes are a tar header ("ustar" magic at offset 257).
bool LooksLikeTar(absl::string_view head);

/// Whether a stream looks like a layer: compressed (gzip, zstd) or a tar.
bool LooksLikeLayer(absl::string_view head);
const char* CompressionName(Compression c);

/// One tar entry of a layer, before the layers are applied.
struct LayerEntry {
  FileEntry file;            // path absolute ("/app/x"), normalised
  std::string hardlink;      // for a hard link: the absolute path it links to
};

struct LayerContents {
  std::vector<LayerEntry> entries;      // in tar order
  std::vector<std::string> whiteouts;   // absolute paths deleted from lower layers
  std::vector<std::string> opaque_dirs; // absolute directories whose lower children are hidden
  std::string blob_digest;              // sha256 of the bytes as stored
  std::string diff_id;                  // sha256 of the uncompressed tar (the same as
                                        // blob_digest for an uncompressed layer: hashed once)
  Compression compression = Compression::kNone;
  uint64_t stored_bytes = 0;
  uint64_t tar_bytes = 0;
};

/// Reads a whole layer from `in`: detects the compression, decompresses, reads the tar,
/// hashes every regular file (XXH3-128) and both digests, in one streaming pass; memory
/// holds entries, never file contents. `name` prefixes every error ("layer 2 (sha256:…)").
/// Errors: truncated or corrupt compression or tar data, a path that escapes the root
/// ("../"), a hard link to a path that escapes the root.
absl::StatusOr<LayerContents> DecodeLayer(ByteReader& in, absl::string_view name);

/// One path of the final filesystem and the layer that put its top-most version there.
struct ViewEntry {
  FileEntry file;
  int layer = 0;
  bool implied = false;  // a parent directory no entry of `layer` wrote: made (0755) because
                         // an entry below it needs one
};

/// What one layer changed, as applied: the entries it wrote (hard links resolved to the
/// content they name), and the paths it deleted from the layers below.
struct LayerChanges {
  std::vector<FileEntry> entries;       // in tar order, absolute paths
  std::vector<std::string> whiteouts;   // absolute paths deleted from lower layers
  std::vector<std::string> opaque_dirs; // directories whose lower children are hidden
};

/// The final filesystem, and each layer's own changes (the version each layer wrote, which
/// a later layer may have changed or deleted).
struct LayeredFiles {
  std::map<std::string, ViewEntry> files;
  std::vector<LayerChanges> layers;
};

/// The final filesystem of layers applied in order (OCI rules): a layer's whiteouts and opaque
/// directories first, hiding lower layers only, then its entries; a non-directory over a
/// directory replaces the whole subtree; hard links take the content of the path they name
/// (earlier in the same layer or below); missing parent directories are created (0755).
/// Error: a hard link to a path that does not exist.
absl::StatusOr<LayeredFiles> ApplyLayers(std::vector<LayerContents> layers);

/// Applies one more layer on top (the same rules).
absl::Status ApplyLayer(LayeredFiles& files, LayerContents layer);

/// Reads the first entry of a tar stream (plain), for one path of a container's archive:
/// nullopt when the stream holds none. The rest of the stream is not read.
absl::StatusOr<std::optional<LayerEntry>> DecodeFirstEntry(ByteReader& in, absl::string_view name);

/// Lookups in one layer's changes.
class LayerIndex {
 public:
  explicit LayerIndex(const LayerChanges& changes);
  /// What the layer wrote at `path`, or null.
  const FileEntry* Written(const std::string& path) const;
  /// Whether the layer deleted `path` from the layers below: a whiteout of it or a parent, an
  /// opaque parent, or a non-directory written over a parent.
  bool Deletes(const std::string& path) const;

 private:
  absl::flat_hash_map<absl::string_view, const FileEntry*> written_;  // into the changes' own paths
  std::vector<std::string> whiteouts_, opaque_dirs_;  // sorted
};

}  // namespace stalecheck
