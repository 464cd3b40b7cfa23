// The streaming object reader against repositories that git itself wrote: loose objects,
// packs with offset and reference deltas, several compression levels, corrupt packs.

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "src/git/object_reader.h"
#include "stalecheck/context.h"
#include "test_helpers.h"

using stalecheck::git::HexOf;
using stalecheck::git::ObjectId;
using stalecheck::git::ObjectReader;
using stalecheck::git::ReadScratch;
using stalecheck::testing::Git;
using stalecheck::testing::Sh;
using stalecheck::testing::TempDir;

namespace {

// What a shell command prints, without the trailing newline.
std::string Output(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  ::pclose(f);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

ObjectId IdOf(const TempDir& d, const std::string& rev) {
  std::string hex = Output("cd '" + d.path() + "' && git rev-parse '" + rev + "'");
  REQUIRE(hex.size() == 40);
  ObjectId id;
  for (int i = 0; i < 20; ++i)
    id.bytes[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return id;
}

std::unique_ptr<ObjectReader> OpenObjects(const TempDir& d) {
  return ObjectReader::Open(d / ".git/objects");
}

// The blob's bytes as the reader streams them; fails the test on an error.
std::string ReadAll(const ObjectReader& reader, const ObjectId& id) {
  ReadScratch scratch;
  std::string out;
  auto n = reader.ReadBlob(
      id, scratch, [&](absl::string_view piece) { out.append(piece.data(), piece.size()); });
  REQUIRE_MESSAGE(n.ok(), n.status().ToString());
  CHECK(*n == out.size());
  return out;
}

// Lines of text that compress and deltify like source code; `seed` varies them.
std::string Source(int lines, int seed) {
  std::ostringstream s;
  for (int i = 0; i < lines; ++i) {
    s << "static int function_" << i << "(int x) { return x * " << (i * 7 + seed) % 1000 << " + "
      << i % 13 << "; }\n";
  }
  return s.str();
}

// Bytes that do not compress: deflate has to store them.
std::string Noise(size_t size, uint32_t seed) {
  std::string out(size, '\0');
  for (char& c : out) {
    seed = seed * 1103515245u + 12345u;
    c = static_cast<char>(seed >> 24);
  }
  return out;
}

// Commits each version of `path` in turn; returns the versions.
void CommitVersions(const TempDir& d, const std::string& path,
                    const std::vector<std::string>& versions) {
  for (size_t i = 0; i < versions.size(); ++i) {
    d.Write(path, versions[i]);
    Git(d, "add -A");
    Git(d, "commit -qm v" + std::to_string(i));
  }
}

}  // namespace

TEST_SUITE("git objects") {
  TEST_CASE("a loose blob streams with its exact bytes") {
    TempDir d;
    Git(d, "init -q .");
    std::string text = Source(50, 1);
    CommitVersions(d, "a.c", {text});
    auto reader = OpenObjects(d);
    ObjectId id = IdOf(d, "HEAD:a.c");
    CHECK(ReadAll(*reader, id) == text);
    auto storage = reader->Storage(id);
    REQUIRE(storage.ok());
    CHECK_FALSE(storage->packed);
  }

  TEST_CASE("packed blobs read back exactly, whole and as offset deltas several deep") {
    TempDir d;
    Git(d, "init -q .");
    // Each version is shorter than the one before: git deltifies the smaller against the
    // larger, so the newest version ends a chain.
    std::vector<std::string> versions;
    for (int v = 0; v < 6; ++v) versions.push_back(Source(3000 - 200 * v, v == 0 ? 0 : 1));
    CommitVersions(d, "lib.c", versions);
    Git(d, "repack -adf -q --depth=50 --window=50");
    auto reader = OpenObjects(d);
    for (size_t v = 0; v < versions.size(); ++v) {
      std::string rev = "HEAD~" + std::to_string(versions.size() - 1 - v) + ":lib.c";
      CAPTURE(rev);
      CHECK(ReadAll(*reader, IdOf(d, rev)) == versions[v]);
    }
    auto head = reader->Storage(IdOf(d, "HEAD:lib.c"));
    REQUIRE(head.ok());
    CHECK(head->packed);
    CHECK(head->pack_type == 6);
    CHECK(head->delta_depth >= 2);
    auto first = reader->Storage(IdOf(d, "HEAD~5:lib.c"));
    REQUIRE(first.ok());
    CHECK(first->pack_type == 3);
  }

  TEST_CASE("reference deltas read back exactly") {
    TempDir d;
    Git(d, "init -q .");
    std::vector<std::string> versions = {Source(2000, 0), Source(1900, 3), Source(1800, 3)};
    CommitVersions(d, "x.c", versions);
    Git(d, "-c repack.useDeltaBaseOffset=false repack -adf -q");
    auto reader = OpenObjects(d);
    auto head = reader->Storage(IdOf(d, "HEAD:x.c"));
    REQUIRE(head.ok());
    CHECK(head->pack_type == 7);
    CHECK(ReadAll(*reader, IdOf(d, "HEAD:x.c")) == versions[2]);
    CHECK(ReadAll(*reader, IdOf(d, "HEAD~1:x.c")) == versions[1]);
  }

  TEST_CASE("large blobs stream whole, and a delta of a large base is built from it") {
    TempDir d;
    Git(d, "init -q .");
    // 3 MiB of noise is larger than the read chunk and the small-object limit; the second
    // version (an insertion near the end) becomes a delta of it.
    std::string big = Noise(3 << 20, 7);
    std::string edited =
        big.substr(0, (3 << 20) - 100) + "an edit" + big.substr((3 << 20) - 100, 50);
    CommitVersions(d, "blob.bin", {big, edited});
    d.Write("blob2.bin", Noise(2 << 20, 9));
    Git(d, "add -A");
    Git(d, "commit -qm more");
    Git(d, "repack -adf -q");
    auto reader = OpenObjects(d);
    CHECK(ReadAll(*reader, IdOf(d, "HEAD~2:blob.bin")) == big);
    CHECK(ReadAll(*reader, IdOf(d, "HEAD:blob.bin")) == edited);
    auto deltas = reader->Storage(IdOf(d, "HEAD:blob.bin"));
    auto whole = reader->Storage(IdOf(d, "HEAD~2:blob.bin"));
    REQUIRE(deltas.ok());
    REQUIRE(whole.ok());
    // git picks the larger version as the base.
    CHECK(whole->pack_type == 3);
    CHECK(deltas->delta_depth == 1);

    // The same through the context walk, on several threads at once.
    auto rev = stalecheck::LoadContext({.dir = d.path(), .rev = "HEAD", .jobs = 4});
    REQUIRE(rev.ok());
    REQUIRE(rev->entries.size() == 2);
    CHECK(rev->entries[0].digest == stalecheck::HashBytes(edited));
    CHECK(rev->entries[0].size == edited.size());
    CHECK(rev->entries[1].digest == stalecheck::HashBytes(Noise(2 << 20, 9)));
  }

  TEST_CASE("a delta of a base too large to keep copies its ranges from the streamed base") {
    TempDir d;
    Git(d, "init -q .");
    // A 10 MiB base, and a version that moves, repeats and overlaps ranges of it: the
    // delta copies from the base out of order.
    constexpr size_t kMiB = 1 << 20;
    std::string big = Noise(10 * kMiB, 11);
    std::string edited = big.substr(5 * kMiB, kMiB / 2) + big.substr(0, 4 * kMiB) + "inserted" +
                         big.substr(4 * kMiB + 10, 5 * kMiB) + big.substr(100, 200000) +
                         big.substr(10 * kMiB - 70000);
    REQUIRE(edited.size() < big.size());
    CommitVersions(d, "huge.bin", {big, edited});
    Git(d, "repack -adf -q");
    auto reader = OpenObjects(d);
    auto storage = reader->Storage(IdOf(d, "HEAD:huge.bin"));
    REQUIRE(storage.ok());
    REQUIRE(storage->delta_depth == 1);
    CHECK(ReadAll(*reader, IdOf(d, "HEAD:huge.bin")) == edited);
    CHECK(ReadAll(*reader, IdOf(d, "HEAD~1:huge.bin")) == big);
  }

  TEST_CASE("every compression level git writes reads back") {
    for (int level : {0, 1, 9}) {
      CAPTURE(level);
      TempDir d;
      Git(d, "init -q .");
      std::vector<std::string> versions = {Source(1500, 0), Source(1400, 5)};
      REQUIRE(Sh("cd '" + d.path() + "' && git config core.compression " + std::to_string(level)));
      CommitVersions(d, "c.c", versions);
      CHECK(ReadAll(*OpenObjects(d), IdOf(d, "HEAD:c.c")) == versions[1]);  // loose
      Git(d, "repack -adf -q");
      auto reader = OpenObjects(d);
      CHECK(ReadAll(*reader, IdOf(d, "HEAD:c.c")) == versions[1]);
      CHECK(ReadAll(*reader, IdOf(d, "HEAD~1:c.c")) == versions[0]);
    }
  }

  TEST_CASE("empty blobs and symlinks read back") {
    TempDir d;
    Git(d, "init -q .");
    d.Write("empty", "");
    REQUIRE(Sh("ln -s some/target '" + d / "link" + "'"));
    Git(d, "add -A");
    Git(d, "commit -qm one");
    CHECK(ReadAll(*OpenObjects(d), IdOf(d, "HEAD:empty")).empty());
    Git(d, "repack -adf -q");
    auto reader = OpenObjects(d);
    CHECK(ReadAll(*reader, IdOf(d, "HEAD:empty")).empty());
    CHECK(ReadAll(*reader, IdOf(d, "HEAD:link")) == "some/target");
  }

  TEST_CASE("a tree or an unknown id is not read as a blob") {
    TempDir d;
    Git(d, "init -q .");
    d.Write("dir/a", "a");
    Git(d, "add -A");
    Git(d, "commit -qm one");
    for (bool packed : {false, true}) {
      CAPTURE(packed);
      if (packed) Git(d, "repack -adf -q");
      auto reader = OpenObjects(d);
      ReadScratch scratch;
      auto tree = reader->ReadBlob(IdOf(d, "HEAD:dir"), scratch, [](absl::string_view) {});
      CHECK(absl::IsInvalidArgument(tree.status()));
      ObjectId unknown{};
      unknown.bytes[0] = 0xab;
      auto missing = reader->ReadBlob(unknown, scratch, [](absl::string_view) {});
      CHECK(absl::IsNotFound(missing.status()));
    }
  }

  TEST_CASE("corrupt pack data is an error naming the pack, never wrong bytes") {
    TempDir d;
    Git(d, "init -q .");
    std::string text = Noise(200000, 3);
    CommitVersions(d, "n.bin", {text});
    Git(d, "repack -adf -q");
    std::string pack = Output("ls '" + d.path() + "'/.git/objects/pack/*.pack");
    std::string hex = Output("cd '" + d.path() + "' && git rev-parse HEAD:n.bin");
    // verify-pack: "<id> blob <size> <size-in-pack> <offset>"
    std::istringstream row(
        Output("cd '" + d.path() + "' && git verify-pack -v '" + pack + "' | grep ^" + hex));
    std::string id, type;
    uint64_t size = 0, packed_size = 0, offset = 0;
    row >> id >> type >> size >> packed_size >> offset;
    REQUIRE(packed_size > 1000);
    REQUIRE(Sh("chmod u+w '" + pack + "'"));
    {
      std::fstream f(pack, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(offset + packed_size / 2));
      f.put('\x5a').put('\xa5').put('\x5a');
    }
    auto reader = OpenObjects(d);
    ReadScratch scratch;
    auto n = reader->ReadBlob(IdOf(d, "HEAD:n.bin"), scratch, [](absl::string_view) {});
    REQUIRE_FALSE(n.ok());
    CHECK(absl::IsDataLoss(n.status()));
    CHECK(std::string(n.status().message()).find(pack) != std::string::npos);

    auto rev = stalecheck::LoadContext({.dir = d.path(), .rev = "HEAD"});
    REQUIRE_FALSE(rev.ok());
    CHECK(std::string(rev.status().message()).find("n.bin") != std::string::npos);
  }

  TEST_CASE("an object whose bytes do not match its id is refused") {
    TempDir d;
    Git(d, "init -q .");
    d.Write("a", "one\n");
    d.Write("b", "two\n");
    Git(d, "add -A");
    Git(d, "commit -qm one");
    std::string a = HexOf(IdOf(d, "HEAD:a"));
    std::string b = HexOf(IdOf(d, "HEAD:b"));
    // b's loose object now holds a's (valid) zlib stream.
    std::string objects = d / ".git/objects/";
    std::string b_path = objects + b.substr(0, 2) + "/" + b.substr(2);
    REQUIRE(Sh("chmod u+w '" + b_path + "' && cp '" + objects + a.substr(0, 2) + "/" + a.substr(2) +
               "' '" + b_path + "'"));
    auto reader = OpenObjects(d);
    CHECK(ReadAll(*reader, IdOf(d, "HEAD:a")) == "one\n");
    ReadScratch scratch;
    auto n = reader->ReadBlob(IdOf(d, "HEAD:b"), scratch, [](absl::string_view) {});
    REQUIRE_FALSE(n.ok());
    CHECK(absl::IsDataLoss(n.status()));
    CHECK(std::string(n.status().message()).find(b) != std::string::npos);
  }

  TEST_CASE("a pack damaged anywhere gives an error or the exact bytes, never a crash") {
    TempDir d;
    Git(d, "init -q .");
    std::vector<std::string> versions = {Source(400, 0), Source(380, 4), Source(360, 4)};
    CommitVersions(d, "f.c", versions);
    d.Write("n.bin", Noise(5000, 1));
    Git(d, "add -A");
    Git(d, "commit -qm noise");
    Git(d, "repack -adf -q");
    std::vector<std::pair<ObjectId, std::string>> blobs = {{IdOf(d, "HEAD:f.c"), versions[2]},
                                                           {IdOf(d, "HEAD~2:f.c"), versions[1]},
                                                           {IdOf(d, "HEAD~3:f.c"), versions[0]},
                                                           {IdOf(d, "HEAD:n.bin"), Noise(5000, 1)}};
    std::string pack = Output("ls '" + d.path() + "'/.git/objects/pack/*.pack");
    REQUIRE(Sh("chmod u+w '" + pack + "'"));
    std::string original;
    {
      std::ifstream f(pack, std::ios::binary);
      original.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    }
    int errors = 0;
    for (size_t trial = 0; trial < 400; ++trial) {
      std::string damaged = original;
      size_t at = 12 + (trial * 7919) % (damaged.size() - 32);
      damaged[at] = static_cast<char>(damaged[at] ^ (1 + trial % 255));
      std::ofstream(pack, std::ios::binary | std::ios::trunc) << damaged;
      auto reader = OpenObjects(d);
      ReadScratch scratch;
      for (const auto& [id, bytes] : blobs) {
        std::string out;
        auto n = reader->ReadBlob(
            id, scratch, [&](absl::string_view piece) { out.append(piece.data(), piece.size()); });
        if (n.ok()) {
          CHECK(out == bytes);
        } else {
          ++errors;
        }
      }
    }
    CHECK(errors > 0);
  }

  TEST_CASE("objects found only through alternates are read through libgit2") {
    TempDir origin;
    Git(origin, "init -q .");
    std::vector<std::string> versions = {Source(800, 0), Source(700, 2)};
    CommitVersions(origin, "src/m.c", versions);
    Git(origin, "repack -adf -q");
    TempDir d;
    // A shared clone keeps no objects of its own: objects/info/alternates points at origin.
    REQUIRE(Sh("git clone -q --shared '" + origin.path() + "' '" + d.path() + "/c' 2>/dev/null"));
    REQUIRE(Sh("test -z \"$(ls '" + d.path() + "/c/.git/objects/pack')\""));
    auto rev = stalecheck::LoadContext({.dir = d / "c", .rev = "HEAD", .jobs = 2});
    REQUIRE(rev.ok());
    REQUIRE(rev->entries.size() == 2);
    CHECK(rev->entries[1].path == "src/m.c");
    CHECK(rev->entries[1].digest == stalecheck::HashBytes(versions[1]));
  }

  TEST_CASE("a pack with a version-1 index is left to libgit2") {
    TempDir d;
    Git(d, "init -q .");
    std::vector<std::string> versions = {Source(900, 0), Source(800, 8)};
    CommitVersions(d, "v1.c", versions);
    Git(d, "-c pack.indexVersion=1 repack -adf -q");
    REQUIRE(Sh("od -An -tx1 -N4 " + Output("ls '" + d.path() + "'/.git/objects/pack/*.idx") +
               " | grep -qv 'ff 74 4f 63'"));
    ReadScratch scratch;
    auto n = OpenObjects(d)->ReadBlob(IdOf(d, "HEAD:v1.c"), scratch, [](absl::string_view) {});
    CHECK(absl::IsNotFound(n.status()));
    auto rev = stalecheck::LoadContext({.dir = d.path(), .rev = "HEAD", .jobs = 2});
    REQUIRE(rev.ok());
    REQUIRE(rev->entries.size() == 1);
    CHECK(rev->entries[0].digest == stalecheck::HashBytes(versions[1]));
  }

  TEST_CASE("a linked worktree reads the objects of the repository it belongs to") {
    TempDir d;
    Git(d, "init -q main");
    std::vector<std::string> versions = {Source(600, 0), Source(500, 6)};
    for (size_t i = 0; i < versions.size(); ++i) {
      d.Write("main/w.c", versions[i]);
      Git(d, "-C main add -A");
      Git(d, "-C main commit -qm v" + std::to_string(i));
    }
    Git(d, "-C main repack -adf -q");
    Git(d, "-C main worktree add -q ../linked -b linked");
    auto rev = stalecheck::LoadContext({.dir = d / "linked", .rev = "HEAD~1", .jobs = 2});
    REQUIRE(rev.ok());
    REQUIRE(rev->entries.size() == 1);
    CHECK(rev->entries[0].digest == stalecheck::HashBytes(versions[0]));
  }

  TEST_CASE("a packed repository with deltas fingerprints the same as its checkout") {
    TempDir d;
    Git(d, "init -q .");
    for (int v = 0; v < 4; ++v) {
      for (int f = 0; f < 12; ++f)
        d.Write("dir" + std::to_string(f % 3) + "/f" + std::to_string(f) + ".c",
                Source(300 + 40 * f - 30 * v, v + f));
      d.Write("bin/data" + std::to_string(v), Noise(70000, static_cast<uint32_t>(v)));
      Git(d, "add -A");
      Git(d, "commit -qm v" + std::to_string(v));
    }
    Git(d, "repack -adf -q --depth=10 --window=20");
    REQUIRE(Sh("rm -rf '" + d.path() + "/.git/hooks'"));
    d.Write(".dockerignore", ".git\n");
    Git(d, "add .dockerignore");
    Git(d, "commit -qm ignore");
    auto rev = stalecheck::LoadContext({.dir = d.path(), .rev = "HEAD", .jobs = 3});
    auto work = stalecheck::LoadContext({.dir = d.path(), .jobs = 3});
    REQUIRE(rev.ok());
    REQUIRE(work.ok());
    CHECK(stalecheck::testing::PathsOf(rev->entries) ==
          stalecheck::testing::PathsOf(work->entries));
    CHECK(rev->root == work->root);
  }
}
