#!/bin/bash
# 238-lwm2m-firmware-rauc.t - an update ordered by the management server (the Firmware
# Update object 5, LwM2M TS 1.1 Core E.6) going through to RAUC's other slot and committed
# after the health check, end to end: m2mdm-status --serve as the device, the real RAUC 1.8
# service on the lab's A/B device (tests/lab/rauc.sh: two file slots, a bootloader in
# files; a reboot is the client stopped and RAUC's service started again with the other
# slot booted), packages signed by `m2mdm-update sign` around a RAUC bundle.
#   a pull: lwm2m-node-lib (tests/tools/lwm2m-server.js) observes State (/5/0/3) and Update
#     Result (/5/0/5), writes the Package URI (http, lighttpd), waits for State 2
#     (Downloaded), executes Update (/5/0/2): State 3 (Updating) while RAUC writes slot B
#     and the device waits for its reboot, with Update Result 0 (E.6: an Update's result
#     is known once the device runs the new firmware). The reboot into B: the client
#     de-registers as it stops and registers as it starts; it takes up the update then:
#     the health check (its own registration) passes, RAUC marks B good. The server,
#     observing again after the new registration, sees Update Result 1 (success), State 0
#     (Idle), PkgName and PkgVersion of the new version, and the Device object's Firmware
#     Version (/3/0/3, TS 1.1 Core E.4: "Current firmware version of the Device") is the
#     new version, where before it was the running kernel; m2mdm-status's summary says the
#     same.
#   c a bundle RAUC refuses to install (compatible of another device, inside a package
#     the device accepts), pushed: Update Result 8 (update failed), State 0, the device on
#     its slot, the slot meant for the update untouched and still good (the fallback).
#   b push: lwm2m-node-lib cannot send Block1 (RFC 7959) requests, so the project's own peer
#     (tests/tools/lw-observer.py) writes the Package (/5/0/0) block-wise; the same path to
#     slot A, the reboot, the commit, now of a pushed update.
#   d the new slot never comes up: the bootloader falls back to the old one (marks the new
#     one bad); the client that starts there rolls the update back: Update Result 8,
#     State 0, the device on its old slot and version: Firmware Version (/3/0/3) the old one.
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/rauc.sh"
rauc_lab_require
for c in lighttpd python3 node; do
	command -v $c > /dev/null || { echo "1..0 # SKIP missing $c (scripts/deps.sh)"; exit 0; }
done
BIN=${M2M_BIN_DIR:-$LAB_REPO/build/bin}
UPD=$BIN/m2mdm-update DM=$BIN/m2mdm-status
for b in "$UPD" "$DM"; do
	[ -x "$b" ] || { echo "1..1"; echo "not ok 1 - $b exists (make)"; exit 1; }
done
lab_require_lwm2m_server

rauc_lab_up
P=$RAUC_LAB_PKI
W=$LAB/www
mkdir -p "$W"
EXP=$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)
free_port() { python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---- packages: a RAUC bundle of an image, in a package signed by the same signer
# pkg VERSION IMAGE [BUNDLE-COMPATIBLE]: $W/fw-VERSION.m2mupd
pkg() {
	local v=$1 b
	b=$(rauc_lab_bundle "$v" "$2" "${3:-}")
	printf '{"format":1,"type":"firmware","name":"lab-fw","version":"%s","models":["lab-a"],"installer":"rauc","expires":"%s"}\n' \
		"$v" "$EXP" > "$LAB/m-$v.json"
	"$UPD" -q sign --manifest "$LAB/m-$v.json" --payload "$b" --key "$P/signer.key" \
		--cert "$P/signer.pem" -o "$W/fw-$v.m2mupd" 2>> "$LAB/log/sign.err"
}
for v in 2 3; do head -c $((2 * 1048576 + 4096 * v)) /dev/urandom > "$LAB/img$v"; done
ok "packages 2.0.0, 3.0.0, 4.0.0 (a bundle for another device) and 5.0.0, RAUC bundles inside" eval \
	'pkg 2.0.0 "$LAB/img2" && pkg 3.0.0 "$LAB/img3" && pkg 4.0.0 "$LAB/img2" other-device &&
	 pkg 5.0.0 "$LAB/img2"' ||
	diag "$(cat "$LAB/log/sign.err")"

rauc_lab_http "$W"

# conf NAME PORT: $LAB/NAME.yaml, the device lab-238 of model lab-a with the lab's RAUC,
# registering with coap://127.0.0.1:PORT; the health check is that registration
conf() {
	cat > "$LAB/$1.yaml" << EOF
version: 1
device: {id: lab-238-$1, model: lab-a}
state_dir: $LAB/state-$1
dm:
  server: "coap://127.0.0.1:$2"
  security: nosec
  lifetime: 60s
update:
  trust: $P/ca.pem
  health: {timeout: 60s}
  installers:
    rauc: {config: $RAUC_LAB_CONF}
EOF
	chmod 0600 "$LAB/$1.yaml"
}
# st CONF KEY...: members of `m2mdm-update status --json`
st() {
	local c=$1
	shift
	"$UPD" -c "$LAB/$c.yaml" status --json > "$LAB/status.json" 2> /dev/null
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(str(d.get(k)) for k in sys.argv[2:]))' "$LAB/status.json" "$@"
}
installed() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("lab-fw"))' "$LAB/state-$1/update.installed" 2> /dev/null || echo None; }
# device NAME CONF: m2mdm-status --serve, recorded as NAME
device() { lab_bg "$1" env M2M_CONFIG="$LAB/$2.yaml" "$DM" --serve -v; }
# lab_reboot SLOT FROM TO: the device goes down (the client FROM stops), RAUC's service comes up
# with SLOT booted, the client comes up again as TO
lab_reboot() {
	lab_stop "$2" TERM 10
	rauc_lab_reboot "$1"
	device "$3" "${4:-pull}"
}

# ==== a: pull, ordered by lwm2m-node-lib
SP=$(free_port)
conf pull "$SP"
U=$RAUC_LAB_HTTP/fw-2.0.0.m2mupd
plan_a=(
	'read:/5/0/3~0' 'read:/5/0/5~0' 'read:/3/0/3~Linux' 'watch:/5/0/3' 'watch:/5/0/5'
	"write:/5/0/1=$U" 'until:/5/0/3=2:60000' 'read:/5/0/7~2.0.0' 'exec:/5/0/2'
	'until:/5/0/3=3:10000'
	# the reboot happens here (the test's shell, once RAUC has written the slot): the
	# client de-registers as it stops (its observations end), and registers as it starts
	'register:2:180000' 'watch:/5/0/3' 'watch:/5/0/5'
	'until:/5/0/5=1:120000' 'until:/5/0/3=0:10000' 'read:/5/0/7~2.0.0' 'read:/5/0/6~lab-fw'
	'read:/3/0/3~2.0.0'
)
lab_bg srv node "$LAB_REPO/tests/tools/lwm2m-server.js" --port "$SP" --ep lab-238-pull \
	--timeout 300000 "${plan_a[@]}"
ok "a: lwm2m-node-lib listens on $SP" wait_until 15 grep -q '"event":"listening"' "$LAB/log/srv.out"
is "$(rauc_lab_status)" "booted=A primary=A A=good B=good" "a: RAUC: booted A, primary A"
device dev pull
cr() { grep -F "\"check\":\"$1\"" "$LAB/log/srv.out" | head -1 | grep -q '"ok":true'; }
ok "a: the server saw State 3 (Updating) after its Execute of Update" \
	wait_until 120 cr 'until:/5/0/3=3:10000'
ok "a: RAUC wrote slot B and made it primary; the journal awaits the health check" \
	wait_until 120 eval '[ "$(st pull state next slot)" = "installed health B" ]'
ok "a: slot B holds 2.0.0's image" rauc_lab_slot_is B "$LAB/img2"
is "$(rauc_lab_status)" "booted=A primary=B A=good B=good" "a: RAUC: still booted A, B primary"
sleep 1
notes() { grep -E "\"event\":\"(watch|notify)\",\"path\":\"$1\"" "$LAB/log/srv.out" | grep -oE '"value":"?[0-9]+' | grep -oE '[0-9]+$' | tr '\n' ' ' | sed 's/ $//'; }
is "$(notes /5/0/3 | tr ' ' '\n' | uniq | tr '\n' ' ' | sed 's/ $//')" "0 1 2 3" \
	"a: State observed 0 (Idle), 1 (Downloading), 2 (Downloaded), 3 (Updating)"
is "$(notes /5/0/5 | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ $//')" "0" \
	"a: Update Result 0 so far: not a success before the new firmware runs"
t_reboot=$(grep -c . "$LAB/log/srv.out")
lab_reboot B dev dev2
ok "a: the server's plan ran to its end" wait_until 200 grep -q '"event":"summary"' "$LAB/log/srv.out"
bad=""
for c in "${plan_a[@]}"; do cr "$c" || bad+=" $c"; done
is "$bad" "" "a: every check of the server's plan passed (${#plan_a[@]} checks)"
after=$(tail -n +"$((t_reboot + 1))" "$LAB/log/srv.out")
reg=$(grep -nE '"event":"register"' <<< "$after" | head -1 | cut -d: -f1)
n51=$(grep -nE '"event":"(watch|notify)","path":"/5/0/5","value":"?1' <<< "$after" | head -1 | cut -d: -f1)
ok "a: after the reboot the device registered again (${reg:+line $reg}) before Update Result 1 came (${n51:+line $n51})" \
	test -n "$reg" -a -n "$n51" -a "${reg:-0}" -lt "${n51:-0}"
is "$(notes /5/0/5 | tr ' ' '\n' | uniq | tr '\n' ' ' | sed 's/ $//')" "0 1" \
	"a: Update Result observed 0, then 1 (success); never 8"
is "$(notes /5/0/3 | tr ' ' '\n' | uniq | tr '\n' ' ' | sed 's/ $//')" "0 1 2 3 0" \
	"a: State observed 0 1 2 3, then 0 (Idle) once committed"
is "$(rauc_lab_status)" "booted=B primary=B A=good B=good" "a: RAUC: booted B, primary, good"
grep -q 'set-state B good' "$RAUC_LAB_BOOT/calls.log"
ok "a: RAUC's mark-good of B reached the bootloader" test $? = 0
is "$(st pull state "done" result installed next)" "committed True ok 2.0.0 none" \
	"a: the journal: committed, 2.0.0 installed"
# cval CHECK: the value the server's check CHECK read
cval() {
	python3 -c 'import json, sys
for l in open(sys.argv[1]):
    try: e = json.loads(l)
    except ValueError: continue
    if e.get("event") == "check" and e.get("check") == sys.argv[2]: print(e.get("value")); break' \
		"$LAB/log/srv.out" "$1"
}
KERNEL="$(uname -s) $(uname -r)"
is "$(cval 'read:/3/0/3~Linux')" "$KERNEL" "a: before: Firmware Version /3/0/3 is the running kernel"
is "$(cval 'read:/3/0/3~2.0.0')" "2.0.0" "a: once committed: Firmware Version /3/0/3 is 2.0.0"
# summary CONF KEY: device.KEY of m2mdm-status --json
summary() {
	"$DM" -c "$LAB/$1.yaml" --json 2> /dev/null |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["device"].get(sys.argv[1]))' "$2"
}
is "$(summary pull firmware_version) $(summary pull firmware)" "2.0.0 $(uname -r)" \
	"a: m2mdm-status --json: device.firmware_version 2.0.0, device.firmware still the kernel's release"
like "$("$DM" -c "$LAB/pull.yaml" 2> /dev/null | grep -E '^ +firmware ')" "^ +firmware +lab-fw 2\.0\.0 \(kernel $KERNEL\)," \
	"a: m2mdm-status's summary: firmware lab-fw 2.0.0 (kernel ...)"
lab_stop srv TERM 5

# ==== the project's peer for b and c (lwm2m-node-lib cannot send Block1)
OP=$(free_port)
conf push "$OP"
mkfifo "$LAB/ctl"
lab_bg obs python3 "$LAB_REPO/tests/tools/lw-observer.py" "$OP" "$LAB/ctl"
exec 9<> "$LAB/ctl"
ctl() { echo "$*" >&9; }
ok "the peer listens on $OP" wait_until 15 grep -q '"event":"listening"' "$LAB/log/obs.out"
# the pull's client goes; the push's comes (another server, another endpoint, state of its own)
lab_stop dev2 TERM 10
device dev3 push
ok "the device registered with it" wait_until 30 grep -q '"event":"register"' "$LAB/log/obs.out"
# evn RE: how many events match; fetch PATH: its value, read now by the peer
evn() { grep -cE "$1" "$LAB/log/obs.out"; }
fetch() {
	local n
	n=$(evn "\"event\":\"fetch\",\"path\":\"$1\"")
	ctl fetch "$1" 0
	wait_until 10 eval "[ \$(evn '\"event\":\"fetch\",\"path\":\"$1\"') -gt $n ]" || return
	grep -E "\"event\":\"fetch\",\"path\":\"$1\"" "$LAB/log/obs.out" | tail -1 | grep -oE '"value":"[^"]*"' | cut -d'"' -f4
}
fetch_is() { [ "$(fetch "$1")" = "$2" ]; }
# push FILE N: the peer writes FILE to /5/0/0 block-wise; its Nth push ended
push() {
	ctl push /5/0/0 "$1" 6 42
	wait_until 120 eval "[ \$(evn '\"event\":\"push\"') -ge $2 ]"
}
marks() { grep -c "set-state $1 good" "$RAUC_LAB_BOOT/calls.log"; }

# ==== c: a bundle RAUC will not install: Update Result 8, the device stays where it is
sumA=$(sha256sum "$(rauc_lab_slot_file A)" | cut -d' ' -f1)
ok "c: 4.0.0 pushed (a RAUC bundle for another device, in a package for this one)" push "$W/fw-4.0.0.m2mupd" 1
ok "c: State 2 (Downloaded): the package itself is genuine and for this model" wait_until 60 fetch_is /5/0/3 2
ctl exec /5/0/2
ok "c: Update Result 8 (update failed)" wait_until 60 fetch_is /5/0/5 8
is "$(fetch /5/0/3)" 0 "c: State 0 (Idle)"
is "$(rauc_lab_status)" "booted=B primary=B A=good B=good" \
	"c: RAUC: still booted B and primary; A, never written, still good (the fallback it was)"
is "$(sha256sum "$(rauc_lab_slot_file A)" | cut -d' ' -f1)" "$sumA" "c: slot A untouched"
is "$(installed push)" "None" "c: nothing installed"
is "$(fetch /3/0/3)" "$KERNEL" "c: Firmware Version /3/0/3 still the kernel (no firmware committed here)"
like "$(st push state message)" "^rolled-back .*[Cc]ompatible" "c: the journal says why (RAUC's words)"

# ==== b: push, block-wise, through the project's peer
ctl observe /5/0/3 0
ctl observe /5/0/5 0
ok "b: State and Update Result observed" wait_until 10 eval '[ $(evn "\"event\":\"observe\",\"path\":\"/5/0/[35]\"") -ge 2 ]'
ok "b: 3.0.0 pushed block-wise" push "$W/fw-3.0.0.m2mupd" 2
like "$(grep '"event":"push"' "$LAB/log/obs.out" | tail -1)" '"code":"2.04"' "b: the last block: 2.04 Changed"
ok "b: State 2 (Downloaded)" wait_until 60 fetch_is /5/0/3 2
ctl exec /5/0/2
ok "b: RAUC wrote slot A and made it primary" \
	wait_until 120 eval '[ "$(st push state next slot)" = "installed health A" ]'
ok "b: slot A holds 3.0.0's image" rauc_lab_slot_is A "$LAB/img3"
is "$(fetch /5/0/3) $(fetch /5/0/5)" "3 0" "b: before the reboot: State 3 (Updating), Update Result 0"
marksA=$(marks A)
lab_reboot A dev3 dev4 push
ok "b: after the reboot into A: Update Result 1 (success)" wait_until 90 fetch_is /5/0/5 1
is "$(fetch /5/0/3) $(fetch /5/0/7)" "0 3.0.0" "b: State 0 (Idle), PkgVersion 3.0.0"
is "$(rauc_lab_status)" "booted=A primary=A A=good B=good" "b: RAUC: booted A, primary, good"
cmp_ok "$(marks A)" -gt "$marksA" "b: RAUC's mark-good of A reached the bootloader"
is "$(installed push)" "3.0.0" "b: 3.0.0 installed"
is "$(fetch /3/0/3)" "3.0.0" "b: Firmware Version /3/0/3 is 3.0.0"
is "$(summary push firmware_version)" "3.0.0" "b: m2mdm-status --json: device.firmware_version 3.0.0"

# ==== d: the bootloader falls back from the new slot: rolled back, Update Result 8
ok "d: 5.0.0 pushed" push "$W/fw-5.0.0.m2mupd" 3
ok "d: State 2 (Downloaded)" wait_until 60 fetch_is /5/0/3 2
ctl exec /5/0/2
ok "d: RAUC wrote slot B and made it primary" \
	wait_until 120 eval '[ "$(st push state next slot)" = "installed health B" ]'
is "$(fetch /3/0/3)" "3.0.0" "d: installed, not rebooted: Firmware Version /3/0/3 still 3.0.0"
lab_stop dev4 TERM 10
rauc_lab_fallback
device dev5 push
is "$(rauc_lab_status)" "booted=A primary=A A=good B=bad" "d: the bootloader gave up on B and booted A"
ok "d: after the restart: Update Result 8 (update failed)" wait_until 90 fetch_is /5/0/5 8
is "$(fetch /5/0/3)" 0 "d: State 0 (Idle)"
is "$(st push state "done" installed)" "rolled-back True 3.0.0" "d: the journal: rolled back, 3.0.0 installed"
like "$(st push message)" "did not stay booted" "d: and why"
is "$(fetch /3/0/3)" "3.0.0" "d: Firmware Version /3/0/3: 3.0.0, the version the fallback runs"
is "$(summary push firmware_version)" "3.0.0" "d: m2mdm-status --json: device.firmware_version 3.0.0"
is "$(rauc_lab_status)" "booted=A primary=A A=good B=bad" "d: RAUC: A booted, primary and good"

if [ "$TAP_FAILED" != 0 ]; then
	diag "$(tail -n 30 "$LAB/log/srv.out" 2> /dev/null)"
	for f in dev dev2 dev3 dev4 dev5; do diag "== $f"; diag "$(tail -n 25 "$LAB/log/$f.err" 2> /dev/null)"; done
fi
done_testing
