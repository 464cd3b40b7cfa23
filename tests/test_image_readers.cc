// Readers against the committed fixtures (fixtures/make-images.sh made them with the engine).

#include <doctest/doctest.h>

#include <string>

#include "stalecheck/image.h"

using stalecheck::FileType;
using stalecheck::ImageView;

namespace {

const std::string kImages = std::string(STALECHECK_FIXTURES) + "/images/";

absl::StatusOr<ImageView> Read(const std::string& target, const std::string& platform = "") {
  auto name = stalecheck::ParseTarget(target);
  REQUIRE(name.ok());
  return stalecheck::ReadImage(*name, {.jobs = 2, .platform = platform});
}

std::string Error(const std::string& target) {
  auto view = Read(target);
  REQUIRE_FALSE(view.ok());
  return std::string(view.status().message());
}

// The files of a view without the layer digests, for comparing formats.
std::map<std::string, std::string> Files(const ImageView& v) {
  std::map<std::string, std::string> out;
  for (const auto& [path, e] : v.files) {
    out[path] = std::string(stalecheck::FileTypeName(e.file.type)) + " " + std::to_string(e.file.mode) + " " +
                e.file.digest.Hex() + " " + e.file.target + " layer " + std::to_string(e.layer);
  }
  return out;
}

}  // namespace

TEST_SUITE("image") {
  TEST_CASE("a bare path picks the reader") {
    CHECK(stalecheck::ParseTarget(kImages + "small.tar")->transport == "docker-archive");
    CHECK(stalecheck::ParseTarget(kImages + "layered-oci-gzip")->transport == "oci");
    CHECK(stalecheck::ParseTarget("app:dev")->transport == "docker-daemon");
    CHECK(stalecheck::ParseTarget("docker://127.0.0.1:5000/app:1")->ref == "127.0.0.1:5000/app:1");
    CHECK_FALSE(stalecheck::ParseTarget(kImages).ok());  // a directory without oci-layout
  }

  TEST_CASE("docker save, OCI gzip and OCI zstd give the same filesystem") {
    auto archive = Read(kImages + "layered.tar.gz");
    auto gz = Read("oci:" + kImages + "layered-oci-gzip");
    auto zst = Read("oci:" + kImages + "layered-oci-zstd:layered");
    REQUIRE(archive.ok());
    REQUIRE(gz.ok());
    REQUIRE(zst.ok());
    CHECK(Files(*archive) == Files(*gz));
    CHECK(Files(*gz) == Files(*zst));
    CHECK(archive->layers.size() == 6);
    CHECK(zst->layers[2].compression == "zstd");
    CHECK(gz->layers[2].compression == "gzip");
  }

  TEST_CASE("the layered fixture shows whiteouts, an opaque directory, hard links and history") {
    auto v = Read(kImages + "layered.tar.gz");
    REQUIRE(v.ok());
    CHECK(v->files.count("/app/remove-me.txt") == 0);
    CHECK(v->files.count("/app/sub/util.py") == 0);
    CHECK(v->files.count("/app/sub/old.txt") == 0);
    CHECK(v->files.at("/app/sub/new.txt").layer == 4);
    CHECK(v->files.at("/app/main.py").layer == 2);
    CHECK(v->files.at("/app/main.py").file.digest == stalecheck::HashBytes("print(\"v1\")\n"));
    CHECK(v->files.at("/data/b").file.digest == v->files.at("/data/a").file.digest);
    CHECK(v->files.at("/data/main-link").file.type == FileType::kSymlink);
    CHECK(v->files.at("/data/main-link").file.target == "../app/main.py");
    CHECK(v->files.at("/bin/sh").file.target == "busybox");
    REQUIRE(v->layers[2].created_by.has_value());
    CHECK(*v->layers[2].created_by == "COPY app/ /app/ # buildkit");
    CHECK(*v->layers[1].created_by == "WORKDIR /app");
    CHECK(v->image_id.has_value());
  }

  TEST_CASE("a nested multi-platform index is resolved by platform, attestations skipped") {
    auto amd = Read("oci:" + kImages + "multi-oci:multi", "linux/amd64");
    REQUIRE(amd.ok());
    CHECK(amd->files.count("/app/main.py") == 1);
    auto arm = Read("oci:" + kImages + "multi-oci", "linux/arm64");
    REQUIRE(arm.ok());
    CHECK(arm->files.size() == 1);
    CHECK(arm->files.count("/hello.txt") == 1);
    auto none = Read("oci:" + kImages + "multi-oci", "linux/s390x");
    REQUIRE_FALSE(none.ok());
    CHECK(std::string(none.status().message()).find("linux/s390x") != std::string::npos);
  }

  TEST_CASE("a flat tar is one layer with no history") {
    auto v = Read("tar:" + kImages + "small.tar");
    REQUIRE(v.ok());
    CHECK(v->layers.size() == 1);
    CHECK_FALSE(v->image_id.has_value());
    CHECK(v->files.count("/manifest.json") == 1);
  }

  TEST_CASE("broken images are errors that say what is broken") {
    CHECK(Error(kImages + "broken-truncated.tar").find("runcated") != std::string::npos);
    CHECK(Error("oci:" + kImages + "broken-digest-oci").find("digest mismatch") != std::string::npos);
    CHECK(Error("oci:" + kImages + "broken-missing-oci").find("missing blob") != std::string::npos);
    CHECK(Error("oci:" + kImages + "layered-oci-gzip:nosuchtag").find("nosuchtag") != std::string::npos);
    CHECK(Error("docker-archive:" + kImages + "layered-oci-gzip/index.json").find("not a docker save archive") !=
          std::string::npos);
  }
}
