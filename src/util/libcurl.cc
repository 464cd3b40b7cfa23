#include "src/util/libcurl.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"

namespace stalecheck::libcurl {
namespace {

// The soname Debian's libcurl4 (and every distribution's OpenSSL build) installs.
constexpr const char* kLibrary = "libcurl.so.4";

struct Loaded {
  Api api{};
  std::string error;  // empty when api is whole
};

template <typename F>
bool Bind(void* lib, const char* name, F& out, std::string& error) {
  void* sym = ::dlsym(lib, name);
  if (sym == nullptr) {
    error = absl::StrCat(kLibrary, " has no ", name);
    return false;
  }
  out = reinterpret_cast<F>(sym);
  return true;
}

Loaded Open() {
  Loaded l;
  void* lib = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);  // kept open for the process's life
  if (lib == nullptr) {
    const char* why = ::dlerror();
    l.error = absl::StrCat("cannot load ", kLibrary, ", which the engine and registry clients need: ",
                           why != nullptr ? why : "unknown error");
    return l;
  }
  Api& a = l.api;
  CURLcode (*global_init)(long) = nullptr;
  if (!Bind(lib, "curl_global_init", global_init, l.error) || !Bind(lib, "curl_easy_init", a.easy_init, l.error) ||
      !Bind(lib, "curl_easy_setopt", a.easy_setopt, l.error) ||
      !Bind(lib, "curl_easy_perform", a.easy_perform, l.error) ||
      !Bind(lib, "curl_easy_cleanup", a.easy_cleanup, l.error) ||
      !Bind(lib, "curl_easy_strerror", a.easy_strerror, l.error) ||
      !Bind(lib, "curl_easy_escape", a.easy_escape, l.error) || !Bind(lib, "curl_free", a.free, l.error) ||
      !Bind(lib, "curl_slist_append", a.slist_append, l.error) ||
      !Bind(lib, "curl_slist_free_all", a.slist_free_all, l.error)) {
    return l;
  }
  if (CURLcode rc = global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
    l.error = absl::StrCat(kLibrary, " did not start (curl_global_init: code ", static_cast<int>(rc), ")");
  }
  return l;
}

}  // namespace

absl::StatusOr<const Api*> Load() {
  static std::once_flag once;
  static Loaded* loaded = nullptr;
  std::call_once(once, [] { loaded = new Loaded(Open()); });
  if (!loaded->error.empty()) return absl::FailedPreconditionError(loaded->error);
  return &loaded->api;
}

}  // namespace stalecheck::libcurl
