#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "stalecheck/compare.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

// A history `created_by` that a COPY or ADD wrote (BuildKit, or the legacy builder).
bool IsCopyHistory(const std::string& created_by) {
  return absl::StartsWith(created_by, "COPY ") || absl::StartsWith(created_by, "ADD ") ||
         absl::StrContains(created_by, "#(nop) COPY ") || absl::StrContains(created_by, "#(nop) ADD ");
}

std::string Parent(const std::string& p) {
  size_t s = p.rfind('/');
  return s == 0 || s == std::string::npos ? "/" : p.substr(0, s);
}

bool Under(const std::string& path, const std::string& dir) {
  return dir == "/" || path == dir || absl::StartsWith(path, absl::StrCat(dir, "/"));
}

// Python's bytecode cache: a `__pycache__` directory, or a pyc in one. Made beside the sources
// by whoever compiled them, it is seldom in the context and never in a revision, so where the
// context lacks it, the bytecode check judges it against its source instead of `extra`.
bool InBytecodeCache(const std::string& path, FileType type) {
  if (type == FileType::kDir) return absl::EndsWith(path, "/__pycache__");
  return type == FileType::kFile && IsPyc(path) && absl::EndsWith(Parent(path), "/__pycache__");
}

}  // namespace

CopyPlan PlanFromMaps(const std::vector<PathMap>& maps, const std::vector<FileEntry>& context) {
  CopyPlan plan;
  plan.stage = "--map";
  std::map<std::string, PlannedFile> files;
  for (size_t k = 0; k < maps.size(); ++k) {
    const PathMap& m = maps[k];
    CopyStep step;
    step.keyword = "MAP";
    step.text = absl::StrCat("--map ", m.source.empty() ? "." : m.source, ":", m.dest);
    step.sources = {m.source};
    step.dest = m.dest;
    plan.steps.push_back(step);
    plan.dest_roots.push_back(m.dest);
    std::string prefix = m.source.empty() ? "" : m.source + "/";
    for (const FileEntry& e : context) {
      if (!prefix.empty() && !absl::StartsWith(e.path, prefix)) continue;
      PlannedFile f;
      f.path = CleanPath(absl::StrCat(m.dest, "/", e.path.substr(prefix.size())));
      f.source = e.path;
      f.expected = e;
      f.step = static_cast<int>(k);
      files[f.path] = std::move(f);
    }
  }
  for (auto& [p, f] : files) plan.files.push_back(std::move(f));
  return plan;
}

CheckResult Compare(const CopyPlan& plan, const ImageView& image, const CompareOptions& options) {
  CheckResult result;
  const int nlayers = static_cast<int>(image.layers.size());
  result.layer_step.assign(static_cast<size_t>(nlayers), -1);

  // Match copy layers to COPY/ADD steps from the top of the image down: the chosen stage's
  // steps are the last layers that copied anything; a base image's copies lie below them.
  bool have_history = false;
  for (const LayerInfo& l : image.layers) have_history = have_history || l.created_by.has_value();
  if (have_history && !options.claims_whole_dest) {
    int s = static_cast<int>(plan.steps.size()) - 1;
    for (int l = nlayers - 1; l >= 0 && s >= 0; --l) {
      const auto& cb = image.layers[static_cast<size_t>(l)].created_by;
      if (cb && IsCopyHistory(*cb)) result.layer_step[static_cast<size_t>(l)] = s--;
    }
  }
  std::vector<int> step_layer(plan.steps.size(), -1);
  for (int l = 0; l < nlayers; ++l) {
    if (result.layer_step[static_cast<size_t>(l)] >= 0) step_layer[static_cast<size_t>(result.layer_step[static_cast<size_t>(l)])] = l;
  }
  auto context_layer = [&](int l) {
    if (l < 0 || l >= nlayers) return false;
    int s = result.layer_step[static_cast<size_t>(l)];
    return s >= 0 && plan.steps[static_cast<size_t>(s)].from_context;
  };

  std::set<std::string> compared;
  std::set<std::string> ancestors;     // directories above planned paths and roots
  auto add_ancestors = [&](std::string p) {
    while (p != "/" && !p.empty()) {
      p = Parent(p);
      if (!ancestors.insert(p).second) break;
    }
  };
  for (const std::string& r : plan.dest_roots) {
    ancestors.insert(r);
    add_ancestors(r);
  }

  std::map<std::string, const PlannedFile*> by_path;  // by resolved image path
  for (const PlannedFile& f : plan.files) {
    std::string path = f.path;
    if (!f.alt_path.empty()) {
      auto it = image.files.find(path);
      if (it != image.files.end() && it->second.file.type == FileType::kDir) path = f.alt_path;
    }
    add_ancestors(path);
    by_path[path] = &f;
    compared.insert(path);
    const int copy_layer = f.step < static_cast<int>(step_layer.size()) ? step_layer[static_cast<size_t>(f.step)] : -1;
    Finding base;
    base.path = path;
    base.source = f.source;
    base.step = f.step;
    auto it = image.files.find(path);
    if (it == image.files.end()) {
      Finding fd = base;
      fd.status = "missing";
      if (f.expected.type != FileType::kDir) fd.expected = f.expected.digest.ToString();
      if (copy_layer >= 0) fd.layer = copy_layer;
      fd.reason = "the build context has it; the image has nothing there";
      result.findings.push_back(std::move(fd));
      continue;
    }
    const ViewEntry& v = it->second;
    // Changed on purpose by a later step that is not a context copy (RUN chmod, sed -i).
    if (copy_layer >= 0 && v.layer > copy_layer && !context_layer(v.layer)) continue;
    base.layer = v.layer;
    const FileEntry& want = f.expected;
    const FileEntry& have = v.file;
    // At most one finding a path, the most basic difference first.
    auto emit = [&](const char* status, std::string expected, std::string actual, std::string reason) {
      Finding fd = base;
      fd.status = status;
      fd.expected = std::move(expected);
      fd.actual = std::move(actual);
      fd.reason = std::move(reason);
      result.findings.push_back(std::move(fd));
    };
    if (want.type != have.type) {
      emit("type", FileTypeName(want.type), FileTypeName(have.type),
           absl::StrCat("a ", FileTypeName(want.type), " in the context, a ", FileTypeName(have.type), " in the image"));
    } else if (want.type == FileType::kSymlink && want.target != have.target) {
      emit("type", want.target, have.target,
           absl::StrCat("symlink points to ", have.target, ", the context's to ", want.target));
    } else if (want.type == FileType::kFile && !(want.digest == have.digest)) {
      emit("stale", want.digest.ToString(), have.digest.ToString(),
           want.size == have.size ? "content differs (same size)"
                                  : absl::StrCat("content differs (", have.size, " bytes in the image, ", want.size,
                                                 " in the context)"));
    } else if (want.type != FileType::kSymlink && want.mode != have.mode) {
      emit("mode", FormatMode(want.mode), FormatMode(have.mode),
           absl::StrCat("mode ", FormatMode(have.mode), " in the image, ", FormatMode(want.mode), " in the context"));
    }
  }

  // Left over: put there by a context copy (or under a --map destination), no longer planned.
  for (const auto& [path, v] : image.files) {
    bool claimed = false;
    int step = -1;
    if (options.claims_whole_dest) {
      for (size_t k = 0; k < plan.steps.size(); ++k) {
        if (path != plan.steps[k].dest && Under(path, plan.steps[k].dest)) {
          claimed = true;
          step = static_cast<int>(k);
        }
      }
    } else if (context_layer(v.layer)) {
      claimed = true;
      step = result.layer_step[static_cast<size_t>(v.layer)];
    }
    if (!claimed) continue;
    compared.insert(path);
    if (by_path.count(path) != 0 || ancestors.count(path) != 0) continue;
    if (InBytecodeCache(path, v.file.type)) continue;
    Finding fd;
    fd.status = "extra";
    fd.path = path;
    fd.layer = v.layer;
    if (step >= 0) fd.step = step;
    if (v.file.type != FileType::kDir) fd.actual = v.file.digest.ToString();
    fd.reason = "a context copy put it there; the build context no longer has it";
    result.findings.push_back(std::move(fd));
  }

  // Bytecode beside copied sources: a pyc that does not match its .py, or whose .py is gone.
  for (const auto& [path, v] : image.files) {
    // A legacy `name.pyc` beside its source is imported only when the .py is absent: nothing
    // to compare.
    if (v.file.type != FileType::kFile || !InBytecodeCache(path, v.file.type)) continue;
    const std::string dir = Parent(path);
    const std::string base = path.substr(dir.size() + 1);
    const std::string name = base.substr(0, base.find('.'));
    const std::string source_path = absl::StrCat(Parent(dir) == "/" ? "" : Parent(dir), "/", name, ".py");
    bool covered = by_path.count(source_path) != 0;
    for (const std::string& r : plan.dest_roots) covered = covered || (r != "/" && Under(path, r));
    if (!covered) continue;
    compared.insert(path);
    Finding fd;
    fd.status = "bytecode";
    fd.path = path;
    fd.layer = v.layer;
    if (auto b = by_path.find(source_path); b != by_path.end()) fd.step = b->second->step;
    auto src = image.files.find(source_path);
    if (src == image.files.end()) {
      fd.reason = absl::StrCat("its source ", source_path, " is gone");
      result.findings.push_back(std::move(fd));
      continue;
    }
    std::optional<std::string> bytes;
    auto planned_src = by_path.find(source_path);
    if (planned_src != by_path.end() && planned_src->second->expected.digest == src->second.file.digest &&
        options.read_context_file && v.file.head.size() >= 8 && v.file.head[4] == 3) {
      absl::StatusOr<std::string> data = options.read_context_file(planned_src->second->source);
      if (data.ok()) bytes = std::move(*data);
    }
    std::string why;
    if (CheckPycHeader(v.file.head, src->second.file.mtime, src->second.file.size, bytes, &why) == PycVerdict::kStale) {
      fd.reason = why;
      result.findings.push_back(std::move(fd));
    }
  }

  std::stable_sort(result.findings.begin(), result.findings.end(), [](const Finding& a, const Finding& b) {
    return a.path.value_or("") < b.path.value_or("");
  });
  result.compared.assign(compared.begin(), compared.end());
  result.stale = !result.findings.empty();
  return result;
}

}  // namespace stalecheck
