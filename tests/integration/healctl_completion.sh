#!/usr/bin/env bash
# healctl_completion.sh — the shipped bash completion (etc/completion/healctl.bash) completes
# commands, show's heal|issue, options and option values; zsh's file is parsed by zsh when present.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
comp=$here/etc/completion/healctl.bash
fail=0
check() { # expected words, then COMP_WORDS...
    local want=$1; shift
    local got
    got=$(bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _healctl; echo "${COMPREPLY[*]}"' _ "$comp" "$@")
    if [[ $got != "$want" ]]; then
        echo "FAIL: completing '$*': got '$got', wanted '$want'"
        fail=1
    fi
}
check "show" healctl sh
check "heal issue" healctl show ""
check "explain" healctl --url http://x:1 ex
check "--no-legend" healctl --no-l
check "" healctl show heal 5 ""
check "history hold holds help" healctl -c /etc/x.conf h
check "unhold undo" healctl un
check "resume restore" healctl res
check "--dry-run" healctl undo 5 --dr
check "" healctl restore --to ""
if command -v zsh >/dev/null; then
    zsh -n "$here/etc/completion/_healctl" || { echo "FAIL: zsh -n _healctl"; fail=1; }
fi
[[ $fail == 0 ]] && echo "ok"
exit $fail
