#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "src/report/internal.h"
#include "stalecheck/report.h"

namespace stalecheck {
namespace {

using OJson = nlohmann::ordered_json;

OJson Opt(const std::optional<std::string>& s) { return s ? OJson(*s) : OJson(nullptr); }

const char* kStatuses[] = {"stale", "missing", "extra", "mode", "type", "bytecode"};
// Findings of `audit` about what was deployed (path null).
const char* kDeployStatuses[] = {"outdated-container", "revision"};

// The Dockerfile as annotations name it: relative to the repository root when known.
const std::string& DockerfileUri(const CheckReport& r) {
  return r.dockerfile_uri.empty() ? r.context.dockerfile : r.dockerfile_uri;
}

std::map<std::string, int> Counts(const CheckResult& r) {
  std::map<std::string, int> c;
  for (const char* s : kStatuses) c[s] = 0;
  for (const char* s : kDeployStatuses) c[s] = 0;
  for (const Finding& f : r.findings) c[f.status]++;
  return c;
}

const BuildStep* StepOf(const CheckReport& r, const Finding& f) {
  if (!f.step || *f.step < 0 || *f.step >= static_cast<int>(r.plan.steps.size())) return nullptr;
  return &r.plan.steps[static_cast<size_t>(*f.step)];
}

const BuildStep* ViaOf(const CheckReport& r, const Finding& f) {
  if (!f.via || *f.via < 0 || *f.via >= static_cast<int>(r.plan.other_steps.size())) return nullptr;
  return &r.plan.other_steps[static_cast<size_t>(*f.via)];
}

// The step a layer was matched to, or null.
const BuildStep* StepOfLayer(const CheckReport& r, int layer) {
  if (layer < 0 || layer >= static_cast<int>(r.result.layer_step.size())) return nullptr;
  int s = r.result.layer_step[static_cast<size_t>(layer)];
  return s < 0 ? nullptr : &r.plan.steps[static_cast<size_t>(s)];
}

const LayerInfo* LayerAt(const CheckReport& r, std::optional<int> layer) {
  if (!layer || *layer < 0 || *layer >= static_cast<int>(r.image.layers.size())) return nullptr;
  return &r.image.layers[static_cast<size_t>(*layer)];
}

// "layer 5 (RUN chown -R app /app) at Dockerfile:7", for a later change beside a finding.
std::string LaterChange(const CheckReport& r, const Finding& f) {
  const LayerInfo* l = LayerAt(r, f.changed_by);
  if (l == nullptr) return "";
  std::string out = absl::StrCat("layer ", l->index);
  if (const BuildStep* s = StepOfLayer(r, l->index); s != nullptr && s->line > 0) {
    absl::StrAppend(&out, " (", s->text, ") at ", r.context.dockerfile, ":", s->line);
  } else if (l->created_by) {
    absl::StrAppend(&out, " (", *l->created_by, ")");
  }
  return out;
}

int UncheckedPaths(const CheckResult& r) {
  int n = static_cast<int>(r.unchecked_bytecode.size());
  for (const UncheckedStep& u : r.unchecked) n += u.paths.value_or(0);
  return n;
}

std::string Message(const CheckReport& r, const Finding& f) {
  std::string later = LaterChange(r, f);
  return absl::StrCat(f.status, " ", f.path.value_or("-"), f.source ? absl::StrCat(" (", *f.source, ")") : "", ": ",
                      f.reason, later.empty() ? "" : absl::StrCat("; later changed by ", later));
}

}  // namespace

std::map<std::string, int> report_internal::FindingCounts(const CheckResult& r) { return Counts(r); }

std::string report_internal::CountsText(const CheckResult& r) {
  auto counts = Counts(r);
  std::string detail;
  for (const char* s : kStatuses) {
    if (counts[s] > 0) absl::StrAppend(&detail, detail.empty() ? "" : ", ", counts[s], " ", s);
  }
  for (const char* s : kDeployStatuses) {
    if (counts[s] > 0) absl::StrAppend(&detail, detail.empty() ? "" : ", ", counts[s], " ", s);
  }
  return detail;
}

OJson MountJson(const CheckReport& r, std::optional<int> m) {
  if (!m || !r.image.container || *m < 0 || *m >= static_cast<int>(r.image.container->mounts.size())) return nullptr;
  const MountInfo& mi = r.image.container->mounts[static_cast<size_t>(*m)];
  return {{"type", mi.type},
          {"name", mi.name.empty() ? OJson(nullptr) : OJson(mi.name)},
          {"source", mi.source},
          {"destination", mi.destination}};
}

OJson TargetJson(const CheckReport& r) {
  OJson t = {{"transport", r.image.transport}, {"ref", r.image.ref}, {"image_id", Opt(r.image.image_id)}};
  if (const auto& c = r.image.container) {
    OJson mounts = OJson::array();
    for (size_t m = 0; m < c->mounts.size(); ++m) mounts.push_back(MountJson(r, static_cast<int>(m)));
    t["container"] = {{"id", c->id},
                      {"name", c->name},
                      {"status", c->status},
                      {"image", c->config_image},
                      {"image_id", c->image_id},
                      {"image_now", Opt(c->image_now)},
                      {"outdated", c->outdated()},
                      {"image_gone", c->image_gone},
                      {"read_by", c->read_by},
                      {"image_read_by", c->image_read_by},
                      {"changes_complete", c->changes_complete},
                      {"read_whole", c->read_whole},
                      {"mounts", mounts}};
  }
  return t;
}

OJson CheckJson(const CheckReport& r) {
  OJson findings = OJson::array();
  for (const Finding& f : r.result.findings) {
    OJson layer = nullptr;
    if (f.layer && *f.layer >= 0 && *f.layer < static_cast<int>(r.image.layers.size())) {
      const LayerInfo& l = r.image.layers[static_cast<size_t>(*f.layer)];
      layer = {{"index", l.index},
               {"digest", l.digest.empty() ? OJson(nullptr) : OJson(l.digest)},
               {"created_by", Opt(l.created_by)},
               {"created", Opt(l.created)}};
    }
    OJson instruction = nullptr;
    if (const BuildStep* s = StepOf(r, f); s != nullptr && s->line > 0) {
      instruction = {{"line", s->line}, {"text", s->text}};
    }
    OJson via = nullptr;
    if (const BuildStep* s = ViaOf(r, f)) via = {{"stage", s->stage}, {"line", s->line}, {"text", s->text}};
    OJson changed = nullptr;
    if (const LayerInfo* l = LayerAt(r, f.changed_by)) {
      changed = {{"layer", l->index}, {"created_by", Opt(l->created_by)}, {"instruction", nullptr}};
      if (const BuildStep* s = StepOfLayer(r, l->index); s != nullptr && s->line > 0) {
        changed["instruction"] = {{"line", s->line}, {"text", s->text}};
      }
    }
    findings.push_back({{"status", f.status},
                        {"path", Opt(f.path)},
                        {"source", Opt(f.source)},
                        {"expected", Opt(f.expected)},
                        {"actual", Opt(f.actual)},
                        {"origin", f.origin},
                        {"layer", layer},
                        {"mount", MountJson(r, f.mount)},
                        {"instruction", instruction},
                        {"via", via},
                        {"changed_later", changed},
                        {"reason", f.reason}});
  }
  OJson unchecked = OJson::array();
  for (const UncheckedStep& u : r.result.unchecked) {
    const BuildStep& s = r.plan.steps[static_cast<size_t>(u.step)];
    unchecked.push_back({{"step", s.text},
                         {"line", s.line},
                         {"paths", u.paths ? OJson(*u.paths) : OJson(nullptr)},
                         {"reason", u.reason}});
  }
  if (!r.result.unchecked_bytecode.empty()) {
    unchecked.push_back({{"step", nullptr},
                         {"line", nullptr},
                         {"paths", r.result.unchecked_bytecode.size()},
                         {"reason", "bytecode whose header matches, and whose code no local Python could compile again "
                                    "(none with its magic number)"},
                         {"files", r.result.unchecked_bytecode}});
  }
  std::map<std::string, int> counts = Counts(r.result);
  OJson summary = {{"compared", r.result.compared.size()}};
  for (const char* s : kStatuses) summary[s] = counts[s];
  summary["unchecked"] = UncheckedPaths(r.result);
  return {{"schema_version", 1},
          {"verdict", r.result.stale ? "stale" : "fresh"},
          {"context",
           {{"path", r.context.dir},
            {"source", r.context.source},
            {"commit", Opt(r.context.commit)},
            {"dockerfile", r.context.dockerfile},
            {"stage", r.plan.stage},
            {"files", r.context.entries.size()},
            {"digest", r.context.root.Hex()},
            {"build_rules", r.context.build_rules}}},
          {"target", TargetJson(r)},
          {"summary", summary},
          {"unchecked", unchecked},
          {"findings", findings}};
}

std::string CheckText(const CheckReport& r, bool color) {
  const report_internal::Colors palette(color);
  const char *red = palette.red, *green = palette.green, *bold = palette.bold, *reset = palette.reset;
  std::string out;
  // Group by (layer, instruction) in the order they first appear, findings sorted by path.
  std::vector<std::pair<std::string, std::vector<const Finding*>>> groups;
  std::map<std::string, size_t> index;
  for (const Finding& f : r.result.findings) {
    std::string key;
    if (!f.path) {
      key = f.status == "revision" ? "the image's commit" : "the container's image";
    } else if (f.layer && *f.layer < static_cast<int>(r.image.layers.size())) {
      const LayerInfo& l = r.image.layers[static_cast<size_t>(*f.layer)];
      key = absl::StrCat("layer ", l.index, l.created_by ? absl::StrCat(": ", *l.created_by) : "");
    } else if (f.origin == "container" && r.image.container && r.image.container->image_gone) {
      key = absl::StrCat("in container ", r.image.container->name, " (its image is gone from the engine)");
    } else if (f.origin == "container" && r.image.container) {
      key = absl::StrCat("changed inside container ", r.image.container->name, " (docker exec, docker cp), not by its image");
    } else if (f.origin == "mount" && f.mount && r.image.container) {
      const MountInfo& mi = r.image.container->mounts[static_cast<size_t>(*f.mount)];
      key = absl::StrCat(mi.type, " mount ", mi.name.empty() ? mi.source : absl::StrCat(mi.name, " (", mi.source, ")"),
                         " at ", mi.destination, ": the container shows the mount's files there");
    } else {
      key = "not in the image";
    }
    if (const BuildStep* s = StepOf(r, f); s != nullptr && s->line > 0) {
      absl::StrAppend(&key, "\n  from ", r.context.dockerfile, ":", s->line, "  ", s->text);
    }
    if (const BuildStep* s = ViaOf(r, f)) {
      absl::StrAppend(&key, "\n  which stage ", s->stage, " copied from the context at ", r.context.dockerfile, ":",
                      s->line, "  ", s->text);
    }
    auto [it, fresh] = index.emplace(key, groups.size());
    if (fresh) groups.push_back({key, {}});
    groups[it->second].second.push_back(&f);
  }
  for (const auto& [key, list] : groups) {
    absl::StrAppend(&out, bold, key, reset, "\n");
    for (const Finding* f : list) {
      absl::StrAppendFormat(&out, "  %s%-8s%s %s", red, f->status, reset, f->path ? QuotedName(*f->path) : "-");
      if (f->source && *f->source != f->path.value_or("")) absl::StrAppend(&out, "  <- ", QuotedName(*f->source));
      absl::StrAppend(&out, "\n           ", f->reason, "\n");
      if (std::string later = LaterChange(r, *f); !later.empty()) {
        absl::StrAppend(&out, "           later changed by ", later, "\n");
      }
    }
  }
  for (const UncheckedStep& u : r.result.unchecked) {
    const BuildStep& s = r.plan.steps[static_cast<size_t>(u.step)];
    absl::StrAppend(&out, "unchecked: ", u.paths ? absl::StrCat(*u.paths, " path", *u.paths == 1 ? "" : "s")
                                                 : std::string("paths"),
                    " from ", r.context.dockerfile, ":", s.line, "  ", s.text, "\n           ", u.reason, "\n");
  }
  for (const std::string& p : r.result.unchecked_bytecode) {
    absl::StrAppend(&out, "unchecked: ", QuotedName(p),
                    "\n           its header matches; no local Python has its magic number to compile it again\n");
  }
  auto counts = Counts(r.result);
  std::string detail;
  for (const char* s : kStatuses) {
    if (counts[s] > 0) absl::StrAppend(&detail, detail.empty() ? "" : ", ", counts[s], " ", s);
  }
  for (const char* s : kDeployStatuses) {
    if (counts[s] > 0) absl::StrAppend(&detail, detail.empty() ? "" : ", ", counts[s], " ", s);
  }
  std::string target = TargetString(r.image.transport, r.image.ref);
  const int unchecked = UncheckedPaths(r.result);
  std::string tail;
  if (unchecked > 0) absl::StrAppend(&tail, "; ", unchecked, " path", unchecked == 1 ? "" : "s", " unchecked");
  if (r.image.flat) {
    absl::StrAppend(&tail, "; a flat ", r.image.transport,
                    ": target has no layers, so files a RUN changed cannot be told apart from stale copies");
  }
  if (const auto& c = r.image.container) {
    absl::StrAppend(&out, "container ", c->name, " (", c->status, ") runs image ", c->image_id.substr(0, 19),
                    c->config_image.empty() ? "" : absl::StrCat(", created from ", c->config_image));
    if (c->outdated()) {
      absl::StrAppend(&out, c->image_now ? absl::StrCat("; ", c->config_image, " now points to ", c->image_now->substr(0, 19),
                                                        ": the container was not recreated")
                                         : absl::StrCat("; ", c->config_image, " names no image now"));
    }
    absl::StrAppend(&out, "\n");
    for (const MountInfo& mi : c->mounts) {
      for (const std::string& root : r.plan.dest_roots) {
        if (mi.destination == root || absl::StartsWith(mi.destination, root == "/" ? "/" : root + "/") ||
            absl::StartsWith(root, mi.destination + "/")) {
          absl::StrAppend(&out, "  ", mi.type, " mount ", mi.type == "volume" && !mi.name.empty() ? mi.name : mi.source, " at ",
                          mi.destination, " covers copied paths: the container shows its files there\n");
          break;
        }
      }
    }
    if (!c->changes_complete && !c->read_whole.empty()) {
      absl::StrAppend(&out, "  read ", absl::StrJoin(c->read_whole, ", "), " whole: ", c->incomplete_why, "\n");
    }
  }
  if (!r.context.build_rules_chosen_by.empty()) {
    absl::StrAppend(&out, "context read by ", r.context.build_rules, " rules, guessed: ", r.context.build_rules_chosen_by,
                    " (--build-rules NAME to choose)\n");
  }
  if (r.result.stale) {
    absl::StrAppend(&out, red, bold, "stale", reset, ": ", r.result.findings.size(), " finding",
                    r.result.findings.size() == 1 ? "" : "s", " (", detail, ") in ", r.result.compared.size(),
                    " compared paths; ", target, " vs context ", r.context.dir, " (", r.context.source, ")", tail,
                    "\n");
  } else {
    absl::StrAppend(&out, green, bold, "fresh", reset, ": ", r.result.compared.size(), " compared paths match; ", target,
                    " vs context ", r.context.dir, " (", r.context.source, ")", tail, "\n");
  }
  return out;
}

std::string report_internal::JunitSuite(const CheckReport& r, const std::string& name) {
  std::map<std::string, const Finding*> by_path;
  std::string cases;
  for (const Finding& f : r.result.findings) {
    if (f.path) {
      by_path.emplace(*f.path, &f);
    } else {
      absl::StrAppend(&cases, "    <testcase classname=\"stalecheck\" name=\"", f.status, "\">\n      <failure type=\"",
                      f.status, "\" message=\"", XmlText(Message(r, f)), "\"/>\n    </testcase>\n");
    }
  }
  size_t tests = 0;
  for (const Finding& f : r.result.findings) tests += f.path ? 0 : 1;
  for (const std::string& p : r.result.compared) {
    absl::StrAppend(&cases, "    <testcase classname=\"stalecheck\" name=\"", XmlText(p), "\"");
    auto it = by_path.find(p);
    if (it == by_path.end()) {
      cases += "/>\n";
    } else {
      absl::StrAppend(&cases, ">\n      <failure type=\"", it->second->status, "\" message=\"", XmlText(Message(r, *it->second)),
                      "\"/>\n    </testcase>\n");
    }
  }
  for (const std::string& p : r.result.unchecked_bytecode) {
    absl::StrAppend(&cases, "    <testcase classname=\"stalecheck\" name=\"", XmlText(p),
                    "\">\n      <skipped message=\"no local Python with its magic number\"/>\n    </testcase>\n");
  }
  tests += r.result.compared.size() + r.result.unchecked_bytecode.size();
  return absl::StrCat("  <testsuite name=\"", XmlText(name), "\" tests=\"", tests, "\" failures=\"",
                      r.result.findings.size(), "\" skipped=\"", r.result.unchecked_bytecode.size(), "\">\n", cases,
                      "  </testsuite>\n");
}

std::string CheckJunit(const CheckReport& r) {
  return absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n",
                      report_internal::JunitSuite(r, absl::StrCat("stalecheck ", TargetString(r.image.transport, r.image.ref))),
                      "</testsuites>\n");
}

OJson report_internal::SarifResults(const CheckReport& r, const std::string& prefix) {
  OJson results = OJson::array();
  for (const Finding& f : r.result.findings) {
    OJson loc = {{"physicalLocation", {{"artifactLocation", {{"uri", DockerfileUri(r)}}}}}};
    if (const BuildStep* s = StepOf(r, f); s != nullptr && s->line > 0) {
      loc["physicalLocation"]["region"] = {{"startLine", s->line}};
    }
    results.push_back({{"ruleId", f.status},
                       {"level", "error"},
                       {"message", {{"text", prefix + Message(r, f)}}},
                       {"locations", OJson::array({loc})}});
  }
  return results;
}

std::string report_internal::SarifDocument(const OJson& results) {
  OJson rules = OJson::array();
  for (const char* s : kStatuses) rules.push_back({{"id", s}, {"name", s}});
  for (const char* s : kDeployStatuses) rules.push_back({{"id", s}, {"name", s}});
  OJson doc = {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
               {"version", "2.1.0"},
               {"runs", OJson::array({{{"tool", {{"driver", {{"name", "stalecheck"}, {"version", "0.1.0"}, {"rules", rules}}}}},
                                       {"results", results}}})}};
  return JsonText(doc);
}

std::string CheckSarif(const CheckReport& r) {
  return report_internal::SarifDocument(report_internal::SarifResults(r, ""));
}

std::string report_internal::GithubLines(const CheckReport& r, const std::string& prefix) {
  std::string out;
  for (const Finding& f : r.result.findings) {
    std::string loc = absl::StrCat("file=", DockerfileUri(r));
    if (const BuildStep* s = StepOf(r, f); s != nullptr && s->line > 0) absl::StrAppend(&loc, ",line=", s->line);
    std::string msg = absl::StrReplaceAll(prefix + Message(r, f), {{"%", "%25"}, {"\r", "%0D"}, {"\n", "%0A"}});
    absl::StrAppend(&out, "::error ", loc, ",title=stalecheck ", f.status, "::", msg, "\n");
  }
  return out;
}

std::string CheckGithub(const CheckReport& r) {
  std::string out = report_internal::GithubLines(r, "");
  if (!r.result.stale) absl::StrAppend(&out, "::notice::stalecheck: fresh (", r.result.compared.size(), " paths)\n");
  return out;
}

}  // namespace stalecheck
