#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "src/image/internal.h"
#include "stalecheck/layer.h"
#include "stalecheck/util.h"

namespace stalecheck {

absl::StatusOr<size_t> MemoryReader::Read(char* buf, size_t cap) {
  size_t n = std::min(cap, data_.size());
  std::memcpy(buf, data_.data(), n);
  data_.remove_prefix(n);
  return n;
}

FdReader::~FdReader() {
  if (fd_ >= 0) ::close(fd_);
}

absl::StatusOr<size_t> FdReader::Read(char* buf, size_t cap) {
  for (;;) {
    ssize_t n = ::read(fd_, buf, cap);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return ErrnoStatus(errno, absl::StrCat("reading ", name_));
  }
}

absl::StatusOr<std::unique_ptr<FdReader>> FdReader::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, path);
  return std::make_unique<FdReader>(fd, path);
}

Compression SniffCompression(absl::string_view head) {
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x1f &&
      static_cast<unsigned char>(head[1]) == 0x8b) {
    return Compression::kGzip;
  }
  if (head.size() >= 4 && std::memcmp(head.data(), "\x28\xb5\x2f\xfd", 4) == 0) {
    return Compression::kZstd;
  }
  return Compression::kNone;
}

bool LooksLikeTar(absl::string_view head) {
  return head.size() >= 262 && std::memcmp(head.data() + 257, "ustar", 5) == 0;
}

bool LooksLikeLayer(absl::string_view head) {
  return SniffCompression(head) != Compression::kNone || LooksLikeTar(head);
}

const char* CompressionName(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
    case Compression::kNone:
      return "none";
  }
  return "none";
}

namespace internal {

absl::StatusOr<size_t> HashingReader::Read(char* buf, size_t cap) {
  absl::StatusOr<size_t> n = in_.Read(buf, cap);
  if (n.ok() && *n > 0) {
    sha_.Update(buf, *n);
    bytes_ += *n;
  }
  return n;
}

absl::StatusOr<size_t> PrefixedReader::Read(char* buf, size_t cap) {
  if (!prefix_.empty()) {
    size_t n = std::min(cap, prefix_.size());
    std::memcpy(buf, prefix_.data(), n);
    prefix_.erase(0, n);
    return n;
  }
  return in_.Read(buf, cap);
}

absl::Status ReadHead(ByteReader& in, size_t want, std::string* head) {
  head->resize(want);
  size_t got = 0;
  while (got < want) {
    absl::StatusOr<size_t> n = in.Read(head->data() + got, want - got);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    got += *n;
  }
  head->resize(got);
  return absl::OkStatus();
}

ReadAheadReader::ReadAheadReader(ByteReader& in, size_t chunk, size_t depth) : in_(in), chunk_(chunk), depth_(depth) {
  for (size_t i = 0; i <= depth_; ++i) spare_.push_back(Chunk{std::make_unique_for_overwrite<char[]>(chunk_), 0});
  thread_ = std::thread([this] { Run(); });
}

ReadAheadReader::~ReadAheadReader() { Finish(); }

void ReadAheadReader::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ReadAheadReader::Run() {
  for (;;) {
    Chunk chunk;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !spare_.empty() || stop_; });
      if (stop_) {
        done_ = true;
        return;
      }
      chunk = std::move(spare_.back());
      spare_.pop_back();
    }
    absl::StatusOr<size_t> n = in_.Read(chunk.bytes.get(), chunk_);
    std::lock_guard<std::mutex> lock(mu_);
    if (!n.ok() || *n == 0) {
      if (!n.ok()) error_ = n.status();
      done_ = true;
      cv_.notify_all();
      return;
    }
    chunk.size = *n;
    ready_.push_back(std::move(chunk));
    cv_.notify_all();
  }
}

absl::StatusOr<size_t> ReadAheadReader::Read(char* buf, size_t cap) {
  if (pos_ == current_.size) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !ready_.empty() || done_; });
    if (ready_.empty()) {
      if (!error_.ok()) return error_;
      return size_t{0};
    }
    if (current_.bytes) spare_.push_back(std::move(current_));
    current_ = std::move(ready_.front());
    ready_.pop_front();
    pos_ = 0;
    cv_.notify_all();
  }
  const size_t n = std::min(cap, current_.size - pos_);
  std::memcpy(buf, current_.bytes.get() + pos_, n);
  pos_ += n;
  return n;
}

absl::Status Drain(ByteReader& in) {
  char buf[64 << 10];
  for (;;) {
    absl::StatusOr<size_t> n = in.Read(buf, sizeof buf);
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::OkStatus();
  }
}

GzipReader::GzipReader(ByteReader& in) : in_(in), inbuf_(kBufSize) {
  isal_inflate_init(&state_);
  state_.crc_flag = ISAL_GZIP;
}

absl::Status GzipReader::Refill() {
  absl::StatusOr<size_t> n = in_.Read(reinterpret_cast<char*>(inbuf_.data()), inbuf_.size());
  if (!n.ok()) return n.status();
  if (*n == 0) in_eof_ = true;
  state_.next_in = inbuf_.data();
  state_.avail_in = static_cast<uint32_t>(*n);
  return absl::OkStatus();
}

absl::StatusOr<size_t> GzipReader::Read(char* buf, size_t cap) {
  while (!finished_) {
    if (state_.avail_in == 0 && !in_eof_) {
      if (absl::Status s = Refill(); !s.ok()) return s;
    }
    state_.next_out = reinterpret_cast<uint8_t*>(buf);
    state_.avail_out = static_cast<uint32_t>(std::min<size_t>(cap, UINT32_MAX));
    int ret = isal_inflate(&state_);
    if (ret != ISAL_DECOMP_OK) {
      return absl::DataLossError(absl::StrCat("corrupt gzip stream (isal error ", ret, ")"));
    }
    size_t produced = cap - state_.avail_out;
    if (state_.block_state == ISAL_BLOCK_FINISH) {
      // One gzip member is done; another may follow (as `gzip -d` reads them).
      if (state_.avail_in == 0 && !in_eof_) {
        if (absl::Status s = Refill(); !s.ok()) return s;
      }
      if (state_.avail_in >= 2 && state_.next_in[0] == 0x1f && state_.next_in[1] == 0x8b) {
        uint8_t* next = state_.next_in;
        uint32_t avail = state_.avail_in;
        isal_inflate_reset(&state_);
        state_.crc_flag = ISAL_GZIP;
        state_.next_in = next;
        state_.avail_in = avail;
      } else {
        finished_ = true;  // trailing bytes after the last member are ignored, as gzip does
      }
    } else if (produced == 0 && in_eof_ && state_.avail_in == 0) {
      return absl::DataLossError("truncated gzip stream");
    }
    if (produced > 0) return produced;
  }
  return 0;
}

ZstdReader::ZstdReader(ByteReader& in) : in_(in), inbuf_(ZSTD_DStreamInSize()) {
  ds_ = ZSTD_createDStream();
  ZSTD_initDStream(ds_);
  input_ = {inbuf_.data(), 0, 0};
}

ZstdReader::~ZstdReader() { ZSTD_freeDStream(ds_); }

absl::StatusOr<size_t> ZstdReader::Read(char* buf, size_t cap) {
  for (;;) {
    if (input_.pos == input_.size && !in_eof_) {
      absl::StatusOr<size_t> n = in_.Read(inbuf_.data(), inbuf_.size());
      if (!n.ok()) return n.status();
      if (*n == 0) in_eof_ = true;
      input_ = {inbuf_.data(), *n, 0};
    }
    ZSTD_outBuffer out{buf, cap, 0};
    size_t before = input_.pos;
    size_t ret = ZSTD_decompressStream(ds_, &out, &input_);
    if (ZSTD_isError(ret)) {
      return absl::DataLossError(absl::StrCat("corrupt zstd stream: ", ZSTD_getErrorName(ret)));
    }
    // A call with nothing to do answers for a next frame; only progress updates the state.
    if (out.pos > 0 || input_.pos > before) last_ret_ = ret;
    if (out.pos > 0) return out.pos;
    if (in_eof_ && input_.pos == input_.size) {
      if (last_ret_ != 0) return absl::DataLossError("truncated zstd stream");
      return 0;
    }
  }
}

}  // namespace internal
}  // namespace stalecheck
