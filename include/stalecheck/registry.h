#pragma once
// A read-only client of the OCI distribution API: references as docker normalises them,
// credentials as docker finds them, manifests and blobs (GET only).

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace stalecheck {

/// An image reference, normalised as docker normalises it (distribution/reference).
struct ImageReference {
  std::string registry;    // "docker.io", "127.0.0.1:5000", "localhost"
  std::string repository;  // "library/busybox", "team/app"
  std::string tag;         // "latest" when neither tag nor digest was given
  std::string digest;      // "sha256:…" or ""; wins over the tag
  /// The host to contact: Docker Hub's registry-1.docker.io for docker.io.
  std::string Host() const;
  /// The key of config.json's `auths` and of credential helpers: Docker Hub's is
  /// "https://index.docker.io/v1/".
  std::string CredentialKey() const;
  /// What to ask the manifests endpoint for: the digest, else the tag.
  std::string Reference() const { return digest.empty() ? tag : digest; }
  /// host/repository:tag or @digest, for messages.
  std::string ToString() const;
};

/// Parses "HOST[:PORT]/REPO[:TAG|@DIGEST]" or a familiar name ("busybox", "team/app:1").
absl::StatusOr<ImageReference> ParseImageReference(const std::string& ref);

/// Credentials for one registry.
struct Credentials {
  std::string username;
  std::string password;
  std::string identity_token;  // an OAuth2 refresh token (identitytoken, or helper user "<token>")
  std::string registry_token;  // a ready bearer token (registrytoken)
  bool empty() const { return username.empty() && password.empty() && identity_token.empty() && registry_token.empty(); }
};

/// What docker would send for `key`: config.json in $DOCKER_CONFIG, else ~/.docker (a missing
/// file is no error, a malformed one is); `credHelpers[key]`, else `credsStore`, else `auths`
/// (matched exactly, then by hostname). A helper runs as `docker-credential-NAME get`.
absl::StatusOr<Credentials> FindCredentials(const std::string& key);

struct RegistryOptions {
  int timeout = 60;          // seconds: the longest wait to connect and for any one read
  bool tls_verify = true;    // false: plain HTTP and unverified HTTPS allowed for any host
  std::string cert_dir;      // a directory of CA certificates (*.crt) to trust
  int retries = 3;           // attempts for 429 and 5xx answers
};

/// One registry and repository, with its authentication settled on first use.
class RegistryClient {
 public:
  RegistryClient(ImageReference ref, RegistryOptions options);
  RegistryClient(RegistryClient&&) noexcept;
  ~RegistryClient();

  /// GETs a manifest (every media type asked) by tag or digest; `media_type` receives its
  /// Content-Type. The bytes are as received; by digest, they must hash to it.
  absl::StatusOr<std::string> Manifest(const std::string& reference, std::string* media_type);
  /// GETs a small blob (a config), checked against its digest.
  absl::StatusOr<std::string> SmallBlob(const std::string& digest);
  /// GETs a blob into `sink` as it arrives (the caller checks the digest as it reads).
  absl::Status StreamBlob(const std::string& digest, const std::function<bool(const char*, size_t)>& sink);

  const ImageReference& reference() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One WWW-Authenticate challenge: `Bearer realm="…",service="…",scope="a,b"`.
struct WwwAuthenticate {
  std::string scheme;  // lower case: "bearer", "basic"; "" when the header is empty
  std::map<std::string, std::string> params;  // names in lower case, quoted values unescaped
};
WwwAuthenticate ParseWwwAuthenticate(const std::string& value);

}  // namespace stalecheck
