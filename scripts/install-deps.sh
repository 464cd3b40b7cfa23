#!/usr/bin/env bash
# Installs everything stalecheck needs to build, test and benchmark, from Debian's packages.
# Idempotent: packages already present are left as they are.
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build pkg-config git python3 dpkg-dev fakeroot
  # libraries
  libxxhash-dev libgit2-dev libabsl-dev libcxxopts-dev doctest-dev libarchive-dev
  libzstd-dev zlib1g-dev libisal-dev libssl-dev libre2-dev nlohmann-json3-dev libbenchmark-dev
  libcurl4-openssl-dev libyaml-cpp-dev
  # libarchive linked statically needs its dependencies' development files
  liblz4-dev libacl1-dev liblzma-dev libbz2-dev nettle-dev libxml2-dev
  # the real stack the end-to-end tests drive
  docker.io docker-compose busybox-static skopeo docker-registry git-lfs apache2-utils pre-commit
  # engines 26 and 28 are fetched from trixie and sid (scripts/engine.sh) and get their own bridges
  debian-archive-keyring iproute2
  # tools the tests and benchmarks compare against
  xxhash zstd isal b3sum time curl rsync hyperfine
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
