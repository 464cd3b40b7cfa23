#pragma once
// The .dockerignore matcher, as each build client applies it: the Docker CLI's ReadAll, then
// Docker 20.10's fileutils matcher or moby/patternmatcher 0.6, and the walker they feed.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "stalecheck/rules.h"

namespace re2 {
class RE2;
}

namespace stalecheck {

/// Reads .dockerignore text into patterns: drops a UTF-8 BOM, splits lines (a trailing CR is
/// dropped), skips lines whose raw text starts with '#', trims, skips empty lines, trims again
/// after a leading '!', cleans the path and strips one leading '/'. The '!' is kept.
std::vector<std::string> ReadIgnorePatterns(absl::string_view text);

/// A compiled list of .dockerignore patterns, judged by one build client's rules.
class IgnoreMatcher {
 public:
  IgnoreMatcher();
  IgnoreMatcher(IgnoreMatcher&&) noexcept;
  IgnoreMatcher& operator=(IgnoreMatcher&&) noexcept;
  ~IgnoreMatcher();

  /// Compiles patterns as produced by ReadIgnorePatterns, for the client `rules` name.
  /// Errors: a bare "!", a pattern Go's filepath.Match rejects (an unclosed '[', a trailing
  /// '\'), a pattern whose regular expression does not compile.
  static absl::StatusOr<IgnoreMatcher> Compile(const std::vector<std::string>& patterns,
                                               const BuildRules& rules);

  /// ReadIgnorePatterns + Compile.
  static absl::StatusOr<IgnoreMatcher> Parse(absl::string_view text, const BuildRules& rules);

  /// What a directory's own judgement hands down to the entries below it. Unused by the
  /// fileutils matcher, which judges every path afresh.
  struct Carry {
    std::vector<bool> matched;  // patternmatcher's MatchInfo: which patterns matched the directory
    /// Under rules whose Open judges a path alone: which patterns match, as written, the
    /// directory or one of its ancestors (what that judgement tries above an entry).
    std::vector<bool> hit;
    bool any_hit = false;
  };

  struct Decision {
    bool excluded = false;
    bool descend = false;  // a directory: the walk reads it (excluded or not)
    /// A file the walk sends whose bytes the client's Open refuses: it arrives empty.
    bool empty_on_open = false;
  };

  /// Judges `path` ('/'-separated, relative to the context root, no leading "./") whose
  /// parent directory left `parent` (nullptr for the root's entries). For a directory,
  /// `carry` receives what its entries are judged with.
  Decision Judge(absl::string_view path, bool is_dir, const Carry* parent, Carry* carry) const;

  /// Whether `path` is excluded, as the walk would judge it coming down from the root.
  bool Excluded(absl::string_view path) const;

  /// Whether the file `path`, which the walk sends, arrives empty: the client's Open judges the
  /// path alone, every ancestor tried and nothing carried down (patternmatcher's
  /// MatchesOrParentMatches, which buildx's fsutil asks before it reads a file's bytes), and
  /// refuses it. Always false under rules without that Open.
  bool EmptyOnOpen(absl::string_view path) const;

  /// For an excluded directory: whether the walker still reads it.
  bool WalkExcludedDir(absl::string_view dir) const;

  bool empty() const { return patterns_.empty(); }
  size_t size() const { return patterns_.size(); }

 private:
  enum class Kind { kExact, kPrefix, kSuffix, kRegex };
  struct Pattern {
    std::string text;  // cleaned, without '!'
    bool exclusion = false;
    size_t components = 0;
    Kind kind = Kind::kExact;
    std::unique_ptr<re2::RE2> regex;
  };
  bool Matches(const Pattern& p, absl::string_view path) const;
  bool ExcludedFileutils(absl::string_view path) const;
  bool ExcludedCarried(absl::string_view path, const Carry* parent, Carry* carry) const;
  bool ExcludedOnOpen(absl::string_view path, const Carry* parent) const;
  /// Judge, coming down from the root to `path`.
  Decision JudgeFromRoot(absl::string_view path, bool is_dir) const;

  std::vector<Pattern> patterns_;
  BuildRules::Matcher matcher_ = BuildRules::Matcher::kPatternMatcher;
  BuildRules::Descend descend_ = BuildRules::Descend::kFsutilFilter;
  bool empty_when_open_excludes_ = false;
  bool has_exclusions_ = false;
  bool wildcard_exception_ = false;  // an exception holds a wildcard (fsutil walks every excluded dir)
};

}  // namespace stalecheck
