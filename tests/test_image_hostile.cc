#include <doctest/doctest.h>
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "stalecheck/image.h"
#include "stalecheck/layer.h"
#include "tests/test_helpers.h"

namespace stalecheck {
namespace {

const std::string kHostile = STALECHECK_FIXTURES "/hostile/";

const nlohmann::json& Expected() {
  static const nlohmann::json e = nlohmann::json::parse(testing::Slurp(kHostile + "expected.json"));
  return e;
}

// A layer file read as the image readers read each layer: decoded, then applied alone.
absl::StatusOr<LayeredFiles> ReadLayerFile(const std::string& name) {
  absl::StatusOr<std::unique_ptr<FdReader>> in = FdReader::Open(kHostile + name);
  if (!in.ok()) return in.status();
  absl::StatusOr<LayerContents> layer = DecodeLayer(**in, name);
  if (!layer.ok()) return layer.status();
  std::vector<LayerContents> layers;
  layers.push_back(std::move(*layer));
  return ApplyLayers(std::move(layers));
}

long PeakRssKb() {
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// Each fixture against what expected.json says a reader must make of it.
void HoldToExpected(const std::string& name) {
  const nlohmann::json& want = Expected().at(name);
  CAPTURE(name);
  CAPTURE(want["what"].get<std::string>());
  const bool is_layout = name.rfind("oci-", 0) == 0;
  absl::Status status;
  std::map<std::string, ViewEntry> files;
  if (is_layout) {
    absl::StatusOr<ImageView> view = ReadImage(TargetName{"oci", kHostile + name}, ReadOptions{});
    status = view.status();
    if (view.ok()) files = view->files;
  } else {
    absl::StatusOr<LayeredFiles> view = ReadLayerFile(name);
    status = view.status();
    if (view.ok()) files = view->files;
  }
  if (want.contains("error")) {
    REQUIRE_FALSE(status.ok());
    CHECK_MESSAGE(std::string(status.message()).find(want["error"].get<std::string>()) != std::string::npos,
                  status.message());
    return;
  }
  REQUIRE_MESSAGE(status.ok(), status.ToString());
  const std::string path = want["path"];
  REQUIRE_MESSAGE(files.count(path) == 1, path);
  const ViewEntry& e = files.at(path);
  if (want.contains("digest")) CHECK(e.file.digest.ToString() == want["digest"].get<std::string>());
  if (want.contains("size")) CHECK(e.file.size == want["size"].get<uint64_t>());
  if (want.contains("target")) CHECK(e.file.target == want["target"].get<std::string>());
  if (want.contains("absent")) CHECK(files.count(want["absent"].get<std::string>()) == 0);
}

TEST_SUITE("image: hostile input") {
  TEST_CASE("every hostile fixture is read as expected.json says, or refused naming what is wrong") {
    for (auto it = Expected().begin(); it != Expected().end(); ++it) {
      if (it.key().rfind("bomb", 0) == 0) continue;  // below, with their memory measured
      HoldToExpected(it.key());
    }
  }

  TEST_CASE("a compression bomb streams to a verdict in bounded memory") {
    for (const char* bomb : {"bomb.tar.zst", "bomb.tar.gz"}) {
      const long before = PeakRssKb();
      HoldToExpected(bomb);
      // 1 GiB and 256 MiB of file bytes: the peak may not grow by more than 64 MiB.
      CHECK_MESSAGE(PeakRssKb() - before < 64 * 1024, bomb);
    }
  }

  TEST_CASE("a docker-archive cut at any 512-byte boundary is refused or read whole, never misread") {
    const std::string full = testing::Slurp(STALECHECK_FIXTURES "/images/small.tar");
    absl::StatusOr<ImageView> whole = ReadImage(TargetName{"docker-archive", STALECHECK_FIXTURES "/images/small.tar"},
                                                ReadOptions{});
    REQUIRE(whole.ok());
    testing::TempDir d;
    for (size_t cut = 0; cut < full.size(); cut += 512) {
      CAPTURE(cut);
      d.Write("cut.tar", full.substr(0, cut));
      absl::StatusOr<ImageView> v = ReadImage(TargetName{"docker-archive", d / "cut.tar"}, ReadOptions{});
      if (v.ok()) {
        // Only what the image does not need may be gone (trailing members, the end blocks):
        // then the image is the whole one, file for file.
        REQUIRE(v->files.size() == whole->files.size());
        for (const auto& [path, e] : whole->files) {
          REQUIRE(v->files.count(path) == 1);
          CHECK(v->files.at(path).file.digest == e.file.digest);
        }
        CHECK(v->image_id == whole->image_id);
      } else {
        CHECK_FALSE(v.status().message().empty());
      }
    }
  }

  TEST_CASE("a compressed layer cut anywhere is an error naming the layer") {
    std::string layer = testing::MakeTar({{"a/b.txt", 'f', std::string(50000, 'q')}, {"c", 'f', "c"}}, "gzip");
    for (size_t k = 1; k < 20; ++k) {
      const size_t cut = layer.size() * k / 20;
      CAPTURE(cut);
      MemoryReader in(absl::string_view(layer).substr(0, cut));
      absl::StatusOr<LayerContents> got = DecodeLayer(in, "layer 3");
      REQUIRE_FALSE(got.ok());
      CHECK(std::string(got.status().message()).find("layer 3") != std::string::npos);
    }
  }
}

}  // namespace
}  // namespace stalecheck
