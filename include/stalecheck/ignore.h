#pragma once
// The .dockerignore matcher, as the engine on these machines applies it (the Docker CLI's
// ReadAll plus the fileutils PatternMatcher and the fsutil walker it feeds).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"

namespace re2 {
class RE2;
}

namespace stalecheck {

/// Reads .dockerignore text into patterns: drops a UTF-8 BOM, splits lines (a trailing CR is
/// dropped), skips lines whose raw text starts with '#', trims, skips empty lines, trims again
/// after a leading '!', cleans the path and strips one leading '/'. The '!' is kept.
std::vector<std::string> ReadIgnorePatterns(absl::string_view text);

/// A compiled list of .dockerignore patterns.
class IgnoreMatcher {
 public:
  IgnoreMatcher();
  IgnoreMatcher(IgnoreMatcher&&) noexcept;
  IgnoreMatcher& operator=(IgnoreMatcher&&) noexcept;
  ~IgnoreMatcher();

  /// Compiles patterns as produced by ReadIgnorePatterns. Errors: a bare "!", a pattern
  /// Go's filepath.Match rejects (an unclosed '[', a trailing '\'), a pattern whose regular
  /// expression does not compile.
  static absl::StatusOr<IgnoreMatcher> Compile(const std::vector<std::string>& patterns);

  /// ReadIgnorePatterns + Compile.
  static absl::StatusOr<IgnoreMatcher> Parse(absl::string_view text);

  /// Whether `path` ('/'-separated, relative to the context root, no leading "./") is
  /// excluded. Patterns apply in order, the last one that hits wins; a pattern hits when it
  /// matches the path, or the ancestor of the path that has as many components as the
  /// pattern.
  bool Excluded(absl::string_view path) const;

  /// For an excluded directory: whether the walker still descends into it (and sends it).
  /// It does when an exception pattern, as written, starts with "<dir>/".
  bool WalkExcludedDir(absl::string_view dir) const;

  bool empty() const { return patterns_.empty(); }
  size_t size() const { return patterns_.size(); }

 private:
  struct Pattern {
    std::string text;  // cleaned, without '!'
    bool exclusion = false;
    size_t components = 0;
    bool literal = false;
    std::unique_ptr<re2::RE2> regex;
  };
  bool Matches(const Pattern& p, absl::string_view path) const;

  std::vector<Pattern> patterns_;
  bool has_exclusions_ = false;
};

}  // namespace stalecheck
