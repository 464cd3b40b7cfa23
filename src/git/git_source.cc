#include "stalecheck/git_source.h"

#include <fcntl.h>
#include <git2.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "src/git/checkout.h"
#include "src/git/head.h"
#include "src/git/libgit2.h"
#include "src/git/object_reader.h"
#include "stalecheck/hash.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

using git::libgit2::Fns;

std::string LastGitError() {
  const git_error* e = Fns().git_error_last();
  return e != nullptr && e->message != nullptr ? e->message : "unknown libgit2 error";
}

template <typename T, void (*git::libgit2::Api::*Free)(T*)>
struct GitPtr {
  T* p = nullptr;
  GitPtr() = default;
  GitPtr(const GitPtr&) = delete;
  GitPtr& operator=(const GitPtr&) = delete;
  ~GitPtr() {
    if (p != nullptr) (Fns().*Free)(p);
  }
};
using RepoPtr = GitPtr<git_repository, &git::libgit2::Api::git_repository_free>;
using ObjectPtr = GitPtr<git_object, &git::libgit2::Api::git_object_free>;
using TreePtr = GitPtr<git_tree, &git::libgit2::Api::git_tree_free>;
using BlobPtr = GitPtr<git_blob, &git::libgit2::Api::git_blob_free>;

std::string RealPath(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) return p;
  return buf;
}

git::ObjectId ToObjectId(const git_oid& oid) {
  git::ObjectId id;
  std::memcpy(id.bytes, oid.id, sizeof id.bytes);
  return id;
}

// `repo`, opened from `repo_path` on first use: a thread's own handle, since libgit2's
// repository objects are not shared between threads.
absl::StatusOr<git_repository*> OpenOnce(RepoPtr& repo, const std::string& repo_path) {
  if (repo.p == nullptr && Fns().git_repository_open(&repo.p, repo_path.c_str()) != 0) {
    return absl::InternalError(LastGitError());
  }
  return repo.p;
}

// Reads a blob whole through libgit2 into `e` (size, digest, symlink target); for objects
// the streaming reader does not know. Blobs over 4 MiB take turns on `big_blob`.
absl::Status ReadBlobWithLibgit2(const std::string& repo_path, const git_oid& id,
                                 std::mutex& big_blob, RepoPtr& repo, FileEntry& e, std::string* head) {
  if (absl::StatusOr<git_repository*> opened = OpenOnce(repo, repo_path); !opened.ok()) return opened.status();
  constexpr size_t kBigBlob = 4 << 20;
  GitPtr<git_odb, &git::libgit2::Api::git_odb_free> odb;
  size_t size = 0;
  git_object_t type;
  std::unique_lock<std::mutex> big(big_blob, std::defer_lock);
  if (Fns().git_repository_odb(&odb.p, repo.p) == 0 &&
      Fns().git_odb_read_header(&size, &type, odb.p, &id) == 0 && size > kBigBlob) {
    big.lock();
  }
  BlobPtr blob;
  if (Fns().git_blob_lookup(&blob.p, repo.p, &id) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("reading ", e.path, " from git: ", LastGitError()));
  }
  absl::string_view data(static_cast<const char*>(Fns().git_blob_rawcontent(blob.p)),
                         static_cast<size_t>(Fns().git_blob_rawsize(blob.p)));
  e.size = data.size();
  e.digest = HashBytes(data);
  if (e.type == FileType::kSymlink) e.target = std::string(data);
  head->assign(data.data(), std::min(data.size(), git::kLfsPointerMaxSize));
  return absl::OkStatus();
}

// A blob's bytes, whole, through libgit2. `shown` names it in errors.
absl::StatusOr<std::string> ReadBlobBytes(git_repository* repo, const git_oid& id, const std::string& shown) {
  BlobPtr blob;
  if (Fns().git_blob_lookup(&blob.p, repo, &id) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("reading ", shown, " from git: ", LastGitError()));
  }
  return std::string(static_cast<const char*>(Fns().git_blob_rawcontent(blob.p)),
                     static_cast<size_t>(Fns().git_blob_rawsize(blob.p)));
}

// Streams the Git LFS object a checkout writes in place of `pointer` to `sink`, from the local
// LFS store, and checks it against the pointer's size and SHA-256. `shown` names the file.
absl::Status ReadLfsObject(const std::string& path, const git::LfsPointer& pointer, const std::string& shown,
                           const std::function<void(absl::string_view)>& sink) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) {
      return absl::FailedPreconditionError(absl::StrCat(
          shown, ": its Git LFS object ", pointer.oid, " is not in this clone (", path,
          "); run git lfs fetch"));
    }
    return ErrnoStatus(errno, absl::StrCat("reading ", path));
  }
  Sha256 sha;
  uint64_t total = 0;
  std::vector<char> buf(256 << 10);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("reading ", path));
    if (n == 0) break;
    sink(absl::string_view(buf.data(), static_cast<size_t>(n)));
    sha.Update(buf.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
    if (total > pointer.size) break;
  }
  if (total != pointer.size || sha.Finish() != absl::StrCat("sha256:", pointer.oid)) {
    return absl::DataLossError(
        absl::StrCat(shown, ": the Git LFS object ", path, " does not match its pointer"));
  }
  return absl::OkStatus();
}

// A repository whose blobs a walk reads: the revision's own, or an initialized submodule's.
struct ObjectSource {
  git_repository* repo = nullptr;  // `owned`, or the context's own repository
  RepoPtr owned;
  std::string repo_path;           // what git_repository_open takes, for libgit2's reads
  std::string context_root;        // the context path of the repository's root ("" for the context's own)
  std::string repo_prefix;         // the context directory inside the context's own repository
  git_oid tree{};                  // the root tree: the revision's, or the recorded commit's
  std::vector<git_oid> attribute_files;  // the revision's .gitattributes that apply to the context
  bool conversions = false;        // whether a checkout may convert any of its files
  std::unique_ptr<git::ObjectReader> reader;
};

// How a checkout writes the file at context path `path` of `src`, with `slot` holding the
// repository's conversions (opened on first use; one per thread). `conv` is set when the
// answer needs them (kFilters, kLfs).
absl::StatusOr<git::CheckoutKind> CheckoutKindOf(const ObjectSource& src, const std::string& in_repo,
                                                 const std::string& path,
                                                 std::unique_ptr<git::CheckoutConversions>& slot,
                                                 git::CheckoutConversions** conv) {
  if (!src.conversions) return git::CheckoutKind::kStored;
  if (slot == nullptr) {
    absl::StatusOr<std::unique_ptr<git::CheckoutConversions>> opened =
        git::CheckoutConversions::Open(src.repo_path, src.tree);
    if (!opened.ok()) return opened.status();
    slot = std::move(*opened);
  }
  *conv = slot.get();
  return slot->Kind(in_repo, path);
}

// The path inside `src`'s repository of the context path `path`.
std::string InRepo(const ObjectSource& src, absl::string_view path) {
  return JoinPath(src.repo_prefix, path.substr(src.context_root.empty() ? 0 : src.context_root.size() + 1));
}

// Opens the submodule that `parent` records at `path` (relative to parent's root) at `commit`,
// as `git submodule update` checks it out, and as a build from a git URL sends it. Null when
// the submodule is not initialized in this clone: a checkout then has an empty directory.
// Error: the submodule is initialized but lacks the commit (it was never fetched).
absl::StatusOr<std::unique_ptr<ObjectSource>> OpenSubmodule(const ObjectSource& parent,
                                                            const std::string& path,
                                                            const git_oid& commit,
                                                            const std::string& shown) {
  std::vector<std::string> candidates;
  {
    GitPtr<git_submodule, &git::libgit2::Api::git_submodule_free> sm;
    RepoPtr repo;
    if (Fns().git_submodule_lookup(&sm.p, parent.repo, path.c_str()) == 0 &&
        Fns().git_submodule_open(&repo.p, sm.p) == 0) {
      candidates.push_back(Fns().git_repository_path(repo.p));
    }
  }
  if (const char* wd = Fns().git_repository_workdir(parent.repo); wd != nullptr) {
    candidates.push_back(JoinPath(wd, path));
  }
  candidates.push_back(JoinPath(Fns().git_repository_path(parent.repo), JoinPath("modules", path)));
  bool initialized = false;
  for (const std::string& candidate : candidates) {
    auto src = std::make_unique<ObjectSource>();
    if (Fns().git_repository_open_ext(&src->owned.p, candidate.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH,
                                nullptr) != 0) {
      continue;
    }
    initialized = true;
    GitPtr<git_commit, &git::libgit2::Api::git_commit_free> c;
    if (Fns().git_commit_lookup(&c.p, src->owned.p, &commit) != 0) continue;
    src->repo = src->owned.p;
    src->repo_path = Fns().git_repository_path(src->owned.p);
    src->tree = *Fns().git_commit_tree_id(c.p);
    return src;
  }
  if (!initialized) return std::unique_ptr<ObjectSource>();
  char hex[GIT_OID_HEXSZ + 1];
  Fns().git_oid_tostr(hex, sizeof hex, &commit);
  return absl::FailedPreconditionError(
      absl::StrCat("submodule ", shown, ": its repository has no commit ", hex,
                   " (run git submodule update, or exclude it in .dockerignore)"));
}

}  // namespace

struct GitContext::Impl {
  std::string repo_path;  // what git_repository_open takes (the .git directory)
  std::string workdir;    // with a trailing '/'
  std::string prefix;     // the context directory relative to the workdir ("" for the root)
  std::string commit;
  git_oid root_tree_id;  // the revision's whole tree
  git_oid tree_id;       // the context directory's tree
  RepoPtr repo;
  // After Walk: the repositories it read (the revision's own first, then submodules), and
  // for ReadContextFile, their checkout conversions, opened on first use.
  std::vector<std::unique_ptr<ObjectSource>> sources;
  std::map<size_t, std::unique_ptr<git::CheckoutConversions>> conversions;
};

GitContext::GitContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GitContext::GitContext(GitContext&&) noexcept = default;
GitContext& GitContext::operator=(GitContext&&) noexcept = default;
GitContext::~GitContext() = default;

const std::string& GitContext::commit() const { return impl_->commit; }
const std::string& GitContext::workdir() const { return impl_->workdir; }

absl::StatusOr<GitContext> GitContext::Open(const std::string& context_dir,
                                            const std::string& rev) {
  if (absl::Status loaded = git::libgit2::Load(); !loaded.ok()) return loaded;
  auto impl = std::make_unique<Impl>();
  std::string ctx = RealPath(context_dir);
  if (Fns().git_repository_open_ext(&impl->repo.p, ctx.c_str(), 0, nullptr) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rev needs a git repository, and ", context_dir, " is not in one"));
  }
  const char* wd = Fns().git_repository_workdir(impl->repo.p);
  if (wd == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(context_dir, ": a bare repository has no context"));
  }
  impl->repo_path = Fns().git_repository_path(impl->repo.p);
  impl->workdir = RealPath(wd);
  if (!absl::EndsWith(impl->workdir, "/")) impl->workdir += '/';
  std::string ctx_slash = absl::StrCat(ctx, "/");
  if (!absl::StartsWith(ctx_slash, impl->workdir)) {
    return absl::InvalidArgumentError(
        absl::StrCat(context_dir, " is outside the repository at ", impl->workdir));
  }
  impl->prefix = ctx_slash.substr(impl->workdir.size());
  if (!impl->prefix.empty()) impl->prefix.pop_back();

  ObjectPtr obj;
  if (Fns().git_revparse_single(&obj.p, impl->repo.p, rev.c_str()) != 0) {
    return absl::NotFoundError(absl::StrCat("unknown revision '", rev, "' in ", impl->workdir));
  }
  ObjectPtr commit;
  if (Fns().git_object_peel(&commit.p, obj.p, GIT_OBJECT_COMMIT) == 0) {
    char hex[GIT_OID_HEXSZ + 1];
    Fns().git_oid_tostr(hex, sizeof hex, Fns().git_object_id(commit.p));
    impl->commit = hex;
  }
  ObjectPtr tree;
  if (Fns().git_object_peel(&tree.p, obj.p, GIT_OBJECT_TREE) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("revision '", rev, "' names no tree"));
  }
  impl->tree_id = *Fns().git_object_id(tree.p);
  impl->root_tree_id = impl->tree_id;
  if (!impl->prefix.empty()) {
    TreePtr root;
    Fns().git_tree_lookup(&root.p, impl->repo.p, &impl->tree_id);
    git_tree_entry* te = nullptr;
    if (Fns().git_tree_entry_bypath(&te, root.p, impl->prefix.c_str()) != 0) {
      return absl::NotFoundError(
          absl::StrCat("revision '", rev, "' has no directory ", impl->prefix));
    }
    bool is_tree = Fns().git_tree_entry_type(te) == GIT_OBJECT_TREE;
    impl->tree_id = *Fns().git_tree_entry_id(te);
    Fns().git_tree_entry_free(te);
    if (!is_tree) {
      return absl::InvalidArgumentError(
          absl::StrCat("revision '", rev, "': ", impl->prefix, " is not a directory"));
    }
  }
  return GitContext(std::move(impl));
}

absl::StatusOr<std::optional<std::string>> GitContext::ReadFile(
    const std::string& repo_path) const {
  TreePtr root;
  if (Fns().git_tree_lookup(&root.p, impl_->repo.p, &impl_->root_tree_id) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("reading the revision's tree: ", LastGitError()));
  }
  git_tree_entry* te = nullptr;
  if (Fns().git_tree_entry_bypath(&te, root.p, repo_path.c_str()) != 0) {
    return std::optional<std::string>();
  }
  git_oid id = *Fns().git_tree_entry_id(te);
  bool is_blob = Fns().git_tree_entry_type(te) == GIT_OBJECT_BLOB;
  Fns().git_tree_entry_free(te);
  if (!is_blob) return std::optional<std::string>();
  BlobPtr blob;
  if (Fns().git_blob_lookup(&blob.p, impl_->repo.p, &id) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("reading ", repo_path, " from git: ", LastGitError()));
  }
  return std::optional<std::string>(
      std::string(static_cast<const char*>(Fns().git_blob_rawcontent(blob.p)), Fns().git_blob_rawsize(blob.p)));
}

absl::StatusOr<std::vector<FileEntry>> GitContext::Walk(const IgnoreMatcher& ignore, int jobs) {
  std::vector<FileEntry> entries;
  struct Blob {
    size_t entry;
    git_oid id;
    size_t source;  // index into sources
  };
  std::vector<Blob> blobs;
  std::vector<std::unique_ptr<ObjectSource>> sources;
  sources.push_back(std::make_unique<ObjectSource>());
  sources[0]->repo = impl_->repo.p;
  sources[0]->repo_path = impl_->repo_path;
  sources[0]->repo_prefix = impl_->prefix;
  sources[0]->tree = impl_->root_tree_id;
  {
    // The .gitattributes of the context directory's ancestors apply to it too.
    TreePtr root;
    if (Fns().git_tree_lookup(&root.p, impl_->repo.p, &impl_->root_tree_id) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("reading the revision's tree: ", LastGitError()));
    }
    std::string dir;
    for (absl::string_view part : absl::StrSplit(impl_->prefix, '/', absl::SkipEmpty())) {
      git_tree_entry* te = nullptr;
      if (Fns().git_tree_entry_bypath(&te, root.p, JoinPath(dir, ".gitattributes").c_str()) == 0) {
        if (Fns().git_tree_entry_type(te) == GIT_OBJECT_BLOB) sources[0]->attribute_files.push_back(*Fns().git_tree_entry_id(te));
        Fns().git_tree_entry_free(te);
      }
      dir = JoinPath(dir, part);
    }
  }

  // The tree walk is cheap (tree objects only); it runs on this thread. Blobs are read below.
  struct Frame {
    git_oid tree;
    std::string rel;
    size_t source;
    IgnoreMatcher::Carry carry;  // what the directory's judgement hands down
  };
  std::vector<Frame> stack{{impl_->tree_id, "", 0, {}}};
  while (!stack.empty()) {
    Frame f = std::move(stack.back());
    stack.pop_back();
    git_repository* repo = sources[f.source]->repo;
    TreePtr tree;
    if (Fns().git_tree_lookup(&tree.p, repo, &f.tree) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("reading tree ", f.rel, ": ", LastGitError()));
    }
    size_t n = Fns().git_tree_entrycount(tree.p);
    for (size_t i = 0; i < n; ++i) {
      const git_tree_entry* te = Fns().git_tree_entry_byindex(tree.p, i);
      FileEntry e;
      e.path = JoinPath(f.rel, Fns().git_tree_entry_name(te));
      git_filemode_t fm = Fns().git_tree_entry_filemode(te);
      if (std::strcmp(Fns().git_tree_entry_name(te), ".gitattributes") == 0 &&
          Fns().git_tree_entry_type(te) == GIT_OBJECT_BLOB) {
        // It applies to what is checked out beside it, whether or not it is sent itself.
        sources[f.source]->attribute_files.push_back(*Fns().git_tree_entry_id(te));
      }
      switch (fm) {
        case GIT_FILEMODE_TREE:
        case GIT_FILEMODE_COMMIT:
          e.type = FileType::kDir;
          e.mode = 0755;
          break;
        case GIT_FILEMODE_LINK:
          e.type = FileType::kSymlink;
          e.mode = 0777;
          break;
        case GIT_FILEMODE_BLOB_EXECUTABLE:
          e.type = FileType::kFile;
          e.mode = 0755;
          break;
        default:
          e.type = FileType::kFile;
          e.mode = 0644;
          break;
      }
      IgnoreMatcher::Carry carry;
      const IgnoreMatcher::Decision d =
          ignore.Judge(e.path, e.type == FileType::kDir, f.rel.empty() ? nullptr : &f.carry, &carry);
      if (d.excluded && !d.descend) continue;
      if (fm == GIT_FILEMODE_TREE) {
        stack.push_back({*Fns().git_tree_entry_id(te), e.path, f.source, std::move(carry)});
      } else if (fm == GIT_FILEMODE_COMMIT) {
        absl::StatusOr<std::unique_ptr<ObjectSource>> sub = OpenSubmodule(
            *sources[f.source], InRepo(*sources[f.source], e.path), *Fns().git_tree_entry_id(te), e.path);
        if (!sub.ok()) return sub.status();
        if (*sub != nullptr) {
          (*sub)->context_root = e.path;
          git_oid sub_tree = (*sub)->tree;
          sources.push_back(std::move(*sub));
          stack.push_back({sub_tree, e.path, sources.size() - 1, std::move(carry)});
        }
      } else if (d.empty_on_open) {
        e.digest = HashBytes("");  // sent with no bytes: nothing to read
      } else {
        blobs.push_back({entries.size(), *Fns().git_tree_entry_id(te), f.source});
      }
      entries.push_back(std::move(e));
    }
  }

  // Blobs are streamed in parallel from the packs and loose objects, so that a large blob
  // is never in memory whole. What that reader cannot find (alternates, old formats) is
  // read through libgit2, whose objects are not shared between threads: each worker opens
  // the repository itself when it first needs it.
  for (auto& src : sources) {
    src->reader = git::ObjectReader::Open(JoinPath(Fns().git_repository_commondir(src->repo), "objects"));
    std::vector<std::string> texts;
    for (const git_oid& id : src->attribute_files) {
      BlobPtr blob;
      if (Fns().git_blob_lookup(&blob.p, src->repo, &id) != 0) {
        return absl::InvalidArgumentError(absl::StrCat("reading a .gitattributes from git: ", LastGitError()));
      }
      texts.emplace_back(static_cast<const char*>(Fns().git_blob_rawcontent(blob.p)),
                         static_cast<size_t>(Fns().git_blob_rawsize(blob.p)));
    }
    src->conversions = git::CheckoutConversions::AnyPossible(src->repo, texts);
  }
  {
    std::vector<std::tuple<size_t, uint64_t, size_t>> order;  // source, read-order key, blob
    order.reserve(blobs.size());
    for (size_t k = 0; k < blobs.size(); ++k) {
      const Blob& b = blobs[k];
      order.emplace_back(b.source, sources[b.source]->reader->ReadOrder(ToObjectId(b.id)), k);
    }
    std::sort(order.begin(), order.end());
    std::vector<Blob> sorted;
    sorted.reserve(blobs.size());
    for (const auto& [source, key, k] : order) sorted.push_back(blobs[k]);
    blobs = std::move(sorted);
  }
  struct Worker {
    git::ReadScratch scratch;
    // Per source, opened on first use.
    std::map<size_t, RepoPtr> repos;
    std::map<size_t, std::unique_ptr<git::CheckoutConversions>> conversions;
  };
  std::vector<Worker> workers(ParallelWorkers(blobs.size(), jobs));
  std::mutex big_blob;
  absl::Status read = ParallelFor(blobs.size(), jobs, [&](size_t k, size_t slot) -> absl::Status {
    Worker& w = workers[slot];
    const Blob& b = blobs[k];
    const ObjectSource& src = *sources[b.source];
    FileEntry& e = entries[b.entry];
    // A checkout may write other bytes than the blob's (git never converts a symlink).
    git::CheckoutKind kind = git::CheckoutKind::kStored;
    git::CheckoutConversions* conv = nullptr;
    if (e.type == FileType::kFile) {
      absl::StatusOr<git::CheckoutKind> k =
          CheckoutKindOf(src, InRepo(src, e.path), e.path, w.conversions[b.source], &conv);
      if (!k.ok()) return k.status();
      kind = *k;
    }
    if (kind == git::CheckoutKind::kFilters) {
      // Converted whole: git's filters take the whole blob (text files, as a rule).
      std::string stored;
      absl::StatusOr<uint64_t> size = src.reader->ReadBlob(
          ToObjectId(b.id), w.scratch, [&](absl::string_view piece) { stored.append(piece.data(), piece.size()); });
      if (!size.ok() && !absl::IsNotFound(size.status())) {
        return absl::DataLossError(absl::StrCat("reading ", e.path, " from git: ", size.status().message()));
      }
      if (!size.ok()) {
        absl::StatusOr<git_repository*> own = OpenOnce(w.repos[b.source], src.repo_path);
        if (!own.ok()) return own.status();
        absl::StatusOr<std::string> whole = ReadBlobBytes(*own, b.id, e.path);
        if (!whole.ok()) return whole.status();
        stored = std::move(*whole);
      }
      absl::StatusOr<std::string> bytes = conv->Filtered(InRepo(src, e.path), std::move(stored), b.id, e.path);
      if (!bytes.ok()) return bytes.status();
      e.size = bytes->size();
      e.digest = HashBytes(*bytes);
      return absl::OkStatus();
    }
    StreamHasher hasher;
    std::string target;
    std::string head;  // the first bytes, where a Git LFS pointer would be
    absl::StatusOr<uint64_t> size =
        src.reader->ReadBlob(ToObjectId(b.id), w.scratch, [&](absl::string_view piece) {
          hasher.Update(piece.data(), piece.size());
          if (e.type == FileType::kSymlink) target.append(piece.data(), piece.size());
          if (kind == git::CheckoutKind::kLfs && head.size() < git::kLfsPointerMaxSize) {
            head.append(piece.data(), std::min(piece.size(), git::kLfsPointerMaxSize - head.size()));
          }
        });
    if (size.ok()) {
      e.size = *size;
      e.digest = hasher.Finish();
      if (e.type == FileType::kSymlink) e.target = std::move(target);
    } else if (!absl::IsNotFound(size.status())) {
      return absl::DataLossError(
          absl::StrCat("reading ", e.path, " from git: ", size.status().message()));
    } else if (absl::Status st = ReadBlobWithLibgit2(src.repo_path, b.id, big_blob, w.repos[b.source], e, &head);
               !st.ok()) {
      return st;
    }
    if (kind == git::CheckoutKind::kLfs && e.size < git::kLfsPointerMaxSize) {
      // git-lfs checks out what is not a pointer as it is.
      if (std::optional<git::LfsPointer> pointer = git::ParseLfsPointer(head)) {
        StreamHasher object;
        absl::Status st = ReadLfsObject(conv->LfsObjectPath(*pointer), *pointer, e.path,
                                        [&](absl::string_view piece) { object.Update(piece.data(), piece.size()); });
        if (!st.ok()) return st;
        e.size = pointer->size;
        e.digest = object.Finish();
      }
    }
    return absl::OkStatus();
  });
  if (!read.ok()) return read;
  std::sort(entries.begin(), entries.end(),
            [](const FileEntry& a, const FileEntry& b) { return a.path < b.path; });
  for (auto& src : sources) src->reader.reset();  // ReadContextFile reads through libgit2
  impl_->sources = std::move(sources);
  return entries;
}

absl::StatusOr<std::string> GitContext::ReadContextFile(const std::string& rel) {
  if (impl_->sources.empty()) return absl::FailedPreconditionError("ReadContextFile before Walk");
  // The repository that holds it: the deepest submodule above it, else the revision's own.
  size_t si = 0;
  for (size_t k = 1; k < impl_->sources.size(); ++k) {
    const std::string& root = impl_->sources[k]->context_root;
    if (absl::StartsWith(rel, root + "/") && root.size() > impl_->sources[si]->context_root.size()) si = k;
  }
  const ObjectSource& src = *impl_->sources[si];
  const std::string in_repo = InRepo(src, rel);
  const std::string shown = absl::StrCat(impl_->commit.empty() ? "" : impl_->commit.substr(0, 12) + ":", rel);
  TreePtr tree;
  if (Fns().git_tree_lookup(&tree.p, src.repo, &src.tree) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("reading the tree of ", shown, ": ", LastGitError()));
  }
  git_tree_entry* te = nullptr;
  if (Fns().git_tree_entry_bypath(&te, tree.p, in_repo.c_str()) != 0) {
    return absl::NotFoundError(absl::StrCat(shown, ": no such file"));
  }
  const git_oid id = *Fns().git_tree_entry_id(te);
  const bool is_blob = Fns().git_tree_entry_type(te) == GIT_OBJECT_BLOB;
  Fns().git_tree_entry_free(te);
  if (!is_blob) return absl::NotFoundError(absl::StrCat(shown, ": not a file"));

  git::CheckoutConversions* conv = nullptr;
  absl::StatusOr<git::CheckoutKind> kind = CheckoutKindOf(src, in_repo, rel, impl_->conversions[si], &conv);
  if (!kind.ok()) return kind.status();
  absl::StatusOr<std::string> stored = ReadBlobBytes(src.repo, id, shown);
  if (!stored.ok()) return stored.status();
  if (*kind == git::CheckoutKind::kFilters) return conv->Filtered(in_repo, std::move(*stored), id, rel);
  std::string& bytes = *stored;
  if (*kind == git::CheckoutKind::kLfs) {
    if (std::optional<git::LfsPointer> pointer = git::ParseLfsPointer(bytes)) {
      std::string object;
      absl::Status st = ReadLfsObject(conv->LfsObjectPath(*pointer), *pointer, rel,
                                      [&](absl::string_view piece) { object.append(piece.data(), piece.size()); });
      if (!st.ok()) return st;
      return object;
    }
  }
  return bytes;
}

std::optional<std::string> HeadCommit(const std::string& dir) {
  const std::string real = RealPath(dir);
  if (std::optional<std::optional<std::string>> known = git::ReadHeadFromFiles(real)) return *known;
  if (!git::libgit2::Load().ok()) return std::nullopt;
  RepoPtr repo;
  if (Fns().git_repository_open_ext(&repo.p, real.c_str(), 0, nullptr) != 0) return std::nullopt;
  git_oid id;
  if (Fns().git_reference_name_to_id(&id, repo.p, "HEAD") != 0) return std::nullopt;
  char hex[GIT_OID_HEXSZ + 1];
  Fns().git_oid_tostr(hex, sizeof hex, &id);
  return std::string(hex);
}

std::optional<CommitRelation> RelateCommits(const std::string& dir, const std::string& head, const std::string& name) {
  if (!git::libgit2::Load().ok()) return std::nullopt;
  RepoPtr repo;
  if (Fns().git_repository_open_ext(&repo.p, RealPath(dir).c_str(), 0, nullptr) != 0) return std::nullopt;
  git_oid head_id;
  if (Fns().git_oid_fromstr(&head_id, head.c_str()) != 0) return std::nullopt;
  ObjectPtr obj;
  if (Fns().git_revparse_single(&obj.p, repo.p, name.c_str()) != 0) return std::nullopt;
  ObjectPtr commit;
  if (Fns().git_object_peel(&commit.p, obj.p, GIT_OBJECT_COMMIT) != 0) return std::nullopt;
  CommitRelation rel;
  char hex[GIT_OID_HEXSZ + 1];
  Fns().git_oid_tostr(hex, sizeof hex, Fns().git_object_id(commit.p));
  rel.id = hex;
  if (Fns().git_graph_ahead_behind(&rel.ahead, &rel.behind, repo.p, &head_id, Fns().git_object_id(commit.p)) != 0) {
    return std::nullopt;
  }
  return rel;
}

}  // namespace stalecheck
