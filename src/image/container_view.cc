// container: a container's files as it sees them now: its image's layers (read as
// docker-daemon: reads them), then what changed inside it at runtime, then its mounts.
//
// What changed at runtime comes from the engine's storage when it is local and readable
// (overlay2's upper directory, read directly), else from the Engine API: the change list
// (/containers/{id}/changes), then each changed path alone (/containers/{id}/archive). The
// change list compares metadata only, so a same-size edit that kept its mtime is not in it;
// the container's size (SizeRw) counts every byte of the upper directory, so when the two
// disagree the list is not trusted and the directories the check needs are read whole.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/image/internal.h"
#include "src/image/readers.h"
#include "stalecheck/engine.h"
#include "stalecheck/hash.h"
#include "stalecheck/image.h"
#include "stalecheck/util.h"
#include "stalecheck/walk.h"

namespace stalecheck {
namespace internal {

absl::StatusOr<ContainerDescription> ParseContainerDescription(const std::string& text) {
  absl::StatusOr<nlohmann::json> parsed = ParseJson(text, "the container's description");
  if (!parsed.ok()) return parsed.status();
  const nlohmann::json& j = *parsed;
  if (!j.is_object()) return absl::InvalidArgumentError("the engine's container description is not a JSON object");
  auto member = [](const nlohmann::json& o, const char* key) -> const nlohmann::json& {
    static const nlohmann::json kNull;
    if (!o.is_object()) return kNull;
    auto it = o.find(key);
    return it == o.end() ? kNull : *it;
  };
  ContainerDescription d;
  ContainerInfo& c = d.info;
  c.id = JsonString(j, "Id");
  c.name = JsonString(j, "Name");
  if (absl::StartsWith(c.name, "/")) c.name = c.name.substr(1);
  c.image_id = JsonString(j, "Image");
  c.config_image = JsonString(member(j, "Config"), "Image");
  c.status = JsonString(member(j, "State"), "Status");
  if (c.id.empty() || c.image_id.empty()) return absl::InvalidArgumentError("the engine described no container id or image");
  if (const nlohmann::json& m = member(j, "Mounts"); m.is_array()) {
    for (const nlohmann::json& mj : m) {
      if (!mj.is_object()) return absl::InvalidArgumentError("the engine's container description: a mount that is not an object");
      MountInfo mi;
      mi.type = JsonString(mj, "Type");
      mi.name = JsonString(mj, "Name");
      mi.source = JsonString(mj, "Source");
      mi.destination = CleanPath(JsonString(mj, "Destination"));
      if (mi.destination.empty() || mi.destination[0] != '/') {
        return absl::InvalidArgumentError("the engine's container description: a mount with no absolute Destination");
      }
      const nlohmann::json& rw = member(mj, "RW");
      mi.rw = !rw.is_boolean() || rw.get<bool>();
      c.mounts.push_back(std::move(mi));
    }
  }
  if (const nlohmann::json& size = member(j, "SizeRw"); size.is_number_unsigned() || size.is_number_integer()) {
    const int64_t n = size.is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(size.get<uint64_t>(), INT64_MAX))
                                                : size.get<int64_t>();
    if (n >= 0) d.size_rw = static_cast<uint64_t>(n);
  }
  const nlohmann::json& gd = member(j, "GraphDriver");
  if (JsonString(gd, "Name") == "overlay2") d.upper_dir = JsonString(member(gd, "Data"), "UpperDir");
  return d;
}

absl::StatusOr<ChangeList> ParseChangeList(const std::string& text) {
  absl::StatusOr<nlohmann::json> list = ParseJson(text, "the engine's change list");
  if (!list.ok()) return list.status();
  ChangeList out;
  if (list->is_array()) {
    for (const nlohmann::json& c : *list) {
      const std::string path = JsonString(c, "Path");
      if (path.empty() || path[0] != '/' || !c.contains("Kind") || !c["Kind"].is_number_integer()) {
        return absl::InvalidArgumentError("the engine's change list: an entry without Path or Kind");
      }
      if (c["Kind"].get<int64_t>() == 2) {
        out.deleted.push_back(CleanPath(path));
      } else {
        out.changed.push_back(CleanPath(path));
      }
    }
  } else if (!list->is_null()) {
    return absl::InvalidArgumentError("the engine's change list: not a JSON array");
  }
  return out;
}
namespace {

std::string ArchivePath(const std::string& id, const std::string& path) {
  return absl::StrCat("/containers/", EscapePathSegment(id), "/archive?path=", EscapePathSegment(path));
}

// The entries of one path's archive as absolute paths: the engine names them under the
// path's basename ("/srv/app" -> "app/…"); "/" is asked as "/." and named "./…".
std::string Rebase(const std::string& entry, const std::string& asked) {
  if (asked == "/") return entry;
  const std::string base = absl::StrCat("/", asked.substr(asked.rfind('/') + 1));
  if (entry == base) return asked;
  if (absl::StartsWith(entry, base + "/")) return absl::StrCat(asked, entry.substr(base.size()));
  return absl::StrCat(asked, entry);  // not expected: keep it inside the asked path
}

absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(errno, dir);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  return names;
}

absl::StatusOr<std::string> ReadFileHead(const std::string& path, size_t n) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return ErrnoStatus(errno, path);
  std::string out(n, '\0');
  ssize_t got = ::pread(fd.get(), out.data(), n, 0);
  if (got < 0) return ErrnoStatus(errno, path);
  out.resize(static_cast<size_t>(got));
  return out;
}

struct EngineFacts {
  std::string driver;          // "overlay2", "overlayfs", ...
  bool native_diff = false;    // overlay2's "Native Overlay Diff"
  bool snapshotter = false;    // the containerd image store
  std::string root_dir;        // DockerRootDir
};

EngineFacts ReadEngineFacts(const EngineClient& client) {
  EngineFacts f;
  absl::StatusOr<std::string> info = client.Get("/info");
  if (!info.ok()) return f;
  nlohmann::json j = nlohmann::json::parse(*info, nullptr, false);
  if (!j.is_object()) return f;
  f.driver = JsonString(j, "Driver");
  f.root_dir = JsonString(j, "DockerRootDir");
  if (auto ds = j.find("DriverStatus"); ds != j.end() && ds->is_array()) {
    for (const nlohmann::json& kv : *ds) {
      if (!kv.is_array() || kv.size() != 2 || !kv[0].is_string() || !kv[1].is_string()) continue;
      const std::string k = kv[0].get<std::string>(), v = kv[1].get<std::string>();
      if (k == "Native Overlay Diff") f.native_diff = v == "true";
      if (k == "driver-type") f.snapshotter = absl::StrContains(v, "snapshotter");
    }
  }
  return f;
}

// What changed at runtime through the Engine API: the change list, each changed path read
// alone. `bytes` sums what the upper directory holds for them, as SizeRw counts it.
absl::StatusOr<LayerContents> ChangesThroughApi(const EngineClient& client, const std::string& id, int jobs,
                                               uint64_t* bytes) {
  absl::StatusOr<std::string> text = client.Get(absl::StrCat("/containers/", EscapePathSegment(id), "/changes"));
  if (!text.ok()) return text.status();
  absl::StatusOr<ChangeList> list = ParseChangeList(*text);
  if (!list.ok()) return list.status();
  LayerContents out;
  out.whiteouts = std::move(list->deleted);
  std::vector<std::string> changed = std::move(list->changed);
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  std::vector<std::optional<LayerEntry>> entries(changed.size());
  absl::Status s = ParallelFor(changed.size(), jobs, [&](size_t i) -> absl::Status {
    EngineReader body(client, ArchivePath(id, changed[i]));
    absl::StatusOr<std::optional<LayerEntry>> e = DecodeFirstEntry(body, changed[i]);
    absl::Status transfer = body.Finish();
    if (!e.ok()) return transfer.ok() ? e.status() : transfer;
    if (e->has_value()) {
      (*e)->file.path = changed[i];
      if (!(*e)->hardlink.empty()) (*e)->hardlink.clear();  // one path alone: its own content
      entries[i] = std::move(*e);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) {
    if (absl::IsNotFound(s)) {
      return absl::UnavailableError(absl::StrCat("the container changed while it was read (", s.message(), ")"));
    }
    return s;
  }
  *bytes = 0;
  for (std::optional<LayerEntry>& e : entries) {
    if (!e) continue;
    if (e->file.type != FileType::kDir) *bytes += e->file.size;
    out.entries.push_back(std::move(*e));
  }
  return out;
}

// What changed at runtime, read from overlay2's upper directory: every entry there is the
// container's; a 0/0 character device is a whiteout, `trusted.overlay.opaque` an opaque
// directory. A redirected directory or a metadata-only copy keeps its data below, so the
// upper directory alone cannot say what the container shows: nullopt, and `why`.
absl::StatusOr<std::optional<LayerContents>> ChangesFromUpperDir(const std::string& upper, int jobs,
                                                                 std::string* why) {
  LayerContents out;
  std::vector<std::string> files;  // relative paths of regular files, hashed afterwards
  std::vector<std::string> stack = {""};
  while (!stack.empty()) {
    std::string rel = std::move(stack.back());
    stack.pop_back();
    const std::string dir = rel.empty() ? upper : absl::StrCat(upper, "/", rel);
    absl::StatusOr<std::vector<std::string>> names = ListDirectory(dir);
    if (!names.ok()) return names.status();
    for (const std::string& name : *names) {
      const std::string r = rel.empty() ? name : absl::StrCat(rel, "/", name);
      const std::string full = absl::StrCat(upper, "/", r);
      struct stat st;
      if (::lstat(full.c_str(), &st) != 0) return ErrnoStatus(errno, full);
      char value[8];
      for (const char* attr : {"trusted.overlay.redirect", "trusted.overlay.metacopy"}) {
        if (::lgetxattr(full.c_str(), attr, value, sizeof value) >= 0) {
          *why = absl::StrCat("/", r, " carries ", attr, ": its data is in a lower layer");
          return std::optional<LayerContents>();
        }
      }
      LayerEntry le;
      le.file.path = absl::StrCat("/", r);
      le.file.mode = st.st_mode & 07777;
      le.file.mtime = st.st_mtime;
      if (S_ISCHR(st.st_mode) && major(st.st_rdev) == 0 && minor(st.st_rdev) == 0) {
        out.whiteouts.push_back(le.file.path);
        continue;
      }
      if (S_ISDIR(st.st_mode)) {
        le.file.type = FileType::kDir;
        ssize_t n = ::lgetxattr(full.c_str(), "trusted.overlay.opaque", value, sizeof value);
        if (n == 1 && value[0] == 'y') out.opaque_dirs.push_back(le.file.path);
        stack.push_back(r);
      } else if (S_ISLNK(st.st_mode)) {
        le.file.type = FileType::kSymlink;
        std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
        ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
        if (n < 0) return ErrnoStatus(errno, full);
        target.resize(static_cast<size_t>(n));
        le.file.target = target;
        le.file.size = target.size();
        le.file.digest = HashBytes(target);
      } else if (S_ISREG(st.st_mode)) {
        le.file.type = FileType::kFile;
        le.file.size = static_cast<uint64_t>(st.st_size);
        files.push_back(r);
      } else if (S_ISSOCK(st.st_mode)) {
        continue;  // a socket: no image holds one
      } else {
        le.file.type = FileType::kSpecial;
        le.file.target = S_ISFIFO(st.st_mode) ? std::string("fifo")
                                              : absl::StrCat(S_ISCHR(st.st_mode) ? "char-device " : "block-device ",
                                                             major(st.st_rdev), ",", minor(st.st_rdev));
        le.file.digest = HashBytes(le.file.target);
      }
      out.entries.push_back(std::move(le));
    }
  }
  // Hash the files, in parallel; then fill their entries.
  std::map<std::string, size_t> at;
  for (size_t i = 0; i < out.entries.size(); ++i) {
    if (out.entries[i].file.type == FileType::kFile) at[out.entries[i].file.path] = i;
  }
  absl::Status s = ParallelFor(files.size(), jobs, [&](size_t i) -> absl::Status {
    const std::string full = absl::StrCat(upper, "/", files[i]);
    absl::StatusOr<FileDigest> d = HashFile(full);
    if (!d.ok()) return d.status();
    FileEntry& e = out.entries[at[absl::StrCat("/", files[i])]].file;
    e.digest = d->digest;
    e.size = d->size;
    if (IsPyc(e.path)) {
      absl::StatusOr<std::string> head = ReadFileHead(full, 16);
      if (!head.ok()) return head.status();
      e.head = std::move(*head);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return std::optional<LayerContents>(std::move(out));
}

// The image from overlay2's own storage, without an export: the config from the image
// store (it must hash to the image id), each layer's directory found through the layer store
// by its chain id (the layer's `diff` file must be the config's diff_id), read as the upper
// directory is. nullopt (and `why`) when anything is not as expected: the export is used then.
absl::StatusOr<std::optional<ImageView>> ImageFromStorage(const std::string& root, const std::string& image_id, int jobs,
                                                         const LayerCache& cache, std::string* why) {
  auto give_up = [&](std::string reason) {
    *why = std::move(reason);
    return std::optional<ImageView>();
  };
  if (!absl::StartsWith(image_id, "sha256:") || image_id.size() != 71) return give_up("an image id that is not sha256");
  const std::string store = absl::StrCat(root, "/image/overlay2");
  std::string config;
  if (!ReadSmallFile(absl::StrCat(store, "/imagedb/content/sha256/", image_id.substr(7)), &config, 64 << 20).ok()) {
    return give_up("the image's config is not in the engine's image store");
  }
  if (Sha256Of(config) != image_id) return give_up("the image store's config does not hash to the image id");
  nlohmann::json cj = nlohmann::json::parse(config, nullptr, false);
  std::vector<std::string> diff_ids;
  if (cj.is_object() && cj.contains("rootfs") && cj["rootfs"].is_object() && cj["rootfs"].contains("diff_ids") &&
      cj["rootfs"]["diff_ids"].is_array()) {
    for (const nlohmann::json& d : cj["rootfs"]["diff_ids"]) diff_ids.push_back(d.is_string() ? d.get<std::string>() : "");
  } else {
    return give_up("the image config has no diff_ids");
  }
  std::vector<std::string> dirs;
  std::string chain;
  for (const std::string& diff : diff_ids) {
    chain = chain.empty() ? diff : Sha256Of(absl::StrCat(chain, " ", diff));
    const std::string layer = absl::StrCat(store, "/layerdb/sha256/", chain.substr(chain.find(':') + 1));
    std::string recorded, cache_id;
    if (!ReadSmallFile(absl::StrCat(layer, "/diff"), &recorded, 4096).ok() ||
        !ReadSmallFile(absl::StrCat(layer, "/cache-id"), &cache_id, 4096).ok()) {
      return give_up(absl::StrCat("layer ", chain, " is not in the engine's layer store"));
    }
    if (std::string(absl::StripAsciiWhitespace(recorded)) != diff) return give_up("the layer store disagrees with the config");
    cache_id = std::string(absl::StripAsciiWhitespace(cache_id));
    if (cache_id.empty() || cache_id.find('/') != std::string::npos) return give_up("a layer with no storage directory");
    dirs.push_back(absl::StrCat(root, "/overlay2/", cache_id, "/diff"));
  }
  // A layer the cache holds (by the diff_id the layer store vouched for) is not walked again;
  // one walked here is kept for the next run.
  std::vector<LayerContents> layers;
  std::vector<bool> from_cache(dirs.size(), false);
  for (size_t i = 0; i < dirs.size(); ++i) {
    if (std::optional<LayerContents> hit = cache.Get(diff_ids[i])) {
      hit->blob_digest = diff_ids[i];
      layers.push_back(std::move(*hit));
      from_cache[i] = true;
      continue;
    }
    absl::StatusOr<std::optional<LayerContents>> layer = ChangesFromUpperDir(dirs[i], jobs, why);
    if (!layer.ok()) return layer.status();
    if (!layer->has_value()) return std::optional<ImageView>();
    (*layer)->diff_id = diff_ids[i];
    (*layer)->blob_digest = diff_ids[i];  // as the engine's export names an uncompressed layer
    cache.Put(**layer);
    layers.push_back(std::move(**layer));
  }
  absl::StatusOr<ImageView> view = AssembleImage("docker-daemon", image_id, config, std::move(layers), {});
  if (!view.ok()) return view.status();
  for (size_t i = 0; i < view->layers.size() && i < from_cache.size(); ++i) view->layers[i].cached = from_cache[i];
  return std::optional<ImageView>(std::move(*view));
}

absl::Status AddRuntimeLayer(ImageView& view, LayerContents layer, RuntimeLayer what) {
  LayeredFiles lf{std::move(view.files), std::move(view.changes)};
  absl::Status s = ApplyLayer(lf, std::move(layer));
  view.files = std::move(lf.files);
  view.changes = std::move(lf.layers);
  if (s.ok()) view.runtime.push_back(what);
  return s;
}

}  // namespace

absl::StatusOr<std::optional<ImageView>> ImageFromEngineStorage(const EngineClient& client, const std::string& image_id,
                                                               int jobs, const LayerCache& cache) {
  if (::geteuid() != 0) return std::optional<ImageView>();
  const EngineFacts facts = ReadEngineFacts(client);
  if (facts.driver != "overlay2" || facts.root_dir.empty() || ::access(facts.root_dir.c_str(), R_OK | X_OK) != 0) {
    return std::optional<ImageView>();
  }
  std::string why;
  return ImageFromStorage(facts.root_dir, image_id, jobs, cache, &why);
}

absl::StatusOr<ImageView> ReadContainer(const std::string& ref, const ReadOptions& options) {
  absl::StatusOr<EngineClient> client = EngineClient::Connect(options.docker_host, options.timeout);
  if (!client.ok()) return client.status();
  absl::StatusOr<std::string> text = client->Get(absl::StrCat("/containers/", EscapePathSegment(ref), "/json?size=1"));
  if (absl::IsNotFound(text.status())) {
    return absl::NotFoundError(absl::StrCat("no such container in the engine at ", client->host()));
  }
  if (!text.ok()) return text.status();
  absl::StatusOr<ContainerDescription> desc = ParseContainerDescription(*text);
  if (!desc.ok()) return absl::Status(desc.status().code(), absl::StrCat("the engine at ", client->host(), ": ", desc.status().message()));
  ContainerInfo c = std::move(desc->info);
  const uint64_t size_rw = desc->size_rw.value_or(0);
  const bool has_size = desc->size_rw.has_value();
  const std::string upper = desc->upper_dir;
  if (!c.config_image.empty()) {
    absl::StatusOr<std::string> now = client->Get(absl::StrCat("/images/", EscapePathSegment(c.config_image), "/json"));
    if (now.ok()) {
      absl::StatusOr<nlohmann::json> nj =
          ParseJson(*now, absl::StrCat("the engine at ", client->host(), "'s description of ", c.config_image));
      if (!nj.ok()) return nj.status();
      if (std::string id = JsonString(*nj, "Id"); !id.empty()) c.image_now = id;
    } else if (!absl::IsNotFound(now.status())) {
      return now.status();
    }
  }

  const bool local_storage =
      !upper.empty() && options.engine_storage && ::geteuid() == 0 && ::access(upper.c_str(), R_OK | X_OK) == 0;
  absl::StatusOr<ImageView> view = absl::NotFoundError("");
  if (local_storage) {
    const EngineFacts facts = ReadEngineFacts(*client);
    std::string why;
    if (!facts.root_dir.empty()) {
      absl::StatusOr<std::optional<ImageView>> stored = ImageFromStorage(facts.root_dir, c.image_id, options.jobs, LayerCache::Default(options.use_cache), &why);
      if (!stored.ok()) return stored.status();
      if (stored->has_value()) {
        view = std::move(**stored);
        c.image_read_by = "overlay2";
      }
    }
  }
  // Without the engine's storage, the change list is asked while the engine exports the image.
  uint64_t listed_bytes = 0;
  std::future<absl::StatusOr<LayerContents>> listing;
  if (!local_storage) {
    listing = std::async(std::launch::async, [&client, id = c.id, jobs = options.jobs, &listed_bytes] {
      return ChangesThroughApi(*client, id, jobs, &listed_bytes);
    });
  }
  if (!view.ok()) {
    view = ReadDaemonImage(*client, c.image_id, LayerCache::Default(options.use_cache));
    c.image_read_by = "api";
  }
  std::optional<absl::StatusOr<LayerContents>> listed_early;
  if (listing.valid()) listed_early = listing.get();
  if (absl::IsNotFound(view.status())) {
    // Its files are still there; which layer made them is not.
    ImageView flat;
    flat.flat = true;
    c.image_gone = true;
    c.read_by = "api";
    c.incomplete_why = absl::StrCat("its image ", c.image_id.substr(0, 19), " is no longer in the engine",
                                    c.image_now ? absl::StrCat(" (", c.config_image, " now names another)") : "",
                                    ", so what its image holds and what changed inside it cannot be told apart");
    flat.container = std::move(c);
    return flat;
  }
  if (!view.ok()) return absl::Status(view.status().code(), absl::StrCat("its image ", c.image_id, ": ", view.status().message()));

  std::optional<LayerContents> runtime;
  if (local_storage) {
    std::string why;
    absl::StatusOr<std::optional<LayerContents>> from_disk = ChangesFromUpperDir(upper, options.jobs, &why);
    if (!from_disk.ok()) return from_disk.status();
    if (from_disk->has_value()) {
      runtime = std::move(**from_disk);
      c.read_by = "overlay2";
      c.changes_complete = true;
    }
  }
  if (!runtime) {
    uint64_t bytes = listed_bytes;
    absl::StatusOr<LayerContents> listed =
        listed_early ? std::move(*listed_early) : ChangesThroughApi(*client, c.id, options.jobs, &bytes);
    if (!listed.ok()) return listed.status();
    c.read_by = "api";
    const EngineFacts facts = ReadEngineFacts(*client);
    if (!has_size) {
      c.incomplete_why = "the engine did not say the container's size";
    } else if (facts.driver == "overlay2" && facts.native_diff) {
      // SizeRw is the upper directory's bytes (directories not counted): every path in it
      // that the list left out adds its size.
      c.changes_complete = size_rw == bytes;
      if (!c.changes_complete) {
        c.incomplete_why = absl::StrCat("the container holds ", size_rw, " bytes of its own; the engine's change list ",
                                        "accounts for ", bytes, " (an edit that kept size and mtime is not listed)");
      }
    } else if (facts.snapshotter) {
      // The snapshotter counts disk blocks, directories too: only an empty upper directory
      // (one block, for itself) proves the list complete.
      c.changes_complete = listed->entries.empty() && listed->whiteouts.empty() && size_rw <= 4096;
      if (!c.changes_complete) {
        c.incomplete_why = "the containerd image store counts a container's size in disk blocks, which cannot prove "
                           "that the engine's change list names every changed file";
      }
    } else {
      c.incomplete_why = absl::StrCat("the engine's ", facts.driver.empty() ? "storage" : facts.driver,
                                      " driver lists changes by metadata only");
    }
    runtime = std::move(*listed);
  }
  if (absl::Status s = AddRuntimeLayer(*view, std::move(*runtime), RuntimeLayer{"container", -1}); !s.ok()) return s;
  view->container = std::move(c);
  return view;
}

}  // namespace internal

int RuntimeIndex(const ImageView& view, int layer) {
  const int k = layer - static_cast<int>(view.layers.size());
  return k >= 0 && k < static_cast<int>(view.runtime.size()) ? k : -1;
}

absl::Status ReadContainerPaths(ImageView& view, const std::vector<std::string>& roots_in, const ReadOptions& options) {
  if (!view.container) return absl::OkStatus();
  ContainerInfo& c = *view.container;
  std::vector<std::string> roots;
  for (const std::string& r : roots_in) roots.push_back(CleanPath(absl::StrCat("/", r)));
  std::sort(roots.begin(), roots.end());
  // Drop roots under another root.
  std::vector<std::string> minimal;
  for (const std::string& r : roots) {
    if (minimal.empty() || !PathUnder(r, minimal.back())) minimal.push_back(r);
  }
  // Where each mount meets the roots: its destination under a root, or a root under it.
  std::vector<std::string> mount_at(c.mounts.size());
  for (size_t m = 0; m < c.mounts.size(); ++m) {
    for (const std::string& r : minimal) {
      if (PathUnder(c.mounts[m].destination, r)) mount_at[m] = c.mounts[m].destination;
      else if (PathUnder(r, c.mounts[m].destination)) mount_at[m] = r;
      if (!mount_at[m].empty()) break;
    }
  }
  std::vector<std::string> reads;
  if (!c.changes_complete) {
    reads = minimal;
  } else {
    for (const std::string& at : mount_at) {
      if (!at.empty()) reads.push_back(at);
    }
    std::sort(reads.begin(), reads.end());
    std::vector<std::string> kept;
    for (const std::string& r : reads) {
      if (kept.empty() || !PathUnder(r, kept.back())) kept.push_back(r);
    }
    reads = std::move(kept);
  }
  if (reads.empty()) return absl::OkStatus();
  absl::StatusOr<EngineClient> client = EngineClient::Connect(options.docker_host, options.timeout);
  if (!client.ok()) return client.status();

  // The deepest mount over a path, or -1.
  auto mount_of = [&](const std::string& path) {
    int best = -1;
    for (size_t m = 0; m < c.mounts.size(); ++m) {
      if (mount_at[m].empty() || !PathUnder(path, mount_at[m])) continue;
      if (best < 0 || c.mounts[m].destination.size() > c.mounts[static_cast<size_t>(best)].destination.size()) {
        best = static_cast<int>(m);
      }
    }
    return best;
  };
  std::vector<LayerContents> mount_layers(c.mounts.size());
  LayerContents changed;  // what differs from the view, found by reading whole
  std::set<std::string> seen;
  for (const std::string& path : reads) {
    EngineReader body(*client, internal::ArchivePath(c.id, path == "/" ? "/." : path));
    absl::StatusOr<LayerContents> read = DecodeLayer(body, absl::StrCat("the container's ", path));
    absl::Status transfer = body.Finish();
    if (absl::IsNotFound(transfer) && !c.changes_complete && mount_of(path) < 0) {
      c.read_whole.push_back(path);  // gone from the container: what the view has there, it deleted
      continue;
    }
    if (!transfer.ok()) return transfer;
    if (!read.ok()) return read.status();
    for (LayerEntry& le : read->entries) {
      le.file.path = internal::Rebase(le.file.path, path);
      if (!le.hardlink.empty()) le.hardlink = internal::Rebase(le.hardlink, path);
      seen.insert(le.file.path);
      const int m = mount_of(le.file.path);
      if (m >= 0) {
        mount_layers[static_cast<size_t>(m)].entries.push_back(std::move(le));
        continue;
      }
      if (c.changes_complete) continue;
      auto top = view.files.find(le.file.path);
      const FileEntry& f = le.file;
      bool same = top != view.files.end() && le.hardlink.empty() && top->second.file.type == f.type &&
                  top->second.file.mode == f.mode && top->second.file.digest == f.digest &&
                  top->second.file.target == f.target;
      if (!same) changed.entries.push_back(std::move(le));
    }
    c.read_whole.push_back(path);
  }
  if (!c.changes_complete) {
    // What the view has under the roots read whole, and the container does not, it deleted.
    for (const std::string& path : reads) {
      for (auto it = view.files.lower_bound(path); it != view.files.end() && PathUnder(it->first, path); ++it) {
        if (seen.count(it->first) == 0 && mount_of(it->first) < 0) changed.whiteouts.push_back(it->first);
      }
    }
    if (!changed.entries.empty() || !changed.whiteouts.empty()) {
      if (absl::Status s = internal::AddRuntimeLayer(view, std::move(changed), RuntimeLayer{"container", -1}); !s.ok()) {
        return s;
      }
    }
  }
  // Mounts over the rootfs, the shallower first.
  std::vector<size_t> order;
  for (size_t m = 0; m < c.mounts.size(); ++m) {
    if (!mount_at[m].empty()) order.push_back(m);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return c.mounts[a].destination.size() < c.mounts[b].destination.size();
  });
  for (size_t m : order) {
    LayerContents& layer = mount_layers[m];
    bool dir = false;
    for (const LayerEntry& le : layer.entries) dir = dir || (le.file.path == mount_at[m] && le.file.type == FileType::kDir);
    if (dir) layer.opaque_dirs.push_back(mount_at[m]);
    if (absl::Status s = internal::AddRuntimeLayer(view, std::move(layer), RuntimeLayer{"mount", static_cast<int>(m)});
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace stalecheck
