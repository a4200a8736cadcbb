#!/bin/bash
# 308-update-engine.t - the update engine itself (m2m/update.h, through tests/tools/upd-engine)
# survives a power cut at every journal write, with the real pull, verifier and installer:
# the state and download directories on ext4 in a loop file; a signed package pulled over
# http from lighttpd (3 MiB, so the download checkpoints several times) and installed by
# the script installer; upd-engine SIGKILLs itself right after its N-th journal record,
# EXT4_IOC_SHUTDOWN with NOLOGFLUSH (tests/tools/godown) drops everything not on the
# disk, umount + mount recovers the file system, and `continue` finishes the update.
# Each N twice: the process killed alone (its unflushed writes stay in the page cache), and
# the power lost as well. Each time the update ends as an uninterrupted run does: the same state, result,
# installed version and floor, the installed payload byte for byte the signed one, the
# download resumed (never restarted from 0 once a checkpoint is on the disk).
# Scenarios: pulled and committed by the health check; pulled and rolled back by a
# failed health check; pushed block by block (a push cut off before its end cannot be
# resumed: it fails with UNREACHABLE, 6; cut after it, it ends committed).
. "$(dirname "$0")/lwm2m-lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (loop devices, mount)"
for p in lighttpd losetup mkfs.ext4 mount umount openssl; do
	command -v $p >/dev/null || skip_all "$p not installed (scripts/deps.sh)"
done
ENG=$TOOLS/upd-engine
[ -x "$ENG" ] && [ -x "$TOOLS/godown" ] && [ -x "$TOOLS/upd-pkg" ] || skip_all "build the tools first (make units)"

MNT=$T/mnt
LOOP=
_cleanup308() {
	mountpoint -q "$MNT" && umount "$MNT"
	# loop devices are shared by the machine: detach exactly the one made here
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	_cleanup
}
trap _cleanup308 EXIT

# ---- the vendor: a CA, a code-signing certificate, packages
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" \
	-out "$T/ca.pem" -subj /CN=vendor-root -days 30 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/vendor.key" \
	-out "$T/vendor.csr" -subj /CN=vendor-signer 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' >"$T/cs.ext"
openssl x509 -req -in "$T/vendor.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
	-days 20 -extfile "$T/cs.ext" -out "$T/vendor.pem" 2>/dev/null
W=$T/www
mkdir -p "$W"
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$T/payload.bin"
EXP=$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)
"$TOOLS/upd-pkg" sign "$W/app.pkg" "$T/payload.bin" type=software name=pos-app version=2.4.1 \
	model=pos-a installer=script expires="$EXP" -- file path="$T/vendor.key" cert="$T/vendor.pem" >/dev/null
ok $? "a signed package of 3 MiB"

# ---- lighttpd serves it over http (Range, RFC 7233)
hp=$(free_port)
cat >"$T/lighttpd.conf" <<EOF
server.document-root = "$W"
server.bind = "127.0.0.1"
server.port = $hp
server.errorlog = "$T/lighttpd.err"
mimetype.assign = ( "" => "application/octet-stream" )
EOF
bg "$T/lighttpd.out" lighttpd -D -f "$T/lighttpd.conf"
for ((i = 0; i < 100; i++)); do ss -Hltn "sport = :$hp" | grep -q . && break; sleep 0.05; done
URL=http://127.0.0.1:$hp/app.pkg

# ---- the disk that loses power
truncate -s 96M "$T/disk.img" && mkfs.ext4 -q -F "$T/disk.img" || skip_all "mkfs.ext4 failed"
LOOP=$(losetup -f --show "$T/disk.img") || { LOOP=; skip_all "no loop device"; }
mkdir -p "$MNT"
mount "$LOOP" "$MNT" || skip_all "cannot mount $LOOP"

# remount: the disk mounted again after the power cut. What the killed engine started (its
# installer) may still hold a file on it for a moment: umount is tried again for up to 5 s
# (a disk left shut down fails every step after it with EIO, as a loaded CI machine showed)
remount() {
	local i
	for ((i = 0; i < 50; i++)); do
		umount "$MNT" 2>/dev/null && { mount "$LOOP" "$MNT"; return; }
		sleep 0.1
	done
	umount "$MNT" && mount "$LOOP" "$MNT"
}

# conf RUN: a config whose state lives in $MNT/RUN, and its installer: a script that records
# each call (flushed) and keeps what it installed, on the same disk (the script's
# environment is the contract's fixed one: the run is written into the script)
mkdir -p "$T/bin"
conf() {
	cat >"$T/bin/$1" <<EOF
#!/bin/sh
echo "\$1 \$M2M_UPDATE_VERSION" >> "$MNT/$1.calls"
sync "$MNT/$1.calls"
if [ "\$1" = install ]; then
	cp "\$2" "$MNT/$1.installed.tmp" && sync "$MNT/$1.installed.tmp" &&
		mv "$MNT/$1.installed.tmp" "$MNT/$1.installed" && sync "$MNT"
fi
EOF
	chmod 0755 "$T/bin/$1"
	cat >"$T/$1.yaml" <<EOF
version: 1
device:
  id: dev-308
  model: pos-a
state_dir: $MNT/$1/state
update:
  trust: $T/ca.pem
  health:
    timeout: 60s
  installers:
    script:
      path: $T/bin/$1
      timeout: 30s
EOF
	chmod 0600 "$T/$1.yaml"
}
# eng RUN VERB...: upd-engine on RUN's config; output in $T/eng.out, its log in $T/eng.err
eng() { local r=$1; shift; UPD_LOG=1 "$ENG" "$T/$r.yaml" "$@" >"$T/eng.out" 2>"$T/eng.err"; }
status() { "$ENG" "$T/$1.yaml" status 2>&1; }

for scenario in pull health push; do
	health=ok verb=(install "$URL") want_state=committed want_rc=0
	[ "$scenario" = health ] && health=fail want_state=rolled-back want_rc=6
	[ "$scenario" = push ] && verb=(push "$W/app.pkg" 4096)
	ref=ref-$scenario
	conf "$ref"
	UPD_HEALTH=$health eng "$ref" "${verb[@]}"
	is "$?" "$want_rc" "$scenario: an uninterrupted run exits $want_rc"
	writes=$(grep -c '^write ' "$T/eng.out")
	[ "$writes" -ge 8 ]; ok $? "$scenario: it writes $writes journal records"
	want=$(status "$ref")
	grep -q "^state=$want_state done=1 name=pos-app version=2.4.1 " <<<"$want"
	ok $? "$scenario: it ends $want_state, done ($want)"
	if [ "$scenario" != health ]; then
		cmp -s "$MNT/$ref.installed" "$T/payload.bin"; ok $? "$scenario: the installed payload is the signed one"
	fi
	# the download's checkpoints: the record numbers of "downloading"
	last_dl=$(grep -n ' downloading' "$T/eng.out" | tail -1 | cut -d: -f1)

	# each cut two ways: the process killed (the page cache survives: what it wrote
	# and did not flush is still read), and the power lost (nothing unflushed survives)
	for cut in kill power; do
	for ((k = 1; k <= writes; k++)); do
		run=$scenario-$cut-$k
		conf "$run"
		sync
		rc=$( (UPD_HEALTH=$health UPD_KILL_AT=$k eng "$run" "${verb[@]}"; echo $?) 2>/dev/null)
		at=$(sed -n "s/^write $k //p" "$T/eng.out")
		[ "$rc" = 137 ]; ok $? "$scenario, $cut at write $k ($at): the process died right after it" ||
			diag "$(cat "$T/eng.out" "$T/eng.err")"
		if [ "$cut" = power ]; then
			"$TOOLS/godown" "$MNT" 2 && remount
			ok $? "$scenario, $cut at write $k: power lost (EXT4_IOC_SHUTDOWN, NOLOGFLUSH), disk recovered" ||
				diag "held by: $(find /proc/[0-9]*/fd /proc/[0-9]*/cwd -maxdepth 1 -lname "$MNT*" 2>/dev/null | head -n 5)"
		fi
		UPD_HEALTH=$health eng "$run" continue
		got=$(status "$run")
		if [ "$scenario" = push ] && [ "$k" -le "$last_dl" ]; then
			# a push cannot be resumed: the sender pushes again
			grep -q "^state=failed done=1 .* result=6 next=none" <<<"$got"
			ok $? "$scenario, $cut at write $k: a push cut off fails with UNREACHABLE ($got)"
			continue
		fi
		is "$got" "$want" "$scenario, $cut at write $k: resumed, it ends as an uninterrupted run"
		if [ "$scenario" != health ]; then
			cmp -s "$MNT/$run.installed" "$T/payload.bin"
			ok $? "$scenario, $cut at write $k: the installed payload is the signed one"
		fi
		if [ "$scenario" = pull ] && [ "$k" -ge 2 ] && [ "$k" -le "$last_dl" ]; then
			# a checkpoint was on the disk: the download went on from it (302 shows the Range on the wire)
			grep -q "^log: downloading $URL (resumed)" "$T/eng.err"
			ok $? "$scenario, $cut at write $k: continue resumed the download from its checkpoint"
		fi
		# the installer's calls: never a commit or rollback of another version, at most one of each end
		ends=$(grep -cE '^(commit|rollback) ' "$MNT/$run.calls" 2>/dev/null)
		[ "${ends:-0}" -ge 1 ]; ok $? "$scenario, $cut at write $k: the end action ran ($ends)"
	done
	done
	rm -rf "${MNT:?}"/"$scenario"-* "$MNT/$ref"
done
echo "1..$_n"
done_testing
