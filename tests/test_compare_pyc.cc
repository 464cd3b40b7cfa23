// PEP 552 headers against pycs that CPython 3.11 wrote (fixtures/pyc/make-pyc.sh).

#include <doctest/doctest.h>

#include <string>

#include "stalecheck/compare.h"
#include "stalecheck/util.h"

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
