#include <doctest/doctest.h>

#include "stalecheck/compare.h"
#include "test_helpers.h"

using stalecheck::FileEntry;
using stalecheck::FileType;
using stalecheck::ImageView;

namespace {

FileEntry F(const std::string& path, const std::string& data, uint32_t mode = 0644) {
  return stalecheck::testing::FileOf(path, data, mode);
}

FileEntry L(const std::string& path, const std::string& target) {
  FileEntry e;
  e.path = path;
  e.type = FileType::kSymlink;
  e.mode = 0777;
  e.target = target;
  e.digest = stalecheck::HashBytes(target);
  return e;
}

// An image: layer 0 base (RUN), layer 1 "COPY app/ /app/", layer 2 a RUN.
ImageView Image(const std::vector<std::pair<FileEntry, int>>& files) {
  ImageView v;
  v.transport = "test";
  for (int i = 0; i < 3; ++i) {
    stalecheck::LayerInfo l;
    l.index = i;
    l.created_by = i == 1 ? "COPY app/ /app/ # buildkit" : "RUN /bin/sh -c true # buildkit";
    v.layers.push_back(l);
  }
  for (const auto& [e, layer] : files) {
    stalecheck::ViewEntry ve;
    ve.file = e;
    ve.file.path = e.path;
    ve.layer = layer;
    v.files[e.path] = ve;
  }
  return v;
}

stalecheck::CheckResult Check(const std::vector<FileEntry>& context, const ImageView& image) {
  auto df = stalecheck::ParseDockerfile("FROM scratch\nCOPY app/ /app/\n", "Dockerfile");
  REQUIRE(df.ok());
  auto plan = stalecheck::BuildCopyPlan(*df, context, {});
  REQUIRE(plan.ok());
  return stalecheck::Compare(*plan, image, {});
}

std::vector<std::string> Statuses(const stalecheck::CheckResult& r) {
  std::vector<std::string> out;
  for (const auto& f : r.findings) out.push_back(f.status + " " + f.path.value_or("-"));
  return out;
}

FileEntry D(const std::string& path) { return stalecheck::testing::DirOf(path); }

}  // namespace

TEST_SUITE("compare") {
  TEST_CASE("a fresh image has no findings") {
    auto r = Check({D("app"), F("app/a.py", "a")}, Image({{D("/app"), 1}, {F("/app/a.py", "a"), 1}}));
    CHECK(r.findings.empty());
    CHECK_FALSE(r.stale);
  }

  TEST_CASE("stale, missing, extra, mode and type, each with its layer") {
    auto r = Check({D("app"), F("app/a.py", "new"), F("app/b.py", "b"), F("app/run.sh", "x", 0755), L("app/l", "a.py")},
                   Image({{D("/app"), 1},
                          {F("/app/a.py", "old"), 1},
                          {F("/app/gone.py", "g"), 1},
                          {F("/app/run.sh", "x", 0644), 1},
                          {L("/app/l", "b.py"), 1}}));
    CHECK(Statuses(r) == std::vector<std::string>{"stale /app/a.py", "missing /app/b.py", "extra /app/gone.py", "type /app/l",
                                                  "mode /app/run.sh"});
    CHECK(r.findings[0].layer == 1);
    CHECK(r.findings[0].step == 0);
    CHECK(r.findings[0].expected == stalecheck::HashBytes("new").ToString());
    CHECK(r.stale);
  }

  TEST_CASE("a later RUN layer that changed a copied file is no finding") {
    auto r = Check({D("app"), F("app/a.py", "a"), F("app/run.sh", "x", 0644)},
                   Image({{D("/app"), 1}, {F("/app/a.py", "sed -i'd"), 2}, {F("/app/run.sh", "x", 0755), 2}}));
    CHECK(r.findings.empty());
  }

  TEST_CASE("files no context copy put there are never findings") {
    auto r = Check({D("app"), F("app/a.py", "a")},
                   Image({{D("/app"), 1}, {F("/app/a.py", "a"), 1}, {F("/etc/passwd", "root"), 0}, {F("/app/gen.txt", "g"), 2}}));
    CHECK(r.findings.empty());
  }

  TEST_CASE("--map claims the whole destination, without layers") {
    std::vector<FileEntry> ctx = {D("src"), F("src/a.py", "a")};
    auto plan = stalecheck::PlanFromMaps({{"src", "/app"}}, ctx);
    ImageView flat;
    flat.layers.push_back({});
    for (auto e : {F("/app/a.py", "a"), F("/app/left.py", "l"), F("/other", "o")}) flat.files[e.path] = {e, 0};
    auto r = stalecheck::Compare(plan, flat, {.claims_whole_dest = true});
    CHECK(Statuses(r) == std::vector<std::string>{"extra /app/left.py"});
  }

  TEST_CASE("an orphaned __pycache__ entry is bytecode") {
    FileEntry pyc = F("/app/__pycache__/gone.cpython-311.pyc", "x");
    pyc.head = std::string("\xa7\x0d\x0d\x0a", 4) + std::string(12, '\0');
    auto r = Check({D("app"), F("app/a.py", "a")}, Image({{D("/app"), 1}, {F("/app/a.py", "a"), 1}, {pyc, 2}}));
    CHECK(Statuses(r) == std::vector<std::string>{"bytecode /app/__pycache__/gone.cpython-311.pyc"});
  }

  TEST_CASE("bytecode a context copy put there but the context lacks is judged by its source, not extra") {
    // The pyc of a.py matches it (unchecked-hash: trusted); gone.py's pyc is orphaned; a
    // non-bytecode file in __pycache__ is extra as any other.
    const std::string unchecked = std::string("\xa7\x0d\x0d\x0a\x01", 5) + std::string(11, '\0');
    FileEntry pyc = F("/app/__pycache__/a.cpython-311.pyc", "x");
    pyc.head = unchecked;
    FileEntry orphan = F("/app/__pycache__/gone.cpython-311.pyc", "y");
    orphan.head = unchecked;
    auto r = Check({D("app"), F("app/a.py", "a")},
                   Image({{D("/app"), 1}, {F("/app/a.py", "a"), 1}, {D("/app/__pycache__"), 1}, {pyc, 1},
                          {orphan, 1}, {F("/app/__pycache__/notes.txt", "n"), 1}}));
    CHECK(Statuses(r) == std::vector<std::string>{"bytecode /app/__pycache__/gone.cpython-311.pyc",
                                                  "extra /app/__pycache__/notes.txt"});
  }
}
