#!/bin/bash
# 314-update-disk-full.t - m2mdm-update when the disk is too small, and a server that is
# unavailable for a while; the tool over lib/update's engine, from outside.
#   1 the state directory (and with it the default download area, state_dir/update) on a
#     4 MiB tmpfs in a private mount namespace; a package of 6 MB over http, with and
#     without a Content-Length (HTTP/1.0, the end is the close): the manifest's signed
#     size is the bound either way. Each: exit 19 (STORAGE, m2m-exit-codes(7)) with one
#     line that says how much is needed and how much is free (measured before the disk
#     filled), the package file gone, the space back, `status` naming the cause, and a
#     small valid package installs afterwards. Before, the partial package filled the
#     disk, the journal's compaction failed (exit 1) and every later run failed with it.
#   2 the same tmpfs filled by another file: an install fails with 19, not 1 (a full
#     disk is STORAGE in lib/state too), the failure is journaled all the same, and once
#     the file is gone an install succeeds.
#   3 a server that drops the connection, then answers 503 (RFC 9110 15.6.4: a temporary
#     overload, "likely alleviated after some delay"), then serves the rest: the 503 is
#     exit 6 (UNREACHABLE), the download stays journaled with its offset and the part on
#     the disk, and the next check resumes it with a Range (RFC 9110 14.2) and installs.
#     Before, a 503 was exit 12 and ended the update.
# The tmpfs lives only in the namespace (gone with its last process, also on a failure);
# the servers are python3 on 127.0.0.1.
. "$(dirname "$0")/../lab/lab.sh"
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root (a tmpfs in a private mount namespace)"; exit 0; }
for c in python3 unshare openssl; do
	command -v $c > /dev/null || { echo "1..0 # SKIP missing $c (scripts/deps.sh)"; exit 0; }
done
T=${M2M_BIN_DIR:-$LAB_REPO/build/bin}/m2mdm-update
if [ ! -x "$T" ]; then echo "1..1"; echo "not ok 1 - $T exists (make)"; exit 1; fi
L=$(mktemp -d /tmp/m2m-test.XXXXXX) || { echo "Bail out! mktemp"; exit 1; }
chmod 0755 "$L"
HTTP_PID=
_t_exit() {
	local rc=$?
	[ -n "$HTTP_PID" ] && kill "$HTTP_PID" 2> /dev/null && wait "$HTTP_PID" 2> /dev/null
	# the tmpfs is the namespace's: nothing is mounted here, whatever happened in it
	mountpoint -q "$L/disk" && umount "$L/disk"
	rm -rf "$L"
	[ "$rc" = 0 ] && [ "$TAP_FAILED" -gt 0 ] && rc=$TAP_FAILED
	exit "$rc"
}
trap _t_exit EXIT

# ---- a vendor CA and its code signer
P=$L/pki
mkdir -p "$P" "$L/www" "$L/disk" "$L/ns"
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' > "$P/cs.ext"
ok "a test CA and a code signer" eval '
	openssl ecparam -name prime256v1 -genkey -noout -out "$P/ca.key" 2>> "$P/err" &&
	openssl req -x509 -new -key "$P/ca.key" -subj "/CN=Vendor Root" -days 30 -out "$P/ca.pem" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>> "$P/err" &&
	openssl ecparam -name prime256v1 -genkey -noout -out "$P/s.key" 2>> "$P/err" && chmod 0600 "$P/s.key" &&
	openssl req -new -key "$P/s.key" -subj "/CN=vendor.test" -out "$P/s.csr" 2>> "$P/err" &&
	openssl x509 -req -in "$P/s.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial \
		-days 20 -extfile "$P/cs.ext" -out "$P/s.pem" 2>> "$P/err"' || diag "$(cat "$P/err")"

# ---- the device: a script installer that records its calls; healthy at once
S=$L/install.sh
printf '#!/bin/sh\necho "$1 $M2M_UPDATE_NAME $M2M_UPDATE_VERSION" >> %s/calls\nexit 0\n' "$L" > "$S"
chmod 0755 "$S"
# conf NAME STATE_DIR
conf() {
	cat > "$L/$1.yaml" << EOF
version: 1
device:
  id: pos-314
  model: pos-a
state_dir: $2
update:
  trust: $P/ca.pem
  timeout: 120
  jitter: 0
  health:
    timeout: 60s
  installers:
    script:
      path: $S
      timeout: 60
EOF
	chmod 0600 "$L/$1.yaml"
}
conf tmpfs "$L/disk/state"
conf disk "$L/state"

# pkg VERSION PAYLOAD-BYTES: www/app-VERSION.pkg, signed
EXPIRES=$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)
pkg() {
	head -c "$2" /dev/urandom > "$L/payload-$1"
	printf '{"format":1,"type":"software","name":"pos-app","version":"%s","models":["pos-a"],"installer":"script","expires":"%s"}\n' \
		"$1" "$EXPIRES" > "$L/m-$1.json"
	"$T" -q sign --manifest "$L/m-$1.json" --payload "$L/payload-$1" --key "$P/s.key" \
		--cert "$P/s.pem" -o "$L/www/app-$1.pkg" 2>> "$P/err"
}
ok "packages: 6 MB (larger than the disk), three of 50 kB, 3 MB" eval 'pkg 9.0.0 6000000 &&
	pkg 1.1.0 50000 && pkg 1.2.0 50000 && pkg 1.3.0 50000 && pkg 3.0.0 3000000' || diag "$(cat "$P/err")"

# ---- a server of the test's own (HTTP/1.0, each answer ends with its connection)
# /len/NAME: with a Content-Length; /nolen/NAME: without (RFC 9112 6.3: the close ends it);
# /flaky/NAME: the first GET is cut after CUT bytes, the second is a 503, the rest honour
# a Range (206). Each GET is logged: path, Range, status.
cat > "$L/srv.py" << 'PY'
import http.server, os, socket, sys
root, port, cut, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
seen = {}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def log_message(self, *a):
        pass
    def note(self, code):
        with open(log, "a") as f:
            f.write("GET %s range=%s %d\n" % (self.path, self.headers.get("Range"), code))
    def do_GET(self):
        kind, _, name = self.path.lstrip("/").partition("/")
        try:
            data = open(os.path.join(root, os.path.basename(name)), "rb").read()
        except OSError:
            self.note(404)
            self.send_error(404)
            return
        n = seen[self.path] = seen.get(self.path, 0) + 1
        if kind == "flaky" and n == 2:
            self.note(503)
            self.send_response(503)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        rng, start = self.headers.get("Range"), 0
        if kind == "flaky" and rng:
            start = int(rng.strip()[6:-1])
        body = data[start:]
        self.note(206 if start else 200)
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        if kind != "nolen":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if kind == "flaky" and n == 1:
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
HP=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
: > "$L/srv.log"
python3 "$L/srv.py" "$L/www" "$HP" 1500000 "$L/srv.log" > "$L/srv.out" 2>&1 &
HTTP_PID=$!
ok "the server on 127.0.0.1:$HP" wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HP" 2> /dev/null
U=http://127.0.0.1:$HP

# ==== 1, 2: in a private mount namespace, the state directory on a 4 MiB tmpfs
# Each step leaves its exit status, output, the package file's presence and the free bytes
# in $L/ns/STEP.*, for the checks below (the tmpfs is gone with the namespace).
cat > "$L/ns.sh" << 'SH'
L=$1 T=$2 U=$3
C=$L/tmpfs.yaml N=$L/ns D=$L/disk/state/update
free() { echo $(($(stat -f -c '%a * %S' "$L/disk"))); }
step() {
	local name=$1
	shift
	timeout -k 5 120 "$T" -c "$C" "$@" > "$N/$name.out" 2> "$N/$name.err" < /dev/null
	echo $? > "$N/$name.rc"
	[ -e "$D/package" ] && stat -c %s "$D/package" > "$N/$name.pkg"
	free > "$N/$name.free"
	"$T" -c "$C" status > "$N/$name.status" 2>&1
	"$T" -c "$C" status --json > "$N/$name.json" 2>&1
}
mount -t tmpfs -o size=4m,mode=0700 tmpfs "$L/disk" || exit 1
free > "$N/empty.free"
step first install "$U/len/app-1.1.0.pkg"
free > "$N/start.free"
step nolen install "$U/nolen/app-9.0.0.pkg"
step after-nolen install "$U/len/app-1.2.0.pkg"
step len install "$U/len/app-9.0.0.pkg"
step after-len check
# 2: another's file fills the disk
dd if=/dev/zero of="$L/disk/fill" bs=64k 2> /dev/null
free > "$N/filled.free"
step full install "$U/nolen/app-1.3.0.pkg"
rm -f "$L/disk/fill"
step unfilled install "$U/len/app-1.3.0.pkg"
echo done > "$N/done"
SH
unshare -m --propagation private bash "$L/ns.sh" "$L" "$T" "$U"
ok "the namespace ran every step" test -e "$L/ns/done"
nok "the tmpfs is gone with its namespace" mountpoint -q "$L/disk"

# r STEP KIND: a step's result (err: its diagnostics, without the progress lines "HH:MM:SS ...")
r() {
	if [ "$2" = err ]; then grep -v '^[0-9][0-9]:[0-9][0-9]:[0-9][0-9] ' "$L/ns/$1.$2" 2> /dev/null
	else cat "$L/ns/$1.$2" 2> /dev/null; fi
}
j() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(str(d.get(k)) for k in sys.argv[2:]))' "$L/ns/$1.json" "${@:2}" 2> /dev/null; }
is "$(r first rc)" 0 "a first small install on the 4 MiB tmpfs: exit 0 ($(r first err))"
start=$(r start free)
note "free on the tmpfs: $(r empty free) bytes empty, $start after the first install"

# check_big STEP WHAT
check_big() {
	local err
	err=$(r "$1" err)
	is "$(r "$1" rc)" 19 "1 $2: a 6 MB package into ~4 MiB: exit 19 (STORAGE)"
	note "    stderr: $err"
	is "$(wc -l <<< "$err")" 1 "1 $2: ... one line"
	like "$err" "[0-9]+ (more )?bytes needed.*[0-9]+ free" "1 $2: ... it says how much is needed and how much is free"
	freed=$(grep -oE '[0-9]+ free' <<< "$err" | grep -oE '[0-9]+')
	cmp_ok "${freed:-0}" -ge $((start - 300 * 1024)) \
		"1 $2: ... measured before the payload came: ${freed:-?} free then, $start before"
	ok "1 $2: ... the package file is gone" test ! -e "$L/ns/$1.pkg"
	cmp_ok "$(r "$1" free)" -ge $((start - 64 * 1024)) "1 $2: ... the space is back ($(r "$1" free) bytes free)"
	is "$(j "$1" state "done" result_code next)" "failed True 19 none" "1 $2: status --json: failed, done, STORAGE, nothing next"
	like "$(r "$1" status)" "bytes needed" "1 $2: status names the cause"
}
check_big nolen "without a Content-Length"
is "$(r after-nolen rc)" 0 "1: then a small valid package installs: exit 0 ($(r after-nolen err))"
is "$(j after-nolen state installed)" "committed 1.2.0" "1: ... committed 1.2.0"
check_big len "with a Content-Length"
is "$(r after-len rc) $(r after-len err)" "0 " "1: a check afterwards: exit 0, nothing to say"

# 2
is "$(r filled free)" 0 "2: another's file fills the tmpfs"
is "$(r full rc)" 19 "2: an install on the full disk: exit 19, not 1 ($(r full err))"
is "$(j full state "done" result_code next)" "failed True 19 none" "2: ... the failure journaled all the same: failed, done, nothing next"
is "$(r unfilled rc)" 0 "2: the file removed, the install succeeds: exit 0 ($(r unfilled err))"
is "$(j unfilled state installed)" "committed 1.3.0" "2: ... committed 1.3.0"

# ==== 3 dropped, then 503, then the rest with a Range
run() {
	timeout -k 5 120 "$T" -c "$L/disk.yaml" "$@" > "$L/out" 2> "$L/err" < /dev/null
	RC=$? OUT=$(cat "$L/out") ERR=$(grep -v '^[0-9][0-9]:[0-9][0-9]:[0-9][0-9] ' "$L/err")
}
js() { "$T" -c "$L/disk.yaml" status --json > "$L/status.json" 2> /dev/null; python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(str(d.get(k)) for k in sys.argv[2:]))' "$L/status.json" "$@"; }
run install "$U/flaky/app-3.0.0.pkg"
is "$RC" 6 "3: the connection dropped after 1500000 bytes: exit 6 ($ERR)"
is "$(js state next downloaded)" "downloading fetch 1500000" "3: ... still downloading, the offset journaled"
run check
is "$RC" 6 "3: the server answers 503: exit 6 (UNREACHABLE: resumed later), not 12 ($ERR)"
like "$ERR" "HTTP 503" "3: ... it says what the server answered"
is "$(js state next downloaded)" "downloading fetch 1500000" "3: ... still downloading from 1500000"
is "$(stat -c %s "$L/state/update/package" 2> /dev/null)" 1500000 "3: ... the part kept on the disk for the resume"
run check
is "$RC" 0 "3: the next check: exit 0 ($ERR)"
is "$(js state installed)" "committed 3.0.0" "3: ... committed 3.0.0"
is "$(tail -n 1 "$L/calls")" "commit pos-app 3.0.0" "3: ... the installer installed and committed it"
is "$(grep flaky "$L/srv.log")" "GET /flaky/app-3.0.0.pkg range=None 200
GET /flaky/app-3.0.0.pkg range=bytes=1500000- 503
GET /flaky/app-3.0.0.pkg range=bytes=1500000- 206" "3: the server saw the whole asked for, then the Range twice (the 503, then the 206)"

done_testing
