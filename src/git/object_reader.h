#pragma once
// Streaming reads of a repository's blobs from its pack files and loose objects.
//
// libgit2 (1.5) inflates a packed object whole, so a large blob costs its full size in
// memory, twice when it is a delta. This reader hands a blob's bytes to a callback in
// bounded chunks: an undeltified blob never sits in memory whole, and a deltified one costs
// only its delta base. Objects it cannot find (alternates, an old index format, a legacy
// loose object) are reported as NotFound so that the caller can ask libgit2 instead.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/git/pack.h"

namespace stalecheck::git {

/// Called with consecutive pieces of an object's bytes; the view is valid during the call.
using ChunkSink = std::function<void(absl::string_view)>;

/// Where and how an object is stored, for tests and diagnostics.
struct ObjectStorage {
  bool packed = false;
  int pack_type = 0;    // 1..4 whole (commit, tree, blob, tag), 6 offset delta, 7 reference delta
  int delta_depth = 0;  // deltas between the object and its whole base
};

/// Per-thread working memory (inflate state and buffers); one per worker, never shared.
class ReadScratch {
 public:
  ReadScratch();
  ~ReadScratch();
  ReadScratch(const ReadScratch&) = delete;
  ReadScratch& operator=(const ReadScratch&) = delete;

 private:
  friend class ObjectReader;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The objects of one repository's object directory. Thread-safe after Open: any number of
/// threads may read at once, each with its own ReadScratch.
class ObjectReader {
 public:
  /// Indexes `objects_dir` (`.git/objects`): every `pack/*.idx` of version 2 is mapped;
  /// loose objects are looked up on demand. A pack it cannot use (another index version, a
  /// damaged index) is left out, so that its objects are NotFound here and read elsewhere.
  static std::unique_ptr<ObjectReader> Open(const std::string& objects_dir);
  ~ObjectReader();

  /// Streams the blob `id` to `sink` and returns its size. NotFound: the object is not in
  /// this directory's packs or loose objects (the caller may ask libgit2). DataLoss: corrupt
  /// data. InvalidArgument: the object is not a blob.
  absl::StatusOr<uint64_t> ReadBlob(const ObjectId& id, ReadScratch& scratch,
                                    const ChunkSink& sink) const;

  /// A key for the order of reads: objects read in ascending key order are read in the
  /// order they are stored, so that a delta family (written together by git) shares its
  /// base through the cache. Loose and unknown objects sort last.
  uint64_t ReadOrder(const ObjectId& id) const;

  /// How `id` is stored; NotFound as for ReadBlob.
  absl::StatusOr<ObjectStorage> Storage(const ObjectId& id) const;

 private:
  struct Impl;
  explicit ObjectReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stalecheck::git
