#pragma once
// The Dockerfile reader and the copy plan: which context file a build puts at which image
// path, by which instruction.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "stalecheck/entry.h"

namespace stalecheck {

/// One instruction, continuation lines joined.
struct Instruction {
  int line = 0;              // 1-based line of the keyword
  std::string keyword;       // upper case: "COPY", "FROM", ...
  std::string args;          // the text after the keyword, as written
  std::string text;          // keyword + args, as written (one line)
  std::vector<std::string> heredocs;  // names of heredocs this instruction opened
};

struct Dockerfile {
  std::string path;  // for messages
  char escape = '\\';
  std::string syntax;  // the `# syntax=` directive's value ("" = the engine's built-in frontend)
  std::vector<Instruction> instructions;
};

/// Parses Dockerfile text: the `# escape=` and `# syntax=` directives, comments, line
/// continuations, heredoc bodies (skipped). Errors name the file and line.
absl::StatusOr<Dockerfile> ParseDockerfile(const std::string& text, const std::string& path);

/// Expands $VAR, ${VAR}, ${VAR:-x}, ${VAR-x}, ${VAR:+x}, ${VAR+x}, ${VAR:?msg} (an error when
/// unset or empty), ${VAR?msg} (when unset) and removes quotes and
/// escapes as the builder's shell lexer does for one word.
absl::StatusOr<std::string> ExpandWord(const std::string& word, const std::map<std::string, std::string>& env,
                                       char escape = '\\');

/// Where the files a step writes come from.
enum class StepSource : uint8_t {
  kNone,     // none that stalecheck compares: RUN, WORKDIR, ENV, LABEL, ...
  kContext,  // COPY/ADD of build-context sources
  kStage,    // COPY --from=<a stage of this Dockerfile>
  kImage,    // COPY --from=<an image>
  kRemote,   // ADD <url>
  kHeredoc,  // COPY <<EOF: the Dockerfile's own text
};

/// COPY/ADD --chmod: an octal mode, or a symbolic one as chmod(1) writes it ("u+x,g-w",
/// "a+X", "o=u"), which the current frontend applies to each copied entry's own mode, with no
/// umask (built on Docker 28.5: 0644 with u+x,g+x lands as 0754).
struct ModeChange {
  struct Clause {
    uint32_t who = 0;  // the bits the clause may touch (07777 masks of u, g, o; 0 = all)
    char op = '=';     // '+', '-', '='
    uint32_t perm = 0;       // rwxst bits as u, g and o all would have them
    bool exec_if_any = false;  // 'X'
    char copy_from = 0;        // 'u', 'g', 'o' for "g=u" and the like
  };
  std::optional<uint32_t> octal;
  std::vector<Clause> clauses;
  std::string text;  // as written

  /// Parses `--chmod`'s value. Errors name what is wrong.
  static absl::StatusOr<ModeChange> Parse(absl::string_view text);
  /// The mode an entry whose own mode is `mode` lands with.
  uint32_t Apply(uint32_t mode, bool is_dir) const;
};

/// One instruction of the chosen stage's chain (or of a stage it copies from), in build
/// order: every instruction but FROM, since each leaves one history entry in the image.
struct BuildStep {
  int line = 0;
  std::string text;          // the instruction as written
  std::string keyword;       // "COPY", "ADD", "RUN", "WORKDIR", "ENV", ...
  std::string stage;         // the stage's name, or its index
  StepSource source = StepSource::kNone;
  bool writes_layer = false;         // RUN, COPY, ADD, WORKDIR: a layer in the image
  std::vector<std::string> sources;  // expanded context sources (kContext)
  std::vector<std::string> written;  // COPY/ADD: every source word expanded, as history writes it
  std::string dest_written;          // COPY/ADD: the destination expanded, as history writes it
  std::string dest;                  // expanded, absolute (joined to WORKDIR)
  bool dest_is_dir = false;          // dest ended in '/', or several sources / a wildcard
  std::optional<ModeChange> chmod;
  std::vector<std::string> excludes;
  bool parents = false;              // --parents: keep the source's directories
  std::string from;                  // --from's value (kStage, kImage)
  int from_stage = -1;               // kStage: the stage's index
  bool binds_context = false;        // RUN --mount=type=bind of the build context
  /// Why what this step wrote cannot be compared with the context ("" when it can, or when
  /// it writes nothing from elsewhere).
  std::string unchecked;

  bool FromContext() const { return source == StepSource::kContext; }
};

/// One file (or directory, or symlink) the plan expects in the image.
struct PlannedFile {
  std::string path;        // absolute image path
  std::string alt_path;    // for a lone file copied to a dest without '/': dest/<basename>,
                           // used when the image has a directory at `path`
  std::string source;      // context-relative path
  FileEntry expected;      // what the context has there (mode after --chmod)
  /// Under a symbolic --chmod: the context's own mode, which frontends before Docker 28's
  /// ignore the flag and keep (built: 20.10 and 26.1 keep 0644 under u+x,g+x; 28.5 gives
  /// 0754). The image may hold either.
  std::optional<uint32_t> mode_if_ignored;
  int step = 0;            // index into CopyPlan::steps
  int via = -1;            // through COPY --from: the context copy of the other stage that
                           // wrote it there (index into CopyPlan::other_steps)
};

struct CopyPlan {
  std::string stage;                  // the chosen stage's name, or its index
  std::vector<BuildStep> steps;       // every instruction of the chosen stage's chain
  std::vector<BuildStep> other_steps; // context copies of stages that COPY --from follows
  std::vector<PlannedFile> files;     // by path; the last step that writes a path wins
  std::vector<std::string> dest_roots;  // destination directories of context copies
};

struct PlanOptions {
  std::string target;                              // --target; "" = the last stage
  std::map<std::string, std::string> build_args;   // --build-arg
  /// Reads a context file's bytes (for ADD of a local archive).
  std::function<absl::StatusOr<std::string>(const std::string&)> read_context_file;
};

/// Maps every context file to its image path for the chosen stage (SPEC §3.2): wildcards,
/// directory-contents copies, trailing-slash rules, WORKDIR-relative destinations, ARG/ENV
/// expansion, --chmod, --exclude, several sources, ADD of a local tar (its members), and
/// COPY --from=STAGE followed back to what that stage copied straight from the context (a
/// path a RUN of that stage may have changed after its copy is left out, and the step says
/// why in `unchecked`).
/// `context` is the filtered build context (sorted, as LoadContext returns it).
absl::StatusOr<CopyPlan> BuildCopyPlan(const Dockerfile& dockerfile, const std::vector<FileEntry>& context,
                                       const PlanOptions& options);

/// Go's filepath.Match on '/'-separated paths ('*' and '?' never match '/').
bool GlobMatch(const std::string& pattern, const std::string& name);

/// GlobMatch where a whole `**` element matches any number of directories (COPY --parents).
bool DoubleStarMatch(const std::string& pattern, const std::string& name);

}  // namespace stalecheck
