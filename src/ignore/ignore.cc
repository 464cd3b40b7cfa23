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

// Docker 20.10's fileutils: the regular expression of a pattern. '*' is a run without '/',
// '?' one character but '/', '**' any number of directories, '.' and '$' escaped, '\x' kept
// as an escape, every other character copied as is (so '+', '(', '|', '{' and '^' keep their
// regular-expression meaning). A pattern with none of those characters is compared as text.
bool FileutilsRegex(absl::string_view p, std::string* re) {
  if (p.find_first_of("*?[]\\+(){}|^") == absl::string_view::npos) return false;
  *re = "^";
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '*') {
      if (i + 1 < p.size() && p[i + 1] == '*') {
        ++i;
        if (i + 1 < p.size() && p[i + 1] == '/') ++i;
        *re += i + 1 >= p.size() ? ".*" : "(.*/)?";
      } else {
        *re += "[^/]*";
      }
    } else if (c == '?') {
      *re += "[^/]";
    } else if (c == '.' || c == '$') {
      *re += '\\';
      *re += c;
    } else if (c == '\\') {
      *re += '\\';
      if (i + 1 < p.size()) *re += p[++i];
    } else {
      *re += c;
    }
  }
  *re += '$';
  return true;
}

// moby/patternmatcher 0.6's compile: the same expression with '.+()|{}$' escaped, and the
// kind of comparison it settles on. A pattern whose only wildcard is a trailing "**" after
// plain text is a prefix; one that opens with "**" and holds no other wildcard is a suffix
// ("**name.jar" is any path ending in "name.jar"); one with no wildcard is exact text.
enum class PmKind { kExact, kPrefix, kSuffix, kRegex };
PmKind PatternMatcherRegex(absl::string_view p, std::string* re) {
  *re = "^";
  PmKind kind = PmKind::kExact;
  for (size_t i = 0; i < p.size(); ++i) {
    const bool first = i == 0;
    char c = p[i];
    if (c == '*') {
      if (i + 1 < p.size() && p[i + 1] == '*') {
        ++i;
        if (i + 1 < p.size() && p[i + 1] == '/') ++i;
        if (i + 1 >= p.size()) {
          if (kind == PmKind::kExact) {
            kind = PmKind::kPrefix;
          } else {
            *re += ".*";
            kind = PmKind::kRegex;
          }
        } else {
          *re += "(.*/)?";
          kind = PmKind::kRegex;
        }
        if (first) kind = PmKind::kSuffix;
      } else {
        *re += "[^/]*";
        kind = PmKind::kRegex;
      }
    } else if (c == '?') {
      *re += "[^/]";
      kind = PmKind::kRegex;
    } else if (absl::string_view(".+()|{}$").find(c) != absl::string_view::npos) {
      *re += '\\';
      *re += c;
    } else if (c == '\\') {
      *re += '\\';
      if (i + 1 < p.size()) {
        *re += p[++i];
        kind = PmKind::kRegex;
      }
    } else if (c == '[' || c == ']') {
      *re += c;
      kind = PmKind::kRegex;
    } else {
      *re += c;
    }
  }
  *re += '$';
  return kind;
}

// fsutil's patternWithoutTrailingGlob.
absl::string_view WithoutTrailingGlob(absl::string_view p) {
  absl::ConsumeSuffix(&p, "/**");
  absl::ConsumeSuffix(&p, "/*");
  return p;
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

absl::StatusOr<IgnoreMatcher> IgnoreMatcher::Compile(const std::vector<std::string>& patterns,
                                                     const BuildRules& rules) {
  IgnoreMatcher m;
  m.matcher_ = rules.matcher;
  m.descend_ = rules.descend;
  m.empty_when_open_excludes_ = rules.empty_when_open_excludes && rules.matcher == BuildRules::Matcher::kPatternMatcher;
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
    std::string re;
    bool regex = false;
    if (rules.matcher == BuildRules::Matcher::kFileutils) {
      regex = FileutilsRegex(p, &re);
      pat.kind = regex ? Kind::kRegex : Kind::kExact;
    } else {
      switch (PatternMatcherRegex(p, &re)) {
        case PmKind::kExact: pat.kind = Kind::kExact; break;
        case PmKind::kPrefix: pat.kind = Kind::kPrefix; break;
        case PmKind::kSuffix: pat.kind = Kind::kSuffix; break;
        case PmKind::kRegex: pat.kind = Kind::kRegex; regex = true; break;
      }
    }
    if (regex) {
      RE2::Options opts;
      opts.set_log_errors(false);
      pat.regex = std::make_unique<RE2>(re, opts);
      if (!pat.regex->ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("pattern \"", raw, "\" is not a valid expression: ", pat.regex->error()));
      }
    }
    if (pat.exclusion && WithoutTrailingGlob(p).find_first_of("*[]?^\\") != absl::string_view::npos) {
      m.wildcard_exception_ = true;
    }
    pat.text = std::move(p);
    m.patterns_.push_back(std::move(pat));
  }
  return m;
}

absl::StatusOr<IgnoreMatcher> IgnoreMatcher::Parse(absl::string_view text, const BuildRules& rules) {
  return Compile(ReadIgnorePatterns(text), rules);
}

bool IgnoreMatcher::Matches(const Pattern& p, absl::string_view path) const {
  switch (p.kind) {
    case Kind::kExact:
      return path == p.text;
    case Kind::kPrefix:
      return absl::StartsWith(path, absl::string_view(p.text).substr(0, p.text.size() - 2));
    case Kind::kSuffix: {
      absl::string_view suffix = absl::string_view(p.text).substr(2);
      if (absl::EndsWith(path, suffix)) return true;
      return !suffix.empty() && suffix.front() == '/' && path == suffix.substr(1);  // "**/foo" is "foo" too
    }
    case Kind::kRegex:
      return RE2::PartialMatch(re2::StringPiece(path.data(), path.size()), *p.regex);
  }
  return false;
}

// fileutils (20.10): each pattern tests the path, then the one ancestor with as many
// components as the pattern; the last pattern that hits wins.
bool IgnoreMatcher::ExcludedFileutils(absl::string_view path) const {
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

// patternmatcher's MatchesUsingParentResults. A pattern the parent matched matches; another
// is tested on the path, unless it cannot change the result so far (an inclusion once
// excluded, an exception while not excluded), in which case it is not tested and not handed
// down as matched either. (With no parent results, the zero MatchInfo, it also tries every
// ancestor; only the root's entries come without them, and they have no ancestors.)
bool IgnoreMatcher::ExcludedCarried(absl::string_view path, const Carry* parent, Carry* carry) const {
  if (carry != nullptr) carry->matched.assign(patterns_.size(), false);
  bool matched = false;
  for (size_t i = 0; i < patterns_.size(); ++i) {
    const Pattern& p = patterns_[i];
    bool match = parent != nullptr && parent->matched[i];
    if (!match) {
      if (p.exclusion != matched) continue;
      match = Matches(p, path);
    }
    if (carry != nullptr) carry->matched[i] = match;
    if (match) matched = !p.exclusion;
  }
  return matched;
}

// patternmatcher's MatchesOrParentMatches: each pattern tried on the path and on every
// ancestor (the parent's `hit`), with the same skip. Where no pattern hits an ancestor it
// judges exactly as ExcludedCarried does (the parent's `matched` is then all false), so only
// entries below a hit are judged again.
bool IgnoreMatcher::ExcludedOnOpen(absl::string_view path, const Carry* parent) const {
  bool matched = false;
  for (size_t i = 0; i < patterns_.size(); ++i) {
    const Pattern& p = patterns_[i];
    if (p.exclusion != matched) continue;
    if (parent->hit[i] || Matches(p, path)) matched = !p.exclusion;
  }
  return matched;
}

IgnoreMatcher::Decision IgnoreMatcher::Judge(absl::string_view path, bool is_dir, const Carry* parent,
                                             Carry* carry) const {
  Decision d;
  if (patterns_.empty()) {
    d.descend = is_dir;
    return d;
  }
  if (matcher_ == BuildRules::Matcher::kFileutils) {
    d.excluded = ExcludedFileutils(path);
  } else {
    d.excluded = ExcludedCarried(path, parent, is_dir ? carry : nullptr);
  }
  d.descend = is_dir && (!d.excluded || WalkExcludedDir(path));
  if (!empty_when_open_excludes_) return d;
  if (is_dir && carry != nullptr) {
    carry->hit.assign(patterns_.size(), false);
    carry->any_hit = false;
    for (size_t i = 0; i < patterns_.size(); ++i) {
      const bool hit = (parent != nullptr && parent->hit[i]) || Matches(patterns_[i], path);
      carry->hit[i] = hit;
      carry->any_hit = carry->any_hit || hit;
    }
  } else if (!is_dir && !d.excluded && parent != nullptr && parent->any_hit) {
    d.empty_on_open = ExcludedOnOpen(path, parent);
  }
  return d;
}

IgnoreMatcher::Decision IgnoreMatcher::JudgeFromRoot(absl::string_view path, bool is_dir) const {
  // Down from the root, each directory handing its results to the next.
  Carry above, here;
  bool have_above = false;
  for (size_t slash = path.find('/'); slash != absl::string_view::npos; slash = path.find('/', slash + 1)) {
    Judge(path.substr(0, slash), true, have_above ? &above : nullptr, &here);
    std::swap(above, here);
    have_above = true;
  }
  return Judge(path, is_dir, have_above ? &above : nullptr, nullptr);
}

bool IgnoreMatcher::Excluded(absl::string_view path) const {
  if (patterns_.empty()) return false;
  if (matcher_ == BuildRules::Matcher::kFileutils) return ExcludedFileutils(path);
  return JudgeFromRoot(path, false).excluded;
}

bool IgnoreMatcher::EmptyOnOpen(absl::string_view path) const {
  if (patterns_.empty() || !empty_when_open_excludes_) return false;
  return JudgeFromRoot(path, false).empty_on_open;
}

bool IgnoreMatcher::WalkExcludedDir(absl::string_view dir) const {
  if (!has_exclusions_) return false;
  if (descend_ == BuildRules::Descend::kFsutilFilter && wildcard_exception_) return true;
  std::string dir_slash = absl::StrCat(dir, "/");
  for (const Pattern& p : patterns_) {
    if (!p.exclusion) continue;
    absl::string_view written = p.text;
    if (descend_ == BuildRules::Descend::kFsutilFilter) written = WithoutTrailingGlob(written);
    if (absl::StartsWith(absl::StrCat(written, "/"), dir_slash)) return true;
  }
  return false;
}

}  // namespace stalecheck
