// docker://: an image in a registry, read through the OCI distribution API: the manifest (an
// index chooses by platform, attestations skipped), the config, and each layer streamed
// through the layer reader, checked against its digest and diff_id, never stored.

#include <atomic>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/image/internal.h"
#include "src/image/readers.h"
#include "stalecheck/registry.h"
#include "stalecheck/util.h"

namespace stalecheck::internal {
absl::StatusOr<ImageView> ReadRegistryImage(const std::string& ref_text, const ReadOptions& options) {
  absl::StatusOr<ImageReference> ref = ParseImageReference(ref_text);
  if (!ref.ok()) return ref.status();
  RegistryOptions ro;
  ro.timeout = options.timeout;
  ro.tls_verify = options.tls_verify;
  ro.cert_dir = options.cert_dir;
  RegistryClient client(*ref, ro);
  const std::string platform = options.platform.empty() ? HostPlatform() : options.platform;
  std::string media_type;
  absl::StatusOr<std::string> body = client.Manifest(ref->Reference(), &media_type);
  if (!body.ok()) return body.status();
  nlohmann::json manifest;
  std::string manifest_digest = Sha256Of(*body);
  for (int depth = 0;; ++depth) {
    if (depth > 4) return absl::InvalidArgumentError("indexes nested too deep");
    absl::StatusOr<nlohmann::json> doc = ParseJson(*body, absl::StrCat("manifest ", manifest_digest));
    if (!doc.ok()) return doc.status();
    if (!doc->is_object()) return absl::InvalidArgumentError(absl::StrCat("manifest ", manifest_digest, ": not a JSON object"));
    const std::string declared = JsonString(*doc, "mediaType");
    if (!declared.empty() && !media_type.empty() && declared != media_type && media_type != "application/json") {
      return absl::InvalidArgumentError(absl::StrCat("manifest ", manifest_digest, ": it says it is ", declared,
                                                     ", the registry sent it as ", media_type));
    }
    const std::string mt = media_type.empty() || media_type == "application/json" ? declared : media_type;
    if (mt == "application/vnd.docker.distribution.manifest.v1+prettyjws" ||
        mt == "application/vnd.docker.distribution.manifest.v1+json") {
      return absl::InvalidArgumentError("a schema 1 manifest: too old to say what its layers are; push the image again");
    }
    if (IsIndex(mt) || (doc->contains("manifests") && !doc->contains("layers"))) {
      std::vector<nlohmann::json> descs;
      if (auto m = doc->find("manifests"); m != doc->end() && m->is_array()) {
        for (const nlohmann::json& d : *m) {
          if (d.is_object()) descs.push_back(d);
        }
      }
      absl::StatusOr<nlohmann::json> chosen = ChooseManifest(descs, platform, absl::StrCat("index ", manifest_digest));
      if (!chosen.ok()) return chosen.status();
      manifest_digest = JsonString(*chosen, "digest");
      body = client.Manifest(manifest_digest, &media_type);
      if (!body.ok()) return body.status();
      continue;
    }
    manifest = std::move(*doc);
    break;
  }
  auto cfg = manifest.find("config");
  auto lyr = manifest.find("layers");
  if (cfg == manifest.end() || !cfg->is_object() || lyr == manifest.end() || !lyr->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("manifest ", manifest_digest, ": no config or layers"));
  }
  absl::StatusOr<std::string> config = client.SmallBlob(JsonString(*cfg, "digest"));
  if (!config.ok()) return config.status();
  std::vector<std::string> digests;
  std::vector<uint64_t> sizes;
  for (const nlohmann::json& l : *lyr) {
    digests.push_back(JsonString(l, "digest"));
    sizes.push_back(l.contains("size") && l["size"].is_number_unsigned() ? l["size"].get<uint64_t>() : 0);
    if (!absl::StartsWith(digests.back(), "sha256:")) {
      return absl::InvalidArgumentError(absl::StrCat("manifest ", manifest_digest, ": a layer without a sha256 digest"));
    }
  }
  // Layers the cache holds (by the config's diff_ids) are not fetched.
  const LayerCache cache = LayerCache::Default(options.use_cache);
  std::vector<std::string> diff_ids;
  {
    nlohmann::json cj = nlohmann::json::parse(*config, nullptr, false);
    if (cj.is_object() && cj.contains("rootfs") && cj["rootfs"].is_object() && cj["rootfs"].contains("diff_ids") &&
        cj["rootfs"]["diff_ids"].is_array()) {
      for (const nlohmann::json& d : cj["rootfs"]["diff_ids"]) diff_ids.push_back(d.is_string() ? d.get<std::string>() : "");
    }
  }
  std::vector<LayerContents> layers(digests.size());
  std::vector<bool> from_cache(digests.size(), false);
  for (size_t i = 0; i < digests.size() && diff_ids.size() == digests.size(); ++i) {
    if (std::optional<LayerContents> hit = cache.Get(diff_ids[i])) {
      const std::string mt = JsonString((*lyr)[i], "mediaType");
      const Compression c = absl::EndsWith(mt, "zstd") ? Compression::kZstd
                            : absl::EndsWith(mt, "gzip") || absl::EndsWith(mt, ".tar.gzip") ? Compression::kGzip
                                                                                               : Compression::kNone;
      layers[i] = AsStored(std::move(*hit), digests[i], c);
      from_cache[i] = true;
    }
  }
  absl::Status st = ParallelFor(digests.size(), options.jobs, [&](size_t i) -> absl::Status {
    if (from_cache[i]) return absl::OkStatus();
    const std::string name = absl::StrCat("layer ", i, " (", digests[i], ")");
    std::atomic<uint64_t> got{0};
    bool over = false;
    PipeReader in(
        [&](int fd) {
          std::function<bool(const char*, size_t)> sink = [&](const char* data, size_t len) {
            got += len;
            if (sizes[i] > 0 && got > sizes[i]) {
              over = true;  // more than the manifest says: stop reading
              return false;
            }
            size_t done = 0;
            while (done < len) {
              ssize_t w = ::write(fd, data + done, len - done);
              if (w < 0) {
                if (errno == EINTR) continue;
                return false;
              }
              done += static_cast<size_t>(w);
            }
            return true;
          };
          absl::Status s = client.StreamBlob(digests[i], sink);
          ::close(fd);
          if (over) return absl::DataLossError(absl::StrCat(name, ": the registry sent more than its ", sizes[i], " bytes"));
          return s;
        },
        name);
    absl::StatusOr<LayerContents> layer = DecodeLayer(in, name);
    absl::Status streamed = in.Finish();
    if (!streamed.ok()) return streamed;
    if (!layer.ok()) return layer.status();
    layers[i] = std::move(*layer);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  absl::StatusOr<ImageView> view = AssembleImage("docker", ref_text, *config, std::move(layers), std::move(digests));
  if (!view.ok()) return view;
  for (size_t i = 0; i < view->layers.size(); ++i) view->layers[i].cached = from_cache[i];
  CacheView(cache, *view, "");
  return view;
}

}  // namespace stalecheck::internal
