#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "src/git/checkout.h"
#include "stalecheck/context.h"
#include "test_helpers.h"

using stalecheck::testing::Git;
using stalecheck::testing::TempDir;

namespace {

// Makes `dir` in `d` a repository whose one commit holds everything written there.
void InitAndCommit(const TempDir& d, const std::string& dir) {
  Git(d, "-C " + dir + " init -q .");
  Git(d, "-C " + dir + " add -A");
  Git(d, "-C " + dir + " commit -qm one");
}

// (path, type, mode, size, digest) of every entry outside git's own .git.
std::vector<std::string> Listing(const stalecheck::Context& c) {
  std::vector<std::string> out;
  for (const auto& e : c.entries) {
    if (e.path == ".git" || e.path.rfind(".git/", 0) == 0) continue;
    out.push_back(e.path + " " + std::to_string(static_cast<int>(e.type)) + " " + std::to_string(e.mode) + " " +
                  std::to_string(e.size) + " " + e.digest.ToString());
  }
  return out;
}

// What `git clone` checks out of `repo` (with `clone_args`, such as config), as the engine
// would be sent it, next to what --rev HEAD reads from `repo` itself.
struct RevAndClone {
  std::vector<std::string> rev, clone;
};
RevAndClone Compare(const TempDir& d, const std::string& repo, const std::string& clone_args = "") {
  static int n = 0;
  const std::string clone = "clone" + std::to_string(++n);
  Git(d, "clone -q " + clone_args + " '" + d / repo + "' " + clone);
  auto rev = stalecheck::LoadContext({.dir = d / repo, .rev = "HEAD", .jobs = 2});
  REQUIRE(rev.ok());
  auto work = stalecheck::LoadContext({.dir = d / clone, .jobs = 2});
  REQUIRE(work.ok());
  return {Listing(*rev), Listing(*work)};
}

}  // namespace

TEST_SUITE("git checkout conversions") {
  TEST_CASE("eol=crlf and ident are applied as a fresh clone applies them, with the revision's attributes") {
    TempDir d;
    d.Write("r/.gitattributes", "*.txt text eol=crlf\n*.c ident\n*.bin -text\n");
    d.Write("r/a.txt", "one\ntwo\n");
    d.Write("r/mixed.txt", "one\r\ntwo\n");
    d.Write("r/id.c", "/* $Id$ */\n");
    d.Write("r/data.bin", "x\ny\n");
    d.Write("r/plain", "p\nq\n");
    InitAndCommit(d, "r");
    // The working tree's attributes are not the revision's, and are not used.
    d.Write("r/.gitattributes", "* -text\n");
    RevAndClone c = Compare(d, "r");
    CHECK(c.rev == c.clone);
    auto rev = stalecheck::LoadContext({.dir = d / "r", .rev = "HEAD", .jobs = 1});
    REQUIRE(rev.ok());
    CHECK(rev->entries[1].path == "a.txt");
    CHECK(rev->entries[1].digest == stalecheck::HashBytes("one\r\ntwo\r\n"));
    CHECK(rev->entries[2].path == "data.bin");
    CHECK(rev->entries[2].digest == stalecheck::HashBytes("x\ny\n"));
    // What check reads back (Python sources for bytecode, ADD archives) is the same checkout.
    CHECK(stalecheck::testing::FirstUnreadableFile(*rev) == "");
    CHECK(*rev->read_file("a.txt") == "one\r\ntwo\r\n");
    // A revision that names a tree, not a commit, has the same attributes.
    auto tree = stalecheck::LoadContext({.dir = d / "r", .rev = "HEAD^{tree}", .jobs = 2});
    REQUIRE(tree.ok());
    CHECK(tree->root == rev->root);
  }

  TEST_CASE("core.autocrlf=true converts text files and leaves binary ones, as its clone does") {
    TempDir d;
    d.Write("r/a.txt", "one\ntwo\n");
    d.Write("r/b.bin", std::string("\0\1\n\2", 4));
    d.Write("r/sub/c.md", "x\n");
    InitAndCommit(d, "r");
    Git(d, "-C r config core.autocrlf true");
    RevAndClone c = Compare(d, "r", "-c core.autocrlf=true");
    CHECK(c.rev == c.clone);
    CHECK(c.rev[0].find(stalecheck::HashBytes("one\r\ntwo\r\n").ToString()) != std::string::npos);
  }

  TEST_CASE("attributes of the directories above a context subdirectory, and of ignored ones, apply") {
    TempDir d;
    d.Write("r/.gitattributes", "*.txt eol=crlf\n");
    d.Write("r/app/a.txt", "a\n");
    d.Write("r/app/keep/.gitattributes", "*.cfg eol=crlf\n");
    d.Write("r/app/keep/x.cfg", "x\n");
    d.Write("r/app/.dockerignore", "keep\n!keep/x.cfg\n");
    InitAndCommit(d, "r");
    auto rev = stalecheck::LoadContext({.dir = d / "r/app", .rev = "HEAD", .jobs = 2});
    REQUIRE(rev.ok());
    REQUIRE(stalecheck::testing::PathsOf(rev->entries) ==
            std::vector<std::string>{".dockerignore", "a.txt", "keep", "keep/x.cfg"});
    CHECK(rev->entries[1].digest == stalecheck::HashBytes("a\r\n"));
    CHECK(rev->entries[3].digest == stalecheck::HashBytes("x\r\n"));
  }

  TEST_CASE("a filter driver: run by the config is refused, undefined is the stored bytes, required is refused") {
    TempDir d;
    d.Write("r/.gitattributes", "*.x filter=upper\n");
    d.Write("r/a.x", "abc\n");
    InitAndCommit(d, "r");
    RevAndClone undefined = Compare(d, "r");
    CHECK(undefined.rev == undefined.clone);

    Git(d, "-C r config filter.upper.smudge 'tr a-z A-Z'");
    auto runs = stalecheck::LoadContext({.dir = d / "r", .rev = "HEAD", .jobs = 2});
    REQUIRE_FALSE(runs.ok());
    CHECK(std::string(runs.status().message()).find("a.x") != std::string::npos);
    CHECK(std::string(runs.status().message()).find("'upper'") != std::string::npos);

    Git(d, "-C r config --unset filter.upper.smudge");
    Git(d, "-C r config filter.upper.required true");
    auto required = stalecheck::LoadContext({.dir = d / "r", .rev = "HEAD", .jobs = 2});
    REQUIRE_FALSE(required.ok());
    CHECK(std::string(required.status().message()).find("required") != std::string::npos);
  }

  TEST_CASE("working-tree-encoding is refused, naming the file") {
    TempDir d;
    d.Write("r/.gitattributes", "*.ps1 working-tree-encoding=UTF-16LE\n");
    d.Write("r/a.ps1", "x\n");
    InitAndCommit(d, "r");
    auto rev = stalecheck::LoadContext({.dir = d / "r", .rev = "HEAD", .jobs = 2});
    REQUIRE_FALSE(rev.ok());
    CHECK(std::string(rev.status().message()).find("a.ps1") != std::string::npos);
  }

  TEST_CASE("a Git LFS pointer is read as its object from the local store, checked against the pointer") {
    TempDir d;
    const std::string object = "big model weights\n";
    const std::string oid = stalecheck::Sha256Of(object).substr(7);
    const std::string pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize " +
                                std::to_string(object.size()) + "\n";
    d.Write("r/.gitattributes", "*.bin filter=lfs diff=lfs merge=lfs -text\n");
    d.Write("r/model.bin", pointer);
    d.Write("r/notpointer.bin", "plain bytes\n");
    InitAndCommit(d, "r");
    Git(d, "-C r config filter.lfs.process 'git-lfs filter-process'");
    Git(d, "-C r config filter.lfs.required true");

    auto missing = stalecheck::LoadContext({.dir = d / "r", .rev = "HEAD", .jobs = 2});
    REQUIRE_FALSE(missing.ok());
    CHECK(std::string(missing.status().message()).find("model.bin") != std::string::npos);
    CHECK(std::string(missing.status().message()).find("git lfs fetch") != std::string::npos);

    d.Write("r/.git/lfs/objects/" + oid.substr(0, 2) + "/" + oid.substr(2, 2) + "/" + oid, object);
    auto rev = stalecheck::LoadContext({.dir = d / "r", .rev = "HEAD", .jobs = 2});
    REQUIRE(rev.ok());
    CHECK(rev->entries[1].path == "model.bin");
    CHECK(rev->entries[1].size == object.size());
    CHECK(rev->entries[1].digest == stalecheck::HashBytes(object));
    CHECK(rev->entries[2].digest == stalecheck::HashBytes("plain bytes\n"));
    CHECK(*rev->read_file("model.bin") == object);
    CHECK(stalecheck::testing::FirstUnreadableFile(*rev) == "");

    d.Write("r/.git/lfs/objects/" + oid.substr(0, 2) + "/" + oid.substr(2, 2) + "/" + oid, "tampered\n");
    auto bad = stalecheck::LoadContext({.dir = d / "r", .rev = "HEAD", .jobs = 2});
    REQUIRE_FALSE(bad.ok());
    CHECK(std::string(bad.status().message()).find("does not match its pointer") != std::string::npos);

    // Where git-lfs does not run (its commands set empty here, over any system-wide setting),
    // a checkout writes the pointer itself.
    Git(d, "-C r config filter.lfs.process ''");
    Git(d, "-C r config filter.lfs.smudge ''");
    Git(d, "-C r config filter.lfs.required false");
    auto plain = stalecheck::LoadContext({.dir = d / "r", .rev = "HEAD", .jobs = 2});
    REQUIRE(plain.ok());
    CHECK(plain->entries[1].digest == stalecheck::HashBytes(pointer));
  }

  TEST_CASE("Git LFS pointers are parsed by the spec") {
    using stalecheck::git::ParseLfsPointer;
    const std::string oid(64, 'a');
    auto p = ParseLfsPointer("version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize 12\n");
    REQUIRE(p.has_value());
    CHECK(p->oid == oid);
    CHECK(p->size == 12);
    CHECK(ParseLfsPointer("version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize 12").has_value() ==
          false);  // no final newline
    CHECK_FALSE(ParseLfsPointer("oid sha256:" + oid + "\nsize 12\n").has_value());
    CHECK_FALSE(ParseLfsPointer("version https://git-lfs.github.com/spec/v1\noid sha256:" + oid.substr(1) +
                                "\nsize 12\n").has_value());
    CHECK_FALSE(ParseLfsPointer("version https://git-lfs.github.com/spec/v1\noid sha256:" + std::string(64, 'G') +
                                "\nsize 12\n").has_value());
    CHECK_FALSE(ParseLfsPointer("version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize -1\n").has_value());
    CHECK_FALSE(ParseLfsPointer("version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\n").has_value());
    CHECK_FALSE(ParseLfsPointer(std::string(2000, 'x') + "\n").has_value());
  }

  TEST_CASE("a repository whose attributes convert nothing is never asked file by file") {
    TempDir d;
    d.Write("r/.gitattributes", "*.c diff=cpp\n*.bin binary\n");
    d.Write("r/a.c", "x\n");
    InitAndCommit(d, "r");
    git_libgit2_init();
    git_repository* repo = nullptr;
    REQUIRE(git_repository_open(&repo, (d / "r").c_str()) == 0);
    CHECK_FALSE(stalecheck::git::CheckoutConversions::AnyPossible(repo, {"*.c diff=cpp\n*.bin binary\n"}));
    CHECK(stalecheck::git::CheckoutConversions::AnyPossible(repo, {"* text=auto\n"}));
    d.Write("r/.git/info/attributes", "*.c ident\n");
    CHECK(stalecheck::git::CheckoutConversions::AnyPossible(repo, {}));
    git_repository_free(repo);
    git_libgit2_shutdown();
  }
}
