#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <tuple>

#include "absl/strings/match.h"
#include "src/image/internal.h"
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

// The final filesystem alone.
absl::StatusOr<std::map<std::string, stalecheck::ViewEntry>> View(std::vector<LayerContents> layers) {
  auto layered = ApplyLayers(std::move(layers));
  if (!layered.ok()) return layered.status();
  return std::move(layered->files);
}

// Gives `data` in reads of at most `step` bytes, then fails with `error` if one is set.
class StepReader : public stalecheck::ByteReader {
 public:
  StepReader(std::string data, size_t step, absl::Status error = absl::OkStatus())
      : data_(std::move(data)), step_(step), error_(std::move(error)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t cap) override {
    if (pos_ == data_.size()) {
      if (!error_.ok()) return error_;
      return size_t{0};
    }
    const size_t n = std::min({cap, step_, data_.size() - pos_});
    std::memcpy(buf, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t step_, pos_ = 0;
  absl::Status error_;
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 251) & 0xff);
  return s;
}

absl::StatusOr<std::string> ReadAll(stalecheck::ByteReader& in, size_t step) {
  std::string out, buf(step, '\0');
  for (;;) {
    absl::StatusOr<size_t> n = in.Read(buf.data(), buf.size());
    if (!n.ok()) return n.status();
    if (*n == 0) return out;
    out.append(buf, 0, *n);
  }
}

}  // namespace

TEST_SUITE("image") {
  TEST_CASE("reading ahead gives back the stream byte for byte, whatever the chunk and read sizes") {
    const std::string data = Pattern(100003);
    for (size_t chunk : {size_t{1}, size_t{7}, size_t{4096}, size_t{1} << 20}) {
      for (size_t depth : {size_t{1}, size_t{4}}) {
        CAPTURE(chunk);
        CAPTURE(depth);
        StepReader in(data, 997);
        stalecheck::internal::ReadAheadReader ahead(in, chunk, depth);
        absl::StatusOr<std::string> got = ReadAll(ahead, 313);
        REQUIRE(got.ok());
        CHECK(*got == data);
      }
    }
  }

  TEST_CASE("reading ahead hands on the bytes before an error, then the error") {
    const std::string data = Pattern(5000);
    StepReader in(data, 100, absl::DataLossError("layer blob cut short"));
    stalecheck::internal::ReadAheadReader ahead(in, 64, 2);
    std::string got, buf(50, '\0');
    absl::Status status;
    for (;;) {
      absl::StatusOr<size_t> n = ahead.Read(buf.data(), buf.size());
      if (!n.ok()) {
        status = n.status();
        break;
      }
      REQUIRE(*n > 0);
      got.append(buf, 0, *n);
    }
    CHECK(got == data);
    CHECK(status.message() == "layer blob cut short");
  }

  TEST_CASE("a reader left part-way stops reading ahead and gives the stream back where the thread left it") {
    const std::string data = Pattern(1 << 16);
    StepReader in(data, 1024);
    {
      stalecheck::internal::ReadAheadReader ahead(in, 1024, 2);
      char b[10];
      REQUIRE(ahead.Read(b, sizeof b).ok());
      ahead.Finish();
    }  // the destructor after Finish joins nothing twice
    // The thread read at most the pool's chunks (depth + 1) and then stopped.
    absl::StatusOr<std::string> rest = ReadAll(in, 4096);
    REQUIRE(rest.ok());
    CHECK(rest->size() >= data.size() - 3 * 1024);
    CHECK(rest->size() < data.size());
    CHECK(*rest == data.substr(data.size() - rest->size()));
  }

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
    auto view = View({base, top});
    REQUIRE(view.ok());
    CHECK(Paths(*view) == std::vector<std::string>{"/a", "/a/y", "/b", "/b/new"});
    CHECK(view->at("/b/new").layer == 1);
    CHECK(view->at("/a/y").layer == 0);
  }

  TEST_CASE("a whited-out directory takes its subtree with it") {
    LayerContents base = Decode(MakeTar({{"d/", 'd'}, {"d/e/", 'd'}, {"d/e/f", 'f', "f"}}));
    LayerContents top = Decode(MakeTar({{".wh.d", 'f', ""}}));
    auto view = View({base, top});
    REQUIRE(view.ok());
    CHECK(view->empty());
  }

  TEST_CASE("a file over a directory replaces the subtree") {
    LayerContents base = Decode(MakeTar({{"d/", 'd'}, {"d/f", 'f', "f"}}));
    LayerContents top = Decode(MakeTar({{"d", 'f', "now a file"}}));
    auto view = View({base, top});
    REQUIRE(view.ok());
    CHECK(Paths(*view) == std::vector<std::string>{"/d"});
    CHECK(view->at("/d").file.type == FileType::kFile);
  }

  TEST_CASE("hard links take the content of the file they name") {
    LayerContents layer = Decode(MakeTar({{"bin/", 'd'}, {"bin/a", 'f', "same", 0755}, {"bin/b", 'h', "bin/a"}}));
    auto view = View({layer});
    REQUIRE(view.ok());
    CHECK(view->at("/bin/b").file.digest == stalecheck::HashBytes("same"));
    CHECK(view->at("/bin/b").file.mode == 0755);
    CHECK(view->at("/bin/b").file.size == 4);
  }

  TEST_CASE("missing parent directories are created") {
    auto view = View({Decode(MakeTar({{"x/y/z", 'f', "z"}}))});
    REQUIRE(view.ok());
    CHECK(Paths(*view) == std::vector<std::string>{"/x", "/x/y", "/x/y/z"});
  }

  TEST_CASE("a fifo in a layer is a special entry that says what it is") {
    auto view = View({Decode(MakeTar({{"p", 'p'}, {"f", 'f', "f"}}))});
    REQUIRE(view.ok());
    CHECK(Paths(*view) == std::vector<std::string>{"/f", "/p"});
    const auto& p = view->at("/p").file;
    CHECK(p.type == stalecheck::FileType::kSpecial);
    CHECK(p.target == "fifo");
  }

  TEST_CASE("each layer keeps the version it wrote, under a later layer's change or deletion") {
    LayerContents copy = Decode(MakeTar({{"app/", 'd'}, {"app/main.py", 'f', "old"}, {"app/tests/", 'd'},
                                          {"app/tests/t.py", 'f', "t"}}));
    LayerContents run = Decode(MakeTar({{"app/", 'd'}, {"app/main.py", 'f', "changed by RUN", 0600},
                                         {"app/.wh.tests", 'f', ""}}));
    auto layered = ApplyLayers({copy, run});
    REQUIRE(layered.ok());
    CHECK(layered->files.at("/app/main.py").layer == 1);
    CHECK(layered->files.count("/app/tests/t.py") == 0);
    REQUIRE(layered->layers.size() == 2);
    const auto& first = layered->layers[0].entries;
    REQUIRE(first.size() == 4);
    CHECK(first[1].path == "/app/main.py");
    CHECK(first[1].digest == stalecheck::HashBytes("old"));
    stalecheck::LayerIndex run_index(layered->layers[1]);
    CHECK(run_index.Deletes("/app/tests/t.py"));
    CHECK(run_index.Deletes("/app/tests"));
    CHECK_FALSE(run_index.Deletes("/app/main.py"));
    CHECK_FALSE(run_index.Deletes("/app/testsuite"));
    REQUIRE(run_index.Written("/app/main.py") != nullptr);
    CHECK(run_index.Written("/app/main.py")->mode == 0600);
  }

  TEST_CASE("a later file over a parent directory, or an opaque parent, deletes the path") {
    LayerContents over = Decode(MakeTar({{"d", 'f', "now a file"}}));
    LayerContents opaque = Decode(MakeTar({{"d/", 'd'}, {"d/.wh..wh..opq", 'f', ""}}));
    auto a = ApplyLayers({over});
    auto b = ApplyLayers({opaque});
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(stalecheck::LayerIndex(a->layers[0]).Deletes("/d/f"));
    CHECK_FALSE(stalecheck::LayerIndex(a->layers[0]).Deletes("/d"));
    CHECK(stalecheck::LayerIndex(b->layers[0]).Deletes("/d/f"));
    CHECK_FALSE(stalecheck::LayerIndex(b->layers[0]).Deletes("/d"));
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
      auto view = View({Decode(MakeTar({{"b", 'h', "a"}}))});
      CHECK_FALSE(view.ok());
    }
  }
}

TEST_SUITE("image: one path of a container") {
  TEST_CASE("the first entry of a path's archive is that path, its data hashed; the rest is not read") {
    std::string tar = stalecheck::testing::MakeTar({{"main.py", 'f', "print(2)\n", 0755}, {"other", 'f', "x", 0644}});
    MemoryReader in(tar);
    auto e = stalecheck::DecodeFirstEntry(in, "/app/main.py");
    REQUIRE(e.ok());
    REQUIRE(e->has_value());
    CHECK((*e)->file.type == FileType::kFile);
    CHECK((*e)->file.mode == 0755);
    CHECK((*e)->file.digest == stalecheck::HashBytes("print(2)\n"));
    const std::string dir_tar = stalecheck::testing::MakeTar({{"lib/", 'd', "", 0700}, {"lib/a", 'f', "a", 0644}});
    MemoryReader dir_in(dir_tar);
    auto d = stalecheck::DecodeFirstEntry(dir_in, "/app/lib");
    REQUIRE(d.ok());
    CHECK((*d)->file.type == FileType::kDir);
    CHECK((*d)->file.mode == 0700);
    MemoryReader junk("not a tar at all, not even close to 512 bytes");
    CHECK_FALSE(stalecheck::DecodeFirstEntry(junk, "/x").ok());
  }

  TEST_CASE("a layer applied over a view hides and replaces as any layer does") {
    auto layered = ApplyLayers({Decode(MakeTar({{"app/", 'd', "", 0755}, {"app/a", 'f', "a", 0644},
                                                {"app/conf/", 'd', "", 0755}, {"app/conf/x", 'f', "x", 0644}}))});
    REQUIRE(layered.ok());
    LayerContents top = Decode(MakeTar({{"app/a", 'f', "edited", 0644}, {"app/conf/y", 'f', "y", 0644}}));
    top.opaque_dirs.push_back("/app/conf");
    REQUIRE(stalecheck::ApplyLayer(*layered, std::move(top)).ok());
    CHECK(layered->layers.size() == 2);
    CHECK(Paths(layered->files) == std::vector<std::string>{"/app", "/app/a", "/app/conf", "/app/conf/y"});
    CHECK(layered->files.at("/app/a").layer == 1);
    CHECK(layered->files.at("/app/a").file.digest == stalecheck::HashBytes("edited"));
    CHECK(layered->files.at("/app").layer == 0);
  }

  // The rules, applied one entry at a time with a search for every path: what ApplyLayers
  // (which takes the place after the last entry, and skips a parent it just checked) must match.
  struct Naive {
    std::map<std::string, std::tuple<FileType, int, bool>> view;  // type, layer, implied
    bool failed = false;
    void EraseBelow(const std::string& dir) {
      for (auto it = view.begin(); it != view.end();) {
        it = absl::StartsWith(it->first, dir == "/" ? "/" : dir + "/") && it->first != dir ? view.erase(it) : std::next(it);
      }
    }
    void Apply(const LayerContents& layer, int index) {
      for (const std::string& d : layer.opaque_dirs) EraseBelow(d);
      for (const std::string& w : layer.whiteouts) {
        view.erase(w);
        EraseBelow(w);
      }
      for (const stalecheck::LayerEntry& e : layer.entries) {
        const std::string& p = e.file.path;
        if (auto it = view.find(p); it != view.end() && std::get<0>(it->second) == FileType::kDir &&
                                    e.file.type != FileType::kDir) {
          EraseBelow(p);
        }
        for (std::string q = p.substr(0, p.rfind('/')); !q.empty(); q = q.substr(0, q.rfind('/'))) {
          auto it = view.find(q);
          if (it == view.end()) {
            view[q] = {FileType::kDir, index, true};
          } else if (std::get<0>(it->second) != FileType::kDir) {
            failed = true;
            return;
          }
        }
        view[p] = {e.file.type, index, false};
      }
    }
  };

  TEST_CASE("layers applied entry by entry in any order make the filesystem the rules make") {
    std::mt19937 rng(20261202);
    const std::vector<std::string> names = {"a", "a.b", "a-", "b", "b0"};
    for (int round = 0; round < 400; ++round) {
      std::vector<LayerContents> layers;
      Naive naive;
      const int count = 1 + static_cast<int>(rng() % 3);
      for (int l = 0; l < count; ++l) {
        LayerContents layer;
        const int entries = static_cast<int>(rng() % 12);
        for (int k = 0; k < entries; ++k) {
          std::string path;
          const int depth = 1 + static_cast<int>(rng() % 3);
          for (int d = 0; d < depth; ++d) path += "/" + names[rng() % names.size()];
          stalecheck::LayerEntry e;
          e.file.path = path;
          e.file.type = rng() % 3 == 0 ? FileType::kFile : FileType::kDir;
          layer.entries.push_back(e);
        }
        // Sorted most of the time, as tars are; shuffled otherwise.
        if (rng() % 3 != 0) {
          std::sort(layer.entries.begin(), layer.entries.end(),
                    [](const auto& x, const auto& y) { return x.file.path < y.file.path; });
        } else {
          std::shuffle(layer.entries.begin(), layer.entries.end(), rng);
        }
        if (l > 0 && rng() % 3 == 0) layer.whiteouts.push_back("/" + names[rng() % names.size()]);
        if (l > 0 && rng() % 4 == 0) layer.opaque_dirs.push_back("/" + names[rng() % names.size()]);
        if (!naive.failed) naive.Apply(layer, l);
        layers.push_back(std::move(layer));
      }
      auto layered = ApplyLayers(layers);
      CAPTURE(round);
      REQUIRE(layered.ok() != naive.failed);
      if (naive.failed) continue;
      std::map<std::string, std::tuple<FileType, int, bool>> got;
      for (const auto& [p, v] : layered->files) got[p] = {v.file.type, v.layer, v.implied};
      CHECK(got == naive.view);
    }
  }
}
