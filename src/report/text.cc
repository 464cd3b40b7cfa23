#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "stalecheck/image.h"
#include "stalecheck/report.h"
#include "stalecheck/util.h"

namespace stalecheck {

std::string HumanSize(uint64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, "B");
  const char* units[] = {"K", "M", "G", "T"};
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  return v < 10 ? absl::StrFormat("%.1f%s", v, units[u]) : absl::StrFormat("%.0f%s", v, units[u]);
}

std::string FingerprintText(const Context& ctx) {
  std::string out;
  size_t files = 0, dirs = 0, links = 0;
  for (const FileEntry& e : ctx.entries) {
    std::string digest = e.type == FileType::kDir ? "-" : e.digest.ToString();
    std::string size = e.type == FileType::kDir ? "-" : absl::StrCat(e.size);
    absl::StrAppendFormat(&out, "%-7s %s %10s  %-39s  %s", FileTypeName(e.type), FormatMode(e.mode),
                          size, digest, QuotedName(e.path));
    if (e.type == FileType::kSymlink) absl::StrAppend(&out, " -> ", QuotedName(e.target));
    if (e.type == FileType::kSpecial) absl::StrAppend(&out, " (", e.target, ")");
    out += '\n';
    (e.type == FileType::kFile ? files : e.type == FileType::kDir ? dirs : links)++;
  }
  absl::StrAppendFormat(&out, "root %s  (%d files, %d directories, %d symlinks; %s%s; %s rules%s)\n",
                        ctx.root.Hex(), files, dirs, links, ctx.source,
                        ctx.ignore_file.empty() ? ", no ignore file"
                                                : absl::StrCat(", ignore file ", ctx.ignore_file),
                        ctx.build_rules, ctx.build_rules_chosen_by.empty() ? "" : ", guessed");
  return out;
}

std::string InspectText(const ImageView& view) {
  std::string out;
  absl::StrAppend(&out, TargetString(view.transport, view.ref));
  if (view.image_id) absl::StrAppend(&out, "  image ", *view.image_id);
  if (const auto& c = view.container) {
    absl::StrAppend(&out, "\ncontainer ", c->name, " (", c->status, "), created from ",
                    c->config_image.empty() ? std::string("-") : c->config_image);
    if (c->outdated()) {
      absl::StrAppend(&out, c->image_now ? absl::StrCat(", which now points to ", c->image_now->substr(0, 19))
                                         : std::string(", which names no image now"));
    }
  }
  out += "\n\nLAYER  DIGEST               ENTRIES  CREATED BY\n";
  for (const LayerInfo& l : view.layers) {
    std::string digest = l.digest.empty() ? "-" : l.digest.substr(0, std::min<size_t>(l.digest.size(), 19));
    absl::StrAppendFormat(&out, "%5d  %-19s  %7d  %s\n", l.index, digest, l.entries,
                          l.created_by.value_or("-"));
  }
  for (size_t k = 0; k < view.runtime.size(); ++k) {
    const size_t index = view.layers.size() + k;
    const RuntimeLayer& rt = view.runtime[k];
    std::string what = "changed inside the container";
    if (rt.origin == "mount" && view.container && rt.mount >= 0) {
      const MountInfo& m = view.container->mounts[static_cast<size_t>(rt.mount)];
      what = absl::StrCat(m.type, " mount ", m.name.empty() ? m.source : m.name, " at ", m.destination);
    }
    const size_t entries = index < view.changes.size() ? view.changes[index].entries.size() +
                                                             view.changes[index].whiteouts.size()
                                                       : 0;
    absl::StrAppendFormat(&out, "%5d  %-19s  %7d  %s\n", index, "-", entries, what);
  }
  out += "\nTYPE     MODE   SIZE  LAYER  PATH\n";
  uint64_t total = 0;
  for (const auto& [path, ve] : view.files) {
    const FileEntry& e = ve.file;
    std::string size = e.type == FileType::kFile ? HumanSize(e.size) : "-";
    absl::StrAppendFormat(&out, "%-7s  %s  %5s  %5d  %s", FileTypeName(e.type), FormatMode(e.mode), size,
                          ve.layer, QuotedName(path));
    if (e.type == FileType::kSymlink) absl::StrAppend(&out, " -> ", QuotedName(e.target));
    if (e.type == FileType::kSpecial) absl::StrAppend(&out, " (", e.target, ")");
    out += '\n';
    if (e.type == FileType::kFile) total += e.size;
  }
  absl::StrAppendFormat(&out, "%d paths, %s in files\n", view.files.size(), HumanSize(total));
  return out;
}

}  // namespace stalecheck
