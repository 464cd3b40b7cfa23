#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <filesystem>
#include <fstream>
#include <string>

#include "stalecheck/hash.h"
#include "tests/test_helpers.h"

using stalecheck::HashBytes;

TEST_SUITE("hash") {
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
  TEST_CASE("a file rewritten during its read gets the digest of one version or an error, never a mix") {
    stalecheck::testing::TempDir d;
    const size_t size = 8 << 20;
    const std::string a(size, 'a'), b(size, 'b');
    d.Write("f", a);
    const std::string path = d / "f";
    const stalecheck::Digest128 da = stalecheck::HashBytes(a), db = stalecheck::HashBytes(b);
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      int fd = ::open(path.c_str(), O_WRONLY);
      for (int i = 0; !stop.load(); ++i) {
        const std::string& v = i % 2 == 0 ? b : a;
        if (::pwrite(fd, v.data(), v.size(), 0) < 0) break;
      }
      ::close(fd);
    });
    int errors = 0, mixed = 0;
    for (int i = 0; i < 60; ++i) {
      absl::StatusOr<stalecheck::FileDigest> got = stalecheck::HashFile(path);
      if (!got.ok()) {
        CHECK(absl::IsAborted(got.status()));
        CHECK(std::string(got.status().message()).find("changed while it was read") != std::string::npos);
        ++errors;
      } else if (got->digest != da && got->digest != db) {
        ++mixed;
      }
    }
    stop = true;
    writer.join();
    CHECK(mixed == 0);
    MESSAGE("refused ", errors, " of 60 reads while the file was rewritten");
  }
}
