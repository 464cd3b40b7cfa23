# bash completion for stalecheck
_stalecheck() {
  local cur prev words cword
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  local commands="fingerprint inspect check audit hook version help"
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "$commands" -- "$cur"))
    return
  fi
  case "$prev" in
    -C|--context|--cert-dir|--project-directory) COMPREPLY=($(compgen -d -- "$cur")); return ;;
    -f|--file|--compose|-o|--output) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --format) COMPREPLY=($(compgen -W "text json junit sarif github" -- "$cur")); return ;;
    --build-rules) COMPREPLY=($(compgen -W "auto buildx buildx-pre-0.18 buildkit-20.10 legacy legacy-20.10" -- "$cur")); return ;;
    --engine-read) COMPREPLY=($(compgen -W "auto api" -- "$cur")); return ;;
    --mode) COMPREPLY=($(compgen -W "block warn" -- "$cur")); return ;;
  esac
  local opts
  case "${COMP_WORDS[1]}" in
    fingerprint) opts="-C --context -f --file --rev --format --root-only --build-rules --docker-host -j --jobs" ;;
    inspect) opts="--path --format --platform --docker-host --timeout --engine-read --tls-verify --cert-dir --no-cache -j" ;;
    check) opts="-C --context -f --file --target --build-arg --rev --map --build-rules --format -o --output --platform
                 --docker-host --timeout --engine-read --tls-verify --cert-dir --no-cache -j --jobs" ;;
    audit) opts="--compose -p --project-name --project-directory --service -C --context -f --file --target --build-arg
                 --rev --build-rules --format -o --output --platform --docker-host --timeout --engine-read
                 --tls-verify --cert-dir --no-cache -j --jobs" ;;
    hook) opts="install uninstall --force --mode" ;;
  esac
  if [[ "$cur" == -* || "${COMP_WORDS[1]}" == hook ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [[ "${COMP_WORDS[1]}" =~ ^(inspect|check|audit)$ ]]; then
    COMPREPLY=($(compgen -W "docker-archive: oci: docker-daemon: container: docker:// tar: rootfs:" -- "$cur"))
    [[ "$cur" == *:* ]] && COMPREPLY+=($(compgen -f -- "${cur#*:}" | sed "s|^|${cur%%:*}:|"))
  fi
}
complete -o nospace -o default -F _stalecheck stalecheck
