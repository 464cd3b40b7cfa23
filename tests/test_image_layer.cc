#include <doctest/doctest.h>

#include "stalecheck/layer.h"
#include "test_helpers.h"

using stalecheck::ApplyLayers;
using stalecheck::DecodeLayer;
using stalecheck::FileType;
using stalecheck::LayerContents;
using stalecheck::MemoryReader;
using stalecheck::testing::MakeTar;
using stalecheck::testing::TarMember;

namespace {

LayerContents Decode(const std::string& bytes) {
  MemoryReader in(bytes);
  auto layer = DecodeLayer(in, "test layer");
  REQUIRE(layer.ok());
  return *layer;
}

std::vector<std::string> Paths(const std::map<std::string, stalecheck::ViewEntry>& view) {
  std::vector<std::string> out;
  for (const auto& [p, e] : view) out.push_back(p);
  return out;
}

}  // namespace

TEST_SUITE("image") {
  TEST_CASE("a layer is read the same plain, gzip or zstd, with both digests") {
    std::vector<TarMember> members = {{"app/", 'd', "", 0755}, {"./app/main.py", 'f', "print(1)\n", 0644},
                                      {"/app/link", 'l', "main.py", 0777}};
    std::string plain = MakeTar(members);
    for (const std::string filter : {"", "gzip", "zstd"}) {
      CAPTURE(filter);
      std::string bytes = filter.empty() ? plain : MakeTar(members, filter);
      LayerContents layer = Decode(bytes);
      REQUIRE(layer.entries.size() == 3);
      CHECK(layer.entries[1].file.path == "/app/main.py");
      CHECK(layer.entries[1].file.digest == stalecheck::HashBytes("print(1)\n"));
      CHECK(layer.entries[2].file.type == FileType::kSymlink);
      CHECK(layer.entries[2].file.target == "main.py");
      CHECK(layer.diff_id == stalecheck::Sha256Of(plain));
      CHECK(layer.blob_digest == stalecheck::Sha256Of(bytes));
    }
  }

  TEST_CASE("whiteouts and opaque directories hide lower layers only") {
    LayerContents base = Decode(MakeTar({{"a/", 'd'}, {"a/x", 'f', "x"}, {"a/y", 'f', "y"}, {"b/", 'd'},
                                         {"b/old", 'f', "o"}, {"c", 'f', "c"}}));
    // The opaque marker stands after a new entry of the same layer: that entry stays.
    LayerContents top = Decode(MakeTar({{"b/", 'd'}, {"b/new", 'f', "n"}, {"b/.wh..wh..opq", 'f', ""},
                                        {"a/.wh.x", 'f', ""}, {".wh.c", 'f', ""}}));
    auto view = ApplyLayers({base, top});
    REQUIRE(view.ok());
    CHECK(Paths(*view) == std::vector<std::string>{"/a", "/a/y", "/b", "/b/new"});
    CHECK(view->at("/b/new").layer == 1);
    CHECK(view->at("/a/y").layer == 0);
  }

  TEST_CASE("a whited-out directory takes its subtree with it") {
    LayerContents base = Decode(MakeTar({{"d/", 'd'}, {"d/e/", 'd'}, {"d/e/f", 'f', "f"}}));
    LayerContents top = Decode(MakeTar({{".wh.d", 'f', ""}}));
    auto view = ApplyLayers({base, top});
    REQUIRE(view.ok());
    CHECK(view->empty());
  }

  TEST_CASE("a file over a directory replaces the subtree") {
    LayerContents base = Decode(MakeTar({{"d/", 'd'}, {"d/f", 'f', "f"}}));
    LayerContents top = Decode(MakeTar({{"d", 'f', "now a file"}}));
    auto view = ApplyLayers({base, top});
    REQUIRE(view.ok());
    CHECK(Paths(*view) == std::vector<std::string>{"/d"});
    CHECK(view->at("/d").file.type == FileType::kFile);
  }

  TEST_CASE("hard links take the content of the file they name") {
    LayerContents layer = Decode(MakeTar({{"bin/", 'd'}, {"bin/a", 'f', "same", 0755}, {"bin/b", 'h', "bin/a"}}));
    auto view = ApplyLayers({layer});
    REQUIRE(view.ok());
    CHECK(view->at("/bin/b").file.digest == stalecheck::HashBytes("same"));
    CHECK(view->at("/bin/b").file.mode == 0755);
    CHECK(view->at("/bin/b").file.size == 4);
  }

  TEST_CASE("missing parent directories are created") {
    auto view = ApplyLayers({Decode(MakeTar({{"x/y/z", 'f', "z"}}))});
    REQUIRE(view.ok());
    CHECK(Paths(*view) == std::vector<std::string>{"/x", "/x/y", "/x/y/z"});
  }

  TEST_CASE("fifos are not part of the view") {
    auto view = ApplyLayers({Decode(MakeTar({{"p", 'p'}, {"f", 'f', "f"}}))});
    REQUIRE(view.ok());
    CHECK(Paths(*view) == std::vector<std::string>{"/f"});
  }

  TEST_CASE("hostile and broken layers are errors") {
    SUBCASE("a path that climbs out of the root") {
      std::string bytes = MakeTar({{"../etc/passwd", 'f', "x"}});
      MemoryReader in(bytes);
      auto layer = DecodeLayer(in, "layer 0");
      REQUIRE_FALSE(layer.ok());
      CHECK(std::string(layer.status().message()).find("escapes the root") != std::string::npos);
    }
    SUBCASE("a truncated gzip stream") {
      std::string bytes = MakeTar({{"f", 'f', std::string(100000, 'x')}}, "gzip");
      bytes.resize(bytes.size() / 2);
      MemoryReader in(bytes);
      auto layer = DecodeLayer(in, "layer 0");
      REQUIRE_FALSE(layer.ok());
      CHECK(std::string(layer.status().message()).find("layer 0") != std::string::npos);
    }
    SUBCASE("a truncated zstd stream") {
      std::string bytes = MakeTar({{"f", 'f', std::string(100000, 'x')}}, "zstd");
      bytes.resize(bytes.size() - 10);
      MemoryReader in(bytes);
      CHECK_FALSE(DecodeLayer(in, "layer 0").ok());
    }
    SUBCASE("a truncated tar") {
      std::string bytes = MakeTar({{"f", 'f', std::string(100000, 'x')}});
      bytes.resize(3000);
      MemoryReader in(bytes);
      CHECK_FALSE(DecodeLayer(in, "layer 0").ok());
    }
    SUBCASE("a hard link to nothing") {
      auto view = ApplyLayers({Decode(MakeTar({{"b", 'h', "a"}}))});
      CHECK_FALSE(view.ok());
    }
  }
}
