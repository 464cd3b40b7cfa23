#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "stalecheck/hash.h"

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
