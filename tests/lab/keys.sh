# shellcheck shell=bash disable=SC2034
#
# tests/lab/keys.sh - the key-store part of the lab, on top of tests/lab/lab.sh (which it
# only extends with new functions): a software TPM behind a resource manager, a SoftHSM2
# token, EAP users on the gateway, and a device charon with the tpm, pkcs11 and
# eap-mschapv2 plugins.
#
#   . "$(dirname "$0")/../lab/lab.sh"; . "$(dirname "$0")/../lab/keys.sh"
#   lab_require; lab_keys_require; lab_require_tool
#   lab_keys_up            # lab_init + net + gateway (cert + EAP) + TPM + token + device charon
#   lab_keys_config pos tpm "cert: $LAB/pki/dev-tpm.pem" "tcti: \"$LAB_TPM_TCTI\""
#   m2m up pos; is_rc 0 "up"       (m2m, is_rc from lab.sh)
#   m2mcert keygen ...; is_rc 0 "keygen"   (m2mvpn-cert, same variables)
#
# TPM: swtpm (unix sockets) <- tpm2-abrmd <- a private dbus-daemon whose socket is
# $LAB/dev/run/dbus/system_bus_socket. The device charon runs with $LAB/dev/run bound over
# /run, so for it that is the ordinary system bus socket: its tpm plugin uses
# "tabrmd:bus_type=system" without any environment. The tools get the same bus through
# DBUS_SYSTEM_BUS_ADDRESS (exported here). charon 5.9.8 accepts only the TCTIs device,
# tabrmd and mssim, and mssim cannot drive swtpm: hence the resource manager.
# Token: SoftHSM2 with its own token directory; charon needs SOFTHSM2_CONF, which
# lab_charon_start's clean environment drops, so the device charon is started by
# lab_keys_charon_start_dev (the same steps, plus that one variable).
# Every process is recorded with _lab_record and stopped by the lab's teardown.
#
# Exports: LAB_TPM_TCTI LAB_TPM_HANDLE LAB_P11_MODULE LAB_P11_TOKEN LAB_P11_PIN_FILE
#   LAB_P11_WRONG_PIN_FILE LAB_EAP_ID LAB_EAP_PASS_FILE LAB_EAP_WRONG_PASS_FILE
#   LAB_CE_CERT LAB_CE_KEY (dev-ce.lab, for cert+eap)

LAB_P11_MODULE=${LAB_P11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
LAB_TPM_TCTI="tabrmd:bus_type=system"
LAB_TPM_HANDLE=0x81010002
LAB_EAP_ID=user1

# plugins of the device and gateway charons: lab.sh's list plus the key stores and EAP
_LAB_KEYS_LOAD="random nonce aes sha1 sha2 hmac gcm pem pkcs1 pkcs7 pkcs8 pkcs12 x509 pubkey constraints revocation openssl curve25519 gmp kdf kernel-libipsec kernel-netlink socket-default vici attr eap-identity eap-mschapv2"

lab_keys_require() {
	local c
	for c in swtpm swtpm_ioctl tpm2-abrmd dbus-daemon softhsm2-util pkcs11-tool tpm2_getcap; do
		command -v "$c" > /dev/null || { echo "1..0 # SKIP missing $c (scripts/deps.sh)"; exit 0; }
	done
	[ -e "$LAB_P11_MODULE" ] || { echo "1..0 # SKIP missing $LAB_P11_MODULE"; exit 0; }
}

# lab_tpm_up: swtpm + private dbus-daemon + tpm2-abrmd; waits until the TPM answers.
lab_tpm_up() {
	local t=$LAB/tpm pid
	mkdir -p "$t/state" "$LAB/dev/run/dbus"
	swtpm socket --tpm2 --tpmstate dir="$t/state" \
		--server type=unixio,path="$t/swtpm.sock" --ctrl type=unixio,path="$t/swtpm.sock.ctrl" \
		--flags not-need-init,startup-clear --pid file="$t/swtpm.pid" --log file="$t/swtpm.log" \
		--daemon 2>> "$LAB/log/tpm.err" || lab_die "swtpm did not start"
	wait_until 3 test -s "$t/swtpm.pid" || lab_die "swtpm wrote no pid file"
	_lab_record swtpm "$(cat "$t/swtpm.pid")"
	export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$LAB/dev/run/dbus/system_bus_socket
	pid=$(dbus-daemon --session --address="$DBUS_SYSTEM_BUS_ADDRESS" --fork --nopidfile \
		--print-pid=1 2>> "$LAB/log/tpm.err") || lab_die "dbus-daemon did not start"
	_lab_record dbus "$pid"
	lab_bg tabrmd tpm2-abrmd --allow-root --tcti="swtpm:path=$t/swtpm.sock"
	wait_until 5 quiet env TPM2TOOLS_TCTI="$LAB_TPM_TCTI" tpm2_getcap properties-fixed ||
		lab_die "the TPM does not answer through $LAB_TPM_TCTI: $(tail -n 3 "$LAB/log/tabrmd.err")"
	lab_log "TPM up (swtpm, dbus, tabrmd)"
}

# lab_tpm_stop_rm: stop tpm2-abrmd only (TPM unreachable through the TCTI)
lab_tpm_stop_rm() { lab_stop tabrmd TERM 5; }
lab_tpm_start_rm() {
	lab_bg tabrmd tpm2-abrmd --allow-root --tcti="swtpm:path=$LAB/tpm/swtpm.sock"
	wait_until 5 quiet env TPM2TOOLS_TCTI="$LAB_TPM_TCTI" tpm2_getcap properties-fixed ||
		lab_die "the TPM does not answer again"
}

# lab_softhsm_up: a token "lab-dev" with user PIN and SO PIN in 0600 files.
lab_softhsm_up() {
	local s=$LAB/softhsm
	mkdir -p "$s/tokens"
	cat > "$s/softhsm2.conf" <<EOF
directories.tokendir = $s/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
	export SOFTHSM2_CONF=$s/softhsm2.conf
	LAB_P11_TOKEN=lab-dev
	LAB_P11_PIN_FILE=$s/user.pin LAB_P11_WRONG_PIN_FILE=$s/wrong.pin
	( umask 077
	  echo "$(_lab_rand 4 | tr -dc 0-9a-f)" > "$LAB_P11_PIN_FILE"
	  echo "bad$(_lab_rand 3)" > "$LAB_P11_WRONG_PIN_FILE"
	  echo "so$(_lab_rand 4)" > "$s/so.pin" )
	softhsm2-util --init-token --free --label "$LAB_P11_TOKEN" --so-pin "$(cat "$s/so.pin")" \
		--pin "$(cat "$LAB_P11_PIN_FILE")" > "$LAB/log/softhsm.out" 2>&1 ||
		lab_die "softhsm2-util --init-token: $(tail -n 2 "$LAB/log/softhsm.out")"
	lab_log "SoftHSM token up"
}

# lab_p11_reset_counter: one good login, as a person would after fixing the PIN
lab_p11_reset_counter() {
	pkcs11-tool --module "$LAB_P11_MODULE" --token-label "$LAB_P11_TOKEN" --login \
		--pin "$(cat "$LAB_P11_PIN_FILE")" --list-objects > /dev/null 2>&1
}

_lab_keys_eap_secrets() {
	( umask 077
	  echo "eap$(_lab_rand 6)" > "$LAB/pki/eap.pass"
	  echo "bad$(_lab_rand 6)" > "$LAB/pki/eap-wrong.pass" )
	LAB_EAP_PASS_FILE=$LAB/pki/eap.pass LAB_EAP_WRONG_PASS_FILE=$LAB/pki/eap-wrong.pass
}

# lab_keys_gw_write_conf: lab.sh's rw-cert, plus rw-eap (EAP-MSCHAPv2, gateway by cert) and
# rw-certeap (certificate, then EAP: RFC 4739) for the identity dev-ce.lab.
lab_keys_gw_write_conf() {
	lab_gw_write_conf
	cat >> "$LAB/gw/swanctl/swanctl.conf" <<EOF
connections {
  rw-eap {
    version = 2
    local_addrs = $LAB_GW_IP
    proposals = $LAB_PROPOSAL, aes256-sha256-modp2048
    pools = vpool
    unique = replace
    local {
      auth = pubkey
      certs = gw.pem
      id = gw.lab
    }
    remote {
      auth = eap-mschapv2
      eap_id = %any
    }
    children {
      net {
        local_ts = $LAB_INNER_IP/32
        esp_proposals = $LAB_ESP_PROPOSAL, aes256-sha256
      }
    }
  }
  rw-certeap {
    version = 2
    local_addrs = $LAB_GW_IP
    proposals = $LAB_PROPOSAL, aes256-sha256-modp2048
    pools = vpool
    unique = replace
    local {
      auth = pubkey
      certs = gw.pem
      id = gw.lab
    }
    remote {
      auth = pubkey
      id = dev-ce.lab
      cacerts = ca.pem
    }
    remote-2 {
      auth = eap-mschapv2
      eap_id = %any
    }
    children {
      net {
        local_ts = $LAB_INNER_IP/32
        esp_proposals = $LAB_ESP_PROPOSAL, aes256-sha256
      }
    }
  }
}
secrets {
  eap-user1 {
    id = $LAB_EAP_ID
    secret = "$(cat "$LAB_EAP_PASS_FILE")"
  }
}
EOF
}

lab_keys_gw_load() {
	lab_keys_gw_write_conf
	if ! lab_swanctl gw --load-all --noprompt > "$LAB/gw/load.out" 2>&1 ||
	   ! grep -q "loaded connection 'rw-certeap'" "$LAB/gw/load.out"; then
		diag "$(cat "$LAB/gw/load.out")"
		lab_die "gateway swanctl --load-all (with EAP) failed"
	fi
}

# lab_keys_charon_start_dev: lab_charon_start dev, with SOFTHSM2_CONF in charon's environment
# and the tpm, pkcs11 and EAP plugins configured.
lab_keys_charon_start_dev() {
	local pid i
	LAB_CHARON_EXTRA_dev="  load = $_LAB_KEYS_LOAD tpm pkcs11
  plugins {
    tpm {
      tcti {
        name = tabrmd
        opts = bus_type=system
      }
    }
    pkcs11 {
      modules {
        lab {
          path = $LAB_P11_MODULE
        }
      }
    }
  }"
	_lab_write_strongswan_conf dev
	rm -f "$LAB/dev/run/charon.pid"
	echo "=== start $(date -u +%T.%3N)" >> "$LAB/dev/charon.stdout"
	ip netns exec "$NS_DEV" unshare -m --propagation private \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin STRONGSWAN_CONF="$LAB/dev/strongswan.conf" \
		SOFTHSM2_CONF="$SOFTHSM2_CONF" TSS2_LOG=all+none \
		sh -c "mount --bind '$LAB/dev/run' /run && exec '$LAB_CHARON'" \
		>> "$LAB/dev/charon.stdout" 2>&1 < /dev/null &
	pid=$!
	disown "$pid" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		if [ "$(cat "$LAB/dev/run/charon.pid" 2>/dev/null)" = "$pid" ] && lab_swanctl dev --stats > /dev/null 2>&1; then
			_lab_record charon-dev "$pid"
			lab_log "charon dev (keys) up (pid $pid)"
			return 0
		fi
		lab_alive "$pid" || break
		sleep 0.05
	done
	lab_alive "$pid" && kill -KILL "$pid"
	lab_die "charon dev did not start: $(tail -n 5 "$LAB/dev/charon.stdout" "$LAB/dev/charon.log" 2>/dev/null)"
}

# lab_keys_up: the whole key-store lab.
lab_keys_up() {
	lab_init
	_lab_leaf ca dev-ce dev-ce dev-ce.lab clientAuth '-1 day' '+29 days' ||
		lab_die "dev-ce certificate"
	LAB_CE_CERT=$LAB/pki/dev-ce.pem LAB_CE_KEY=$LAB/pki/dev-ce.key
	_lab_keys_eap_secrets
	lab_net
	lab_tpm_up
	lab_softhsm_up
	LAB_CHARON_EXTRA_gw="  load = $_LAB_KEYS_LOAD"
	lab_charon_start gw
	lab_keys_gw_load
	lab_keys_charon_start_dev
}

# lab_keys_issue CSR NAME CN: the lab CA issues NAME.pem for a request (clientAuth, SAN = CN)
lab_keys_issue() {
	_lab_pki_run --issue --in "$1" --type pkcs10 --cacert "$LAB/pki/ca.pem" \
		--cakey "$LAB/pki/ca.key" --dn "C=XX, O=m2m test lab, CN=$3" --san "$3" \
		--flag clientAuth --lifetime 20 --outform pem > "$LAB/pki/$2.pem"
}

# lab_keys_config PROFILE METHOD LOCAL_ID [AUTH_LINE...]: write $LAB/dev/m2m.yaml with one
# profile whose auth section is "method: METHOD" plus the given lines (mode: $LAB_KEYS_MODE,
# default on-demand).
lab_keys_config() {
	local name=$1 method=$2 lid=$3 line out=$LAB/dev/m2m.yaml
	shift 3
	{
		echo "version: 1"
		echo "device: {id: dev1.lab}"
		echo "charon: {vici: \"$(lab_vici_uri dev)\"}"
		echo "state_dir: $LAB/dev/state"
		echo "vpn:"
		echo "  profiles:"
		echo "    $name:"
		echo "      gateway: $LAB_GW_IP"
		echo "      remote_id: gw.lab"
		echo "      local_id: $lid"
		echo "      auth:"
		echo "        method: $method"
		for line in "$@"; do echo "        $line"; done
		echo "      ca: $LAB_CA"
		echo "      proposals: [$LAB_PROPOSAL]"
		echo "      esp_proposals: [$LAB_ESP_PROPOSAL]"
		echo "      remote_ts: [$LAB_INNER_IP/32]"
		echo "      virtual_ip: true"
		echo "      mode: ${LAB_KEYS_MODE:-on-demand}"
		echo "      dpd: 2s"
		echo "      retry: {network: {min: 1s, max: 5s}, auth: {min: 5s, max: 30s}}"
	} > "$out.tmp.$$" || lab_die "writing $out"
	chmod 0600 "$out.tmp.$$" && mv -f "$out.tmp.$$" "$out"
	M2M_CONFIG_FILE=$out
}

# m2mcert ARGS...: m2mvpn-cert in the device namespace, like m2m() (M2M_RC, M2M_OUT, M2M_ERR)
m2mcert() {
	local save=$M2M_BIN
	M2M_BIN=$M2M_BIN_DIR/m2mvpn-cert
	m2m "$@"
	M2M_BIN=$save
}

# lab_keys_scanned "SECRET_FILE..." m2m|m2mcert ARGS...: run the tool while tests/tools/
# procscan.py samples every /proc/*/cmdline and environ for the secrets in those files.
# lab_keys_scan_hits prints what was found (nothing, we hope); lab_keys_scan_watched how
# many sweeps saw a tool running.
_LAB_KEYS_SCANS=0
lab_keys_scanned() {
	local files=$1 n
	shift
	n=$((++_LAB_KEYS_SCANS))
	# shellcheck disable=SC2086
	lab_bg "kscan$n" "$LAB_PY" "$LAB_TOOLS/procscan.py" "$LAB/log/kscan$n.result" m2mvpn $files
	wait_until 5 grep -q ready "$LAB/log/kscan$n.out"
	"$@"
	lab_stop "kscan$n" TERM 5
}
lab_keys_scan_hits() { cat "$LAB"/log/kscan*.result 2>/dev/null | grep '^hit ' || true; }
lab_keys_scan_watched() { cat "$LAB"/log/kscan*.result 2>/dev/null | awk '$1 == "watched" { s += $2 } END { print s + 0 }'; }
