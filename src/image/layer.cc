#include <archive.h>
#include <archive_entry.h>

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/image/internal.h"
#include "stalecheck/layer.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

// Feeds a ByteReader to libarchive and keeps the reader's own error, which libarchive would
// otherwise reduce to a generic message.
struct ArchiveFeed {
  ByteReader* in;
  std::vector<char> buf = std::vector<char>(256 << 10);
  absl::Status error;
};

la_ssize_t FeedRead(struct archive* a, void* client, const void** out) {
  auto* feed = static_cast<ArchiveFeed*>(client);
  absl::StatusOr<size_t> n = feed->in->Read(feed->buf.data(), feed->buf.size());
  if (!n.ok()) {
    feed->error = n.status();
    archive_set_error(a, EIO, "%s", std::string(n.status().message()).c_str());
    return -1;
  }
  *out = feed->buf.data();
  return static_cast<la_ssize_t>(*n);
}

// Normalises a tar member name to an absolute path ("./a/b/" -> "/a/b"). An empty result
// means the root itself. Names with ".." components are refused: they point outside the
// image's root.
absl::StatusOr<std::string> NormaliseName(absl::string_view raw) {
  absl::string_view name = raw;
  while (absl::ConsumePrefix(&name, "./") || absl::ConsumePrefix(&name, "/")) {
  }
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part == "..") {
      return absl::InvalidArgumentError(absl::StrCat("entry '", raw, "' escapes the root"));
    }
  }
  std::string clean = CleanPath(absl::StrCat("/", name));
  if (clean == "/") return std::string();
  return clean;
}

// Fills `le` (its path already set) from the current tar entry, hashing a file's data.
// `keep` is false for an entry no filesystem view holds (a socket).
absl::Status ReadEntry(struct archive* a, struct archive_entry* ae, ArchiveFeed& feed, std::vector<char>& data,
                       LayerEntry* out, bool* keep) {
  LayerEntry& le = *out;
  le.file.mode = static_cast<uint32_t>(archive_entry_perm(ae)) & 07777;
  le.file.mtime = archive_entry_mtime(ae);
  if (const char* hl = archive_entry_hardlink(ae); hl != nullptr) {
    absl::StatusOr<std::string> target = NormaliseName(hl);
    if (!target.ok()) return target.status();
    le.hardlink = std::move(*target);
    return absl::OkStatus();
  }
  switch (archive_entry_filetype(ae)) {
    case AE_IFREG: {
      le.file.type = FileType::kFile;
      StreamHasher h;
      uint64_t size = 0;
      for (;;) {
        la_ssize_t n = archive_read_data(a, data.data(), data.size());
        if (n < 0) {
          return !feed.error.ok() ? feed.error
                                  : absl::DataLossError(absl::StrCat("reading ", le.file.path, ": ",
                                                                     archive_error_string(a)));
        }
        if (n == 0) break;
        h.Update(data.data(), static_cast<size_t>(n));
        if (size < 16 && IsPyc(le.file.path)) {
          le.file.head.append(data.data(), std::min<size_t>(16 - size, static_cast<size_t>(n)));
        }
        size += static_cast<uint64_t>(n);
      }
      le.file.size = size;
      le.file.digest = h.Finish();
      break;
    }
    case AE_IFDIR:
      le.file.type = FileType::kDir;
      break;
    case AE_IFLNK: {
      le.file.type = FileType::kSymlink;
      const char* t = archive_entry_symlink(ae);
      le.file.target = t != nullptr ? t : "";
      le.file.size = le.file.target.size();
      le.file.digest = HashBytes(le.file.target);
      break;
    }
    case AE_IFCHR:
    case AE_IFBLK:
      le.file.type = FileType::kSpecial;
      le.file.target = absl::StrCat(archive_entry_filetype(ae) == AE_IFCHR ? "char-device " : "block-device ",
                                    archive_entry_rdevmajor(ae), ",", archive_entry_rdevminor(ae));
      le.file.digest = HashBytes(le.file.target);
      break;
    case AE_IFIFO:
      le.file.type = FileType::kSpecial;
      le.file.target = "fifo";
      le.file.digest = HashBytes(le.file.target);
      break;
    default:
      *keep = false;  // a socket: tar has no such entry
  }
  return absl::OkStatus();
}

}  // namespace

PipeReader::PipeReader(std::function<absl::Status(int fd)> produce, std::string name) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    produced_ = ErrnoStatus(errno, "creating a pipe");
    return;
  }
  reader_ = std::make_unique<FdReader>(fds[0], std::move(name));
  writer_ = std::thread([this, produce = std::move(produce), fd = fds[1]] {
    // A reader that stops early makes writes fail with EPIPE, not a signal.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    produced_ = produce(fd);
  });
}

PipeReader::~PipeReader() { (void)Finish(); }

absl::StatusOr<size_t> PipeReader::Read(char* buf, size_t cap) {
  if (reader_ == nullptr) {
    if (!produced_.ok()) return produced_;
    return size_t{0};
  }
  absl::StatusOr<size_t> n = reader_->Read(buf, cap);
  if (n.ok() && *n == 0) {
    if (absl::Status s = Finish(); !s.ok()) return s;
  }
  return n;
}

absl::Status PipeReader::Finish() {
  reader_.reset();
  if (writer_.joinable()) writer_.join();
  return produced_;
}

absl::StatusOr<std::optional<LayerEntry>> DecodeFirstEntry(ByteReader& in, absl::string_view name) {
  ArchiveFeed feed{&in};
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  std::optional<LayerEntry> out;
  absl::Status status;
  if (archive_read_open(a, &feed, nullptr, FeedRead, nullptr) != ARCHIVE_OK) {
    status = feed.error.ok() ? absl::DataLossError(absl::StrCat("not a tar stream: ", archive_error_string(a)))
                             : feed.error;
  }
  struct archive_entry* ae = nullptr;
  int r = status.ok() ? archive_read_next_header(a, &ae) : ARCHIVE_FATAL;
  if (status.ok() && r != ARCHIVE_EOF) {
    if (r < ARCHIVE_WARN) {
      status = !feed.error.ok() ? feed.error
                                : absl::DataLossError(absl::StrCat("corrupt tar stream: ", archive_error_string(a)));
    } else {
      const char* raw = archive_entry_pathname(ae);
      absl::StatusOr<std::string> path = NormaliseName(raw == nullptr ? "" : raw);
      if (!path.ok()) {
        status = path.status();
      } else {
        LayerEntry le;
        le.file.path = path->empty() ? "/" : std::move(*path);
        bool keep = true;
        std::vector<char> data(256 << 10);
        status = ReadEntry(a, ae, feed, data, &le, &keep);
        if (status.ok() && keep) out = std::move(le);
      }
    }
  }
  archive_read_free(a);
  if (!status.ok()) return absl::Status(status.code(), absl::StrCat(name, ": ", status.message()));
  return out;
}

absl::StatusOr<LayerContents> DecodeLayer(ByteReader& in, absl::string_view name) {
  auto fail = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(name, ": ", s.message()));
  };
  LayerContents out;
  std::string head;
  if (absl::Status st = internal::ReadHead(in, 4, &head); !st.ok()) return fail(st);
  out.compression = SniffCompression(head);
  internal::PrefixedReader whole(head, in);
  // Compressed: hash the stored bytes on the way into the decoder, and the tar after it.
  // Uncompressed: the stored bytes are the tar, and one SHA-256 serves as both digests.
  std::unique_ptr<internal::HashingReader> stored;
  std::unique_ptr<ByteReader> decoder;
  ByteReader* tar_stream = &whole;
  if (out.compression != Compression::kNone) {
    stored = std::make_unique<internal::HashingReader>(whole);
    if (out.compression == Compression::kGzip) {
      decoder = std::make_unique<internal::GzipReader>(*stored);
    } else {
      decoder = std::make_unique<internal::ZstdReader>(*stored);
    }
    tar_stream = decoder.get();
  }
  internal::HashingReader tar(*tar_stream);
  // Decompression and both digests on one thread, the tar and the file digests on this one.
  internal::ReadAheadReader ahead(tar);

  ArchiveFeed feed{&ahead};
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  absl::Status status;
  if (archive_read_open(a, &feed, nullptr, FeedRead, nullptr) != ARCHIVE_OK) {
    status = feed.error.ok() ? absl::DataLossError(absl::StrCat("not a tar stream: ",
                                                                archive_error_string(a)))
                             : feed.error;
  }
  std::vector<char> data(256 << 10);
  while (status.ok()) {
    struct archive_entry* ae = nullptr;
    int r = archive_read_next_header(a, &ae);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      status = !feed.error.ok() ? feed.error
                                : absl::DataLossError(absl::StrCat("corrupt tar stream: ",
                                                                   archive_error_string(a)));
      break;
    }
    const char* raw = archive_entry_pathname(ae);
    if (raw == nullptr) raw = "";
    absl::StatusOr<std::string> path = NormaliseName(raw);
    if (!path.ok()) {
      status = path.status();
      break;
    }
    if (path->empty()) continue;  // the root directory itself
    absl::string_view base = absl::string_view(*path).substr(path->rfind('/') + 1);
    absl::string_view dir = absl::string_view(*path).substr(0, path->rfind('/'));
    if (absl::StartsWith(base, ".wh.")) {
      if (base == ".wh..wh..opq") {
        out.opaque_dirs.emplace_back(dir.empty() ? "/" : std::string(dir));
      } else {
        out.whiteouts.push_back(absl::StrCat(dir, "/", base.substr(4)));
      }
      continue;
    }
    LayerEntry le;
    le.file.path = std::move(*path);
    bool keep = true;
    status = ReadEntry(a, ae, feed, data, &le, &keep);
    if (!keep && status.ok()) continue;
    if (!status.ok()) break;
    out.entries.push_back(std::move(le));
  }
  archive_read_free(a);
  if (!status.ok()) return fail(status);
  // Read what follows the end-of-archive blocks too: the diff_id and the blob digest cover
  // every byte.
  if (absl::Status s = internal::Drain(ahead); !s.ok()) return fail(s);
  ahead.Finish();
  out.diff_id = tar.Digest();
  out.tar_bytes = tar.bytes();
  if (stored != nullptr) {
    if (absl::Status s = internal::Drain(*stored); !s.ok()) return fail(s);
    out.blob_digest = stored->Digest();
    out.stored_bytes = stored->bytes();
  } else {
    out.blob_digest = out.diff_id;
    out.stored_bytes = out.tar_bytes;
  }
  return out;
}

namespace {

// Erases `dir`'s descendants (not `dir` itself).
void EraseBelow(std::map<std::string, ViewEntry>& view, const std::string& dir) {
  std::string lo = dir == "/" ? "/" : absl::StrCat(dir, "/");
  std::string hi = dir == "/" ? "0" : absl::StrCat(dir, "0");  // '0' follows '/'
  view.erase(view.lower_bound(lo), view.lower_bound(hi));
}

// The directories above `path`, made where the layers below have none. A symlink or a file
// above it is an error: extracting the entry would write through the symlink (moby's and
// containerd's extractors resolve it inside the root) or fail (a file is no directory), and
// this view does not follow symlinks.
absl::Status AddParents(std::map<std::string, ViewEntry>& view, const std::string& path, int layer) {
  size_t pos = path.rfind('/');
  std::vector<std::string> missing;
  while (pos != std::string::npos && pos > 0) {
    std::string parent = path.substr(0, pos);
    auto it = view.find(parent);
    if (it != view.end()) {
      if (it->second.file.type == FileType::kDir) break;
      return absl::InvalidArgumentError(absl::StrCat(
          "layer ", layer, ": ", path, " lies through ",
          it->second.file.type == FileType::kSymlink ? absl::StrCat("the symlink ", parent, " (-> ", it->second.file.target, ")")
                                                     : absl::StrCat("the file ", parent),
          ", which stalecheck does not follow; docker's extractors would write it elsewhere or fail"));
    }
    missing.push_back(std::move(parent));
    pos = missing.back().rfind('/');
  }
  for (std::string& parent : missing) {
    ViewEntry dir;
    dir.file.path = parent;
    dir.file.type = FileType::kDir;
    dir.file.mode = 0755;
    dir.layer = layer;
    dir.implied = true;
    view[std::move(parent)] = std::move(dir);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyLayer(LayeredFiles& out, LayerContents layer) {
  std::map<std::string, ViewEntry>& view = out.files;
  const int index = static_cast<int>(out.layers.size());
  LayerChanges& changes = out.layers.emplace_back();
  // Whiteouts and opaque markers hide lower layers only, wherever they stand in the tar:
  // apply them before any entry of this layer.
  for (const std::string& dir : layer.opaque_dirs) EraseBelow(view, dir);
  for (const std::string& gone : layer.whiteouts) {
    view.erase(gone);
    EraseBelow(view, gone);
  }
  changes.entries.reserve(layer.entries.size());
  // Tar order is mostly path order, and siblings come together: the place after the last
  // entry is tried before a search, and a parent just checked is not checked again.
  auto prev = view.end();
  std::string known_dir = "\x01", known_self = "\x01";  // directories known to be in place
  for (LayerEntry& le : layer.entries) {
    ViewEntry ve;
    ve.layer = index;
    ve.file = std::move(le.file);
    if (!le.hardlink.empty()) {
      auto target = view.find(le.hardlink);
      if (target == view.end() || target->second.file.type != FileType::kFile) {
        return absl::InvalidArgumentError(absl::StrCat("layer ", index, ": hard link ", ve.file.path,
                                                       " names ", le.hardlink, ", which is not a file"));
      }
      ve.file.type = FileType::kFile;
      ve.file.mode = target->second.file.mode;
      ve.file.size = target->second.file.size;
      ve.file.digest = target->second.file.digest;
      ve.file.head = target->second.file.head;
    }
    const std::string& path = ve.file.path;
    auto it = prev != view.end() && prev->first < path &&
                      (std::next(prev) == view.end() || path <= std::next(prev)->first)
                  ? std::next(prev)
                  : view.lower_bound(path);
    const bool exists = it != view.end() && it->first == path;
    if (exists && it->second.file.type == FileType::kDir && ve.file.type != FileType::kDir) {
      EraseBelow(view, path);  // a file over a directory replaces its subtree
    }
    const size_t slash = path.rfind('/');
    const absl::string_view parent = slash == 0 || slash == std::string::npos ? absl::string_view("/")
                                                                              : absl::string_view(path).substr(0, slash);
    if (parent != known_dir && parent != known_self) {
      if (absl::Status st = AddParents(view, path, index); !st.ok()) return st;
    }
    // This entry cannot unmake its own parent: only what lies below it.
    known_dir.assign(parent.data(), parent.size());
    if (ve.file.type == FileType::kDir) {
      known_self = path;
    } else {
      known_self = "\x01";
    }
    changes.entries.push_back(ve.file);
    if (exists) {
      it->second = std::move(ve);
      prev = it;
    } else {
      prev = view.emplace_hint(it, path, std::move(ve));
    }
  }
  changes.whiteouts = std::move(layer.whiteouts);
  changes.opaque_dirs = std::move(layer.opaque_dirs);
  return absl::OkStatus();
}

absl::StatusOr<LayeredFiles> ApplyLayers(std::vector<LayerContents> layers) {
  LayeredFiles out;
  out.layers.reserve(layers.size());
  for (LayerContents& layer : layers) {
    if (absl::Status s = ApplyLayer(out, std::move(layer)); !s.ok()) return s;
  }
  return out;
}

LayerIndex::LayerIndex(const LayerChanges& changes)
    : whiteouts_(changes.whiteouts), opaque_dirs_(changes.opaque_dirs) {
  written_.reserve(changes.entries.size());
  for (const FileEntry& e : changes.entries) written_.insert_or_assign(absl::string_view(e.path), &e);
  std::sort(whiteouts_.begin(), whiteouts_.end());
  std::sort(opaque_dirs_.begin(), opaque_dirs_.end());
}

const FileEntry* LayerIndex::Written(const std::string& path) const {
  auto it = written_.find(path);
  return it == written_.end() ? nullptr : it->second;
}

bool LayerIndex::Deletes(const std::string& path) const {
  if (std::binary_search(whiteouts_.begin(), whiteouts_.end(), path)) return true;
  // Each parent, from the nearest up to the root.
  for (std::string p = path; p.size() > 1;) {
    size_t slash = p.rfind('/');
    p = slash == 0 ? "/" : p.substr(0, slash);
    if (std::binary_search(whiteouts_.begin(), whiteouts_.end(), p)) return true;
    if (std::binary_search(opaque_dirs_.begin(), opaque_dirs_.end(), p)) return true;
    if (const FileEntry* e = Written(p); e != nullptr && e->type != FileType::kDir) return true;
  }
  return false;
}

}  // namespace stalecheck
