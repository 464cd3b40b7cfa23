#!/usr/bin/env bash
# Makes two clones of a git tree whose checkouts git converts, for the --rev figures of
# repositories with attributes: SRC-auto (`* text=auto`: every file asks its attributes, none
# converts on Linux) and SRC-crlf (`*.c`/`*.h` checked out with CRLF line endings).
#
#   bench/attr-trees.sh /tmp/bench/mid     # then: bench/run.sh fingerprint /tmp/bench/mid-auto /tmp/bench/mid-crlf
set -euo pipefail
src=${1:?usage: bench/attr-trees.sh GIT_TREE}
make() {
  local dest=$1 attributes=$2
  rm -rf "$dest"
  git clone -q "$src" "$dest"
  printf '%s' "$attributes" >"$dest/.gitattributes"
  git -C "$dest" add .gitattributes
  git -C "$dest" -c user.name=bench -c user.email=bench@localhost commit -qm "attributes"
  # Check everything out again under the new attributes, as a fresh clone would have it.
  git -C "$dest" rm -q --cached -r .
  git -C "$dest" reset -q --hard
}
make "$src-auto" $'* text=auto\n'
make "$src-crlf" $'*.c text eol=crlf\n*.h text eol=crlf\n'
echo "$src-auto $src-crlf"
