#pragma once
// Formats results; computes nothing.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

#include "stalecheck/compare.h"
#include "stalecheck/context.h"
#include "stalecheck/image.h"

namespace stalecheck {

/// SPEC §5 `fingerprint` JSON.
nlohmann::ordered_json FingerprintJson(const Context& ctx);
/// The same document's text (JsonText of FingerprintJson), handed to `write` in pieces of
/// about a megabyte, so that memory does not grow with the JSON of every entry.
absl::Status WriteFingerprintJson(const Context& ctx, const std::function<absl::Status(absl::string_view)>& write);
/// One line per entry (type, mode, size, digest, path), then the root line.
std::string FingerprintText(const Context& ctx);

/// SPEC §5 `inspect` JSON over the given view.
nlohmann::ordered_json InspectJson(const ImageView& view);
/// The layers with their `created_by`, then the files in aligned columns.
std::string InspectText(const ImageView& view);

/// Everything a `check` report shows.
struct CheckReport {
  const Context& context;
  const CopyPlan& plan;
  const ImageView& image;
  const CheckResult& result;
  /// The Dockerfile as annotations (SARIF, github) name it: relative to the repository root
  /// ("" = as the context names it).
  std::string dockerfile_uri = "";
};

/// SPEC §5 `check` JSON.
nlohmann::ordered_json CheckJson(const CheckReport& r);
/// Findings grouped by layer and Dockerfile line, each with its reason, then a summary line.
std::string CheckText(const CheckReport& r, bool color);
/// JUnit XML: one testcase per compared path, a failure per finding.
std::string CheckJunit(const CheckReport& r);
/// SARIF 2.1.0, results located at the Dockerfile line.
std::string CheckSarif(const CheckReport& r);
/// GitHub Actions workflow commands (`::error file=…,line=…::`).
std::string CheckGithub(const CheckReport& r);

/// A file name for a text line, quoted as git quotes paths: unchanged unless it holds a
/// control character, `"`, `\` or bytes that are not UTF-8; then in double quotes, with C
/// escapes (`\n`, `\t`, `\"`, `\\`) and octal (`\377`) for the other such bytes.
std::string QuotedName(absl::string_view name);

/// `s` as XML character data or attribute text; a byte that is not UTF-8, and a control
/// character that XML 1.0 cannot carry, become U+FFFD.
std::string XmlText(absl::string_view s);

/// The JSON text of `doc` and a newline. A string byte that is not UTF-8 becomes U+FFFD, as Go's
/// encoding/json (docker, skopeo) writes it; `indent` < 0 writes one line.
std::string JsonText(const nlohmann::ordered_json& doc, int indent = 2);

/// "1.2K", "340B", "3.4M".
std::string HumanSize(uint64_t bytes);

/// One entry of an audit: a service's container (or a named container, or a registry image).
struct AuditEntry {
  std::string service;    // the compose service, else the target as named
  std::string container;  // the container's name ("" for none)
  std::string verdict;    // "fresh", "stale" or "unchecked"
  std::string reason;     // why it is unchecked
  std::optional<CheckReport> report;  // its check, when it was checked
};

/// Everything an `audit` report shows.
struct AuditReport {
  std::string project;  // the compose project ("" without one)
  std::vector<AuditEntry> entries;
  bool stale = false;
};

/// SPEC §5 `audit` JSON: per entry the service, container, verdict, summary and findings.
nlohmann::ordered_json AuditJson(const AuditReport& r);
/// Per service a verdict line and its findings, then a summary line.
std::string AuditText(const AuditReport& r, bool color);
/// JUnit XML, one test suite per service.
std::string AuditJunit(const AuditReport& r);
/// SARIF 2.1.0, each message naming its service.
std::string AuditSarif(const AuditReport& r);
/// GitHub Actions workflow commands, each message naming its service.
std::string AuditGithub(const AuditReport& r);

}  // namespace stalecheck
