# bash completion for m2mvpn-connect                     -*- shell-script -*-
_m2mvpn_connect_profiles()
{
    local cfg=$1
    [[ -z $cfg ]] && cfg=${M2M_CONFIG:-/etc/m2m/m2m.yaml}
    [[ -r $cfg ]] || return
    # profile names: the keys one level below "vpn: profiles:"
    awk '
        /^[^ #]/ { invpn = ($1 == "vpn:"); inprof = 0; next }
        invpn && /^  profiles:/ { inprof = 1; next }
        invpn && /^  [^ #]/ { inprof = 0 }
        inprof && /^    [A-Za-z0-9_-]+:/ { sub(/^    /, ""); sub(/:.*/, ""); print }
    ' "$cfg" 2>/dev/null
}

_m2mvpn_connect()
{
    local cur prev words cword
    _init_completion -s || return

    local opts="-c --config -t --timeout -j --json -q --quiet -v --verbose --color -h --help -V --version"
    local cmds="up down status list watch guard"

    case $prev in
        -c|--config)
            _filedir '@(yaml|yml)'
            return ;;
        -t|--timeout)
            COMPREPLY=($(compgen -W "5 10 20 30 60" -- "$cur"))
            return ;;
        --color)
            COMPREPLY=($(compgen -W "auto always never" -- "$cur"))
            return ;;
    esac
    [[ $cur == --color=* ]] && { COMPREPLY=($(compgen -W "auto always never" -- "${cur#--color=}")); return; }

    local i cmd="" cfg=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -c|--config) cfg=${words[i+1]}; ((i++)) ;;
            --config=*) cfg=${words[i]#--config=} ;;
            -t|--timeout|--color) ((i++)) ;;
            -*) ;;
            *) [[ -z $cmd ]] && cmd=${words[i]} ;;
        esac
    done

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
    else
        case $cmd in
            up|down|status|watch|guard)
                COMPREPLY=($(compgen -W "$(_m2mvpn_connect_profiles "$cfg")" -- "$cur")) ;;
        esac
    fi
} && complete -F _m2mvpn_connect m2mvpn-connect
