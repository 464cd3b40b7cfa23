#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "src/report/internal.h"
#include "stalecheck/report.h"

namespace stalecheck {
namespace {

using OJson = nlohmann::ordered_json;

std::string Who(const AuditEntry& e) {
  if (e.container.empty() || e.container == e.service) return e.service;
  return absl::StrCat(e.service, " (", e.container, ")");
}

std::string Indent(const std::string& text) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    absl::StrAppend(&out, "    ", text.substr(start, nl - start), "\n");
    start = nl + 1;
  }
  return out;
}

}  // namespace

OJson AuditJson(const AuditReport& r) {
  OJson services = OJson::array();
  for (const AuditEntry& e : r.entries) {
    OJson s = {{"service", e.service}, {"container", e.container.empty() ? OJson(nullptr) : OJson(e.container)},
               {"verdict", e.verdict}};
    if (e.report) {
      OJson check = CheckJson(*e.report);
      std::map<std::string, int> counts = report_internal::FindingCounts(e.report->result);
      check["summary"]["outdated-container"] = counts["outdated-container"];
      check["summary"]["revision"] = counts["revision"];
      s["reason"] = nullptr;
      s["context"] = check["context"];
      s["target"] = check["target"];
      s["summary"] = check["summary"];
      s["unchecked"] = check["unchecked"];
      s["findings"] = check["findings"];
    } else {
      s["reason"] = e.reason;
      s["context"] = nullptr;
      s["target"] = nullptr;
      s["summary"] = nullptr;
      s["unchecked"] = OJson::array();
      s["findings"] = OJson::array();
    }
    services.push_back(std::move(s));
  }
  return {{"schema_version", 1},
          {"verdict", r.stale ? "stale" : "fresh"},
          {"project", r.project.empty() ? OJson(nullptr) : OJson(r.project)},
          {"services", services}};
}

std::string AuditText(const AuditReport& r, bool color) {
  const report_internal::Colors palette(color);
  const char *red = palette.red, *green = palette.green, *yellow = palette.yellow, *bold = palette.bold,
             *reset = palette.reset;
  std::string out;
  if (!r.project.empty()) absl::StrAppend(&out, "compose project ", r.project, "\n");
  std::vector<std::string> stale, fresh, unchecked;
  for (const AuditEntry& e : r.entries) {
    if (!e.report) {
      absl::StrAppend(&out, bold, Who(e), reset, ": ", yellow, "not checked", reset, ": ", e.reason, "\n");
      unchecked.push_back(Who(e));
      continue;
    }
    const CheckResult& res = e.report->result;
    if (res.stale) {
      absl::StrAppend(&out, bold, Who(e), reset, ": ", red, "stale", reset, " (", report_internal::CountsText(res), ")\n");
      stale.push_back(Who(e));
    } else {
      absl::StrAppend(&out, bold, Who(e), reset, ": ", green, "fresh", reset, " (", res.compared.size(),
                      " compared paths match)\n");
      fresh.push_back(Who(e));
    }
    out += Indent(CheckText(*e.report, color));
  }
  auto list = [](const std::vector<std::string>& v) { return absl::StrJoin(v, ", "); };
  std::string tail;
  if (!fresh.empty()) absl::StrAppend(&tail, "; ", fresh.size(), " fresh");
  if (!unchecked.empty()) absl::StrAppend(&tail, "; ", unchecked.size(), " not checked (", list(unchecked), ")");
  if (r.stale) {
    absl::StrAppend(&out, red, bold, "stale", reset, ": ", stale.size(), " of ", r.entries.size(), " stale or outdated (",
                    list(stale), ")", tail, "\n");
  } else {
    absl::StrAppend(&out, green, bold, "fresh", reset, ": ", fresh.size(), " of ", r.entries.size(), " checked and fresh",
                    unchecked.empty() ? "" : absl::StrCat("; ", unchecked.size(), " not checked (", list(unchecked), ")"),
                    "\n");
  }
  return out;
}

std::string AuditJunit(const AuditReport& r) {
  std::string suites;
  for (const AuditEntry& e : r.entries) {
    if (e.report) {
      suites += report_internal::JunitSuite(*e.report, Who(e));
    } else {
      absl::StrAppend(&suites, "  <testsuite name=\"", XmlText(Who(e)),
                      "\" tests=\"1\" failures=\"0\" skipped=\"1\">\n    <testcase classname=\"stalecheck\" name=\"",
                      XmlText(e.service), "\">\n      <skipped message=\"", XmlText(e.reason),
                      "\"/>\n    </testcase>\n  </testsuite>\n");
    }
  }
  return absl::StrCat("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n", suites, "</testsuites>\n");
}

std::string AuditSarif(const AuditReport& r) {
  OJson results = OJson::array();
  for (const AuditEntry& e : r.entries) {
    if (!e.report) continue;
    for (OJson& x : report_internal::SarifResults(*e.report, absl::StrCat("service ", Who(e), ": "))) {
      results.push_back(std::move(x));
    }
  }
  return report_internal::SarifDocument(results);
}

std::string AuditGithub(const AuditReport& r) {
  std::string out;
  for (const AuditEntry& e : r.entries) {
    if (e.report) {
      out += report_internal::GithubLines(*e.report, absl::StrCat("service ", Who(e), ": "));
    } else {
      absl::StrAppend(&out, "::warning title=stalecheck not checked::",
                      absl::StrReplaceAll(absl::StrCat("service ", Who(e), ": ", e.reason), {{"%", "%25"}, {"\n", "%0A"}}),
                      "\n");
    }
  }
  if (!r.stale) absl::StrAppend(&out, "::notice::stalecheck audit: fresh\n");
  return out;
}

}  // namespace stalecheck
