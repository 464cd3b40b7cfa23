// Git delta instructions, on hand-made deltas (gitformat-pack "Deltified representation").

#include <doctest/doctest.h>

#include <string>

#include "src/git/delta.h"

using stalecheck::git::ApplyDelta;
using stalecheck::git::CopiedSpans;
using stalecheck::git::ReadDeltaSizes;

namespace {

void Varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

// A delta header.
std::string Header(uint64_t base, uint64_t result) {
  std::string d;
  Varint(d, base);
  Varint(d, result);
  return d;
}

// A copy instruction, with only the non-zero bytes of offset and size present.
std::string Copy(uint32_t offset, uint32_t size) {
  std::string args;
  uint8_t cmd = 0x80;
  for (int i = 0; i < 4; ++i) {
    if ((offset >> (8 * i)) & 0xff) {
      cmd |= static_cast<uint8_t>(1u << i);
      args += static_cast<char>((offset >> (8 * i)) & 0xff);
    }
  }
  for (int i = 0; i < 3; ++i) {
    if ((size >> (8 * i)) & 0xff) {
      cmd |= static_cast<uint8_t>(0x10u << i);
      args += static_cast<char>((size >> (8 * i)) & 0xff);
    }
  }
  return std::string(1, static_cast<char>(cmd)) + args;
}

std::string Insert(const std::string& bytes) {
  return std::string(1, static_cast<char>(bytes.size())) + bytes;
}

absl::StatusOr<std::string> Apply(const std::string& base, const std::string& delta) {
  std::string out;
  absl::StatusOr<uint64_t> n = ApplyDelta(
      base, delta, [&](absl::string_view piece) { out.append(piece.data(), piece.size()); },
      "test.pack");
  if (!n.ok()) return n.status();
  CHECK(*n == out.size());
  return out;
}

}  // namespace

TEST_SUITE("git delta") {
  TEST_CASE("copy and insert instructions rebuild the result") {
    std::string base = "hello world";
    std::string delta = Header(11, 11) + Copy(6, 5) + Insert(" ") + Copy(0, 5);
    auto out = Apply(base, delta);
    REQUIRE(out.ok());
    CHECK(*out == "world hello");
    auto sizes = ReadDeltaSizes(delta);
    REQUIRE(sizes.has_value());
    CHECK(sizes->base == 11);
    CHECK(sizes->result == 11);
  }

  TEST_CASE("a copy without size bytes copies 0x10000 bytes") {
    std::string base(0x10000 + 5, 'b');
    base[0] = 'a';
    std::string delta = Header(base.size(), 0x10000) + std::string(1, '\x80');
    auto out = Apply(base, delta);
    REQUIRE(out.ok());
    CHECK(*out == base.substr(0, 0x10000));
  }

  TEST_CASE("damaged deltas are refused with the place named") {
    std::string base = "0123456789";
    SUBCASE("a copy past the end of the base") {
      auto out = Apply(base, Header(10, 4) + Copy(8, 4));
      REQUIRE_FALSE(out.ok());
      CHECK(absl::IsDataLoss(out.status()));
      CHECK(std::string(out.status().message()).find("test.pack") == 0);
    }
    SUBCASE("a header naming another base size") {
      CHECK_FALSE(Apply(base, Header(11, 2) + Copy(0, 2)).ok());
    }
    SUBCASE("a result longer than the header says") {
      CHECK_FALSE(Apply(base, Header(10, 2) + Copy(0, 3)).ok());
    }
    SUBCASE("a result shorter than the header says") {
      CHECK_FALSE(Apply(base, Header(10, 4) + Copy(0, 3)).ok());
    }
    SUBCASE("the reserved opcode 0") {
      CHECK_FALSE(Apply(base, Header(10, 1) + std::string(1, '\0')).ok());
    }
    SUBCASE("an insert cut short") {
      CHECK_FALSE(Apply(base, Header(10, 5) + std::string(1, '\x05') + "ab").ok());
    }
    SUBCASE("a copy whose argument bytes are missing") {
      CHECK_FALSE(Apply(base, Header(10, 5) + std::string(1, static_cast<char>(0x91))).ok());
    }
    SUBCASE("a header cut short") {
      CHECK_FALSE(Apply(base, std::string(1, static_cast<char>(0x8a))).ok());
      CHECK_FALSE(ReadDeltaSizes(std::string(1, static_cast<char>(0x8a))).has_value());
    }
  }

  TEST_CASE("the copied ranges are sorted and merged, each placed after the ones before") {
    std::string delta = Header(100, 41) + Copy(10, 20) + Insert("xy") + Copy(0, 5) + Copy(5, 3) +
                        Copy(40, 10) + Copy(45, 1);
    auto spans = CopiedSpans(delta, 100, "test.pack");
    REQUIRE(spans.ok());
    REQUIRE(spans->size() == 3);
    CHECK((*spans)[0].begin == 0);
    CHECK((*spans)[0].end == 8);
    CHECK((*spans)[0].at == 0);
    CHECK((*spans)[1].begin == 10);
    CHECK((*spans)[1].end == 30);
    CHECK((*spans)[1].at == 8);
    CHECK((*spans)[2].begin == 40);
    CHECK((*spans)[2].end == 50);
    CHECK((*spans)[2].at == 28);
    CHECK_FALSE(CopiedSpans(Header(100, 5) + Copy(98, 5), 100, "test.pack").ok());
  }
}
