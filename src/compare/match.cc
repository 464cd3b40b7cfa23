// Image history ↔ Dockerfile steps: which layer each instruction of the chosen chain made.

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "stalecheck/compare.h"

namespace stalecheck {
namespace {

// A history entry's instruction, as the builder wrote it.
struct HistoryText {
  std::string keyword;  // "COPY", "RUN", ...; "" when the entry has no text
  std::string body;     // the rest: BuildKit's sources and destination; the legacy builder's destination
  bool legacy = false;  // `#(nop)` or a bare shell command
};

constexpr const char* kKeywords[] = {"ADD",    "ARG",  "CMD",        "COPY",  "ENTRYPOINT", "ENV",
                                     "EXPOSE", "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD", "RUN",
                                     "SHELL",  "STOPSIGNAL",  "USER",  "VOLUME",     "WORKDIR"};

bool IsKeyword(absl::string_view word) {
  for (const char* k : kKeywords) {
    if (word == k) return true;
  }
  return false;
}

// Drops the leading `--flag` words (BuildKit writes some flags, and which ones changes
// between versions: `--chown`, `--chmod` on newer frontends; never `--from` or `--exclude`).
absl::string_view DropFlags(absl::string_view s) {
  for (;;) {
    s = absl::StripLeadingAsciiWhitespace(s);
    if (!absl::StartsWith(s, "--")) return s;
    size_t end = s.find(' ');
    if (end == absl::string_view::npos) return "";
    s.remove_prefix(end);
  }
}

HistoryText ReadHistory(const std::optional<std::string>& created_by) {
  HistoryText h;
  if (!created_by) return h;
  absl::string_view t = *created_by;
  if (size_t nop = t.find("#(nop) "); nop != absl::string_view::npos) {
    // Legacy builder: `/bin/sh -c #(nop)  ENV A=1`, `/bin/sh -c #(nop) COPY dir:<hex> in /app/ `.
    h.legacy = true;
    absl::string_view rest = absl::StripLeadingAsciiWhitespace(t.substr(nop + 7));
    size_t sp = rest.find(' ');
    h.keyword = std::string(rest.substr(0, sp));
    if (sp != absl::string_view::npos) rest.remove_prefix(sp + 1);
    if ((h.keyword == "COPY" || h.keyword == "ADD") && rest.rfind(" in ") != absl::string_view::npos) {
      rest = rest.substr(rest.rfind(" in ") + 4);
    }
    h.body = std::string(absl::StripAsciiWhitespace(rest));
    return h;
  }
  absl::ConsumeSuffix(&t, " # buildkit");
  size_t sp = t.find(' ');
  absl::string_view first = t.substr(0, sp);
  if (IsKeyword(first)) {
    h.keyword = std::string(first);
    h.body = sp == absl::string_view::npos ? "" : std::string(DropFlags(t.substr(sp + 1)));
    return h;
  }
  // The legacy builder writes a RUN as its command alone (`/bin/sh -c …`, `|1 A=b …`).
  h.keyword = "RUN";
  h.legacy = true;
  h.body = std::string(t);
  return h;
}

// Whether a history entry is the one a step leaves.
bool Fits(const BuildStep& step, const HistoryText& h) {
  if (h.keyword != step.keyword) return false;
  if (step.keyword != "COPY" && step.keyword != "ADD") return true;
  if (h.legacy) return h.body == absl::StripTrailingAsciiWhitespace(step.dest_written);
  if (step.source == StepSource::kHeredoc) return absl::EndsWith(h.body, absl::StrCat(" ", step.dest_written));
  return h.body == absl::StrCat(absl::StrJoin(step.written, " "), " ", step.dest_written);
}

std::string Describe(const ImageView& image, size_t h) {
  const HistoryEntry& e = image.history[h];
  std::string what = e.layer >= 0 ? absl::StrCat("layer ", e.layer) : std::string("history entry");
  return absl::StrCat(what, " (", e.created_by.value_or("no history text"), ")");
}

}  // namespace

absl::StatusOr<LayerMatch> MatchLayers(const CopyPlan& plan, const ImageView& image) {
  LayerMatch m;
  m.layer_step.assign(image.layers.size(), -1);
  m.step_layer.assign(plan.steps.size(), -1);
  bool any_text = false;
  for (const HistoryEntry& e : image.history) any_text = any_text || e.created_by.has_value();
  if (!any_text) return m;
  m.matched = true;
  const std::string hint = "is the image built from this Dockerfile, context, --target and --build-args?";
  int h = static_cast<int>(image.history.size()) - 1;
  for (int s = static_cast<int>(plan.steps.size()) - 1; s >= 0; --s) {
    const BuildStep& step = plan.steps[static_cast<size_t>(s)];
    if (h < 0) {
      if (!step.writes_layer) continue;
      return absl::FailedPreconditionError(absl::StrCat("the image's history ends before Dockerfile:", step.line, " (",
                                                        step.text, ") made its layer; ", hint));
    }
    const HistoryEntry& entry = image.history[static_cast<size_t>(h)];
    if (Fits(step, ReadHistory(entry.created_by))) {
      if (entry.layer >= 0) {
        m.layer_step[static_cast<size_t>(entry.layer)] = s;
        m.step_layer[static_cast<size_t>(s)] = entry.layer;
      }
      --h;
      continue;
    }
    if (!step.writes_layer) continue;  // this builder left no entry for it
    return absl::FailedPreconditionError(absl::StrCat("the image does not fit the Dockerfile: ",
                                                      Describe(image, static_cast<size_t>(h)), " is not Dockerfile:",
                                                      step.line, " (", step.text, "); ", hint));
  }
  return m;
}

}  // namespace stalecheck
