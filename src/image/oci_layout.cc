// oci: an OCI image layout directory. Nested indexes, platform choice, attestation manifests
// skipped; layers decoded in parallel, each blob checked against its digest.

#include <sys/stat.h>
#include <sys/utsname.h>

#include "absl/strings/match.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/image/internal.h"
#include "src/image/readers.h"
#include "stalecheck/util.h"

namespace stalecheck::internal {
namespace {

constexpr size_t kJsonBlobLimit = 16 << 20;

}  // namespace

std::string JsonString(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool IsIndex(const std::string& media_type) {
  return media_type == "application/vnd.oci.image.index.v1+json" ||
         media_type == "application/vnd.docker.distribution.manifest.list.v2+json";
}

std::string HostPlatform() {
  struct utsname u;
  std::string arch = "amd64";
  if (::uname(&u) == 0) {
    std::string m = u.machine;
    if (m == "aarch64") arch = "arm64";
    else if (m == "x86_64") arch = "amd64";
    else arch = m;
  }
  return absl::StrCat("linux/", arch);
}

// Validates "sha256:<64 hex>" and gives the blob's path.
absl::StatusOr<std::string> BlobPath(const std::string& dir, const std::string& digest) {
  std::vector<std::string> parts = absl::StrSplit(digest, absl::MaxSplits(':', 1));
  if (parts.size() != 2 || parts[0] != "sha256" || parts[1].size() != 64 ||
      parts[1].find_first_not_of("0123456789abcdef") != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported or malformed digest '", digest, "'"));
  }
  return absl::StrCat(dir, "/blobs/sha256/", parts[1]);
}

absl::StatusOr<std::string> ReadJsonBlob(const std::string& dir, const std::string& digest) {
  absl::StatusOr<std::string> path = BlobPath(dir, digest);
  if (!path.ok()) return path.status();
  std::string data;
  if (absl::Status s = ReadSmallFile(*path, &data, kJsonBlobLimit); !s.ok()) {
    return absl::NotFoundError(absl::StrCat("blob ", digest, ": ", s.message()));
  }
  if (Sha256Of(data) != digest) {
    return absl::DataLossError(absl::StrCat("blob ", digest, ": digest mismatch"));
  }
  return data;
}

std::string PlatformOf(const nlohmann::json& desc) {
  auto p = desc.find("platform");
  if (p == desc.end() || !p->is_object()) return "";
  return PlatformString(*p);
}

bool IsAttestation(const nlohmann::json& desc) {
  auto a = desc.find("annotations");
  if (a != desc.end() && JsonString(*a, "vnd.docker.reference.type") == "attestation-manifest") return true;
  return PlatformOf(desc) == "unknown/unknown";
}


// Picks the one descriptor a list of them means: by platform among several.
absl::StatusOr<nlohmann::json> ChooseManifest(const std::vector<nlohmann::json>& descs,
                                      const std::string& platform, const std::string& where) {
  std::vector<nlohmann::json> usable;
  for (const auto& d : descs) {
    if (!IsAttestation(d)) usable.push_back(d);
  }
  if (usable.empty()) return absl::NotFoundError(absl::StrCat(where, ": no image manifest"));
  if (usable.size() == 1 && PlatformOf(usable[0]).empty()) return usable[0];
  std::vector<std::string> seen;
  for (const auto& d : usable) {
    std::string p = PlatformOf(d);
    if (p.empty() && usable.size() == 1) return d;
    if (PlatformMatches(p, platform)) return d;
    seen.push_back(p.empty() ? "(no platform)" : p);
  }
  if (usable.size() == 1) return usable[0];
  return absl::NotFoundError(absl::StrCat(where, ": no manifest for platform ", platform,
                                          " (it has ", absl::StrJoin(seen, ", "), ")"));
}

std::string PlatformString(const nlohmann::json& j) {
  std::string s = absl::StrCat(JsonString(j, "os"), "/", JsonString(j, "architecture"));
  if (std::string v = JsonString(j, "variant"); !v.empty()) absl::StrAppend(&s, "/", v);
  return s;
}

// containerd's normalisation (platforms.Normalize): architecture aliases, and the variants
// that mean the default ("linux/arm64/v8" is "linux/arm64", "linux/arm" is "linux/arm/v7").
std::string NormalizePlatform(const std::string& p) {
  std::vector<std::string> parts = absl::StrSplit(p, '/');
  if (parts.size() < 2) return p;
  std::string os = absl::AsciiStrToLower(parts[0]), arch = absl::AsciiStrToLower(parts[1]);
  std::string variant = parts.size() > 2 ? absl::AsciiStrToLower(parts[2]) : "";
  if (arch == "i386") arch = "386";
  else if (arch == "x86_64" || arch == "x86-64") arch = "amd64";
  else if (arch == "aarch64") arch = "arm64";
  else if (arch == "armhf") arch = "arm", variant = "v7";
  else if (arch == "armel") arch = "arm", variant = "v6";
  if (arch == "amd64" && variant == "v1") variant.clear();
  if (arch == "arm64") {
    if (variant == "8" || variant == "v8" || variant == "v8.0") variant.clear();
    else if (variant == "9" || variant == "9.0" || variant == "v9.0") variant = "v9";
  }
  if (arch == "arm") {
    if (variant.empty() || variant == "7") variant = "v7";
    else if (variant.size() == 1 && absl::ascii_isdigit(static_cast<unsigned char>(variant[0]))) variant = "v" + variant;
  }
  return variant.empty() ? absl::StrCat(os, "/", arch) : absl::StrCat(os, "/", arch, "/", variant);
}

bool PlatformMatches(const std::string& have_in, const std::string& want_in) {
  const std::string have = NormalizePlatform(have_in), want = NormalizePlatform(want_in);
  if (have == want) return true;
  // "linux/arm64" matches "linux/arm64/v8"; a wanted variant must match exactly.
  return absl::StartsWith(have, absl::StrCat(want, "/")) && std::count(want.begin(), want.end(), '/') == 1;
}

absl::StatusOr<ImageView> ReadOciLayout(const std::string& dir, const std::string& tag,
                                        const std::string& platform_in, int jobs) {
  const std::string platform = platform_in.empty() ? HostPlatform() : platform_in;
  std::string layout;
  if (absl::Status s = ReadSmallFile(dir + "/oci-layout", &layout, 1 << 20); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": not an OCI image layout (no oci-layout file)"));
  }
  absl::StatusOr<nlohmann::json> lj = ParseJson(layout, "oci-layout");
  if (!lj.ok()) return lj.status();
  if (JsonString(*lj, "imageLayoutVersion").empty()) {
    return absl::InvalidArgumentError("oci-layout: no imageLayoutVersion");
  }
  std::string index_text;
  if (absl::Status s = ReadSmallFile(dir + "/index.json", &index_text, kJsonBlobLimit); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": no index.json"));
  }
  absl::StatusOr<nlohmann::json> index = ParseJson(index_text, "index.json");
  if (!index.ok()) return index.status();

  // Top level: the tag picks among the manifests by their ref.name annotation.
  auto manifests_of = [](const nlohmann::json& idx) {
    std::vector<nlohmann::json> out;
    auto m = idx.find("manifests");
    if (idx.is_object() && m != idx.end() && m->is_array()) {
      for (const auto& d : *m) {
        if (d.is_object()) out.push_back(d);
      }
    }
    return out;
  };
  std::vector<nlohmann::json> top = manifests_of(*index);
  if (!tag.empty()) {
    std::vector<nlohmann::json> tagged;
    for (const auto& d : top) {
      auto a = d.find("annotations");
      if (a != d.end() && JsonString(*a, "org.opencontainers.image.ref.name") == tag) tagged.push_back(d);
    }
    if (tagged.empty()) return absl::NotFoundError(absl::StrCat("no image tagged '", tag, "' in ", dir));
    top = std::move(tagged);
  }
  absl::StatusOr<nlohmann::json> desc = ChooseManifest(top, platform, "index.json");
  if (!desc.ok()) return desc.status();
  nlohmann::json manifest;
  for (int depth = 0;; ++depth) {
    if (depth > 8) return absl::InvalidArgumentError("index.json: indexes nested too deep");
    std::string digest = JsonString(*desc, "digest");
    absl::StatusOr<std::string> blob = ReadJsonBlob(dir, digest);
    if (!blob.ok()) return blob.status();
    absl::StatusOr<nlohmann::json> doc = ParseJson(*blob, absl::StrCat("manifest ", digest));
    if (!doc.ok()) return doc.status();
    std::string mt = JsonString(*desc, "mediaType");
    if (mt.empty()) mt = JsonString(*doc, "mediaType");
    if (IsIndex(mt) || (doc->is_object() && doc->contains("manifests") && !doc->contains("layers"))) {
      desc = ChooseManifest(manifests_of(*doc), platform, absl::StrCat("index ", digest));
      if (!desc.ok()) return desc.status();
      continue;
    }
    manifest = std::move(*doc);
    break;
  }
  if (!manifest.is_object()) return absl::InvalidArgumentError("manifest: not a JSON object");
  auto cfg = manifest.find("config");
  auto lyr = manifest.find("layers");
  if (cfg == manifest.end() || !cfg->is_object() || lyr == manifest.end() || !lyr->is_array()) {
    return absl::InvalidArgumentError("manifest: no config or layers");
  }
  absl::StatusOr<std::string> config = ReadJsonBlob(dir, JsonString(*cfg, "digest"));
  if (!config.ok()) return config.status();

  std::vector<std::string> digests;
  std::vector<std::string> paths;
  for (const auto& l : *lyr) {
    std::string digest = JsonString(l, "digest");
    absl::StatusOr<std::string> path = BlobPath(dir, digest);
    if (!path.ok()) return path.status();
    digests.push_back(digest);
    paths.push_back(*path);
  }
  std::vector<LayerContents> layers(paths.size());
  absl::Status st = ParallelFor(paths.size(), jobs, [&](size_t i) -> absl::Status {
    std::string name = absl::StrCat("layer ", i, " (", digests[i], ")");
    absl::StatusOr<std::unique_ptr<FdReader>> in = FdReader::Open(paths[i]);
    if (!in.ok()) return absl::NotFoundError(absl::StrCat(name, ": missing blob: ", in.status().message()));
    absl::StatusOr<LayerContents> layer = DecodeLayer(**in, name);
    if (!layer.ok()) return layer.status();
    layers[i] = std::move(*layer);
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return AssembleImage("oci", dir, *config, std::move(layers), std::move(digests));
}

}  // namespace stalecheck::internal
