#pragma once
// The readers behind ReadImage, one per transport.

#include <string>

#include "absl/status/statusor.h"
#include "stalecheck/cache.h"
#include "stalecheck/engine.h"
#include "stalecheck/image.h"

namespace stalecheck::internal {

absl::StatusOr<ImageView> ReadDockerArchive(const std::string& path, const std::string& tag, int jobs);
absl::StatusOr<ImageView> ReadOciLayout(const std::string& dir, const std::string& tag,
                                        const std::string& platform, int jobs);
absl::StatusOr<ImageView> ReadDaemonImage(const std::string& ref, const ReadOptions& options);
/// The image from the engine's own overlay2 storage (local, readable by root), or nullopt.
absl::StatusOr<std::optional<ImageView>> ImageFromEngineStorage(const EngineClient& client, const std::string& image_id,
                                                               int jobs, const LayerCache& cache);
absl::StatusOr<ImageView> ReadDaemonImage(const EngineClient& client, const std::string& ref, const LayerCache& cache);
absl::StatusOr<ImageView> ReadContainer(const std::string& ref, const ReadOptions& options);
absl::StatusOr<ImageView> ReadRegistryImage(const std::string& ref, const ReadOptions& options);
absl::StatusOr<ImageView> ReadFlatTar(const std::string& path);
absl::StatusOr<ImageView> ReadRootfs(const std::string& dir, int jobs);

}  // namespace stalecheck::internal
