#!/usr/bin/env bash
# The .deb CPack makes, installed with dpkg -i and run, then removed; and cmake --install into
# a prefix. Usage: test-deb.sh BUILD_DIR SOURCE_DIR. Exit 77 (skipped) without root, outside CI.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
if [[ $(id -u) -ne 0 ]]; then
  if [[ ${CI:-} == true ]]; then echo "dpkg -i needs root, and CI must run this test" >&2; exit 1; fi
  echo "skipped: dpkg -i needs root"
  exit 77
fi
if dpkg-query -W -f='${Status}' stalecheck 2>/dev/null | grep -q 'install ok installed'; then
  echo "a stalecheck package is installed already; this test would replace it: dpkg -r stalecheck first" >&2
  exit 1
fi
work=$(mktemp -d /tmp/stalecheck-deb-XXXXXX)
trap 'dpkg -r stalecheck >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# The package, made from this build.
cpack --config "$build/CPackConfig.cmake" -B "$work/pkg" >/dev/null
deb=$(ls "$work"/pkg/stalecheck_*_amd64.deb)
dpkg -i "$deb" >/dev/null
[[ $(/usr/bin/stalecheck version) == "stalecheck 0.1.0" ]] || fail "the installed binary's version"
[[ -f /usr/share/man/man1/stalecheck.1 ]] || fail "no man page"
bash -c 'source /usr/share/bash-completion/completions/stalecheck && complete -p stalecheck' | grep -q _stalecheck ||
  fail "the bash completion does not register"
[[ -f /usr/share/zsh/vendor-completions/_stalecheck ]] || fail "no zsh completion"
# The installed binary on the bundled example: stale, exit 1, the files named.
set +e
out=$(/usr/bin/stalecheck check "docker-archive:$src/fixtures/demo/app-old.tar" -C "$src/fixtures/demo/context")
code=$?
set -e
[[ $code -eq 1 ]] || fail "check exited $code, not 1: $out"
grep -q 'stale    /srv/app/main.py' <<<"$out" || fail "the stale file is not named: $out"
dpkg -r stalecheck >/dev/null
[[ ! -e /usr/bin/stalecheck ]] || fail "dpkg -r left the binary"

# cmake --install into a prefix puts the same files in place.
cmake --install "$build" --prefix "$work/prefix" >/dev/null
for f in bin/stalecheck share/man/man1/stalecheck.1 share/bash-completion/completions/stalecheck \
         share/zsh/vendor-completions/_stalecheck; do
  [[ -f "$work/prefix/$f" ]] || fail "cmake --install did not install $f"
done
echo "ok: $(basename "$deb") installed, ran the example (exit 1, stale files named) and removed; cmake --install complete"
