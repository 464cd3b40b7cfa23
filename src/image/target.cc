#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "src/image/readers.h"
#include "stalecheck/image.h"

namespace stalecheck {
namespace {

constexpr const char* kTransports[] = {"docker-daemon", "container", "docker-archive", "oci",
                                       "docker",        "tar",       "rootfs"};

bool Exists(const std::string& p, bool* is_dir) {
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) return false;
  *is_dir = S_ISDIR(st.st_mode);
  return true;
}

// "PATH[:TAG]" for docker-archive and oci: the tag is what follows the last ':' when the
// whole string is not itself an existing path.
void SplitPathTag(const std::string& ref, std::string* path, std::string* tag) {
  bool is_dir = false;
  if (Exists(ref, &is_dir)) {
    *path = ref;
    tag->clear();
    return;
  }
  size_t colon = ref.find(':');
  if (colon == std::string::npos) {
    *path = ref;
    tag->clear();
    return;
  }
  *path = ref.substr(0, colon);
  *tag = ref.substr(colon + 1);
}

}  // namespace

absl::StatusOr<TargetName> ParseTarget(const std::string& target) {
  if (target.empty()) return absl::InvalidArgumentError("empty target");
  for (const char* t : kTransports) {
    std::string prefix = absl::StrCat(t, ":");
    if (absl::StartsWith(target, prefix)) {
      TargetName n{t, target.substr(prefix.size())};
      if (n.transport == "docker") {
        if (!absl::StartsWith(n.ref, "//")) {
          return absl::InvalidArgumentError(absl::StrCat("target ", target, ": write docker://HOST/REPO:TAG"));
        }
        n.ref = n.ref.substr(2);
      }
      if (n.ref.empty()) return absl::InvalidArgumentError(absl::StrCat("target ", target, ": nothing after '", t, ":'"));
      return n;
    }
  }
  bool is_dir = false;
  if (Exists(target, &is_dir)) {
    bool layout = false;
    if (!is_dir) return TargetName{"docker-archive", target};
    if (Exists(target + "/oci-layout", &layout)) return TargetName{"oci", target};
    return absl::InvalidArgumentError(absl::StrCat(
        "target ", target, ": a directory without oci-layout; for an unpacked filesystem write rootfs:", target));
  }
  return TargetName{"docker-daemon", target};
}

absl::StatusOr<ImageView> ReadImage(const TargetName& target, const ReadOptions& options) {
  absl::StatusOr<ImageView> view;
  std::string path, tag;
  if (target.transport == "docker-archive") {
    SplitPathTag(target.ref, &path, &tag);
    view = internal::ReadDockerArchive(path, tag, options.jobs);
  } else if (target.transport == "oci") {
    SplitPathTag(target.ref, &path, &tag);
    view = internal::ReadOciLayout(path, tag, options.platform, options.jobs);
  } else if (target.transport == "tar") {
    view = internal::ReadFlatTar(target.ref);
  } else if (target.transport == "docker-daemon") {
    view = internal::ReadDaemonImage(target.ref, options.docker_host);
  } else if (target.transport == "rootfs") {
    view = internal::ReadRootfs(target.ref, options.jobs);
  } else {
    return absl::UnimplementedError(absl::StrCat(
        target.transport, ":", target.ref, ": this transport is not readable yet; save the image "
                          "(docker save -o app.tar IMAGE) and name docker-archive:app.tar"));
  }
  if (!view.ok()) {
    return absl::Status(view.status().code(),
                        absl::StrCat(target.transport, ":", target.ref, ": ", view.status().message()));
  }
  view->transport = target.transport;
  view->ref = target.ref;
  return view;
}

}  // namespace stalecheck
