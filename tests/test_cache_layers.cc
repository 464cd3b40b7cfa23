#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "stalecheck/cache.h"
#include "test_helpers.h"

using stalecheck::LayerCache;
using stalecheck::LayerContents;
using stalecheck::LayerEntry;

namespace {

const std::string kDiff = "sha256:" + std::string(64, 'a');

LayerContents Layer(const std::string& diff_id = kDiff) {
  LayerContents l;
  l.diff_id = diff_id;
  LayerEntry f{stalecheck::testing::FileOf("/app/main.py", "print(1)\n", 0755), ""};
  f.file.mtime = 1700000000;
  LayerEntry pyc{stalecheck::testing::FileOf("/app/__pycache__/m.cpython-311.pyc", "pyc", 0644), ""};
  pyc.file.head = std::string("\xa7\x0d\x0d\x0a\0\0\0\0", 8);
  LayerEntry link;
  link.file.path = "/app/link";
  link.file.type = stalecheck::FileType::kSymlink;
  link.file.target = "main.py";
  LayerEntry hard{stalecheck::testing::FileOf("/app/hard", "", 0644), "/app/main.py"};
  l.entries = {f, pyc, link, hard};
  l.whiteouts = {"/app/gone.py"};
  l.opaque_dirs = {"/app/cache"};
  return l;
}

std::string FileOf(const std::string& dir) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().parent_path().filename() == "layers") return e.path().string();
  }
  return "";
}

}  // namespace

TEST_SUITE("cache: layers") {
  TEST_CASE("a layer's index comes back as it was kept, every field") {
    stalecheck::testing::TempDir d;
    LayerCache cache(d.path());
    CHECK_FALSE(cache.Get(kDiff).has_value());
    cache.Put(Layer());
    auto got = cache.Get(kDiff);
    REQUIRE(got.has_value());
    const LayerContents want = Layer();
    REQUIRE(got->entries.size() == want.entries.size());
    for (size_t i = 0; i < want.entries.size(); ++i) {
      CHECK(got->entries[i].file.path == want.entries[i].file.path);
      CHECK(got->entries[i].file.type == want.entries[i].file.type);
      CHECK(got->entries[i].file.mode == want.entries[i].file.mode);
      CHECK(got->entries[i].file.size == want.entries[i].file.size);
      CHECK(got->entries[i].file.digest == want.entries[i].file.digest);
      CHECK(got->entries[i].file.target == want.entries[i].file.target);
      CHECK(got->entries[i].file.mtime == want.entries[i].file.mtime);
      CHECK(got->entries[i].file.head == want.entries[i].file.head);
      CHECK(got->entries[i].hardlink == want.entries[i].hardlink);
    }
    CHECK(got->whiteouts == want.whiteouts);
    CHECK(got->opaque_dirs == want.opaque_dirs);
    CHECK(got->diff_id == kDiff);
  }

  TEST_CASE("a corrupt, truncated or other-format entry is a miss, and is removed") {
    for (int damage = 0; damage < 3; ++damage) {
      CAPTURE(damage);
      stalecheck::testing::TempDir d;
      LayerCache cache(d.path());
      cache.Put(Layer());
      const std::string path = FileOf(d.path());
      REQUIRE(!path.empty());
      std::string bytes;
      {
        std::ifstream in(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
      }
      if (damage == 0) bytes[bytes.size() / 2] ^= 0x01;           // one bit flipped
      if (damage == 1) bytes.resize(bytes.size() - 5);           // truncated
      if (damage == 2) bytes.replace(bytes.find("v1"), 2, "v0");  // another format
      std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
      CHECK_FALSE(cache.Get(kDiff).has_value());
      CHECK_FALSE(std::filesystem::exists(path));
    }
  }

  TEST_CASE("an entry under another diff_id's name is not trusted") {
    stalecheck::testing::TempDir d;
    LayerCache cache(d.path());
    cache.Put(Layer());
    const std::string other = "sha256:" + std::string(64, 'b');
    std::filesystem::rename(FileOf(d.path()), d.path() + "/layers/" + other.substr(7));
    CHECK_FALSE(cache.Get(other).has_value());
  }

  TEST_CASE("records come back, and a damaged one does not") {
    stalecheck::testing::TempDir d;
    LayerCache cache(d.path());
    cache.PutRecord(kDiff, "{\"config\":\"x\"}");
    CHECK(cache.GetRecord(kDiff) == std::optional<std::string>("{\"config\":\"x\"}"));
    const std::string path = d.path() + "/images/" + kDiff.substr(7);
    std::string bytes;
    {
      std::ifstream in(path, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    bytes[2] = 'X';
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    CHECK_FALSE(cache.GetRecord(kDiff).has_value());
  }

  TEST_CASE("the cache stays within its size, the least recently used going first") {
    stalecheck::testing::TempDir d;
    const size_t one = stalecheck::EncodeLayerIndex(Layer()).size();
    LayerCache cache(d.path(), 2 * one + one / 2);
    const std::string a = "sha256:" + std::string(64, '1'), b = "sha256:" + std::string(64, '2'),
                      c = "sha256:" + std::string(64, '3');
    cache.Put(Layer(a));
    cache.Put(Layer(b));
    // a is older; touched now by a read it would be newer, so age it by hand instead.
    std::filesystem::last_write_time(d.path() + "/layers/" + a.substr(7),
                                     std::filesystem::file_time_type::clock::now() - std::chrono::hours(2));
    std::filesystem::last_write_time(d.path() + "/layers/" + b.substr(7),
                                     std::filesystem::file_time_type::clock::now() - std::chrono::hours(1));
    cache.Put(Layer(c));
    CHECK_FALSE(cache.Get(a).has_value());
    CHECK(cache.Get(b).has_value());
    CHECK(cache.Get(c).has_value());
  }

  TEST_CASE("a cache with no directory holds nothing") {
    LayerCache cache("");
    cache.Put(Layer());
    CHECK_FALSE(cache.Get(kDiff).has_value());
    CHECK_FALSE(cache.enabled());
  }
}
