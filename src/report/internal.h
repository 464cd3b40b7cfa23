#pragma once
// What the check and audit formats share.

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "stalecheck/report.h"

namespace stalecheck::report_internal {

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
