// PEP 552 headers against pycs that CPython 3.11 wrote (fixtures/pyc/make-pyc.sh).

#include <doctest/doctest.h>

#include <cstdio>
#include <map>
#include <string>

#include "stalecheck/compare.h"
#include "stalecheck/util.h"
#include "test_helpers.h"

using stalecheck::CheckPycHeader;
using stalecheck::PycVerdict;

namespace {

std::string Fixture(const std::string& name) {
  std::string data;
  REQUIRE(stalecheck::ReadSmallFile(std::string(STALECHECK_FIXTURES) + "/pyc/" + name, &data).ok());
  return data;
}

}  // namespace

TEST_SUITE("compare") {
  TEST_CASE("SipHash matches the reference vectors") {
    // SipHash-2-4 paper: key 00..0f, message 00..0e.
    std::string msg;
    for (int i = 0; i < 15; ++i) msg += static_cast<char>(i);
    CHECK(stalecheck::SipHash(2, 4, 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, msg) == 0xa129ca6149be45e5ULL);
    CHECK(stalecheck::SipHash(2, 4, 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, "") == 0x726fdb47dd0e0e31ULL);
  }

  TEST_CASE("a checked-hash pyc written by Python 3.11 matches its source and no other") {
    std::string src = Fixture("mod.py");
    std::string head = Fixture("mod.checked.pyc").substr(0, 16);
    std::string why;
    CHECK(CheckPycHeader(head, 0, src.size(), src, &why) == PycVerdict::kFresh);
    CHECK(CheckPycHeader(head, 0, src.size(), src + "# changed\n", &why) == PycVerdict::kStale);
    CHECK(CheckPycHeader(head, 0, src.size(), std::nullopt, &why) == PycVerdict::kUnchecked);
  }

  TEST_CASE("a timestamp pyc compares the source's mtime and size") {
    std::string src = Fixture("mod.py");
    std::string head = Fixture("mod.timestamp.pyc").substr(0, 16);
    std::string why;
    CHECK(CheckPycHeader(head, 1700000000, src.size(), std::nullopt, &why) == PycVerdict::kFresh);
    CHECK(CheckPycHeader(head, 1700000001, src.size(), std::nullopt, &why) == PycVerdict::kStale);
    CHECK(why.find("1700000000") != std::string::npos);
    CHECK(CheckPycHeader(head, 1700000000, src.size() + 1, std::nullopt, &why) == PycVerdict::kStale);
  }

  TEST_CASE("unchecked pycs are trusted; short headers and bad flags are stale") {
    std::string why;
    CHECK(CheckPycHeader(Fixture("mod.unchecked.pyc").substr(0, 16), 0, 0, std::nullopt, &why) == PycVerdict::kUnchecked);
    CHECK(CheckPycHeader("\xa7\x0d\x0d\x0a", 0, 0, std::nullopt, &why) == PycVerdict::kStale);
    std::string bad = Fixture("mod.timestamp.pyc").substr(0, 16);
    bad[4] = 4;
    CHECK(CheckPycHeader(bad, 1700000000, 0, std::nullopt, &why) == PycVerdict::kStale);
  }
}

namespace {

// Answers from a table, so that the compile check is tested without a Python.
class FakeCompiler : public stalecheck::BytecodeCompiler {
 public:
  explicit FakeCompiler(Verdict v) : verdict_(v) {}
  std::vector<Verdict> Compare(const std::vector<Item>& items) override {
    seen = items;
    return std::vector<Verdict>(items.size(), verdict_);
  }
  std::vector<Item> seen;

 private:
  Verdict verdict_;
};

// A context whose pyc has a header matching its source (mtime 7, 6 bytes), copied into an image.
struct PycCase {
  std::vector<stalecheck::FileEntry> context;
  stalecheck::ImageView image;
  stalecheck::CopyPlan plan;
  std::map<std::string, std::string> bytes;

  PycCase() {
    std::string header = std::string("\xa7\x0d\x0d\x0a", 4) + std::string(4, '\0') + std::string("\x07\0\0\0\x06\0\0\0", 8);
    bytes["app/m.py"] = "X = 2\n";
    bytes["app/__pycache__/m.cpython-311.pyc"] = header + "old code";
    auto file = [&](const std::string& rel, int64_t mtime) {
      stalecheck::FileEntry e = stalecheck::testing::FileOf(rel, bytes[rel]);
      e.mtime = mtime;
      if (stalecheck::IsPyc(rel)) e.head = bytes[rel].substr(0, 16);
      return e;
    };
    context = {stalecheck::testing::DirOf("app"), file("app/__pycache__/m.cpython-311.pyc", 9), file("app/m.py", 7)};
    context.insert(context.begin() + 1, stalecheck::testing::DirOf("app/__pycache__"));
    auto df = stalecheck::ParseDockerfile("FROM scratch\nCOPY app/ /app/\n", "Dockerfile");
    REQUIRE(df.ok());
    auto p = stalecheck::BuildCopyPlan(*df, context, {});
    REQUIRE(p.ok());
    plan = *p;
    image.layers.resize(1);
    image.changes.resize(1);
    image.history = {{std::string("COPY app/ /app/ # buildkit"), std::nullopt, std::string("buildkit.dockerfile.v0"), 0}};
    for (const auto& e : context) {
      stalecheck::FileEntry ie = e;
      ie.path = "/" + e.path;
      image.changes[0].entries.push_back(ie);
      image.files[ie.path] = {ie, 0};
    }
  }

  stalecheck::CheckResult Run(stalecheck::BytecodeCompiler* compiler) {
    stalecheck::CompareOptions o;
    o.compiler = compiler;
    o.read_context_file = [this](const std::string& rel) -> absl::StatusOr<std::string> { return bytes.at(rel); };
    auto r = stalecheck::Compare(plan, image, o);
    REQUIRE(r.ok());
    return *r;
  }
};

}  // namespace

TEST_SUITE("compare") {
  TEST_CASE("a pyc whose header matches but whose code is not its source's is bytecode") {
    PycCase c;
    FakeCompiler differs(stalecheck::BytecodeCompiler::Verdict::kDiffers);
    auto r = c.Run(&differs);
    REQUIRE(r.findings.size() == 1);
    CHECK(r.findings[0].status == "bytecode");
    CHECK(r.findings[0].reason.find("Python runs the old code") != std::string::npos);
    REQUIRE(differs.seen.size() == 1);
    CHECK(differs.seen[0].source == "X = 2\n");
    CHECK(differs.seen[0].pyc == c.bytes["app/__pycache__/m.cpython-311.pyc"]);
  }

  TEST_CASE("a pyc whose code matches is fresh; one no Python can compile is unchecked, never fresh") {
    PycCase c;
    FakeCompiler same(stalecheck::BytecodeCompiler::Verdict::kSame);
    auto fresh = c.Run(&same);
    CHECK(fresh.findings.empty());
    CHECK(fresh.unchecked_bytecode.empty());
    FakeCompiler none(stalecheck::BytecodeCompiler::Verdict::kNoPython);
    auto unchecked = c.Run(&none);
    CHECK(unchecked.findings.empty());
    CHECK(unchecked.unchecked_bytecode == std::vector<std::string>{"/app/__pycache__/m.cpython-311.pyc"});
    auto without = c.Run(nullptr);
    CHECK(without.unchecked_bytecode.size() == 1);
  }

  TEST_CASE("the local Python compiles a pyc's source again and compares the code") {
    // Needs Debian's python3 (3.11), which the project installs; its magic is 3495.
    auto compiler = stalecheck::LocalPythonCompiler();
    const std::string header = std::string("\xa7\x0d\x0d\x0a", 4) + std::string(12, '\0');
    // The code of "X = 1", as that Python marshals it.
    FILE* p = popen("/usr/bin/python3 -c 'import marshal,sys; sys.stdout.buffer.write(marshal.dumps(compile(\"X = 1\\n\",\"m.py\",\"exec\")))'", "r");
    REQUIRE(p != nullptr);
    std::string code;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) code.append(buf, n);
    REQUIRE(pclose(p) == 0);
    std::vector<stalecheck::BytecodeCompiler::Item> items = {{header + code, "X = 1\n", 0}, {header + code, "X = 2\n", 0}};
    auto v = compiler->Compare(items);
    REQUIRE(v.size() == 2);
    CHECK(v[0] == stalecheck::BytecodeCompiler::Verdict::kSame);
    CHECK(v[1] == stalecheck::BytecodeCompiler::Verdict::kDiffers);
    std::string alien = std::string("\x01\x02\x0d\x0a", 4) + std::string(12, '\0') + code;
    CHECK(compiler->Compare({{alien, "X = 1\n", 0}})[0] == stalecheck::BytecodeCompiler::Verdict::kNoPython);
  }
}
