# bash completion for m2mvpn-cert                        -*- shell-script -*-
_m2mvpn_cert_profiles()
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

_m2mvpn_cert()
{
    local cur prev words cword
    _init_completion -s || return

    local opts="-c --config -p --profile -s --store -k --key --type --module --token --id
        --label --tcti --handle --pin-file --pin-fd --pin-credential --pin-prompt
        --src-pin-file --src-pin-fd --cert --subject --san -o --out -f --force --new-key --next --reason -t --timeout -j --json
        -q --quiet -v --verbose --color -h --help -V --version"
    local cmds="keygen csr import list show doctor delete charon-conf enroll renew revoke"

    local i cmd="" cfg=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -c|--config) cfg=${words[i+1]}; ((i++)) ;;
            --config=*) cfg=${words[i]#--config=} ;;
            -p|--profile|-s|--store|-k|--key|--type|--module|--token|--id|--label|--tcti|--handle|\
            --pin-file|--pin-fd|--pin-credential|--src-pin-file|--src-pin-fd|--cert|--subject|\
            --san|-o|--out|--reason|-t|--timeout|--color) ((i++)) ;;
            -*) ;;
            *) [[ -z $cmd ]] && cmd=${words[i]} ;;
        esac
    done

    case $prev in
        -c|--config)
            _filedir '@(yaml|yml)'; return ;;
        -p|--profile)
            COMPREPLY=($(compgen -W "$(_m2mvpn_cert_profiles "$cfg")" -- "$cur")); return ;;
        -s|--store)
            COMPREPLY=($(compgen -W "file tpm pkcs11 machine" -- "$cur")); return ;;
        --type)
            COMPREPLY=($(compgen -W "ec rsa2048 rsa3072" -- "$cur")); return ;;
        --module)
            _filedir so; return ;;
        --tcti)
            COMPREPLY=($(compgen -W "device:/dev/tpmrm0 tabrmd:bus_type=session tabrmd:bus_type=system swtpm:path=" -- "$cur")); return ;;
        --handle)
            COMPREPLY=($(compgen -W "0x81010002" -- "$cur")); return ;;
        -k|--key|--pin-file|--src-pin-file|--cert|-o|--out)
            _filedir; return ;;
        --color)
            COMPREPLY=($(compgen -W "auto always never" -- "$cur")); return ;;
        --reason)
            COMPREPLY=($(compgen -W "unspecified keyCompromise cACompromise affiliationChanged superseded cessationOfOperation certificateHold privilegeWithdrawn aACompromise" -- "$cur")); return ;;
        --token|--id|--label|--pin-fd|--src-pin-fd|--pin-credential|--subject|--san|-t|--timeout)
            return ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
    else
        case $cmd in
            doctor) COMPREPLY=($(compgen -W "$(_m2mvpn_cert_profiles "$cfg")" -- "$cur")) ;;
            import|show) _filedir ;;
        esac
    fi
} && complete -F _m2mvpn_cert m2mvpn-cert
