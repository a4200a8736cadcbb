#!/bin/bash
# 301-update-powercut.t - the update journal survives a real power cut at every write:
# the state and work directories on ext4 in a loop file; tests/tools/upd-journal runs the
# state machine (lib/update/journal.h) with file-writing fakes and SIGKILLs itself right
# after its N-th journal write; then EXT4_IOC_SHUTDOWN with NOLOGFLUSH (tests/tools/godown)
# drops everything not yet on the disk, umount + mount recovers the file system as after
# a cut, and the next run recovers the update. For each N:
#   - the N-th record (flushed before the process died) is what recovery reads: nothing
#     written after a completed step is lost;
#   - resumed, the update ends as an uninterrupted run does (state, result, the fakes'
#     side effects counted in their flushed log: none twice, the download byte for byte).
# Scenarios: committed, and rolled back by a failed health check.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=${M2M_BUILD_DIR:-$ROOT/build}/tests/tools
UJ=$TOOLS/upd-journal
n=0 failed=0
t() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }
diag() { sed 's/^/# /' <<< "$1"; }

if [ "$(id -u)" != 0 ]; then echo "1..0 # SKIP needs root (loop devices, mount)"; exit 0; fi
for p in losetup mkfs.ext4 mount umount; do
	command -v "$p" > /dev/null || { echo "1..0 # SKIP $p not found"; exit 0; }
done
[ -x "$UJ" ] && [ -x "$TOOLS/godown" ] || { echo "1..1"; echo "not ok 1 - $UJ or godown not built (make units)"; exit 1; }

TMP=$(mktemp -d /tmp/m2m-301.XXXXXX) || exit 1
MNT=$TMP/mnt
LOOP=
cleanup() {
	mountpoint -q "$MNT" && umount "$MNT"
	# loop devices are shared by the machine: detach exactly the one made here
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

truncate -s 64M "$TMP/disk.img" && mkfs.ext4 -q -F "$TMP/disk.img" || { echo "1..0 # SKIP mkfs.ext4 failed"; exit 0; }
LOOP=$(losetup -f --show "$TMP/disk.img") || { LOOP=; echo "1..0 # SKIP no loop device"; exit 0; }
mkdir -p "$MNT"
mount "$LOOP" "$MNT" || { echo "1..0 # SKIP cannot mount $LOOP"; exit 0; }

# the first two lines of status: the journal's record and the side effects
status() { "$UJ" "$1/state" "$1/work" status 2>&1; }
record_of() { sed -n 1p <<< "$1"; }
# "write N state=S done=D offset=O result=R" -> "state=S done=D offset=O result=R"
written() { sed -n "s/^write $2 //p" "$1"; }

for scenario in ok health; do
	# ---- an uninterrupted run: the writes and the end it reaches
	ref=$MNT/ref-$scenario
	mkdir -p "$ref/work"
	"$UJ" "$ref/state" "$ref/work" run --fail "$scenario" > "$TMP/ref.out" 2> "$TMP/ref.err"
	rc=$?
	want_rc=0 want_state=committed
	[ "$scenario" = health ] && want_rc=15 want_state=rolled-back
	[ "$rc" = "$want_rc" ]; t $? "$scenario: an uninterrupted run exits $want_rc"
	writes=$(grep -c '^write ' "$TMP/ref.out")
	[ "$writes" -ge 8 ]; t $? "$scenario: it writes $writes records"
	want=$(status "$ref")
	grep -q "^state=$want_state done=1 .* next=none$" <<< "$want"; t $? "$scenario: it ends $want_state, done" || diag "$want"
	cmp -s "$ref/work/download" "$MNT/ref-ok/work/download"; t $? "$scenario: the download is the package"

	for ((k = 1; k <= writes; k++)); do
		run=$MNT/$scenario-$k
		mkdir -p "$run/work"
		sync
		# in a subshell whose stderr takes bash's "Killed" notice
		rc=$( ("$UJ" "$run/state" "$run/work" run --fail "$scenario" --stop-at "$k" > "$TMP/run.out" 2> "$TMP/run.err"
			echo $?) 2> /dev/null)
		[ "$rc" = 137 ]; t $? "$scenario, cut at write $k: the process died right after it" || diag "$(cat "$TMP/run.out" "$TMP/run.err")"
		last=$(written "$TMP/run.out" "$k")
		# the power cut: nothing that was not flushed reaches the disk
		"$TOOLS/godown" "$MNT" 2; t $? "$scenario, cut at write $k: EXT4_IOC_SHUTDOWN (NOLOGFLUSH)"
		umount "$MNT" && mount "$LOOP" "$MNT"; t $? "$scenario, cut at write $k: umount and mount (recovery)"
		got=$(status "$run")
		# status prints next= as well; the record's own fields must match the write
		[ -n "$last" ] && [ "$(record_of "$got" | sed 's/ next=.*//')" = "$last" ]
		t $? "$scenario, cut at write $k: recovery reads record $k ($last)" || diag "$got"
		"$UJ" "$run/state" "$run/work" resume --fail "$scenario" > "$TMP/resume.out" 2> "$TMP/resume.err"
		got=$(status "$run")
		[ "$got" = "$want" ]; t $? "$scenario, cut at write $k: resumed, it ends as an uninterrupted run, no side effect twice" || diag "$got"$'\n'"want: $want"$'\n'"$(cat "$TMP/resume.err")"
		if [ "$scenario" = ok ]; then
			cmp -s "$run/work/download" "$ref/work/download"; t $? "$scenario, cut at write $k: the download is whole"
		fi
	done
done

echo "1..$n"
exit $((failed > 0))
