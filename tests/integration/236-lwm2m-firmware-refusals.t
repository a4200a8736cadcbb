#!/bin/bash
# Each refusal of the update engine, as the LwM2M server sees it (TS 1.1 Core E.6): the
# Package URI write succeeds (E.6: errors are reported by Update Result), State goes back
# to Idle (0) with the Update Result of why, the installer is not run and the device stays
# on the version it runs (gate-fw 2.0.0, pulled and installed first through the server).
# One table, one row a refusal (213 shows an unsigned package, 5, ftp://, 9, and a string
# that is no URI, 7; 230 a corrupted package pushed, 5; they are not repeated here):
#   signed by a signer no trust anchor vouches for (self-signed)     5 integrity check failure
#   signed by a signer chained to another CA                         5
#   signed, its payload corrupted after (one byte)                   5
#   genuine but for another model                                    6 unsupported package type
#   genuine, an older version (a downgrade)                          6
#   a URI with a scheme and no host (http://)                        7 invalid URI
#   a URI that names nothing on its server (HTTP 404)                7 invalid URI: "URI from
#     where the device can download" (E.6, resource 1) does not hold for it
#   a URI whose scheme no transport speaks (file:///...)             9 unsupported protocol
#   a package larger than the disk left for downloads (a 1 MiB tmpfs on the download
#     directory, in a private mount namespace, as 302)               2 not enough storage
# Pulled over http from lighttpd; the server is the project's CoAP peer (lw-observer.py).
. "$(dirname "$0")/lwm2m-fw-lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (a tmpfs in a private mount namespace)"
for p in lighttpd unshare; do command -v $p >/dev/null || skip_all "$p not installed"; done
plan 17

# ---- the vendor, another signer without its CA, another CA's signer; the packages
fw_vendor
W=$T/www
mkdir -p "$W"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/rogue.key" \
	-out "$T/rogue.pem" -subj /CN=vendor-signer -days 20 \
	-addext basicConstraints=critical,CA:FALSE -addext keyUsage=critical,digitalSignature \
	-addext extendedKeyUsage=codeSigning 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca2.key" \
	-out "$T/ca2.pem" -subj /CN=vendor-root -days 30 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other.key" \
	-out "$T/other.csr" -subj /CN=vendor-signer 2>/dev/null
openssl x509 -req -in "$T/other.csr" -CA "$T/ca2.pem" -CAkey "$T/ca2.key" -CAcreateserial \
	-days 20 -extfile "$T/cs.ext" -out "$T/other.pem" 2>/dev/null
# sign OUT VERSION MODEL KEY CERT [CHAIN]: a package of a fresh payload of 200 KiB
sign() {
	head -c 204800 /dev/urandom >"$T/payload"
	"$TOOLS/upd-pkg" sign "$W/$1" "$T/payload" type=firmware name=gate-fw version="$2" \
		model="$3" installer=script expires="$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)" \
		-- file path="$4" cert="$5" >/dev/null
}
sign fw-2.pkg 2.0.0 gate-7 "$T/vendor.key" "$T/vendor.pem" && cp "$T/payload" "$T/fw-2.bin" &&
	sign rogue.pkg 3.0.0 gate-7 "$T/rogue.key" "$T/rogue.pem" &&
	sign other-ca.pkg 3.0.0 gate-7 "$T/other.key" "$T/other.pem" &&
	sign corrupt.pkg 3.0.0 gate-7 "$T/vendor.key" "$T/vendor.pem" &&
	sign model.pkg 3.0.0 gate-9 "$T/vendor.key" "$T/vendor.pem" &&
	sign old.pkg 1.0.0 gate-7 "$T/vendor.key" "$T/vendor.pem"
ok $? "packages: gate-fw 2.0.0, and the refused ones"
python3 - "$W/corrupt.pkg" <<'PY'
import sys
f = open(sys.argv[1], "r+b"); f.seek(-1000, 2); b = f.read(1); f.seek(-1000, 2)
f.write(bytes([b[0] ^ 0x55])); f.close()
PY
head -c $((3 * 1024 * 1024)) /dev/urandom >"$T/payload"
"$TOOLS/upd-pkg" sign "$W/big.pkg" "$T/payload" type=firmware name=gate-fw version=3.0.0 \
	model=gate-7 installer=script expires="$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)" \
	-- file path="$T/vendor.key" cert="$T/vendor.pem" >/dev/null

# ---- lighttpd, plain http
fw_lighttpd "$W"
H=http://127.0.0.1:$hp

# ---- the device, on 2.0.0 first: pulled and installed through the server
port=$(free_port)
fw_device "$port"
serve() { # [PREFIX...]: a run of --serve until its registration N
	bg "$T/serve$nrun.log" "$@" "$BIN/m2mdm-status" --serve -v
	cli=$BG_PID
	wait_count '"event":"register"' "$nrun" 20
}
stop() { kill -TERM "$cli"; wait "$cli" 2>/dev/null; }
nrun=1
serve
ok $? "the client registered"
nw=0 # the writes of /5/0/1 so far
wr() { ctl write /5/0/1 "$1"; nw=$((nw + 1)); answer write /5/0/1 $nw; }
is "$(wr "$H/fw-2.pkg") $(read_until /5/0/3 2 30)" "2.04 2" "gate-fw 2.0.0 pulled: Downloaded"
ctl exec /5/0/2
is "$(answer exec /5/0/2) $(read_until /5/0/5 1 30) $(read_until /5/0/7 2.0.0 5)" "2.04 1 2.0.0" \
	"Update: Update Result 1, PkgVersion 2.0.0"

installed() { grep -o '"gate-fw": *"[^"]*"' "$T/state/update.installed" | tr -d ' '; }
# row URI RESULT WHAT: the write is taken, then State 0 with RESULT, and nothing installed
row() {
	local code r s
	code=$(wr "$1")
	r=$(read_until /5/0/5 "$2" 20)
	s=$(read_until /5/0/3 0 5)
	is "$code $r $s $(grep -c '^install' "$T/calls") $(installed)" "2.04 $2 0 1 \"gate-fw\":\"2.0.0\"" \
		"$3: Update Result $2, State Idle, no install, still 2.0.0"
}
row "$H/rogue.pkg" 5 "a signer no trust anchor vouches for"
row "$H/other-ca.pkg" 5 "a signer chained to another CA"
row "$H/corrupt.pkg" 5 "a package corrupted after signing"
row "$H/model.pkg" 6 "a genuine package for another model (gate-9)"
row "$H/old.pkg" 6 "a genuine package of an older version (1.0.0: a downgrade)"
row "http://" 7 "a URI with no host"
row "$H/none.pkg" 7 "a URI that names nothing on its server (404)"
row "file:///etc/passwd" 9 "a URI whose scheme no transport speaks (file)"
stop

# ---- the disk full: the download directory a 1 MiB tmpfs, the package 3 MiB
mkdir -p "$T/state/update"
nrun=2
serve unshare -m --propagation private sh -c \
	"mount -t tmpfs -o size=1m,mode=0700 tmpfs '$T/state/update' && exec \"\$0\" \"\$@\""
ok $? "the client registered again, its download directory a 1 MiB tmpfs"
row "$H/big.pkg" 2 "a package of 3 MiB into 1 MiB"
stop
! mountpoint -q "$T/state/update"
ok $? "the tmpfs is gone with its namespace"
"$BIN/m2mdm-update" status --json >"$T/st.json" 2>&1
grep -q '"storage"\|"result": *19' "$T/st.json"
ok $? "the engine's journal: failed for storage ($(head -c 300 "$T/st.json"))"
is "$(grep -c '"event":"register"' "$T/srv.log")" 2 "one registration a run: --serve kept serving through each refusal"
[ "$_fail" = 0 ] || { diag "$(tail -30 "$T/srv.log")"; diag "$(tail -20 "$T/serve1.log.err" "$T/serve2.log.err")"; }
done_testing
