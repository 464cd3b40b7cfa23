// COPY/ADD --chmod values: octal, or symbolic as chmod(1) writes them. The current Dockerfile
// frontend applies a symbolic mode to each entry's own mode with no umask: `+w` on 0644 is
// 0666, `a+X,g-rwx` on a 0700 directory is 0701 (built on Docker 28.5).

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "stalecheck/dockerfile.h"

namespace stalecheck {
namespace {

uint32_t WhoMask(char c) {
  switch (c) {
    case 'u': return 04700;
    case 'g': return 02070;
    case 'o': return 01007;
    default: return 07777;  // 'a'
  }
}

}  // namespace

absl::StatusOr<ModeChange> ModeChange::Parse(absl::string_view text) {
  ModeChange m;
  m.text = std::string(text);
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("--chmod=", text, ": ", why));
  };
  if (text.empty()) return bad("empty mode");
  if (text.find_first_not_of("01234567") == absl::string_view::npos) {
    uint32_t mode = 0;
    if (!absl::numbers_internal::safe_strtou32_base(text, &mode, 8) || mode > 07777) {
      return bad("an octal mode is at most 7777");
    }
    m.octal = mode;
    return m;
  }
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    size_t i = 0;
    uint32_t who = 0;
    while (i < part.size() && absl::string_view("ugoa").find(part[i]) != absl::string_view::npos) {
      who |= WhoMask(part[i]);
      ++i;
    }
    if (i == part.size()) return bad(absl::StrCat("'", part, "' has no +, - or ="));
    while (i < part.size()) {
      Clause c;
      c.who = who == 0 ? 07777 : who;
      c.op = part[i];
      if (c.op != '+' && c.op != '-' && c.op != '=') {
        return bad(absl::StrCat("'", part, "': expected +, - or = before '", part.substr(i, 1), "'"));
      }
      ++i;
      if (i < part.size() && absl::string_view("ugo").find(part[i]) != absl::string_view::npos) {
        c.copy_from = part[i++];
      } else {
        for (; i < part.size() && absl::string_view("rwxXst").find(part[i]) != absl::string_view::npos; ++i) {
          switch (part[i]) {
            case 'r': c.perm |= 0444; break;
            case 'w': c.perm |= 0222; break;
            case 'x': c.perm |= 0111; break;
            case 'X': c.exec_if_any = true; break;
            case 's': c.perm |= 06000; break;
            case 't': c.perm |= 01000; break;
          }
        }
      }
      if (i < part.size() && part[i] != '+' && part[i] != '-' && part[i] != '=') {
        return bad(absl::StrCat("'", part, "': unexpected '", part.substr(i, 1), "'"));
      }
      m.clauses.push_back(c);
    }
  }
  return m;
}

uint32_t ModeChange::Apply(uint32_t mode, bool is_dir) const {
  if (octal) return *octal;
  for (const Clause& c : clauses) {
    uint32_t bits = c.perm;
    if (c.exec_if_any && (is_dir || (mode & 0111) != 0)) bits |= 0111;
    if (c.copy_from != 0) {
      const uint32_t v = c.copy_from == 'u' ? (mode >> 6) & 7 : c.copy_from == 'g' ? (mode >> 3) & 7 : mode & 7;
      bits = v * 0111;
    }
    bits &= c.who;
    switch (c.op) {
      case '+': mode |= bits; break;
      case '-': mode &= ~bits; break;
      default: mode = (mode & ~c.who) | bits; break;
    }
  }
  return mode & 07777;
}

}  // namespace stalecheck
