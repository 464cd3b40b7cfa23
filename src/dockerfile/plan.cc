#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "stalecheck/dockerfile.h"
#include "stalecheck/ignore.h"
#include "stalecheck/layer.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

using Env = std::map<std::string, std::string>;

// Splits on blanks outside quotes, keeping the quotes (ExpandWord removes them).
std::vector<std::string> ShellWords(const std::string& s, char escape) {
  std::vector<std::string> out;
  std::string cur;
  bool single = false, dbl = false, any = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (!single && !dbl && (c == ' ' || c == '\t')) {
      if (any) out.push_back(cur);
      cur.clear();
      any = false;
      continue;
    }
    any = true;
    cur += c;
    if (c == escape && !single && i + 1 < s.size()) {
      cur += s[++i];
    } else if (c == '\'' && !dbl) {
      single = !single;
    } else if (c == '"' && !single) {
      dbl = !dbl;
    }
  }
  if (any) out.push_back(cur);
  return out;
}

// Whitespace-separated words, no quote handling (how COPY and ADD split their shell form).
std::vector<std::string> Fields(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// A JSON array of strings, as the exec form writes it; nullopt when it is not one.
std::optional<std::vector<std::string>> JsonList(const std::string& s) {
  std::string t = s;
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
  if (t.empty() || t.front() != '[' || t.back() != ']') return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(t, nullptr, false);
  if (j.is_discarded() || !j.is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& e : j) {
    if (!e.is_string()) return std::nullopt;
    out.push_back(e.get<std::string>());
  }
  return out;
}

bool HasWildcard(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '*' || s[i] == '?' || s[i] == '[') {
      return true;
    }
  }
  return false;
}

bool IsRemote(const std::string& src) {
  return absl::StartsWith(src, "http://") || absl::StartsWith(src, "https://") ||
         absl::StartsWith(src, "git@") || absl::StartsWith(src, "git://");
}

std::string Dirname(const std::string& p) {
  size_t s = p.rfind('/');
  if (s == std::string::npos) return "";
  return p.substr(0, s);
}

std::string AbsJoin(const std::string& dir, const std::string& rel) {
  if (rel.empty() || rel == ".") return CleanPath(dir);
  return CleanPath(absl::StartsWith(rel, "/") ? rel : absl::StrCat(dir, "/", rel));
}

struct Stage {
  std::string name;  // as written after AS (lower case), may be empty
  int line = 0;      // of its FROM
  int parent = -1;
  Env env;
  std::string workdir = "/";
  std::vector<BuildStep> steps;
};

class Planner {
 public:
  Planner(const Dockerfile& df, const std::vector<FileEntry>& context, const PlanOptions& opts)
      : df_(df), context_(context), opts_(opts) {}

  absl::StatusOr<CopyPlan> Run() {
    if (absl::Status s = ReadStages(); !s.ok()) return s;
    if (stages_.empty()) return Error(1, "no FROM instruction");
    int chosen = static_cast<int>(stages_.size()) - 1;
    if (!opts_.target.empty()) {
      chosen = -1;
      for (size_t i = 0; i < stages_.size(); ++i) {
        if (stages_[i].name == absl::AsciiStrToLower(opts_.target)) chosen = static_cast<int>(i);
      }
      if (chosen < 0) return absl::InvalidArgumentError(absl::StrCat(df_.path, ": no stage named '", opts_.target, "'"));
    }
    CopyPlan plan;
    plan.stage = stages_[static_cast<size_t>(chosen)].name.empty() ? std::to_string(chosen)
                                                                    : stages_[static_cast<size_t>(chosen)].name;
    plan.steps = ChainSteps(chosen);
    std::map<std::string, PlannedFile> files;
    if (absl::Status s = PlanSteps(plan.steps, files, plan.dest_roots, &plan.other_steps, 0); !s.ok()) return s;
    plan.files.reserve(files.size());
    for (auto& [path, f] : files) plan.files.push_back(std::move(f));
    std::sort(plan.dest_roots.begin(), plan.dest_roots.end());
    plan.dest_roots.erase(std::unique(plan.dest_roots.begin(), plan.dest_roots.end()), plan.dest_roots.end());
    return plan;
  }

 private:
  absl::Status Error(int line, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(df_.path, ":", line, ": ", what));
  }

  absl::StatusOr<std::string> Expand(const std::string& word, const Env& env, int line) const {
    absl::StatusOr<std::string> v = ExpandWord(word, env, df_.escape);
    if (!v.ok()) return Error(line, std::string(v.status().message()));
    return v;
  }

  // The steps of a stage and of the stages it is built FROM, in build order.
  std::vector<BuildStep> ChainSteps(int stage) const {
    std::vector<int> chain;
    for (int s = stage; s >= 0; s = stages_[static_cast<size_t>(s)].parent) chain.insert(chain.begin(), s);
    std::vector<BuildStep> steps;
    for (int s : chain) {
      for (const BuildStep& step : stages_[static_cast<size_t>(s)].steps) steps.push_back(step);
    }
    return steps;
  }

  // Plans each step that writes files of the context: its own copies, and what COPY --from
  // takes from another stage's copies. `origins` collects the other stages' copy steps.
  absl::Status PlanSteps(std::vector<BuildStep>& steps, std::map<std::string, PlannedFile>& files,
                         std::vector<std::string>& roots, std::vector<BuildStep>* origins, int depth) {
    for (size_t k = 0; k < steps.size(); ++k) {
      BuildStep& step = steps[k];
      absl::Status s = absl::OkStatus();
      if (step.source == StepSource::kContext) {
        s = PlanStep(step, static_cast<int>(k), files, roots);
      } else if (step.source == StepSource::kStage) {
        s = FollowStage(step, static_cast<int>(k), files, origins, depth);
      }
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // What a stage holds from the context at its end: each path with the copy step that wrote
  // it, and the first later step that may have changed it (a RUN, or a copy from elsewhere).
  struct StageFiles {
    std::map<std::string, PlannedFile> files;   // via: index into `origins`
    std::vector<BuildStep> origins;             // the context copies that wrote them
    std::map<std::string, int> changed_at;      // path -> line of a later step that may change it
  };

  // Planned once per stage, however many COPY --from steps name it (planning reads ADD
  // archives from the context).
  absl::StatusOr<const StageFiles*> FilesOfStage(int stage, int depth) {
    if (auto it = stage_files_.find(stage); it != stage_files_.end()) return &it->second;
    if (depth > static_cast<int>(stages_.size())) {
      return Error(stages_[static_cast<size_t>(stage)].line, "COPY --from refers back to its own stage");
    }
    std::vector<BuildStep> steps = ChainSteps(stage);
    std::map<std::string, PlannedFile> files;
    std::vector<std::string> roots;
    std::vector<BuildStep> nested;
    if (absl::Status s = PlanSteps(steps, files, roots, &nested, depth + 1); !s.ok()) return s;
    StageFiles out;
    for (auto& [path, f] : files) {
      // The first later step that can change files without being a copy of the context.
      for (size_t j = static_cast<size_t>(f.step) + 1; j < steps.size(); ++j) {
        const BuildStep& later = steps[j];
        if (later.writes_layer && later.keyword != "WORKDIR" && later.source != StepSource::kContext &&
            later.source != StepSource::kStage) {
          out.changed_at[path] = later.line;
          break;
        }
      }
      const BuildStep& origin = f.via >= 0 ? nested[static_cast<size_t>(f.via)] : steps[static_cast<size_t>(f.step)];
      f.via = AddOrigin(&out.origins, origin);
      out.files.emplace(path, std::move(f));
    }
    return &stage_files_.emplace(stage, std::move(out)).first->second;
  }

  static int AddOrigin(std::vector<BuildStep>* origins, const BuildStep& step) {
    for (size_t i = 0; i < origins->size(); ++i) {
      if ((*origins)[i].line == step.line && (*origins)[i].stage == step.stage) return static_cast<int>(i);
    }
    origins->push_back(step);
    return static_cast<int>(origins->size()) - 1;
  }

  // COPY --from=STAGE: the files it takes that the stage copied straight from the context.
  absl::Status FollowStage(BuildStep& step, int k, std::map<std::string, PlannedFile>& files,
                           std::vector<BuildStep>* origins, int depth) {
    absl::StatusOr<const StageFiles*> found = FilesOfStage(step.from_stage, depth);
    if (!found.ok()) return found.status();
    const StageFiles& stage = **found;
    int changed_line = 0;
    for (const std::string& raw : step.written) {
      const std::string src = CleanPath(absl::StrCat("/", raw));
      const bool wild = HasWildcard(src);
      for (const auto& [path, f] : stage.files) {
        std::string to;
        if (wild ? GlobMatch(src, path) : path == src) {
          to = step.dest_is_dir || wild ? AbsJoin(step.dest, Basename(path)) : step.dest;
        } else if (src == "/" || absl::StartsWith(path, absl::StrCat(src, "/"))) {
          to = AbsJoin(step.dest, path.substr(src == "/" ? 1 : src.size() + 1));
        } else {
          continue;
        }
        if (auto c = stage.changed_at.find(path); c != stage.changed_at.end()) {
          if (changed_line == 0 || c->second < changed_line) changed_line = c->second;
          continue;
        }
        PlannedFile planned = f;
        planned.path = to;
        planned.alt_path.clear();
        planned.step = k;
        planned.via = AddOrigin(origins, stage.origins[static_cast<size_t>(f.via)]);
        if (step.chmod) ApplyChmod(*step.chmod, planned);
        files[to] = std::move(planned);
      }
    }
    const std::string& name = step.from;
    step.unchecked = changed_line > 0
                         ? absl::StrCat("stage ", name, " may change its copies with Dockerfile:", changed_line,
                                        " after copying them, and made the rest by RUN or took it from its base image")
                         : absl::StrCat("stage ", name, " made it by RUN or took it from its base image");
    return absl::OkStatus();
  }

  // Global ARGs, then each stage's ARG, ENV, WORKDIR, COPY and ADD.
  absl::Status ReadStages() {
    Env globals;  // declared before the first FROM
    Env stage_args;
    for (const Instruction& ins : df_.instructions) {
      Stage* st = stages_.empty() ? nullptr : &stages_.back();
      Env scope = globals;
      if (st != nullptr) {
        scope = stage_args;
        for (const auto& [k, v] : st->env) scope[k] = v;
      }
      if (ins.keyword == "FROM") {
        std::vector<std::string> words = Fields(ins.args);
        size_t w = 0;
        while (w < words.size() && absl::StartsWith(words[w], "--")) ++w;
        if (w >= words.size()) return Error(ins.line, "FROM needs an image");
        absl::StatusOr<std::string> image = Expand(words[w], globals, ins.line);
        if (!image.ok()) return image.status();
        Stage next;
        next.line = ins.line;
        if (w + 2 < words.size() && absl::AsciiStrToLower(words[w + 1]) == "as") {
          next.name = absl::AsciiStrToLower(words[w + 2]);
        }
        std::string lower = absl::AsciiStrToLower(*image);
        for (size_t i = 0; i < stages_.size(); ++i) {
          if (!stages_[i].name.empty() && stages_[i].name == lower) {
            next.parent = static_cast<int>(i);
            next.env = stages_[i].env;
            next.workdir = stages_[i].workdir;
          }
        }
        stages_.push_back(std::move(next));
        stage_args.clear();
        continue;
      }
      if (ins.keyword == "ARG") {
        for (const std::string& word : ShellWords(ins.args, df_.escape)) {
          size_t eq = word.find('=');
          std::string name = word.substr(0, eq);
          std::optional<std::string> value;
          if (auto b = opts_.build_args.find(name); b != opts_.build_args.end()) {
            value = b->second;
          } else if (eq != std::string::npos) {
            absl::StatusOr<std::string> v = Expand(word.substr(eq + 1), scope, ins.line);
            if (!v.ok()) return v.status();
            value = *v;
          } else if (st != nullptr && globals.count(name) != 0) {
            value = globals[name];
          }
          Env& target = st == nullptr ? globals : stage_args;
          if (value) target[name] = *value;
        }
        if (st != nullptr) st->steps.push_back(PlainStep(ins, *st));
        continue;
      }
      if (st == nullptr) return Error(ins.line, absl::StrCat(ins.keyword, " before the first FROM"));
      if (ins.keyword != "COPY" && ins.keyword != "ADD") st->steps.push_back(PlainStep(ins, *st));
      if (ins.keyword == "RUN") ReadRun(ins, st->steps.back());
      if (ins.keyword == "ENV") {
        std::vector<std::string> words = ShellWords(ins.args, df_.escape);
        if (!words.empty() && words[0].find('=') == std::string::npos) {
          // Legacy form: ENV NAME value with spaces.
          std::string rest = ins.args.substr(std::min(ins.args.size(), ins.args.find(words[0]) + words[0].size()));
          absl::StatusOr<std::string> v = Expand(std::string(absl::StripLeadingAsciiWhitespace(rest)), scope, ins.line);
          if (!v.ok()) return v.status();
          st->env[words[0]] = *v;
        } else {
          for (const std::string& word : words) {
            size_t eq = word.find('=');
            if (eq == std::string::npos) return Error(ins.line, absl::StrCat("ENV ", word, ": no value"));
            absl::StatusOr<std::string> v = Expand(word.substr(eq + 1), scope, ins.line);
            if (!v.ok()) return v.status();
            st->env[word.substr(0, eq)] = *v;
            scope[word.substr(0, eq)] = *v;
          }
        }
        continue;
      }
      if (ins.keyword == "WORKDIR") {
        absl::StatusOr<std::string> dir = Expand(std::string(absl::StripAsciiWhitespace(ins.args)), scope, ins.line);
        if (!dir.ok()) return dir.status();
        st->workdir = AbsJoin(st->workdir, *dir);
        continue;
      }
      if (ins.keyword == "COPY" || ins.keyword == "ADD") {
        absl::StatusOr<BuildStep> step = ReadCopy(ins, *st, scope);
        if (!step.ok()) return step.status();
        st->steps.push_back(std::move(*step));
      }
    }
    return absl::OkStatus();
  }

  // An instruction that copies nothing: one history entry, and a layer for RUN and WORKDIR.
  BuildStep PlainStep(const Instruction& ins, const Stage& st) const {
    BuildStep step;
    step.line = ins.line;
    step.text = ins.text;
    step.keyword = ins.keyword;
    step.stage = st.name.empty() ? std::to_string(stages_.size() - 1) : st.name;
    step.writes_layer = ins.keyword == "RUN" || ins.keyword == "WORKDIR";
    return step;
  }

  // RUN --mount=type=bind without from= (or from the context) reads the build context: what
  // that step makes from it cannot be compared.
  static void ReadRun(const Instruction& ins, BuildStep& step) {
    for (const std::string& word : Fields(ins.args)) {
      if (!absl::StartsWith(word, "--")) break;
      if (!absl::StartsWith(word, "--mount=")) continue;
      bool bind = false, elsewhere = false;
      for (absl::string_view kv : absl::StrSplit(word.substr(8), ',')) {
        if (kv == "type=bind") bind = true;
        if (absl::StartsWith(kv, "from=") && kv != "from=context") elsewhere = true;
      }
      if (bind && !elsewhere) {
        step.binds_context = true;
        step.unchecked = "reads the build context through RUN --mount=type=bind; what it made cannot be compared";
      }
    }
  }

  // The stage a --from value names (by name, or by index), or -1 for an image.
  int StageNamed(const std::string& from) const {
    const std::string lower = absl::AsciiStrToLower(from);
    for (size_t i = 0; i < stages_.size(); ++i) {
      if (!stages_[i].name.empty() && stages_[i].name == lower) return static_cast<int>(i);
    }
    int index = -1;
    if (absl::SimpleAtoi(from, &index) && index >= 0 && index < static_cast<int>(stages_.size())) return index;
    return -1;
  }

  absl::StatusOr<BuildStep> ReadCopy(const Instruction& ins, const Stage& st, const Env& scope) {
    BuildStep step = PlainStep(ins, st);
    step.writes_layer = true;
    step.source = StepSource::kContext;
    // Flags first (--name=value), then the sources and the destination.
    std::string rest = ins.args;
    for (;;) {
      std::string t = std::string(absl::StripLeadingAsciiWhitespace(rest));
      if (!absl::StartsWith(t, "--")) {
        rest = t;
        break;
      }
      size_t end = t.find_first_of(" \t");
      std::string flag = t.substr(0, end);
      rest = end == std::string::npos ? "" : t.substr(end);
      size_t eq = flag.find('=');
      std::string name = flag.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      absl::StatusOr<std::string> value =
          eq == std::string::npos ? std::string() : Expand(flag.substr(eq + 1), scope, ins.line);
      if (!value.ok()) return value.status();
      if (name == "from") {
        step.from = *value;
        step.from_stage = StageNamed(*value);
        step.source = step.from_stage >= 0 ? StepSource::kStage : StepSource::kImage;
      } else if (name == "chmod") {
        absl::StatusOr<ModeChange> mode = ModeChange::Parse(*value);
        if (!mode.ok()) return Error(ins.line, std::string(mode.status().message()));
        step.chmod = std::move(*mode);
      } else if (name == "exclude") {
        step.excludes.push_back(*value);
      } else if (name == "parents") {
        step.parents = value->empty() || *value == "true";
        if (step.parents && df_.syntax.find("labs") == std::string::npos) {
          return Error(ins.line, absl::StrCat(ins.keyword, " --parents is a labs flag: the built-in Dockerfile frontend "
                                              "refuses it (\"unknown flag: --parents\"), so no image was built from "
                                              "this line; a Dockerfile that uses it starts with "
                                              "# syntax=docker/dockerfile:1-labs"));
        }
      } else if (name != "chown" && name != "link" && name != "checksum" && name != "keep-git-dir") {
        return Error(ins.line, absl::StrCat("unknown flag --", name));
      }
    }
    std::vector<std::string> words;
    if (std::optional<std::vector<std::string>> list = JsonList(rest)) {
      words = *list;
    } else {
      words = Fields(rest);
    }
    if (words.size() < 2) return Error(ins.line, absl::StrCat(ins.keyword, " needs a source and a destination"));
    std::string raw_dest = words.back();
    words.pop_back();
    absl::StatusOr<std::string> dest = Expand(raw_dest, scope, ins.line);
    if (!dest.ok()) return dest.status();
    step.dest_written = *dest;
    step.dest_is_dir = absl::EndsWith(*dest, "/") || *dest == "." || absl::EndsWith(*dest, "/.");
    step.dest = AbsJoin(st.workdir, *dest);
    bool any_context = false, any_remote = false;
    for (const std::string& w : words) {
      if (absl::StartsWith(w, "<<")) {  // a heredoc: the Dockerfile's own text
        step.written.push_back(w);
        continue;
      }
      absl::StatusOr<std::string> src = Expand(w, scope, ins.line);
      if (!src.ok()) return src.status();
      step.written.push_back(*src);
      if (step.source != StepSource::kContext) continue;
      if (ins.keyword == "ADD" && IsRemote(*src)) {
        any_remote = true;
        continue;
      }
      step.sources.push_back(*src);
      any_context = true;
    }
    if (step.source == StepSource::kContext && !any_context) {
      step.source = any_remote ? StepSource::kRemote : StepSource::kHeredoc;
    }
    if (step.written.size() > 1) step.dest_is_dir = true;
    for (const std::string& s : step.written) {
      if (HasWildcard(s)) step.dest_is_dir = true;
    }
    switch (step.source) {
      case StepSource::kImage:
        step.unchecked = absl::StrCat("copied from the image ", step.from);
        break;
      case StepSource::kRemote:
        step.unchecked = "a remote source";
        break;
      case StepSource::kHeredoc:
        step.unchecked = "a heredoc of the Dockerfile";
        break;
      default:
        break;
    }
    return step;
  }

  // The context entry a named source means, following symlinks inside the context.
  const FileEntry* Resolve(std::string rel) const {
    for (int hops = 0; hops < 16; ++hops) {
      if (index_.empty() && !context_.empty()) {  // built on the first source named by path
        index_.reserve(context_.size());
        for (size_t i = 0; i < context_.size(); ++i) index_.insert_or_assign(absl::string_view(context_[i].path), i);
      }
      auto it = index_.find(rel);
      if (it == index_.end()) return nullptr;
      const FileEntry& e = context_[it->second];
      if (e.type != FileType::kSymlink) return &e;
      std::string next = CleanPath(absl::StartsWith(e.target, "/") ? e.target : JoinPath(Dirname(rel), e.target));
      while (absl::StartsWith(next, "/")) next.erase(0, 1);
      if (next.empty() || next == "." || absl::StartsWith(next, "..")) return nullptr;
      rel = next;
    }
    return nullptr;
  }

  static void ApplyChmod(const ModeChange& chmod, PlannedFile& f) {
    if (!chmod.octal) f.mode_if_ignored = f.expected.mode;
    f.expected.mode = chmod.Apply(f.expected.mode, f.expected.type == FileType::kDir);
  }

  void Put(std::map<std::string, PlannedFile>& files, std::string path, std::string alt, const std::string& source,
           FileEntry expected, const BuildStep& step, int k) {
    PlannedFile f;
    f.expected = std::move(expected);
    if (step.chmod) ApplyChmod(*step.chmod, f);
    f.path = path;
    f.alt_path = std::move(alt);
    f.source = source;
    if (f.expected.path != source) f.expected.path = source;
    f.step = k;
    // A step's files come in the context's order, mostly after every path planned so far:
    // the hint makes those inserts constant time.
    files.insert_or_assign(files.end(), std::move(path), std::move(f));
  }

  absl::Status PlanStep(const BuildStep& step, int k, std::map<std::string, PlannedFile>& files,
                        std::vector<std::string>& roots) {
    std::vector<IgnoreMatcher> excludes;
    if (!step.excludes.empty()) {
      absl::StatusOr<IgnoreMatcher> m = IgnoreMatcher::Compile(step.excludes, BuildRules::Buildx());  // the frontend matches, with fsutil
      if (!m.ok()) return Error(step.line, std::string(m.status().message()));
      excludes.push_back(std::move(*m));
    }
    auto excluded = [&](const std::string& rel) { return !excludes.empty() && excludes[0].Excluded(rel); };
    if (step.parents) return PlanParents(step, k, files, roots, excluded);
    for (const std::string& raw : step.sources) {
      std::string rel = CleanPath(absl::StrCat("/", raw));
      rel = rel == "/" ? "" : rel.substr(1);
      std::vector<const FileEntry*> matched;
      bool root = false;
      if (HasWildcard(rel)) {
        for (const FileEntry& e : context_) {
          if (GlobMatch(rel, e.path)) matched.push_back(&e);
        }
      } else if (rel.empty()) {
        root = true;
      } else if (const FileEntry* e = Resolve(rel)) {
        matched.push_back(e);
      }
      if (root) {
        roots.push_back(step.dest);
        for (const FileEntry& e : context_) {
          if (excluded(e.path)) continue;
          Put(files, AbsJoin(step.dest, e.path), "", e.path, e, step, k);
        }
        continue;
      }
      for (const FileEntry* src : matched) {
        if (src->type == FileType::kDir) {
          // A directory copies its contents into the destination.
          roots.push_back(step.dest);
          std::string prefix = src->path + "/";
          auto it = std::lower_bound(context_.begin(), context_.end(), prefix,
                                     [](const FileEntry& e, const std::string& p) { return e.path < p; });
          for (; it != context_.end() && absl::StartsWith(it->path, prefix); ++it) {
            std::string inner = it->path.substr(prefix.size());
            if (excluded(inner)) continue;
            Put(files, AbsJoin(step.dest, inner), "", it->path, *it, step, k);
          }
          continue;
        }
        if (step.keyword == "ADD" && src->type == FileType::kFile && opts_.read_context_file) {
          absl::StatusOr<bool> unpacked = PlanArchive(step, k, *src, files, roots);
          if (!unpacked.ok()) return unpacked.status();
          if (*unpacked) continue;
        }
        const std::string base = Basename(src->path);
        // A symlink named as a source is followed: its target's content lands under the
        // name the source was written with.
        std::string name = Basename(CleanPath(absl::StrCat("/", raw)));
        if (HasWildcard(rel)) name = base;
        if (step.dest_is_dir) {
          roots.push_back(step.dest);
          Put(files, AbsJoin(step.dest, name), "", src->path, *src, step, k);
        } else {
          roots.push_back(Dirname(step.dest).empty() ? "/" : Dirname(step.dest));
          Put(files, step.dest, AbsJoin(step.dest, name), src->path, *src, step, k);
        }
      }
    }
    return absl::OkStatus();
  }

  // COPY --parents: each match keeps its path below the pivot ("/./"; else the context root),
  // and `**` spans directories.
  template <typename Excluded>
  absl::Status PlanParents(const BuildStep& step, int k, std::map<std::string, PlannedFile>& files,
                           std::vector<std::string>& roots, const Excluded& excluded) {
    roots.push_back(step.dest);
    for (const std::string& raw : step.sources) {
      std::string base, pattern = raw;
      if (size_t pivot = raw.find("/./"); pivot != std::string::npos) {
        base = raw.substr(0, pivot);
        pattern = raw.substr(pivot + 3);
      }
      auto clean = [](const std::string& p) {
        std::string c = CleanPath(absl::StrCat("/", p));
        return c == "/" ? std::string() : c.substr(1);
      };
      base = clean(base);
      pattern = clean(pattern);
      const std::string prefix = base.empty() ? "" : base + "/";
      std::vector<const FileEntry*> matched_dirs;
      for (const FileEntry& e : context_) {
        if (!prefix.empty() && !absl::StartsWith(e.path, prefix)) continue;
        std::string rel = e.path.substr(prefix.size());
        if (!DoubleStarMatch(pattern, rel)) continue;
        if (excluded(rel)) continue;
        Put(files, AbsJoin(step.dest, rel), "", e.path, e, step, k);
        if (e.type == FileType::kDir) matched_dirs.push_back(&e);
      }
      for (const FileEntry* d : matched_dirs) {
        const std::string inner_prefix = d->path + "/";
        for (const FileEntry& e : context_) {
          if (!absl::StartsWith(e.path, inner_prefix)) continue;
          std::string rel = e.path.substr(prefix.size());
          if (excluded(rel)) continue;
          Put(files, AbsJoin(step.dest, rel), "", e.path, e, step, k);
        }
      }
    }
    return absl::OkStatus();
  }

  // ADD of a local tar (plain, gzip or zstd, by content) unpacks it into the destination.
  absl::StatusOr<bool> PlanArchive(const BuildStep& step, int k, const FileEntry& src,
                                   std::map<std::string, PlannedFile>& files, std::vector<std::string>& roots) {
    absl::StatusOr<std::string> bytes = opts_.read_context_file(src.path);
    if (!bytes.ok()) return bytes.status();
    if (!LooksLikeLayer(*bytes)) return false;
    MemoryReader in(*bytes);
    absl::StatusOr<LayerContents> members = DecodeLayer(in, src.path);
    if (!members.ok()) return false;  // not an archive the builder would unpack either
    roots.push_back(step.dest);
    for (const LayerEntry& m : members->entries) {
      if (!m.hardlink.empty()) continue;
      FileEntry e = m.file;
      Put(files, AbsJoin(step.dest, m.file.path.substr(1)), "", absl::StrCat(src.path, ":", m.file.path.substr(1)),
          std::move(e), step, k);
    }
    return true;
  }

  const Dockerfile& df_;
  const std::vector<FileEntry>& context_;
  const PlanOptions& opts_;
  mutable absl::flat_hash_map<absl::string_view, size_t> index_;  // into context_'s paths (built by Resolve)
  std::vector<Stage> stages_;
  std::map<int, StageFiles> stage_files_;  // what COPY --from takes from each stage
};

// Go's filepath.Match, one path element at a time ('*' never crosses '/').
bool MatchClass(const std::string& p, size_t& i, char c, bool* ok) {
  // p[i] is just past '['.
  bool negated = false;
  if (i < p.size() && p[i] == '^') {
    negated = true;
    ++i;
  }
  bool match = false;
  int n = 0;
  while (i < p.size()) {
    if (p[i] == ']' && n > 0) {
      ++i;
      *ok = true;
      return match != negated;
    }
    char lo = p[i] == '\\' && i + 1 < p.size() ? p[++i] : p[i];
    ++i;
    char hi = lo;
    if (i + 1 < p.size() && p[i] == '-' && p[i + 1] != ']') {
      hi = p[i + 1] == '\\' && i + 2 < p.size() ? p[i + 2] : p[i + 1];
      i += p[i + 1] == '\\' ? 3 : 2;
    }
    if (lo <= c && c <= hi) match = true;
    ++n;
  }
  *ok = false;
  return false;
}

bool GlobAt(const std::string& p, size_t pi, const std::string& s, size_t si) {
  while (pi < p.size()) {
    char c = p[pi];
    if (c == '*') {
      while (pi < p.size() && p[pi] == '*') ++pi;
      for (size_t k = si;; ++k) {
        if (GlobAt(p, pi, s, k)) return true;
        if (k >= s.size() || s[k] == '/') return false;
      }
    }
    if (si >= s.size()) return false;
    if (c == '?') {
      if (s[si] == '/') return false;
      ++pi;
      ++si;
    } else if (c == '[') {
      if (s[si] == '/') return false;
      size_t q = pi + 1;
      bool ok = false;
      if (!MatchClass(p, q, s[si], &ok) || !ok) return false;
      pi = q;
      ++si;
    } else {
      if (c == '\\' && pi + 1 < p.size()) c = p[++pi];
      if (s[si] != c) return false;
      ++pi;
      ++si;
    }
  }
  return si == s.size();
}

bool DoubleStarAt(const std::vector<std::string>& p, size_t pi, const std::vector<std::string>& n, size_t ni) {
  if (pi == p.size()) return ni == n.size();
  if (p[pi] == "**") {
    for (size_t k = ni; k <= n.size(); ++k) {
      if (DoubleStarAt(p, pi + 1, n, k)) return true;
    }
    return false;
  }
  return ni < n.size() && GlobAt(p[pi], 0, n[ni], 0) && DoubleStarAt(p, pi + 1, n, ni + 1);
}

}  // namespace

bool GlobMatch(const std::string& pattern, const std::string& name) { return GlobAt(pattern, 0, name, 0); }

bool DoubleStarMatch(const std::string& pattern, const std::string& name) {
  std::vector<std::string> p = absl::StrSplit(pattern, '/');
  std::vector<std::string> n = absl::StrSplit(name, '/');
  return DoubleStarAt(p, 0, n, 0);
}

absl::StatusOr<CopyPlan> BuildCopyPlan(const Dockerfile& dockerfile, const std::vector<FileEntry>& context,
                                       const PlanOptions& options) {
  Planner planner(dockerfile, context, options);
  return planner.Run();
}

}  // namespace stalecheck
