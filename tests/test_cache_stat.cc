// The context's stat cache: what it may vouch for, and what it must never.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "stalecheck/cache.h"
#include "stalecheck/context.h"
#include "stalecheck/hash.h"
#include "stalecheck/walk.h"
#include "test_helpers.h"

using stalecheck::IgnoreMatcher;
using stalecheck::StatCache;
using stalecheck::WalkedTree;
using stalecheck::testing::ScopedEnv;
using stalecheck::testing::TempDir;

namespace {

const stalecheck::BuildRules kRules = stalecheck::BuildRules::Buildx();

WalkedTree Walk(const TempDir& d) {
  auto m = IgnoreMatcher::Parse("", kRules);
  auto tree = stalecheck::WalkTreeWithStats(d.path(), *m, kRules, 2, false);
  REQUIRE(tree.ok());
  return std::move(*tree);
}

// A walk hashed in full and stored as if its walk had begun `started_ns`.
void StoreWalk(const StatCache& cache, const TempDir& d, int64_t started_ns) {
  WalkedTree tree = Walk(d);
  REQUIRE(stalecheck::HashPending(d.path(), tree, 2).ok());
  cache.Store(tree, started_ns);
}

// Long enough after now that every file of the test is older than the racy margin.
int64_t Later() { return stalecheck::RealtimeNs() + 10 * StatCache::kRacyMarginNs; }

const stalecheck::FileEntry& Entry(const WalkedTree& t, const std::string& path) {
  for (const auto& e : t.entries) {
    if (e.path == path) return e;
  }
  FAIL("no entry " << path);
  return t.entries.front();
}

// Rewrites `path` with `data` (same size) and puts its mtime back, as `touch -r` would.
void EditKeepingMtime(const std::string& path, const std::string& data) {
  struct stat before;
  REQUIRE(::stat(path.c_str(), &before) == 0);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
  struct stat after;
  REQUIRE(::stat(path.c_str(), &after) == 0);
  REQUIRE(after.st_size == before.st_size);
  REQUIRE(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  REQUIRE(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
}

}  // namespace

TEST_SUITE("stat cache") {
  TEST_CASE("a warm cache vouches for every unchanged file, with the digests a full read gives") {
    TempDir d, c;
    d.Write("a.py", "print(1)\n");
    d.Write("pkg/b.py", std::string(300000, 'b'));
    d.Write("pkg/c.txt", "");
    StatCache cache(c / "cache", d.path());
    StoreWalk(cache, d, Later());
    WalkedTree warm = Walk(d);
    StatCache::Applied a = cache.Apply(warm);
    CHECK(a.intact);
    CHECK(a.records == 3);
    CHECK(a.trusted == 3);
    CHECK(Entry(warm, "a.py").digest == stalecheck::HashBytes("print(1)\n"));
    CHECK(Entry(warm, "pkg/b.py").digest == stalecheck::HashBytes(std::string(300000, 'b')));
    CHECK(Entry(warm, "pkg/c.txt").digest == stalecheck::HashBytes(""));
    auto read = stalecheck::HashPending(d.path(), warm, 2);
    REQUIRE(read.ok());
    CHECK(*read == 0);  // nothing left to read
  }

  TEST_CASE("a same-size edit with the mtime put back (touch -r) is read again, in the same second") {
    TempDir d, c;
    d.Write("app.py", "VERSION = 1\n");
    d.Write("other.py", "x = 1\n");
    StatCache cache(c / "cache", d.path());
    StoreWalk(cache, d, Later());
    EditKeepingMtime(d / "app.py", "VERSION = 2\n");
    WalkedTree warm = Walk(d);
    StatCache::Applied a = cache.Apply(warm);
    CHECK(a.trusted == 1);  // other.py only: app.py's ctime moved
    REQUIRE(stalecheck::HashPending(d.path(), warm, 2).ok());
    CHECK(Entry(warm, "app.py").digest == stalecheck::HashBytes("VERSION = 2\n"));
  }

  TEST_CASE("a file replaced by another of the same size and times, under a new inode, is read again") {
    TempDir d, c;
    d.Write("app.py", "VERSION = 1\n");
    StatCache cache(c / "cache", d.path());
    StoreWalk(cache, d, Later());
    struct stat before;
    REQUIRE(::stat((d / "app.py").c_str(), &before) == 0);
    d.Write("app.py.new", "VERSION = 2\n");
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    REQUIRE(::utimensat(AT_FDCWD, (d / "app.py.new").c_str(), times, 0) == 0);
    std::filesystem::rename(d / "app.py.new", d / "app.py");
    WalkedTree warm = Walk(d);
    CHECK(cache.Apply(warm).trusted == 0);
    REQUIRE(stalecheck::HashPending(d.path(), warm, 2).ok());
    CHECK(Entry(warm, "app.py").digest == stalecheck::HashBytes("VERSION = 2\n"));
  }

  TEST_CASE("a record is not trusted when its file's times are within the margin of its walk's start (racily clean)") {
    TempDir d, c;
    d.Write("fresh.py", "a = 1\n");
    StatCache cache(c / "cache", d.path());
    // Written by a walk that began now: the file changed in the same instant, so an edit just
    // after the read could carry the very same times.
    StoreWalk(cache, d, stalecheck::RealtimeNs());
    WalkedTree warm = Walk(d);
    StatCache::Applied a = cache.Apply(warm);
    CHECK(a.records == 1);
    CHECK(a.trusted == 0);
    CHECK(warm.hashed == std::vector<uint8_t>{0});
  }

  TEST_CASE("a corrupt, truncated or foreign cache file is never trusted, and is removed") {
    TempDir d, c;
    for (int i = 0; i < 50; ++i) d.Write("f" + std::to_string(i), std::to_string(i));
    const std::string file = c / "cache";
    StatCache cache(file, d.path());
    StoreWalk(cache, d, Later());
    std::string bytes;
    REQUIRE(stalecheck::ReadSmallFile(file, &bytes).ok());
    // `reader` reads `file` after `damaged` is written over it: nothing trusted, nothing left.
    auto read_damaged = [&](const StatCache& reader, const std::string& damaged) {
      std::ofstream(file, std::ios::binary | std::ios::trunc) << damaged;
      WalkedTree warm = Walk(d);
      StatCache::Applied a = reader.Apply(warm);
      CHECK(a.trusted == 0);
      CHECK_FALSE(a.intact);
      CHECK_FALSE(std::filesystem::exists(file));
    };
    SUBCASE("a byte flipped inside a block") {
      bytes[bytes.size() / 2] ^= 0x20;
      read_damaged(cache, bytes);
    }
    SUBCASE("cut short inside its only block") { read_damaged(cache, bytes.substr(0, bytes.size() - 40)); }
    SUBCASE("the header altered") {
      bytes[3] = 'X';
      read_damaged(cache, bytes);
    }
    SUBCASE("the cache of another directory") { read_damaged(StatCache(file, d.path() + "-elsewhere"), bytes); }
  }

  TEST_CASE("LoadContext: the second run reads no file, and an edit put back with touch -r is still caught") {
    TempDir d, c;
    ScopedEnv xdg("XDG_CACHE_HOME", c.path());
    d.Write("Dockerfile", "FROM scratch\nCOPY . /app\n");
    d.Write("app/main.py", "VERSION = 1\n");
    d.Write("app/util.py", "def f(): pass\n");
    // Files only just written are racily clean: age them past the margin first.
    std::this_thread::sleep_for(std::chrono::nanoseconds(StatCache::kRacyMarginNs + 200000000));
    stalecheck::ContextOptions o{.dir = d.path(), .jobs = 2, .use_cache = true};
    auto cold = stalecheck::LoadContext(o);
    REQUIRE(cold.ok());
    CHECK(cold->reading.files == 3);
    CHECK(cold->reading.read == 3);
    CHECK(cold->reading.cache_written);
    auto warm = stalecheck::LoadContext(o);
    REQUIRE(warm.ok());
    CHECK(warm->reading.from_cache == 3);
    CHECK(warm->reading.read == 0);
    CHECK_FALSE(warm->reading.cache_written);
    CHECK(warm->root == cold->root);
    EditKeepingMtime(d / "app/main.py", "VERSION = 2\n");
    auto edited = stalecheck::LoadContext(o);
    REQUIRE(edited.ok());
    CHECK(edited->reading.from_cache == 2);
    CHECK(edited->reading.read == 1);
    auto uncached = stalecheck::LoadContext({.dir = d.path(), .jobs = 2});
    REQUIRE(uncached.ok());
    CHECK(uncached->reading.from_cache == 0);
    CHECK(edited->root == uncached->root);
    CHECK_FALSE(edited->root == cold->root);
  }

  TEST_CASE("no stat cache is kept when the cache directory lies inside the context") {
    TempDir d;
    d.Write("f", "x");
    ScopedEnv xdg("XDG_CACHE_HOME", d / ".cache");
    CHECK_FALSE(StatCache::ForContext(d.path(), true).enabled());
    ScopedEnv xdg_elsewhere("XDG_CACHE_HOME", d.path() + "-cache");
    CHECK(StatCache::ForContext(d.path(), true).enabled());
    CHECK_FALSE(StatCache::ForContext(d.path(), false).enabled());
  }
}

TEST_SUITE("program answers") {
  TEST_CASE("a client's answer is remembered by the program file's stat key, and asked again once the file changes") {
    TempDir d, c;
    ScopedEnv xdg("XDG_CACHE_HOME", c.path());
    const std::string prog = d / "docker";
    const std::string counter = d / "asked";
    auto write_prog = [&](const std::string& version) {
      std::ofstream(prog, std::ios::trunc) << "#!/bin/sh\necho x >> " << counter << "\necho 'Docker version " << version
                                           << ", build 1'\n";
      std::filesystem::permissions(prog, std::filesystem::perms::owner_all);
    };
    auto times_asked = [&] {
      std::string s;
      return stalecheck::ReadSmallFile(counter, &s).ok() ? std::count(s.begin(), s.end(), '\n') : 0;
    };
    write_prog("26.1.5");
    // A program file younger than the margin is always asked.
    CHECK(stalecheck::ProgramOutput({prog, "--version"}, true) == std::optional<std::string>("Docker version 26.1.5, build 1\n"));
    CHECK(stalecheck::ProgramOutput({prog, "--version"}, true).has_value());
    CHECK(times_asked() == 2);
    std::this_thread::sleep_for(std::chrono::nanoseconds(StatCache::kRacyMarginNs + 200000000));
    CHECK(stalecheck::ProgramOutput({prog, "--version"}, true) == std::optional<std::string>("Docker version 26.1.5, build 1\n"));
    CHECK(times_asked() == 3);
    CHECK(stalecheck::ProgramOutput({prog, "--version"}, true) == std::optional<std::string>("Docker version 26.1.5, build 1\n"));
    CHECK(times_asked() == 3);  // remembered
    CHECK(stalecheck::ProgramOutput({prog, "--version"}, false).has_value());
    CHECK(times_asked() == 4);  // --no-cache asks
    // Replaced in place (same size, mtime put back): a new ctime, so asked again.
    EditKeepingMtime(prog, [&] {
      std::string s;
      REQUIRE(stalecheck::ReadSmallFile(prog, &s).ok());
      s.replace(s.find("26.1.5"), 6, "28.5.1");
      return s;
    }());
    CHECK(stalecheck::ProgramOutput({prog, "--version"}, true) == std::optional<std::string>("Docker version 28.5.1, build 1\n"));
    CHECK(times_asked() == 5);
  }
}
