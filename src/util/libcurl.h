// libcurl, opened when the first HTTP request is made instead of at start-up.
//
// Most runs (a context, an archive, an OCI layout, the engine's storage read directly) speak no
// HTTP, and linking libcurl made each of them load and relocate its two dozen dependencies
// (TLS, Kerberos, LDAP, SSH, IDN, HTTP/2, brotli). The engine and registry clients take the
// functions they call from here; curl/curl.h still gives the types and constants.
#pragma once

#include <curl/curl.h>

#include <cstddef>
#include <functional>
#include <string>

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

/// Where a response's body goes, for the engine's and the registry's clients alike: a 200's
/// bytes to `sink` when there is one, any other body into `body`. A kept body longer than
/// `limit` stops the transfer (`too_big`); with `error_keep`, a body that is not a 200's keeps
/// only what fits in that many bytes and the rest is read and dropped. The client's header
/// callback sets `status` from each status line.
struct Receiver {
  long status = 0;
  std::string body;
  const std::function<bool(const char*, size_t)>* sink = nullptr;
  size_t limit = 0;
  size_t error_keep = 0;
  bool too_big = false;
  bool stopped = false;  // the sink asked to stop: the reader has what it wanted, or went away
};

/// A CURLOPT_WRITEFUNCTION for a Receiver given as CURLOPT_WRITEDATA.
size_t ReceiveBody(char* data, size_t size, size_t n, void* receiver);

}  // namespace stalecheck::libcurl
