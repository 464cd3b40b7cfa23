#pragma once
// What the check and audit formats share.

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "stalecheck/report.h"

namespace stalecheck::report_internal {

/// The terminal colours of the text reports; all empty when colour is off.
struct Colors {
  explicit Colors(bool on)
      : red(on ? "\033[31m" : ""), green(on ? "\033[32m" : ""), yellow(on ? "\033[33m" : ""),
        bold(on ? "\033[1m" : ""), reset(on ? "\033[0m" : "") {}
  const char* red;
  const char* green;
  const char* yellow;
  const char* bold;
  const char* reset;
};

/// Findings per status, every status present (zero when none).
std::map<std::string, int> FindingCounts(const CheckResult& r);
/// "2 stale, 1 outdated-container": the statuses that occur.
std::string CountsText(const CheckResult& r);
/// One `<testsuite>` element named `name`.
std::string JunitSuite(const CheckReport& r, const std::string& name);
/// SARIF results, each message after `prefix`.
nlohmann::ordered_json SarifResults(const CheckReport& r, const std::string& prefix);
/// A SARIF 2.1.0 document holding `results`.
std::string SarifDocument(const nlohmann::ordered_json& results);
/// `::error` lines, each message after `prefix`.
std::string GithubLines(const CheckReport& r, const std::string& prefix);

}  // namespace stalecheck::report_internal
