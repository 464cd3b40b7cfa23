#pragma once
// A read-only Docker Engine API client: GET requests only, over a unix socket or plain TCP.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "stalecheck/layer.h"

namespace stalecheck {

class EngineClient {
 public:
  /// Connects to `host` ("unix:///var/run/docker.sock", "tcp://127.0.0.1:2375"); "" means
  /// DOCKER_HOST, else the default socket. Asks the engine its API version (GET /_ping) and
  /// uses it as the path prefix. Every request waits at most `timeout_seconds` to connect and
  /// for any one read; then it fails naming the engine. Errors: an unreachable engine, an
  /// unsupported scheme.
  static absl::StatusOr<EngineClient> Connect(const std::string& host, int timeout_seconds = 60);

  EngineClient(EngineClient&&) noexcept;
  EngineClient& operator=(EngineClient&&) noexcept;
  ~EngineClient();

  /// GETs a small document (JSON). Errors carry the engine's own message and the status.
  absl::StatusOr<std::string> Get(const std::string& path) const;

  /// GETs `path` and hands the body to `sink` as it arrives; `sink` returns false to stop
  /// the transfer (no error). `headers`, when given, receives the response headers (names in
  /// lower case).
  absl::Status Stream(const std::string& path, const std::function<bool(const char*, size_t)>& sink,
                      std::map<std::string, std::string>* headers = nullptr) const;

  /// GETs `path` and writes the body to `fd` as it arrives (the caller reads the other end
  /// of a pipe). Closes `fd` when done.
  absl::Status StreamTo(const std::string& path, int fd) const;

  const std::string& host() const;
  const std::string& api_version() const;
  /// The builder the engine prefers, from /_ping's Builder-Version ("1" legacy, "2" BuildKit;
  /// "" when it does not say).
  const std::string& builder_version() const;

 private:
  struct Impl;
  explicit EngineClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The body of a GET as a pull stream: the transfer runs in a thread of its own and feeds a
/// pipe. A transfer that fails is the error of the read that meets the end of the body.
/// The client must outlive the reader.
class EngineReader : public PipeReader {
 public:
  EngineReader(const EngineClient& client, const std::string& path);
};

/// Percent-encodes a path segment (an image reference may hold '/', ':' and '@').
std::string EscapePathSegment(const std::string& s);

}  // namespace stalecheck
