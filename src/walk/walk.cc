#include "stalecheck/walk.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <malloc.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "stalecheck/util.h"

namespace stalecheck {

const char* FileTypeName(FileType type) {
  switch (type) {
    case FileType::kFile:
      return "file";
    case FileType::kDir:
      return "dir";
    case FileType::kSymlink:
      return "symlink";
    case FileType::kSpecial:
      return "special";
  }
  return "file";
}

bool IsPyc(const std::string& path) {
  return path.size() > 4 && path.compare(path.size() - 4, 4, ".pyc") == 0;
}

namespace {

// A directory still to read, with what its own judgement hands down to its entries.
struct PendingDir {
  std::string rel;
  IgnoreMatcher::Carry carry;
};

// What one ReadDir call found, in the order it read it, and where each of those entries falls
// among full paths: `order` lists indexes into `found`, kBelow marking the place of what lies
// below that directory entry (the run of the directory read from it).
struct DirRun {
  std::string rel;
  WalkedTree found;
  std::vector<uint32_t> order;
  std::vector<DirRun*> below;  // the runs of the kBelow items, in their order (set when joined)
};
constexpr uint32_t kBelow = uint32_t{1} << 31;

// A shared queue of directories still to read. Workers take a directory, read it, and add
// the subdirectories they find; the walk ends when the queue is empty and nobody is busy.
class DirQueue {
 public:
  void Push(PendingDir dir) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(dir));
    cv_.notify_one();
  }

  // Blocks for the next directory; false when the walk is over (or failed).
  bool Pop(PendingDir* dir) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty() || busy_ == 0 || failed_; });
    if (failed_ || queue_.empty()) return false;
    *dir = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    return true;
  }

  void Done() {
    std::lock_guard<std::mutex> lock(mu_);
    --busy_;
    if (busy_ == 0 && queue_.empty()) cv_.notify_all();
  }

  void Fail(absl::Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_) error_ = std::move(st);
    failed_ = true;
    cv_.notify_all();
  }

  absl::Status error() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<PendingDir> queue_;
  int busy_ = 0;
  bool failed_ = false;
  absl::Status error_;
};

// One child of a directory in the order of full paths: its own entry sorts by its name, and
// (for a directory read too) everything below it by its name and a '/', since each of those
// paths continues so. Siblings such as "a.b" fall between directory "a" and "a/x".
struct Child {
  absl::string_view name;
  uint32_t index;  // the entry, or (below) the run of the directory
  bool below;
};

bool ChildBefore(const Child& a, const Child& b) {
  const size_t n = std::min(a.name.size(), b.name.size());
  if (int c = std::memcmp(a.name.data(), b.name.data(), n); c != 0) return c < 0;
  if (a.name.size() == b.name.size()) return !a.below && b.below;
  // One name is a prefix of the other: the shorter one goes on with '/' or ends.
  const bool a_shorter = a.name.size() < b.name.size();
  const Child& s = a_shorter ? a : b;
  const Child& l = a_shorter ? b : a;
  const bool shorter_first =
      !s.below || static_cast<unsigned char>('/') < static_cast<unsigned char>(l.name[n]);
  return a_shorter == shorter_first;
}

// Hashes a small file the walk opened, reading one byte more than its size so that a short
// read proves the end. A file that grew meanwhile is left for HashPending (size set past the
// limit).
absl::Status HashSmallOpenFile(int fd, const std::string& dir_path, absl::string_view name,
                               FileEntry& e) {
  thread_local std::vector<char> buf(kInlineHashLimit + 1);
  ssize_t n;
  do {
    n = ::read(fd, buf.data(), buf.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return ErrnoStatus(errno, absl::StrCat("reading ", JoinPath(dir_path, name)));
  if (static_cast<size_t>(n) >= kInlineHashLimit) {
    e.size = kInlineHashLimit;  // grew: HashPending reads it whole
    return absl::OkStatus();
  }
  e.size = static_cast<uint64_t>(n);
  e.digest = HashBytes(absl::string_view(buf.data(), static_cast<size_t>(n)));
  return absl::OkStatus();
}

// ThreadSanitizer keeps one table of descriptors for the whole process: the same number open
// in two private tables reads to it as one descriptor closed by two threads, and its report of
// that crashes. Under it the workers share the process's table (what the kernel does when it
// refuses to unshare); the memory they share is the same either way.
#if defined(__SANITIZE_THREAD__)
constexpr bool kPrivateFileTables = false;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
constexpr bool kPrivateFileTables = false;
#else
constexpr bool kPrivateFileTables = true;
#endif
#else
constexpr bool kPrivateFileTables = true;
#endif

constexpr int kOpenFile = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;

// One entry as the walk found it, with the stat key the cache needs.
struct Walked {
  FileEntry e;
  StatKey key;
  bool hashed = false;
};

absl::Status ReadDir(const std::string& root, const PendingDir& here, const IgnoreMatcher& ignore,
                     const BuildRules& rules, bool hash_small, DirQueue& queue, DirRun& run,
                     ClosingBatch& closing) {
  WalkedTree& out = run.found;
  const std::string& rel = here.rel;
  std::string abs = rel.empty() ? root : JoinPath(root, rel);
  // The root may be a symlink to the context, which docker build follows; below it, never.
  int fd = ::open(abs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | (rel.empty() ? 0 : O_NOFOLLOW));
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("reading directory ", abs));
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, absl::StrCat("reading directory ", abs));
  }
  absl::Status status;
  // The names first, so that the lists are made at their size.
  struct Name {
    std::string name;
    unsigned char type;  // d_type: DT_UNKNOWN where the file system does not tell
  };
  thread_local std::vector<Name> names;
  names.clear();
  for (;;) {
    errno = 0;
    struct dirent* de = ::readdir(dir);
    if (de == nullptr) {
      if (errno != 0) status = ErrnoStatus(errno, absl::StrCat("reading directory ", abs));
      break;
    }
    absl::string_view name = de->d_name;
    if (name == "." || name == "..") continue;
    names.push_back({std::string(name), de->d_type});
  }
  out.entries.reserve(names.size());
  out.stats.reserve(names.size());
  out.hashed.reserve(names.size());
  const IgnoreMatcher::Carry* parent = rel.empty() ? nullptr : &here.carry;
  // A file read is closed with the files opened after it (one close_range for each run of
  // numbers): with only the worker's own files in its table, those are consecutive.
  auto open_file = [&](const char* name) {
    int f = ::openat(::dirfd(dir), name, kOpenFile);
    if (f < 0 && errno == EMFILE && closing.held() > 0) {
      closing.Flush();
      f = ::openat(::dirfd(dir), name, kOpenFile);
    }
    return UniqueFd(f);
  };
  for (const Name& n : names) {
    if (!status.ok()) break;
    absl::string_view name = n.name;
    const char* c_name = n.name.c_str();
    struct stat st;
    // A regular file to be read now is judged by its name first (an excluded file is never
    // touched), then opened and its status taken from the open file: one path lookup, and the
    // status and the bytes of one and the same file. Anything else, or a file that is no
    // longer regular, has its status taken by name.
    std::string path = JoinPath(rel, name);
    IgnoreMatcher::Carry carry;
    IgnoreMatcher::Decision d;
    bool judged = false;
    UniqueFd file;
    if (hash_small && n.type == DT_REG) {
      d = ignore.Judge(path, false, parent, &carry);
      if (d.excluded && !d.descend) continue;
      judged = !d.empty_on_open;
      if (judged) {
        file = open_file(c_name);
        if (!file.valid() && errno == ENOENT) continue;  // removed while we walk
        if (!file.valid() && errno != ELOOP) {
          status = ErrnoStatus(errno, absl::StrCat("reading ", JoinPath(abs, name)));
          break;
        }
        if (file.valid() && ::fstat(file.get(), &st) != 0) {
          status = ErrnoStatus(errno, absl::StrCat("reading ", JoinPath(abs, name)));
          break;
        }
        judged = file.valid() && S_ISREG(st.st_mode);
        if (!judged) file = UniqueFd();
      }
    }
    if (!judged && ::fstatat(::dirfd(dir), c_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed while we walk
      status = ErrnoStatus(errno, absl::StrCat("reading ", JoinPath(abs, name)));
      break;
    }
    Walked w;
    FileEntry& e = w.e;
    const bool empty_file = SentAsEmptyFile(st.st_mode, rules);
    if (S_ISREG(st.st_mode) || empty_file) {
      e.type = FileType::kFile;
    } else if (S_ISDIR(st.st_mode)) {
      e.type = FileType::kDir;
    } else if (S_ISLNK(st.st_mode)) {
      e.type = FileType::kSymlink;
    } else if (rules.sends_special_files) {
      e.type = FileType::kSpecial;
      e.target = SpecialFileSent(st.st_mode, st.st_rdev);
      if (e.target.empty()) continue;
      e.digest = HashBytes(e.target);
    } else {
      continue;  // a FIFO: 20.10's clients do not send it.
    }
    if (!judged) {
      carry = IgnoreMatcher::Carry();
      d = ignore.Judge(path, e.type == FileType::kDir, parent, &carry);
      if (d.excluded && !d.descend) continue;
    }
    e.path = std::move(path);
    e.mode = st.st_mode & 07777;
    e.mtime = st.st_mtim.tv_sec;
    w.hashed = e.type != FileType::kFile;
    if (empty_file || d.empty_on_open) {  // never opened
      e.size = 0;
      e.digest = HashBytes("");
      w.hashed = true;
    } else if (e.type == FileType::kFile) {
      e.size = static_cast<uint64_t>(st.st_size);
      w.key = StatKeyOf(st);
      if (hash_small && e.size < kInlineHashLimit) {
        // Small files are hashed here, opened relative to the directory already open: one
        // path lookup and one read instead of a second walk over the name.
        if (!file.valid()) file = open_file(c_name);
        if (!file.valid()) {
          status = ErrnoStatus(errno, absl::StrCat("reading ", JoinPath(abs, name)));
          break;
        }
        if (absl::Status hs = HashSmallOpenFile(file.get(), abs, name, e); !hs.ok()) {
          status = hs;
          break;
        }
        closing.Add(file.release());
        w.hashed = e.size < kInlineHashLimit;
        if (w.hashed && e.size != w.key.size) w.key = StatKey{};  // changed since its stat
      }
    } else if (e.type == FileType::kSymlink) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(::dirfd(dir), c_name, target.data(), target.size());
      if (n < 0) {
        status = ErrnoStatus(errno, absl::StrCat("reading link ", JoinPath(abs, name)));
        break;
      }
      target.resize(static_cast<size_t>(n));
      e.size = target.size();
      e.digest = HashBytes(target);
      e.target = std::move(target);
    } else if (e.type == FileType::kDir) {
      queue.Push({e.path, std::move(carry)});
    }
    out.entries.push_back(std::move(w.e));
    out.stats.push_back(w.key);
    out.hashed.push_back(w.hashed ? 1 : 0);
  }
  ::closedir(dir);
  if (!status.ok()) return status;
  // Where each entry falls among full paths: a directory's entry by its name, what lies below
  // it by its name and a '/'. Every directory entry listed is read (it was queued).
  const size_t skip = rel.empty() ? 0 : rel.size() + 1;
  thread_local std::vector<Child> children;
  children.clear();
  for (size_t k = 0; k < out.entries.size(); ++k) {
    const absl::string_view name = absl::string_view(out.entries[k].path).substr(skip);
    children.push_back({name, static_cast<uint32_t>(k), false});
    if (out.entries[k].type == FileType::kDir)
      children.push_back({name, static_cast<uint32_t>(k), true});
  }
  std::sort(children.begin(), children.end(), ChildBefore);
  run.order.reserve(children.size());
  for (const Child& c : children) run.order.push_back(c.index | (c.below ? kBelow : 0));
  return status;
}

}  // namespace

StatKey StatKeyOf(const struct stat& st) {
  return StatKey{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                 static_cast<uint64_t>(st.st_size),
                 st.st_mtim.tv_sec * int64_t{1000000000} + st.st_mtim.tv_nsec,
                 st.st_ctim.tv_sec * int64_t{1000000000} + st.st_ctim.tv_nsec};
}

bool SentAsEmptyFile(unsigned mode, const BuildRules& rules) {
  if (rules.sends_special_files) return S_ISSOCK(mode);
  return S_ISCHR(mode) || S_ISBLK(mode) || S_ISSOCK(mode);
}

std::string SpecialFileSent(unsigned mode, uint64_t rdev) {
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISCHR(mode) || S_ISBLK(mode))
    return absl::StrCat("char-device ", major(rdev), ",", minor(rdev));
  return "";
}

namespace {

// Moves a run's entries, and below each directory entry its run's, into `out` in path order;
// each run is freed once it is emptied. Runs below the fixed mapping threshold live in the
// heap, where freed blocks stay resident: every 32 MiB freed, the heap's free pages are given
// back, so that the list and the runs it was made from are not both held at their full size.
void Emit(DirRun& run, WalkedTree& out, size_t& freed) {
  size_t below = 0;
  for (uint32_t item : run.order) {
    if (item & kBelow) {
      Emit(*run.below[below++], out, freed);
      continue;
    }
    out.entries.push_back(std::move(run.found.entries[item]));
    out.stats.push_back(run.found.stats[item]);
    out.hashed.push_back(run.found.hashed[item]);
  }
  freed += run.found.entries.capacity() * sizeof(FileEntry) +
           run.found.stats.capacity() * sizeof(StatKey);
  std::vector<FileEntry>().swap(run.found.entries);
  std::vector<StatKey>().swap(run.found.stats);
  std::vector<uint8_t>().swap(run.found.hashed);
  if (freed > (size_t{32} << 20)) {
    ::malloc_trim(0);
    freed = 0;
  }
}

// Links each run to the runs below its directory entries. False unless that makes one tree
// from the root's run that holds every run once: every directory read is an entry of its
// parent, so only a directory its parent listed twice (as a directory changing while it is
// read may be) leaves the walk to the sort of whole paths.
bool LinkRuns(std::vector<std::deque<DirRun>>& runs, DirRun** root) {
  absl::flat_hash_map<absl::string_view, DirRun*> by_dir;
  size_t count = 0;
  for (auto& rs : runs) {
    for (DirRun& r : rs) {
      if (!by_dir.emplace(r.rel, &r).second) return false;
      ++count;
    }
  }
  auto it = by_dir.find("");
  if (it == by_dir.end()) return false;
  *root = it->second;
  size_t linked = 0;
  for (auto& rs : runs) {
    for (DirRun& r : rs) {
      for (uint32_t item : r.order) {
        if (!(item & kBelow)) continue;
        auto sub = by_dir.find(r.found.entries[item & ~kBelow].path);
        if (sub == by_dir.end() || sub->second == *root) return false;
        r.below.push_back(sub->second);
        ++linked;
      }
    }
  }
  return linked + 1 == count;  // with unique names, each run is linked from its one parent entry
}

// The fallback: every run's entries joined, then sorted by whole paths.
WalkedTree JoinAndSort(std::vector<std::deque<DirRun>>& runs, size_t total) {
  WalkedTree tree;
  tree.entries.reserve(total);
  tree.stats.reserve(total);
  tree.hashed.reserve(total);
  for (auto& rs : runs) {
    for (DirRun& r : rs) {
      std::move(r.found.entries.begin(), r.found.entries.end(), std::back_inserter(tree.entries));
      tree.stats.insert(tree.stats.end(), r.found.stats.begin(), r.found.stats.end());
      tree.hashed.insert(tree.hashed.end(), r.found.hashed.begin(), r.found.hashed.end());
      r.found = WalkedTree();
    }
  }
  std::vector<uint32_t> order(total);
  for (size_t k = 0; k < total; ++k) order[k] = static_cast<uint32_t>(k);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return tree.entries[a].path < tree.entries[b].path; });
  WalkedTree sorted;
  sorted.entries.reserve(total);
  sorted.stats.reserve(total);
  sorted.hashed.reserve(total);
  for (uint32_t k : order) {
    sorted.entries.push_back(std::move(tree.entries[k]));
    sorted.stats.push_back(tree.stats[k]);
    sorted.hashed.push_back(tree.hashed[k]);
  }
  return sorted;
}

}  // namespace

absl::StatusOr<WalkedTree> WalkTreeWithStats(const std::string& root, const IgnoreMatcher& ignore,
                                             const BuildRules& rules, int jobs,
                                             bool hash_small_files) {
  struct stat st;
  if (::stat(root.c_str(), &st) != 0) return ErrnoStatus(errno, root);
  if (!S_ISDIR(st.st_mode))
    return absl::InvalidArgumentError(absl::StrCat(root, ": not a directory"));

  DirQueue queue;
  queue.Push({});
  int nthreads = ResolveJobs(jobs);
  // Each worker's runs; a deque, so that a run stays where it is while others are added.
  std::vector<std::deque<DirRun>> runs(static_cast<size_t>(nthreads));
  auto worker = [&](size_t slot) {
    PendingDir dir;
    ClosingBatch closing;
    while (queue.Pop(&dir)) {
      DirRun& run = runs[slot].emplace_back();
      absl::Status st = ReadDir(root, dir, ignore, rules, hash_small_files, queue, run, closing);
      if (!st.ok()) queue.Fail(std::move(st));
      run.rel = std::move(dir.rel);
      queue.Done();
    }
  };
  std::vector<std::thread> threads;
  if (nthreads == 1) {
    worker(0);
  } else {
    // Each worker has a table of open files of its own: opening and closing a million files
    // from threads that share one takes its lock twice a file. Only the worker's own files
    // are opened and closed there, so the table keeps nothing but the standard streams from
    // the process's (what others open meanwhile would sit between its numbers and cut its
    // runs of files closed together short). Where unsharing is refused, the table is shared.
    for (int t = 0; t < nthreads; ++t) {
      threads.emplace_back([&worker, t] {
        if (kPrivateFileTables && ::close_range(3, ~0u, CLOSE_RANGE_UNSHARE) != 0)
          (void)::unshare(CLONE_FILES);
        worker(static_cast<size_t>(t));
      });
    }
  }
  for (auto& t : threads) t.join();
  if (absl::Status st = queue.error(); !st.ok()) return st;

  // The runs, each already in path order within its directory, are joined by moving every
  // entry once into place: no comparison of whole paths, and a million files never held twice.
  size_t total = 0;
  for (const auto& rs : runs) {
    for (const DirRun& r : rs) total += r.found.entries.size();
  }
  DirRun* top = nullptr;
  if (!LinkRuns(runs, &top)) return JoinAndSort(runs, total);
  WalkedTree tree;
  tree.entries.reserve(total);
  tree.stats.reserve(total);
  tree.hashed.reserve(total);
  size_t freed = 0;
  Emit(*top, tree, freed);
  if (tree.entries.size() != total)
    return absl::InternalError("walk: the directories' lists did not join");
  return tree;
}

absl::StatusOr<std::vector<FileEntry>> WalkTree(const std::string& root,
                                                const IgnoreMatcher& ignore,
                                                const BuildRules& rules, int jobs) {
  absl::StatusOr<WalkedTree> tree = WalkTreeWithStats(root, ignore, rules, jobs, true);
  if (!tree.ok()) return tree.status();
  return std::move(tree->entries);
}

absl::StatusOr<uint64_t> HashPending(const std::string& root, WalkedTree& tree, int jobs) {
  // Largest files first, so one big file does not finish alone at the end.
  // (The flags first: a byte an entry, where the entries are a cache line or two each.)
  std::vector<size_t> order;
  for (size_t i = 0; i < tree.entries.size(); ++i) {
    if (!tree.hashed[i] && tree.entries[i].type == FileType::kFile) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return tree.entries[a].size > tree.entries[b].size; });
  std::atomic<uint64_t> bytes{0};
  absl::Status s = ParallelFor(order.size(), jobs, [&](size_t k) -> absl::Status {
    FileEntry& e = tree.entries[order[k]];
    absl::StatusOr<FileDigest> d = HashFile(JoinPath(root, e.path));
    if (!d.ok()) return d.status();
    e.digest = d->digest;
    // The bytes hashed are what the key vouches for only when the size still agrees.
    if (d->size != e.size) tree.stats[order[k]] = StatKey{};
    e.size = d->size;
    tree.hashed[order[k]] = 1;
    bytes.fetch_add(d->size, std::memory_order_relaxed);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return bytes.load();
}

}  // namespace stalecheck
