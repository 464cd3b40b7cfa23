#pragma once
// Helpers shared by the image readers; not part of the public interface.

#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "stalecheck/cache.h"
#include "stalecheck/hash.h"
#include "stalecheck/image.h"
#include "stalecheck/layer.h"

namespace stalecheck::internal {

/// Passes bytes through and hashes them (SHA-256) on the way.
class HashingReader : public ByteReader {
 public:
  explicit HashingReader(ByteReader& in) : in_(in) {}
  absl::StatusOr<size_t> Read(char* buf, size_t cap) override;
  std::string Digest() { return sha_.Finish(); }
  uint64_t bytes() const { return bytes_; }

 private:
  ByteReader& in_;
  Sha256 sha_;
  uint64_t bytes_ = 0;
};

/// Reads `in` on a thread of its own, up to `depth` chunks ahead of the consumer: a layer's
/// decompression and digests run beside its tar parsing and file hashing. `in` belongs to that
/// thread until Finish (or the destructor) joins it. The chunks are a fixed pool of depth + 1
/// buffers, allocated once and passed back and forth, so a layer of any size costs the same.
class ReadAheadReader : public ByteReader {
 public:
  explicit ReadAheadReader(ByteReader& in, size_t chunk = size_t{1} << 20, size_t depth = 4);
  ~ReadAheadReader() override;
  ReadAheadReader(const ReadAheadReader&) = delete;
  ReadAheadReader& operator=(const ReadAheadReader&) = delete;
  absl::StatusOr<size_t> Read(char* buf, size_t cap) override;
  /// Stops reading ahead and joins the thread; `in` is the caller's again.
  void Finish();

 private:
  struct Chunk {
    std::unique_ptr<char[]> bytes;
    size_t size = 0;
  };
  void Run();
  ByteReader& in_;
  const size_t chunk_, depth_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> ready_;  // filled, in stream order
  std::vector<Chunk> spare_;  // consumed, for the reading thread to fill again
  Chunk current_;
  size_t pos_ = 0;
  bool done_ = false, stop_ = false;
  absl::Status error_;
  std::thread thread_;
};

/// Gives back bytes already taken (a sniffed head) before the rest of the stream.
class PrefixedReader : public ByteReader {
 public:
  PrefixedReader(std::string prefix, ByteReader& in) : prefix_(std::move(prefix)), in_(in) {}
  absl::StatusOr<size_t> Read(char* buf, size_t cap) override;

 private:
  std::string prefix_;
  ByteReader& in_;
};

/// Reads up to `want` bytes (fewer only at the end of the stream).
absl::Status ReadHead(ByteReader& in, size_t want, std::string* head);

/// Reads a stream to its end.
absl::Status Drain(ByteReader& in);

/// gzip (one or more members) decompressed with ISA-L.
class GzipReader : public ByteReader {
 public:
  explicit GzipReader(ByteReader& in);
  absl::StatusOr<size_t> Read(char* buf, size_t cap) override;

 private:
  static constexpr size_t kBufSize = 256 << 10;
  absl::Status Refill();
  ByteReader& in_;
  inflate_state state_;
  std::vector<uint8_t> inbuf_;
  bool in_eof_ = false;
  bool finished_ = false;
};

/// zstd (one or more frames) decompressed with libzstd.
class ZstdReader : public ByteReader {
 public:
  explicit ZstdReader(ByteReader& in);
  ~ZstdReader() override;
  absl::StatusOr<size_t> Read(char* buf, size_t cap) override;

 private:
  ByteReader& in_;
  std::vector<char> inbuf_;
  ZSTD_DStream* ds_;
  ZSTD_inBuffer input_;
  size_t last_ret_ = 0;
  bool in_eof_ = false;
};

/// Parses a JSON document; errors name `what`.
/// What the engine says of a container (GET /containers/{id}/json?size=1).
struct ContainerDescription {
  ContainerInfo info;               // id, name, status, image, Config.Image, mounts
  std::optional<uint64_t> size_rw;  // SizeRw, when given
  std::string upper_dir;            // overlay2's UpperDir ("" for other drivers)
};
/// Errors: not JSON, not an object, no id or image, a mount without an absolute destination.
absl::StatusOr<ContainerDescription> ParseContainerDescription(const std::string& text);

/// The engine's change list (GET /containers/{id}/changes): changed paths, and deleted ones
/// (Kind 2), cleaned. Errors: not JSON, not an array (null is empty), an entry without Path or Kind.
struct ChangeList {
  std::vector<std::string> changed;
  std::vector<std::string> deleted;
};
absl::StatusOr<ChangeList> ParseChangeList(const std::string& text);

absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text, absl::string_view what);

/// "os/architecture[/variant]" of an OCI descriptor's `platform` or of an image config.
std::string PlatformString(const nlohmann::json& j);

/// Whether an image of platform `have` ("os/arch[/variant]") is what `want` asks for: equal,
/// or `want` names no variant and `have` adds one.
bool PlatformMatches(const std::string& have, const std::string& want);

/// The string at `key` of a JSON object; "" when it is absent or not a string.
std::string JsonString(const nlohmann::json& j, const char* key);

/// Whether a manifest media type is an index (OCI index, Docker manifest list).
bool IsIndex(const std::string& media_type);

/// "linux/<this machine's architecture>", as Docker names it.
std::string HostPlatform();

/// Whether an index entry is a BuildKit attestation, not an image.
bool IsAttestation(const nlohmann::json& desc);

/// The one descriptor a list of them means: attestations skipped, then by platform among
/// several. `where` names the list in errors.
absl::StatusOr<nlohmann::json> ChooseManifest(const std::vector<nlohmann::json>& descs, const std::string& platform,
                                              const std::string& where);

/// Keeps each layer of a verified view in the cache, and (when `key` is not empty) a record
/// of the image under `key`: its config, image id, and each layer's blob digest and
/// compression, so that the image can be assembled again without reading any of it.
void CacheView(const LayerCache& cache, const ImageView& view, const std::string& key);

/// The image recorded under `key`, when its record and every one of its layers are cached.
absl::StatusOr<std::optional<ImageView>> CachedView(const LayerCache& cache, const std::string& key,
                                                   const std::string& transport, const std::string& ref);

/// A cached layer as a transport names it: its blob digest and compression.
LayerContents AsStored(LayerContents layer, const std::string& blob_digest, Compression compression);

/// Builds the image view from a config blob and decoded layers (in manifest order):
/// verifies each layer's diff_id against the config, matches history to layers, applies them.
absl::StatusOr<ImageView> AssembleImage(std::string transport, std::string ref,
                                        absl::string_view config_bytes,
                                        std::vector<LayerContents> layers,
                                        std::vector<std::string> layer_digests);

}  // namespace stalecheck::internal
