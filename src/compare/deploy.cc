// Findings about what was deployed rather than what was copied: a container not recreated
// after its image was rebuilt, and an image built from another commit.

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "stalecheck/compare.h"

namespace stalecheck {
namespace {

bool RevisionArg(const std::string& name) {
  std::string n = absl::AsciiStrToUpper(name);
  return absl::StartsWith(n, "GIT_COMMIT") || absl::EndsWith(n, "_COMMIT_HASH") || absl::EndsWith(n, "_REVISION");
}

bool IsHex(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// "sha256:0123456789ab" for an image id, 12 digits for a commit.
std::string Short(const std::string& id) { return id.substr(0, absl::StartsWith(id, "sha256:") ? 19 : 12); }

}  // namespace

std::optional<BuiltRevision> ImageRevision(const ImageView& image) {
  if (image.config.is_object() && image.config.contains("config") && image.config["config"].is_object()) {
    const nlohmann::json& labels = image.config["config"].value("Labels", nlohmann::json());
    if (labels.is_object() && labels.contains("org.opencontainers.image.revision") &&
        labels["org.opencontainers.image.revision"].is_string() &&
        !labels["org.opencontainers.image.revision"].get<std::string>().empty()) {
      return BuiltRevision{labels["org.opencontainers.image.revision"].get<std::string>(),
                           "label org.opencontainers.image.revision"};
    }
  }
  // Both builders write a RUN's build args ahead of its command: "|2 A=1 B=2 /bin/sh -c …"
  // (BuildKit prefixes "RUN "). The last such entry is the one nearest the image.
  std::optional<BuiltRevision> found;
  for (const HistoryEntry& h : image.history) {
    if (!h.created_by) continue;
    absl::string_view cb = *h.created_by;
    absl::ConsumePrefix(&cb, "RUN ");
    if (!absl::ConsumePrefix(&cb, "|")) continue;
    std::vector<absl::string_view> words = absl::StrSplit(cb, ' ');
    int n = 0;
    if (words.empty() || !absl::SimpleAtoi(words[0], &n)) continue;
    for (int i = 1; i <= n && i < static_cast<int>(words.size()); ++i) {
      size_t eq = words[i].find('=');
      if (eq == absl::string_view::npos) continue;
      std::string name(words[i].substr(0, eq));
      std::string value(words[i].substr(eq + 1));
      if (RevisionArg(name) && !value.empty()) found = BuiltRevision{value, absl::StrCat("build arg ", name)};
    }
  }
  return found;
}

std::optional<Finding> OutdatedContainerFinding(const ImageView& image, const std::string& fix) {
  if (!image.container || !image.container->outdated()) return std::nullopt;
  const ContainerInfo& c = *image.container;
  Finding f;
  f.status = "outdated-container";
  f.origin = "container";
  f.actual = c.image_id;
  if (c.image_now) f.expected = *c.image_now;
  f.reason = c.image_now ? absl::StrCat("the container runs ", Short(c.image_id), " but ", c.config_image, " now points to ",
                                        Short(*c.image_now), ": rebuilt, never recreated; ", fix)
                         : absl::StrCat("the container runs ", Short(c.image_id), " and ", c.config_image,
                                        " names no image now; ", fix);
  return f;
}

std::optional<Finding> RevisionFinding(const BuiltRevision& built, const std::string& head,
                                       const std::optional<CommitRelation>& relation) {
  const std::string v = absl::AsciiStrToLower(built.value);
  if (relation ? relation->id == head : (IsHex(v) && v.size() >= 7 && absl::StartsWith(head, v))) return std::nullopt;
  Finding f;
  f.status = "revision";
  f.origin = "layer";
  f.expected = head;
  f.actual = relation ? relation->id : built.value;
  std::string apart;
  if (relation) {
    if (relation->behind == 0) {
      apart = absl::StrCat(relation->ahead, " commit", relation->ahead == 1 ? "" : "s", " behind HEAD");
    } else if (relation->ahead == 0) {
      apart = absl::StrCat(relation->behind, " commit", relation->behind == 1 ? "" : "s", " ahead of HEAD");
    } else {
      apart = absl::StrCat("on another branch: ", relation->ahead, " commits behind HEAD and ", relation->behind,
                           " ahead of it");
    }
  } else {
    apart = "a commit this repository does not have";
  }
  f.reason = absl::StrCat("the image was built from ", relation ? Short(relation->id) : built.value, " (", built.from,
                          "), ", apart, " (", Short(head), ")");
  return f;
}

}  // namespace stalecheck
