#include "stalecheck/hash.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "stalecheck/util.h"

namespace stalecheck {

char* Digest128::HexTo(char* out) const {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    out[15 - i] = kDigits[(high >> (4 * i)) & 0xf];
    out[31 - i] = kDigits[(low >> (4 * i)) & 0xf];
  }
  return out + 32;
}

std::string Digest128::Hex() const {
  std::string out(32, '0');
  HexTo(out.data());
  return out;
}

std::string Digest128::ToString() const { return absl::StrCat("xxh128:", Hex()); }

Digest128 HashBytes(absl::string_view data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return Digest128{h.high64, h.low64};
}

StreamHasher::StreamHasher() : state_(XXH3_createState()) {
  XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_));
}

StreamHasher::~StreamHasher() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void StreamHasher::Update(const void* data, size_t size) {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data, size);
}

Digest128 StreamHasher::Finish() const {
  XXH128_hash_t h = XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_));
  return Digest128{h.high64, h.low64};
}

namespace {

std::function<void(const std::string&)>& ReadHook() {
  static std::function<void(const std::string&)> hook;
  return hook;
}

// One pass over an open file from its start.
absl::StatusOr<FileDigest> HashOpenFile(int fd_num, const std::string& path) {
  if (::lseek(fd_num, 0, SEEK_SET) < 0) return ErrnoStatus(errno, absl::StrCat("reading ", path));
  struct Fd {
    int v;
    int get() const { return v; }
  } fd{fd_num};
  constexpr size_t kChunk = 256 << 10;
  thread_local std::vector<char> buf(kChunk);
  // Small files, the common case, take one read and the one-shot hash.
  ssize_t n = ::read(fd.get(), buf.data(), kChunk);
  if (n < 0) return ErrnoStatus(errno, absl::StrCat("reading ", path));
  if (static_cast<size_t>(n) < kChunk) {
    // A short read may still not be the end (a file growing under us): confirm.
    ssize_t more = ::read(fd.get(), buf.data() + n, kChunk - static_cast<size_t>(n));
    if (more == 0) {
      return FileDigest{HashBytes(absl::string_view(buf.data(), static_cast<size_t>(n))),
                        static_cast<uint64_t>(n)};
    }
    if (more < 0) return ErrnoStatus(errno, absl::StrCat("reading ", path));
    n += more;
  }
  StreamHasher hasher;
  hasher.Update(buf.data(), static_cast<size_t>(n));
  uint64_t total = static_cast<uint64_t>(n);
  if (ReadHook()) ReadHook()(path);
  for (;;) {
    n = ::read(fd.get(), buf.data(), kChunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("reading ", path));
    }
    if (n == 0) break;
    hasher.Update(buf.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  return FileDigest{hasher.Finish(), total};
}

bool SameStat(const struct stat& a, const struct stat& b) {
  return a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec &&
         a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_ctim.tv_sec == b.st_ctim.tv_sec &&
         a.st_ctim.tv_nsec == b.st_ctim.tv_nsec && a.st_ino == b.st_ino;
}

}  // namespace

void SetHashReadHookForTest(std::function<void(const std::string&)> hook) {
  ReadHook() = std::move(hook);
}

absl::StatusOr<FileDigest> HashFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("reading ", path));
  // A file that changes while it is read would get a digest of neither version: its status
  // is taken before and after, and must not move. A file changed within the last two
  // seconds (timestamps tick coarsely, so an edit during the read may leave them alone) is
  // read twice and must give the same digest. One more try, then an error: never a silent
  // digest of a half-written file.
  for (int attempt = 0;; ++attempt) {
    struct stat before, after;
    if (::fstat(fd.get(), &before) != 0) return ErrnoStatus(errno, absl::StrCat("reading ", path));
    absl::StatusOr<FileDigest> d = HashOpenFile(fd.get(), path);
    if (!d.ok()) return d;
    if (::fstat(fd.get(), &after) != 0) return ErrnoStatus(errno, absl::StrCat("reading ", path));
    bool steady = SameStat(before, after) && static_cast<uint64_t>(after.st_size) == d->size;
    if (steady) {
      struct timespec now;
      ::clock_gettime(CLOCK_REALTIME, &now);
      if (now.tv_sec - after.st_ctim.tv_sec < 2 || now.tv_sec - after.st_mtim.tv_sec < 2) {
        absl::StatusOr<FileDigest> again = HashOpenFile(fd.get(), path);
        if (!again.ok()) return again;
        struct stat last;
        if (::fstat(fd.get(), &last) != 0)
          return ErrnoStatus(errno, absl::StrCat("reading ", path));
        steady = again->digest == d->digest && again->size == d->size && SameStat(after, last);
      }
    }
    if (steady) return d;
    if (attempt == 1) {
      return absl::AbortedError(
          absl::StrCat(path, " changed while it was read; run again when it is still"));
    }
  }
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::Update(const void* data, size_t size) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size);
}

std::string Sha256::Finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &len);
  std::string out = "sha256:";
  for (unsigned i = 0; i < len; ++i) absl::StrAppendFormat(&out, "%02x", md[i]);
  return out;
}

Sha1::Sha1() : ctx_(EVP_MD_CTX_new()) { Reset(); }

Sha1::~Sha1() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha1::Reset() { EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha1(), nullptr); }

void Sha1::Update(const void* data, size_t size) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size);
}

std::array<uint8_t, 20> Sha1::Finish() {
  std::array<uint8_t, 20> out{};
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &len);
  return out;
}

std::string Sha256Of(absl::string_view data) {
  Sha256 h;
  h.Update(data.data(), data.size());
  return h.Finish();
}

}  // namespace stalecheck
