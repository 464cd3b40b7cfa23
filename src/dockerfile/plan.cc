#include <algorithm>

#include <nlohmann/json.hpp>

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

std::string Basename(const std::string& p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
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
  int parent = -1;
  Env env;
  std::string workdir = "/";
  std::vector<CopyStep> steps;
};

class Planner {
 public:
  Planner(const Dockerfile& df, const std::vector<FileEntry>& context, const PlanOptions& opts)
      : df_(df), context_(context), opts_(opts) {
    for (size_t i = 0; i < context_.size(); ++i) index_[context_[i].path] = i;
  }

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
    std::vector<int> chain;
    for (int s = chosen; s >= 0; s = stages_[static_cast<size_t>(s)].parent) chain.insert(chain.begin(), s);
    CopyPlan plan;
    plan.stage = stages_[static_cast<size_t>(chosen)].name.empty() ? std::to_string(chosen)
                                                                    : stages_[static_cast<size_t>(chosen)].name;
    for (int s : chain) {
      for (const CopyStep& step : stages_[static_cast<size_t>(s)].steps) plan.steps.push_back(step);
    }
    std::map<std::string, PlannedFile> files;
    for (size_t k = 0; k < plan.steps.size(); ++k) {
      if (!plan.steps[k].from_context) continue;
      if (absl::Status s = PlanStep(plan.steps[k], static_cast<int>(k), files, plan.dest_roots); !s.ok()) return s;
    }
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
        continue;
      }
      if (st == nullptr) return Error(ins.line, absl::StrCat(ins.keyword, " before the first FROM"));
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
        absl::StatusOr<CopyStep> step = ReadCopy(ins, *st, scope);
        if (!step.ok()) return step.status();
        st->steps.push_back(std::move(*step));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<CopyStep> ReadCopy(const Instruction& ins, const Stage& st, const Env& scope) {
    CopyStep step;
    step.line = ins.line;
    step.text = ins.text;
    step.keyword = ins.keyword;
    step.stage = st.name.empty() ? std::to_string(stages_.size() - 1) : st.name;
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
        step.from_context = false;
      } else if (name == "chmod") {
        uint32_t mode = 0;
        if (value->empty() || value->find_first_not_of("01234567") != std::string::npos ||
            !absl::numbers_internal::safe_strtou32_base(*value, &mode, 8) || mode > 07777) {
          return Error(ins.line, absl::StrCat("--chmod=", *value, ": only octal modes are supported"));
        }
        step.chmod = mode;
      } else if (name == "exclude") {
        step.excludes.push_back(*value);
      } else if (name == "parents") {
        step.parents = value->empty() || *value == "true";
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
    step.dest_is_dir = absl::EndsWith(*dest, "/") || *dest == "." || absl::EndsWith(*dest, "/.");
    step.dest = AbsJoin(st.workdir, *dest);
    bool any_context = false;
    for (const std::string& w : words) {
      if (absl::StartsWith(w, "<<")) continue;  // a heredoc: not from the context
      absl::StatusOr<std::string> src = Expand(w, scope, ins.line);
      if (!src.ok()) return src.status();
      if (ins.keyword == "ADD" && IsRemote(*src)) continue;
      step.sources.push_back(*src);
      any_context = true;
    }
    if (!any_context) step.from_context = false;
    if (step.sources.size() > 1) step.dest_is_dir = true;
    for (const std::string& s : step.sources) {
      if (HasWildcard(s)) step.dest_is_dir = true;
    }
    return step;
  }

  // The context entry a named source means, following symlinks inside the context.
  const FileEntry* Resolve(std::string rel) const {
    for (int hops = 0; hops < 16; ++hops) {
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

  void Put(std::map<std::string, PlannedFile>& files, std::string path, std::string alt, const std::string& source,
           FileEntry expected, const CopyStep& step, int k) {
    if (step.chmod) expected.mode = *step.chmod;
    PlannedFile f;
    f.path = path;
    f.alt_path = std::move(alt);
    f.source = source;
    f.expected = std::move(expected);
    f.expected.path = source;
    f.step = k;
    files[std::move(path)] = std::move(f);
  }

  absl::Status PlanStep(const CopyStep& step, int k, std::map<std::string, PlannedFile>& files,
                        std::vector<std::string>& roots) {
    std::vector<IgnoreMatcher> excludes;
    if (!step.excludes.empty()) {
      absl::StatusOr<IgnoreMatcher> m = IgnoreMatcher::Compile(step.excludes);
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
  absl::Status PlanParents(const CopyStep& step, int k, std::map<std::string, PlannedFile>& files,
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
  absl::StatusOr<bool> PlanArchive(const CopyStep& step, int k, const FileEntry& src,
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
  std::map<std::string, size_t> index_;
  std::vector<Stage> stages_;
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
