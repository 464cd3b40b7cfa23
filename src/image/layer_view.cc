#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "src/image/internal.h"
#include "stalecheck/image.h"

namespace stalecheck::internal {

absl::StatusOr<nlohmann::json> ParseJson(absl::string_view text, absl::string_view what) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(what, ": malformed JSON"));
  return j;
}

namespace {

std::optional<std::string> OptString(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

LayerContents AsStored(LayerContents layer, const std::string& blob_digest, Compression compression) {
  layer.blob_digest = blob_digest;
  layer.compression = compression;
  return layer;
}

void CacheView(const LayerCache& cache, const ImageView& view, const std::string& key) {
  if (!cache.enabled()) return;
  nlohmann::json record = {{"config", view.config.dump()}, {"image_id", view.image_id.value_or("")}, {"layers", nlohmann::json::array()}};
  for (size_t i = 0; i < view.layers.size() && i < view.changes.size(); ++i) {
    const LayerInfo& info = view.layers[i];
    record["layers"].push_back({{"digest", info.digest}, {"compression", info.compression}});
    if (info.cached) continue;
    LayerContents lc;
    lc.diff_id = info.diff_id;
    for (const FileEntry& e : view.changes[i].entries) lc.entries.push_back(LayerEntry{e, ""});
    lc.whiteouts = view.changes[i].whiteouts;
    lc.opaque_dirs = view.changes[i].opaque_dirs;
    cache.Put(lc);
  }
  if (!key.empty()) cache.PutRecord(key, record.dump());
}

absl::StatusOr<std::optional<ImageView>> CachedView(const LayerCache& cache, const std::string& key,
                                                   const std::string& transport, const std::string& ref) {
  std::optional<std::string> text = cache.GetRecord(key);
  if (!text) return std::optional<ImageView>();
  nlohmann::json record = nlohmann::json::parse(*text, nullptr, false);
  if (!record.is_object() || !record.contains("config") || !record["config"].is_string() ||
      !record.contains("layers") || !record["layers"].is_array()) {
    return std::optional<ImageView>();
  }
  const std::string config = record["config"].get<std::string>();
  nlohmann::json cj = nlohmann::json::parse(config, nullptr, false);
  if (!cj.is_object() || !cj.contains("rootfs") || !cj["rootfs"].is_object() || !cj["rootfs"].contains("diff_ids") ||
      !cj["rootfs"]["diff_ids"].is_array() || cj["rootfs"]["diff_ids"].size() != record["layers"].size()) {
    return std::optional<ImageView>();
  }
  std::vector<LayerContents> layers;
  std::vector<std::string> digests;
  for (size_t i = 0; i < record["layers"].size(); ++i) {
    const nlohmann::json& d = cj["rootfs"]["diff_ids"][i];
    const nlohmann::json& l = record["layers"][i];
    if (!d.is_string() || !l.is_object()) return std::optional<ImageView>();
    std::optional<LayerContents> layer = cache.Get(d.get<std::string>());
    if (!layer) return std::optional<ImageView>();
    const std::string digest = l.value("digest", "");
    const std::string comp = l.value("compression", "none");
    layers.push_back(AsStored(std::move(*layer), digest,
                              comp == "gzip" ? Compression::kGzip : comp == "zstd" ? Compression::kZstd : Compression::kNone));
    digests.push_back(digest);
  }
  absl::StatusOr<ImageView> view = AssembleImage(transport, ref, config, std::move(layers), std::move(digests));
  if (!view.ok()) return std::optional<ImageView>();  // a record that does not fit its layers: a miss
  for (LayerInfo& info : view->layers) info.cached = true;
  if (std::string id = record.value("image_id", ""); !id.empty()) view->image_id = id;
  return std::optional<ImageView>(std::move(*view));
}

absl::StatusOr<ImageView> AssembleImage(std::string transport, std::string ref,
                                        absl::string_view config_bytes,
                                        std::vector<LayerContents> layers,
                                        std::vector<std::string> layer_digests) {
  ImageView view;
  view.transport = std::move(transport);
  view.ref = std::move(ref);
  absl::StatusOr<nlohmann::json> config = ParseJson(config_bytes, "image config");
  if (!config.ok()) return config.status();
  if (!config->is_object()) return absl::InvalidArgumentError("image config: not a JSON object");
  view.image_id = Sha256Of(config_bytes);
  view.config = std::move(*config);

  // Each layer must be the one the config names: its uncompressed tar hashes to the diff_id.
  const nlohmann::json* diff_ids = nullptr;
  if (auto rf = view.config.find("rootfs"); rf != view.config.end() && rf->is_object()) {
    if (auto d = rf->find("diff_ids"); d != rf->end() && d->is_array()) diff_ids = &*d;
  }
  if (diff_ids == nullptr) return absl::InvalidArgumentError("image config: no rootfs.diff_ids");
  if (diff_ids->size() != layers.size()) {
    return absl::InvalidArgumentError(absl::StrCat("image config lists ", diff_ids->size(),
                                                   " layers, the manifest ", layers.size()));
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    const nlohmann::json& want = (*diff_ids)[i];
    if (!want.is_string() || want.get<std::string>() != layers[i].diff_id) {
      return absl::DataLossError(absl::StrCat("layer ", i, ": diff_id mismatch: the config says ",
                                              want.is_string() ? want.get<std::string>() : "?",
                                              ", the layer's tar hashes to ", layers[i].diff_id));
    }
    if (i < layer_digests.size() && !layer_digests[i].empty() &&
        layer_digests[i] != layers[i].blob_digest) {
      return absl::DataLossError(absl::StrCat("layer ", i, ": digest mismatch: expected ",
                                              layer_digests[i], ", the blob hashes to ",
                                              layers[i].blob_digest));
    }
    LayerInfo info;
    info.index = static_cast<int>(i);
    info.digest = layers[i].blob_digest;
    info.diff_id = layers[i].diff_id;
    info.compression = CompressionName(layers[i].compression);
    info.entries = layers[i].entries.size() + layers[i].whiteouts.size() + layers[i].opaque_dirs.size();
    view.layers.push_back(std::move(info));
  }

  // History entries that made a layer take the next layer, in order.
  if (auto h = view.config.find("history"); h != view.config.end() && h->is_array()) {
    size_t next = 0;
    for (const nlohmann::json& entry : *h) {
      bool empty = false;
      if (entry.is_object()) {
        auto e = entry.find("empty_layer");
        empty = e != entry.end() && e->is_boolean() && e->get<bool>();
      }
      HistoryEntry he;
      he.created_by = OptString(entry, "created_by");
      he.created = OptString(entry, "created");
      he.comment = OptString(entry, "comment");
      if (!empty && next < view.layers.size()) {
        LayerInfo& info = view.layers[next];
        info.created_by = he.created_by;
        info.created = he.created;
        info.comment = he.comment;
        he.layer = static_cast<int>(next++);
      } else if (!empty) {
        break;  // more history than layers: the rest describes nothing here
      }
      view.history.push_back(std::move(he));
    }
  }

  absl::StatusOr<LayeredFiles> files = ApplyLayers(std::move(layers));
  if (!files.ok()) return files.status();
  view.files = std::move(files->files);
  view.changes = std::move(files->layers);
  return view;
}

}  // namespace stalecheck::internal
