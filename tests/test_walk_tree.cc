#include <doctest/doctest.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>

#include "stalecheck/context.h"
#include "stalecheck/hash.h"
#include "stalecheck/walk.h"
#include "test_helpers.h"

using stalecheck::FileType;
using stalecheck::IgnoreMatcher;
const stalecheck::BuildRules k2010 = stalecheck::BuildRules::BuildKit2010();
using stalecheck::testing::TempDir;

namespace {

std::vector<std::string> Paths(const std::vector<stalecheck::FileEntry>& entries) {
  return stalecheck::testing::PathsOf(entries);
}

std::vector<std::string> Walk(const TempDir& dir, const std::string& ignore, int jobs = 2) {
  auto m = IgnoreMatcher::Parse(ignore, k2010);
  REQUIRE(m.ok());
  auto entries = stalecheck::WalkTree(dir.path(), *m, k2010, jobs);
  REQUIRE(entries.ok());
  return Paths(*entries);
}

}  // namespace

TEST_SUITE("walk") {
  TEST_CASE("the walk lists files, directories and symlinks sorted, without following links") {
    TempDir d;
    d.Write("b/c.txt", "c");
    d.Write("a.txt", "a");
    std::filesystem::create_directory_symlink("b", d / "link");
    std::filesystem::create_directory_symlink(".", d / "b/loop");  // a symlink loop
    auto m = IgnoreMatcher::Parse("", k2010);
    auto entries = stalecheck::WalkTree(d.path(), *m, k2010, 2);
    REQUIRE(entries.ok());
    CHECK(Paths(*entries) == std::vector<std::string>{"a.txt", "b", "b/c.txt", "b/loop", "link"});
    CHECK((*entries)[4].type == FileType::kSymlink);
    CHECK((*entries)[4].target == "b");
    CHECK((*entries)[3].target == ".");
  }

  TEST_CASE(
      "a walk with no cache opens each file it sends, a small one once, has closed every one when "
      "it returns, and never opens a file .dockerignore excludes") {
    TempDir d;
    d.Write(".dockerignore", "*.key\n**/skip.txt\n");
    d.Write("keep.txt", "k");
    d.Write("secret.key", "s");
    d.Write("sub/a.txt", "a");
    d.Write("sub/skip.txt", "x");
    d.Write("sub/big.bin", std::string(stalecheck::kInlineHashLimit + 10, 'b'));
    // Every open and close of a file in the two directories, by name, as the kernel reports it.
    int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    REQUIRE(in >= 0);
    REQUIRE(::inotify_add_watch(in, d.path().c_str(), IN_OPEN | IN_CLOSE_NOWRITE) >= 0);
    const int sub = ::inotify_add_watch(in, (d / "sub").c_str(), IN_OPEN | IN_CLOSE_NOWRITE);
    REQUIRE(sub >= 0);
    for (int jobs : {1, 2}) {
      CAPTURE(jobs);
      auto ctx = stalecheck::LoadContext(
          {.dir = d.path(), .jobs = jobs, .rules = k2010, .use_cache = false});
      REQUIRE_MESSAGE(ctx.ok(), ctx.status().ToString());
      CHECK(Paths(ctx->entries) == std::vector<std::string>{".dockerignore", "keep.txt", "sub",
                                                            "sub/a.txt", "sub/big.bin"});
      std::map<std::string, int> opened, closed;
      alignas(struct inotify_event) char buf[1 << 16];
      for (ssize_t n; (n = ::read(in, buf, sizeof buf)) > 0;) {
        for (char* p = buf; p < buf + n;) {
          auto* ev = reinterpret_cast<struct inotify_event*>(p);
          if (ev->len > 0 && !(ev->mask & IN_ISDIR)) {
            const std::string name = (ev->wd == sub ? "sub/" : "") + std::string(ev->name);
            ++(ev->mask & IN_OPEN ? opened : closed)[name];
          }
          p += sizeof(struct inotify_event) + ev->len;
        }
      }
      CHECK(opened["keep.txt"] == 1);
      CHECK(opened["sub/a.txt"] == 1);
      CHECK(opened["sub/big.bin"] >= 1);
      CHECK(opened.count("secret.key") == 0);
      CHECK(opened.count("sub/skip.txt") == 0);
      CHECK(closed == opened);
    }
    ::close(in);
  }

  TEST_CASE(
      "20.10's clients send no fifo, and devices and sockets as empty files with their mode, never "
      "opened") {
    TempDir d;
    d.Write("f", "x");
    REQUIRE(::mkfifo((d / "pipe").c_str(), 0644) == 0);
    // /dev/zero's numbers: opening and reading it would never reach an end.
    REQUIRE(::mknod((d / "zero").c_str(), S_IFCHR | 0600, ::makedev(1, 5)) == 0);
    REQUIRE(::chmod((d / "zero").c_str(), 0640) == 0);
    int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(sock >= 0);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    const std::string sock_path = d / "sock";
    REQUIRE(sock_path.size() < sizeof addr.sun_path);
    std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
    REQUIRE(::bind(sock, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0);
    ::close(sock);
    REQUIRE(::chmod(sock_path.c_str(), 0751) == 0);

    CHECK(Walk(d, "") == std::vector<std::string>{"f", "sock", "zero"});
    auto ctx = stalecheck::LoadContext({.dir = d.path(), .jobs = 2, .rules = k2010});
    REQUIRE(ctx.ok());
    REQUIRE(ctx->entries.size() == 3);
    const auto& sock_entry = ctx->entries[1];
    const auto& zero_entry = ctx->entries[2];
    CHECK(sock_entry.type == FileType::kFile);
    CHECK(sock_entry.mode == 0751);
    CHECK(zero_entry.type == FileType::kFile);
    CHECK(zero_entry.mode == 0640);
    CHECK(zero_entry.size == 0);
    CHECK(zero_entry.digest == stalecheck::HashBytes(""));
    auto bytes = ctx->read_file("zero");
    REQUIRE(bytes.ok());
    CHECK(bytes->empty());
  }

  TEST_CASE(
      "buildx sends a fifo and a device as special files, a block device as a character device") {
    TempDir d;
    d.Write("f", "x");
    REQUIRE(::mkfifo((d / "pipe").c_str(), 0644) == 0);
    REQUIRE(::mknod((d / "zero").c_str(), S_IFCHR | 0600, ::makedev(1, 5)) == 0);
    REQUIRE(::mknod((d / "loop").c_str(), S_IFBLK | 0640, ::makedev(7, 0)) == 0);
    auto ctx = stalecheck::LoadContext(
        {.dir = d.path(), .jobs = 2, .rules = stalecheck::BuildRules::Buildx()});
    REQUIRE_MESSAGE(ctx.ok(), ctx.status().ToString());
    REQUIRE(ctx->entries.size() == 4);
    CHECK(ctx->entries[1].path == "loop");
    CHECK(ctx->entries[1].type == FileType::kSpecial);
    CHECK(ctx->entries[1].target == "char-device 7,0");
    CHECK(ctx->entries[1].mode == 0640);
    CHECK(ctx->entries[2].target == "fifo");
    CHECK(ctx->entries[3].target == "char-device 1,5");
    CHECK(ctx->entries[3].digest == stalecheck::HashBytes("char-device 1,5"));
  }

  TEST_CASE("an excluded directory the walk entered is sent as each client sends it") {
    TempDir d;
    d.Write("dir/keep.txt", "k");
    d.Write("dir/drop.txt", "d");
    d.Write("other/o.txt", "o");
    REQUIRE(::chmod((d / "dir").c_str(), 0700) == 0);
    auto mode_of_dir = [&](const std::string& ignore, const stalecheck::BuildRules& rules) -> int {
      d.Write(".dockerignore", ignore);
      auto ctx = stalecheck::LoadContext({.dir = d.path(), .jobs = 2, .rules = rules});
      REQUIRE(ctx.ok());
      for (const auto& e : ctx->entries) {
        if (e.path == "dir") return static_cast<int>(e.mode);
      }
      return -1;  // not sent
    };
    using stalecheck::BuildRules;
    // Something below it is sent: its own mode (BuildKit clients), remade 0755 (legacy).
    CHECK(mode_of_dir("dir\n!dir/keep.txt\n", BuildRules::Buildx()) == 0700);
    CHECK(mode_of_dir("dir\n!dir/keep.txt\n", BuildRules::BuildKit2010()) == 0700);
    CHECK(mode_of_dir("dir\n!dir/keep.txt\n", BuildRules::Legacy()) == 0755);
    CHECK(mode_of_dir("dir\n!dir/keep.txt\n", BuildRules::Legacy2010()) == 0755);
    // Nothing below it is sent: only 20.10's BuildKit client sends it, empty.
    CHECK(mode_of_dir("dir\n!dir/nothing\n", BuildRules::BuildKit2010()) == 0700);
    CHECK(mode_of_dir("dir\n!dir/nothing\n", BuildRules::Buildx()) == -1);
    CHECK(mode_of_dir("dir\n!dir/nothing\n", BuildRules::Legacy()) == -1);
  }

  TEST_CASE(
      "a file buildx's walk sends but its Open refuses arrives empty, from the tree and from a "
      "revision") {
    // Built on 26.1 and 28.5: dir1/sub/x lands with no bytes.
    TempDir d;
    d.Write("dir1/sub/x", "x");
    d.Write("other.txt", "o");
    d.Write(".dockerignore", "*\n*/sub\n!dir1/sub/x\ndir?\n!other.txt\n");
    auto sent = [](const stalecheck::Context& ctx,
                   const std::string& path) -> const stalecheck::FileEntry* {
      for (const auto& e : ctx.entries) {
        if (e.path == path) return &e;
      }
      return nullptr;
    };
    auto worktree = stalecheck::LoadContext(
        {.dir = d.path(), .jobs = 2, .rules = stalecheck::BuildRules::Buildx()});
    REQUIRE(worktree.ok());
    stalecheck::testing::Git(d, "init -q .");
    stalecheck::testing::Git(d, "add -A");
    stalecheck::testing::Git(d, "commit -qm one");
    auto rev = stalecheck::LoadContext(
        {.dir = d.path(), .rev = "HEAD", .rules = stalecheck::BuildRules::Buildx()});
    REQUIRE(rev.ok());
    for (const auto* ctx : {&*worktree, &*rev}) {
      const auto* x = sent(*ctx, "dir1/sub/x");
      REQUIRE(x != nullptr);
      CHECK(x->size == 0);
      CHECK(x->digest == stalecheck::HashBytes(""));
      const auto* o = sent(*ctx, "other.txt");
      REQUIRE(o != nullptr);
      CHECK(o->digest == stalecheck::HashBytes("o"));
    }
  }

  TEST_CASE(
      "a root given as a symlink to a directory is walked; symlinks below it are not followed") {
    TempDir d;
    d.Write("real/a", "a");
    d.Write("real/sub/b", "b");
    std::filesystem::create_directory_symlink("sub", d / "real/link");
    std::filesystem::create_directory_symlink("real", d / "ctx");
    auto m = IgnoreMatcher::Parse("", k2010);
    auto entries = stalecheck::WalkTree(d / "ctx", *m, k2010, 2);
    REQUIRE(entries.ok());
    CHECK(Paths(*entries) == std::vector<std::string>{"a", "link", "sub", "sub/b"});
    CHECK((*entries)[1].type == FileType::kSymlink);
  }

  TEST_CASE("an excluded directory is skipped whole unless an exception is written below it") {
    TempDir d;
    d.Write("dir/sub/x", "x");
    d.Write("dir/other", "o");
    d.Write("a/keep/x", "k");
    d.Write("top", "t");
    CHECK(Walk(d, "dir\n!dir/sub\n") == std::vector<std::string>{"a", "a/keep", "a/keep/x", "dir",
                                                                 "dir/sub", "dir/sub/x", "top"});
    // "*/keep" is not written below "a/": the walker never enters "a", so nothing of it is sent.
    CHECK(Walk(d, "*\n!*/keep\n").empty());
    // An exception that matches nothing still makes the walker enter (and send) the directory.
    CHECK(Walk(d, "dir\n!dir/nothing\n") ==
          std::vector<std::string>{"a", "a/keep", "a/keep/x", "dir", "top"});
  }

  TEST_CASE("the walk gives the same result on one thread and on many") {
    TempDir d;
    for (int i = 0; i < 200; ++i)
      d.Write("d" + std::to_string(i % 7) + "/f" + std::to_string(i), "x");
    CHECK(Walk(d, "d3\n", 1) == Walk(d, "d3\n", 8));
  }

  TEST_CASE(
      "the walk's order is the order of whole paths, where a sibling like a.b falls between a and "
      "a/x") {
    // Names around '/' in byte order ('-' and '.' below it, '0' and 'A' above, UTF-8 after all),
    // as files and as directories, nested: the directories' own lists put together must be
    // what sorting every path would give.
    const std::vector<std::string> names = {"a",  "a.b",       "a-", "a0",
                                            "aA", "a\xc3\xa9", "b",  "\xc3\xa9"};
    TempDir d;
    for (const std::string& x : names) {
      d.Write(x + "/" + "f", "1");
      for (const std::string& y : names) {
        if (y < "a0") d.Write(x + "/" + y + "/g", "2");
        d.Write(x + ".d/" + y, "3");
      }
    }
    for (int jobs : {1, 2, 8}) {
      std::vector<std::string> got = Walk(d, "", jobs);
      std::vector<std::string> sorted = got;
      std::sort(sorted.begin(), sorted.end());
      CHECK(got == sorted);
      std::vector<std::string> all;
      for (const auto& e : std::filesystem::recursive_directory_iterator(d.path())) {
        all.push_back(std::filesystem::relative(e.path(), d.path()).string());
      }
      std::sort(all.begin(), all.end());
      CHECK(got == all);
    }
  }

  TEST_CASE("small files are hashed during the walk, large ones after it, with the same digests") {
    TempDir d;
    std::string big(stalecheck::kInlineHashLimit * 3, 'b');
    d.Write("small", "tiny");
    d.Write("big", big);
    auto m = IgnoreMatcher::Parse("", k2010);
    auto tree = stalecheck::WalkTreeWithStats(d.path(), *m, k2010, 2, true);
    REQUIRE(tree.ok());
    auto& entries = tree->entries;
    CHECK(entries[1].digest == stalecheck::HashBytes("tiny"));
    CHECK(tree->hashed == std::vector<uint8_t>{0, 1});
    CHECK(entries[0].digest == stalecheck::Digest128{});
    auto read = stalecheck::HashPending(d.path(), *tree, 2);
    REQUIRE(read.ok());
    CHECK(*read == big.size());
    CHECK(entries[0].digest == stalecheck::HashBytes(big));
    CHECK(entries[0].size == big.size());
    CHECK(tree->hashed == std::vector<uint8_t>{1, 1});
  }

  TEST_CASE(
      "without inline hashing the walk reads no file, and every regular file keeps its stat key") {
    TempDir d;
    d.Write("small", "tiny");
    d.Write("dir/other", "x");
    std::filesystem::create_symlink("small", d / "link");
    auto m = IgnoreMatcher::Parse("", k2010);
    auto tree = stalecheck::WalkTreeWithStats(d.path(), *m, k2010, 2, false);
    REQUIRE(tree.ok());
    CHECK(Paths(tree->entries) == std::vector<std::string>{"dir", "dir/other", "link", "small"});
    CHECK(tree->hashed == std::vector<uint8_t>{1, 0, 1, 0});
    CHECK_FALSE(tree->stats[0].valid());
    CHECK(tree->stats[1].valid());
    CHECK_FALSE(tree->stats[2].valid());
    struct stat st;
    REQUIRE(::stat((d / "small").c_str(), &st) == 0);
    CHECK(tree->stats[3].ino == st.st_ino);
    CHECK(tree->stats[3].size == 4);
    CHECK(tree->stats[3].ctime_ns == st.st_ctim.tv_sec * int64_t{1000000000} + st.st_ctim.tv_nsec);
    REQUIRE(stalecheck::HashPending(d.path(), *tree, 2).ok());
    CHECK(tree->entries[3].digest == stalecheck::HashBytes("tiny"));
  }

  TEST_CASE("the root digest does not depend on the number of threads") {
    TempDir d;
    for (int i = 0; i < 300; ++i)
      d.Write("d" + std::to_string(i % 11) + "/f" + std::to_string(i), std::to_string(i));
    auto one = stalecheck::LoadContext({.dir = d.path(), .jobs = 1});
    auto many = stalecheck::LoadContext({.dir = d.path(), .jobs = 8});
    REQUIRE(one.ok());
    REQUIRE(many.ok());
    CHECK(one->root == many->root);
    d.Write("d0/f0", "changed");
    auto changed = stalecheck::LoadContext({.dir = d.path(), .jobs = 2});
    REQUIRE(changed.ok());
    CHECK_FALSE(changed->root == one->root);
  }

  TEST_CASE("NAME.dockerignore beside the Dockerfile replaces .dockerignore") {
    TempDir d;
    d.Write("a/f", "a");
    d.Write("b/f", "b");
    d.Write(".dockerignore", "a\n");
    d.Write("sub/app.Dockerfile", "FROM scratch\n");
    d.Write("sub/app.Dockerfile.dockerignore", "b\nsub\n**/*.dockerignore\n");
    auto ctx = stalecheck::LoadContext(
        {.dir = d.path(), .dockerfile = d / "sub/app.Dockerfile", .jobs = 2});
    REQUIRE(ctx.ok());
    CHECK(Paths(ctx->entries) == std::vector<std::string>{"a", "a/f"});
    auto root = stalecheck::LoadContext({.dir = d.path(), .jobs = 2});
    REQUIRE(root.ok());
    CHECK(Paths(root->entries) == std::vector<std::string>{".dockerignore", "b", "b/f", "sub",
                                                           "sub/app.Dockerfile",
                                                           "sub/app.Dockerfile.dockerignore"});
  }

  TEST_CASE("bad input is an error that names it") {
    TempDir d;
    SUBCASE("a missing context") {
      auto ctx = stalecheck::LoadContext({.dir = d / "missing"});
      REQUIRE_FALSE(ctx.ok());
      CHECK(std::string(ctx.status().message()).find("missing") != std::string::npos);
    }
    SUBCASE("a bare '!' names the ignore file") {
      d.Write(".dockerignore", "!\n");
      auto ctx = stalecheck::LoadContext({.dir = d.path()});
      REQUIRE_FALSE(ctx.ok());
      CHECK(std::string(ctx.status().message()).find(".dockerignore") != std::string::npos);
    }
    SUBCASE("a file that disappears between walk and hash") {
      d.Write("gone", std::string(stalecheck::kInlineHashLimit + 1, 'x'));
      auto m = IgnoreMatcher::Parse("", k2010);
      auto tree = stalecheck::WalkTreeWithStats(d.path(), *m, k2010, 1, true);
      REQUIRE(tree.ok());
      std::filesystem::remove(d / "gone");
      auto st = stalecheck::HashPending(d.path(), *tree, 1);
      REQUIRE_FALSE(st.ok());
      CHECK(std::string(st.status().message()).find("gone") != std::string::npos);
    }
  }
}
