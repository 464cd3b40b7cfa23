#include "src/git/libgit2.h"

#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "src/util/shared_library.h"

namespace stalecheck::git::libgit2 {
namespace {

// The soname of the libgit2 whose headers this was built with (libgit2.so.MAJOR.MINOR: its
// ABI changes with each minor version); CMake derives it from the library's version.
constexpr const char* kLibrary = STALECHECK_LIBGIT2_SONAME;

struct Loaded {
  Api api;
  std::string error;  // empty when api is whole
};

Loaded Open() {
  Loaded l;
  SharedLibrary lib(kLibrary, "reading a git repository needs");
#define STALECHECK_LIBGIT2_BIND(name) lib.Bind(#name, l.api.name);
  STALECHECK_LIBGIT2_FUNCTIONS(STALECHECK_LIBGIT2_BIND)
#undef STALECHECK_LIBGIT2_BIND
  l.error = lib.error();
  if (!l.error.empty()) return l;
  if (int rc = l.api.git_libgit2_init(); rc < 0) {
    l.error = absl::StrCat(kLibrary, " did not start (git_libgit2_init: ", rc, ")");
    return l;
  }
  // Pack files are read through mapped windows that stay mapped up to a limit (8 GiB by
  // default), and mapped pages count as resident memory: keep windows small and few.
  l.api.git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, static_cast<size_t>(1) << 20);
  l.api.git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, static_cast<size_t>(2) << 20);
  // Every object is read once: a cache would only hold memory.
  l.api.git_libgit2_opts(GIT_OPT_ENABLE_CACHING, 0);
  return l;
}

const Loaded& Get() {
  static std::once_flag once;
  static Loaded* loaded = nullptr;
  std::call_once(once, [] { loaded = new Loaded(Open()); });
  return *loaded;
}

}  // namespace

absl::Status Load() {
  const Loaded& l = Get();
  if (!l.error.empty()) return absl::FailedPreconditionError(l.error);
  return absl::OkStatus();
}

const Api& Fns() { return Get().api; }

}  // namespace stalecheck::git::libgit2
