#pragma once
// The compare engine: copy plan × context × image view → findings (SPEC §3), and Python
// bytecode checks (PEP 552).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "stalecheck/context.h"
#include "stalecheck/dockerfile.h"
#include "stalecheck/image.h"

namespace stalecheck {

struct Finding {
  std::string status;                  // stale, missing, extra, mode, type, bytecode
  std::optional<std::string> path;     // absolute image path
  std::optional<std::string> source;   // context-relative
  std::optional<std::string> expected; // digest, mode or target, per status
  std::optional<std::string> actual;
  std::optional<int> layer;            // index into the view's layers
  std::optional<int> step;             // index into the plan's steps
  std::string reason;                  // short, for people
};

struct CheckResult {
  bool stale = false;
  std::vector<Finding> findings;        // sorted by path
  std::vector<std::string> compared;    // every image path examined, sorted
  std::vector<int> layer_step;          // per image layer: the plan step it was matched to, or -1
};

/// A --map SRC:DEST pair: context subtree SRC compared with image directory DEST, which it
/// claims whole.
struct PathMap {
  std::string source;  // context-relative ("" for the root)
  std::string dest;    // absolute
};

/// Builds the plan for --map pairs (no Dockerfile).
CopyPlan PlanFromMaps(const std::vector<PathMap>& maps, const std::vector<FileEntry>& context);

struct CompareOptions {
  bool claims_whole_dest = false;  // --map: every image file under a destination must be planned
  /// Reads a context file's bytes (for checked-hash .pyc files).
  std::function<absl::StatusOr<std::string>(const std::string&)> read_context_file;
};

/// Compares. Layers are matched to the plan's COPY/ADD steps through the image history
/// (BuildKit and legacy `created_by`), from the top: a path whose top-most version comes
/// from a later layer that is not a context copy was changed on purpose and is no finding;
/// a file that a context-copy layer put there and the plan no longer has is `extra`.
CheckResult Compare(const CopyPlan& plan, const ImageView& image, const CompareOptions& options);

/// The outcome of checking one .pyc header against its source.
enum class PycVerdict { kFresh, kStale, kUnchecked };

/// PEP 552: a timestamp pyc must carry the source's mtime and size (low 32 bits); a
/// checked-hash pyc the SipHash of the source bytes (keyed by the magic; SipHash-1-3 from
/// 3.11, 2-4 before), which `source_bytes` supplies when it is known. Bad flags and short
/// headers are stale; unchecked-hash pycs are trusted.
PycVerdict CheckPycHeader(const std::string& head, int64_t source_mtime, uint64_t source_size,
                          const std::optional<std::string>& source_bytes, std::string* why);

/// SipHash-c-d of `data` with the 128-bit key (k0, k1).
uint64_t SipHash(int c_rounds, int d_rounds, uint64_t k0, uint64_t k1, const std::string& data);

}  // namespace stalecheck
