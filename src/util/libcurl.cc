#include "src/util/libcurl.h"

#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "src/util/shared_library.h"

namespace stalecheck::libcurl {
namespace {

// The soname Debian's libcurl4 (and every distribution's OpenSSL build) installs.
constexpr const char* kLibrary = "libcurl.so.4";

struct Loaded {
  Api api{};
  std::string error;  // empty when api is whole
};

Loaded Open() {
  Loaded l;
  SharedLibrary lib(kLibrary, "the engine and registry clients need");
  Api& a = l.api;
  CURLcode (*global_init)(long) = nullptr;
  // Each bind after a failure is a no-op: the first missing function is the one named.
  lib.Bind("curl_global_init", global_init);
  lib.Bind("curl_easy_init", a.easy_init);
  lib.Bind("curl_easy_setopt", a.easy_setopt);
  lib.Bind("curl_easy_perform", a.easy_perform);
  lib.Bind("curl_easy_cleanup", a.easy_cleanup);
  lib.Bind("curl_easy_strerror", a.easy_strerror);
  lib.Bind("curl_easy_escape", a.easy_escape);
  lib.Bind("curl_free", a.free);
  lib.Bind("curl_slist_append", a.slist_append);
  lib.Bind("curl_slist_free_all", a.slist_free_all);
  if (lib.error().empty()) {
    if (CURLcode rc = global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
      lib.Fail(absl::StrCat(kLibrary, " did not start (curl_global_init: code ",
                            static_cast<int>(rc), ")"));
    }
  }
  l.error = lib.error();
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
