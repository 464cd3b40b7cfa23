#include "absl/strings/string_view.h"
#include "stalecheck/ignore.h"

#include <re2/re2.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

absl::string_view TrimSpace(absl::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Go's filepath.Match syntax check for one character-class element (getEsc).
bool TakeClassChar(absl::string_view& s) {
  if (s.empty() || s.front() == '-' || s.front() == ']') return false;
  if (s.front() == '\\') {
    s.remove_prefix(1);
    if (s.empty()) return false;
  }
  s.remove_prefix(1);
  return !s.empty();
}

// The syntax errors Go's filepath.Match reports for a pattern, whatever the name.
bool ValidGlob(absl::string_view s) {
  while (!s.empty()) {
    char c = s.front();
    s.remove_prefix(1);
    if (c == '\\') {
      if (s.empty()) return false;
      s.remove_prefix(1);
    } else if (c == '[') {
      if (!s.empty() && s.front() == '^') s.remove_prefix(1);
      int nrange = 0;
      for (;;) {
        if (!s.empty() && s.front() == ']' && nrange > 0) {
          s.remove_prefix(1);
          break;
        }
        if (!TakeClassChar(s)) return false;
        if (s.front() == '-') {
          s.remove_prefix(1);
          if (!TakeClassChar(s)) return false;
        }
        ++nrange;
      }
    }
  }
  return true;
}

// The regular expression the engine's matcher builds from a pattern: '*' is a run without
// '/', '?' one character but '/', '**' any number of directories, '.' and '$' escaped,
// '\x' kept as an escape, every other character copied as is (so '+', '(', '|', '{' and '^'
// keep their regular-expression meaning, as they do in the engine).
std::string ToRegex(absl::string_view p) {
  std::string re = "^";
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '*') {
      if (i + 1 < p.size() && p[i + 1] == '*') {
        ++i;
        if (i + 1 < p.size() && p[i + 1] == '/') ++i;
        if (i + 1 >= p.size()) {
          re += ".*";
        } else {
          re += "(.*/)?";
        }
      } else {
        re += "[^/]*";
      }
    } else if (c == '?') {
      re += "[^/]";
    } else if (c == '.' || c == '$') {
      re += '\\';
      re += c;
    } else if (c == '\\') {
      re += '\\';
      if (i + 1 < p.size()) re += p[++i];
    } else {
      re += c;
    }
  }
  re += '$';
  return re;
}

bool IsLiteral(absl::string_view p) {
  return p.find_first_of("*?[]\\+(){}|^") == absl::string_view::npos;
}

}  // namespace

std::vector<std::string> ReadIgnorePatterns(absl::string_view text) {
  std::vector<std::string> out;
  bool first = true;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (first) {
      absl::ConsumePrefix(&line, "\xEF\xBB\xBF");
      first = false;
    }
    absl::ConsumeSuffix(&line, "\r");
    if (!line.empty() && line.front() == '#') continue;
    absl::string_view pattern = TrimSpace(line);
    if (pattern.empty()) continue;
    const bool invert = pattern.front() == '!';
    if (invert) pattern = TrimSpace(pattern.substr(1));
    std::string cleaned;
    if (!pattern.empty()) {
      cleaned = CleanPath(pattern);
      if (cleaned.size() > 1 && cleaned.front() == '/') cleaned.erase(0, 1);
    }
    out.push_back(invert ? absl::StrCat("!", cleaned) : cleaned);
  }
  return out;
}

IgnoreMatcher::IgnoreMatcher() = default;
IgnoreMatcher::IgnoreMatcher(IgnoreMatcher&&) noexcept = default;
IgnoreMatcher& IgnoreMatcher::operator=(IgnoreMatcher&&) noexcept = default;
IgnoreMatcher::~IgnoreMatcher() = default;

absl::StatusOr<IgnoreMatcher> IgnoreMatcher::Compile(const std::vector<std::string>& patterns) {
  IgnoreMatcher m;
  for (const std::string& raw : patterns) {
    absl::string_view trimmed = TrimSpace(raw);
    if (trimmed.empty()) continue;
    std::string p = CleanPath(trimmed);
    Pattern pat;
    if (p.front() == '!') {
      if (p.size() == 1) return absl::InvalidArgumentError("illegal exclusion pattern: \"!\"");
      pat.exclusion = true;
      m.has_exclusions_ = true;
      p.erase(0, 1);
    }
    if (!ValidGlob(p)) {
      return absl::InvalidArgumentError(absl::StrCat("syntax error in pattern \"", raw, "\""));
    }
    pat.components = static_cast<size_t>(std::count(p.begin(), p.end(), '/')) + 1;
    pat.literal = IsLiteral(p);
    if (!pat.literal) {
      RE2::Options opts;
      opts.set_log_errors(false);
      pat.regex = std::make_unique<RE2>(ToRegex(p), opts);
      if (!pat.regex->ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("pattern \"", raw, "\" is not a valid expression: ", pat.regex->error()));
      }
    }
    pat.text = std::move(p);
    m.patterns_.push_back(std::move(pat));
  }
  return m;
}

absl::StatusOr<IgnoreMatcher> IgnoreMatcher::Parse(absl::string_view text) {
  return Compile(ReadIgnorePatterns(text));
}

bool IgnoreMatcher::Matches(const Pattern& p, absl::string_view path) const {
  if (p.literal) return path == p.text;
  return RE2::PartialMatch(re2::StringPiece(path.data(), path.size()), *p.regex);
}

bool IgnoreMatcher::Excluded(absl::string_view path) const {
  if (patterns_.empty()) return false;
  // The parent directory split into components, as filepath.Dir + strings.Split see it.
  size_t last_slash = path.rfind('/');
  const bool has_parent = last_slash != absl::string_view::npos;
  size_t parent_components = 0;
  if (has_parent) {
    parent_components =
        static_cast<size_t>(std::count(path.begin(), path.begin() + last_slash, '/')) + 1;
  }
  bool matched = false;
  for (const Pattern& p : patterns_) {
    bool hit = Matches(p, path);
    if (!hit && has_parent && p.components <= parent_components) {
      // The ancestor with as many components as the pattern.
      size_t end = 0;
      for (size_t k = 0; k < p.components; ++k) {
        end = path.find('/', k == 0 ? 0 : end + 1);
      }
      hit = Matches(p, path.substr(0, end));
    }
    if (hit) matched = !p.exclusion;
  }
  return matched;
}

bool IgnoreMatcher::WalkExcludedDir(absl::string_view dir) const {
  if (!has_exclusions_) return false;
  std::string dir_slash = absl::StrCat(dir, "/");
  for (const Pattern& p : patterns_) {
    if (!p.exclusion) continue;
    std::string pat_slash = absl::StrCat(p.text, "/");
    if (absl::StartsWith(pat_slash, dir_slash)) return true;
  }
  return false;
}

}  // namespace stalecheck
