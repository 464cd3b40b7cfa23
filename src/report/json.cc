#include "stalecheck/report.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

nlohmann::ordered_json OptJson(const std::optional<std::string>& s) {
  return s ? nlohmann::ordered_json(*s) : nlohmann::ordered_json(nullptr);
}

}  // namespace

namespace {

nlohmann::ordered_json FingerprintEntry(const FileEntry& e) {
  nlohmann::ordered_json f = {{"path", e.path}, {"type", FileTypeName(e.type)}, {"mode", FormatMode(e.mode)}, {"size", e.size}};
  f["digest"] = e.type == FileType::kDir ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e.digest.ToString());
  if (e.type == FileType::kSymlink || e.type == FileType::kSpecial) f["target"] = e.target;
  return f;
}

nlohmann::ordered_json FingerprintHead(const Context& ctx) {
  return {{"schema_version", 1},
          {"root", ctx.root.Hex()},
          {"context",
           {{"path", ctx.dir},
            {"source", ctx.source},
            {"commit", OptJson(ctx.commit)},
            {"ignore_file", ctx.ignore_file.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(ctx.ignore_file)},
            {"build_rules", ctx.build_rules}}}};
}

}  // namespace

nlohmann::ordered_json FingerprintJson(const Context& ctx) {
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const FileEntry& e : ctx.entries) files.push_back(FingerprintEntry(e));
  nlohmann::ordered_json doc = FingerprintHead(ctx);
  doc["files"] = std::move(files);
  return doc;
}

absl::Status WriteFingerprintJson(const Context& ctx, const std::function<absl::Status(absl::string_view)>& write) {
  // The text JsonText(FingerprintJson(ctx)) gives, written an entry at a time: a million
  // entries as one JSON document in memory would take a gigabyte.
  std::string out = JsonText(FingerprintHead(ctx));
  out.resize(out.size() - 2);  // "}\n"
  while (!out.empty() && out.back() == '\n') out.pop_back();
  out += ctx.entries.empty() ? ",\n  \"files\": []\n}\n" : ",\n  \"files\": [\n";
  for (size_t i = 0; i < ctx.entries.size(); ++i) {
    const std::string entry = JsonText(FingerprintEntry(ctx.entries[i]));
    size_t start = 0;
    while (start < entry.size()) {
      size_t nl = entry.find('\n', start);
      if (nl == std::string::npos) nl = entry.size();
      if (nl > start) {
        absl::StrAppend(&out, "    ", absl::string_view(entry).substr(start, nl - start));
        if (nl + 1 < entry.size()) out += '\n';
      }
      start = nl + 1;
    }
    out += i + 1 < ctx.entries.size() ? ",\n" : "\n  ]\n}\n";
    if (out.size() >= (1 << 20)) {
      if (absl::Status s = write(out); !s.ok()) return s;
      out.clear();
    }
  }
  return write(out);
}

nlohmann::ordered_json InspectJson(const ImageView& view) {
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const LayerInfo& l : view.layers) {
    layers.push_back({{"index", l.index},
                      {"digest", l.digest.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(l.digest)},
                      {"diff_id", l.diff_id.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(l.diff_id)},
                      {"compression", l.compression.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(l.compression)},
                      {"created_by", OptJson(l.created_by)},
                      {"created", OptJson(l.created)},
                      {"cached", l.cached}});
  }
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const auto& [path, ve] : view.files) {
    const FileEntry& e = ve.file;
    files.push_back({{"path", path},
                     {"type", FileTypeName(e.type)},
                     {"mode", FormatMode(e.mode)},
                     {"size", e.size},
                     {"digest", e.type == FileType::kDir ? nlohmann::ordered_json(nullptr)
                                                         : nlohmann::ordered_json(e.digest.ToString())},
                     {"target", e.type == FileType::kSymlink || e.type == FileType::kSpecial ? nlohmann::ordered_json(e.target)
                                                             : nlohmann::ordered_json(nullptr)},
                     {"layer", ve.layer}});
  }
  // A container's own layers (what changed inside it, its mounts), numbered after the image's.
  nlohmann::ordered_json runtime = nlohmann::ordered_json::array();
  for (size_t k = 0; k < view.runtime.size(); ++k) {
    const RuntimeLayer& rt = view.runtime[k];
    nlohmann::ordered_json mount = nullptr;
    if (rt.origin == "mount" && view.container && rt.mount >= 0) {
      const MountInfo& m = view.container->mounts[static_cast<size_t>(rt.mount)];
      mount = {{"type", m.type}, {"name", m.name.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(m.name)},
               {"source", m.source}, {"destination", m.destination}};
    }
    runtime.push_back({{"index", view.layers.size() + k}, {"origin", rt.origin}, {"mount", mount}});
  }
  nlohmann::ordered_json doc = {{"schema_version", 1},
                                {"transport", view.transport},
                                {"ref", view.ref},
                                {"image_id", OptJson(view.image_id)},
                                {"layers", std::move(layers)}};
  if (view.container) doc["runtime"] = std::move(runtime);
  doc["files"] = std::move(files);
  return doc;
}

}  // namespace stalecheck
