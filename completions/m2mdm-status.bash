# bash completion for m2mdm-status                       -*- shell-script -*-
_m2mdm_status()
{
    local cur prev words cword
    _init_completion -s || return

    local opts="-c --config -j --json -r --report -s --serve -t --timeout -q --quiet -v --verbose --color -h --help -V --version"

    case $prev in
        -c|--config)
            _filedir '@(yaml|yml)'
            return ;;
        -t|--timeout)
            COMPREPLY=($(compgen -W "10 30 60 120" -- "$cur"))
            return ;;
        --color)
            COMPREPLY=($(compgen -W "auto always never" -- "$cur"))
            return ;;
    esac
    [[ $cur == --color=* ]] && { COMPREPLY=($(compgen -W "auto always never" -- "${cur#--color=}")); return; }
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
} && complete -F _m2mdm_status m2mdm-status
