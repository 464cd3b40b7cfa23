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

size_t ReceiveBody(char* data, size_t size, size_t n, void* receiver) {
  auto* r = static_cast<Receiver*>(receiver);
  const size_t len = size * n;
  if (r->sink != nullptr && r->status == 200) {
    if ((*r->sink)(data, len)) return len;
    r->stopped = true;
    return 0;  // a short count stops the transfer
  }
  if (r->error_keep != 0 && r->status != 200) {
    if (r->body.size() + len <= r->error_keep) r->body.append(data, len);
    return len;  // an error body: its start says enough
  }
  if (r->body.size() + len > r->limit) {
    r->too_big = true;
    return 0;
  }
  r->body.append(data, len);
  return len;
}

}  // namespace stalecheck::libcurl
