#pragma once
// The compare engine: copy plan × context × image view → findings (SPEC §3), and Python
// bytecode checks (PEP 552).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "stalecheck/context.h"
#include "stalecheck/dockerfile.h"
#include "stalecheck/git_source.h"
#include "stalecheck/image.h"

namespace stalecheck {

struct Finding {
  std::string status;                  // stale, missing, extra, mode, type, bytecode
  std::optional<std::string> path;     // absolute image path
  std::optional<std::string> source;   // context-relative
  std::optional<std::string> expected; // digest, mode or target, per status
  std::optional<std::string> actual;
  std::optional<int> layer;            // index into the view's layers: the one judged
  std::optional<int> step;             // index into the plan's steps
  std::optional<int> via;              // index into the plan's other_steps (COPY --from)
  std::optional<int> changed_by;       // a later layer that changed or replaced the path
  std::string origin = "layer";        // what put the judged version there: "layer" (`layer`),
                                       // "container" (changed at runtime) or "mount"
  std::optional<int> mount;            // for "mount": index into the container's mounts
  std::string reason;                  // short, for people
};

/// A step whose files cannot be compared with the context.
struct UncheckedStep {
  int step = 0;               // index into the plan's steps
  std::optional<int> paths;   // image paths it wrote that were not compared (unknown without a layer)
  std::string reason;
};

struct CheckResult {
  bool stale = false;
  std::vector<Finding> findings;        // sorted by path
  std::vector<std::string> compared;    // every image path examined, sorted
  std::vector<int> layer_step;          // per image layer: the plan step it was matched to, or -1
  std::vector<UncheckedStep> unchecked; // in step order
  std::vector<std::string> unchecked_bytecode;  // pycs whose code no local Python could compare
};

/// A --map SRC:DEST pair: context subtree (or file) SRC compared with image path DEST; a
/// directory claims DEST whole.
struct PathMap {
  std::string source;  // context-relative ("" for the root)
  std::string dest;    // absolute
  bool dest_is_dir = false;  // DEST ended in '/': a file SRC goes into it
};

/// Builds the plan for --map pairs (no Dockerfile). Error: a SRC the context does not have.
absl::StatusOr<CopyPlan> PlanFromMaps(const std::vector<PathMap>& maps, const std::vector<FileEntry>& context);

/// Compares the code of a pyc with its source, for the compile check of bytecode whose
/// header matches: a seam, so that tests need no Python.
class BytecodeCompiler {
 public:
  virtual ~BytecodeCompiler() = default;
  enum class Verdict { kSame, kDiffers, kNoPython };
  struct Item {
    std::string pyc;     // the whole pyc file
    std::string source;  // the source's bytes
    int optimize = 0;    // from the pyc's name (.opt-1, .opt-2)
  };
  /// One verdict per item, in order.
  virtual std::vector<Verdict> Compare(const std::vector<Item>& items) = 0;
};

/// Local Python interpreters (python3, python3.N on PATH), each asked for its magic number
/// once; a pyc is compiled by one with its magic. Nothing is written: sources and pycs go
/// through a pipe, and the interpreter runs isolated (-I -S).
std::unique_ptr<BytecodeCompiler> LocalPythonCompiler();

struct CompareOptions {
  bool claims_whole_dest = false;  // --map: every image file under a destination must be planned
  /// Reads a context file's bytes (for checked-hash .pyc files and the compile check).
  std::function<absl::StatusOr<std::string>(const std::string&)> read_context_file;
  BytecodeCompiler* compiler = nullptr;  // null: pycs that need compiling are unchecked
};

/// Image layers matched to the plan's steps through the history, each step to the entry it
/// left (BuildKit's `COPY src/ ./ # buildkit`, the legacy builder's `#(nop) COPY … in ./`).
struct LayerMatch {
  bool matched = false;         // false: the image has no history to match
  std::vector<int> layer_step;  // per layer: the plan step, or -1 (base image)
  std::vector<int> step_layer;  // per step: its layer, or -1 (none, or an empty entry)
};

/// Matches from the top: the chosen stage's chain wrote the last history entries, one per
/// instruction (an instruction this builder records no entry for is passed over when it
/// makes no layer). Error: an entry that does not fit its instruction (another Dockerfile,
/// stage or build args), naming the layer and the line.
absl::StatusOr<LayerMatch> MatchLayers(const CopyPlan& plan, const ImageView& image);

/// Compares (SPEC §3). Each planned path is judged by the version its copy layer wrote: a
/// later layer that changed it (RUN chown, sed -i) is named beside a finding and hides none;
/// one that deleted it leaves no finding. A file that a context-copy layer wrote and the plan
/// no longer has is `extra`. Steps whose files cannot be compared are listed in `unchecked`.
/// Errors: the image does not fit the Dockerfile (MatchLayers), or nothing was compared.
absl::StatusOr<CheckResult> Compare(const CopyPlan& plan, const ImageView& image, const CompareOptions& options);

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

/// What an image says it was built from: its `org.opencontainers.image.revision` label, else a
/// build arg named GIT_COMMIT*, *_COMMIT_HASH or *_REVISION that a RUN recorded in the history
/// (`RUN |1 GIT_COMMIT=… …`).
struct BuiltRevision {
  std::string value;  // as recorded
  std::string from;   // "label org.opencontainers.image.revision", "build arg GIT_COMMIT"
};
std::optional<BuiltRevision> ImageRevision(const ImageView& image);

/// `outdated-container` (path null): the container runs an image its image name no longer
/// points to; expected is the image the name points to now, actual the one running. nullopt
/// for a container that runs what its name names, and for images.
std::optional<Finding> OutdatedContainerFinding(const ImageView& image, const std::string& fix);

/// `revision` (path null): the image was built from a commit other than `head` (full id);
/// `relation` is how the two stand in the repository, when it has the image's commit.
std::optional<Finding> RevisionFinding(const BuiltRevision& built, const std::string& head,
                                       const std::optional<CommitRelation>& relation);

}  // namespace stalecheck
