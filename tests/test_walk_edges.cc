#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stalecheck/context.h"
#include "stalecheck/hash.h"
#include "stalecheck/report.h"
#include "tests/test_helpers.h"

namespace stalecheck {
namespace {

using testing::TempDir;

absl::StatusOr<Context> Load(const std::string& dir, BuildRules rules = BuildRules::Buildx()) {
  ContextOptions o;
  o.dir = dir;
  o.rules = std::move(rules);
  return LoadContext(o);
}

const FileEntry* Find(const Context& ctx, const std::string& path) {
  for (const FileEntry& e : ctx.entries) {
    if (e.path == path) return &e;
  }
  return nullptr;
}

TEST_SUITE("walk: context edge cases") {
  TEST_CASE("names that are not UTF-8, or hold a newline, are read byte for byte and quoted in text") {
    TempDir d;
    d.Write("bad\xff.txt", "x");
    d.Write("new\nline", "y");
    // buildx cannot send a name that is not UTF-8 (its gRPC strings refuse it): an error naming it.
    absl::StatusOr<Context> refused = Load(d.path());
    REQUIRE_FALSE(refused.ok());
    CHECK(std::string(refused.status().message()).find("not UTF-8") != std::string::npos);
    // The legacy builder sends it as it is.
    absl::StatusOr<Context> ctx = Load(d.path(), *BuildRules::Named("legacy"));
    REQUIRE_MESSAGE(ctx.ok(), ctx.status().ToString());
    REQUIRE(Find(*ctx, "bad\xff.txt") != nullptr);
    CHECK(Find(*ctx, "bad\xff.txt")->digest == HashBytes("x"));
    REQUIRE(Find(*ctx, "new\nline") != nullptr);
    const std::string text = FingerprintText(*ctx);
    CHECK(text.find("\"bad\\377.txt\"") != std::string::npos);
    CHECK(text.find("\"new\\nline\"") != std::string::npos);
  }

  TEST_CASE("a path just under PATH_MAX is read; one beyond it is an error naming it") {
    TempDir d;
    // Directories of 250 bytes each, made relative to the one above (an absolute path that
    // long cannot be named).
    const std::string part(250, 'd');
    int fd = ::open(d.path().c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(fd >= 0);
    size_t length = d.path().size();
    int depth = 0;
    while (length + part.size() + 1 < 4000) {
      REQUIRE(::mkdirat(fd, part.c_str(), 0755) == 0);
      int next = ::openat(fd, part.c_str(), O_RDONLY | O_DIRECTORY);
      ::close(fd);
      fd = next;
      length += part.size() + 1;
      ++depth;
    }
    int f = ::openat(fd, "leaf", O_WRONLY | O_CREAT, 0644);
    REQUIRE(::write(f, "z", 1) == 1);
    ::close(f);
    absl::StatusOr<Context> ctx = Load(d.path());
    REQUIRE_MESSAGE(ctx.ok(), ctx.status().ToString());
    std::string leaf;
    for (int i = 0; i < depth; ++i) leaf += part + "/";
    leaf += "leaf";
    REQUIRE(Find(*ctx, leaf) != nullptr);
    CHECK(Find(*ctx, leaf)->digest == HashBytes("z"));
    // Two levels more: past PATH_MAX.
    for (int i = 0; i < 2; ++i) {
      REQUIRE(::mkdirat(fd, part.c_str(), 0755) == 0);
      int next = ::openat(fd, part.c_str(), O_RDONLY | O_DIRECTORY);
      ::close(fd);
      fd = next;
    }
    f = ::openat(fd, "deep", O_WRONLY | O_CREAT, 0644);
    ::close(f);
    ::close(fd);
    absl::StatusOr<Context> deep = Load(d.path());
    REQUIRE_FALSE(deep.ok());
    CHECK(std::string(deep.status().message()).find(part) != std::string::npos);
    // TempDir's remove_all cannot name such paths either: take them apart from the top.
    testing::Sh("cd '" + d.path() + "' && rm -rf " + part);
  }

  TEST_CASE("a file over 4 GiB is hashed whole, its size exact") {
    TempDir d;
    const uint64_t size = (uint64_t{4} << 30) + 12345;
    int fd = ::open((d / "big.bin").c_str(), O_WRONLY | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);  // sparse: zeros
    REQUIRE(::pwrite(fd, "end", 3, static_cast<off_t>(size - 3)) == 3);
    ::close(fd);
    StreamHasher want;
    const std::string zeros(1 << 20, '\0');
    uint64_t left = size - 3;
    while (left > 0) {
      size_t n = left < zeros.size() ? static_cast<size_t>(left) : zeros.size();
      want.Update(zeros.data(), n);
      left -= n;
    }
    want.Update("end", 3);
    absl::StatusOr<Context> ctx = Load(d.path());
    REQUIRE_MESSAGE(ctx.ok(), ctx.status().ToString());
    const FileEntry* e = Find(*ctx, "big.bin");
    REQUIRE(e != nullptr);
    CHECK(e->size == size);
    CHECK(e->digest == want.Finish());
  }
}

}  // namespace
}  // namespace stalecheck
