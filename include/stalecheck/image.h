#pragma once
// Image views: the final filesystem of an image (or a flat tree), each path with the layer
// that put it there, and the layers with their history. Readers for every offline target.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "stalecheck/layer.h"

namespace stalecheck {

struct LayerInfo {
  int index = 0;
  std::string digest;      // sha256 of the blob as stored ("" for flat targets)
  std::string diff_id;     // sha256 of the uncompressed tar
  std::string compression; // "none", "gzip", "zstd"
  std::optional<std::string> created_by;  // from the matched history entry
  std::optional<std::string> created;
  std::optional<std::string> comment;
  uint64_t entries = 0;
};

/// One entry of the image config's history, in build order.
struct HistoryEntry {
  std::optional<std::string> created_by;
  std::optional<std::string> created;
  std::optional<std::string> comment;
  int layer = -1;  // the layer it made, or -1 for an empty_layer entry
};

struct ImageView {
  std::string transport;  // "docker-archive", "oci", "tar", "rootfs"
  std::string ref;        // as named on the command line, without the transport
  std::optional<std::string> image_id;  // sha256 of the config
  std::vector<LayerInfo> layers;
  std::vector<HistoryEntry> history;  // every history entry, empty ones included
  nlohmann::json config;  // the image config (null for flat targets)
  std::map<std::string, ViewEntry> files;  // the final filesystem, by absolute path
  std::vector<LayerChanges> changes;       // per layer: what it wrote and deleted
  bool flat = false;  // tar: and rootfs: one filesystem, no layers to tell copies from RUN
};

/// A parsed target name (SPEC §2).
struct TargetName {
  std::string transport;
  std::string ref;   // path (and for docker-archive/oci an optional :tag), or image reference
};

/// Splits "transport:ref"; a bare name is an existing file (docker-archive), an existing
/// directory holding `oci-layout` (oci), else an image in the engine (docker-daemon).
absl::StatusOr<TargetName> ParseTarget(const std::string& target);

struct ReadOptions {
  int jobs = 0;
  std::string platform;  // "os/arch[/variant]"; "" = the host's (linux/amd64 here)
  std::string docker_host;  // Engine API endpoint; "" = DOCKER_HOST, else the default socket
};

/// Reads a target into its view. Every blob is checked against its digest and every layer
/// against its diff_id; a mismatch, a missing blob, a truncated or corrupt archive is an
/// error naming the target and the layer.
absl::StatusOr<ImageView> ReadImage(const TargetName& target, const ReadOptions& options);

/// Whether the image's own build was the legacy builder's, from its top history entry with a
/// command: BuildKit marks each entry `buildkit.dockerfile.v0`; the legacy builder writes
/// `#(nop)` entries and bare RUN commands with no comment.
bool BuiltByLegacyBuilder(const ImageView& view);

}  // namespace stalecheck
