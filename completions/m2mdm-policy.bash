# bash completion for m2mdm-policy                       -*- shell-script -*-
_m2mdm_policy()
{
    local cur prev words cword
    _init_completion -s || return

    local opts="-c --config -j --json -t --timeout -q --quiet -v --verbose --color -h --help
        -V --version -r --reason --yes"
    local cmds="check status release apply watch audit wipe"

    local i cmd=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -c|--config|-t|--timeout|--color|-r|--reason) ((i++)) ;;
            -*) ;;
            *) [[ -z $cmd ]] && cmd=${words[i]} ;;
        esac
    done

    case $prev in
        -c|--config)
            _filedir '@(yaml|yml)'; return ;;
        --color)
            COMPREPLY=($(compgen -W "auto always never" -- "$cur")); return ;;
        -t|--timeout|-r|--reason)
            return ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
    fi
} && complete -F _m2mdm_policy m2mdm-policy
