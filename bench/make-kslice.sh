#!/usr/bin/env bash
# Makes bench's trees from Debian's linux-source-6.1 (installed from the archive when absent):
#   bench/make-kslice.sh DEST          the kernel slice: fs/ include/ kernel/ net/ sound/
#   bench/make-kslice.sh --full DEST   the whole tree
set -euo pipefail
full=0
if [[ ${1:-} == --full ]]; then full=1; shift; fi
dest=${1:?usage: bench/make-kslice.sh [--full] DEST}
tarball=/usr/src/linux-source-6.1.tar.xz
if [[ ! -f $tarball ]]; then
  sudo=; ((EUID == 0)) || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends linux-source-6.1 >/dev/null
fi
tmp=$(mktemp -d "$(dirname "$dest")/kslice-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ((full)); then
  tar -xJf "$tarball" -C "$tmp"
else
  tar -xJf "$tarball" -C "$tmp" linux-source-6.1/fs linux-source-6.1/include linux-source-6.1/kernel \
    linux-source-6.1/net linux-source-6.1/sound
fi
mv "$tmp/linux-source-6.1" "$dest"
