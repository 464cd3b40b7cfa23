// libcurl, opened when the first HTTP request is made instead of at start-up.
//
// Most runs (a context, an archive, an OCI layout, the engine's storage read directly) speak no
// HTTP, and linking libcurl made each of them load and relocate its two dozen dependencies
// (TLS, Kerberos, LDAP, SSH, IDN, HTTP/2, brotli). The engine and registry clients take the
// functions they call from here; curl/curl.h still gives the types and constants.
#pragma once

#include <curl/curl.h>

#include "absl/status/statusor.h"

namespace stalecheck::libcurl {

struct Api {
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  void (*easy_cleanup)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  char* (*easy_escape)(CURL*, const char*, int);
  void (*free)(void*);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

/// The library's functions, loaded and curl_global_init'ed once per process (thread-safe).
/// Fails, every time, naming the library and why when it cannot be opened.
absl::StatusOr<const Api*> Load();

}  // namespace stalecheck::libcurl
