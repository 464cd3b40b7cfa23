// The compile check of bytecode: a local Python with the pyc's magic number compiles the
// source under the name the pyc records, and compares the code objects. Python compares code
// by its bytecode, constants, names and line table; marshal's bytes are not compared, since
// they depend on reference counts in the process that wrote them.

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "stalecheck/compare.h"
#include "stalecheck/util.h"

namespace stalecheck {
namespace {

// Reads every item from standard input (count, then per item: pyc, source, optimize, each
// length-prefixed), writes one verdict a line. Nothing is written anywhere else.
constexpr const char* kCompareScript = R"(import marshal, struct, sys
data = sys.stdin.buffer.read()
pos = 0
def take():
    global pos
    (n,) = struct.unpack_from('<Q', data, pos)
    pos += 8
    b = data[pos:pos + n]
    pos += n
    return b
(count,) = struct.unpack_from('<Q', data, 0)
pos = 8
out = []
for _ in range(count):
    pyc, src, opt = take(), take(), int(take())
    try:
        code = marshal.loads(pyc[16:])
        new = compile(src, code.co_filename, 'exec', dont_inherit=True, optimize=opt)
        out.append('same' if new == code else 'differs')
    except Exception as e:
        out.append('error')
sys.stdout.write(''.join(v + '\n' for v in out))
)";

constexpr const char* kMagicScript = "import importlib.util,sys;sys.stdout.write(importlib.util.MAGIC_NUMBER[:2].hex())";

// Runs `python -I -S -c script` with `input` on its standard input; its standard output, or
// nullopt when it could not run or failed.
std::optional<std::string> RunPython(const std::string& python, const char* script, const std::string& input) {
  return RunCapture({python, "-I", "-S", "-c", script}, input);
}

void PutLength(std::string& out, const std::string& s) {
  uint64_t n = s.size();
  char b[8];
  std::memcpy(b, &n, 8);  // little-endian host
  out.append(b, 8);
  out += s;
}

class LocalPythons : public BytecodeCompiler {
 public:
  std::vector<Verdict> Compare(const std::vector<Item>& items) override {
    std::vector<Verdict> verdicts(items.size(), Verdict::kNoPython);
    std::map<std::string, std::vector<size_t>> by_magic;  // the magic's two bytes, hex
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].pyc.size() < 16) continue;
      static const char* kHex = "0123456789abcdef";
      std::string magic;
      for (int b = 0; b < 2; ++b) {
        unsigned char c = static_cast<unsigned char>(items[i].pyc[static_cast<size_t>(b)]);
        magic += kHex[c >> 4];
        magic += kHex[c & 15];
      }
      by_magic[magic].push_back(i);
    }
    for (const auto& [magic, which] : by_magic) {
      const std::string* python = PythonFor(magic);
      if (python == nullptr) continue;
      std::string input;
      uint64_t count = which.size();
      char b[8];
      std::memcpy(b, &count, 8);
      input.append(b, 8);
      for (size_t i : which) {
        PutLength(input, items[i].pyc);
        PutLength(input, items[i].source);
        PutLength(input, std::to_string(items[i].optimize));
      }
      std::optional<std::string> out = RunPython(*python, kCompareScript, input);
      if (!out) continue;
      std::vector<std::string> lines = absl::StrSplit(*out, '\n', absl::SkipEmpty());
      if (lines.size() != which.size()) continue;
      for (size_t k = 0; k < which.size(); ++k) {
        if (lines[k] == "same") verdicts[which[k]] = Verdict::kSame;
        if (lines[k] == "differs") verdicts[which[k]] = Verdict::kDiffers;
      }
    }
    return verdicts;
  }

 private:
  // The first interpreter on PATH with this magic number, asked once each.
  const std::string* PythonFor(const std::string& magic) {
    if (!probed_) Probe();
    auto it = magic_python_.find(magic);
    return it == magic_python_.end() ? nullptr : &it->second;
  }

  void Probe() {
    probed_ = true;
    std::vector<std::string> names = {"python3"};
    for (int minor = 6; minor <= 15; ++minor) names.push_back(absl::StrCat("python3.", minor));
    const char* path = std::getenv("PATH");
    std::set<std::string> seen;
    for (absl::string_view dir : absl::StrSplit(path == nullptr ? "/usr/bin" : path, ':', absl::SkipEmpty())) {
      for (const std::string& name : names) {
        std::string full = absl::StrCat(dir, "/", name);
        if (::access(full.c_str(), X_OK) != 0) continue;
        char real[4096];
        if (::realpath(full.c_str(), real) == nullptr || !seen.insert(real).second) continue;
        std::optional<std::string> magic = RunPython(full, kMagicScript, "");
        if (magic && magic->size() == 4) magic_python_.emplace(*magic, full);
      }
    }
  }

  bool probed_ = false;
  std::map<std::string, std::string> magic_python_;
};

}  // namespace

std::unique_ptr<BytecodeCompiler> LocalPythonCompiler() { return std::make_unique<LocalPythons>(); }

}  // namespace stalecheck
