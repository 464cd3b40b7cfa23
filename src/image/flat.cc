// tar: and rootfs: one flat filesystem, no layers, no history.

#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "src/image/internal.h"
#include "src/image/readers.h"
#include "stalecheck/util.h"
#include "stalecheck/walk.h"

namespace stalecheck::internal {

absl::StatusOr<ImageView> ReadFlatTar(const std::string& path) {
  std::unique_ptr<ByteReader> in;
  if (path == "-") {
    in = std::make_unique<FdReader>(::dup(STDIN_FILENO), "standard input");
  } else {
    absl::StatusOr<std::unique_ptr<FdReader>> f = FdReader::Open(path);
    if (!f.ok()) return f.status();
    in = std::move(*f);
  }
  absl::StatusOr<LayerContents> layer = DecodeLayer(*in, path == "-" ? "standard input" : path);
  if (!layer.ok()) return layer.status();
  ImageView view;
  view.transport = "tar";
  view.ref = path;
  LayerInfo info;
  info.diff_id = layer->diff_id;
  info.compression = CompressionName(layer->compression);
  info.entries = layer->entries.size();
  view.layers.push_back(std::move(info));
  std::vector<LayerContents> layers;
  layers.push_back(std::move(*layer));
  absl::StatusOr<LayeredFiles> files = ApplyLayers(std::move(layers));
  if (!files.ok()) return files.status();
  view.files = std::move(files->files);
  view.flat = true;
  return view;
}

absl::StatusOr<ImageView> ReadRootfs(const std::string& dir, int jobs) {
  IgnoreMatcher nothing;
  // Devices and FIFOs of an unpacked filesystem are listed as the special files they are.
  absl::StatusOr<WalkedTree> tree = WalkTreeWithStats(dir, nothing, BuildRules::Buildx(), jobs, true);
  if (!tree.ok()) return tree.status();
  if (absl::StatusOr<uint64_t> read = HashPending(dir, *tree, jobs); !read.ok()) return read.status();
  std::vector<FileEntry>* entries = &tree->entries;
  ImageView view;
  view.transport = "rootfs";
  view.ref = dir;
  view.flat = true;
  LayerInfo info;
  info.entries = entries->size();
  view.layers.push_back(std::move(info));
  for (FileEntry& e : *entries) {
    ViewEntry ve;
    e.path = absl::StrCat("/", e.path);
    std::string key = e.path;
    ve.file = std::move(e);
    view.files.emplace(std::move(key), std::move(ve));
  }
  return view;
}

}  // namespace stalecheck::internal
