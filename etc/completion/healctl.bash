# bash completion for healctl(8) — installed as share/bash-completion/completions/healctl.
_healctl()
{
    local cur prev words cword
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmds="status issues history plugins knowledge pending confirm reject pause resume hold unhold holds show explain undo restore help"
    local opts="--url --token-file --json --timeout --config --no-legend --help --version --dry-run --force --to"
    case $prev in
        --token-file|--config|-c) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --url|--timeout|--for|--type|--reason|-n|--to) COMPREPLY=(); return ;;
        show) COMPREPLY=($(compgen -W "heal issue" -- "$cur")); return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    # the command is the first word that is not an option or an option's value
    local i w skip=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if ((skip)); then skip=0; continue; fi
        case $w in
            --url|--token-file|--timeout|--config|-c|--for|--type|--reason|-n|--to) skip=1 ;;
            -*) ;;
            *) return ;;   # a command is there already: its arguments are IDs and targets
        esac
    done
    COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
}
complete -F _healctl healctl
