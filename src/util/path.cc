#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"
#include "stalecheck/util.h"

namespace stalecheck {

namespace {

// Already what CleanPath would make of it: no empty, "." or ".." element, no trailing slash
// (but "/" itself). Most paths are: the walk's, the layers', and joins of them.
bool AlreadyClean(absl::string_view path) {
  if (path.empty()) return false;
  if (path == "/") return true;
  if (path.back() == '/') return false;
  size_t start = path.front() == '/' ? 1 : 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == absl::string_view::npos) end = path.size();
    const size_t n = end - start;
    if (n == 0) return false;
    if (path[start] == '.' && (n == 1 || (n == 2 && path[start + 1] == '.'))) return false;
    start = end + 1;
  }
  return true;
}

}  // namespace

std::string CleanPath(absl::string_view path) {
  if (AlreadyClean(path)) return std::string(path);
  if (path.empty()) return ".";
  const bool rooted = path.front() == '/';
  std::vector<absl::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == absl::string_view::npos) j = path.size();
    absl::string_view elem = path.substr(i, j - i);
    i = j + 1;
    if (elem.empty() || elem == ".") continue;
    if (elem == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (!rooted) {
        parts.push_back(elem);
      }
      continue;
    }
    parts.push_back(elem);
  }
  std::string out = rooted ? "/" : "";
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k > 0) out += '/';
    out.append(parts[k].data(), parts[k].size());
  }
  if (out.empty()) return ".";
  return out;
}

std::string JoinPath(absl::string_view base, absl::string_view rel) {
  if (base.empty() || base == ".") return std::string(rel);
  if (rel.empty()) return std::string(base);
  if (base.back() == '/') return absl::StrCat(base, rel);
  return absl::StrCat(base, "/", rel);
}

char* FormatModeTo(char* out, uint32_t mode) {
  mode &= 07777;
  for (int i = 3; i >= 0; --i, mode >>= 3) out[i] = static_cast<char>('0' + (mode & 7));
  return out + 4;
}

std::string FormatMode(uint32_t mode) {
  std::string out(4, '0');
  FormatModeTo(out.data(), mode);
  return out;
}

bool PathUnder(absl::string_view path, absl::string_view dir) {
  if (dir.empty() || dir == "/") return true;
  return path == dir || (path.size() > dir.size() && absl::StartsWith(path, dir) && path[dir.size()] == '/');
}

std::string Basename(absl::string_view path) {
  size_t s = path.rfind('/');
  return std::string(s == absl::string_view::npos ? path : path.substr(s + 1));
}

absl::string_view ParentDir(absl::string_view path) {
  size_t s = path.rfind('/');
  return s == 0 || s == absl::string_view::npos ? absl::string_view("/") : path.substr(0, s);
}

std::string RepoRelativePath(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec) return path;
  // Symlinks in the directories (/tmp on some hosts) must not hide the prefix.
  fs::path dir = fs::weakly_canonical(abs.parent_path(), ec);
  if (ec) dir = abs.parent_path();
  const fs::path file = dir / abs.filename();
  auto under = [&](const fs::path& root) -> std::optional<std::string> {
    std::error_code e;
    fs::path r = fs::weakly_canonical(root, e);
    if (e) return std::nullopt;
    fs::path rel = file.lexically_relative(r);
    if (rel.empty() || *rel.begin() == "..") return std::nullopt;
    return rel.generic_string();
  };
  if (const char* ws = std::getenv("GITHUB_WORKSPACE"); ws != nullptr && *ws != '\0') {
    if (auto rel = under(ws)) return *rel;
  }
  for (fs::path d = dir; !d.empty(); d = d.parent_path()) {
    if (fs::exists(d / ".git", ec)) {
      if (auto rel = under(d)) return *rel;
      break;
    }
    if (d == d.root_path()) break;
  }
  if (auto rel = under(fs::current_path(ec))) return *rel;
  return path;
}

}  // namespace stalecheck
