#include "src/git/checkout.h"

#include <git2/sys/repository.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/match.h"
#include "src/git/libgit2.h"
#include "stalecheck/util.h"

namespace stalecheck::git {

using libgit2::Fns;
namespace {

std::string LastError() {
  const git_error* e = Fns().git_error_last();
  return e != nullptr && e->message != nullptr ? e->message : "unknown libgit2 error";
}

// A string setting of `config`, or "" when it is not set.
std::string ConfigString(git_config* config, const std::string& name) {
  git_buf buf = GIT_BUF_INIT;
  std::string out;
  if (Fns().git_config_get_string_buf(&buf, config, name.c_str()) == 0) out.assign(buf.ptr, buf.size);
  Fns().git_buf_dispose(&buf);
  return out;
}

}  // namespace

std::optional<LfsPointer> ParseLfsPointer(absl::string_view data) {
  if (data.size() >= kLfsPointerMaxSize || !absl::EndsWith(data, "\n")) return std::nullopt;
  data.remove_suffix(1);
  LfsPointer p;
  bool version = false, oid = false, size = false;
  for (absl::string_view line : absl::StrSplit(data, '\n')) {
    const size_t space = line.find(' ');
    if (space == absl::string_view::npos || space == 0) return std::nullopt;
    absl::string_view key = line.substr(0, space), value = line.substr(space + 1);
    if (!version) {
      // The first line names the spec; the other keys follow in any order here.
      if (key != "version" || (value != "https://git-lfs.github.com/spec/v1" &&
                               value != "https://hawser.github.com/spec/v1")) {
        return std::nullopt;
      }
      version = true;
    } else if (key == "oid") {
      if (!absl::StartsWith(value, "sha256:") || value.size() != 7 + 64) return std::nullopt;
      for (char c : value.substr(7)) {
        if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return std::nullopt;
      }
      p.oid = std::string(value.substr(7));
      oid = true;
    } else if (key == "size") {
      if (value.empty() || !absl::SimpleAtoi(value, &p.size) || !absl::ascii_isdigit(value[0])) {
        return std::nullopt;
      }
      size = true;
    }
  }
  if (!version || !oid || !size) return std::nullopt;
  return p;
}

bool CheckoutConversions::AnyPossible(git_repository* repo,
                                      const std::vector<std::string>& tree_attributes) {
  const auto converts = [](absl::string_view text) {
    for (absl::string_view word : {"text", "eol", "crlf", "ident", "filter", "encoding"}) {
      if (absl::StrContains(text, word)) return true;
    }
    return false;
  };
  for (const std::string& text : tree_attributes) {
    if (converts(text)) return true;
  }
  git_config* config = nullptr;
  if (Fns().git_repository_config_snapshot(&config, repo) != 0) return true;
  int autocrlf = 0;
  const bool crlf = Fns().git_config_get_bool(&autocrlf, config, "core.autocrlf") == 0 && autocrlf != 0;
  std::string global = ConfigString(config, "core.attributesFile");
  Fns().git_config_free(config);
  if (crlf) return true;
  if (absl::StartsWith(global, "~/")) {
    const char* home = std::getenv("HOME");
    global = JoinPath(home != nullptr ? home : "", global.substr(2));
  } else if (global.empty()) {
    const char* xdg = std::getenv("XDG_CONFIG_HOME");
    const char* home = std::getenv("HOME");
    if (xdg != nullptr && *xdg != '\0') {
      global = JoinPath(xdg, "git/attributes");
    } else if (home != nullptr) {
      global = JoinPath(home, ".config/git/attributes");
    }
  }
  for (const std::string& file : {JoinPath(Fns().git_repository_commondir(repo), "info/attributes"), global,
                                  std::string("/etc/gitattributes")}) {
    std::string text;
    if (!file.empty() && ReadSmallFile(file, &text).ok() && converts(text)) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<CheckoutConversions>> CheckoutConversions::Open(
    const std::string& gitdir, const git_oid& tree_id) {
  std::unique_ptr<CheckoutConversions> c(new CheckoutConversions());
  // Opened bare, with an in-memory index of the revision's tree: the attribute files git
  // reads from the index are then the revision's, never the working tree's or the real
  // index's. Nothing is written.
  git_tree* tree = nullptr;
  const bool ok = Fns().git_repository_open_bare(&c->repo_, gitdir.c_str()) == 0 && Fns().git_index_new(&c->index_) == 0 &&
                  Fns().git_tree_lookup(&tree, c->repo_, &tree_id) == 0 && Fns().git_index_read_tree(c->index_, tree) == 0 &&
                  Fns().git_repository_set_index(c->repo_, c->index_) == 0 &&
                  Fns().git_repository_config_snapshot(&c->config_, c->repo_) == 0;
  Fns().git_tree_free(tree);
  if (!ok) return absl::InvalidArgumentError(absl::StrCat("reading the revision's attributes in ", gitdir, ": ", LastError()));
  // libgit2 looks for the system attribute file at each lookup; where there is none, say so
  // once (the lookups then skip it, with the same result).
  c->no_system_attributes_ = ::access("/etc/gitattributes", F_OK) != 0;
  int autocrlf = 0;
  // core.autocrlf=input converts only when committing.
  c->autocrlf_ = Fns().git_config_get_bool(&autocrlf, c->config_, "core.autocrlf") == 0 && autocrlf != 0;
  c->core_eol_crlf_ = ConfigString(c->config_, "core.eol") == "crlf";
  std::string storage = ConfigString(c->config_, "lfs.storage");
  const std::string common = Fns().git_repository_commondir(c->repo_);
  if (storage.empty()) {
    c->lfs_objects_ = JoinPath(common, "lfs/objects");
  } else {
    c->lfs_objects_ = JoinPath(storage.front() == '/' ? storage : JoinPath(common, storage), "objects");
  }
  return c;
}

CheckoutConversions::~CheckoutConversions() {
  Fns().git_config_free(config_);
  Fns().git_index_free(index_);
  Fns().git_repository_free(repo_);
}

absl::StatusOr<CheckoutKind> CheckoutConversions::Kind(const std::string& path,
                                                       const std::string& shown) {
  git_attr_options opts = GIT_ATTR_OPTIONS_INIT;
  opts.flags = GIT_ATTR_CHECK_INDEX_ONLY | (no_system_attributes_ ? GIT_ATTR_CHECK_NO_SYSTEM : 0);
  const char* names[] = {"filter", "working-tree-encoding", "ident", "text", "crlf", "eol"};
  const char* values[6] = {};
  if (Fns().git_attr_get_many_ext(values, repo_, &opts, path.c_str(), 6, names) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("reading the attributes of ", shown, ": ", LastError()));
  }
  const auto value = [&](int i) { return Fns().git_attr_value(values[i]); };
  if (value(1) == GIT_ATTR_VALUE_STRING) {
    return absl::UnimplementedError(absl::StrCat(
        shown, ": its checkout re-encodes it (working-tree-encoding=", values[1],
        "), which --rev does not reproduce"));
  }
  if (value(0) == GIT_ATTR_VALUE_STRING) {
    const std::string driver = values[0];
    const bool runs = !ConfigString(config_, absl::StrCat("filter.", driver, ".smudge")).empty() ||
                      !ConfigString(config_, absl::StrCat("filter.", driver, ".process")).empty();
    int required = 0;
    Fns().git_config_get_bool(&required, config_, absl::StrCat("filter.", driver, ".required").c_str());
    if (runs && driver == "lfs") return CheckoutKind::kLfs;
    if (runs) {
      return absl::UnimplementedError(absl::StrCat(
          shown, ": its checkout runs the filter driver '", driver, "', which --rev does not run"));
    }
    if (required != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          shown, ": filter '", driver, "' is required but has no smudge command, so git cannot check it out"));
    }
    // A driver the config does not define: git checks the bytes out as they are.
  }
  // Whether git's built-in filters may change the bytes: `ident`, or a CRLF checkout. This
  // only has to include every case that converts; libgit2 then converts exactly, and leaves
  // what needs no conversion (binary content under text=auto, say) as it is.
  if (value(2) == GIT_ATTR_VALUE_TRUE) return CheckoutKind::kFilters;
  const bool text_off = value(3) == GIT_ATTR_VALUE_FALSE || value(4) == GIT_ATTR_VALUE_FALSE;
  if (text_off) return CheckoutKind::kStored;
  const bool text_set = value(3) != GIT_ATTR_VALUE_UNSPECIFIED || value(4) != GIT_ATTR_VALUE_UNSPECIFIED;
  if (value(5) == GIT_ATTR_VALUE_STRING) {
    return std::strcmp(values[5], "crlf") == 0 ? CheckoutKind::kFilters : CheckoutKind::kStored;
  }
  if (autocrlf_ || (text_set && core_eol_crlf_)) return CheckoutKind::kFilters;
  return CheckoutKind::kStored;
}

absl::StatusOr<std::string> CheckoutConversions::Filtered(const std::string& path, std::string bytes,
                                                          const git_oid& id, const std::string& shown) {
  git_filter_options opts = GIT_FILTER_OPTIONS_INIT;
  opts.flags = no_system_attributes_ ? GIT_FILTER_NO_SYSTEM_ATTRIBUTES : 0;
  git_filter_list* filters = nullptr;
  if (Fns().git_filter_list_load_ext(&filters, repo_, nullptr, path.c_str(), GIT_FILTER_TO_WORKTREE, &opts) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("reading the filters of ", shown, ": ", LastError()));
  }
  if (filters == nullptr) return bytes;  // none applies after all
  git_buf out = GIT_BUF_INIT;
  int rc;
  if (Fns().git_filter_list_contains(filters, "ident") != 0) {
    // `ident` writes the blob's id, which only the blob object gives the filter.
    git_blob* blob = nullptr;
    rc = Fns().git_blob_lookup(&blob, repo_, &id);
    if (rc == 0) rc = Fns().git_filter_list_apply_to_blob(&out, filters, blob);
    Fns().git_blob_free(blob);
  } else {
    rc = Fns().git_filter_list_apply_to_buffer(&out, filters, bytes.data(), bytes.size());
  }
  Fns().git_filter_list_free(filters);
  if (rc != 0) {
    Fns().git_buf_dispose(&out);
    return absl::InvalidArgumentError(absl::StrCat("converting ", shown, " for checkout: ", LastError()));
  }
  std::string converted(out.ptr, out.size);
  Fns().git_buf_dispose(&out);
  return converted;
}

std::string CheckoutConversions::LfsObjectPath(const LfsPointer& pointer) const {
  return JoinPath(lfs_objects_,
                  absl::StrCat(pointer.oid.substr(0, 2), "/", pointer.oid.substr(2, 2), "/", pointer.oid));
}

}  // namespace stalecheck::git
