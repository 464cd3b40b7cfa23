#include "stalecheck/compose.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Lookup = std::function<std::optional<std::string>(const std::string&)>;

bool NameStart(char c) { return c == '_' || absl::ascii_isalpha(static_cast<unsigned char>(c)); }
bool NameChar(char c) { return c == '_' || absl::ascii_isalnum(static_cast<unsigned char>(c)); }

// Interpolates s[i..] up to the end, or (inside a default) up to the '}' that closes it.
class Interpolator {
 public:
  Interpolator(const std::string& s, const Lookup& lookup) : s_(s), lookup_(lookup) {}

  absl::StatusOr<std::string> Run() {
    size_t i = 0;
    absl::StatusOr<std::string> out = Until(i, false);
    if (!out.ok()) return out;
    return out;
  }

 private:
  absl::Status Bad(const std::string& why) const {
    return absl::InvalidArgumentError(absl::StrCat("invalid interpolation format in \"", s_, "\": ", why));
  }

  // Reads text until the end, or when `nested` until an unmatched '}' (consumed).
  absl::StatusOr<std::string> Until(size_t& i, bool nested) {
    std::string out;
    while (i < s_.size()) {
      char c = s_[i];
      if (nested && c == '}') {
        ++i;
        return out;
      }
      if (c != '$') {
        out += c;
        ++i;
        continue;
      }
      if (i + 1 < s_.size() && s_[i + 1] == '$') {
        out += '$';
        i += 2;
        continue;
      }
      if (i + 1 < s_.size() && NameStart(s_[i + 1])) {
        size_t j = i + 1;
        while (j < s_.size() && NameChar(s_[j])) ++j;
        out += lookup_(s_.substr(i + 1, j - i - 1)).value_or("");
        i = j;
        continue;
      }
      if (i + 1 < s_.size() && s_[i + 1] == '{') {
        i += 2;
        absl::StatusOr<std::string> v = Braced(i);
        if (!v.ok()) return v.status();
        out += *v;
        continue;
      }
      // A lone '$' (before a space, a digit, the end) stays as it is.
      out += c;
      ++i;
    }
    if (nested) return Bad("a '${' is not closed");
    return out;
  }

  // After "${": NAME, then '}' or an operator and its word.
  absl::StatusOr<std::string> Braced(size_t& i) {
    size_t j = i;
    while (j < s_.size() && NameChar(s_[j])) ++j;
    if (j == i || !NameStart(s_[i])) return Bad("a '${' holds no variable name");
    const std::string name = s_.substr(i, j - i);
    i = j;
    if (i >= s_.size()) return Bad("a '${' is not closed");
    const std::optional<std::string> value = lookup_(name);
    if (s_[i] == '}') {
      ++i;
      return value.value_or("");
    }
    bool colon = false;
    if (s_[i] == ':') {
      colon = true;
      ++i;
    }
    if (i >= s_.size()) return Bad("a '${' is not closed");
    const char op = s_[i];
    if (op != '-' && op != '?' && op != '+') return Bad(absl::StrCat("'", std::string(1, op), "' after ${", name));
    ++i;
    absl::StatusOr<std::string> word = Until(i, true);
    if (!word.ok()) return word;
    const bool set = colon ? value.has_value() && !value->empty() : value.has_value();
    switch (op) {
      case '-':
        return set ? *value : *word;
      case '+':
        return set ? *word : std::string();
      default:
        if (set) return *value;
        return absl::InvalidArgumentError(absl::StrCat("required variable ", name, " is missing a value",
                                                       word->empty() ? "" : absl::StrCat(": ", *word)));
    }
  }

  const std::string& s_;
  const Lookup& lookup_;
};

// Bounds on what aliases can make of a small file: an alias inside its own anchor is a cycle,
// and aliases of aliases grow exponentially ("billion laughs").
constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 1 << 20;

struct Budget {
  size_t nodes = 0;
};

// A YAML tree as JSON: scalars interpolated (as strings), `<<` merge keys applied.
absl::StatusOr<Json> ToJson(const YAML::Node& node, const Lookup& lookup, Budget& budget, int depth) {
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(absl::StrCat("nested over ", kMaxDepth, " levels deep (or an alias inside its own anchor)"));
  }
  if (++budget.nodes > kMaxNodes) {
    return absl::InvalidArgumentError(absl::StrCat("over ", kMaxNodes, " values once its aliases are expanded"));
  }
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      return Interpolate(node.Scalar(), lookup);
    case YAML::NodeType::Sequence: {
      Json a = Json::array();
      for (const YAML::Node& item : node) {
        absl::StatusOr<Json> v = ToJson(item, lookup, budget, depth + 1);
        if (!v.ok()) return v;
        a.push_back(std::move(*v));
      }
      return a;
    }
    case YAML::NodeType::Map: {
      Json o = Json::object();
      Json merged = Json::object();
      for (const auto& kv : node) {
        const std::string key = kv.first.Scalar();
        absl::StatusOr<Json> v = ToJson(kv.second, lookup, budget, depth + 1);
        if (!v.ok()) return v;
        if (key == "<<") {
          // YAML's merge key: a mapping, or a list of them, whose keys this mapping lacks.
          std::vector<Json> bases = v->is_array() ? std::vector<Json>(v->begin(), v->end()) : std::vector<Json>{*v};
          for (const Json& b : bases) {
            if (!b.is_object()) continue;
            for (auto it = b.begin(); it != b.end(); ++it) {
              if (!merged.contains(it.key())) merged[it.key()] = it.value();
            }
          }
          continue;
        }
        o[key] = std::move(*v);
      }
      for (auto it = merged.begin(); it != merged.end(); ++it) {
        if (!o.contains(it.key())) o[it.key()] = it.value();
      }
      return o;
    }
  }
  return Json(nullptr);
}

// `args` as a mapping; list items "K=V", and "K" alone (null in a mapping) from the
// environment or dropped.
Json NormalizeArgs(const Json& args, const Lookup& lookup) {
  Json out = Json::object();
  auto put = [&](const std::string& k, const Json& v) {
    if (v.is_null()) {
      if (std::optional<std::string> e = lookup(k)) out[k] = *e;
    } else {
      out[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
  };
  if (args.is_array()) {
    for (const Json& item : args) {
      if (!item.is_string()) continue;
      const std::string s = item.get<std::string>();
      size_t eq = s.find('=');
      put(eq == std::string::npos ? s : s.substr(0, eq), eq == std::string::npos ? Json(nullptr) : Json(s.substr(eq + 1)));
    }
  } else if (args.is_object()) {
    for (auto it = args.begin(); it != args.end(); ++it) put(it.key(), it.value());
  }
  return out;
}

// Each service's short forms made long, so that files merge key by key.
void NormalizeServices(Json& doc, const Lookup& lookup) {
  if (!doc.contains("services") || !doc["services"].is_object()) return;
  for (auto it = doc["services"].begin(); it != doc["services"].end(); ++it) {
    Json& svc = it.value();
    if (!svc.is_object() || !svc.contains("build")) continue;
    if (svc["build"].is_string()) svc["build"] = Json{{"context", svc["build"]}};
    if (svc["build"].is_object() && svc["build"].contains("args")) {
      svc["build"]["args"] = NormalizeArgs(svc["build"]["args"], lookup);
    }
  }
}

void Merge(Json& base, const Json& over) {
  if (!base.is_object() || !over.is_object()) {
    base = over;
    return;
  }
  for (auto it = over.begin(); it != over.end(); ++it) {
    if (base.contains(it.key())) {
      Merge(base[it.key()], it.value());
    } else {
      base[it.key()] = it.value();
    }
  }
}

std::string Absolute(const std::string& path, const std::string& base) {
  fs::path p(path);
  if (p.is_relative()) p = fs::path(base) / p;
  return CleanPath(p.lexically_normal().string());
}

bool RemoteContext(const std::string& c) {
  return absl::StrContains(c, "://") || absl::StartsWith(c, "git@") || absl::StartsWith(c, "github.com/") ||
         absl::StartsWith(c, "service:");
}

// The compose files: those named, else COMPOSE_FILE, else the default names from the current
// directory upwards (and the override file beside the one found).
absl::StatusOr<std::vector<std::string>> Files(const ComposeOptions& o, const Lookup& env) {
  std::string cwd = fs::current_path().string();
  std::vector<std::string> files;
  if (!o.files.empty()) {
    for (const std::string& f : o.files) files.push_back(Absolute(f, cwd));
    return files;
  }
  if (std::optional<std::string> cf = env("COMPOSE_FILE"); cf && !cf->empty()) {
    std::string sep = env("COMPOSE_PATH_SEPARATOR").value_or(":");
    for (absl::string_view f : absl::StrSplit(*cf, sep, absl::SkipEmpty())) files.push_back(Absolute(std::string(f), cwd));
    return files;
  }
  static const char* kNames[] = {"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"};
  static const char* kOverrides[] = {"compose.override.yml", "compose.override.yaml", "docker-compose.override.yml",
                                     "docker-compose.override.yaml"};
  for (fs::path dir = cwd;; dir = dir.parent_path()) {
    for (const char* n : kNames) {
      std::error_code ec;
      if (fs::is_regular_file(dir / n, ec)) {
        files.push_back((dir / n).string());
        for (const char* ov : kOverrides) {
          if (fs::is_regular_file(dir / ov, ec)) {
            files.push_back((dir / ov).string());
            break;
          }
        }
        return files;
      }
    }
    if (dir == dir.root_path() || dir.empty()) break;
  }
  return absl::NotFoundError(absl::StrCat("no compose file (compose.yaml, docker-compose.yml) in ", cwd,
                                          " or above it; name one with --compose FILE"));
}

std::string V1Name(const std::string& name, bool legacy) {
  std::string out;
  for (char c : absl::AsciiStrToLower(name)) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || (!legacy && (c == '-' || c == '_'))) out += c;
  }
  return out;
}

absl::StatusOr<ComposeBuild> ReadBuild(const Json& b, const std::string& working_dir, const std::string& service) {
  ComposeBuild build;
  auto str = [&](const char* key) -> std::optional<std::string> {
    if (!b.contains(key) || b[key].is_null()) return std::nullopt;
    return b[key].is_string() ? b[key].get<std::string>() : b[key].dump();
  };
  std::string context = str("context").value_or(".");
  build.remote = RemoteContext(context);
  build.context = build.remote ? context : Absolute(context, working_dir);
  build.dockerfile_inline = str("dockerfile_inline");
  std::optional<std::string> dockerfile = str("dockerfile");
  if (dockerfile && build.dockerfile_inline) {
    return absl::InvalidArgumentError(
        absl::StrCat("service ", service, ": build.dockerfile and build.dockerfile_inline are both set; keep one"));
  }
  if (!build.dockerfile_inline && !build.remote) build.dockerfile = Absolute(dockerfile.value_or("Dockerfile"), build.context);
  build.target = str("target").value_or("");
  if (b.contains("args") && b["args"].is_object()) {
    for (auto it = b["args"].begin(); it != b["args"].end(); ++it) build.args[it.key()] = it.value().get<std::string>();
  }
  return build;
}

}  // namespace

absl::StatusOr<std::string> Interpolate(const std::string& value, const Lookup& lookup) {
  return Interpolator(value, lookup).Run();
}

absl::StatusOr<std::map<std::string, std::string>> ParseDotEnv(const std::string& text, const Lookup& lookup) {
  std::map<std::string, std::string> vars;
  Lookup both = [&](const std::string& k) -> std::optional<std::string> {
    if (std::optional<std::string> v = lookup(k)) return v;
    auto it = vars.find(k);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_no;
    absl::string_view line = absl::StripAsciiWhitespace(absl::StripSuffix(raw, "\r"));
    if (line.empty() || line[0] == '#') continue;
    absl::ConsumePrefix(&line, "export ");
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;  // a bare KEY sets nothing
    std::string key(absl::StripAsciiWhitespace(line.substr(0, eq)));
    absl::string_view v = absl::StripLeadingAsciiWhitespace(line.substr(eq + 1));
    std::string value;
    if (!v.empty() && v[0] == '\'') {
      size_t end = v.find('\'', 1);
      value = std::string(v.substr(1, end == absl::string_view::npos ? v.size() - 1 : end - 1));
    } else if (!v.empty() && v[0] == '"') {
      std::string raw_value;
      size_t k = 1;
      for (; k < v.size() && v[k] != '"'; ++k) {
        if (v[k] == '\\' && k + 1 < v.size()) {
          char e = v[++k];
          raw_value += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        } else {
          raw_value += v[k];
        }
      }
      absl::StatusOr<std::string> iv = Interpolate(raw_value, both);
      if (!iv.ok()) return absl::Status(iv.status().code(), absl::StrCat("line ", line_no, ": ", iv.status().message()));
      value = *iv;
    } else {
      if (size_t hash = v.find(" #"); hash != absl::string_view::npos) v = v.substr(0, hash);
      absl::StatusOr<std::string> iv = Interpolate(std::string(absl::StripTrailingAsciiWhitespace(v)), both);
      if (!iv.ok()) return absl::Status(iv.status().code(), absl::StrCat("line ", line_no, ": ", iv.status().message()));
      value = *iv;
    }
    vars[key] = value;
  }
  return vars;
}

std::string NormalizeProjectName(const std::string& name) {
  std::string out;
  for (char c : absl::AsciiStrToLower(name)) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') out += c;
  }
  size_t start = out.find_first_not_of("-_");
  return start == std::string::npos ? "" : out.substr(start);
}

absl::StatusOr<ComposeProject> LoadCompose(const ComposeOptions& o) {
  const Lookup process = o.getenv ? o.getenv : Lookup(GetEnv);
  absl::StatusOr<std::vector<std::string>> files = Files(o, process);
  if (!files.ok()) return files.status();
  ComposeProject project;
  project.files = *files;
  project.working_dir = o.project_directory.empty()
                            ? CleanPath(fs::path(project.files[0]).parent_path().string())
                            : Absolute(o.project_directory, fs::current_path().string());

  // The environment: the process's, then the project directory's .env for what it lacks.
  std::map<std::string, std::string> dotenv;
  // A .env that cannot be read is left out, as one that is not there.
  if (std::string text; ReadSmallFile(project.working_dir + "/.env", &text).ok()) {
    absl::StatusOr<std::map<std::string, std::string>> parsed = ParseDotEnv(text, process);
    if (!parsed.ok()) {
      return absl::Status(parsed.status().code(), absl::StrCat(project.working_dir, "/.env ", parsed.status().message()));
    }
    dotenv = std::move(*parsed);
  }
  const Lookup env = [&](const std::string& k) -> std::optional<std::string> {
    if (std::optional<std::string> v = process(k)) return v;
    auto it = dotenv.find(k);
    return it == dotenv.end() ? std::nullopt : std::optional<std::string>(it->second);
  };

  Json model = Json::object();
  for (const std::string& f : project.files) {
    std::string text;
    if (absl::Status s = ReadSmallFile(f, &text); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(f, ": cannot read the compose file (", s.message(), ")"));
    }
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(f, ":", e.mark.line + 1, ": not YAML: ", e.msg));
    }
    if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat(f, ": a compose file is a mapping at the top"));
    Budget budget;
    absl::StatusOr<Json> doc = ToJson(root, env, budget, 0);
    if (!doc.ok()) return absl::Status(doc.status().code(), absl::StrCat(f, ": ", doc.status().message()));
    if (doc->contains("include")) {
      return absl::UnimplementedError(absl::StrCat(f, ": top-level include: is not read; merge the files with --compose"));
    }
    NormalizeServices(*doc, env);
    Merge(model, *doc);
  }

  // The project name, by compose v2's precedence; v1 has no `name:` and normalises quietly.
  auto checked = [](const std::string& n, const char* from) -> absl::StatusOr<std::string> {
    if (n.empty() || NormalizeProjectName(n) != n) {
      return absl::InvalidArgumentError(absl::StrCat(
          from, " ", n, ": invalid project name: it must consist only of lowercase alphanumeric characters, hyphens, "
          "and underscores as well as start with a letter or number"));
    }
    return n;
  };
  std::string v1_base;
  if (!o.project_name.empty()) {
    absl::StatusOr<std::string> n = checked(o.project_name, "-p");
    if (!n.ok()) return n.status();
    project.name = *n;
    v1_base = o.project_name;
  } else if (std::optional<std::string> e = env("COMPOSE_PROJECT_NAME"); e && !e->empty()) {
    absl::StatusOr<std::string> n = checked(*e, "COMPOSE_PROJECT_NAME");
    if (!n.ok()) return n.status();
    project.name = *n;
    v1_base = *e;
  } else {
    v1_base = fs::path(project.working_dir).filename().string();
    if (model.contains("name") && model["name"].is_string() && !model["name"].get<std::string>().empty()) {
      project.name = NormalizeProjectName(model["name"].get<std::string>());
    } else {
      project.name = NormalizeProjectName(v1_base);
    }
  }
  if (project.name.empty()) return absl::InvalidArgumentError("the compose project name is empty; name it with -p");
  for (bool legacy : {false, true}) {
    std::string n = V1Name(v1_base, legacy);
    if (!n.empty() && n != project.name &&
        std::find(project.v1_names.begin(), project.v1_names.end(), n) == project.v1_names.end()) {
      project.v1_names.push_back(n);
    }
  }

  if (model.contains("services") && model["services"].is_object()) {
    for (auto it = model["services"].begin(); it != model["services"].end(); ++it) {
      ComposeService svc;
      svc.name = it.key();
      const Json& s = it.value();
      if (s.is_object() && s.contains("image") && s["image"].is_string()) svc.image = s["image"].get<std::string>();
      if (s.is_object() && s.contains("build") && s["build"].is_object()) {
        absl::StatusOr<ComposeBuild> b = ReadBuild(s["build"], project.working_dir, svc.name);
        if (!b.ok()) return b.status();
        svc.build = std::move(*b);
      }
      if (s.is_object() && s.contains("extends")) svc.extends = true;
      if (s.is_object() && s.contains("profiles") && s["profiles"].is_array()) {
        for (const Json& p : s["profiles"]) {
          if (p.is_string()) svc.profiles.push_back(p.get<std::string>());
        }
      }
      if (!svc.profiles.empty()) {
        svc.active = false;
        for (absl::string_view want : absl::StrSplit(env("COMPOSE_PROFILES").value_or(""), ',', absl::SkipEmpty())) {
          for (const std::string& p : svc.profiles) svc.active = svc.active || p == want || want == "*";
        }
      }
      project.services.push_back(std::move(svc));
    }
  }
  std::sort(project.services.begin(), project.services.end(),
            [](const ComposeService& a, const ComposeService& b) { return a.name < b.name; });
  return project;
}

}  // namespace stalecheck
