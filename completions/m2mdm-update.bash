# bash completion for m2mdm-update                       -*- shell-script -*-
_m2mdm_update()
{
    local cur prev words cword
    _init_completion -s || return

    local opts="-c --config -j --json -t --timeout -q --quiet -v --verbose --color -h --help
        -V --version --manifest --payload -o --out -s --store -k --key --module --token --id
        --label --tcti --handle --pin-file --pin-fd --pin-credential --pin-prompt --cert --chain
        --trust --model --signatures --manual"
    local cmds="install status check commit rollback sign verify"

    local i cmd=""
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -c|--config|-t|--timeout|--color|--manifest|--payload|-o|--out|-s|--store|-k|--key|\
            --module|--token|--id|--label|--tcti|--handle|--pin-file|--pin-fd|--pin-credential|\
            --cert|--chain|--trust|--model|--signatures) ((i++)) ;;
            -*) ;;
            *) [[ -z $cmd ]] && cmd=${words[i]} ;;
        esac
    done

    case $prev in
        -c|--config)
            _filedir '@(yaml|yml)'; return ;;
        -s|--store)
            COMPREPLY=($(compgen -W "file tpm pkcs11 machine" -- "$cur")); return ;;
        --module)
            _filedir so; return ;;
        --tcti)
            COMPREPLY=($(compgen -W "device:/dev/tpmrm0 tabrmd:bus_type=session tabrmd:bus_type=system swtpm:path=" -- "$cur")); return ;;
        --handle)
            COMPREPLY=($(compgen -W "0x81010002" -- "$cur")); return ;;
        --manifest)
            _filedir json; return ;;
        --cert|--chain|--trust)
            _filedir '@(pem|crt)'; return ;;
        --payload|-o|--out|-k|--key|--pin-file)
            _filedir; return ;;
        --signatures)
            COMPREPLY=($(compgen -W "1 2" -- "$cur")); return ;;
        --color)
            COMPREPLY=($(compgen -W "auto always never" -- "$cur")); return ;;
        -t|--timeout|--token|--id|--label|--pin-fd|--pin-credential|--model)
            return ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
    else
        case $cmd in
            install|verify) _filedir ;;
        esac
    fi
} && complete -F _m2mdm_update m2mdm-update
