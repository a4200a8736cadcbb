#!/bin/bash
# lib/update's RAUC installer (install_rauc.c) against the real RAUC 1.8 service, through
# tests/tools/upd-install, on the lab's A/B device (tests/lab/rauc.sh: two file slots, a
# custom bootloader in files, a private D-Bus). What RAUC's documentation promises and the
# engine relies on: an install goes into the slot that is not booted and makes it primary;
# a reboot boots it; mark-good commits; mark-bad plus a rollback returns to the old slot.
# A bundle RAUC cannot verify is INTEGRITY, one for another device REFUSED, neither touches
# a slot. A service killed in the middle of an install (a power cut) leaves the old slot
# primary, and the same install, repeated after the restart, succeeds. A service or bus
# that is not there is DAEMON, a service that does not answer TIMEOUT, both within the
# bound.
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/rauc.sh"
rauc_lab_require
UPD=${M2M_BUILD_DIR:-$LAB_REPO/build}/tests/tools/upd-install
if [ ! -x "$UPD" ]; then echo "1..1"; echo "not ok 1 - $UPD exists (make units)"; exit 1; fi

rauc_lab_up

# upd ARGS...: upd-install rauc ARGS... -> UPD_RC UPD_OUT UPD_ERR UPD_MS
UPD_T=${UPD_T:-60000}
upd() {
	local t0
	t0=$(now_ms)
	timeout -k 3 120 "$UPD" -t "$UPD_T" -c "$RAUC_LAB_CONF" rauc "$@" \
		> "$LAB/log/upd.out" 2> "$LAB/log/upd.err" < /dev/null
	UPD_RC=$?
	UPD_MS=$(( $(now_ms) - t0 ))
	UPD_OUT=$(cat "$LAB/log/upd.out") UPD_ERR=$(cat "$LAB/log/upd.err")
	{ echo "=== upd-install rauc $* -> $UPD_RC in $UPD_MS ms"; cat "$LAB/log/upd.err"; } >> "$LAB/log/m2m.history"
}
upd_rc() {
	if [ "$UPD_RC" = "$1" ]; then pass "$2"; return 0; fi
	fail "$2"; diag "    expected exit $1, got $UPD_RC after $UPD_MS ms"
	diag "    stdout: ${UPD_OUT: -800}"; diag "    stderr: $UPD_ERR"; return 1
}
# the status line of upd-install: booted=A primary=B A=good B=bad (slot order sorted)
upd_state() { upd status; tr ' ' '\n' <<< "$UPD_OUT" | sort | tr '\n' ' ' | sed 's/ $//'; }
slot_sum() { sha256sum "$(rauc_lab_slot_file "$1")" | cut -d' ' -f1; }

for n in 1 2 3; do head -c $((n * 3 * 1048576 + 4096 * n)) /dev/urandom > "$LAB/img$n"; done
b1=$(rauc_lab_bundle 1.0 "$LAB/img1")
b2=$(rauc_lab_bundle 2.0 "$LAB/img2")
b3=$(rauc_lab_bundle 3.0 "$LAB/img3")
bother=$(rauc_lab_bundle 9.0 "$LAB/img3" "" other)
bcompat=$(rauc_lab_bundle 9.0 "$LAB/img3" other-device)

# ---- install into the inactive slot, reboot, commit
is "$(upd_state)" "A=good B=good booted=A primary=A" "a fresh device: booted A, primary A, both good"
upd install "$b1"
upd_rc 0 "install 1.0 while A is booted"
like "$UPD_OUT" "progress 100% Installing done" "RAUC's progress reached the callback"
ok "slot B holds 1.0's image" rauc_lab_slot_is B "$LAB/img1"
is "$(rauc_lab_slot_state)" "primary=B A=good B=good" "the bootloader: B primary (and bootable)"
upd install "$b1"
upd_rc 0 "the same install again (the journal repeats it after a power cut)"
ok "slot B still holds 1.0" rauc_lab_slot_is B "$LAB/img1"

rauc_lab_reboot B
is "$(upd_state)" "A=good B=good booted=B primary=B" "after the reboot: booted B"
upd mark-good
upd_rc 0 "mark-good (commit 1.0)"
is "$(rauc_lab_slot_state)" "primary=B A=good B=good" "B good and primary"
grep -q 'set-state B good' "$RAUC_LAB_BOOT/calls.log"; is $? 0 "mark-good reached the bootloader"

# ---- a second version that fails its health check: mark bad, roll back
upd install "$b2"
upd_rc 0 "install 2.0 while B is booted"
ok "slot A holds 2.0's image" rauc_lab_slot_is A "$LAB/img2"
is "$(rauc_lab_slot_state)" "primary=A A=good B=good" "A primary"
rauc_lab_reboot A
upd mark-bad
upd_rc 0 "mark-bad of the booted slot A"
is "$(rauc_lab_slot_state)" "primary=A A=bad B=good" "A bad"
upd rollback
upd_rc 0 "rollback (the new slot guessed: the booted one, marked bad)"
is "$(rauc_lab_slot_state)" "primary=B A=bad B=good" "rolled back: B primary, A bad"
upd -S A rollback
upd_rc 0 "rollback again, naming the target A as the journal does (idempotent)"
is "$(rauc_lab_slot_state)" "primary=B A=bad B=good" "still B primary, A bad"
rauc_lab_reboot B
is "$(upd_state)" "A=bad B=good booted=B primary=B" "the bootloader boots B again"

# ---- rollback before the reboot: the new slot is primary, not booted
upd install "$b2"
upd_rc 0 "install 2.0 again into A"
upd rollback
upd_rc 0 "rollback before rebooting into it (guessed: the primary, not booted)"
is "$(rauc_lab_slot_state)" "primary=B A=bad B=good" "B primary again, A bad"
upd -S A rollback
upd_rc 0 "and again, naming the target"
is "$(rauc_lab_slot_state)" "primary=B A=bad B=good" "nothing changed"
upd -S C rollback
upd_rc 14 "a target RAUC does not know: NOT_FOUND"

# ---- bundles RAUC refuses: nothing touched
sumA=$(slot_sum A) sumB=$(slot_sum B) st=$(rauc_lab_slot_state)
upd install "$bother"
upd_rc 17 "a bundle signed under another CA: INTEGRITY"
like "$UPD_ERR" "signature verification failed" "the message is RAUC's reason"
upd install "$bcompat"
upd_rc 18 "a bundle for another device (compatible): REFUSED"
like "$UPD_ERR" "Compatible mismatch" "the message says so"
head -c $(( $(stat -c %s "$b3") / 2 )) "$b3" > "$LAB/truncated.raucb"
upd install "$LAB/truncated.raucb"
upd_rc 17 "a truncated bundle: INTEGRITY"
upd install "$LAB/no-such.raucb"
upd_rc 14 "no such bundle: NOT_FOUND"
is "$(slot_sum A) $(slot_sum B) $(rauc_lab_slot_state)" "$sumA $sumB $st" "no slot and no boot state touched"

# ---- a power cut in the middle of an install: the service killed by the bootloader
#      backend when RAUC marks the target slot bad, before the copy
echo 0 > "$RAUC_LAB_BOOT/killafter"
upd install "$b3"
case $UPD_RC in 4 | 1) pass "the service killed during the install: DAEMON or FAILURE ($UPD_RC)" ;;
*) fail "the service killed during the install: DAEMON or FAILURE"; diag "rc $UPD_RC: $UPD_ERR" ;; esac
cmp_ok "$UPD_MS" -lt 20000 "reported at once ($UPD_MS ms)"
nok "the service is gone" rauc_lab_service_alive
is "$(rauc_lab_slot_state)" "primary=B A=bad B=good" "the old slot B stays primary"
note "left behind by the killed service: mounts [$(rauc_lab_mounts | tr '\n' ' ')] loops [$(rauc_lab_loops | tr '\n' ' ')]"
rauc_lab_reboot B
upd install "$b3"
upd_rc 0 "the same install after the restart succeeds"
ok "slot A holds 3.0's image" rauc_lab_slot_is A "$LAB/img3"
is "$(rauc_lab_slot_state)" "primary=A A=good B=good" "A primary"
rauc_lab_reboot A
upd mark-good
upd_rc 0 "3.0 committed"

# ---- a service that does not answer in time: TIMEOUT within the bound
touch "$RAUC_LAB_BOOT/hang"
UPD_T=3000 upd install "$b1"
upd_rc 5 "an install that hangs: TIMEOUT"
cmp_ok "$UPD_MS" -ge 3000 "not before the bound ($UPD_MS ms)"
cmp_ok "$UPD_MS" -lt 7000 "nor much after it (bound 3 s + SIGTERM grace)"
rauc_lab_reboot A

# ---- no service, no bus: DAEMON, within the bound
rauc_lab_service_stop TERM
UPD_T=10000 upd status
upd_rc 4 "status with the service stopped: DAEMON"
cmp_ok "$UPD_MS" -lt 10000 "within the bound ($UPD_MS ms)"
UPD_T=10000 upd install "$b1"
upd_rc 4 "install with the service stopped: DAEMON"
like "$UPD_ERR" "rauc install: " "the message names the call"
UPD_T=10000 upd probe
upd_rc 4 "probe with the service stopped: DAEMON"
lab_stop rauc-dbus TERM 3 > /dev/null 2>&1
UPD_T=10000 upd status
upd_rc 4 "status without a bus: DAEMON"
"$UPD" -t 10000 -c "$RAUC_LAB_CONF" -r /nonexistent/rauc rauc status > /dev/null 2>&1
is $? 4 "rauc not installed: DAEMON"

done_testing
