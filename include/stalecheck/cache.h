#pragma once
// Caches of verified results, content-addressed, under $XDG_CACHE_HOME/stalecheck/: a layer's
// entry index keyed by its diff_id, and small records (what an image's config and blobs are)
// keyed by an image's own digest. A cache never decides a verdict on its own: an entry that
// is absent, of another format, truncated or corrupt is a miss (and a bad one is removed).

#include <cstdint>
#include <optional>
#include <string>

#include "stalecheck/layer.h"

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

  /// A small record keyed by a content digest ("sha256:…").
  std::optional<std::string> GetRecord(const std::string& key) const;
  void PutRecord(const std::string& key, const std::string& bytes) const;

 private:
  std::string PathOf(const char* kind, const std::string& digest) const;
  std::optional<std::string> Load(const std::string& path) const;
  void Store(const std::string& path, const std::string& body) const;
  void Evict() const;

  std::string dir_;
  uint64_t max_bytes_;
};

/// The serialised form of a layer's index (exposed for tests).
std::string EncodeLayerIndex(const LayerContents& layer);
std::optional<LayerContents> DecodeLayerIndex(const std::string& body);

}  // namespace stalecheck
