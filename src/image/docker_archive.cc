// docker-archive: `docker save` output, legacy layout (<id>/layer.tar) and the layout newer
// engines write (blobs/sha256/<hex>, index.json); manifest.json is authoritative. Read in one
// streaming pass, so a gzip-compressed archive or a pipe works as well as a plain file.

#include <archive.h>
#include <archive_entry.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <functional>
#include <thread>
#include <cstring>

#include "absl/strings/string_view.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "src/image/internal.h"
#include "src/image/readers.h"
#include "stalecheck/engine.h"
#include "stalecheck/util.h"

namespace stalecheck::internal {
namespace {

constexpr size_t kSmallMemberLimit = 16 << 20;
constexpr size_t kSmallTotalLimit = 256 << 20;

// The current member's data, as a ByteReader.
class ArchiveDataReader : public ByteReader {
 public:
  explicit ArchiveDataReader(struct archive* a) : a_(a) {}
  absl::StatusOr<size_t> Read(char* buf, size_t cap) override {
    la_ssize_t n = archive_read_data(a_, buf, cap);
    if (n < 0) return absl::DataLossError(archive_error_string(a_));
    return static_cast<size_t>(n);
  }

 private:
  struct archive* a_;
};

// What the archive holds, by member name.
struct Members {
  absl::flat_hash_map<std::string, std::string> small;  // manifests, configs, tiny layers
  absl::flat_hash_map<std::string, LayerContents> layers;
  absl::flat_hash_map<std::string, std::string> links;  // member -> member it points to
};

// A byte range of a file, read with pread (many readers share one descriptor).
class RangeReader : public ByteReader {
 public:
  RangeReader(int fd, int64_t offset, int64_t size, std::string name)
      : fd_(fd), pos_(offset), end_(offset + size), name_(std::move(name)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t cap) override {
    size_t want = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(cap), end_ - pos_));
    if (want == 0) return 0;
    ssize_t n = ::pread(fd_, buf, want, pos_);
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("reading ", name_));
    if (n == 0) return absl::DataLossError(absl::StrCat(name_, ": truncated"));
    pos_ += n;
    return static_cast<size_t>(n);
  }

 private:
  int fd_;
  int64_t pos_;
  int64_t end_;
  std::string name_;
};

std::string MemberName(const char* raw) {
  absl::string_view name = raw == nullptr ? "" : raw;
  while (absl::ConsumePrefix(&name, "./")) {
  }
  return std::string(name);
}

// Identical layers are stored once; the others are symlinks ("../<id>/layer.tar") or hard
// links to it. Records such a member; false for anything else.
bool RecordLink(struct archive_entry* ae, const std::string& name,
                absl::flat_hash_map<std::string, std::string>& links) {
  if (archive_entry_filetype(ae) == AE_IFLNK) {
    std::string dir = name.find('/') == std::string::npos ? "" : name.substr(0, name.rfind('/'));
    links[name] = CleanPath(JoinPath(dir, archive_entry_symlink(ae)));
    return true;
  }
  if (const char* hl = archive_entry_hardlink(ae); hl != nullptr) {
    links[name] = MemberName(hl);
    return true;
  }
  return false;
}


// One sequential pass (gzip-compressed archives, pipes): layers decoded as they stream by.
absl::Status StreamMembers(const std::function<int(struct archive*)>& open, Members& out) {
  auto& small = out.small;
  auto& layers = out.layers;
  auto& links = out.links;
  size_t small_total = 0;
  size_t members = 0;

  struct archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  absl::Status status;
  if (open(a) != ARCHIVE_OK) {
    status = absl::InvalidArgumentError(
        absl::StrCat("not a docker save archive: ", archive_error_string(a)));
  }
  while (status.ok()) {
    struct archive_entry* ae = nullptr;
    int r = archive_read_next_header(a, &ae);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      status = members == 0 ? absl::InvalidArgumentError(absl::StrCat(
                                  "not a docker save archive: ", archive_error_string(a)))
                            : absl::DataLossError(archive_error_string(a));
      break;
    }
    ++members;
    std::string name = MemberName(archive_entry_pathname(ae));
    if (RecordLink(ae, name, links) || archive_entry_filetype(ae) != AE_IFREG) continue;
    ArchiveDataReader data(a);
    std::string head;
    if (absl::Status s = ReadHead(data, 512, &head); !s.ok()) {
      status = absl::DataLossError(absl::StrCat("reading ", name, ": ", s.message()));
      break;
    }
    if (LooksLikeLayer(head)) {
      PrefixedReader whole(std::move(head), data);
      absl::StatusOr<LayerContents> layer = DecodeLayer(whole, name);
      if (!layer.ok()) {
        status = layer.status();
        break;
      }
      layers.emplace(name, std::move(*layer));
      continue;
    }
    if (archive_entry_size(ae) > static_cast<la_int64_t>(kSmallMemberLimit)) continue;
    std::string body = std::move(head);
    char buf[64 << 10];
    for (;;) {
      absl::StatusOr<size_t> n = data.Read(buf, sizeof buf);
      if (!n.ok()) {
        status = absl::DataLossError(absl::StrCat("reading ", name, ": ", n.status().message()));
        break;
      }
      if (*n == 0) break;
      body.append(buf, *n);
    }
    small_total += body.size();
    if (small_total > kSmallTotalLimit) {
      status = absl::InvalidArgumentError("more small members than a docker save archive holds");
      break;
    }
    small.emplace(name, std::move(body));
  }
  archive_read_free(a);
  return status;
}

// A plain tar file: members are located first (libarchive lists them, seeking past data),
// then the layers are decoded in parallel, each from its own byte range.
absl::Status IndexedMembers(const std::string& path, int jobs, Members& out) {
  struct Member {
    std::string name;
    int64_t header = 0;  // where libarchive says the member's headers start
    int64_t size = 0;
  };
  std::vector<Member> regular;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  absl::Status status;
  if (archive_read_open_filename(a, path.c_str(), 1 << 16) != ARCHIVE_OK) {
    status = absl::InvalidArgumentError(absl::StrCat("not a docker save archive: ", archive_error_string(a)));
  }
  while (status.ok()) {
    struct archive_entry* ae = nullptr;
    int r = archive_read_next_header(a, &ae);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      status = absl::DataLossError(archive_error_string(a));
      break;
    }
    std::string name = MemberName(archive_entry_pathname(ae));
    if (RecordLink(ae, name, out.links)) continue;
    if (archive_entry_filetype(ae) == AE_IFREG) {
      regular.push_back({std::move(name), archive_read_header_position(a), archive_entry_size(ae)});
    }
  }
  archive_read_free(a);
  if (!status.ok()) return status;

  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, path);
  // The data starts after the member's own header, past any pax or GNU long-name headers
  // that precede it.
  auto data_offset = [&](const Member& m) -> absl::StatusOr<int64_t> {
    int64_t pos = m.header;
    for (int hops = 0; hops < 8; ++hops) {
      char block[512];
      if (pos < 0 || pos + 512 > st.st_size || ::pread(fd.get(), block, 512, pos) != 512) break;
      char type = block[156];
      if (type != 'x' && type != 'g' && type != 'L' && type != 'K') return pos + 512;
      int64_t size = 0;
      for (int i = 124; i < 136 && block[i] != 0 && block[i] != ' '; ++i) {
        if (block[i] < '0' || block[i] > '7') return absl::DataLossError(absl::StrCat(m.name, ": bad header"));
        size = size * 8 + (block[i] - '0');
      }
      pos += 512 + (size + 511) / 512 * 512;
    }
    return absl::DataLossError(absl::StrCat(m.name, ": cannot locate its data"));
  };

  std::vector<std::pair<size_t, int64_t>> layer_members;  // index into regular, data offset
  for (size_t i = 0; i < regular.size(); ++i) {
    const Member& m = regular[i];
    absl::StatusOr<int64_t> off = data_offset(m);
    if (!off.ok()) return off.status();
    if (*off + m.size > st.st_size) return absl::DataLossError(absl::StrCat(m.name, ": truncated"));
    std::string head(static_cast<size_t>(std::min<int64_t>(m.size, 512)), '\0');
    if (::pread(fd.get(), head.data(), head.size(), *off) != static_cast<ssize_t>(head.size())) {
      return ErrnoStatus(errno, absl::StrCat("reading ", m.name));
    }
    if (LooksLikeLayer(head)) {
      layer_members.emplace_back(i, *off);
    } else if (m.size <= static_cast<int64_t>(kSmallMemberLimit)) {
      std::string body(static_cast<size_t>(m.size), '\0');
      if (::pread(fd.get(), body.data(), body.size(), *off) != static_cast<ssize_t>(body.size())) {
        return ErrnoStatus(errno, absl::StrCat("reading ", m.name));
      }
      out.small.emplace(m.name, std::move(body));
    }
  }
  std::vector<LayerContents> decoded(layer_members.size());
  absl::Status st2 = ParallelFor(layer_members.size(), jobs, [&](size_t k) -> absl::Status {
    const Member& m = regular[layer_members[k].first];
    RangeReader in(fd.get(), layer_members[k].second, m.size, m.name);
    absl::StatusOr<LayerContents> layer = DecodeLayer(in, m.name);
    if (!layer.ok()) return layer.status();
    decoded[k] = std::move(*layer);
    return absl::OkStatus();
  });
  if (!st2.ok()) return st2;
  for (size_t k = 0; k < layer_members.size(); ++k) {
    out.layers.emplace(regular[layer_members[k].first].name, std::move(decoded[k]));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ImageView> AssembleArchive(Members& members, const std::string& path, const std::string& tag);

absl::StatusOr<ImageView> ReadDockerArchive(const std::string& path, const std::string& tag, int jobs) {
  Members members;
  bool plain_file = false;
  {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return ErrnoStatus(errno, path);
    struct stat st;
    std::string head(512, '\0');
    ssize_t n = ::pread(fd.get(), head.data(), head.size(), 0);
    head.resize(n > 0 ? static_cast<size_t>(n) : 0);
    plain_file = ::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && LooksLikeTar(head);
  }
  absl::Status gathered =
      plain_file ? IndexedMembers(path, jobs, members)
                 : StreamMembers([&](struct archive* a) { return archive_read_open_filename(a, path.c_str(), 1 << 20); },
                                 members);
  if (!gathered.ok()) return gathered;
  return AssembleArchive(members, path, tag);
}

absl::StatusOr<ImageView> AssembleArchive(Members& members, const std::string& path, const std::string& tag) {
  auto& small = members.small;
  auto& layers = members.layers;
  auto& links = members.links;

  auto resolve = [&](std::string name) {
    for (int hops = 0; hops < 8; ++hops) {
      auto it = links.find(name);
      if (it == links.end()) break;
      name = it->second;
    }
    return name;
  };

  auto manifest_it = small.find("manifest.json");
  if (manifest_it == small.end()) {
    return absl::InvalidArgumentError("no manifest.json: not a docker save archive");
  }
  absl::StatusOr<nlohmann::json> manifest = ParseJson(manifest_it->second, "manifest.json");
  if (!manifest.ok()) return manifest.status();
  if (!manifest->is_array() || manifest->empty()) {
    return absl::InvalidArgumentError("manifest.json: expected a non-empty list of images");
  }
  const nlohmann::json* chosen = nullptr;
  if (tag.empty()) {
    if (manifest->size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the archive holds ", manifest->size(), " images; name one as docker-archive:PATH:REPO:TAG"));
    }
    chosen = &(*manifest)[0];
  } else {
    for (const nlohmann::json& m : *manifest) {
      if (!m.is_object()) continue;
      auto tags = m.find("RepoTags");
      if (tags == m.end() || !tags->is_array()) continue;
      for (const nlohmann::json& t : *tags) {
        if (t.is_string() && (t.get<std::string>() == tag || t.get<std::string>() == tag + ":latest")) {
          chosen = &m;
        }
      }
    }
    if (chosen == nullptr) return absl::NotFoundError(absl::StrCat("no image tagged ", tag, " in the archive"));
  }
  if (!chosen->is_object()) return absl::InvalidArgumentError("manifest.json: an entry is not an object");
  auto config_name = chosen->find("Config");
  auto layer_names = chosen->find("Layers");
  if (config_name == chosen->end() || !config_name->is_string() || layer_names == chosen->end() ||
      !layer_names->is_array()) {
    return absl::InvalidArgumentError("manifest.json: an entry lacks Config or Layers");
  }
  std::string config_member = resolve(MemberName(config_name->get<std::string>().c_str()));
  auto config = small.find(config_member);
  if (config == small.end()) {
    return absl::NotFoundError(absl::StrCat("the archive has no config ", config_member));
  }
  if (absl::StartsWith(config_member, "blobs/sha256/")) {
    std::string want = absl::StrCat("sha256:", config_member.substr(13));
    if (Sha256Of(config->second) != want) {
      return absl::DataLossError(absl::StrCat("config ", config_member, ": digest mismatch"));
    }
  }

  std::vector<LayerContents> ordered;
  std::vector<std::string> digests;
  absl::flat_hash_map<std::string, int> uses;
  for (const nlohmann::json& ln : *layer_names) {
    if (ln.is_string()) uses[resolve(MemberName(ln.get<std::string>().c_str()))]++;
  }
  for (const nlohmann::json& ln : *layer_names) {
    if (!ln.is_string()) return absl::InvalidArgumentError("manifest.json: a layer name is not a string");
    std::string member = resolve(MemberName(ln.get<std::string>().c_str()));
    auto it = layers.find(member);
    if (it != layers.end()) {
      // A layer named twice (identical layers) is copied; the last use takes it whole.
      if (--uses[member] == 0) {
        ordered.push_back(std::move(it->second));
      } else {
        ordered.push_back(it->second);
      }
    } else if (auto s = small.find(member); s != small.end()) {
      // An empty layer is all zero blocks: nothing to sniff, read it now.
      MemoryReader mem(s->second);
      absl::StatusOr<LayerContents> layer = DecodeLayer(mem, member);
      if (!layer.ok()) return layer.status();
      ordered.push_back(std::move(*layer));
    } else {
      return absl::NotFoundError(absl::StrCat("the archive has no layer ", member));
    }
    digests.push_back(absl::StartsWith(member, "blobs/sha256/")
                          ? absl::StrCat("sha256:", member.substr(13))
                          : std::string());
  }
  absl::StatusOr<ImageView> view =
      AssembleImage("docker-archive", path, config->second, std::move(ordered), std::move(digests));
  if (!view.ok()) return view;
  // The containerd image store names an image by its index: `docker save` there writes the
  // index as index.json's entry, and `docker images` shows that digest as the image id.
  if (auto index = small.find("index.json"); index != small.end() && manifest->size() == 1) {
    nlohmann::json doc = nlohmann::json::parse(index->second, nullptr, false);
    if (doc.is_object() && doc.contains("manifests") && doc["manifests"].is_array() && doc["manifests"].size() == 1) {
      const nlohmann::json& top = doc["manifests"][0];
      if (top.is_object() && top.value("mediaType", "") == "application/vnd.oci.image.index.v1+json" &&
          top.contains("digest") && top["digest"].is_string()) {
        view->image_id = top["digest"].get<std::string>();
      }
    }
  }
  return view;
}

}  // namespace stalecheck::internal

namespace stalecheck::internal {

// libarchive's read callback over a ByteReader, with a buffer of the archive's own: libarchive
// keeps pointing into the last buffer it was given, and the callback may run on whichever
// thread reads a member (a layer is read ahead on a thread of its own).
struct ReaderFeed {
  ByteReader* in;
  std::vector<char> buf = std::vector<char>(1 << 20);
};

la_ssize_t ReadFromByteReader(struct archive* a, void* client, const void** out) {
  auto* feed = static_cast<ReaderFeed*>(client);
  absl::StatusOr<size_t> n = feed->in->Read(feed->buf.data(), feed->buf.size());
  if (!n.ok()) {
    archive_set_error(a, EIO, "%s", std::string(n.status().message()).c_str());
    return -1;
  }
  *out = feed->buf.data();
  return static_cast<la_ssize_t>(*n);
}

absl::StatusOr<ImageView> ReadDaemonImage(const EngineClient& client, const std::string& ref, const LayerCache& cache) {
  const std::string image = EscapePathSegment(ref);
  // The image must exist before its export is streamed; this also gives a clear 404.
  absl::StatusOr<std::string> info = client.Get(absl::StrCat("/images/", image, "/json"));
  if (absl::IsNotFound(info.status())) {
    return absl::NotFoundError(absl::StrCat("No such image in the engine at ", client.host()));
  }
  if (!info.ok()) return info.status();
  // An image id names its config and layers for good: a cached image needs no export.
  absl::StatusOr<nlohmann::json> ij = ParseJson(*info, absl::StrCat("the engine at ", client.host(), "'s description of the image"));
  if (!ij.ok()) return ij.status();
  const std::string id = JsonString(*ij, "Id");
  if (!id.empty()) {
    absl::StatusOr<std::optional<ImageView>> cached = CachedView(cache, id, "docker-daemon", ref);
    if (!cached.ok()) return cached.status();
    if (cached->has_value()) return std::move(**cached);
  }
  EngineReader body(client, absl::StrCat("/images/", image, "/get"));
  ReaderFeed feed{&body};
  Members members;
  absl::Status read = StreamMembers(
      [&](struct archive* a) { return archive_read_open(a, &feed, nullptr, ReadFromByteReader, nullptr); }, members);
  absl::Status streamed = body.Finish();
  if (!streamed.ok()) return streamed;
  if (!read.ok()) return read;
  absl::StatusOr<ImageView> view = AssembleArchive(members, ref, "");
  if (view.ok() && !id.empty()) CacheView(cache, *view, id);
  return view;
}

absl::StatusOr<ImageView> ReadDaemonImage(const std::string& ref, const ReadOptions& options) {
  absl::StatusOr<EngineClient> client = EngineClient::Connect(options.docker_host, options.timeout);
  if (!client.ok()) return client.status();
  if (options.engine_storage) {
    // A local overlay2 engine's image is read from its storage, without an export.
    absl::StatusOr<std::string> info = client->Get(absl::StrCat("/images/", EscapePathSegment(ref), "/json"));
    if (absl::IsNotFound(info.status())) {
      return absl::NotFoundError(absl::StrCat("No such image in the engine at ", client->host()));
    }
    if (!info.ok()) return info.status();
    absl::StatusOr<nlohmann::json> j =
        ParseJson(*info, absl::StrCat("the engine at ", client->host(), "'s description of the image"));
    if (!j.ok()) return j.status();
    if (std::string id = JsonString(*j, "Id"); !id.empty()) {
      absl::StatusOr<std::optional<ImageView>> stored = ImageFromEngineStorage(*client, id, options.jobs, LayerCache::Default(options.use_cache));
      if (!stored.ok()) return stored.status();
      if (stored->has_value()) return std::move(**stored);
    }
  }
  return ReadDaemonImage(*client, ref, LayerCache::Default(options.use_cache));
}

}  // namespace stalecheck::internal
