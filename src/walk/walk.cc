#include "absl/strings/string_view.h"
#include "stalecheck/walk.h"

#include <dirent.h>
#include <fcntl.h>
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

// The entries one ReadDir call added: [begin, end) of its worker's list, at `offset` once the
// workers' lists are joined.
struct DirRun {
  std::string rel;
  size_t begin = 0, end = 0;
  size_t offset = 0;
};

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

// Hashes a file the walk found small, reading one byte more than its size so that a short
// read proves the end. A file that grew meanwhile is left for HashPending (size set past the
// limit).
absl::Status HashSmallFile(int dir_fd, const char* name, const std::string& dir_path, FileEntry& e) {
  UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("reading ", JoinPath(dir_path, name)));
  thread_local std::vector<char> buf(kInlineHashLimit + 1);
  ssize_t n;
  do {
    n = ::read(fd.get(), buf.data(), buf.size());
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

// One entry as the walk found it, with the stat key the cache needs.
struct Walked {
  FileEntry e;
  StatKey key;
  bool hashed = false;
};

absl::Status ReadDir(const std::string& root, const PendingDir& here, const IgnoreMatcher& ignore,
                     const BuildRules& rules, bool hash_small, DirQueue& queue, WalkedTree& out) {
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
  for (;;) {
    errno = 0;
    struct dirent* de = ::readdir(dir);
    if (de == nullptr) {
      if (errno != 0) status = ErrnoStatus(errno, absl::StrCat("reading directory ", abs));
      break;
    }
    absl::string_view name = de->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(::dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
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
    e.path = JoinPath(rel, name);
    IgnoreMatcher::Carry carry;
    const IgnoreMatcher::Decision d =
        ignore.Judge(e.path, e.type == FileType::kDir, rel.empty() ? nullptr : &here.carry, &carry);
    if (d.excluded && !d.descend) continue;
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
        if (absl::Status hs = HashSmallFile(::dirfd(dir), de->d_name, abs, e); !hs.ok()) {
          status = hs;
          break;
        }
        w.hashed = e.size < kInlineHashLimit;
        if (w.hashed && e.size != w.key.size) w.key = StatKey{};  // changed since its stat
      }
    } else if (e.type == FileType::kSymlink) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(::dirfd(dir), de->d_name, target.data(), target.size());
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
  return status;
}

}  // namespace

StatKey StatKeyOf(const struct stat& st) {
  return StatKey{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
                 st.st_mtim.tv_sec * int64_t{1000000000} + st.st_mtim.tv_nsec,
                 st.st_ctim.tv_sec * int64_t{1000000000} + st.st_ctim.tv_nsec};
}

bool SentAsEmptyFile(unsigned mode, const BuildRules& rules) {
  if (rules.sends_special_files) return S_ISSOCK(mode);
  return S_ISCHR(mode) || S_ISBLK(mode) || S_ISSOCK(mode);
}

std::string SpecialFileSent(unsigned mode, uint64_t rdev) {
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return absl::StrCat("char-device ", major(rdev), ",", minor(rdev));
  return "";
}

namespace {

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
  const bool shorter_first = !s.below || static_cast<unsigned char>('/') < static_cast<unsigned char>(l.name[n]);
  return a_shorter == shorter_first;
}

void AppendInPathOrder(const std::vector<FileEntry>& entries, const std::vector<const DirRun*>& all,
                       const absl::flat_hash_map<absl::string_view, uint32_t>& by_dir, uint32_t run,
                       std::vector<uint32_t>& order) {
  const DirRun& r = *all[run];
  const size_t skip = r.rel.empty() ? 0 : r.rel.size() + 1;
  std::vector<Child> children;
  children.reserve(r.end - r.begin);
  for (size_t k = r.offset; k < r.offset + (r.end - r.begin); ++k) {
    const FileEntry& e = entries[k];
    const absl::string_view name = absl::string_view(e.path).substr(skip);
    children.push_back({name, static_cast<uint32_t>(k), false});
    if (e.type == FileType::kDir) {
      if (auto it = by_dir.find(e.path); it != by_dir.end()) children.push_back({name, it->second, true});
    }
  }
  std::sort(children.begin(), children.end(), ChildBefore);
  for (const Child& c : children) {
    if (c.below) {
      AppendInPathOrder(entries, all, by_dir, c.index, order);
    } else {
      order.push_back(c.index);
    }
  }
}

// The permutation that puts `entries` in path order (std::string's), assembled from each
// directory's list sorted on its own: no comparison of whole paths.
std::vector<uint32_t> PathOrder(const std::vector<FileEntry>& entries, const std::vector<std::vector<DirRun>>& runs) {
  std::vector<const DirRun*> all;
  absl::flat_hash_map<absl::string_view, uint32_t> by_dir;
  for (const auto& rs : runs) {
    for (const DirRun& r : rs) {
      by_dir.emplace(r.rel, static_cast<uint32_t>(all.size()));
      all.push_back(&r);
    }
  }
  std::vector<uint32_t> order;
  order.reserve(entries.size());
  if (auto root = by_dir.find(""); root != by_dir.end()) AppendInPathOrder(entries, all, by_dir, root->second, order);
  return order;
}

}  // namespace

absl::StatusOr<WalkedTree> WalkTreeWithStats(const std::string& root, const IgnoreMatcher& ignore,
                                             const BuildRules& rules, int jobs, bool hash_small_files) {
  struct stat st;
  if (::stat(root.c_str(), &st) != 0) return ErrnoStatus(errno, root);
  if (!S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat(root, ": not a directory"));

  DirQueue queue;
  queue.Push({});
  int nthreads = ResolveJobs(jobs);
  std::vector<WalkedTree> results(static_cast<size_t>(nthreads));
  std::vector<std::vector<DirRun>> runs(static_cast<size_t>(nthreads));
  auto worker = [&](size_t slot) {
    PendingDir dir;
    while (queue.Pop(&dir)) {
      const size_t begin = results[slot].entries.size();
      absl::Status st = ReadDir(root, dir, ignore, rules, hash_small_files, queue, results[slot]);
      if (!st.ok()) queue.Fail(std::move(st));
      runs[slot].push_back({std::move(dir.rel), begin, results[slot].entries.size(), 0});
      queue.Done();
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < nthreads; ++t) threads.emplace_back(worker, static_cast<size_t>(t));
  worker(0);
  for (auto& t : threads) t.join();
  if (absl::Status st = queue.error(); !st.ok()) return st;

  // The workers' lists are joined (each freed as it is taken), then put in path order in
  // place: a million files are never held twice.
  size_t total = 0;
  for (const auto& r : results) total += r.entries.size();
  WalkedTree tree;
  tree.entries.reserve(total);
  tree.stats.reserve(total);
  tree.hashed.reserve(total);
  for (size_t slot = 0; slot < results.size(); ++slot) {
    WalkedTree& r = results[slot];
    for (DirRun& run : runs[slot]) run.offset = tree.entries.size() + run.begin;
    std::move(r.entries.begin(), r.entries.end(), std::back_inserter(tree.entries));
    tree.stats.insert(tree.stats.end(), r.stats.begin(), r.stats.end());
    tree.hashed.insert(tree.hashed.end(), r.hashed.begin(), r.hashed.end());
    std::vector<FileEntry>().swap(r.entries);
    std::vector<StatKey>().swap(r.stats);
    std::vector<uint8_t>().swap(r.hashed);
  }
  // order[k]: the index of the entry that belongs at k, from the directories' own lists.
  std::vector<uint32_t> order = PathOrder(tree.entries, runs);
  bool permutation = order.size() == total;
  {
    std::vector<bool> seen(total, false);
    for (size_t k = 0; permutation && k < order.size(); ++k) {
      permutation = order[k] < total && !seen[order[k]];
      if (permutation) seen[order[k]] = true;
    }
  }
  if (!permutation) {  // never expected (every directory read is an entry of its parent): sort
    order.resize(total);
    for (size_t k = 0; k < total; ++k) order[k] = static_cast<uint32_t>(k);
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return tree.entries[a].path < tree.entries[b].path; });
  }
  {
    std::vector<StatKey> stats(total);
    std::vector<uint8_t> hashed(total);
    for (size_t k = 0; k < total; ++k) {
      stats[k] = tree.stats[order[k]];
      hashed[k] = tree.hashed[order[k]];
    }
    tree.stats.swap(stats);
    tree.hashed.swap(hashed);
  }
  // The entries follow the permutation's cycles, each moved once.
  std::vector<bool> placed(total, false);
  for (size_t start = 0; start < total; ++start) {
    if (placed[start] || order[start] == start) continue;
    FileEntry held = std::move(tree.entries[start]);
    size_t k = start;
    while (order[k] != start) {
      tree.entries[k] = std::move(tree.entries[order[k]]);
      placed[k] = true;
      k = order[k];
    }
    tree.entries[k] = std::move(held);
    placed[k] = true;
  }
  return tree;
}

absl::StatusOr<std::vector<FileEntry>> WalkTree(const std::string& root, const IgnoreMatcher& ignore,
                                                const BuildRules& rules, int jobs) {
  absl::StatusOr<WalkedTree> tree = WalkTreeWithStats(root, ignore, rules, jobs, true);
  if (!tree.ok()) return tree.status();
  return std::move(tree->entries);
}

absl::StatusOr<uint64_t> HashPending(const std::string& root, WalkedTree& tree, int jobs) {
  // Largest files first, so one big file does not finish alone at the end.
  std::vector<size_t> order;
  for (size_t i = 0; i < tree.entries.size(); ++i) {
    if (tree.entries[i].type == FileType::kFile && !tree.hashed[i]) order.push_back(i);
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
