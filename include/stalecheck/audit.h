#pragma once
// `audit`: what is running, checked. Each named container, registry image, or every
// container of a compose project's services, is checked against its own context (one
// RunCheck each); a container not recreated after its image was rebuilt, and an image built
// from another commit, are findings too. No finding is computed here.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "stalecheck/check.h"
#include "stalecheck/compose.h"

namespace stalecheck {

struct AuditRequest {
  std::vector<TargetName> targets;       // container: and docker:// targets, checked against `base`'s context
  std::optional<ComposeOptions> compose; // a compose project's services
  std::vector<std::string> services;     // --service: only these
  CheckRequest base;                     // the flags as for check; its target is unused
};

struct AuditEntryResult {
  std::string service;
  std::string container;  // its name, "" for none
  std::string reason;     // why it was not checked ("" when it was)
  std::optional<CheckOutcome> outcome;
  bool stale() const { return outcome && outcome->result.stale; }
};

struct AuditResult {
  std::string project;
  std::vector<AuditEntryResult> entries;  // by service, then container number
  bool stale = false;
};

/// Runs the audit. Errors: a compose project that does not load, a --service the project
/// lacks, an unreachable engine, a check that fails (naming its service), nothing checked.
absl::StatusOr<AuditResult> RunAudit(const AuditRequest& request);

/// The report of a result (which must outlive it).
AuditReport MakeAuditReport(const AuditResult& result);

}  // namespace stalecheck
