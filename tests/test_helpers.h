#pragma once
// Small helpers for the unit tests: scratch directories and in-memory tar layers.

#include <archive.h>
#include <archive_entry.h>
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "stalecheck/util.h"

#include "stalecheck/entry.h"
#include "stalecheck/hash.h"

namespace stalecheck::testing {

/// A context or image file entry with the digest of `data`.
inline FileEntry FileOf(const std::string& path, const std::string& data = "x", uint32_t mode = 0644) {
  FileEntry e;
  e.path = path;
  e.mode = mode;
  e.size = data.size();
  e.digest = HashBytes(data);
  return e;
}

/// A directory entry (0755).
inline FileEntry DirOf(const std::string& path) {
  FileEntry e;
  e.path = path;
  e.type = FileType::kDir;
  e.mode = 0755;
  return e;
}

/// The paths of entries, in order.
inline std::vector<std::string> PathsOf(const std::vector<FileEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.path);
  return out;
}

/// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "stalecheck-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }
  void Write(const std::string& rel, const std::string& data) const {
    auto p = std::filesystem::path(path_) / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << data;
  }

 private:
  std::string path_;
};

/// Sets an environment variable for one scope, and puts back what it was.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// One member of a test tar.
struct TarMember {
  std::string name;
  char type = 'f';  // f file, d dir, l symlink, h hard link, p fifo
  std::string data;  // file bytes, or link target
  int mode = 0644;
};

/// Writes a tar (optionally "gzip" or "zstd" compressed) into memory.
inline std::string MakeTar(const std::vector<TarMember>& members, const std::string& filter = "") {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (filter == "gzip") archive_write_add_filter_gzip(a);
  if (filter == "zstd") archive_write_add_filter_zstd(a);
  archive_write_set_bytes_in_last_block(a, 1);
  std::vector<char> buf(4 << 20);
  size_t used = 0;
  archive_write_open_memory(a, buf.data(), buf.size(), &used);
  for (const TarMember& m : members) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.name.c_str());
    archive_entry_set_perm(e, static_cast<mode_t>(m.mode));
    switch (m.type) {
      case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
      case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, m.data.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, m.data.c_str());
        break;
      case 'p':
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
      default:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(m.data.size()));
    }
    archive_write_header(a, e);
    if (m.type == 'f') archive_write_data(a, m.data.data(), m.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buf.data(), used);
}

/// Runs a shell command; true when it exits 0.
inline bool Sh(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }

/// Whether every file of a loaded context reads back (Context::read_file) as the bytes it was
/// hashed from; the first path that does not, or "".
template <typename Context>
std::string FirstUnreadableFile(const Context& ctx) {
  for (const auto& e : ctx.entries) {
    if (e.type != FileType::kFile) continue;
    auto bytes = ctx.read_file(e.path);
    if (!bytes.ok() || HashBytes(*bytes) != e.digest || bytes->size() != e.size) return e.path;
  }
  return "";
}

/// Runs `git ARGS` in `d` (as user t <t@t>, quietly); the test fails where git does.
inline void Git(const TempDir& d, const std::string& args) {
  REQUIRE(Sh("cd '" + d.path() + "' && git -c user.name=t -c user.email=t@t " + args + " >/dev/null 2>&1"));
}

/// A whole file's bytes ("" when it cannot be read).
inline std::string Slurp(const std::string& path) {
  std::string data;
  if (!ReadSmallFile(path, &data, size_t{1} << 30).ok()) data.clear();
  return data;
}

/// What a shell command writes to stdout ("" when it fails to start).
inline std::string ShOut(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r"); p != nullptr) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

}  // namespace stalecheck::testing
