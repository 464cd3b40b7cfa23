#!/usr/bin/env bash
# Runs stalecheck beside the tools a user would run instead, on the same data, and prints the
# times side by side with ratios (page cache warm: every command runs once before timing).
#
#   bench/run.sh fingerprint TREE...   # a git repository per TREE (for --rev and git ls-files)
#   bench/run.sh inspect ARCHIVE       # a docker save archive; OCI gzip/zstd copies are made
#   bench/run.sh check TREE            # builds an image of TREE, changes 70 files, compares
#   bench/run.sh container TREE        # the same image in a running container: check container:
#                                      # (API and overlay2 paths) vs docker cp + rsync -rcn --delete
#   bench/run.sh registry TREE         # the same image in the registry on 127.0.0.1:5000:
#                                      # check docker:// vs skopeo copy docker://… dir: (fetch only)
#
# Needs hyperfine, xxh128sum, b3sum, skopeo, zstd, igzip, rsync (scripts/install-deps.sh and
# `apt-get install hyperfine`), a running engine for `check`, and a build in build/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sc=$here/build/stalecheck
runs=${RUNS:-5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# time_of NAME CMD: mean seconds over $runs runs after one warm-up.
time_of() {
  local name=$1; shift
  hyperfine -i -N --style none --warmup 1 --runs "$runs" --export-json "$out/$name.json" "$@" >/dev/null 2>&1 ||
    hyperfine -i --style none --warmup 1 --runs "$runs" --export-json "$out/$name.json" "$@" >/dev/null
  python3 -c 'import json,sys; print("%.3f" % json.load(open(sys.argv[1]))["results"][0]["mean"])' "$out/$name.json"
}

# peak_kb CMD...: the highest peak RSS (KiB) over $runs runs; peak memory varies a little
# with thread timing, so one run is not enough to claim a bound.
peak_kb() {
  local i high=0 kb
  for ((i = 0; i < runs; i++)); do
    kb=$(/usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1)
    ((kb > high)) && high=$kb
  done
  echo "$high"
}

row() { printf '%-58s %8s s %8s\n' "$1" "$2" "$3"; }
ratio() { python3 -c 'import sys; a,b=map(float,sys.argv[1:]); print("%.2fx" % (b/a) if a>0 else "-")' "$1" "$2"; }

fingerprint() {
  for tree in "$@"; do
    files=$(git -C "$tree" ls-files | wc -l)
    bytes=$(du -sb --exclude=.git "$tree" | cut -f1)
    echo "== $tree: $files files, $((bytes / 1048576)) MiB"
    fp=$(time_of fp "$sc fingerprint -C $tree --root-only")
    fp1=$(time_of fp1 "$sc fingerprint -j 1 -C $tree --root-only")
    rev=$(time_of rev "$sc fingerprint -C $tree --rev HEAD --root-only")
    xxh=$(time_of xxh "sh -c 'cd $tree && git ls-files -z | xargs -0 -P2 xxh128sum >/dev/null'")
    b3=$(time_of b3 "sh -c 'cd $tree && git ls-files -z | xargs -0 b3sum >/dev/null'")
    sha=$(time_of sha "sh -c 'cd $tree && git ls-files -z | xargs -0 -P2 sha256sum >/dev/null'")
    status=$(time_of status "git -C $tree status --porcelain")
    archive=$(time_of archive "sh -c 'git -C $tree archive HEAD >/dev/null'")
    row "stalecheck fingerprint (-j all)" "$fp" "1.00x"
    row "stalecheck fingerprint -j 1" "$fp1" "$(ratio "$fp" "$fp1")"
    row "git ls-files -z | xargs -0 -P2 xxh128sum" "$xxh" "$(ratio "$fp" "$xxh")"
    row "git ls-files -z | xargs -0 b3sum" "$b3" "$(ratio "$fp" "$b3")"
    row "git ls-files -z | xargs -0 -P2 sha256sum" "$sha" "$(ratio "$fp" "$sha")"
    row "git status --porcelain" "$status" "$(ratio "$fp" "$status")"
    row "stalecheck fingerprint --rev HEAD" "$rev" "1.00x"
    row "git archive HEAD >/dev/null" "$archive" "$(ratio "$rev" "$archive")"
    mem=$(peak_kb "$sc" fingerprint -C "$tree" --root-only)
    memrev=$(peak_kb "$sc" fingerprint -C "$tree" --rev HEAD --root-only)
    budget=$(( (64 * 1048576 + 300 * files) / 1024 ))
    echo "peak RSS (highest of $runs runs): worktree ${mem} KiB, --rev ${memrev} KiB; budget 64 MB + 300 B/file = ${budget} KiB"
  done
}

inspect() {
  local archive=$1
  local work
  work=$(mktemp -d)
  skopeo copy -q docker-archive:"$archive" oci:"$work/gz":x
  skopeo copy -q --dest-compress-format zstd docker-archive:"$archive" oci:"$work/zst":x
  entries=$("$sc" inspect --format json "$archive" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["files"]))')
  echo "== $archive: $(($(stat -c %s "$archive") / 1048576)) MiB, $entries paths"
  a=$(time_of a "$sc inspect $archive --format json")
  floor=$(time_of floor "tar -xf $archive -O")
  layerfloor=$(time_of layerfloor "sh -c 'tar -xf $archive -O --wildcards \"*.tar\" | tar -tvf - --ignore-zeros >/dev/null'")
  hashfloor=$(time_of hashfloor "sh -c 'tar -xf $archive -O --wildcards \"*.tar\" | sha256sum >/dev/null'")
  extract=$(time_of extract "sh -c 'rm -rf $work/x && mkdir $work/x && tar -xf $archive -C $work/x && for l in \$(python3 -c \"import json;print(\\\" \\\".join(json.load(open(\\\"$work/x/manifest.json\\\"))[0][\\\"Layers\\\"]))\"); do mkdir -p $work/x/fs && tar -xf $work/x/\$l -C $work/x/fs; done && find $work/x/fs -type f -print0 | xargs -0 -P2 xxh128sum >/dev/null'")
  g=$(time_of g "$sc inspect oci:$work/gz --format json")
  g1=$(time_of g1 "$sc inspect -j 1 oci:$work/gz --format json")
  gfloor=$(time_of gfloor "sh -c 'for b in $work/gz/blobs/sha256/*; do gzip -dc \$b 2>/dev/null; done >/dev/null'")
  ig=$(time_of ig "sh -c 'for b in $work/gz/blobs/sha256/*; do igzip -dc \$b 2>/dev/null; done >/dev/null'")
  z=$(time_of z "$sc inspect oci:$work/zst --format json")
  zfloor=$(time_of zfloor "sh -c 'for b in $work/zst/blobs/sha256/*; do zstd -qdc \$b 2>/dev/null; done >/dev/null'")
  row "stalecheck inspect docker-archive" "$a" "1.00x"
  row "tar -xf ARCHIVE -O >/dev/null (the issue's floor)" "$floor" "$(ratio "$a" "$floor")"
  row "tar -xf ARCHIVE -O '*.tar' | tar -tv (list every layer)" "$layerfloor" "$(ratio "$a" "$layerfloor")"
  row "tar -xf ARCHIVE -O '*.tar' | sha256sum (verify, 1 pass)" "$hashfloor" "$(ratio "$a" "$hashfloor")"
  row "extract every layer to disk + find | xargs xxh128sum" "$extract" "$(ratio "$a" "$extract")"
  row "stalecheck inspect oci (gzip)" "$g" "1.00x"
  row "gzip -dc every blob (floor)" "$gfloor" "$(ratio "$g" "$gfloor")"
  row "igzip -dc every blob" "$ig" "$(ratio "$g" "$ig")"
  row "stalecheck inspect -j 1 oci (gzip): one core" "$g1" "$(ratio "$g" "$g1")"
  row "stalecheck inspect oci (zstd)" "$z" "1.00x"
  row "zstd -dc every blob (floor)" "$zfloor" "$(ratio "$z" "$zfloor")"
  # The decoder alone against igzip, one core each, on the largest gzip blob.
  big=$(ls -S "$work"/gz/blobs/sha256/* | head -n 1)
  if [[ -x $here/build-bench/bench_kernels ]]; then
    raw=$(igzip -dc "$big" | wc -c)
    t_ig=$(time_of igone "sh -c 'igzip -dc $big >/dev/null'")
    ours=$(STALECHECK_BENCH_GZ=$big "$here/build-bench/bench_kernels" --benchmark_filter=BM_GzipReader \
      --benchmark_format=json 2>/dev/null | python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["benchmarks"][0]["bytes_per_second"]/1e6))')
    echo "gzip decode, one core, largest blob ($((raw / 1048576)) MiB out): stalecheck's decoder ${ours} MB/s, igzip -dc $(python3 -c "print('%.0f' % ($raw/1e6/$t_ig))") MB/s"
  fi
  echo "peak RSS: docker-archive $(peak_kb "$sc" inspect "$archive") KiB, oci gzip $(peak_kb "$sc" inspect oci:"$work/gz") KiB; budget 64 MB + 300 B/entry = $(( (64 * 1048576 + 300 * entries) / 1024 )) KiB"
  rm -rf "$work"
}

# check TREE: builds FROM busybox with one `COPY <dir> /src/<dir>` per top-level directory of
# TREE, changes 70 files in the context, then times `stalecheck check` against the pipeline a
# user runs today (extract the docker save archive, rsync -rcn --delete per destination) and
# checks both name the same files.
check() {
  local tree=$1
  local work
  work=$(mktemp -d)
  image_of "$tree" "$work"
  ${DOCKER:-/usr/bin/docker} save -o "$work/app.tar" stalecheck-bench-check:1
  local files
  files=$(find "$work/ctx" -type f | wc -l)
  echo "== $tree: $files context files, $(($(stat -c %s "$work/app.tar") / 1048576)) MiB archive, 70 files changed"
  cat >"$work/pipeline.sh" <<SH
set -e
rm -rf $work/x && mkdir -p $work/x/fs && cd $work/x && tar -xf $work/app.tar
for l in \$(python3 -c 'import json; print(" ".join(json.load(open("manifest.json"))[0]["Layers"]))'); do tar -xf "\$l" -C fs; done
for d in $work/ctx/*/; do d=\$(basename "\$d"); rsync -rcn --delete --out-format='%n' "$work/ctx/\$d/" "fs/src/\$d/" 2>/dev/null | grep -v '^skipping non-regular' | sed "s|^|/src/\$d/|"; done
SH
  same_files "check" "$work/app.tar" "$work/pipeline.sh"
  t_sc=$(time_of sc "sh -c '$sc check $work/app.tar -C $work/ctx >/dev/null; test \$? -eq 1'")
  t_rs=$(time_of rs "bash $work/pipeline.sh")
  row "stalecheck check" "$t_sc" "1.00x"
  row "docker save archive: tar -x, rsync -rcn --delete" "$t_rs" "$(ratio "$t_sc" "$t_rs")"
  echo "peak RSS: check $(peak_kb "$sc" check "$work/app.tar" -C "$work/ctx") KiB"
  rm -rf "$work"
}

# image_of TREE WORK: the context WORK/ctx (one `COPY <dir> /src/<dir>` per top-level
# directory of TREE) built as stalecheck-bench-check:1 by the engine of $DOCKER; then 70 of its
# files changed.
image_of() {
  local tree=$1 work=$2 docker=${DOCKER:-/usr/bin/docker}
  mkdir "$work/ctx"
  local dockerfile="FROM stalecheck-busybox:1"
  for d in "$tree"/*/; do
    d=$(basename "$d")
    cp -r "$tree/$d" "$work/ctx/$d"
    dockerfile+=$'\n'"COPY $d /src/$d"
  done
  printf '%s\n' "$dockerfile" >"$work/ctx/Dockerfile"
  DOCKER=$docker "$here/fixtures/make-base.sh"
  DOCKER_BUILDKIT=1 $docker build -q -t stalecheck-bench-check:1 "$work/ctx" >/dev/null
  (cd "$work/ctx" && find . -name '*.h' -type f | sort | sed -n '1,70p' | while read -r f; do echo "// changed" >>"$f"; done)
}

# same_files NAME TARGET PIPELINE: whether stalecheck's findings and the pipeline's name the same files.
same_files() {
  local name=$1 target=$2 pipeline=$3
  shift 3
  local sc_files rs_files
  sc_files=$({ "$sc" check "$target" -C "$work/ctx" --format json "$@" || test $? -eq 1; } |
    python3 -c 'import json,sys; print("\n".join(sorted(f["path"] for f in json.load(sys.stdin)["findings"])))')
  rs_files=$(bash "$pipeline" | grep -v -e '/$' -e 'skipping non-regular' | sort)
  if [[ "$sc_files" == "$rs_files" ]]; then
    echo "$name: both name the same $(echo "$sc_files" | wc -l) files"
  else
    echo "$name: DIFFERENT FILES:"; diff <(echo "$sc_files") <(echo "$rs_files") | head -20
  fi
}

container() {
  local tree=$1 docker=${DOCKER:-/usr/bin/docker}
  work=$(mktemp -d)
  image_of "$tree" "$work"
  $docker rm -f stalecheck-bench-c >/dev/null 2>&1 || true
  $docker run -d --name stalecheck-bench-c stalecheck-bench-check:1 /bin/busybox sleep 86400 >/dev/null
  local files
  files=$(find "$work/ctx" -type f | wc -l)
  echo "== $tree in a running container: $files context files, 70 changed (engine: $($docker version -f '{{.Server.Version}}'))"
  cat >"$work/pipeline.sh" <<SH
set -e
rm -rf $work/x && mkdir -p $work/x
for d in $work/ctx/*/; do d=\$(basename "\$d"); $docker cp -q stalecheck-bench-c:/src/\$d $work/x/\$d; done
for d in $work/ctx/*/; do d=\$(basename "\$d"); rsync -rcn --delete --out-format='%n' "$work/ctx/\$d/" "$work/x/\$d/" 2>/dev/null | grep -v '^skipping non-regular' | sed "s|^|/src/\$d/|"; done
SH
  same_files "api" container:stalecheck-bench-c "$work/pipeline.sh" --engine-read api
  same_files "overlay2" container:stalecheck-bench-c "$work/pipeline.sh"
  t_cold=$(time_of cold "sh -c '$sc check container:stalecheck-bench-c -C $work/ctx --engine-read api --no-cache >/dev/null; test \$? -eq 1'")
  t_api=$(time_of api "sh -c '$sc check container:stalecheck-bench-c -C $work/ctx --engine-read api >/dev/null; test \$? -eq 1'")
  t_ov=$(time_of ov "sh -c '$sc check container:stalecheck-bench-c -C $work/ctx >/dev/null; test \$? -eq 1'")
  t_rs=$(time_of rs "bash $work/pipeline.sh")
  row "stalecheck check container: (Engine API, layer cache warm)" "$t_api" "1.00x"
  row "stalecheck check container: (Engine API, --no-cache)" "$t_cold" "$(ratio "$t_api" "$t_cold")"
  row "stalecheck check container: (overlay2 storage)" "$t_ov" "$(ratio "$t_api" "$t_ov")"
  row "docker cp of each destination + rsync -rcn --delete" "$t_rs" "$(ratio "$t_api" "$t_rs")"
  echo "docker cp + rsync vs: API warm $(ratio "$t_api" "$t_rs"), API --no-cache $(ratio "$t_cold" "$t_rs"), overlay2 $(ratio "$t_ov" "$t_rs")"
  echo "peak RSS: api $(peak_kb "$sc" check container:stalecheck-bench-c -C "$work/ctx" --engine-read api) KiB, overlay2 $(peak_kb "$sc" check container:stalecheck-bench-c -C "$work/ctx") KiB; budget 64 MB + 300 B/file = $(( (64 * 1048576 + 300 * files) / 1024 )) KiB"
  $docker rm -f stalecheck-bench-c >/dev/null
  rm -rf "$work"
}

registry() {
  local tree=$1 docker=${DOCKER:-/usr/bin/docker}
  work=$(mktemp -d)
  image_of "$tree" "$work"
  local ref=127.0.0.1:5000/stalecheck-bench/check:1
  $docker tag stalecheck-bench-check:1 $ref
  $docker push -q $ref >/dev/null
  local files
  files=$(find "$work/ctx" -type f | wc -l)
  echo "== $tree in the registry on 127.0.0.1:5000: $files context files, 70 changed"
  t_sc=$(time_of sc "sh -c '$sc check docker://$ref -C $work/ctx --no-cache >/dev/null; test \$? -eq 1'")
  t_warm=$(time_of warm "sh -c '$sc check docker://$ref -C $work/ctx >/dev/null; test \$? -eq 1'")
  t_sk=$(time_of sk "sh -c 'rm -rf $work/d && skopeo copy -q --src-tls-verify=false docker://$ref dir:$work/d'")
  row "stalecheck check docker:// --no-cache" "$t_sc" "1.00x"
  row "stalecheck check docker:// (layer cache warm)" "$t_warm" "$(ratio "$t_sc" "$t_warm")"
  row "skopeo copy docker://… dir: (fetch only)" "$t_sk" "$(ratio "$t_sc" "$t_sk")"
  echo "peak RSS: check docker:// $(peak_kb "$sc" check docker://$ref -C "$work/ctx") KiB; budget 64 MB + 300 B/file = $(( (64 * 1048576 + 300 * files) / 1024 )) KiB"
  rm -rf "$work"
}

cmd=${1:-}; shift || true
case "$cmd" in
  fingerprint) fingerprint "$@" ;;
  inspect) inspect "$@" ;;
  check) check "$@" ;;
  container) container "$@" ;;
  registry) registry "$@" ;;
  *) echo "usage: $0 fingerprint TREE... | inspect ARCHIVE | check TREE | container TREE | registry TREE" >&2; exit 2 ;;
esac
