#!/bin/bash
# 313-update-fallback-after-commit.t - the bootloader gives up on a firmware AFTER its commit,
# on the real RAUC 1.8 (tests/lab/rauc.sh: two file slots A/B, a custom bootloader in files,
# the service on a private D-Bus; a reboot is a restart of the service with another booted
# slot; rauc_lab_fallback: the primary slot's boot attempts run out, the bootloader marks it
# bad and boots the other one, primary from then on).
# What the device runs is what booted: the Device object's Firmware Version (/3/0/3, TS 1.1
# Core E.4 "Current firmware version of the Device"; m2mdm-status shows the same value) and
# `m2mdm-update status` must name the firmware of the slot that booted, never the one the
# bootloader gave up on. `m2mdm-update check` (the boot's run) notices the fallback: one
# warning line, exit 0 (the old, good firmware runs: no failure of check), the fallback in
# `status` (text and --json, m2m.update/1: members "firmware" and "fallback").
#   1 the first commit (1.0.0 into B), then a fallback to the factory slot A, whose version
#     nobody recorded and RAUC never installed: the version is not known, and not claimed
#   2 2.0.0 into B, 3.0.0 into A, both committed; A falls back to B: 2.0.0 runs (the record
#     of what was committed into each slot); a second check says nothing more
#   3 a record written before the slots were kept ({"name","version","slot"} alone), then a
#     fallback: the version RAUC's slot status has for the booted slot's bundle
#   4 not a fallback: a rolled-back update whose reboot back into the committed slot is due
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/rauc.sh"
rauc_lab_require
command -v python3 > /dev/null || { echo "1..0 # SKIP missing python3 (scripts/deps.sh)"; exit 0; }
T=${M2M_BIN_DIR:-$LAB_REPO/build/bin}/m2mdm-update
DM=${M2M_BIN_DIR:-$LAB_REPO/build/bin}/m2mdm-status
for t in "$T" "$DM"; do
	if [ ! -x "$t" ]; then echo "1..1"; echo "not ok 1 - $t exists (make)"; exit 1; fi
done

rauc_lab_up
P=$RAUC_LAB_PKI
EXP=$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)
KERNEL="$(uname -s) $(uname -r)"
cat > "$LAB/ok.yaml" << EOF
version: 1
device:
  id: lab-313
  model: lab-a
state_dir: $LAB/state
update:
  trust: $P/ca.pem
  timeout: 120
  jitter: 0
  health: {timeout: 60s}
  installers:
    rauc:
      config: $RAUC_LAB_CONF
EOF
chmod 0600 "$LAB/ok.yaml"

# run ARGS...: the tool -> RC OUT ERR
run() {
	timeout -k 5 180 "$T" -c "$LAB/ok.yaml" "$@" > "$LAB/out" 2> "$LAB/err" < /dev/null
	RC=$?
	OUT=$(cat "$LAB/out") ERR=$(cat "$LAB/err")
	{ echo "=== m2mdm-update $* -> $RC"; cat "$LAB/out" "$LAB/err"; } >> "$LAB/log/m2m.history"
}
run_rc() {
	if [ "$RC" = "$1" ]; then pass "$2"; return 0; fi
	fail "$2"; diag "    expected exit $1, got $RC"; diag "    stdout: $OUT"; diag "    stderr: $ERR"
	return 1
}
# st PATH...: members of `status --json` (a.b: b of the object a; None for null or absent)
st() {
	"$T" -c "$LAB/ok.yaml" status --json > "$LAB/status.json" 2> /dev/null
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
def get(p):
    v = d
    for k in p.split("."):
        v = v.get(k) if isinstance(v, dict) else None
    return v
print(" ".join(str(get(p)) for p in sys.argv[2:]))' "$LAB/status.json" "$@"
}
# fwv: what m2mdm-status says the Device object's Firmware Version (/3/0/3) is
fwv() {
	"$DM" -c "$LAB/ok.yaml" --json 2> /dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["device"].get("firmware_version"))'
}
# pkg VERSION: a RAUC bundle of a fresh image in a package signed by the lab's signer
pkg() {
	local b
	head -c $((1048576 + 4096 * ${1%%.*})) /dev/urandom > "$LAB/img$1"
	b=$(rauc_lab_bundle "$1" "$LAB/img$1")
	printf '{"format":1,"type":"firmware","name":"lab-fw","version":"%s","models":["lab-a"],"installer":"rauc","expires":"%s"}\n' \
		"$1" "$EXP" > "$LAB/m-$1.json"
	"$T" -q sign --manifest "$LAB/m-$1.json" --payload "$b" --key "$P/signer.key" \
		--cert "$P/signer.pem" -o "$LAB/fw-$1.m2mupd" 2>> "$LAB/log/sign.err"
}
ok "packages 1.0.0 2.0.0 3.0.0 4.0.0 5.0.0 (RAUC bundles inside)" eval \
	'pkg 1.0.0 && pkg 2.0.0 && pkg 3.0.0 && pkg 4.0.0 && pkg 5.0.0' || diag "$(cat "$LAB/log/sign.err")"
# commit VERSION SLOT: install, reboot into SLOT, check commits it
commit() {
	run install "$LAB/fw-$1.m2mupd"
	[ "$RC" = 0 ] || return 1
	rauc_lab_reboot "$2"
	run check
	[ "$RC" = 0 ] && [ "$(st state installed firmware.version firmware.slot)" = "committed $1 $1 $2" ]
}

# ==== 1 the first commit, then a fallback to the factory slot
is "$(rauc_lab_status)" "booted=A primary=A A=good B=good" "RAUC: a fresh device, booted A"
ok "1: 1.0.0 installed into B, rebooted, committed by check" commit 1.0.0 B
is "$(fwv)" "1.0.0" "1: Firmware Version (m2mdm-status, /3/0/3's value): 1.0.0"
is "$(st fallback)" "None" "1: status --json: no fallback"
rauc_lab_fallback
is "$(rauc_lab_status)" "booted=A primary=A A=good B=bad" "1: RAUC: the bootloader gave up on B, booted A"
run check
run_rc 0 "1: check after the fallback: exit 0 (the old firmware runs; not a failure)"
like "$ERR" "the bootloader fell back from slot B \(lab-fw 1\.0\.0, committed [0-9TZ:-]+\) to slot A: the firmware version it runs is not known" \
	"1: one warning line: from where, what, when, to where; the version not known"
is "$(grep -c 'fell back' "$LAB/err")" 1 "1: ... one line"
is "$(st firmware.version firmware.slot fallback.version fallback.slot state installed)" \
	"None A 1.0.0 B committed 1.0.0" \
	"1: status --json: running slot A, version not known (null); fallback from 1.0.0 in B"
isnt "$(fwv)" "1.0.0" "1: Firmware Version is not the version the bootloader gave up on"
is "$(fwv)" "$KERNEL" "1: ... it is the running kernel, as before any firmware was committed"
"$T" -c "$LAB/ok.yaml" status > "$LAB/status.txt" 2>&1
like "$(cat "$LAB/status.txt")" "Firmware +not known \(slot A\)" "1: status (text): the firmware not known, slot A"
like "$(cat "$LAB/status.txt")" "fallback +the bootloader fell back from slot B \(lab-fw 1\.0\.0, committed " \
	"1: status (text): the fallback, from which slot and firmware"
run check
run_rc 0 "1: a second check: exit 0"
is "$OUT$ERR" "" "1: ... and silent: the fallback was said once"

# ==== 2 two committed slots; the newer one falls back to the older
ok "2: 2.0.0 installed into B (the slot not booted), committed" commit 2.0.0 B
is "$(st fallback)" "None" "2: status --json: the commit ended the fallback"
ok "2: 3.0.0 installed into A, committed" commit 3.0.0 A
is "$(fwv)" "3.0.0" "2: Firmware Version 3.0.0"
rauc_lab_fallback
is "$(rauc_lab_status)" "booted=B primary=B A=bad B=good" "2: RAUC: the bootloader gave up on A, booted B"
run check
run_rc 0 "2: check after the fallback: exit 0"
like "$ERR" "the bootloader fell back from slot A \(lab-fw 3\.0\.0, committed [0-9TZ:-]+\) to slot B: running lab-fw 2\.0\.0\$" \
	"2: the warning: running 2.0.0, the firmware committed into B"
is "$(st firmware.version firmware.slot firmware.source fallback.version fallback.slot)" "2.0.0 B record 3.0.0 A" \
	"2: status --json: 2.0.0 runs from B (the record); the fallback from 3.0.0 in A"
like "$(st firmware.committed fallback.committed fallback.time)" "^[0-9-]+T[0-9:]+Z [0-9-]+T[0-9:]+Z [0-9-]+T[0-9:]+Z\$" \
	"2: status --json: the times in UTC"
is "$(fwv)" "2.0.0" "2: Firmware Version (/3/0/3's value) 2.0.0, not 3.0.0"
run check
run_rc 0 "2: a second check: exit 0"
is "$OUT$ERR" "" "2: ... and silent"
is "$(fwv)" "2.0.0" "2: Firmware Version still 2.0.0"

# ==== 3 a record of before the slots were kept, then a fallback: RAUC's word for the slot
ok "3: 4.0.0 installed into A, committed" commit 4.0.0 A
printf '{"name":"lab-fw","version":"4.0.0","slot":"A"}' > "$LAB/state/update.firmware"
is "$(fwv)" "4.0.0" "3: the old record read as before: Firmware Version 4.0.0"
rauc_lab_fallback
is "$(rauc_lab_status)" "booted=B primary=B A=bad B=good" "3: RAUC: the bootloader gave up on A, booted B"
run check
run_rc 0 "3: check after the fallback: exit 0"
like "$ERR" "fell back from slot A \(lab-fw 4\.0\.0, committed at a time not recorded\) to slot B: running lab-fw 2\.0\.0 \(RAUC's status of the slot\)" \
	"3: the warning: 2.0.0, RAUC's bundle version of slot B"
is "$(st firmware.version firmware.slot firmware.source fallback.version)" "2.0.0 B rauc 4.0.0" \
	"3: status --json: 2.0.0 from RAUC's status of B"
is "$(fwv)" "2.0.0" "3: Firmware Version 2.0.0"

# ==== 4 an update rolled back while its slot runs: the reboot back is due, not a fallback
run install "$LAB/fw-5.0.0.m2mupd"
run_rc 0 "4: 5.0.0 installed into A"
rauc_lab_reboot A
run --manual check
run_rc 0 "4: rebooted into A, check --manual: awaiting a decision"
run rollback
run_rc 0 "4: a technician's rollback while A runs"
is "$(rauc_lab_status)" "booted=A primary=B A=bad B=good" "4: RAUC: A booted, B primary again (the reboot back is due)"
run check
run_rc 0 "4: check: exit 0"
unlike "$ERR" "fell back" "4: no fallback said: the reboot into B is due"
is "$(st firmware.version firmware.slot fallback.version)" "2.0.0 B 4.0.0" "4: status --json: the record unchanged"

rauc_lab_down
is "$(rauc_lab_mounts)$(rauc_lab_loops)" "" "no RAUC mount and no loop device of the lab left"
done_testing
