#!/bin/bash
# 309-update-firmware.t - a firmware update end to end, through the tool (m2mdm-update) with
# the real RAUC 1.8 as the installer (tests/lab/rauc.sh: two file slots A/B, a custom
# bootloader in files, the service on a private D-Bus; a reboot is a restart of the service
# with another booted slot). The package (m2m-update(5), signed with `m2mdm-update sign` by
# the lab's codeSigning signer) carries a RAUC bundle signed by the same signer; it comes
# over http from lighttpd (Range, RFC 7233) or from a server of the test's own.
# What RAUC's documentation promises and this test reads back from RAUC's side (the
# bootloader's files and `rauc status --output-format=json`): an install writes the slot
# that is not booted and makes it primary; mark-good commits the booted slot; a rollback
# makes the old slot primary again and marks the new one bad.
#   1 install URL: the bundle in slot B, B primary; awaiting the reboot
#   2 reboot into B, check: healthy, committed (B good), the floor raised
#   3 a new slot that fails its health check (update.health.dm: a server nobody answers):
#     check rolls back by itself (the old slot primary, the new one bad); the next boot is
#     the old slot
#   4 the bootloader falls back (the new slot never stays booted): check rolls back
#   5 power cuts during the RAUC install: the service killed (RAUC's own write stops),
#     the tool killed (RAUC finishes alone): the next check ends the update consistently
#   6 refusals, each leaving RAUC's slots and the installed version as they were
#   7 a server that drops the connection mid-download: check resumes with a Range from
#     the journalled offset (If-Range with its ETag), the slot byte-identical
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/rauc.sh"
rauc_lab_require
for c in lighttpd python3 unshare; do
	command -v $c > /dev/null || { echo "1..0 # SKIP missing $c (scripts/deps.sh)"; exit 0; }
done
T=${M2M_BIN_DIR:-$LAB_REPO/build/bin}/m2mdm-update
if [ ! -x "$T" ]; then echo "1..1"; echo "not ok 1 - $T exists (make)"; exit 1; fi

RAUC_LAB_SLOT_MIB=128   # room for the 96 MiB image of 5a'
rauc_lab_up
P=$RAUC_LAB_PKI
W=$LAB/www
mkdir -p "$W" "$LAB/small"
EXP=$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---- the device's configuration: the lab's RAUC, no health check of its own (healthy at once)
# conf NAME [EXTRA-TOP [HEALTH [UPDATE-EXTRA]]]: $LAB/NAME.yaml, all sharing one state directory
conf() {
	local health=${3:-"{timeout: 60s}"}
	cat > "$LAB/$1.yaml" << EOF
version: 1
device:
  id: lab-309
  model: lab-a
state_dir: $LAB/state
${2:-}
update:
  trust: $P/ca.pem
  timeout: 120
  jitter: 0
  health: $health
  installers:
    rauc:
      config: $RAUC_LAB_CONF
${4:-}
EOF
	chmod 0600 "$LAB/$1.yaml"
}
conf ok
DMPORT=$(free_port)
# the new version's health: register with a server nobody answers (ICMP port unreachable)
conf sick "dm:
  server: \"coap://127.0.0.1:$DMPORT\"
  security: nosec
  lifetime: 60s
  timeout: 5s" "{timeout: 20s, dm: true}"
conf small "" "" "  download_dir: $LAB/small"

# run CONF ARGS...: the tool -> RC OUT ERR (a run's history in log/m2m.history)
run() {
	local c=$1 t0
	shift
	t0=$(now_ms)
	timeout -k 5 180 "$T" -c "$LAB/$c.yaml" "$@" > "$LAB/out" 2> "$LAB/err" < /dev/null
	RC=$?
	MS=$(($(now_ms) - t0))
	OUT=$(cat "$LAB/out") ERR=$(cat "$LAB/err")
	{ echo "=== m2mdm-update -c $c $* -> $RC in $MS ms"; cat "$LAB/out" "$LAB/err"; } >> "$LAB/log/m2m.history"
}
run_rc() {
	if [ "$RC" = "$1" ]; then pass "$2"; return 0; fi
	fail "$2"; diag "    expected exit $1, got $RC after $MS ms"
	diag "    stdout: ${OUT: -600}"; diag "    stderr: $ERR"
	return 1
}
# st KEY...: members of `status --json` (m2m.update/1), space-separated
st() {
	"$T" -c "$LAB/ok.yaml" status --json > "$LAB/status.json" 2> /dev/null
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(str(d.get(k)) for k in sys.argv[2:]))' "$LAB/status.json" "$@"
}
installed() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("lab-fw"))' "$LAB/state/update.installed" 2> /dev/null; }
sets() { grep -c ' set-' "$RAUC_LAB_BOOT/calls.log"; }
slot_sum() { sha256sum "$(rauc_lab_slot_file "$1")" | cut -d' ' -f1; }

# ---- packages: a RAUC bundle of an image, in a package signed by the same signer
# pkg VERSION IMAGE [MODEL [OUT]]
pkg() {
	local v=$1 b
	b=$(rauc_lab_bundle "$v" "$2")
	printf '{"format":1,"type":"firmware","name":"lab-fw","version":"%s","models":["%s"],"installer":"rauc","expires":"%s"}\n' \
		"$v" "${3:-lab-a}" "$EXP" > "$LAB/m-$v.json"
	"$T" -q sign --manifest "$LAB/m-$v.json" --payload "$b" --key "$P/signer.key" \
		--cert "$P/signer.pem" -o "${4:-$W/fw-$v.m2mupd}" 2>> "$LAB/log/sign.err"
}
for v in 2 3 31 4 5; do head -c $((3 * 1048576 + 4096 * v)) /dev/urandom > "$LAB/img$v"; done
ok "packages 2.0.0 3.0.0 3.1.0 4.0.0 5.0.0 (RAUC bundles inside)" eval \
	'pkg 2.0.0 "$LAB/img2" && pkg 3.0.0 "$LAB/img3" && pkg 3.1.0 "$LAB/img31" && pkg 4.0.0 "$LAB/img4" && pkg 5.0.0 "$LAB/img5"' ||
	diag "$(cat "$LAB/log/sign.err")"

# ---- lighttpd serves them (Range, ETag)
HP=$(free_port)
cat > "$LAB/lighttpd.conf" << EOF
server.document-root = "$W"
server.bind = "127.0.0.1"
server.port = $HP
server.errorlog = "$LAB/log/lighttpd.err"
server.modules = ( "mod_accesslog" )
accesslog.filename = "$LAB/log/access.log"
mimetype.assign = ( "" => "application/octet-stream" )
EOF
lab_bg lighttpd lighttpd -D -f "$LAB/lighttpd.conf"
ok "lighttpd on 127.0.0.1:$HP" wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HP" 2> /dev/null
U=http://127.0.0.1:$HP

# ==== 1 install: the bundle goes into the slot that is not booted, which becomes primary
is "$(rauc_lab_status)" "booted=A primary=A A=good B=good" "RAUC: a fresh device, booted A, primary A"
run ok install "$U/fw-2.0.0.m2mupd"
run_rc 0 "1: install URL: exit 0"
like "$OUT" "installed lab-fw 2.0.0 into slot B: awaiting the health check" "1: the result in words, with the slot"
like "$OUT" "download: 100% " "1: the download's progress"
ok "1: slot B holds 2.0.0's image" rauc_lab_slot_is B "$LAB/img2"
is "$(rauc_lab_slot_state)" "primary=B A=good B=good" "1: the bootloader: B primary"
is "$(rauc_lab_status)" "booted=A primary=B A=good B=good" "1: RAUC: still booted A, B primary"
is "$(st state slot next pending installed)" "installed B health 2.0.0 None" \
	"1: status --json: installed into slot B, the health check next"
run ok check
run_rc 0 "1: check before the reboot: exit 0 (the reboot is pending)"
is "$(st state next)" "installed health" "1: still installed, awaiting the health check"
is "$(rauc_lab_slot_state)" "primary=B A=good B=good" "1: nothing marked"
run ok commit
run_rc 2 "1: a technician's commit before the reboot: exit 2 (the new slot does not run yet)"
like "$ERR" "slot B and slot A runs: reboot into it first" "1: ... it says why"
is "$(st state next)" "installed health" "1: still installed"
is "$(rauc_lab_slot_state)" "primary=B A=good B=good" "1: nothing marked by it"

# ==== 2 the reboot into B; check proves it healthy and commits
rauc_lab_reboot B
run ok check
run_rc 0 "2: check after the reboot into B: exit 0"
like "$OUT" "committed lab-fw 2.0.0" "2: it says committed"
grep -q ' set-state B good' "$RAUC_LAB_BOOT/calls.log"
ok "2: RAUC marked B good (mark-good of the booted slot reached the bootloader)" test $? = 0
is "$(rauc_lab_status)" "booted=B primary=B A=good B=good" "2: RAUC: booted B, primary B, good"
is "$(st state "done" result installed floor next)" "committed True ok 2.0.0 2.0.0 none" \
	"2: status --json: committed, 2.0.0 installed, the floor raised to it"
is "$(installed)" "2.0.0" "2: update.installed says 2.0.0"

# ==== 3 a new slot that fails its health check: rolled back by itself
run ok install "$U/fw-3.0.0.m2mupd"
run_rc 0 "3: install 3.0.0 while B runs: exit 0"
ok "3: slot A holds 3.0.0's image" rauc_lab_slot_is A "$LAB/img3"
is "$(rauc_lab_slot_state)" "primary=A A=good B=good" "3: A primary"
rauc_lab_reboot A
run sick check
if [ "$RC" = 6 ] || [ "$RC" = 5 ]; then pass "3: check in the new slot, whose server never answers: exit $RC (the registration's class)"
else fail "3: check in the new slot: exit 6 or 5 (the registration's class)"; diag "rc $RC: $ERR"; fi
like "$ERR" "rolled back lab-fw 3.0.0: health: registration" "3: it says rolled back, and why"
is "$(rauc_lab_slot_state)" "primary=B A=bad B=good" "3: the old slot B primary again, A marked bad"
is "$(st state "done" result_code installed)" "rolled-back True $RC 2.0.0" "3: status --json: rolled back with that code, 2.0.0 installed"
like "$(st message)" "health: registration" "3: status --json: the reason"
rauc_lab_reboot "$(cat "$RAUC_LAB_BOOT/primary")"
is "$(rauc_lab_status)" "booted=B primary=B A=bad B=good" "3: the next boot (the bootloader's primary) is the old slot B"
run ok check
run_rc 0 "3: check afterwards: exit 0, nothing to do"
is "$OUT$ERR" "" "3: and silent"

# ==== 4 the bootloader falls back: the new slot never comes up, the old one boots again
run ok install "$U/fw-3.1.0.m2mupd"
run_rc 0 "4: install 3.1.0: exit 0"
is "$(rauc_lab_slot_state)" "primary=A A=good B=good" "4: A primary"
rauc_lab_fallback
is "$(rauc_lab_status)" "booted=B primary=B A=bad B=good" "4: RAUC: the bootloader fell back to B, A bad"
run ok check
run_rc 1 "4: check: exit 1 (the new slot did not stay booted)"
like "$ERR" "rolled back lab-fw 3.1.0: health: slot A did not stay booted" "4: it says so"
is "$(rauc_lab_status)" "booted=B primary=B A=bad B=good" "4: RAUC: B primary, A bad"
is "$(st state "done" installed)" "rolled-back True 2.0.0" "4: status --json: rolled back, 2.0.0 installed"
like "$(st message)" "did not stay booted" "4: status --json: the reason"
# 4b the old slot booted while the new one is still primary: the reboot is pending, and the
# health check (and its bound) begins only once the new slot runs: past update.health.timeout
# the update still waits, installed; a technician's rollback ends it
conf quick "" "{timeout: 3s}"
run quick install "$U/fw-3.1.0.m2mupd"
run_rc 0 "4b: install 3.1.0 again: exit 0"
rauc_lab_reboot B
run quick check
run_rc 0 "4b: B booted, A primary: exit 0 (the reboot is pending)"
is "$(st state next)" "installed health" "4b: still installed"
sleep 3.2
run quick check
run_rc 0 "4b: after update.health.timeout (3 s), the reboot still pending: exit 0, no bound runs yet"
is "$(st state next)" "installed health" "4b: still installed, waiting for the reboot"
run quick rollback
run_rc 0 "4b: a technician's rollback: exit 0"
is "$(rauc_lab_status)" "booted=B primary=B A=bad B=good" "4b: RAUC: B primary, A bad"

# ---- a server of the test's own: GET with Range and If-Range, drops once, no length on /nolen/
DP=$(free_port)
cat > "$LAB/drop.py" << 'PY'
# GET with Range (RFC 7233): 206 from the first byte asked for, If-Range with the ETag;
# the first request without Range is cut after CUT bytes (the connection closed);
# /nolen/NAME: NAME without a Content-Length, delimited by the close (RFC 7230 3.3.3)
import http.server, os, socket, sys
root, port, cut, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cut_done = set()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        rng, ifr = self.headers.get("Range"), self.headers.get("If-Range")
        with open(log, "a") as f:
            f.write("GET %s range=%s if-range=%s\n" % (self.path, rng, ifr))
        try:
            data = open(os.path.join(root, os.path.basename(self.path)), "rb").read()
        except OSError:
            self.send_error(404)
            return
        if self.path.startswith("/nolen/"):
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self.wfile.write(data)
            return
        etag = '"309-%d"' % len(data)
        start = 0
        if rng and (ifr is None or ifr == etag):
            spec = rng.strip()
            if not (spec.startswith("bytes=") and spec.endswith("-") and spec[6:-1].isdigit()):
                self.send_error(400)
                return
            start = int(spec[6:-1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not rng and self.path not in cut_done:
            cut_done.add(self.path)
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
: > "$LAB/log/drop.log"
lab_bg drop python3 "$LAB/drop.py" "$W" "$DP" 1500000 "$LAB/log/drop.log"
ok "a server of its own (Range, drops, no length) on 127.0.0.1:$DP" wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$DP" 2> /dev/null
# ==== 6 refusals: RAUC untouched, 2.0.0 keeps running
sA=$(slot_sum A) sB=$(slot_sum B) ss=$(rauc_lab_status) n=$(sets)
# untouched: the slots' bytes, RAUC's view, no mark or write asked of the bootloader, 2.0.0
untouched() { [ "$(slot_sum A) $(slot_sum B) $(rauc_lab_status) $(sets) $(installed)" = "$sA $sB $ss $n 2.0.0" ]; }
cp "$W/fw-5.0.0.m2mupd" "$W/corrupt.m2mupd"
printf 'X' | dd of="$W/corrupt.m2mupd" bs=1 seek=$(($(stat -c %s "$W/corrupt.m2mupd") - 5000)) conv=notrunc 2> /dev/null
run ok install "$U/corrupt.m2mupd"
run_rc 17 "6: a payload byte changed: exit 17"
like "$ERR" "refused: " "6: ... refused, and why"
ok "6: ... RAUC untouched, 2.0.0 running" untouched
cp "$(rauc_lab_bundle 5.0.0 "$LAB/img5")" "$W/bare.raucb"
run ok install "$U/bare.raucb"
run_rc 17 "6: a RAUC bundle without a signed package around it: exit 17"
ok "6: ... RAUC untouched" untouched
"$T" -q sign --manifest "$LAB/m-5.0.0.json" --payload "$W/bare.raucb" --key "$P/other-signer.key" \
	--cert "$P/other-signer.pem" -o "$W/other.m2mupd"
run ok install "$U/other.m2mupd"
run_rc 17 "6: signed under a CA the device does not trust: exit 17"
ok "6: ... RAUC untouched" untouched
pkg 5.0.0 "$LAB/img5" lab-z "$W/model.m2mupd"
run ok install "$U/model.m2mupd"
run_rc 18 "6: a package for another model: exit 18"
like "$ERR" "refused: .*lab-a" "6: ... the message names this model"
ok "6: ... RAUC untouched" untouched
pkg 1.5.0 "$LAB/img5"
run ok install "$U/fw-1.5.0.m2mupd"
run_rc 18 "6: a downgrade below the floor 2.0.0: exit 18"
ok "6: ... RAUC untouched" untouched
run ok install "ftp://127.0.0.1:$HP/fw-5.0.0.m2mupd"
run_rc 3 "6: ftp://: exit 3 (a scheme this device does not pull from)"
run ok install "http//127.0.0.1/fw-5.0.0.m2mupd"
run_rc 2 "6: an invalid URI: exit 2"
run ok install "$U/no-such.m2mupd"
run_rc 14 "6: HTTP 404: exit 14"
ok "6: ... RAUC untouched" untouched
head -c $(($(stat -c %s "$W/fw-5.0.0.m2mupd") - 100000)) "$W/fw-5.0.0.m2mupd" > "$W/short.m2mupd"
run ok install "$U/short.m2mupd"
run_rc 17 "6: a package cut short (served whole, 100000 bytes missing): exit 17"
note "the short package: $ERR"
ok "6: ... RAUC untouched" untouched
unshare -m --propagation private sh -c "mount -t tmpfs -o size=1m,mode=0700 tmpfs '$LAB/small' &&
	exec timeout -k 5 120 '$T' -c '$LAB/small.yaml' install '$U/fw-5.0.0.m2mupd'" > "$LAB/out" 2> "$LAB/err" < /dev/null
RC=$? OUT=$(cat "$LAB/out") ERR=$(cat "$LAB/err")
run_rc 19 "6: the download area on a 1 MiB tmpfs (a private mount namespace): exit 19"
note "the full disk: $ERR"
nok "6: ... the tmpfs is gone with its namespace" mountpoint -q "$LAB/small"
ok "6: ... RAUC untouched" untouched
is "$(st state result_code)" "failed 19" "6: status --json: failed with STORAGE"
unshare -m --propagation private sh -c "mount -t tmpfs -o size=1m,mode=0700 tmpfs '$LAB/small' &&
	exec timeout -k 5 120 '$T' -c '$LAB/small.yaml' install 'http://127.0.0.1:$DP/nolen/fw-5.0.0.m2mupd'" > "$LAB/out" 2> "$LAB/err" < /dev/null
RC=$? OUT=$(cat "$LAB/out") ERR=$(cat "$LAB/err")
run_rc 19 "6: the same without a Content-Length: the tmpfs fills during the download: exit 19"
note "the disk that fills: $ERR"
ok "6: ... RAUC untouched" untouched
is "$(st state result_code)" "failed 19" "6: status --json: failed with STORAGE"

# ==== 7 a server that drops the connection once mid-download; check resumes it
: > "$LAB/log/drop.log"
run ok install "http://127.0.0.1:$DP/fw-4.0.0.m2mupd"
run_rc 6 "7: the connection dropped after 1500000 bytes: exit 6 (the transport's class)"
like "$ERR" "the connection was lost at byte" "7: ... it says where"
off=$(st downloaded)
is "$(st state next)" "downloading fetch" "7: status --json: still downloading, the fetch next"
cmp_ok "$off" -eq 1500000 "7: ... with the offset journalled ($off bytes)"
is "$(rauc_lab_status) $(sets)" "$ss $n" "7: ... RAUC untouched"
run ok check
run_rc 0 "7: check resumes the download: exit 0"
like "$OUT" "installed lab-fw 4.0.0 into slot A" "7: ... and installs 4.0.0 into slot A"
is "$(sed -n 2p "$LAB/log/drop.log")" "GET /fw-4.0.0.m2mupd range=bytes=$off- if-range=\"309-$(stat -c %s "$W/fw-4.0.0.m2mupd")\"" \
	"7: the server saw one Range request from the journalled offset, with If-Range (its ETag)"
is "$(grep -c GET "$LAB/log/drop.log")" 2 "7: two requests in all: not restarted from 0"
ok "7: slot A is byte-identical to 4.0.0's image" rauc_lab_slot_is A "$LAB/img4"
rauc_lab_reboot A
run ok check
run_rc 0 "7: reboot into A, check: exit 0"
is "$(rauc_lab_status) $(st state installed)" "booted=A primary=A A=good B=good committed 4.0.0" "7: committed, A good and primary"

# ==== 5 power cuts during the RAUC install
# 5a the service killed when RAUC marks the target bad (just before its copy): the install fails
echo 0 > "$RAUC_LAB_BOOT/killafter"
run ok install "$U/fw-5.0.0.m2mupd"
run_rc 4 "5a: the service killed as the install starts: exit 4 (DAEMON)"
like "$ERR" "rolling back lab-fw 5.0.0: .*not done yet, the next m2mdm-update check finishes it" \
	"5a: ... it says the rollback is still to do"
nok "5a: RAUC's service is gone" rauc_lab_service_alive
is "$(rauc_lab_slot_state)" "primary=A A=good B=bad" "5a: the bootloader: A (the running slot) still primary, B bad"
# the rollback's own D-Bus call failed too: the journal says so, the next run finishes it
is "$(st state "done" next result_code)" "rolled-back False finish 4" "5a: status --json: rolled back, its action still to do"
rauc_lab_reboot A
run ok check
run_rc 4 "5a: check after the power is back: it finishes the rollback, exit 4 (the install's class)"
like "$ERR" "rolled back lab-fw 5.0.0: rauc install: " "5a: ... it says why"
is "$(st state "done" installed)" "rolled-back True 4.0.0" "5a: the update ended rolled back, 4.0.0 installed"
is "$(rauc_lab_status)" "booted=A primary=A A=good B=bad" "5a: RAUC: A primary and good, B bad"
run ok check
run_rc 0 "5a: a further check: nothing to do"
# 5a' the same 0.03 s into RAUC's copy of a 96 MiB image: the copy may have ended in time or
# not (page cache speed): B is either bad and not primary, or primary with the whole image
head -c $((96 * 1048576)) /dev/urandom > "$LAB/img6"
ok "5a': a 96 MiB package 6.0.0" pkg 6.0.0 "$LAB/img6"
echo 0.03 > "$RAUC_LAB_BOOT/killafter"
run ok install "$U/fw-6.0.0.m2mupd"
run_rc 4 "5a': the service killed during its copy: exit 4 (DAEMON)"
nb6=$(cmp "$LAB/img6" "$(rauc_lab_slot_file B)" 2>&1 | sed -n 's/.* differ: byte \([0-9]*\),.*/\1/p')
if [ -n "$nb6" ]; then note "5a': slot B after the cut: the first $((nb6 - 1)) bytes are the new image"
else note "5a': slot B after the cut: the whole new image (the copy had ended)"; fi
bs=$(rauc_lab_slot_state)
note "5a': the bootloader after the cut: $bs"
if [ -n "$nb6" ]; then is "$bs" "primary=A A=good B=bad" "5a': cut mid-copy: A (the running slot) still primary, B bad"
else like "$bs" "^primary=(A A=good B=bad|B A=good B=good)\$" "5a': copy ended: B bad, or primary with the whole image"; fi
rauc_lab_reboot A
run ok check
run_rc 4 "5a': check after the power is back: rolled back, exit 4"
is "$(st state "done" installed)" "rolled-back True 4.0.0" "5a': status --json: rolled back, 4.0.0 installed"
is "$(rauc_lab_status)" "booted=A primary=A A=good B=bad" "5a': RAUC: A primary, B bad: never booted"
# 5b the tool killed (kill -9) while RAUC installs: RAUC finishes alone, check carries on
touch "$RAUC_LAB_BOOT/hang"
"$T" -c "$LAB/ok.yaml" install "$U/fw-5.0.0.m2mupd" > "$LAB/bg.out" 2> "$LAB/bg.err" < /dev/null &
tp=$!
bbad() { grep -c "set-state B bad" "$RAUC_LAB_BOOT/calls.log"; }
more_bbad() { [ "$(bbad)" -gt "$nb" ]; }
nb=$(bbad)
ok "5b: the install reaches RAUC (the bootloader asked to mark B bad)" wait_until 30 more_bbad
client=$(pgrep -P "$tp" | head -n 1)
kill -9 "$tp"
wait "$tp" 2> /dev/null
rm -f "$RAUC_LAB_BOOT/hang"
b_primary() { [ "$(cat "$RAUC_LAB_BOOT/primary")" = B ]; }
ok "5b: RAUC finishes the install without the tool (B primary)" wait_until 60 b_primary
# the orphaned `rauc install` client ends with RAUC's Completed signal
[ -n "$client" ] && wait_until 30 bash -c "! kill -0 $client 2> /dev/null"
is "$(st state next)" "installing install" "5b: status --json: installing, the install next"
run ok check
run_rc 0 "5b: check: the install again, idempotent: exit 0"
is "$(st state slot next)" "installed B health" "5b: installed into B, awaiting the reboot"
ok "5b: slot B holds 5.0.0's image" rauc_lab_slot_is B "$LAB/img5"
rauc_lab_reboot B
run ok check
run_rc 0 "5b: reboot into B, check: exit 0"
is "$(rauc_lab_status) $(st state installed floor)" "booted=B primary=B A=good B=good committed 5.0.0 5.0.0" \
	"5b: committed 5.0.0, B good and primary, the floor raised"

# ==== cleanup is the lab's: nothing of RAUC left mounted
lab_stop lighttpd
lab_stop drop
rauc_lab_down
is "$(rauc_lab_mounts)$(rauc_lab_loops)" "" "no RAUC mount and no loop device of the lab left"
done_testing
