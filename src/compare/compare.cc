// plan × image view → findings, in phases: match layers to steps (match.cc), judge each
// planned path by the version its copy layer wrote, find what copy layers wrote that the
// context no longer has, check bytecode, and list the steps whose files cannot be compared.

#include <algorithm>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "stalecheck/compare.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

// Python's bytecode cache: a `__pycache__` directory, or a pyc in one. Made beside the sources
// by whoever compiled them, it is seldom in the context and never in a revision, so where the
// context lacks it, the bytecode check judges it against its source instead of `extra`.
bool InBytecodeCache(const std::string& path, FileType type) {
  if (type == FileType::kDir) return absl::EndsWith(path, "/__pycache__");
  return type == FileType::kFile && IsPyc(path) && absl::EndsWith(ParentDir(path), "/__pycache__");
}

// The state every phase reads and adds to.
class Comparison {
 public:
  Comparison(const CopyPlan& plan, const ImageView& image, const CompareOptions& options, LayerMatch match)
      : plan_(plan), image_(image), options_(options), match_(std::move(match)) {
    result_.layer_step = match_.layer_step;
  }

  CheckResult Run() {
    CollectAncestors();
    JudgePlanned();
    FindExtras();
    CheckBytecode();
    ListUnchecked();
    std::stable_sort(result_.findings.begin(), result_.findings.end(), [](const Finding& a, const Finding& b) {
      return a.path.value_or("") < b.path.value_or("");
    });
    FinishCompared();
    result_.stale = !result_.findings.empty();
    return std::move(result_);
  }

 private:
  int LayerOfStep(int step) const {
    if (step < 0 || step >= static_cast<int>(match_.step_layer.size())) return -1;
    return match_.step_layer[static_cast<size_t>(step)];
  }

  const BuildStep* StepOfLayer(int layer) const {
    if (layer < 0 || layer >= static_cast<int>(match_.layer_step.size())) return nullptr;
    int s = match_.layer_step[static_cast<size_t>(layer)];
    return s < 0 ? nullptr : &plan_.steps[static_cast<size_t>(s)];
  }

  bool ContextLayer(int layer) const {
    const BuildStep* s = StepOfLayer(layer);
    return s != nullptr && s->FromContext();
  }

  // The image's final filesystem at `path`, or null: hashed, since every planned path and every
  // copied entry is looked up (the view's ordered map is for listing).
  const ViewEntry* Top(absl::string_view path) {
    if (top_.empty() && !image_.files.empty()) {
      top_.reserve(image_.files.size());
      for (const auto& [p, v] : image_.files) top_.emplace(p, &v);
    }
    auto it = top_.find(path);
    return it == top_.end() ? nullptr : it->second;
  }

  const LayerIndex& Index(int layer) {
    auto it = layer_index_.find(layer);
    if (it == layer_index_.end()) {
      it = layer_index_.emplace(layer, std::make_unique<LayerIndex>(image_.changes[static_cast<size_t>(layer)])).first;
    }
    return *it->second;
  }

  // The version of `path` the filesystem had right after `layer`: what that layer wrote, or
  // (a layer is a diff, and may leave out what did not change) what a lower layer wrote and no
  // layer in between deleted. Null when there was none.
  const FileEntry* VersionAt(int layer, const std::string& path) {
    for (int l = layer; l >= 0; --l) {
      const LayerIndex& index = Index(l);
      if (const FileEntry* e = index.Written(path)) return e;
      if (index.Deletes(path)) return nullptr;
    }
    return nullptr;
  }

  // Says which layer holds the judged version: an image layer, or a runtime layer of a
  // container (changed inside it, or a mount), which has no layer of the image.
  void Attribute(Finding& f, int layer) const {
    const int rt = RuntimeIndex(image_, layer);
    if (rt < 0) {
      f.layer = layer;
      return;
    }
    const RuntimeLayer& r = image_.runtime[static_cast<size_t>(rt)];
    f.layer.reset();
    f.origin = r.origin;
    if (r.mount >= 0) f.mount = r.mount;
  }

  // The top-most runtime layer that deleted or hid `path`, or -1.
  int RuntimeDeletion(const std::string& path) {
    for (int l = static_cast<int>(image_.changes.size()) - 1; l >= static_cast<int>(image_.layers.size()); --l) {
      if (Index(l).Deletes(path)) return l;
    }
    return -1;
  }

  // Whether a layer above `layer` deleted `path`.
  bool DeletedAfter(int layer, const std::string& path) {
    for (int l = layer + 1; l < static_cast<int>(image_.changes.size()); ++l) {
      if (Index(l).Deletes(path)) return true;
    }
    return false;
  }

  // Directories above the planned paths and the copy destinations are no findings.
  void CollectAncestors() {
    for (const std::string& r : plan_.dest_roots) AddAncestors(r, true);
    for (const BuildStep& s : plan_.steps) {
      if (s.FromContext()) AddAncestors(s.dest, s.dest_is_dir);
    }
  }

  // `p` must live as long as the plan: the set holds views of it.
  void AddAncestors(absl::string_view p, bool self) {
    if (self) ancestors_.insert(p);
    while (p != "/" && !p.empty()) {
      p = ParentDir(p);
      if (!ancestors_.insert(p).second) break;
    }
  }

  // The planned paths came first, in the plan's order (by path, but for the lone files that
  // landed inside a directory); the rest is sorted and merged in, then each path kept once.
  void FinishCompared() {
    auto mid = compared_.begin() + static_cast<std::ptrdiff_t>(planned_compared_);
    if (!std::is_sorted(compared_.begin(), mid)) std::sort(compared_.begin(), mid);
    std::sort(mid, compared_.end());
    std::inplace_merge(compared_.begin(), mid, compared_.end());
    compared_.erase(std::unique(compared_.begin(), compared_.end()), compared_.end());
    result_.compared.reserve(compared_.size());
    for (absl::string_view p : compared_) result_.compared.emplace_back(p);
  }

  // A planned path is judged by the version its copy layer wrote, which is what the context
  // was at build time; the top-most version (a later RUN's) is only named beside a finding.
  void JudgePlanned() {
    by_path_.reserve(plan_.files.size());
    compared_.reserve(plan_.files.size() + plan_.files.size() / 8);
    for (const PlannedFile& f : plan_.files) {
      const int copy_layer = LayerOfStep(f.step);
      const std::string* resolved = &f.path;
      const ViewEntry* top = Top(f.path);
      if (!f.alt_path.empty()) {
        // A lone file copied onto an existing directory lands inside it.
        const FileEntry* wrote = copy_layer >= 0 ? VersionAt(copy_layer, f.path) : nullptr;
        if ((wrote != nullptr && wrote->type == FileType::kDir) ||
            (wrote == nullptr && top != nullptr && top->file.type == FileType::kDir)) {
          resolved = &f.alt_path;
          top = Top(f.alt_path);
        }
      }
      const std::string& path = *resolved;
      AddAncestors(path, false);
      by_path_[path] = &f;
      compared_.push_back(path);
      // Where the judged version came from; a finding is made only when there is one.
      std::optional<int> layer;
      bool attribute = false;  // `layer` may be a container's runtime layer
      std::optional<int> changed_by;
      auto base = [&] {
        Finding b;
        b.path = path;
        b.source = f.source;
        b.step = f.step;
        if (f.via >= 0) b.via = f.via;
        if (attribute) {
          Attribute(b, *layer);
        } else {
          b.layer = layer;
        }
        b.changed_by = changed_by;
        return b;
      };
      const FileEntry* have = nullptr;
      const int runtime_top = top == nullptr ? -1 : RuntimeIndex(image_, top->layer);
      const int runtime_gone = top == nullptr ? RuntimeDeletion(path) : -1;
      if (runtime_top >= 0) {
        // A container: what it shows now is judged, whatever its image had.
        have = &top->file;
        layer = top->layer;
        attribute = true;
      } else if (runtime_gone >= 0) {
        layer = runtime_gone;
        attribute = true;
        Finding fd = base();
        fd.status = "missing";
        if (f.expected.type != FileType::kDir) fd.expected = f.expected.digest.ToString();
        fd.reason = fd.origin == "mount" ? "the build context has it; the mount over it does not"
                                         : "the build context has it; it was deleted inside the container";
        result_.findings.push_back(std::move(fd));
        continue;
      } else if (copy_layer < 0) {
        // No history to match: the top-most version is all there is.
        if (top != nullptr) {
          have = &top->file;
          layer = top->layer;
        }
      } else {
        // The top-most version is the copy layer's own when that layer put it there (and did
        // not merely imply it as a parent of what it wrote).
        have = top != nullptr && top->layer == copy_layer && !top->implied ? &top->file : VersionAt(copy_layer, path);
        layer = copy_layer;
        if (top == nullptr) {
          // A later layer deleted it (RUN rm): whatever the copy wrote, it is not there.
          if (have != nullptr || DeletedAfter(copy_layer, path)) continue;
        } else if (top->layer != copy_layer) {
          changed_by = top->layer;
        }
      }
      if (have == nullptr) {
        Finding fd = base();
        fd.status = "missing";
        if (f.expected.type != FileType::kDir) fd.expected = f.expected.digest.ToString();
        fd.reason = top == nullptr ? "the build context has it; the image has nothing there"
                                              : "the build context has it; its copy step did not write it";
        if (absl::StrContains(path, "/__pycache__")) {
          fd.reason += " (bytecode compiled in the context; `**/__pycache__` in .dockerignore keeps it out of images)";
        }
        result_.findings.push_back(std::move(fd));
        continue;
      }
      if (Difference(f.expected, *have, f.mode_if_ignored) == Diff::kNone) continue;
      const Finding b = base();
      JudgeVersion(b, f.expected, *have, f.mode_if_ignored);
      if (b.origin != "layer") {
        Finding& fd = result_.findings.back();
        const bool size_differs = fd.status == "stale" && have->size != f.expected.size;
        const std::string what = fd.status == "stale" ? (size_differs ? absl::StrCat("content differs (", have->size, " bytes there, ",
                                                                            f.expected.size, " in the context)")
                                                                      : std::string("content differs (same size)"))
                                                      : fd.reason;
        fd.reason = fd.origin == "mount" ? absl::StrCat(what, "; the container shows the mount's file")
                    : image_.flat        ? absl::StrCat(what, " in the container (its image is gone from the engine: "
                                                              "a stale image and a change inside it look the same)")
                                         : absl::StrCat(what, "; changed inside the container, not by its image");
      }
    }
    planned_compared_ = compared_.size();
  }

  enum class Diff { kNone, kType, kSpecialTarget, kSymlinkTarget, kContent, kMode };

  // The most basic difference between what the context has and what the image holds.
  static Diff Difference(const FileEntry& want, const FileEntry& have, std::optional<uint32_t> mode_if_ignored) {
    if (want.type != have.type) return Diff::kType;
    if (want.type == FileType::kSpecial && want.target != have.target) return Diff::kSpecialTarget;
    if (want.type == FileType::kSymlink && want.target != have.target) return Diff::kSymlinkTarget;
    if (want.type == FileType::kFile && !(want.digest == have.digest)) return Diff::kContent;
    if (want.type != FileType::kSymlink && want.mode != have.mode && mode_if_ignored != have.mode) return Diff::kMode;
    return Diff::kNone;
  }

  // At most one finding a path, the most basic difference first.
  void JudgeVersion(const Finding& base, const FileEntry& want, const FileEntry& have,
                    std::optional<uint32_t> mode_if_ignored = std::nullopt) {
    auto emit = [&](const char* status, std::string expected, std::string actual, std::string reason) {
      Finding fd = base;
      fd.status = status;
      fd.expected = std::move(expected);
      fd.actual = std::move(actual);
      fd.reason = std::move(reason);
      result_.findings.push_back(std::move(fd));
    };
    switch (Difference(want, have, mode_if_ignored)) {
      case Diff::kNone:
        break;
      case Diff::kType:
        emit("type", FileTypeName(want.type), FileTypeName(have.type),
             absl::StrCat("a ", FileTypeName(want.type), " in the context, a ", FileTypeName(have.type), " in the image"));
        break;
      case Diff::kSpecialTarget:
        emit("type", want.target, have.target,
             absl::StrCat("a ", have.target, " in the image, a ", want.target, " in the context"));
        break;
      case Diff::kSymlinkTarget:
        emit("type", want.target, have.target,
             absl::StrCat("symlink points to ", have.target, ", the context's to ", want.target));
        break;
      case Diff::kContent:
        emit("stale", want.digest.ToString(), have.digest.ToString(),
             want.size == have.size
                 ? "content differs (same size: BuildKit may have kept the old bytes of a file whose size and mtime "
                   "did not change; `docker builder prune --filter type=source.local` clears that)"
                 : absl::StrCat("content differs (", have.size, " bytes in the image, ", want.size, " in the context)"));
        break;
      case Diff::kMode:
        emit("mode", FormatMode(want.mode), FormatMode(have.mode),
             absl::StrCat("mode ", FormatMode(have.mode), " in the image, ", FormatMode(want.mode), " in the context"));
        break;
    }
  }

  // What a context copy wrote that the plan no longer has (deleted, or now ignored), unless a
  // later layer deleted it too. Under --map, everything below a destination is claimed.
  void FindExtras() {
    if (options_.claims_whole_dest) {
      for (const auto& [path, v] : image_.files) {
        int step = -1;
        for (size_t k = 0; k < plan_.steps.size(); ++k) {
          if (path != plan_.steps[k].dest && PathUnder(path, plan_.steps[k].dest)) step = static_cast<int>(k);
        }
        if (step >= 0) Extra(path, v.file, v.layer, step, std::nullopt);
      }
      return;
    }
    if (!match_.matched) {
      return;  // no history: no layer is known to be a context copy
    }
    absl::flat_hash_set<absl::string_view> seen;
    seen.reserve(plan_.files.size());
    for (int l = static_cast<int>(image_.changes.size()) - 1; l >= 0; --l) {
      if (!ContextLayer(l)) continue;
      for (const FileEntry& e : image_.changes[static_cast<size_t>(l)].entries) {
        if (!seen.insert(e.path).second) continue;  // a higher copy layer wrote it again
        const ViewEntry* top = Top(e.path);
        if (top == nullptr) continue;    // deleted by a later layer
        if (RuntimeIndex(image_, top->layer) >= 0) {
          // A container shows its own version (changed inside it, or a mount's).
          Extra(e.path, top->file, top->layer, match_.layer_step[static_cast<size_t>(l)], std::nullopt);
          continue;
        }
        std::optional<int> changed;
        if (top->layer != l) changed = top->layer;
        Extra(e.path, e, l, match_.layer_step[static_cast<size_t>(l)], changed);
      }
    }
  }

  // `path` must live as long as the plan and the view: compared_ holds a view of it.
  void Extra(const std::string& path, const FileEntry& file, int layer, int step, std::optional<int> changed) {
    if (by_path_.count(path) != 0) return;  // planned: compared already
    compared_.push_back(path);
    if (ancestors_.count(path) != 0) return;
    if (InBytecodeCache(path, file.type)) return;
    Finding fd;
    fd.status = "extra";
    fd.path = path;
    Attribute(fd, layer);
    fd.changed_by = changed;
    if (step >= 0) fd.step = step;
    if (file.type != FileType::kDir) fd.actual = file.digest.ToString();
    fd.reason = fd.origin == "mount"       ? "the mount over it has it; the build context does not"
                : fd.origin == "container" ? "the container has it (a context copy put it there, and it was changed "
                                             "inside the container); the build context no longer has it"
                                           : "a context copy put it there; the build context no longer has it";
    result_.findings.push_back(std::move(fd));
  }

  // Bytecode beside copied sources, as Python will see it (the top-most versions): a pyc that
  // does not match its .py, or whose .py is gone. A pyc from the context whose header matches
  // is compiled again by a local Python with its magic number, since a same-size, same-mtime
  // edit of the source keeps a timestamp header valid while the code is old.
  void CheckBytecode() {
    struct Pending {
      Finding finding;
      BytecodeCompiler::Item item;
    };
    std::vector<Pending> pending;
    for (const auto& [path, v] : image_.files) {
      // A legacy `name.pyc` beside its source is imported only when the .py is absent: nothing
      // to compare.
      if (v.file.type != FileType::kFile || !InBytecodeCache(path, v.file.type)) continue;
      const absl::string_view dir = ParentDir(path);
      const std::string file = path.substr(dir.size() + 1);
      const std::string name = file.substr(0, file.find('.'));
      const std::string source_path = absl::StrCat(ParentDir(dir) == "/" ? "" : ParentDir(dir), "/", name, ".py");
      bool covered = by_path_.count(source_path) != 0;
      for (const std::string& r : plan_.dest_roots) covered = covered || (r != "/" && PathUnder(path, r));
      if (!covered) continue;
      compared_.push_back(path);
      Finding fd;
      fd.status = "bytecode";
      fd.path = path;
      Attribute(fd, v.layer);
      if (auto b = by_path_.find(source_path); b != by_path_.end()) fd.step = b->second->step;
      const ViewEntry* src = Top(source_path);
      if (src == nullptr) {
        fd.reason = absl::StrCat("its source ", source_path, " is gone");
        result_.findings.push_back(std::move(fd));
        continue;
      }
      // The source's bytes are read only where they are needed: for a checked-hash header, or
      // for the compile check below.
      const PlannedFile* planned_src = Planned(source_path, src->file);
      const bool checked_hash = v.file.head.size() >= 8 && v.file.head[4] == 3;
      std::optional<std::string> source_bytes = checked_hash ? ContextBytes(planned_src) : std::nullopt;
      std::string why;
      PycVerdict verdict =
          CheckPycHeader(v.file.head, src->file.mtime, src->file.size, source_bytes, &why);
      if (verdict == PycVerdict::kStale) {
        fd.reason = why;
        result_.findings.push_back(std::move(fd));
        continue;
      }
      if (checked_hash && verdict == PycVerdict::kFresh) continue;  // the hash covers the source's bytes
      // A pyc that a RUN compiled in the image was compiled from the image's own source.
      const PlannedFile* planned_pyc = Planned(path, v.file);
      if (planned_pyc == nullptr) continue;
      std::optional<std::string> pyc_bytes = ContextBytes(planned_pyc);
      if (!checked_hash) source_bytes = ContextBytes(planned_src);
      if (!source_bytes || !pyc_bytes || options_.compiler == nullptr) {
        result_.unchecked_bytecode.push_back(path);
        continue;
      }
      BytecodeCompiler::Item item;
      item.pyc = std::move(*pyc_bytes);
      item.source = std::move(*source_bytes);
      item.optimize = absl::StrContains(file, ".opt-2.") ? 2 : absl::StrContains(file, ".opt-1.") ? 1 : 0;
      pending.push_back({std::move(fd), std::move(item)});
    }
    if (pending.empty()) return;
    std::vector<BytecodeCompiler::Item> items;
    for (Pending& p : pending) items.push_back(std::move(p.item));
    std::vector<BytecodeCompiler::Verdict> verdicts = options_.compiler->Compare(items);
    for (size_t i = 0; i < pending.size(); ++i) {
      BytecodeCompiler::Verdict v = i < verdicts.size() ? verdicts[i] : BytecodeCompiler::Verdict::kNoPython;
      if (v == BytecodeCompiler::Verdict::kSame) continue;
      if (v == BytecodeCompiler::Verdict::kNoPython) {
        result_.unchecked_bytecode.push_back(*pending[i].finding.path);
        continue;
      }
      Finding fd = std::move(pending[i].finding);
      fd.reason = "its header matches the source beside it, but its code is not that source's (compiled again "
                  "here): Python runs the old code";
      result_.findings.push_back(std::move(fd));
    }
    std::sort(result_.unchecked_bytecode.begin(), result_.unchecked_bytecode.end());
  }

  // The context's bytes of a planned file; nullopt without one, or when they cannot be read.
  std::optional<std::string> ContextBytes(const PlannedFile* f) const {
    if (f == nullptr || !options_.read_context_file) return std::nullopt;
    absl::StatusOr<std::string> data = options_.read_context_file(f->source);
    if (!data.ok()) return std::nullopt;
    return std::move(*data);
  }

  // The planned file at `path` when the image holds exactly the context's bytes there.
  const PlannedFile* Planned(const std::string& path, const FileEntry& have) const {
    auto it = by_path_.find(path);
    if (it == by_path_.end() || it->second->expected.type != FileType::kFile) return nullptr;
    return it->second->expected.digest == have.digest ? it->second : nullptr;
  }

  // Steps that wrote files stalecheck cannot compare: COPY --from (what the stage did not copy
  // straight from the context), images, remote sources, heredocs, RUN with a bind mount.
  void ListUnchecked() {
    for (size_t k = 0; k < plan_.steps.size(); ++k) {
      const BuildStep& s = plan_.steps[k];
      if (s.unchecked.empty()) continue;
      UncheckedStep u;
      u.step = static_cast<int>(k);
      u.reason = s.unchecked;
      const int layer = LayerOfStep(static_cast<int>(k));
      if (layer >= 0) {
        int n = 0;
        for (const FileEntry& e : image_.changes[static_cast<size_t>(layer)].entries) {
          if (e.type == FileType::kDir) continue;
          auto p = by_path_.find(e.path);
          if (p == by_path_.end() || p->second->step != static_cast<int>(k)) ++n;
        }
        if (n == 0) continue;
        u.paths = n;
      } else if (match_.matched) {
        continue;  // an empty layer: nothing written
      }
      result_.unchecked.push_back(std::move(u));
    }
  }

  const CopyPlan& plan_;
  const ImageView& image_;
  const CompareOptions& options_;
  const LayerMatch match_;
  CheckResult result_;
  absl::flat_hash_map<absl::string_view, const ViewEntry*> top_;  // Top's index of image_.files
  // Views of the plan's and the view's own strings, which outlive the comparison.
  std::vector<absl::string_view> compared_;  // sorted and made unique at the end
  size_t planned_compared_ = 0;               // how many of them JudgePlanned pushed
  absl::flat_hash_set<absl::string_view> ancestors_;  // directories above planned paths and roots
  absl::flat_hash_map<absl::string_view, const PlannedFile*> by_path_;  // by resolved image path
  std::map<int, std::unique_ptr<LayerIndex>> layer_index_;
};

}  // namespace

absl::StatusOr<CopyPlan> PlanFromMaps(const std::vector<PathMap>& maps, const std::vector<FileEntry>& context) {
  CopyPlan plan;
  plan.stage = "--map";
  std::map<std::string, PlannedFile> files;
  for (size_t k = 0; k < maps.size(); ++k) {
    const PathMap& m = maps[k];
    BuildStep step;
    step.keyword = "MAP";
    step.source = StepSource::kContext;
    step.text = absl::StrCat("--map ", m.source.empty() ? "." : m.source, ":", m.dest);
    step.sources = {m.source};
    const FileEntry* named = nullptr;
    if (!m.source.empty()) {
      auto it = std::lower_bound(context.begin(), context.end(), m.source,
                                 [](const FileEntry& e, const std::string& p) { return e.path < p; });
      if (it == context.end() || it->path != m.source) {
        return absl::InvalidArgumentError(absl::StrCat("--map ", m.source, ":", m.dest, ": the build context has no ",
                                                       m.source, " (SRC is relative to the context)"));
      }
      named = &*it;
    }
    if (named != nullptr && named->type != FileType::kDir) {
      // A file maps to DEST itself, or into DEST when DEST ends in '/'.
      std::string dest = m.dest_is_dir ? CleanPath(absl::StrCat(m.dest, "/", Basename(named->path))) : m.dest;
      step.dest = dest;
      plan.steps.push_back(step);
      plan.dest_roots.emplace_back(ParentDir(dest));
      PlannedFile f;
      f.path = dest;
      f.source = named->path;
      f.expected = *named;
      f.step = static_cast<int>(k);
      files[f.path] = std::move(f);
      continue;
    }
    step.dest = m.dest;
    step.dest_is_dir = true;
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

absl::StatusOr<CheckResult> Compare(const CopyPlan& plan, const ImageView& image, const CompareOptions& options) {
  LayerMatch match;
  match.layer_step.assign(image.layers.size(), -1);
  match.step_layer.assign(plan.steps.size(), -1);
  if (!options.claims_whole_dest && !image.flat) {
    absl::StatusOr<LayerMatch> m = MatchLayers(plan, image);
    if (!m.ok()) return m.status();
    match = std::move(*m);
  }
  CheckResult result = Comparison(plan, image, options, std::move(match)).Run();
  if (result.compared.empty()) {
    std::string why = plan.steps.empty() ? "" : absl::StrCat(" (", result.unchecked.size(), " step",
                                                             result.unchecked.size() == 1 ? "" : "s",
                                                             " wrote files that cannot be compared)");
    return absl::FailedPreconditionError(
        absl::StrCat("nothing of the build context reaches this image through stage ", plan.stage, why,
                     ": name the stage that copies the context with --target, or compare a directory with --map "
                     "SRC:DEST"));
  }
  return result;
}

}  // namespace stalecheck
