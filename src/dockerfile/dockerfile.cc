#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "stalecheck/dockerfile.h"

namespace stalecheck {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string LTrim(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && (IsBlank(s[i]) || s[i] == '\r')) ++i;
  return s.substr(i);
}

std::string RTrim(const std::string& s) {
  size_t n = s.size();
  while (n > 0 && (IsBlank(s[n - 1]) || s[n - 1] == '\r' || s[n - 1] == '\n')) --n;
  return s.substr(0, n);
}

// A parser directive ("# escape=`"): name and value, lower-cased name.
bool Directive(const std::string& line, std::string* name, std::string* value) {
  std::string s = LTrim(line);
  if (s.empty() || s[0] != '#') return false;
  s = LTrim(s.substr(1));
  size_t i = 0;
  while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) != 0)) ++i;
  if (i == 0) return false;
  std::string rest = LTrim(s.substr(i));
  if (rest.empty() || rest[0] != '=') return false;
  *name = absl::AsciiStrToLower(s.substr(0, i));
  *value = RTrim(LTrim(rest.substr(1)));
  return true;
}

// Heredoc openers in an instruction's arguments: <<NAME, <<-NAME, <<"NAME", <<'NAME'.
std::vector<std::pair<std::string, bool>> Heredocs(const std::string& args) {
  std::vector<std::pair<std::string, bool>> out;
  if (!args.empty() && LTrim(args)[0] == '[') return out;
  size_t pos = 0;
  while ((pos = args.find("<<", pos)) != std::string::npos) {
    size_t i = pos + 2;
    bool strip_tabs = false;
    if (i < args.size() && args[i] == '-') {
      strip_tabs = true;
      ++i;
    }
    char quote = 0;
    if (i < args.size() && (args[i] == '"' || args[i] == '\'')) quote = args[i++];
    size_t start = i;
    while (i < args.size() && (std::isalnum(static_cast<unsigned char>(args[i])) != 0 || args[i] == '_')) ++i;
    if (i > start && (quote == 0 || (i < args.size() && args[i] == quote))) {
      out.emplace_back(args.substr(start, i - start), strip_tabs);
    }
    pos = i;
  }
  return out;
}

}  // namespace

absl::StatusOr<Dockerfile> ParseDockerfile(const std::string& text, const std::string& path) {
  Dockerfile df;
  df.path = path;
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  size_t i = 0;
  // Parser directives: only at the very top, before any comment, blank line or instruction.
  for (; i < lines.size(); ++i) {
    std::string name, value;
    if (!Directive(lines[i], &name, &value)) break;
    if (name == "escape") {
      if (value != "\\" && value != "`") {
        return absl::InvalidArgumentError(absl::StrCat(path, ":", i + 1, ": invalid escape character '", value,
                                                       "' (use \\ or `)"));
      }
      df.escape = value[0];
    } else if (name == "syntax") {
      df.syntax = value;
    }
  }
  while (i < lines.size()) {
    std::string first = LTrim(lines[i]);
    if (RTrim(first).empty() || first[0] == '#') {
      ++i;
      continue;
    }
    Instruction ins;
    ins.line = static_cast<int>(i) + 1;
    std::string logical;
    bool continued = true;
    bool first_line = true;
    while (continued && i < lines.size()) {
      std::string cur = lines[i++];
      if (!first_line) {
        std::string t = LTrim(cur);
        if (RTrim(t).empty() || t[0] == '#') continue;  // blank and comment lines inside
      }
      first_line = false;
      std::string r = RTrim(cur);
      if (!r.empty() && r.back() == df.escape) {
        logical += r.substr(0, r.size() - 1);
      } else {
        logical += r;
        continued = false;
      }
    }
    logical = LTrim(logical);
    size_t sp = 0;
    while (sp < logical.size() && !IsBlank(logical[sp])) ++sp;
    ins.keyword = absl::AsciiStrToUpper(logical.substr(0, sp));
    ins.args = LTrim(logical.substr(sp));
    ins.text = ins.args.empty() ? ins.keyword : absl::StrCat(ins.keyword, " ", ins.args);
    for (char c : ins.keyword) {
      if (std::isalpha(static_cast<unsigned char>(c)) == 0) {
        return absl::InvalidArgumentError(absl::StrCat(path, ":", ins.line, ": not an instruction: ", logical));
      }
    }
    if (ins.keyword == "RUN" || ins.keyword == "COPY" || ins.keyword == "ADD") {
      for (const auto& [name, strip_tabs] : Heredocs(ins.args)) {
        ins.heredocs.push_back(name);
        bool closed = false;
        while (i < lines.size()) {
          std::string body = lines[i++];
          if (!body.empty() && body.back() == '\r') body.pop_back();
          if (strip_tabs) body.erase(0, body.find_first_not_of('\t') == std::string::npos ? body.size()
                                                                                        : body.find_first_not_of('\t'));
          if (body == name) {
            closed = true;
            break;
          }
        }
        if (!closed) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, ":", ins.line, ": heredoc <<", name, " is never closed"));
        }
      }
    }
    df.instructions.push_back(std::move(ins));
  }
  return df;
}

namespace {

bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

class Lexer {
 public:
  Lexer(const std::string& s, const std::map<std::string, std::string>& env, char escape)
      : s_(s), env_(env), escape_(escape) {}

  // Processes until `stop` (a closing brace of a ${...} word) or the end.
  absl::StatusOr<std::string> Word(char stop = 0) {
    std::string out;
    bool single = false, dbl = false;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (stop != 0 && c == stop && !single && !dbl) return out;
      ++pos_;
      if (single) {
        if (c == '\'') single = false;
        else out += c;
      } else if (c == escape_) {
        if (pos_ >= s_.size()) {
          out += c;
        } else if (dbl && s_[pos_] != '"' && s_[pos_] != '$' && s_[pos_] != escape_) {
          out += c;  // inside double quotes only a few characters are escapable
        } else {
          out += s_[pos_++];
        }
      } else if (c == '\'' && !dbl) {
        single = true;
      } else if (c == '"') {
        dbl = !dbl;
      } else if (c == '$') {
        absl::StatusOr<std::string> v = Variable();
        if (!v.ok()) return v.status();
        out += *v;
      } else {
        out += c;
      }
    }
    if (single || dbl) return absl::InvalidArgumentError(absl::StrCat("unterminated quote in '", s_, "'"));
    if (stop != 0) return absl::InvalidArgumentError(absl::StrCat("missing '}' in '", s_, "'"));
    return out;
  }

 private:
  absl::StatusOr<std::string> Variable() {
    if (pos_ >= s_.size()) return std::string("$");
    if (s_[pos_] == '{') {
      ++pos_;
      size_t start = pos_;
      while (pos_ < s_.size() && IsNameChar(s_[pos_])) ++pos_;
      std::string name = s_.substr(start, pos_ - start);
      if (name.empty()) return absl::InvalidArgumentError(absl::StrCat("bad substitution in '", s_, "'"));
      auto it = env_.find(name);
      const bool set = it != env_.end();
      const std::string value = set ? it->second : "";
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return value;
      }
      bool colon = false;
      if (pos_ < s_.size() && s_[pos_] == ':') {
        colon = true;
        ++pos_;
      }
      if (pos_ >= s_.size() || (s_[pos_] != '-' && s_[pos_] != '+' && s_[pos_] != '?')) {
        return absl::InvalidArgumentError(absl::StrCat("unsupported modifier in '", s_, "'"));
      }
      char op = s_[pos_++];
      absl::StatusOr<std::string> word = Word('}');
      if (!word.ok()) return word.status();
      ++pos_;  // the '}'
      const bool has = colon ? !value.empty() : set;
      if (op == '?') {
        if (has) return value;
        return absl::InvalidArgumentError(absl::StrCat(name, ": ", word->empty() ? "is not set" : *word));
      }
      if (op == '-') return has ? value : *word;
      return has ? *word : std::string();
    }
    size_t start = pos_;
    while (pos_ < s_.size() && IsNameChar(s_[pos_])) ++pos_;
    if (pos_ == start) return std::string("$");
    auto it = env_.find(s_.substr(start, pos_ - start));
    return it == env_.end() ? std::string() : it->second;
  }

  const std::string& s_;
  const std::map<std::string, std::string>& env_;
  char escape_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<std::string> ExpandWord(const std::string& word, const std::map<std::string, std::string>& env,
                                       char escape) {
  Lexer lexer(word, env, escape);
  return lexer.Word();
}

}  // namespace stalecheck
