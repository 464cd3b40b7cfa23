#!/usr/bin/env bash
# Makes the seed corpora (tests/fuzz/corpus/TARGET/) from the committed fixtures, and a few
# hand-written inputs for the parsers no fixture feeds. Deterministic but for the git pack
# (its commit times); run it again after a fixture changes, and commit the result. Seeds over
# 64 KiB are left out (libFuzzer mutates small inputs best).
set -euo pipefail
cd "$(dirname "$0")"
fx=../../fixtures
out=corpus
rm -rf "$out"
mkdir -p "$out"/{ignore,dockerfile,layer,docker_archive,oci_layout,git_pack,pyc,engine_json,registry,compose,pre_push}

small() { [[ $(stat -c %s "$1") -le 65536 ]]; }
seed() { # TARGET NAME < data
  cat > "$out/$1/$2"
}

# .dockerignore: the shapes the engines differ on (DOCKER-NOTES §0), and comments, negations, escapes.
printf '*.pyc\n**/__pycache__\n!keep.pyc\n' | seed ignore negation
printf '# comment\n/abs\n./rel\nsrc/**/test_*\n[a-c]?.txt\n\\#literal\n' | seed ignore shapes
printf 'a/\n!a/b\na/b/c\n**\n!Dockerfile\n' | seed ignore dirs
printf '  spaced  \n\n!\n**/*.{js,ts}\n\\!bang\n' | seed ignore edge

# Dockerfiles: the bundled ones, and the plan's harder shapes.
for f in $(find "$fx" -name 'Dockerfile*' -type f | sort); do
  small "$f" && seed dockerfile "$(echo "${f#$fx/}" | tr / _)" < "$f"
done
cat <<'DF' | seed dockerfile stages
# syntax=docker/dockerfile:1
ARG BASE=scratch
FROM ${BASE} AS build
WORKDIR /src
COPY --chmod=755 src/ ./
ADD a.txt /opt/
FROM build
ARG APP
ENV DEST=${APP:-/app}
COPY --from=build /src/main.py $DEST/
COPY --exclude=*.pyc src/lib/ /lib/
COPY <<EOF /etc/inline
hello
EOF
RUN echo done
DF

# Layers and archives: every small blob of the fixtures' layouts, and the small archives.
for b in $(find "$fx/images" -path '*/blobs/sha256/*' -type f | sort); do
  small "$b" && seed layer "$(basename "$(dirname "$(dirname "$(dirname "$b")")")")-${b##*/}" < "$b"
done
for a in small.tar broken-truncated.tar; do seed docker_archive "$a" < "$fx/images/$a"; done

# OCI layouts: index, manifest and config of each fixture layout, digests written as @M and @C.
for layout in $(find "$fx/images" -name oci-layout -printf '%h\n' | sort); do
  python3 - "$layout" > "$out/oci_layout/$(basename "$layout")" <<'PY' || rm -f "$out/oci_layout/$(basename "$layout")"
import json, os, sys
d = sys.argv[1]
index = json.load(open(os.path.join(d, "index.json")))
def blob(dig):
    return open(os.path.join(d, "blobs", *dig.split(":")), "rb").read().decode()
m = index["manifests"][0]
manifest = json.loads(blob(m["digest"]))
if "manifests" in manifest:  # an index inside: take its first manifest
    manifest = json.loads(blob(manifest["manifests"][0]["digest"]))
config = blob(manifest["config"]["digest"])
manifest["config"]["digest"] = "@C"
manifest["config"]["size"] = len(config.encode())
m["digest"] = "@M"
m.pop("size", None)
index["manifests"] = [m]
sys.stdout.write(json.dumps(index) + "\n--\n" + json.dumps(manifest) + "\n--\n" + config)
PY
done

# A git pack and its index, as git writes them, and a delta.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$tmp" init -q
printf 'line one\nline two\n' > "$tmp/a.txt"
seq 1 200 > "$tmp/b.txt"
export GIT_AUTHOR_DATE=@1700000000 GIT_COMMITTER_DATE=@1700000000
git -C "$tmp" add . && git -C "$tmp" -c user.name=t -c user.email=t@t commit -qm one
seq 1 201 > "$tmp/b.txt"
git -C "$tmp" add . && git -C "$tmp" -c user.name=t -c user.email=t@t commit -qm two
git -C "$tmp" -c pack.compression=9 gc -q --aggressive
idx=$(ls "$tmp"/.git/objects/pack/*.idx)
{ cat "$idx"; printf '\n--PACK--\n'; cat "${idx%.idx}.pack"; } | seed git_pack repo
printf 'the base text\n--\n\x0e\x12\x90\x0e\x04more' | seed git_pack delta

# pyc headers: the fixtures' bytecode with their source behind.
for p in "$fx"/pyc/*.pyc; do
  { head -c 16 "$p"; cat "$fx/pyc/mod.py"; } | seed pyc "$(basename "$p")"
done

# Engine API answers, in the shapes 20.10 to 28 send.
cat <<'J' | seed engine_json container
{"Id":"0123abcd","Name":"/app-web-1","Image":"sha256:aaaa","State":{"Status":"running"},"Config":{"Image":"app-web","Labels":{"com.docker.compose.project":"app"}},"SizeRw":4096,"GraphDriver":{"Name":"overlay2","Data":{"UpperDir":"/var/lib/docker/overlay2/x/diff"}},"Mounts":[{"Type":"bind","Source":"/src","Destination":"/app","RW":true},{"Type":"volume","Name":"data","Source":"/var/lib/docker/volumes/data/_data","Destination":"/data/"}]}
J
printf '[{"Path":"/app","Kind":0},{"Path":"/app/x.py","Kind":1},{"Path":"/tmp/gone","Kind":2}]' | seed engine_json changes
printf 'null' | seed engine_json null

# Registry: references, challenges, an index.
printf 'docker.io/library/busybox:1.36@sha256:%064d' 0 | seed registry reference
printf '127.0.0.1:5000/e2e/app:1' | seed registry local
printf 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push"' | seed registry bearer
printf 'Basic realm="Registry Realm"' | seed registry basic
if small "$fx/images/multi-oci/index.json"; then seed registry index < "$fx/images/multi-oci/index.json"; fi

# Compose files: long and short build forms, interpolation, anchors, profiles.
cat <<'Y' | seed compose project
name: ${PROJECT:-Demo_App}
x-base: &base
  build: {context: ./svc, args: [A, B=2]}
services:
  web:
    <<: *base
    image: web:${TAG:?tag}
  api:
    build:
      context: ${SET}
      dockerfile: docker/Dockerfile
      target: runtime
      args: {MODE: "${EMPTY:-dev}", N: 1}
    profiles: [debug]
  inline:
    build:
      dockerfile_inline: |
        FROM scratch
        COPY . /
  db: {image: postgres}
Y
printf 'services:\n  a:\n    build: .\n    extends: {service: b}\n  b: {build: $$x}\n' | seed compose short

# pre-push input: SHA-1 and SHA-256 ids, new refs and deletions.
z40=$(printf '%040d' 0); z64=$(printf '%064d' 0)
printf 'refs/heads/main %s refs/heads/main %s\n(delete) %s refs/heads/old %s\n' "$(printf 'a%.0s' {1..40})" "$z40" "$z40" "$(printf 'b%.0s' {1..40})" | seed pre_push sha1
printf 'HEAD~ %s refs/heads/x %s\n' "$(printf 'c%.0s' {1..64})" "$z64" | seed pre_push sha256
echo "seeds: $(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1)"
