#pragma once
// Caches of verified results under $XDG_CACHE_HOME/stalecheck/: a layer's entry index keyed by
// its diff_id, small records (what an image's config and blobs are) keyed by an image's own
// digest, and a context's stat cache (each file's digest beside the stat data it was read
// under). A cache never decides a verdict on its own: an entry that is absent, of another
// format, truncated or corrupt is a miss (and a bad one is removed), and a stat record vouches
// for a file only when every field of its stat still agrees and it is not racily clean.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stalecheck/layer.h"
#include "stalecheck/walk.h"

namespace stalecheck {

/// $XDG_CACHE_HOME/stalecheck, else $HOME/.cache/stalecheck; "" when neither is set.
std::string CacheRoot();

class LayerCache {
 public:
  /// A cache in `dir` (made 0700 when first written), bounded to `max_bytes` (the least
  /// recently used entries go first); "" is a cache that holds nothing.
  explicit LayerCache(std::string dir, uint64_t max_bytes = uint64_t{2} << 30);
  /// The cache under CacheRoot(), or one that holds nothing when `enabled` is false.
  static LayerCache Default(bool enabled);

  bool enabled() const { return !dir_.empty(); }

  /// The layer whose uncompressed tar hashes to `diff_id` ("sha256:…"): its entries,
  /// whiteouts and opaque directories, and its diff_id. Blob digest and compression are the
  /// transport's to say.
  std::optional<LayerContents> Get(const std::string& diff_id) const;
  /// Keeps a verified layer (by its diff_id), written to a temporary file and renamed.
  /// Best effort: a cache that cannot be written is no error.
  void Put(const LayerContents& layer) const;

  /// A small record keyed by a content digest ("sha256:…"), in the directory `kind`
  /// ("images": what an image's config and blobs are; "programs": what a client printed).
  std::optional<std::string> GetRecord(const std::string& key, const char* kind = "images") const;
  void PutRecord(const std::string& key, const std::string& bytes, const char* kind = "images") const;

 private:
  std::string PathOf(const char* kind, const std::string& digest) const;
  std::optional<std::string> Load(const std::string& path) const;
  void Store(const std::string& path, const std::string& body) const;
  void Evict() const;

  std::string dir_;
  uint64_t max_bytes_;
};

/// A context directory's stat cache: for each regular file a walk read, its path, stat key
/// (device, inode, size, mtime and ctime in nanoseconds) and digest, sorted by path, in one
/// file under CacheRoot()/context/ named by the directory's real path. The file is read as a
/// stream merged with the walk (memory does not grow with it) in checksummed blocks.
///
/// A record is trusted only when the file's stat key equals the recorded one field for field,
/// and the recorded mtime and ctime are both more than kRacyMarginNs older than the moment the
/// walk that wrote the record began (git's racily-clean rule, with room for timestamps that
/// are coarse or a clock tick behind): a file changed after it was read, even in the same
/// second and with its mtime put back (`touch -r`), has a new ctime, and one changed within
/// the tick of its last stat is never vouched for.
class StatCache {
 public:
  static constexpr int64_t kRacyMarginNs = int64_t{2000000000};

  /// The cache of the context directory `dir`, or one that holds nothing when `enabled` is
  /// false, there is no cache root, or the cache root lies inside `dir` (writing there would
  /// change the context).
  static StatCache ForContext(const std::string& dir, bool enabled);
  /// A cache kept in `file` for the directory whose real path is `key` (tests).
  StatCache(std::string file, std::string key);

  bool enabled() const { return !file_.empty(); }
  /// Whether a cache file is there to read (a cold walk hashes small files as it goes).
  bool Exists() const;

  struct Applied {
    size_t trusted = 0;   // files given their digest from the cache
    size_t records = 0;   // records read
    bool intact = false;  // the whole file was read and every checksum held
  };
  /// Gives every regular file of `tree` not yet hashed, whose stat key matches a trusted
  /// record, that record's digest (and marks it hashed). A bad header or block ends the
  /// reading; the file is then removed.
  Applied Apply(WalkedTree& tree) const;

  /// Writes the hashed regular files of `tree` with their stat keys, as of `walk_started_ns`
  /// (the real-time clock, in nanoseconds, read before the walk began), to a temporary file
  /// renamed over the cache. Best effort.
  void Store(const WalkedTree& tree, int64_t walk_started_ns) const;

 private:
  std::string file_;
  std::string key_;
};

/// What `argv` printed, remembered under CacheRoot()/programs/ by the program file's real path
/// and stat key (device, inode, size, mtime, ctime) and the arguments: a client's
/// `docker --version` or `docker-buildx version` answer depends on nothing else, and asking
/// costs a Go program's start-up. Runs the program (RunCapture) when nothing is remembered,
/// the file's times are within the racy margin, or `enabled` is false; a failed run is not
/// remembered.
std::optional<std::string> ProgramOutput(const std::vector<std::string>& argv, bool enabled);

/// The real-time clock in nanoseconds (what StatCache::Store takes).
int64_t RealtimeNs();

/// Whether a file's mtime and ctime are both more than StatCache::kRacyMarginNs older than
/// `ns` (the start of the run that read it): only then can a later change not keep its key.
bool Settled(const StatKey& key, int64_t ns);

/// The serialised form of a layer's index (exposed for tests).
std::string EncodeLayerIndex(const LayerContents& layer);
std::optional<LayerContents> DecodeLayerIndex(const std::string& body);

}  // namespace stalecheck
