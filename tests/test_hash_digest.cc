#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "stalecheck/context.h"
#include "stalecheck/hash.h"
#include "stalecheck/util.h"
#include "tests/test_helpers.h"

using stalecheck::HashBytes;

TEST_SUITE("hash") {
  TEST_CASE("the root digest hashes every entry's line as one stream, across its buffers") {
    // Lines enough for several of its buffers.
    std::vector<stalecheck::FileEntry> entries;
    std::string lines;
    for (int i = 0; i < 30011; ++i) {
      stalecheck::FileEntry e;
      e.path = "dir" + std::to_string(i / 100) + "/entry-" + std::to_string(i);
      e.type = i % 7 == 0
                   ? stalecheck::FileType::kDir
                   : (i % 5 == 0 ? stalecheck::FileType::kSymlink : stalecheck::FileType::kFile);
      e.mode = i % 7 == 0 ? 0755 : (i % 3 == 0 ? 04711 : 0644);
      e.digest = HashBytes(e.path);
      lines += e.path + '\0' + stalecheck::FileTypeName(e.type) + '\0' +
               stalecheck::FormatMode(e.mode) + '\0' +
               (e.type == stalecheck::FileType::kDir ? "" : e.digest.Hex()) + '\n';
      entries.push_back(std::move(e));
    }
    const stalecheck::Digest128 want = HashBytes(lines);
    CHECK(stalecheck::RootDigest(entries).Hex() == want.Hex());
    CHECK(stalecheck::RootDigest({}).Hex() == HashBytes("").Hex());
  }

  TEST_CASE("digests print as xxh128sum prints them") {
    // `printf '' | xxh128sum` and `printf 'hi\n' | xxh128sum` (xxhash 0.8.1).
    CHECK(HashBytes("").Hex() == "99aa06d3014798d86001c324468d497f");
    CHECK(HashBytes("hi\n").ToString() == "xxh128:f4d0497cf9394caab34d1a3ab2bece70");
  }

  TEST_CASE("a streamed file hashes like the same bytes at once") {
    std::string big;
    for (int i = 0; i < 700000; ++i) big += static_cast<char>('a' + i % 26);
    auto path = std::filesystem::temp_directory_path() / "stalecheck-hash-test.bin";
    std::ofstream(path, std::ios::binary) << big;
    auto d = stalecheck::HashFile(path.string());
    std::filesystem::remove(path);
    REQUIRE(d.ok());
    CHECK(d->digest == HashBytes(big));
    CHECK(d->size == big.size());
  }

  TEST_CASE("a missing file is an error naming it") {
    auto d = stalecheck::HashFile("/nonexistent/stalecheck");
    REQUIRE_FALSE(d.ok());
    CHECK(std::string(d.status().message()).find("/nonexistent/stalecheck") != std::string::npos);
  }

  TEST_CASE("sha256 digests are written sha256:<hex>") {
    CHECK(stalecheck::Sha256Of("") ==
          "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  }
}

TEST_SUITE("hash: a file that changes while it is read") {
  // The seam changes the file after the first 256 KiB of a pass: the pass has read some of the
  // old bytes and will read the rest new.
  struct Rewrite {
    std::string path, data;
    int left;        // passes to change the file in
    bool next_tick;  // wait for the timestamps' clock to move first (so ctime changes)
    void operator()(const std::string& p) {
      if (p != path || left == 0) return;
      --left;
      if (next_tick) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      int fd = ::open(path.c_str(), O_WRONLY);
      REQUIRE(::pwrite(fd, data.data(), data.size(), 0) == static_cast<ssize_t>(data.size()));
      ::close(fd);
    }
  };

  TEST_CASE(
      "a same-size rewrite during the read is seen and the file read again, to its new digest") {
    for (bool next_tick : {true, false}) {
      CAPTURE(next_tick);
      stalecheck::testing::TempDir d;
      const std::string a(4 << 20, 'a'), b(4 << 20, 'b');
      d.Write("f", a);
      auto hook = std::make_shared<Rewrite>(Rewrite{d / "f", b, 1, next_tick});
      stalecheck::SetHashReadHookForTest([hook](const std::string& p) { (*hook)(p); });
      absl::StatusOr<stalecheck::FileDigest> got = stalecheck::HashFile(d / "f");
      stalecheck::SetHashReadHookForTest(nullptr);
      REQUIRE_MESSAGE(got.ok(), got.status().ToString());
      CHECK(got->digest == stalecheck::HashBytes(b));  // never a's head and b's tail
    }
  }

  TEST_CASE("a file that keeps changing is an error naming it, not a digest") {
    stalecheck::testing::TempDir d;
    const std::string a(4 << 20, 'a'), b(4 << 20, 'b');
    d.Write("f", a);
    auto hook = std::make_shared<Rewrite>(Rewrite{d / "f", b, 1000, false});
    stalecheck::SetHashReadHookForTest([hook, a, b](const std::string& p) {
      hook->data = hook->data == a ? b : a;
      (*hook)(p);
    });
    absl::StatusOr<stalecheck::FileDigest> got = stalecheck::HashFile(d / "f");
    stalecheck::SetHashReadHookForTest(nullptr);
    REQUIRE_FALSE(got.ok());
    CHECK(absl::IsAborted(got.status()));
    CHECK(std::string(got.status().message()).find(d / "f") != std::string::npos);
    CHECK(std::string(got.status().message()).find("changed while it was read") !=
          std::string::npos);
  }
}
