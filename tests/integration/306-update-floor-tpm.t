#!/bin/bash
# 306-update-floor-tpm.t - the anti-rollback floor in a TPM 2.0 NV index (lib/update/floor_tpm.c)
#   against a real swtpm started here (reached directly through the swtpm TCTI), driven by
#   tests/tools/upd-floor, each call its own process:
#   a fresh index holds no floor; raise then get; a lower raise changes nothing; another
#   process (through m2m.yaml's update.floor) sees it; it survives a clean restart and a
#   kill -9 of swtpm, and the deletion of the state directory (the file backend does not);
#   a damaged newest copy falls back to the copy before it (what a cut write leaves), junk
#   or zeros over the whole index are an error (19) every time; the index full is an
#   error (19) that keeps what is there; an index that is not ours (3); no TPM (16).
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
for c in swtpm swtpm_ioctl tpm2_nvdefine tpm2_nvwrite tpm2_nvread od; do
	command -v "$c" > /dev/null || { echo "1..0 # SKIP missing $c (scripts/deps.sh)"; exit 0; }
done
FLOOR=$LAB_REPO/build/tests/tools/upd-floor
[ -x "$FLOOR" ] || { echo "1..1"; echo "not ok 1 - $FLOOR exists (make units)"; exit 1; }
lab_init
T=$LAB/tpm
mkdir -p "$T/state"
TCTI="swtpm:path=$T/swtpm.sock"
IDX=0x01800f00
export TSS2_LOG=all+none TPM2TOOLS_TCTI=$TCTI

tpm_start() {
	rm -f "$T/swtpm.pid"
	swtpm socket --tpm2 --tpmstate dir="$T/state" \
		--server type=unixio,path="$T/swtpm.sock" --ctrl type=unixio,path="$T/swtpm.sock.ctrl" \
		--flags not-need-init,startup-clear --pid file="$T/swtpm.pid" --log file="$T/swtpm.log" \
		--daemon 2>> "$LAB/log/tpm.err" || lab_die "swtpm did not start"
	wait_until 3 test -s "$T/swtpm.pid" || lab_die "swtpm wrote no pid file"
	_lab_record swtpm "$(cat "$T/swtpm.pid")"
}
# tpm_stop [kill]: a clean shutdown (swtpm saves its state), or kill -9
tpm_stop() {
	if [ "${1:-}" = kill ]; then lab_stop swtpm KILL 3; return; fi
	swtpm_ioctl --unix "$T/swtpm.sock.ctrl" -s > /dev/null 2>&1
	local p; p=$(lab_pid swtpm)
	wait_until 3 eval '! lab_proc_alive swtpm' || diag "swtpm $p did not stop"
	lab_stop swtpm TERM 3
}
# fl WHERE... VERB ARGS: one upd-floor process; M2M_RC, M2M_OUT, M2M_ERR as m2m() sets them
fl() {
	M2M_CMD="upd-floor $*"
	M2M_OUT=$("$FLOOR" "$@" 2> "$LAB/log/fl.err"); M2M_RC=$?
	M2M_ERR=$(cat "$LAB/log/fl.err"); M2M_MS=0
}
tpm() { fl tcti="$TCTI" index="${TIDX:-$IDX}" "$@"; }
# gen_at OFFSET: the generation of the copy at OFFSET of the index (its bytes 6..9)
gen_at() { tpm2_nvread "$IDX" -s 4 --offset $(($1 + 6)) 2> /dev/null | od -An -tu4 --endian=big | tr -d ' '; }

tpm_start

# ---- a fresh index: no floor
tpm get pos-firmware
is_rc 0 "get on an index not defined yet: exit 0"
is "$M2M_OUT" "" "get on an index not defined yet: no floor"
tpm raise pos-firmware 2.4.1
is_rc 0 "raise to 2.4.1: exit 0"
tpm get pos-firmware
is "$M2M_OUT" "2.4.1" "get: 2.4.1"
ok "the index was defined: ordinary, authread|authwrite|no_da, 1024 bytes" \
	eval 'tpm2_nvreadpublic "$IDX" 2> /dev/null | grep -q "authwrite|authread|no_da|written" &&
	      tpm2_nvreadpublic "$IDX" 2> /dev/null | grep -q "size: 1024"'
tpm raise pos-firmware 2.3.9
is_rc 0 "raise to a lower version: exit 0 (nothing to do)"
tpm get pos-firmware
is "$M2M_OUT" "2.4.1" "the lower raise changed nothing"
g=$(gen_at 0)
tpm raise pos-firmware 2.4.1.0
is_rc 0 "raise to the same version again: exit 0"
is "$(gen_at 0)" "$g" "the same version again writes nothing (the generation is unchanged)"
tpm raise pos-firmware 2.10
tpm raise pos-app 7
tpm get pos-firmware
is "$M2M_OUT" "2.10" "raised again: 2.10"
tpm get pos-app
is "$M2M_OUT" "7" "a second package name: 7"
tpm get other
is "$M2M_OUT" "" "a name never raised: no floor"

# ---- another process, through m2m.yaml's update.floor
D=$LAB/dev
cat > "$D/m2m.yaml" <<EOF
version: 1
device:
  id: dev1.lab
  model: pos-a
state_dir: $D/state
update:
  trust: $LAB_CA
  floor:
    tpm:
      tcti: "$TCTI"
      index: $IDX
EOF
chmod 0600 "$D/m2m.yaml"
fl config="$D/m2m.yaml" get pos-firmware
is_rc 0 "another process through m2m.yaml's update.floor: exit 0"
is "$M2M_OUT" "2.10" "another process sees 2.10"

# ---- the state directory deleted: the TPM keeps the floor, the file backend does not
fl state="$D/state" raise pos-firmware 2.10
is_rc 0 "the file backend: raise to 2.10"
rm -rf "$D/state"
fl state="$D/state" get pos-firmware
is "$M2M_OUT" "" "the state directory deleted: the file backend's floor is gone"
tpm get pos-firmware
is "$M2M_OUT" "2.10" "the state directory deleted: the TPM's floor is 2.10"

# ---- swtpm restarted with its state: a clean shutdown, then a kill -9 right after a raise
tpm_stop
tpm_start
tpm get pos-firmware
is "$M2M_OUT" "2.10" "swtpm restarted: 2.10"
tpm raise pos-firmware 3.0
tpm_stop kill
tpm_start
tpm get pos-firmware
is "$M2M_OUT" "3.0" "swtpm killed (-9) right after a raise, restarted: 3.0"

# ---- the newest copy damaged (what a write cut by a power loss leaves): the copy before it
ga=$(gen_at 0) gb=$(gen_at 512)
if [ "$ga" -gt "$gb" ]; then newest=0; else newest=512; fi
head -c 40 /dev/urandom > "$LAB/junk40"
ok "junk over the newest copy (tpm2_nvwrite)" quiet tpm2_nvwrite "$IDX" -i "$LAB/junk40" --offset "$newest"
tpm get pos-firmware
is_rc 0 "the newest copy damaged: exit 0"
is "$M2M_OUT" "2.10" "the newest copy damaged: the floor before it (2.10), never none"
tpm raise pos-firmware 3.0
is_rc 0 "the raise again (as the journal re-runs a commit): exit 0"
tpm get pos-firmware
is "$M2M_OUT" "3.0" "raised again: 3.0"

# ---- junk over both copies: damaged, every time, for get and raise
head -c 1024 /dev/urandom > "$LAB/junk"
ok "junk over the whole index" quiet tpm2_nvwrite "$IDX" -i "$LAB/junk"
for i in 1 2; do
	tpm get pos-firmware
	is_rc 19 "junk: get exits 19 (storage), time $i"
	like "$M2M_ERR" "NV index 0x01800f00: damaged" "junk: the message says damaged"
done
ok "junk: one line" one_line "$M2M_ERR"
tpm raise pos-firmware 9.9
is_rc 19 "junk: raise exits 19 and writes nothing"
ok "junk: the index is as it was" \
	eval 'tpm2_nvread "$IDX" -s 1024 2> /dev/null | cmp -s - "$LAB/junk"'
head -c 1024 /dev/zero > "$LAB/zero"
quiet tpm2_nvwrite "$IDX" -i "$LAB/zero"
tpm get pos-firmware
is_rc 19 "zeros over a written index: exit 19 (never 'no floor')"

# ---- defined by hand, never written: no floor; then full
TIDX=0x01800f01
ok "an index defined by hand with the documented attributes" \
	quiet tpm2_nvdefine "$TIDX" -s 1024 -a "authread|authwrite|no_da"
tpm get pos-firmware
is_rc 0 "defined, never written: exit 0"
is "$M2M_OUT" "" "defined, never written: no floor"
# 63-character names with 4-part versions take 81 bytes each: 6 fit in a 512-byte copy
for i in 1 2 3 4 5 6; do
	tpm raise "$(printf 'p%062d' "$i")" 1.2.3.4
	[ "$M2M_RC" = 0 ] || break
done
is_rc 0 "six long names fit"
tpm raise "$(printf 'p%062d' 7)" 1.2.3.4
is_rc 19 "the seventh: the index is full, exit 19"
like "$M2M_ERR" "NV index 0x01800f01 \(1024 bytes\) is full" "full: the index and its size named"
tpm get "$(printf 'p%062d' 7)"
is "$M2M_OUT" "" "full: the seventh has no floor"
tpm get "$(printf 'p%062d' 3)"
is "$M2M_OUT" "1.2.3.4" "full: the ones before are kept"
tpm raise "$(printf 'p%062d' 3)" 1.2.3.5
is_rc 0 "full: a known name is still raised"

# ---- an index that is not ours; no TPM
TIDX=0x01800f02
quiet tpm2_nvdefine "$TIDX" -s 64 -a "ownerread|ownerwrite"
tpm get pos-firmware
is_rc 3 "an index with other attributes: exit 3 (config)"
like "$M2M_ERR" "not one for the floor" "another index: the message says so"
TIDX=
tpm_stop
tpm get pos-firmware
is_rc 16 "no TPM: exit 16 (device)"
like "$M2M_ERR" "TCTI '$TCTI'" "no TPM: the TCTI named"

done_testing
