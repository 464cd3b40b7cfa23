#!/usr/bin/env bash
# What the GitHub Action (action.yml) runs: stalecheck check or audit with GitHub annotations
# (files named relative to $GITHUB_WORKSPACE), and a SARIF file when asked. Inputs come as
# INPUT_* variables; the exit code is stalecheck's (0 fresh, 1 stale, 2 error).
set -uo pipefail
command=${INPUT_COMMAND:-check}
stalecheck=${STALECHECK:-stalecheck}
args=()
case "$command" in
  check)
    [[ -n ${INPUT_TARGET:-} ]] || { echo "::error title=stalecheck::the check command needs a target input"; exit 2; }
    args+=(check "$INPUT_TARGET")
    ;;
  audit)
    args+=(audit)
    [[ -z ${INPUT_TARGET:-} ]] || args+=("$INPUT_TARGET")
    while IFS= read -r f; do
      [[ -z "$f" ]] || args+=(--compose "$f")
    done <<<"${INPUT_COMPOSE:-}"
    ;;
  *) echo "::error title=stalecheck::command must be check or audit, not $command"; exit 2 ;;
esac
# With compose, each service has its own context; -C applies to named targets.
if [[ $command == check || -n ${INPUT_TARGET:-} ]]; then
  args+=(-C "${INPUT_CONTEXT:-.}")
  [[ -z ${INPUT_DOCKERFILE:-} ]] || args+=(-f "$INPUT_DOCKERFILE")
fi
read -r -a extra <<<"${INPUT_ARGS:-}"
args+=("${extra[@]}")
if [[ -n ${INPUT_SARIF:-} ]]; then
  "$stalecheck" "${args[@]}" --format sarif -o "$INPUT_SARIF"
  code=$?
  [[ $code -le 1 ]] || exit "$code"
fi
"$stalecheck" "${args[@]}" --format github
