#include "stalecheck/audit.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "stalecheck/engine.h"

namespace stalecheck {
namespace {

using Json = nlohmann::json;

constexpr char kProjectLabel[] = "com.docker.compose.project";
constexpr char kServiceLabel[] = "com.docker.compose.service";

struct ProjectContainer {
  std::string id;
  std::string name;
  std::string service;
  int number = 0;
  std::string compose_version;
};

std::string Label(const Json& labels, const char* key) {
  if (!labels.is_object() || !labels.contains(key) || !labels[key].is_string()) return "";
  return labels[key].get<std::string>();
}

// The project's containers (one-off `run` containers left out), found by their labels.
absl::StatusOr<std::vector<ProjectContainer>> ListProject(const EngineClient& engine, const std::string& project) {
  const std::string filters = Json{{"label", {absl::StrCat(kProjectLabel, "=", project)}}}.dump();
  absl::StatusOr<std::string> body = engine.Get(absl::StrCat("/containers/json?all=1&filters=", EscapePathSegment(filters)));
  if (!body.ok()) return body.status();
  Json list = Json::parse(*body, nullptr, false);
  if (!list.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("the Docker engine at ", engine.host(), " sent a container list that is not JSON"));
  }
  std::vector<ProjectContainer> out;
  for (const Json& c : list) {
    if (!c.is_object()) continue;
    const Json labels = c.value("Labels", Json());
    if (Label(labels, "com.docker.compose.oneoff") == "True") continue;
    ProjectContainer pc;
    pc.id = c.value("Id", "");
    if (c.contains("Names") && c["Names"].is_array() && !c["Names"].empty() && c["Names"][0].is_string()) {
      pc.name = c["Names"][0].get<std::string>();
      if (absl::StartsWith(pc.name, "/")) pc.name.erase(0, 1);
    }
    pc.service = Label(labels, kServiceLabel);
    (void)absl::SimpleAtoi(Label(labels, "com.docker.compose.container-number"), &pc.number);
    pc.compose_version = Label(labels, "com.docker.compose.version");
    out.push_back(std::move(pc));
  }
  std::sort(out.begin(), out.end(), [](const ProjectContainer& a, const ProjectContainer& b) {
    return std::tie(a.service, a.number, a.name) < std::tie(b.service, b.number, b.name);
  });
  return out;
}

// Adds what audit knows beyond check: the container was not recreated, the image was built
// from another commit.
void AddDeployFindings(CheckOutcome& o, const std::string& fix) {
  std::vector<Finding> extra;
  if (std::optional<Finding> f = OutdatedContainerFinding(o.image, fix)) extra.push_back(std::move(*f));
  if (o.context.commit) {
    if (std::optional<BuiltRevision> built = ImageRevision(o.image)) {
      std::optional<CommitRelation> rel = RelateCommits(o.context.dir, *o.context.commit, built->value);
      if (std::optional<Finding> f = RevisionFinding(*built, *o.context.commit, rel)) extra.push_back(std::move(*f));
    }
  }
  if (extra.empty()) return;
  o.result.findings.insert(o.result.findings.begin(), extra.begin(), extra.end());
  o.result.stale = true;
}

absl::StatusOr<CheckOutcome> CheckOne(const CheckRequest& req, const std::string& fix, const std::string& what) {
  absl::StatusOr<CheckOutcome> o = RunCheck(req);
  if (!o.ok()) return absl::Status(o.status().code(), absl::StrCat(what, ": ", o.status().message()));
  AddDeployFindings(*o, fix);
  return o;
}

// Why a service cannot be checked, or "".
std::string NotChecked(const ComposeService& s) {
  if (!s.active) return absl::StrCat("in profile ", absl::StrJoin(s.profiles, ", "), ", which COMPOSE_PROFILES does not enable");
  if (s.extends && !s.build) return "its build comes through extends:, which stalecheck does not follow";
  if (!s.build) {
    return absl::StrCat("no build: section", s.image ? absl::StrCat(" (image ", *s.image, " is built elsewhere)") : "");
  }
  if (s.build->remote) return absl::StrCat("its build context ", s.build->context, " is remote");
  return "";
}

absl::Status AuditCompose(const AuditRequest& req, AuditResult& result) {
  absl::StatusOr<ComposeProject> project = LoadCompose(*req.compose);
  if (!project.ok()) return project.status();
  for (const std::string& want : req.services) {
    if (std::none_of(project->services.begin(), project->services.end(),
                     [&](const ComposeService& s) { return s.name == want; })) {
      return absl::InvalidArgumentError(absl::StrCat("--service ", want, ": project ", project->name, " (",
                                                     absl::StrJoin(project->files, ", "), ") has no such service"));
    }
  }
  absl::StatusOr<EngineClient> engine = EngineClient::Connect(req.base.read.docker_host, req.base.read.timeout);
  if (!engine.ok()) return engine.status();
  // v2 labels the containers with its name; docker-compose 1.29 with its own, or the legacy one.
  std::vector<std::string> names = {project->name};
  names.insert(names.end(), project->v1_names.begin(), project->v1_names.end());
  std::vector<ProjectContainer> containers;
  result.project = project->name;
  for (const std::string& n : names) {
    absl::StatusOr<std::vector<ProjectContainer>> list = ListProject(*engine, n);
    if (!list.ok()) return list.status();
    if (!list->empty()) {
      containers = std::move(*list);
      result.project = n;
      break;
    }
  }
  for (const ComposeService& s : project->services) {
    if (!req.services.empty() && std::find(req.services.begin(), req.services.end(), s.name) == req.services.end()) {
      continue;
    }
    std::vector<const ProjectContainer*> mine;
    for (const ProjectContainer& c : containers) {
      if (c.service == s.name) mine.push_back(&c);
    }
    if (std::string why = NotChecked(s); !why.empty()) {
      result.entries.push_back({s.name, mine.empty() ? "" : mine[0]->name, why, std::nullopt});
      continue;
    }
    if (mine.empty()) {
      result.entries.push_back({s.name, "", absl::StrCat("no container of project ", result.project, " runs it (docker compose up?)"),
                                std::nullopt});
      continue;
    }
    for (const ProjectContainer* c : mine) {
      CheckRequest r = req.base;
      r.target = TargetName{"container", c->name};
      r.context.dir = s.build->context;
      r.context.dockerfile = s.build->dockerfile;
      r.dockerfile_inline = s.build->dockerfile_inline;
      r.plan.target = s.build->target;
      r.plan.build_args = s.build->args;
      for (const auto& [k, v] : req.base.plan.build_args) r.plan.build_args[k] = v;
      const std::string tool = absl::StartsWith(c->compose_version, "1.") ? "docker-compose" : "docker compose";
      const std::string fix = absl::StrCat("recreate it: ", tool, " up -d --force-recreate ", s.name);
      absl::StatusOr<CheckOutcome> o =
          CheckOne(r, fix, absl::StrCat("service ", s.name, " (container ", c->name, ")"));
      if (!o.ok()) return o.status();
      result.entries.push_back({s.name, c->name, "", std::move(*o)});
    }
  }
  // Containers of the project whose service the files no longer have.
  for (const ProjectContainer& c : containers) {
    if (std::none_of(project->services.begin(), project->services.end(),
                     [&](const ComposeService& s) { return s.name == c.service; }) &&
        req.services.empty()) {
      result.entries.push_back({c.service, c.name, "an orphan: the compose files have no such service", std::nullopt});
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AuditResult> RunAudit(const AuditRequest& req) {
  AuditResult result;
  for (const TargetName& t : req.targets) {
    CheckRequest r = req.base;
    r.target = t;
    const std::string fix = t.transport == "container"
                                ? absl::StrCat("recreate it from the image its name points to now (docker rm -f ", t.ref,
                                               ", then run it again)")
                                : "";
    absl::StatusOr<CheckOutcome> o = CheckOne(r, fix, t.ToString());
    if (!o.ok()) return o.status();
    std::string container = o->image.container ? o->image.container->name : "";
    result.entries.push_back({t.transport == "container" ? container : t.ToString(), container, "", std::move(*o)});
  }
  if (req.compose) {
    if (absl::Status s = AuditCompose(req, result); !s.ok()) return s;
  }
  bool checked = false;
  std::vector<std::string> why;
  for (const AuditEntryResult& e : result.entries) {
    checked = checked || e.outcome.has_value();
    result.stale = result.stale || e.stale();
    if (!e.outcome) why.push_back(absl::StrCat(e.service, ": ", e.reason));
  }
  if (!checked) {
    return absl::FailedPreconditionError(absl::StrCat(
        "nothing was checked", result.project.empty() ? "" : absl::StrCat(" in compose project ", result.project),
        why.empty() ? "" : absl::StrCat(" (", absl::StrJoin(why, "; "), ")")));
  }
  return result;
}

AuditReport MakeAuditReport(const AuditResult& result) {
  AuditReport r;
  r.project = result.project;
  r.stale = result.stale;
  for (const AuditEntryResult& e : result.entries) {
    AuditEntry entry{e.service, e.container, e.outcome ? (e.stale() ? "stale" : "fresh") : "unchecked", e.reason,
                     std::nullopt};
    if (e.outcome) entry.report.emplace(e.outcome->Report());
    r.entries.push_back(std::move(entry));
  }
  return r;
}

}  // namespace stalecheck
