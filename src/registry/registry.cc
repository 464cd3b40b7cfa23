// The OCI distribution API, read-only: references normalised as docker does, credentials found
// as docker finds them, the token dance (anonymous, basic, bearer, identity tokens), manifests
// and blobs, with bounded retries and a timeout on every read.

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/util/libcurl.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "stalecheck/hash.h"
#include "stalecheck/registry.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

constexpr size_t kSmallLimit = 16 << 20;  // manifests, configs, token answers

std::string Str(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool IsLowerName(absl::string_view s) {
  if (s.empty()) return false;
  for (absl::string_view part : absl::StrSplit(s, '/')) {
    if (part.empty()) return false;
    for (char c : part) {
      if (!(absl::ascii_isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'z') || c == '.' || c == '_' ||
            c == '-')) {
        return false;
      }
    }
    if (!absl::ascii_isalnum(static_cast<unsigned char>(part.front())) ||
        !absl::ascii_isalnum(static_cast<unsigned char>(part.back()))) {
      return false;
    }
  }
  return true;
}

bool IsTag(absl::string_view s) {
  if (s.empty() || s.size() > 128 || s[0] == '.' || s[0] == '-') return false;
  for (char c : s) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

bool IsDigest(absl::string_view s) {
  if (!absl::ConsumePrefix(&s, "sha256:")) return false;
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == absl::string_view::npos;
}

// The hostname of an `auths` key: scheme and path dropped (docker/cli ConvertToHostname).
std::string HostnameOf(std::string key) {
  for (const char* scheme : {"http://", "https://"}) {
    if (absl::StartsWith(key, scheme)) key = key.substr(std::strlen(scheme));
  }
  return key.substr(0, key.find('/'));
}

bool IsLoopback(const std::string& host_port) {
  std::string host = host_port;
  if (absl::StartsWith(host, "[")) {
    host = host.substr(1, host.find(']') - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

absl::StatusOr<Credentials> FromHelper(const std::string& helper, const std::string& key) {
  std::optional<std::string> out = RunCapture({absl::StrCat("docker-credential-", helper), "get"}, key);
  Credentials c;
  if (!out) return c;  // not found, or no such helper: anonymous, as docker falls back
  nlohmann::json j = nlohmann::json::parse(*out, nullptr, false);
  if (!j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("docker-credential-", helper, " get: its answer is not JSON"));
  }
  if (Str(j, "Username") == "<token>") {
    c.identity_token = Str(j, "Secret");
  } else {
    c.username = Str(j, "Username");
    c.password = Str(j, "Secret");
  }
  return c;
}

absl::StatusOr<Credentials> FromAuthEntry(const nlohmann::json& e, const std::string& where) {
  Credentials c;
  c.username = Str(e, "username");
  c.password = Str(e, "password");
  c.identity_token = Str(e, "identitytoken");
  c.registry_token = Str(e, "registrytoken");
  if (std::string auth = Str(e, "auth"); !auth.empty()) {
    std::string decoded;
    if (!absl::Base64Unescape(auth, &decoded)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": an `auth` that is not base64"));
    }
    size_t colon = decoded.find(':');
    if (colon == std::string::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": an `auth` that is not user:password"));
    }
    c.username = decoded.substr(0, colon);
    c.password = std::string(absl::StripTrailingAsciiWhitespace(decoded.substr(colon + 1)));
    while (!c.password.empty() && c.password.back() == '\0') c.password.pop_back();
  }
  return c;
}

// The body, or the blob's sink, and the headers of the last response.
struct Response : libcurl::Receiver {
  Response() { limit = kSmallLimit; }
  std::multimap<std::string, std::string> headers;  // names lower-case
  int curl_code = 0;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string line(data, size * n);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new response (after a redirect or 100): its own headers.
    r->headers.clear();
    size_t sp = line.find(' ');
    if (sp != std::string::npos) r->status = std::strtol(line.c_str() + sp + 1, nullptr, 10);
  } else if (size_t colon = line.find(':'); colon != std::string::npos) {
    r->headers.emplace(absl::AsciiStrToLower(line.substr(0, colon)),
                       std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return size * n;
}

}  // namespace

std::string ImageReference::Host() const { return registry == "docker.io" ? "registry-1.docker.io" : registry; }

std::string ImageReference::CredentialKey() const {
  return registry == "docker.io" ? "https://index.docker.io/v1/" : registry;
}

std::string ImageReference::ToString() const {
  return absl::StrCat(registry, "/", repository, digest.empty() ? absl::StrCat(":", tag) : absl::StrCat("@", digest));
}

absl::StatusOr<ImageReference> ParseImageReference(const std::string& in) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("image reference '", in, "': ", why));
  };
  ImageReference r;
  std::string name = in;
  if (size_t at = name.find('@'); at != std::string::npos) {
    r.digest = name.substr(at + 1);
    name = name.substr(0, at);
    if (!IsDigest(r.digest)) return bad("the digest is not sha256: and 64 hex digits");
  }
  size_t slash = name.rfind('/');
  size_t colon = name.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    r.tag = name.substr(colon + 1);
    name = name.substr(0, colon);
    if (!IsTag(r.tag)) return bad("not a valid tag");
  }
  if (!r.digest.empty()) r.tag.clear();  // the digest wins
  else if (r.tag.empty()) r.tag = "latest";
  std::string first = name.substr(0, name.find('/'));
  const bool has_domain = name.find('/') != std::string::npos &&
                          (first.find_first_of(".:") != std::string::npos || first == "localhost" ||
                           std::any_of(first.begin(), first.end(), [](char c) { return c >= 'A' && c <= 'Z'; }));
  if (has_domain) {
    r.registry = first;
    r.repository = name.substr(first.size() + 1);
  } else {
    r.registry = "docker.io";
    r.repository = name;
  }
  if (r.registry == "index.docker.io") r.registry = "docker.io";
  if (r.registry == "docker.io" && r.repository.find('/') == std::string::npos) {
    r.repository = absl::StrCat("library/", r.repository);
  }
  if (!IsLowerName(r.repository)) return bad("the repository must be lower-case letters, digits and . _ - /");
  if (r.registry.size() + 1 + r.repository.size() > 255) return bad("longer than 255 characters");
  return r;
}

absl::StatusOr<Credentials> FindCredentials(const std::string& key) {
  std::string dir;
  if (const char* d = std::getenv("DOCKER_CONFIG"); d != nullptr && *d != '\0') {
    dir = d;
  } else if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    dir = absl::StrCat(h, "/.docker");
  } else {
    return Credentials{};
  }
  const std::string path = absl::StrCat(dir, "/config.json");
  if (::access(path.c_str(), F_OK) != 0) return Credentials{};
  std::string text;
  if (absl::Status s = ReadSmallFile(path, &text, 16 << 20); !s.ok()) return s;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, ": malformed JSON"));
  if (auto h = j.find("credHelpers"); h != j.end() && h->is_object()) {
    if (std::string helper = Str(*h, key.c_str()); !helper.empty()) return FromHelper(helper, key);
  }
  if (std::string store = Str(j, "credsStore"); !store.empty()) return FromHelper(store, key);
  auto auths = j.find("auths");
  if (auths == j.end() || !auths->is_object()) return Credentials{};
  if (auto e = auths->find(key); e != auths->end()) return FromAuthEntry(*e, absl::StrCat(path, ": auths.", key));
  for (auto it = auths->begin(); it != auths->end(); ++it) {
    if (HostnameOf(it.key()) == HostnameOf(key)) return FromAuthEntry(*it, absl::StrCat(path, ": auths.", it.key()));
  }
  return Credentials{};
}

struct RegistryClient::Impl {
  ImageReference ref;
  RegistryOptions options;
  std::string base;  // "https://HOST" or "http://HOST"
  bool settled = false;
  WwwAuthenticate challenge;
  Credentials creds;
  std::string authorization;  // the header value, once known

  // One GET (or a POST with `post_body`), following redirects, no retries.
  absl::Status Perform(const std::string& url, const std::vector<std::string>& headers, Response* r,
                       const std::string* post_body = nullptr, bool verify = true) {
    absl::StatusOr<const libcurl::Api*> lib = libcurl::Load();
    if (!lib.ok()) return lib.status();
    const libcurl::Api& curl = **lib;
    CURL* c = curl.easy_init();
    if (c == nullptr) return absl::InternalError("cannot start an HTTP client");
    struct curl_slist* list = nullptr;
    for (const std::string& h : headers) list = curl.slist_append(list, h.c_str());
    curl.easy_setopt(c, CURLOPT_URL, url.c_str());
    if (post_body != nullptr) {
      curl.easy_setopt(c, CURLOPT_POST, 1L);
      curl.easy_setopt(c, CURLOPT_POSTFIELDS, post_body->c_str());
      curl.easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(post_body->size()));
    } else {
      curl.easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    curl.easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl.easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    // Never from HTTPS down to HTTP; credentials never to another host (libcurl's default).
    curl.easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, absl::StartsWith(url, "https://") ? "https" : "http,https");
    curl.easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options.timeout));
    curl.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.timeout));
    std::string ca;
    if (!options.cert_dir.empty()) {
      curl.easy_setopt(c, CURLOPT_CAPATH, options.cert_dir.c_str());
      ca = absl::StrCat(options.cert_dir, "/ca.crt");
      if (::access(ca.c_str(), R_OK) == 0) curl.easy_setopt(c, CURLOPT_CAINFO, ca.c_str());
    } else if (const char* f = std::getenv("SSL_CERT_FILE"); f != nullptr && *f != '\0') {
      curl.easy_setopt(c, CURLOPT_CAINFO, f);
    }
    if (!verify) {
      curl.easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
      curl.easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, libcurl::ReceiveBody);
    curl.easy_setopt(c, CURLOPT_WRITEDATA, static_cast<libcurl::Receiver*>(r));
    curl.easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl.easy_setopt(c, CURLOPT_HEADERDATA, r);
    CURLcode rc = curl.easy_perform(c);
    curl.easy_cleanup(c);
    curl.slist_free_all(list);
    r->curl_code = rc;
    const std::string where = HostnameOf(url);
    if (rc == CURLE_WRITE_ERROR && r->too_big) {
      return absl::InvalidArgumentError(absl::StrCat("the registry ", where, " answered with more than ",
                                                     r->limit >> 20, " MiB where a small document was due"));
    }
    if (rc == CURLE_WRITE_ERROR && r->stopped) return absl::OkStatus();
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return absl::DeadlineExceededError(absl::StrCat("the registry ", where, " sent nothing for ", options.timeout,
                                                      " s (--timeout SECONDS to wait longer)"));
    }
    if (rc == CURLE_PEER_FAILED_VERIFICATION) {
      return absl::UnavailableError(absl::StrCat("the registry ", where, "'s TLS certificate is not trusted: ",
                                                 curl.easy_strerror(rc),
                                                 " (--cert-dir DIR or SSL_CERT_FILE for a private CA)"));
    }
    if (rc != CURLE_OK) {
      return absl::UnavailableError(absl::StrCat("the registry ", where, " could not be read: ", curl.easy_strerror(rc)));
    }
    return absl::OkStatus();
  }

  // A GET of the registry's API with its authorization, retried on 429 and 5xx (honouring
  // Retry-After), and once more with a fresh token when a bearer token is refused.
  absl::Status Get(const std::string& path, const std::vector<std::string>& extra, Response* r,
                   const std::string& what) {
    if (absl::Status s = Settle(); !s.ok()) return s;
    bool refreshed = false;
    for (int attempt = 1;; ++attempt) {
      Response fresh;
      fresh.sink = r->sink;
      fresh.limit = r->limit;
      *r = std::move(fresh);
      std::vector<std::string> headers = extra;
      if (!authorization.empty()) headers.push_back(absl::StrCat("Authorization: ", authorization));
      if (absl::Status s = Perform(absl::StrCat(base, path), headers, r, nullptr, options.tls_verify); !s.ok()) return s;
      if (r->status == 200) return absl::OkStatus();
      if (r->status == 401 && !refreshed && challenge.scheme == "bearer") {
        refreshed = true;
        WwwAuthenticate again = ParseWwwAuthenticate(r->Header("www-authenticate"));
        if (again.scheme == "bearer") challenge = again;
        if (absl::Status s = FetchToken(); !s.ok()) return s;
        --attempt;
        continue;
      }
      if ((r->status == 429 || r->status >= 500) && attempt < options.retries) {
        int wait = attempt == 1 ? 1 : 3;
        if (std::string ra = r->Header("retry-after"); !ra.empty() && absl::ascii_isdigit(ra[0])) {
          wait = std::min(30, std::atoi(ra.c_str()));
        }
        std::this_thread::sleep_for(std::chrono::seconds(wait));
        continue;
      }
      return StatusError(r->status, what);
    }
  }

  absl::Status StatusError(long status, const std::string& what) const {
    if (status == 401 || status == 403) {
      return absl::PermissionDeniedError(absl::StrCat("the registry refused ", what, " (HTTP ", status, ")",
                                                      creds.empty() ? "; no credentials found for " : "; credentials for ",
                                                      ref.CredentialKey(), creds.empty() ? " (docker login)" : " were refused"));
    }
    if (status == 404) return absl::NotFoundError(absl::StrCat("the registry has no ", what, " (HTTP 404)"));
    return absl::UnavailableError(absl::StrCat("the registry ", ref.registry, " answered HTTP ", status, " to ", what,
                                               status == 429 || status >= 500
                                                   ? absl::StrCat(" after ", options.retries, " attempts")
                                                   : ""));
  }

  // The first request: which scheme, and which authorization the registry wants.
  absl::Status Settle() {
    if (settled) return absl::OkStatus();
    settled = true;
    absl::StatusOr<Credentials> found = FindCredentials(ref.CredentialKey());
    if (!found.ok()) return found.status();
    creds = std::move(*found);
    // HTTPS first; plain HTTP only for a loopback registry, or with --tls-verify=false, and
    // only when the server does not speak TLS at all.
    const bool plain_allowed = IsLoopback(ref.registry) || !options.tls_verify;
    base = absl::StrCat("https://", ref.Host());
    Response r;
    absl::Status s = Perform(absl::StrCat(base, "/v2/"), {}, &r, nullptr, options.tls_verify);
    if (!s.ok() && plain_allowed &&
        (r.curl_code == CURLE_SSL_CONNECT_ERROR || (!options.tls_verify && r.curl_code == CURLE_COULDNT_CONNECT))) {
      base = absl::StrCat("http://", ref.Host());
      r = Response{};
      s = Perform(absl::StrCat(base, "/v2/"), {}, &r);
    }
    if (!s.ok()) return s;
    if (r.status == 200) {
      if (!creds.username.empty()) authorization = BasicValue();
      return absl::OkStatus();
    }
    if (r.status != 401) return StatusError(r.status, "GET /v2/");
    // Several challenges: take one we can answer.
    for (auto [it, end] = r.headers.equal_range("www-authenticate"); it != end; ++it) {
      WwwAuthenticate c = ParseWwwAuthenticate(it->second);
      if (c.scheme == "bearer" || (c.scheme == "basic" && challenge.scheme.empty())) challenge = c;
    }
    if (challenge.scheme == "basic") {
      if (creds.username.empty()) return StatusError(401, "GET /v2/ (it asks for a user name and password)");
      authorization = BasicValue();
      return absl::OkStatus();
    }
    if (challenge.scheme != "bearer") return absl::UnavailableError(absl::StrCat("the registry asks for an authentication stalecheck does not speak"));
    return FetchToken();
  }

  std::string BasicValue() const { return absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(creds.username, ":", creds.password))); }

  absl::Status FetchToken() {
    if (!creds.registry_token.empty()) {
      authorization = absl::StrCat("Bearer ", creds.registry_token);
      return absl::OkStatus();
    }
    std::string realm = challenge.params["realm"];
    if (!absl::StartsWith(realm, "https://") && !absl::StartsWith(realm, "http://")) {
      return absl::InvalidArgumentError(absl::StrCat("the registry names no token server (realm)"));
    }
    if (absl::StartsWith(realm, "http://") && absl::StartsWith(base, "https://")) {
      return absl::InvalidArgumentError(absl::StrCat("the registry sends credentials to a plain-HTTP token server ", HostnameOf(realm)));
    }
    std::string scope = challenge.params.count("scope") != 0 ? challenge.params["scope"]
                                                             : absl::StrCat("repository:", ref.repository, ":pull");
    absl::StatusOr<const libcurl::Api*> lib = libcurl::Load();
    if (!lib.ok()) return lib.status();
    const libcurl::Api& curl = **lib;
    char* service = curl.easy_escape(nullptr, challenge.params["service"].c_str(), 0);
    char* sc = curl.easy_escape(nullptr, scope.c_str(), 0);
    std::string query = absl::StrCat("service=", service, "&scope=", sc);
    curl.free(service);
    curl.free(sc);
    Response r;
    std::vector<std::string> headers;
    if (!creds.identity_token.empty()) {
      // OAuth2 refresh-token grant; a token server without OAuth2 answers 404, then GET.
      char* tok = curl.easy_escape(nullptr, creds.identity_token.c_str(), 0);
      std::string body = absl::StrCat("grant_type=refresh_token&refresh_token=", tok, "&client_id=stalecheck&", query);
      curl.free(tok);
      headers.push_back("Content-Type: application/x-www-form-urlencoded");
      if (absl::Status s = Perform(realm, headers, &r, &body, options.tls_verify); !s.ok()) return s;
      if (r.status == 404) {
        r = Response{};
        headers.clear();
      }
    }
    if (r.status == 0) {
      if (!creds.username.empty()) headers.push_back(absl::StrCat("Authorization: ", BasicValue()));
      const std::string url = absl::StrCat(realm, realm.find('?') == std::string::npos ? "?" : "&", query);
      if (absl::Status s = Perform(url, headers, &r, nullptr, options.tls_verify); !s.ok()) return s;
    }
    if (r.status != 200) {
      return absl::PermissionDeniedError(absl::StrCat("the token server ", HostnameOf(realm), " answered HTTP ",
                                                      r.status, creds.empty() ? " (no credentials found for "
                                                                              : " (credentials for ",
                                                      ref.CredentialKey(), ")"));
    }
    nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    std::string token = Str(j, "token");
    if (token.empty()) token = Str(j, "access_token");
    if (token.empty()) return absl::InvalidArgumentError(absl::StrCat("the token server's answer holds no token"));
    authorization = absl::StrCat("Bearer ", token);
    return absl::OkStatus();
  }
};

RegistryClient::RegistryClient(ImageReference ref, RegistryOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->ref = std::move(ref);
  impl_->options = options;
  if (impl_->options.retries < 1) impl_->options.retries = 1;
  if (impl_->options.timeout < 1) impl_->options.timeout = 60;
}
RegistryClient::RegistryClient(RegistryClient&&) noexcept = default;
RegistryClient::~RegistryClient() = default;

const ImageReference& RegistryClient::reference() const { return impl_->ref; }

absl::StatusOr<std::string> RegistryClient::Manifest(const std::string& reference, std::string* media_type) {
  Response r;
  const std::vector<std::string> accept = {
      "Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, "
      "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"};
  const std::string what = absl::StrCat("manifest ", reference);
  if (absl::Status s = impl_->Get(absl::StrCat("/v2/", impl_->ref.repository, "/manifests/", reference), accept, &r, what);
      !s.ok()) {
    return s;
  }
  std::string ct = r.Header("content-type");
  *media_type = std::string(absl::StripAsciiWhitespace(ct.substr(0, ct.find(';'))));
  if (absl::StartsWith(reference, "sha256:") && Sha256Of(r.body) != reference) {
    return absl::DataLossError(absl::StrCat("manifest ", reference, " does not hash to its digest"));
  }
  if (std::string header = r.Header("docker-content-digest");
      absl::StartsWith(header, "sha256:") && Sha256Of(r.body) != header) {
    return absl::DataLossError(absl::StrCat("manifest ", reference,
                                            " does not hash to the digest the registry states (", header, ")"));
  }
  return std::move(r.body);
}

absl::StatusOr<std::string> RegistryClient::SmallBlob(const std::string& digest) {
  Response r;
  if (absl::Status s = impl_->Get(absl::StrCat("/v2/", impl_->ref.repository, "/blobs/", digest), {}, &r,
                                  absl::StrCat("blob ", digest));
      !s.ok()) {
    return s;
  }
  if (Sha256Of(r.body) != digest) {
    return absl::DataLossError(absl::StrCat("blob ", digest, " does not hash to its digest"));
  }
  return std::move(r.body);
}

absl::Status RegistryClient::StreamBlob(const std::string& digest, const std::function<bool(const char*, size_t)>& sink) {
  Response r;
  r.sink = &sink;
  return impl_->Get(absl::StrCat("/v2/", impl_->ref.repository, "/blobs/", digest), {}, &r, absl::StrCat("blob ", digest));
}

WwwAuthenticate ParseWwwAuthenticate(const std::string& value) {
  WwwAuthenticate c;
  size_t sp = value.find(' ');
  c.scheme = absl::AsciiStrToLower(value.substr(0, sp));
  if (sp == std::string::npos) return c;
  size_t i = sp + 1;
  while (i < value.size()) {
    while (i < value.size() && (value[i] == ' ' || value[i] == ',')) ++i;
    size_t eq = value.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = absl::AsciiStrToLower(std::string(absl::StripAsciiWhitespace(value.substr(i, eq - i))));
    std::string val;
    i = eq + 1;
    if (i < value.size() && value[i] == '"') {
      ++i;
      while (i < value.size() && value[i] != '"') {
        if (value[i] == '\\' && i + 1 < value.size()) ++i;
        val += value[i++];
      }
      ++i;
    } else {
      size_t end = value.find(',', i);
      val = value.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end == std::string::npos ? value.size() : end;
    }
    c.params[key] = val;
  }
  return c;
}

}  // namespace stalecheck
