#!/usr/bin/env bash
# A context of a million small files (in /dev/shm, removed after): fingerprint lists every one,
# its root digest is stable across runs and worker counts, and its peak memory stays within
# 64 MB + 300 bytes per file. Usage: million-files.sh STALECHECK
set -euo pipefail
stalecheck=$1
n=${STALECHECK_SCALE_FILES:-1000000}
base=/dev/shm
[[ -d $base && -w $base ]] || base=${TMPDIR:-/tmp}
dir=$(mktemp -d "$base/stalecheck-million-XXXXXX")
# The stat cache of this context goes to a scratch cache directory, removed with it.
export XDG_CACHE_HOME=$dir.cache
trap 'rm -rf "$dir" "$dir.cache"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# 1000 directories of 1000 files, each file its own few bytes.
python3 - "$dir" "$n" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
per = 1000
for d in range((n + per - 1) // per):
    sub = os.path.join(root, "d%04d" % d)
    os.mkdir(sub)
    for f in range(min(per, n - d * per)):
        fd = os.open(os.path.join(sub, "f%04d.txt" % f), os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"%d/%d\n" % (d, f))
        os.close(fd)
PY
printf 'FROM scratch\nCOPY . /\n' > "$dir/Dockerfile"
files=$((n + 1))
/usr/bin/time -f '%M %e' -o "$dir.time" "$stalecheck" fingerprint -C "$dir" --build-rules buildx --format json >"$dir.json"
read -r rss_kb wall <"$dir.time"
rm -f "$dir.time"
listed=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(1 for f in d["files"] if f["type"]=="file"))' "$dir.json")
root=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["root"])' "$dir.json")
rm -f "$dir.json"
[[ $listed -eq $files ]] || fail "fingerprint listed $listed files of $files"
again=$("$stalecheck" fingerprint -C "$dir" --build-rules buildx --root-only -j 1)
[[ $again == "$root" ]] || fail "the root digest changed between runs ($root, then $again with -j 1)"
budget_kb=$(( (64 * 1000 * 1000 + 300 * files) / 1024 ))
((rss_kb <= budget_kb)) || fail "peak memory ${rss_kb} KiB over the budget of ${budget_kb} KiB"
echo "ok: $files files listed in ${wall} s, peak ${rss_kb} KiB (budget ${budget_kb} KiB), root stable at -j 1"
