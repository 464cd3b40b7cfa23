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
  bool cached = false;     // its index came from the layer cache, not from reading it
};

/// One entry of the image config's history, in build order.
struct HistoryEntry {
  std::optional<std::string> created_by;
  std::optional<std::string> created;
  std::optional<std::string> comment;
  int layer = -1;  // the layer it made, or -1 for an empty_layer entry
};

/// A mount of a container: a volume or a bind mount (Engine API `Mounts[]`).
struct MountInfo {
  std::string type;         // "bind", "volume", "tmpfs", ...
  std::string name;         // a volume's name ("" otherwise)
  std::string source;       // on the engine's host
  std::string destination;  // absolute, in the container
  bool rw = true;
};

/// A layer of a container above its image's: what changed inside the container at runtime,
/// or what a mount shows over its destination.
struct RuntimeLayer {
  std::string origin;  // "container" or "mount"
  int mount = -1;      // index into ContainerInfo::mounts for a mount
};

/// What a container target is, besides its image.
struct ContainerInfo {
  std::string id;
  std::string name;            // without the leading '/'
  std::string status;          // created, running, paused, restarting, exited, dead
  std::string image_id;        // the image it was created from
  std::string config_image;    // the image name it was created with (Config.Image)
  std::optional<std::string> image_now;  // what that name points to now (null: to nothing)
  std::vector<MountInfo> mounts;
  bool image_gone = false;     // the engine no longer has that image (the containerd image
                               // store drops an image whose name moved): the container's
                               // files are read whole, with no layer to tell them by
  std::string read_by;         // how its runtime changes were read: "overlay2" or "api"
  std::string image_read_by;   // how its image was: "overlay2" (the engine's storage) or "api" (its export)
  bool changes_complete = false;  // the engine's change list holds every changed path
  std::string incomplete_why;     // why it cannot be trusted, when it is not
  std::vector<std::string> read_whole;  // directories read whole (mounts, and roots when the
                                        // change list was not complete)
  bool outdated() const { return image_now.has_value() ? *image_now != image_id : true; }
};

struct ImageView {
  std::string transport;  // "docker-archive", "oci", "tar", "rootfs"
  std::string ref;        // as named on the command line, without the transport
  std::optional<std::string> image_id;  // sha256 of the config
  std::vector<LayerInfo> layers;
  std::vector<HistoryEntry> history;  // every history entry, empty ones included
  nlohmann::json config;  // the image config (null for flat targets)
  std::map<std::string, ViewEntry> files;  // the final filesystem, by absolute path
  std::vector<LayerChanges> changes;       // per layer: what it wrote and deleted; a container's
                                           // runtime layers follow its image's layers
  std::vector<RuntimeLayer> runtime;       // runtime[k] describes changes[layers.size() + k]
  std::optional<ContainerInfo> container;  // for container: targets
  bool flat = false;  // tar: and rootfs: one filesystem, no layers to tell copies from RUN
};

/// A parsed target name (SPEC §2).
struct TargetName {
  std::string transport;
  std::string ref;   // path (and for docker-archive/oci an optional :tag), or image reference
  /// As written on the command line: "docker-archive:app.tar", "docker://host/repo:tag".
  std::string ToString() const;
};

/// A target as written on the command line, from its transport and ref.
std::string TargetString(const std::string& transport, const std::string& ref);

/// Splits "transport:ref"; a bare name is an existing file (docker-archive), an existing
/// directory holding `oci-layout` (oci), else an image in the engine (docker-daemon).
absl::StatusOr<TargetName> ParseTarget(const std::string& target);

struct ReadOptions {
  int jobs = 0;
  std::string platform;  // "os/arch[/variant]"; "" = the host's (linux/amd64 here)
  std::string docker_host;  // Engine API endpoint; "" = DOCKER_HOST, else the default socket
  int timeout = 60;         // seconds: the longest wait for any one network read
  bool tls_verify = true;   // docker://: false allows plain HTTP and unverified HTTPS
  std::string cert_dir;     // docker://: CA certificates to trust
  bool engine_storage = true;  // may read a local engine's overlay2 storage directly (root)
  bool use_cache = true;    // the layer cache ($XDG_CACHE_HOME/stalecheck) may be read and written
};

/// Reads a target into its view. Every blob is checked against its digest and every layer
/// against its diff_id; a mismatch, a missing blob, a truncated or corrupt archive is an
/// error naming the target and the layer.
absl::StatusOr<ImageView> ReadImage(const TargetName& target, const ReadOptions& options);

/// The runtime layer (index into `runtime`) that holds the top-most version of a path of the
/// view, or -1 for an image layer.
int RuntimeIndex(const ImageView& view, int layer);

/// For a container: reads what the image view cannot know yet, under `roots` (absolute
/// directories; the copy plan's destinations, or "/"): the contents of the mounts over them,
/// and, when the engine's change list is not complete, the roots whole, each file that differs
/// from the image's being a runtime change. A no-op for any other target.
absl::Status ReadContainerPaths(ImageView& view, const std::vector<std::string>& roots, const ReadOptions& options);

/// Whether the image's own build was the legacy builder's, from its top history entry with a
/// command: BuildKit marks each entry `buildkit.dockerfile.v0`; the legacy builder writes
/// `#(nop)` entries and bare RUN commands with no comment.
bool BuiltByLegacyBuilder(const ImageView& view);

}  // namespace stalecheck
