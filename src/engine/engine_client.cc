#include <unistd.h>

#include <cstdlib>
#include <csignal>
#include <fcntl.h>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/util/libcurl.h"
#include "absl/strings/str_format.h"
#include "stalecheck/engine.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

// The newest API version this client speaks; the engine's own is used when older.
constexpr const char* kMaxApiVersion = "1.43";

int CompareVersions(const std::string& a, const std::string& b) {
  int a1 = 0, a2 = 0, b1 = 0, b2 = 0;
  std::sscanf(a.c_str(), "%d.%d", &a1, &a2);
  std::sscanf(b.c_str(), "%d.%d", &b1, &b2);
  if (a1 != b1) return a1 < b1 ? -1 : 1;
  if (a2 != b2) return a2 < b2 ? -1 : 1;
  return 0;
}

// A document larger than this is no engine answer to a small GET.
constexpr size_t kMaxDocument = 512u << 20;

// The body (for Get, or the error body of a stream) or the stream's sink, and the headers.
struct Response : libcurl::Receiver {
  Response() {
    limit = kMaxDocument;
    error_keep = size_t{1} << 20;
  }
  std::string api_version;      // from the header
  std::string builder_version;  // Builder-Version, from /_ping
  std::map<std::string, std::string>* headers = nullptr;  // every header, names lower-case
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string line(data, size * n);
  if (absl::StartsWithIgnoreCase(line, "HTTP/")) {
    size_t sp = line.find(' ');
    if (sp != std::string::npos) r->status = std::strtol(line.c_str() + sp + 1, nullptr, 10);
  } else if (absl::StartsWithIgnoreCase(line, "api-version:")) {
    r->api_version = std::string(absl::StripAsciiWhitespace(line.substr(12)));
  } else if (absl::StartsWithIgnoreCase(line, "builder-version:")) {
    r->builder_version = std::string(absl::StripAsciiWhitespace(line.substr(16)));
  }
  if (r->headers != nullptr) {
    size_t colon = line.find(':');
    if (colon != std::string::npos && !absl::StartsWithIgnoreCase(line, "HTTP/")) {
      (*r->headers)[absl::AsciiStrToLower(line.substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return size * n;
}

}  // namespace

struct EngineClient::Impl {
  std::string host;
  std::string builder_version;
  std::string socket;  // unix socket path, or ""
  std::string base;    // "http://localhost" or "http://HOST:PORT"
  std::string version;
  long timeout = 60;   // seconds: the longest wait to connect, and for any one read

  absl::Status Perform(const std::string& path, Response* r, bool versioned) const {
    absl::StatusOr<const libcurl::Api*> lib = libcurl::Load();
    if (!lib.ok()) return lib.status();
    const libcurl::Api& curl = **lib;
    CURL* c = curl.easy_init();
    if (c == nullptr) return absl::InternalError("cannot start an HTTP client");
    std::string url = versioned ? absl::StrCat(base, "/v", version, path) : absl::StrCat(base, path);
    curl.easy_setopt(c, CURLOPT_URL, url.c_str());
    if (!socket.empty()) curl.easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
    curl.easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout);
    // A stalled read: less than one byte a second for `timeout` seconds.
    curl.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, timeout);
    curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, libcurl::ReceiveBody);
    curl.easy_setopt(c, CURLOPT_WRITEDATA, static_cast<libcurl::Receiver*>(r));
    curl.easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl.easy_setopt(c, CURLOPT_HEADERDATA, r);
    CURLcode rc = curl.easy_perform(c);
    curl.easy_cleanup(c);
    if (rc == CURLE_WRITE_ERROR && r->too_big) {
      return absl::InvalidArgumentError(absl::StrCat("the engine at ", host, " answered GET ", path,
                                                     " with more than ", kMaxDocument >> 20, " MiB"));
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return absl::DeadlineExceededError(absl::StrCat("the Docker engine at ", host, " sent nothing for ", timeout,
                                                      " s (GET ", path, "; --timeout SECONDS to wait longer)"));
    }
    if (rc == CURLE_COULDNT_CONNECT && !socket.empty()) {
      // libcurl does not say why a unix socket refused: ask the socket itself.
      int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      struct sockaddr_un addr {};
      addr.sun_family = AF_UNIX;
      std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket.c_str());
      int err = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ? errno : 0;
      if (fd >= 0) ::close(fd);
      if (err == EACCES || err == EPERM) {
        return absl::PermissionDeniedError(absl::StrCat("the Docker engine at ", host, ": permission denied on ", socket,
                                                        " (a member of the socket's group, or root, may open it)"));
      }
      if (err != 0) {
        return absl::UnavailableError(absl::StrCat("the Docker engine at ", host, " did not answer: ", std::strerror(err)));
      }
    }
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && r->stopped)) {
      return absl::UnavailableError(absl::StrCat("the Docker engine at ", host, " did not answer: ", curl.easy_strerror(rc)));
    }
    if (r->status != 200) {
      std::string msg = r->body;
      nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
      if (!j.is_discarded() && j.is_object() && j.contains("message") && j["message"].is_string()) {
        msg = j["message"].get<std::string>();
      }
      auto code = r->status == 404 ? absl::StatusCode::kNotFound : absl::StatusCode::kInvalidArgument;
      absl::string_view text = absl::StripAsciiWhitespace(msg);
      if (r->status == 404 && !text.empty()) return absl::Status(code, text);  // names the reference itself
      return absl::Status(code, absl::StrCat("the engine at ", host, " answered HTTP ", r->status, " to GET ", path,
                                             text.empty() ? " with an empty body" : absl::StrCat(": ", text)));
    }
    return absl::OkStatus();
  }
};

EngineClient::EngineClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EngineClient::EngineClient(EngineClient&&) noexcept = default;
EngineClient& EngineClient::operator=(EngineClient&&) noexcept = default;
EngineClient::~EngineClient() = default;

const std::string& EngineClient::host() const { return impl_->host; }
const std::string& EngineClient::api_version() const { return impl_->version; }
const std::string& EngineClient::builder_version() const { return impl_->builder_version; }

absl::StatusOr<EngineClient> EngineClient::Connect(const std::string& host_in, int timeout_seconds) {
  auto impl = std::make_unique<Impl>();
  impl->timeout = timeout_seconds > 0 ? timeout_seconds : 60;
  std::string host = host_in;
  if (host.empty()) {
    const char* env = std::getenv("DOCKER_HOST");
    host = env != nullptr && *env != '\0' ? env : "unix:///var/run/docker.sock";
  }
  impl->host = host;
  if (absl::StartsWith(host, "unix://")) {
    impl->socket = host.substr(7);
    impl->base = "http://localhost";
  } else if (absl::StartsWith(host, "tcp://")) {
    const char* tls = std::getenv("DOCKER_TLS_VERIFY");
    if (tls != nullptr && *tls != '\0') {
      return absl::UnimplementedError(absl::StrCat(host, ": TLS connections to the engine are not supported yet"));
    }
    impl->base = absl::StrCat("http://", host.substr(6));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("Docker host '", host, "': use unix:// or tcp://"));
  }
  Response r;
  if (absl::Status s = impl->Perform("/_ping", &r, false); !s.ok()) return s;
  impl->builder_version = r.builder_version;
  impl->version = r.api_version.empty() || CompareVersions(r.api_version, kMaxApiVersion) > 0 ? kMaxApiVersion
                                                                                               : r.api_version;
  return EngineClient(std::move(impl));
}

absl::StatusOr<std::string> EngineClient::Get(const std::string& path) const {
  Response r;
  if (absl::Status s = impl_->Perform(path, &r, true); !s.ok()) return s;
  return std::move(r.body);
}

absl::Status EngineClient::Stream(const std::string& path, const std::function<bool(const char*, size_t)>& sink,
                                  std::map<std::string, std::string>* headers) const {
  Response r;
  r.sink = &sink;
  r.headers = headers;
  return impl_->Perform(path, &r, true);
}

absl::Status EngineClient::StreamTo(const std::string& path, int fd) const {
  std::function<bool(const char*, size_t)> sink = [fd](const char* data, size_t len) {
    size_t done = 0;
    while (done < len) {
      ssize_t w = ::write(fd, data + done, len - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;  // the reader went away
      }
      done += static_cast<size_t>(w);
    }
    return true;
  };
  absl::Status s = Stream(path, sink, nullptr);
  ::close(fd);
  return s;
}

EngineReader::EngineReader(const EngineClient& client, const std::string& path)
    : PipeReader([&client, path](int fd) { return client.StreamTo(path, fd); }, path) {}

std::string EscapePathSegment(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

}  // namespace stalecheck
