#include <doctest/doctest.h>

#include "absl/strings/str_join.h"
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

constexpr const char* kDockerfile = "FROM scratch\nCOPY app/ /app/\nRUN true\n";

// An image: layer 0 a base image, layer 1 "COPY app/ /app/", layer 2 "RUN true". Each entry
// is written by its layer; the final view holds the top-most version of each path, less what
// `deleted` (by layer 2) names.
ImageView Image(const std::vector<std::pair<FileEntry, int>>& files, const std::vector<std::string>& deleted = {}) {
  ImageView v;
  v.transport = "test";
  v.changes.resize(3);
  for (int i = 0; i < 3; ++i) {
    stalecheck::LayerInfo l;
    l.index = i;
    stalecheck::HistoryEntry h;
    h.layer = i;
    if (i == 1) h.created_by = "COPY app/ /app/ # buildkit";
    if (i == 2) h.created_by = "RUN /bin/sh -c true # buildkit";
    l.created_by = h.created_by;
    v.layers.push_back(l);
    v.history.push_back(h);
  }
  v.changes[2].whiteouts = deleted;
  for (const auto& [e, layer] : files) {
    v.changes[static_cast<size_t>(layer)].entries.push_back(e);
    auto it = v.files.find(e.path);
    if (it == v.files.end() || it->second.layer <= layer) v.files[e.path] = {e, layer};
  }
  for (const std::string& d : deleted) {
    for (auto it = v.files.begin(); it != v.files.end();) {
      it = it->first == d || it->first.rfind(d + "/", 0) == 0 ? v.files.erase(it) : std::next(it);
    }
  }
  return v;
}

stalecheck::CheckResult Check(const std::vector<FileEntry>& context, const ImageView& image,
                              const char* dockerfile = kDockerfile) {
  auto df = stalecheck::ParseDockerfile(dockerfile, "Dockerfile");
  REQUIRE(df.ok());
  auto plan = stalecheck::BuildCopyPlan(*df, context, {});
  REQUIRE(plan.ok());
  auto result = stalecheck::Compare(*plan, image, {});
  REQUIRE(result.ok());
  return *result;
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

  TEST_CASE("a later RUN layer that changed a fresh copy is no finding") {
    auto r = Check({D("app"), F("app/a.py", "a"), F("app/run.sh", "x", 0644)},
                   Image({{D("/app"), 1}, {F("/app/a.py", "a"), 1}, {F("/app/run.sh", "x", 0644), 1},
                          {F("/app/a.py", "sed -i'd"), 2}, {F("/app/run.sh", "x", 0755), 2}}));
    CHECK(r.findings.empty());
  }

  TEST_CASE("a later RUN layer over a stale copy hides nothing, and is named") {
    // RUN chown -R rewrites every file into its own layer; the copy layer still holds the
    // version the context had at build time.
    auto r = Check({D("app"), F("app/a.py", "new"), F("app/b.py", "b")},
                   Image({{D("/app"), 1}, {F("/app/a.py", "old"), 1}, {F("/app/b.py", "b"), 1}, {D("/app"), 2},
                          {F("/app/a.py", "old"), 2}, {F("/app/b.py", "b"), 2}}));
    REQUIRE(Statuses(r) == std::vector<std::string>{"stale /app/a.py"});
    CHECK(r.findings[0].layer == 1);
    CHECK(r.findings[0].changed_by == 2);
    CHECK(r.findings[0].actual == stalecheck::HashBytes("old").ToString());
  }

  TEST_CASE("a path a later layer deleted is no finding, stale or missing") {
    auto r = Check({D("app"), F("app/a.py", "a"), D("app/tests"), F("app/tests/t.py", "changed"),
                    F("app/tests/new.py", "n")},
                   Image({{D("/app"), 1}, {F("/app/a.py", "a"), 1}, {D("/app/tests"), 1}, {F("/app/tests/t.py", "t"), 1}},
                         {"/app/tests"}));
    INFO(absl::StrJoin(Statuses(r), ", "));
    CHECK(r.findings.empty());
    CHECK(std::count(r.compared.begin(), r.compared.end(), "/app/a.py") == 1);
  }

  TEST_CASE("a file the copy wrote and the context lost is extra even under a later RUN") {
    auto r = Check({D("app"), F("app/a.py", "a")},
                   Image({{D("/app"), 1}, {F("/app/a.py", "a"), 1}, {F("/app/gone.py", "g"), 1}, {F("/app/gone.py", "g"), 2}}));
    REQUIRE(Statuses(r) == std::vector<std::string>{"extra /app/gone.py"});
    CHECK(r.findings[0].changed_by == 2);
  }

  TEST_CASE("a layer that left out an unchanged directory still shows the version below it") {
    // A layer is a diff: a directory whose metadata the copy did not change may be absent.
    auto r = Check({D("app"), D("app/sub"), F("app/sub/x", "x")},
                   Image({{D("/app"), 0}, {D("/app/sub"), 0}, {F("/app/sub/x", "x"), 1}}));
    CHECK(r.findings.empty());
  }

  TEST_CASE("an image whose copy history does not fit the Dockerfile is an error") {
    auto df = stalecheck::ParseDockerfile("FROM scratch\nCOPY . /srv/\nRUN true\n", "Dockerfile");
    REQUIRE(df.ok());
    auto plan = stalecheck::BuildCopyPlan(*df, {F("a.py", "a")}, {});
    REQUIRE(plan.ok());
    auto result = stalecheck::Compare(*plan, Image({{F("/app/a.py", "a"), 1}}), {});
    REQUIRE_FALSE(result.ok());
    const std::string msg(result.status().message());
    CHECK(msg.find("layer 1 (COPY app/ /app/ # buildkit) is not Dockerfile:2 (COPY . /srv/)") != std::string::npos);
  }

  TEST_CASE("a stage that copies nothing from the context is an error, not fresh") {
    auto df = stalecheck::ParseDockerfile("FROM scratch AS build\nRUN true\nFROM scratch\nCOPY --from=build /x /x\n",
                                          "Dockerfile");
    REQUIRE(df.ok());
    auto plan = stalecheck::BuildCopyPlan(*df, {F("a.py", "a")}, {});
    REQUIRE(plan.ok());
    ImageView v = Image({});
    v.history = {{"COPY /x /x # buildkit", std::nullopt, std::nullopt, 0}};
    v.changes[0].entries = {F("/x", "made by RUN")};
    auto result = stalecheck::Compare(*plan, v, {});
    REQUIRE_FALSE(result.ok());
    CHECK(std::string(result.status().message()).find("nothing of the build context reaches this image") !=
          std::string::npos);
  }

  TEST_CASE("files no context copy put there are never findings") {
    auto r = Check({D("app"), F("app/a.py", "a")},
                   Image({{D("/app"), 1}, {F("/app/a.py", "a"), 1}, {F("/etc/passwd", "root"), 0}, {F("/app/gen.txt", "g"), 2}}));
    CHECK(r.findings.empty());
  }

  TEST_CASE("--map claims the whole destination, without layers") {
    std::vector<FileEntry> ctx = {D("src"), F("src/a.py", "a")};
    auto plan = stalecheck::PlanFromMaps({{"src", "/app"}}, ctx);
    REQUIRE(plan.ok());
    ImageView flat;
    flat.flat = true;
    flat.layers.push_back({});
    for (auto e : {F("/app/a.py", "a"), F("/app/left.py", "l"), F("/other", "o")}) flat.files[e.path] = {e, 0};
    auto r = stalecheck::Compare(*plan, flat, {.claims_whole_dest = true});
    REQUIRE(r.ok());
    CHECK(Statuses(*r) == std::vector<std::string>{"extra /app/left.py"});
  }

  TEST_CASE("--map of a file maps it to DEST, or into DEST/; a SRC the context lacks is an error") {
    std::vector<FileEntry> ctx = {D("conf"), F("conf/app.ini", "a")};
    auto as_file = stalecheck::PlanFromMaps({{"conf/app.ini", "/etc/app.ini"}}, ctx);
    REQUIRE(as_file.ok());
    REQUIRE(as_file->files.size() == 1);
    CHECK(as_file->files[0].path == "/etc/app.ini");
    auto into = stalecheck::PlanFromMaps({{"conf/app.ini", "/etc", true}}, ctx);
    REQUIRE(into.ok());
    CHECK(into->files[0].path == "/etc/app.ini");
    auto typo = stalecheck::PlanFromMaps({{"cnof", "/etc"}}, ctx);
    REQUIRE_FALSE(typo.ok());
    CHECK(std::string(typo.status().message()).find("the build context has no cnof") != std::string::npos);
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

namespace {

// The image above with a container's runtime layers on top: layer 3 what changed inside it,
// layer 4 a mount over /app/conf (an opaque directory, its files).
ImageView WithRuntime(ImageView v, const std::vector<FileEntry>& changed, const std::vector<std::string>& deleted,
                      const std::vector<FileEntry>& mounted) {
  v.changes.resize(5);
  v.runtime = {{"container", -1}, {"mount", 0}};
  stalecheck::ContainerInfo c;
  c.mounts.push_back({"bind", "", "/host/conf", "/app/conf", true});
  v.container = c;
  v.changes[3].whiteouts = deleted;
  for (const std::string& d : deleted) v.files.erase(d);
  for (const FileEntry& e : changed) {
    v.changes[3].entries.push_back(e);
    v.files[e.path] = {e, 3};
  }
  v.changes[4].opaque_dirs = {"/app/conf"};
  for (auto it = v.files.lower_bound("/app/conf/"); it != v.files.end() && it->first.rfind("/app/conf/", 0) == 0;) {
    it = v.files.erase(it);
  }
  for (const FileEntry& e : mounted) {
    v.changes[4].entries.push_back(e);
    v.files[e.path] = {e, 4};
  }
  return v;
}

std::vector<std::string> Origins(const stalecheck::CheckResult& r) {
  std::vector<std::string> out;
  for (const auto& f : r.findings) {
    out.push_back(absl::StrCat(f.status, " ", f.path.value_or("-"), " ", f.origin,
                               f.layer ? absl::StrCat(" layer ", *f.layer) : std::string(),
                               f.mount ? absl::StrCat(" mount ", *f.mount) : std::string()));
  }
  return out;
}

}  // namespace

TEST_SUITE("compare: containers") {
  const std::vector<FileEntry> context = {D("app"), F("app/a.py", "a"), F("app/b.py", "b"), D("app/conf"),
                                          F("app/conf/c.ini", "c"), F("app/d.py", "d")};
  ImageView image() {
    return Image({{D("/app"), 1}, {F("/app/a.py", "a"), 1}, {F("/app/b.py", "b"), 1}, {D("/app/conf"), 1},
                  {F("/app/conf/c.ini", "c"), 1}, {F("/app/d.py", "old"), 1}});
  }

  TEST_CASE("what a container shows is judged: its own changes, its mounts, its image's layers") {
    ImageView v = WithRuntime(image(), {F("/app/a.py", "edited"), F("/app/new.py", "n")}, {"/app/b.py"},
                              {D("/app/conf"), F("/app/conf/c.ini", "host")});
    CHECK(Origins(Check(context, v)) == std::vector<std::string>{"stale /app/a.py container", "missing /app/b.py container",
                                                                 "stale /app/conf/c.ini mount mount 0",
                                                                 "stale /app/d.py layer layer 1"});
  }

  TEST_CASE("a change inside the container that matches the context is no finding, even over a stale layer") {
    ImageView v = WithRuntime(image(), {F("/app/d.py", "d")}, {}, {D("/app/conf"), F("/app/conf/c.ini", "c")});
    CHECK(Check(context, v).findings.empty());
  }

  TEST_CASE("a mount that lacks a copied file makes it missing, from the mount") {
    ImageView v = WithRuntime(image(), {F("/app/d.py", "d")}, {}, {D("/app/conf")});
    CHECK(Origins(Check(context, v)) == std::vector<std::string>{"missing /app/conf/c.ini mount mount 0"});
  }

  TEST_CASE("a copied file the context lost, still in the container, is extra from the layer that put it there") {
    ImageView v = WithRuntime(image(), {F("/app/d.py", "d")}, {}, {D("/app/conf"), F("/app/conf/c.ini", "c")});
    std::vector<FileEntry> fewer = context;
    fewer.erase(fewer.begin() + 1);  // app/a.py
    CHECK(Origins(Check(fewer, v)) == std::vector<std::string>{"extra /app/a.py layer layer 1"});
  }
}
