#!/bin/bash
# shellcheck shell=bash disable=SC2034
#
# tests/lab/rauc.sh - the RAUC part of the lab, on top of tests/lab/lab.sh (which it only
# extends with new functions): an A/B device whose two slots are files, driven by the
# real RAUC 1.8 service on a private D-Bus "system" bus.
#
#   . "$(dirname "$0")/../lab/lab.sh"; . "$(dirname "$0")/../lab/rauc.sh"
#   rauc_lab_require                 # "1..0 # SKIP ..." unless root, rauc, loop devices, squashfs
#   rauc_lab_up                      # lab_init + PKI + slots + bus + service booted from A
#   b=$(rauc_lab_bundle 1.0 img)     # a plain bundle of the raw image file img
#   rauc -c "$RAUC_LAB_CONF" install "$b"
#   rauc_lab_reboot B                # the service again, as if the device booted slot B
#   rauc_lab_fallback                # the bootloader gives up on the primary, boots the other
#   rauc_lab_slot_state              # "primary=B A=good B=good", from the bootloader's files
#   rauc_lab_status                  # "booted=B primary=B A=good B=good", from `rauc status`
#   rauc_lab_http DIR                # lighttpd serves DIR at $RAUC_LAB_HTTP (http://127.0.0.1:PORT)
#   (cleanup is automatic: rauc_lab_down runs from the lab's exit trap)
#
# Manual use (the demo):
#   tests/lab/rauc.sh up          build a RAUC lab, leave it running, print its variables
#   tests/lab/rauc.sh down DIR    stop it (service, bus, mounts, loop devices) and remove DIR
#
# The device ($LAB/rauc):
#   dev/rootfs.0 dev/rootfs.1   the slots: 64 MiB files, type raw, bootnames A and B
#   boot/                       the bootloader: "primary" and "state.A"/"state.B" files,
#                               kept by boot/backend.sh (bootloader=custom). RAUC 1.8 never
#                               marks a freshly installed slot good, it only makes it primary
#                               (set-state X bad before the copy, set-primary X after): the
#                               backend's set-primary marks the slot good too, as barebox and
#                               GRUB do. calls.log lists every call RAUC made.
#   system.conf                 compatible=$RAUC_LAB_COMPATIBLE, keyring = the lab CA with
#                               check-purpose=codesign (OpenSSL 3.0 has no code-signing
#                               purpose: without it a codeSigning-only signer is refused)
#   data/ mnt/                  RAUC's data-directory (central.raucs) and mount prefix
# The booted slot is not the backend's: the service takes it from --override-boot-slot,
# so a reboot is a restart of the service with another slot (rauc_lab_reboot).
#
# Fault hooks of the backend (files in $RAUC_LAB_BOOT):
#   killafter (N)   on the next "set-state X bad" (the start of an install's write), kill -9
#                   the service ($RAUC_LAB_BOOT/victim): at once and before answering if N
#                   is 0, else N s later in the background. The file is removed.
#   hang            while it exists, "set-state" waits (an install that does not finish).
#
# PKI ($LAB/rauc/pki, openssl, EC P-256): ca.pem (the device's keyring), signer.pem/.key
# (codeSigning only, issued by ca); other-ca.pem and other-signer.pem/.key, a second CA
# that the device does not trust.
#
# Exports: RAUC_LAB RAUC_LAB_CONF RAUC_LAB_BOOT RAUC_LAB_PKI RAUC_LAB_COMPATIBLE
#   DBUS_SYSTEM_BUS_ADDRESS (the private bus; rauc and the tools use it)

RAUC_LAB_COMPATIBLE=m2m-lab-device
RAUC_LAB_SLOT_MIB=${RAUC_LAB_SLOT_MIB:-64}
RAUC_LAB_BIN=${RAUC_LAB_BIN:-/usr/bin/rauc}

rauc_lab_require() {
	local c
	[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root (loop devices, mounts)"; exit 0; }
	for c in "$RAUC_LAB_BIN" mksquashfs dbus-daemon losetup openssl timeout; do
		command -v "$c" > /dev/null || { echo "1..0 # SKIP missing $c (scripts/deps.sh)"; exit 0; }
	done
	# RAUC mounts a plain bundle (squashfs) on a loop device; the kernel loads squashfs itself
	[ -e /dev/loop-control ] || { echo "1..0 # SKIP no /dev/loop-control"; exit 0; }
}

# rauc_lab_init: the lab dir (lab_init, its exit trap) and the teardown hook, no processes
rauc_lab_init() {
	[ -n "${LAB:-}" ] || lab_init
	_rauc_lab_vars
	mkdir -p "$RAUC_LAB"/{dev,data,mnt,boot,pki,bundles,dbus} || lab_die "mkdir $RAUC_LAB"
	# a manual lab ("rauc.sh up") outlives its script unless building it failed
	lab_on_exit '{ [ "${_LAB_MANUAL:-0}" = 1 ] && [ "$TAP_FAILED" = 0 ]; } || rauc_lab_down'
}

_rauc_lab_openssl() { openssl "$@" >> "$LAB/log/rauc-pki.log" 2>&1; }
# _rauc_lab_ca NAME CN
_rauc_lab_ca() {
	local k=$RAUC_LAB_PKI
	_rauc_lab_openssl ecparam -name prime256v1 -genkey -noout -out "$k/$1.key" &&
	_rauc_lab_openssl req -x509 -new -key "$k/$1.key" -subj "/O=m2m test lab/CN=$2" -days 30 \
		-out "$k/$1.pem" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign"
}
# _rauc_lab_signer CA NAME CN: a codeSigning-only leaf issued by CA
_rauc_lab_signer() {
	local k=$RAUC_LAB_PKI
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > "$k/$2.ext"
	_rauc_lab_openssl ecparam -name prime256v1 -genkey -noout -out "$k/$2.key" &&
	_rauc_lab_openssl req -new -key "$k/$2.key" -subj "/O=m2m test lab/CN=$3" -out "$k/$2.csr" &&
	_rauc_lab_openssl x509 -req -in "$k/$2.csr" -CA "$k/$1.pem" -CAkey "$k/$1.key" \
		-CAcreateserial -days 29 -extfile "$k/$2.ext" -out "$k/$2.pem"
}
rauc_lab_pki() {
	( umask 077
	  _rauc_lab_ca ca "m2m lab update CA" &&
	  _rauc_lab_signer ca signer "m2m lab update signer" &&
	  _rauc_lab_ca other-ca "m2m lab OTHER update CA" &&
	  _rauc_lab_signer other-ca other-signer "m2m lab update signer" ) ||
		lab_die "update PKI: $(tail -n 3 "$LAB/log/rauc-pki.log")"
	chmod 0644 "$RAUC_LAB_PKI"/*.pem
}

# _rauc_lab_conf KEYRING OUT: a system.conf for this device
_rauc_lab_conf() {
	cat > "$2" <<EOF
# RAUC system.conf of the lab device (written by tests/lab/rauc.sh)
[system]
compatible=$RAUC_LAB_COMPATIBLE
bootloader=custom
data-directory=$RAUC_LAB/data
mountprefix=$RAUC_LAB/mnt

[handlers]
bootloader-custom-backend=$RAUC_LAB_BOOT/backend.sh

[keyring]
path=$1
check-purpose=codesign

[slot.rootfs.0]
device=$RAUC_LAB/dev/rootfs.0
type=raw
bootname=A

[slot.rootfs.1]
device=$RAUC_LAB/dev/rootfs.1
type=raw
bootname=B
EOF
}

rauc_lab_device() {
	local r=$RAUC_LAB b=$RAUC_LAB_BOOT
	truncate -s "${RAUC_LAB_SLOT_MIB}M" "$r/dev/rootfs.0" "$r/dev/rootfs.1" || lab_die "slot files"
	echo A > "$b/primary"; echo good > "$b/state.A"; echo good > "$b/state.B"
	cat > "$b/backend.sh" <<EOF
#!/bin/sh
# the lab's bootloader (RAUC bootloader=custom): primary slot and good/bad state in files
B='$b'
EOF
	cat >> "$b/backend.sh" <<'EOF'
echo "$(date +%T.%N) $*" >> "$B/calls.log"
put() { echo "$2" > "$B/$1.tmp" && mv -f "$B/$1.tmp" "$B/$1"; }
case "$1" in
get-primary) cat "$B/primary" 2>/dev/null || echo A ;;
set-primary) put primary "$2" && put "state.$2" good ;;
get-state)   cat "$B/state.$2" 2>/dev/null || echo good ;;
set-state)
	put "state.$2" "$3" || exit 1
	while [ -f "$B/hang" ]; do sleep 0.1; done
	if [ "$3" = bad ] && [ -f "$B/killafter" ]; then
		n=$(cat "$B/killafter"); rm -f "$B/killafter"
		if [ "$n" = 0 ]; then kill -9 "$(cat "$B/victim")"
		else (sleep "$n"; kill -9 "$(cat "$B/victim")") < /dev/null > /dev/null 2>&1 &
		fi
	fi ;;
*) exit 1 ;;
esac
EOF
	chmod 0755 "$b/backend.sh"
	_rauc_lab_conf "$RAUC_LAB_PKI/ca.pem" "$RAUC_LAB_CONF"
	# the same device trusting the other CA: only for signing the "not genuine" bundles
	# (rauc bundle checks its own signature against the keyring of the config it is given)
	_rauc_lab_conf "$RAUC_LAB_PKI/other-ca.pem" "$r/other.conf"
}

# rauc_lab_bus_up: a dbus-daemon of type "system" with its own config and socket
rauc_lab_bus_up() {
	local d=$RAUC_LAB/dbus pid
	cat > "$d/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$d/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <!-- without it, no reply (not even the bus's own) reaches a client -->
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
	rm -f "$d/bus.sock"
	pid=$(dbus-daemon --config-file="$d/bus.conf" --fork --nopidfile --print-pid=1 \
		2>> "$LAB/log/dbus.err") || lab_die "dbus-daemon did not start: $(tail -n 2 "$LAB/log/dbus.err")"
	_lab_record rauc-dbus "$pid"
	wait_until 5 test -S "$d/bus.sock" || lab_die "no bus socket $d/bus.sock"
}

# _rauc_lab_answers: `rauc status` answers. Before the service holds its bus name, the
# client ends on GLib's g_error() (SIGTRAP): in a subshell, so that the shell's report of
# the signal goes to /dev/null and not into the test's output as if something crashed.
_rauc_lab_answers() { ( timeout 5 "$RAUC_LAB_BIN" -c "$RAUC_LAB_CONF" status ) > /dev/null 2>&1; }
# rauc_lab_service_start SLOT: `rauc service` booted from SLOT; ready when `rauc status` answers
rauc_lab_service_start() {
	local slot=${1:-A}
	echo "=== start booted $slot $(date -u +%T.%3N)" >> "$LAB/log/rauc-service.log"
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" \
		"$RAUC_LAB_BIN" -c "$RAUC_LAB_CONF" service --override-boot-slot="$slot" \
		>> "$LAB/log/rauc-service.log" 2>&1 < /dev/null &
	local pid=$!
	disown "$pid" 2> /dev/null
	_lab_record rauc-service "$pid"
	echo "$pid" > "$RAUC_LAB_BOOT/victim"
	wait_until 10 _rauc_lab_answers ||
		lab_die "rauc service (booted $slot) does not answer: $(tail -n 3 "$LAB/log/rauc-service.log")"
	RAUC_LAB_BOOTED=$slot
	lab_log "rauc service up, booted $slot (pid $pid)"
}
# rauc_lab_service_stop [SIGNAL]: stop the service (TERM; KILL for a crash)
rauc_lab_service_stop() { lab_stop rauc-service "${1:-TERM}" 5 > /dev/null 2>&1; return 0; }
# rauc_lab_service_alive: the recorded service runs
rauc_lab_service_alive() { lab_proc_alive rauc-service; }

# rauc_lab_up: the whole RAUC lab, the service booted from A
rauc_lab_up() {
	rauc_lab_init
	rauc_lab_pki
	rauc_lab_device
	rauc_lab_bus_up
	rauc_lab_service_start A
}

# rauc_lab_reboot SLOT: what a reboot into SLOT does to RAUC: the service goes away, the
# bundle mount and its loop device with it, and the service starts with SLOT booted
rauc_lab_reboot() {
	rauc_lab_service_stop TERM
	rm -f "$RAUC_LAB_BOOT/hang" "$RAUC_LAB_BOOT/killafter"
	rauc_lab_cleanup_mounts
	rauc_lab_service_start "$1"
}

# rauc_lab_fallback: the primary slot never comes up: the bootloader spends its boot attempts,
# marks it bad and boots the other slot, which it reports as primary from then on (barebox's
# bootchooser, and RAUC's U-Boot and GRUB boot scripts with their attempt counters, do so)
rauc_lab_fallback() {
	local b=$RAUC_LAB_BOOT p o
	p=$(cat "$b/primary")
	case $p in A) o=B ;; *) o=A ;; esac
	echo "$(date +%T.%N) (bootloader) fallback from $p to $o" >> "$b/calls.log"
	echo bad > "$b/state.$p"
	echo "$o" > "$b/primary"
	rauc_lab_reboot "$o"
}

# rauc_lab_bundle VERSION IMAGE [COMPATIBLE [SIGNER]]: a plain bundle whose one raw image
# (slot class rootfs) is the file IMAGE; SIGNER "other" signs with the untrusted CA's signer.
# Prints the bundle's path ($RAUC_LAB/bundles/VERSION[-SIGNER][-COMPATIBLE].raucb).
rauc_lab_bundle() {
	local ver=$1 img=$2 compat=${3:-$RAUC_LAB_COMPATIBLE} signer=${4:-signer} conf=$RAUC_LAB_CONF
	local c out
	[ "$signer" = other ] && { signer=other-signer; conf=$RAUC_LAB/other.conf; }
	out=$RAUC_LAB/bundles/$ver-$signer-$compat.raucb
	c=$(mktemp -d "$RAUC_LAB/bundles/content.XXXXXX") || lab_die "mktemp"
	cp "$img" "$c/rootfs.img" || lab_die "copy $img"
	printf '[update]\ncompatible=%s\nversion=%s\n\n[bundle]\nformat=plain\n\n[image.rootfs]\nfilename=rootfs.img\n' \
		"$compat" "$ver" > "$c/manifest.raucm"
	rm -f "$out"
	timeout 120 "$RAUC_LAB_BIN" -c "$conf" bundle --cert="$RAUC_LAB_PKI/$signer.pem" \
		--key="$RAUC_LAB_PKI/$signer.key" "$c" "$out" >> "$LAB/log/rauc-bundle.log" 2>&1 ||
		lab_die "rauc bundle $ver: $(tail -n 3 "$LAB/log/rauc-bundle.log")"
	rm -rf "$c"
	echo "$out"
}

# rauc_lab_http DIR: lighttpd serving DIR over plain http (Range, ETag) on a free port of
# 127.0.0.1, its base URL in RAUC_LAB_HTTP; stopped with the lab
rauc_lab_http() {
	local port
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat > "$RAUC_LAB/lighttpd.conf" << EOF
server.document-root = "$1"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$LAB/log/lighttpd.err"
mimetype.assign = ( "" => "application/octet-stream" )
EOF
	lab_bg rauc-http lighttpd -D -f "$RAUC_LAB/lighttpd.conf"
	wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2> /dev/null ||
		lab_die "lighttpd does not listen on $port: $(tail -n 3 "$LAB/log/rauc-http.err" "$LAB/log/lighttpd.err" 2> /dev/null)"
	RAUC_LAB_HTTP=http://127.0.0.1:$port
}

# rauc_lab_slot_state: the bootloader's view, "primary=X A=good|bad B=good|bad"
rauc_lab_slot_state() {
	local b=$RAUC_LAB_BOOT
	echo "primary=$(cat "$b/primary" 2>/dev/null) A=$(cat "$b/state.A" 2>/dev/null) B=$(cat "$b/state.B" 2>/dev/null)"
}
# rauc_lab_status: RAUC's own view (`rauc status --output-format=json`: booted, boot_primary,
# each slot's bootname and boot_status), "booted=X primary=Y A=good|bad B=good|bad"
rauc_lab_status() {
	timeout 10 "$RAUC_LAB_BIN" -c "$RAUC_LAB_CONF" status --output-format=json 2> /dev/null |
		python3 -c 'import json, sys
lines = sys.stdin.read().strip().splitlines()
d = json.loads(lines[-1]) if lines else {}
slots = {n: v for s in d.get("slots", []) for n, v in s.items()}
bn = lambda n: slots.get(n, {}).get("bootname", "?")
print("booted=%s primary=%s" % (d.get("booted"), bn(d.get("boot_primary"))),
      *sorted("%s=%s" % (v.get("bootname"), v.get("boot_status")) for v in slots.values()))'
}
# rauc_lab_slot_file A|B: the slot's file
rauc_lab_slot_file() { case $1 in A) echo "$RAUC_LAB/dev/rootfs.0" ;; B) echo "$RAUC_LAB/dev/rootfs.1" ;; esac; }
# rauc_lab_slot_is SLOT IMAGE: the slot starts with exactly the bytes of IMAGE
rauc_lab_slot_is() { cmp -s -n "$(stat -c %s "$2")" "$(rauc_lab_slot_file "$1")" "$2"; }

# rauc_lab_mounts: RAUC's mounts under the lab's mount prefix (a killed service leaves its
# bundle mounted)
rauc_lab_mounts() {
	[ -n "${RAUC_LAB:-}" ] || return 0
	awk -v p="$RAUC_LAB/mnt/" 'index($2, p) == 1 { print $2 }' /proc/mounts
}
# rauc_lab_loops: the loop devices backed by a file of this lab (RAUC's bundle loops)
rauc_lab_loops() {
	[ -n "${LAB:-}" ] || return 0
	losetup -n -l -O NAME,BACK-FILE 2> /dev/null |
		awk -v p="$LAB/" '{ n = $1; $1 = ""; sub(/^ /, ""); if (index($0, p) == 1) print n }'
}
# rauc_lab_cleanup_mounts: unmount RAUC's leftover mounts and detach the lab's loop devices
# (only those: loop devices are shared by the whole machine)
rauc_lab_cleanup_mounts() {
	local m l
	for m in $(rauc_lab_mounts | sort -r); do
		umount "$m" 2> /dev/null || umount -l "$m" 2> /dev/null
	done
	for l in $(rauc_lab_loops); do losetup -d "$l" 2> /dev/null; done
	return 0
}

# rauc_lab_down: stop the service (and its backend's helpers), the bus, then the mounts
# and loop devices. Idempotent; runs from the lab's exit trap.
rauc_lab_down() {
	[ -n "${RAUC_LAB:-}" ] || return 0
	rauc_lab_service_stop TERM
	rm -f "$RAUC_LAB_BOOT/hang" "$RAUC_LAB_BOOT/killafter"
	lab_stop rauc-dbus TERM 3 > /dev/null 2>&1
	rauc_lab_cleanup_mounts
	return 0
}

# ------------------------------------------------------------------ CLI (when executed)
_rauc_lab_vars() {
	RAUC_LAB=$LAB/rauc RAUC_LAB_CONF=$LAB/rauc/system.conf RAUC_LAB_BOOT=$LAB/rauc/boot
	RAUC_LAB_PKI=$LAB/rauc/pki
	export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$RAUC_LAB/dbus/bus.sock
}
_rauc_lab_main() {
	case ${1:-} in
	up)
		_LAB_MANUAL=1
		rauc_lab_require > /dev/null
		rauc_lab_up
		cat <<EOF
RAUC lab: $LAB (booted A)
  export DBUS_SYSTEM_BUS_ADDRESS=$DBUS_SYSTEM_BUS_ADDRESS
  rauc -c $RAUC_LAB_CONF status
  signer: $RAUC_LAB_PKI/signer.pem (key signer.key), trust: $RAUC_LAB_PKI/ca.pem
  tear down: $0 down $LAB
EOF
		;;
	down)
		[ -f "${2:-}/lab.env" ] || { echo "usage: $0 down DIR" >&2; exit 2; }
		LAB=${2%/}
		# shellcheck disable=SC1091
		. "$LAB/lab.env"
		_rauc_lab_vars
		rauc_lab_down
		_lab_teardown "$LAB" 0 && echo "RAUC lab $LAB torn down"
		;;
	*)
		sed -n '3,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
		exit 2
		;;
	esac
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	. "$(dirname "${BASH_SOURCE[0]}")/lab.sh"
	_rauc_lab_main "$@"
fi
