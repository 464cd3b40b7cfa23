#include <doctest/doctest.h>

#include "stalecheck/dockerfile.h"

using stalecheck::ExpandWord;
using stalecheck::ParseDockerfile;

TEST_SUITE("dockerfile") {
  TEST_CASE("continuations join, comments and blank lines inside them are skipped") {
    auto df = ParseDockerfile("FROM scratch\n# c\nCOPY a \\\n# inside\n\n  b /dst/\nRUN x\n", "Dockerfile");
    REQUIRE(df.ok());
    REQUIRE(df->instructions.size() == 3);
    CHECK(df->instructions[1].keyword == "COPY");
    CHECK(df->instructions[1].line == 3);
    CHECK(df->instructions[1].args == "a   b /dst/");
    CHECK(df->instructions[2].line == 7);
  }

  TEST_CASE("the escape directive changes the continuation character") {
    auto df = ParseDockerfile("# escape=`\nFROM scratch\nCOPY a `\n  /d/\n", "Dockerfile");
    REQUIRE(df.ok());
    CHECK(df->escape == '`');
    CHECK(df->instructions[1].args == "a   /d/");
    CHECK_FALSE(ParseDockerfile("# escape=x\nFROM scratch\n", "Dockerfile").ok());
  }

  TEST_CASE("a directive after a comment is a comment") {
    auto df = ParseDockerfile("# hello\n# escape=`\nFROM scratch\n", "Dockerfile");
    REQUIRE(df.ok());
    CHECK(df->escape == '\\');
  }

  TEST_CASE("heredoc bodies are skipped") {
    auto df = ParseDockerfile("FROM scratch\nCOPY <<EOF /x\nCOPY not an instruction\nEOF\nRUN <<-END\n\tsh\n\tEND\nCOPY a /b\n",
                              "Dockerfile");
    REQUIRE(df.ok());
    REQUIRE(df->instructions.size() == 4);
    CHECK(df->instructions[1].heredocs == std::vector<std::string>{"EOF"});
    CHECK(df->instructions[3].text == "COPY a /b");
    CHECK_FALSE(ParseDockerfile("FROM scratch\nRUN <<EOF\nnever closed\n", "Dockerfile").ok());
  }

  TEST_CASE("errors name the file and line") {
    auto df = ParseDockerfile("FROM scratch\n+++ nonsense\n", "app/Dockerfile");
    REQUIRE_FALSE(df.ok());
    CHECK(std::string(df.status().message()).find("app/Dockerfile:2") != std::string::npos);
  }

  TEST_CASE("words expand variables and drop quotes like the builder's lexer") {
    std::map<std::string, std::string> env = {{"A", "one"}, {"EMPTY", ""}};
    CHECK(*ExpandWord("$A/${A}", env) == "one/one");
    CHECK(*ExpandWord("${MISSING:-def}", env) == "def");
    CHECK(*ExpandWord("${EMPTY:-def}", env) == "def");
    CHECK(*ExpandWord("${EMPTY-def}", env) == "");
    CHECK(*ExpandWord("${A:+alt}", env) == "alt");
    CHECK(*ExpandWord("${MISSING:+alt}", env) == "");
    CHECK(*ExpandWord("'$A'", env) == "$A");
    CHECK(*ExpandWord("\"$A b\"", env) == "one b");
    CHECK(*ExpandWord("\\$A", env) == "$A");
    CHECK(*ExpandWord("${A:-${MISSING:-x}}", env) == "one");
    CHECK(*ExpandWord("${A:?must be set}", env) == "one");
    auto required = ExpandWord("${EMPTY:?must be set}", env);
    REQUIRE_FALSE(required.ok());
    CHECK(std::string(required.status().message()) == "EMPTY: must be set");
    CHECK(*ExpandWord("${EMPTY?unset}", env) == "");
    CHECK_FALSE(ExpandWord("${A", env).ok());
    CHECK_FALSE(ExpandWord("'open", env).ok());
  }
}
