#include <doctest/doctest.h>

#include <string>

#include "stalecheck/context.h"
#include "stalecheck/report.h"
#include "test_helpers.h"

using stalecheck::JsonText;
using stalecheck::QuotedName;
using stalecheck::XmlText;

TEST_SUITE("report escaping") {
  TEST_CASE("a plain name, UTF-8 included, is written as it is") {
    CHECK(QuotedName("src/app/main.py") == "src/app/main.py");
    CHECK(QuotedName("sp ace") == "sp ace");
    CHECK(QuotedName("d\xC3\xA9j\xC3\xA0 \xE2\x82\xAC \xF0\x9F\x90\xB3") == "d\xC3\xA9j\xC3\xA0 \xE2\x82\xAC \xF0\x9F\x90\xB3");
  }

  TEST_CASE("a name with control characters, quotes, backslashes or bad UTF-8 is quoted as git quotes it") {
    CHECK(QuotedName("new\nline") == "\"new\\nline\"");
    CHECK(QuotedName("tab\there") == "\"tab\\there\"");
    CHECK(QuotedName("back\\slash") == "\"back\\\\slash\"");
    CHECK(QuotedName("say \"hi\"") == "\"say \\\"hi\\\"\"");
    CHECK(QuotedName("bad\xFFname") == "\"bad\\377name\"");
    CHECK(QuotedName("esc\x1b[31m") == "\"esc\\033[31m\"");
    CHECK(QuotedName("del\x7F") == "\"del\\177\"");
    // UTF-8 stays readable inside a quoted name.
    CHECK(QuotedName("caf\xC3\xA9\n") == "\"caf\xC3\xA9\\n\"");
  }

  TEST_CASE("overlong forms, surrogates, truncated sequences and code points past U+10FFFF are not UTF-8") {
    CHECK(QuotedName("\xC0\xAF") == "\"\\300\\257\"");              // overlong '/'
    CHECK(QuotedName("\xE0\x80\xAF") == "\"\\340\\200\\257\"");     // overlong, 3 bytes
    CHECK(QuotedName("\xED\xA0\x80") == "\"\\355\\240\\200\"");     // U+D800
    CHECK(QuotedName("\xF4\x90\x80\x80") == "\"\\364\\220\\200\\200\"");  // U+110000
    CHECK(QuotedName("x\xE2\x82") == "\"x\\342\\202\"");            // truncated at the end
    CHECK(QuotedName("\xF4\x8F\xBF\xBF") == "\xF4\x8F\xBF\xBF");       // U+10FFFF is fine
  }

  TEST_CASE("XML text escapes markup, keeps line breaks as references and replaces what XML cannot carry") {
    CHECK(XmlText("a<b>&\"c\"") == "a&lt;b&gt;&amp;&quot;c&quot;");
    CHECK(XmlText("new\nline\ttab\r") == "new&#10;line&#9;tab&#13;");
    CHECK(XmlText("bell\a") == "bell\xEF\xBF\xBD");
    CHECK(XmlText("bad\xFFname") == "bad\xEF\xBF\xBDname");
    CHECK(XmlText("caf\xC3\xA9") == "caf\xC3\xA9");
  }

  TEST_CASE("JSON text replaces bytes that are not UTF-8 instead of failing") {
    nlohmann::ordered_json doc = {{"path", "bad\xFFname"}, {"ok", "caf\xC3\xA9\n"}};
    CHECK(JsonText(doc, -1) == "{\"path\":\"bad\xEF\xBF\xBDname\",\"ok\":\"caf\xC3\xA9\\n\"}\n");
    CHECK(nlohmann::json::parse(JsonText(doc))["path"] == "bad\xEF\xBF\xBDname");
  }

  TEST_CASE("fingerprint text and JSON of a context with awkward names stay one line per entry and valid JSON") {
    stalecheck::testing::TempDir d;
    d.Write("bad\xFFname", "x");
    d.Write("new\nline", "y");
    d.Write("plain", "z");
    auto ctx = stalecheck::LoadContext({.dir = d.path(), .jobs = 2, .rules = stalecheck::BuildRules::BuildKit2010()});
    REQUIRE(ctx.ok());
    const std::string text = stalecheck::FingerprintText(*ctx);
    CHECK(text.find("\"bad\\377name\"\n") != std::string::npos);
    CHECK(text.find("\"new\\nline\"\n") != std::string::npos);
    size_t lines = 0;
    for (char c : text) lines += c == '\n';
    CHECK(lines == 4);  // three entries and the root line
    auto doc = nlohmann::json::parse(JsonText(stalecheck::FingerprintJson(*ctx)));
    // Written an entry at a time, the text is the same.
    std::string streamed;
    REQUIRE(stalecheck::WriteFingerprintJson(*ctx, [&](absl::string_view p) {
              streamed.append(p.data(), p.size());
              return absl::OkStatus();
            }).ok());
    CHECK(streamed == JsonText(stalecheck::FingerprintJson(*ctx)));
    REQUIRE(doc["files"].size() == 3);
    CHECK(doc["files"][0]["path"] == "bad\xEF\xBF\xBDname");
    CHECK(doc["files"][1]["path"] == "new\nline");
  }

  TEST_CASE("a name that is not UTF-8 is an error under buildx, which cannot send it") {
    stalecheck::testing::TempDir d;
    d.Write("bad\xFFname", "x");
    auto ctx = stalecheck::LoadContext({.dir = d.path(), .jobs = 2, .rules = stalecheck::BuildRules::Buildx()});
    REQUIRE_FALSE(ctx.ok());
    CHECK(std::string(ctx.status().message()).find("bad\\xffname") != std::string::npos);
    CHECK(std::string(ctx.status().message()).find("not UTF-8") != std::string::npos);
  }
}
