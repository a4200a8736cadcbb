#!/bin/bash
# lib/update's pull transports (upd_fetch, through tests/tools/upd-fetch) against real
# servers on 127.0.0.1: lighttpd (http, and https with a CA made here; Range and
# If-Range, RFC 7233), python3 -m http.server (ignores Range), libcoap's
# coap-server-openssl (coap and coaps with a PSK; Block2, RFC 7959), and a server of
# the test's own that dribbles or never ends. A 20 MiB file whole over each transport;
# interrupted and resumed: only the rest asked for (the servers' logs) and the result
# byte-identical, the sink having seen the whole (its SHA-256); a resume the server
# ignores, or of a file that changed: started again from 0, not corrupted; the wrong
# CA (8), a full disk (19), 404 (14), more than the bound (12), a dribble held to
# the time bound (5). A server certificate expired or not yet valid: 10 (m2m-exit-codes(7):
# "clock: a certificate is not yet valid or has expired; the clock may be wrong"), not 8
# (the server is not known to be untrusted). A redirect to a scheme not followed (file:,
# and http from https): 12, what the server answered, nothing read; not 3, our
# configuration is fine; a long binary Location shown bounded and printable. A final
# 3xx (RFC 9110 15.4.5: a 304 to a request without a condition; 15.4.1: a 300 without a
# Location) says what came: 12.
. "$(dirname "$0")/lwm2m-lib.sh"
set -o pipefail
[ "$(id -u)" = 0 ] || skip_all "needs root (a tmpfs in a private mount namespace)"
for p in lighttpd coap-server-openssl coap-client-openssl python3 openssl unshare; do
	command -v $p >/dev/null || skip_all "$p not installed (scripts/deps.sh)"
done
[ -e /usr/lib/lighttpd/mod_openssl.so ] || skip_all "lighttpd-mod-openssl not installed"
FETCH=$TOOLS/upd-fetch
[ -x "$FETCH" ] && [ -x "$ROOT/build/bench/udp-delay" ] || skip_all "build the tools first (make all units)"
plan 42

# A port free for TCP and UDP, and the next one too (coaps, https)
port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		ss -Hltun "sport = :$p or sport = :$((p + 1))" | grep -q . || { echo "$p"; return; }
	done
}
field() { grep -oE "(^| )$1=[^ ]*" <<<"$2" | tail -1 | cut -d= -f2-; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# wait until a server listens on the TCP or UDP port
listening() {
	local i
	for ((i = 0; i < 100; i++)); do
		ss -Hltun "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	return 1
}

W=$T/www
mkdir -p "$W/slow" "$T/dl"
head -c $((20 * 1024 * 1024)) /dev/urandom >"$W/f20"
ln "$W/f20" "$W/slow/f20"
test_pki CA server
test_pki OTHER
cat "$T/server.pem" "$T/server.key" >"$T/srv.pem"

# lighttpd: http on $hp, https on $hp+1; /slow/ at 4 MiB/s; the log shows Range and If-Range
hp=$(port)
cat >"$T/lighttpd.conf" <<EOF
server.modules = ( "mod_openssl", "mod_accesslog" )
server.document-root = "$W"
server.bind = "127.0.0.1"
server.port = $hp
server.errorlog = "$T/lighttpd.err"
accesslog.filename = "$T/access.log"
accesslog.format = "%>s %b \"%r\" range=\"%{Range}i\" if-range=\"%{If-Range}i\""
mimetype.assign = ( "" => "application/octet-stream" )
\$SERVER["socket"] == "127.0.0.1:$((hp + 1))" { ssl.engine = "enable" ssl.pemfile = "$T/srv.pem" }
\$HTTP["url"] =~ "^/slow/" { connection.kbytes-per-second = 4096 }
EOF
bg "$T/lighttpd.out" lighttpd -D -f "$T/lighttpd.conf"
listening "$((hp + 1))" || diag "$(cat "$T/lighttpd.out.err" "$T/lighttpd.err" 2>/dev/null)"
H=http://127.0.0.1:$hp
HS=https://127.0.0.1:$((hp + 1))
# lighttpd writes its access log every few seconds
logged() { wait_for "$T/access.log" "$1" 15; }

# 1-2 whole over http and https
out=$("$FETCH" "$H/f20" "$T/dl/h1" | tail -1)
rc=$?
cmp -s "$W/f20" "$T/dl/h1"
ok $? "http: 20 MiB whole, byte-identical (rc $rc)"
"$FETCH" "$HS/f20" "$T/dl/h2" --ca "$T/CA.pem" >/dev/null
ok $(($? + $(cmp -s "$W/f20" "$T/dl/h2"; echo $?))) "https with the test CA: 20 MiB whole, byte-identical"

# 3-7 interrupted by the time bound, then resumed: only the rest asked for (over http:
# lighttpd's rate limit does not hold its HTTP/2, which https negotiates)
out=$("$FETCH" "$H/slow/f20" "$T/dl/h3" --timeout 1.5 | tail -1)
is "$?" 5 "http at 4 MiB/s with a 1.5 s bound: TIMEOUT"
off=$(field offset "$out")
etag=$(field etag "$out")
[ "$off" -gt 0 ] && [ "$off" -lt $((20 * 1024 * 1024)) ] && [ -n "$etag" ] &&
	[ "$(stat -c %s "$T/dl/h3")" = "$off" ]
ok $? "the state to resume from: offset $off (the file's size), ETag $etag"
out=$("$FETCH" "$H/slow/f20" "$T/dl/h3" --offset "$off" --etag "$etag" | tail -1)
is "$?" 0 "resumed"
cmp -s "$W/f20" "$T/dl/h3" && [ "$(field sha256 "$out")" = "$(sha "$W/f20")" ]
ok $? "resumed: byte-identical, and the sink saw the whole (SHA-256)"
logged "^206 $((20 * 1024 * 1024 - off)) \"GET /slow/f20 [^\"]*\" range=\"bytes=$off-\" if-range=\"\\\\\"${etag//\"/}"
ok $? "the server was asked for bytes $off- only, with If-Range, and sent 206 with the rest"

# 8-10 a resume against a server that ignores Range: started again, not corrupted
pp=$(port)
(cd "$W" && exec python3 -m http.server --bind 127.0.0.1 "$pp") >"$T/py.out" 2>"$T/py.log" &
_pids+=($!)
listening "$pp"
head -c 5000000 /dev/zero >"$T/dl/p1" # a part that is not the file's: appended to, it would show
out=$("$FETCH" "http://127.0.0.1:$pp/f20" "$T/dl/p1" --offset 5000000 | tail -1)
is "$?" 0 "python http.server (ignores Range): a resume from 5000000 completes"
cmp -s "$W/f20" "$T/dl/p1" && [ "$(field sha256 "$out")" = "$(sha "$W/f20")" ]
ok $? "started again from byte 0: byte-identical, not the part plus the whole"
[ "$(grep -c '"GET /f20 HTTP/1.1" 200' "$T/py.log")" = 2 ]
ok $? "two GETs: the resume (answered 200, not taken) and the whole"

# 11-13 the file changed on the server between runs (another ETag): started again
out=$("$FETCH" "$H/slow/f20" "$T/dl/h4" --timeout 1 | tail -1)
off=$(field offset "$out")
etag=$(field etag "$out")
head -c $((6 * 1024 * 1024)) /dev/urandom >"$T/new"
cp "$T/new" "$W/slow/f20.tmp" && touch -d '+1 min' "$W/slow/f20.tmp" && mv "$W/slow/f20.tmp" "$W/slow/f20"
out=$("$FETCH" "$H/slow/f20" "$T/dl/h4" --offset "$off" --etag "$etag" | tail -1)
is "$?" 0 "after $off bytes the file was replaced: the resume completes"
cmp -s "$T/new" "$T/dl/h4" && [ "$(field sha256 "$out")" = "$(sha "$T/new")" ]
ok $? "it holds the new file, byte-identical, nothing of the old"
[ -n "$(field etag "$out")" ] && [ "$(field etag "$out")" != "$etag" ] &&
	logged "^200 [0-9]+ \"GET /slow/f20 [^\"]*\" range=\"bytes=$off-\" if-range=\"\\\\\"${etag//\"/}"
ok $? "If-Range with the old ETag was answered 200; the new ETag is kept ($(field etag "$out"))"

# 14 the wrong CA: refused, AUTH_REMOTE
"$FETCH" "$HS/f20" "$T/dl/h5" --ca "$T/OTHER.pem" >/dev/null 2>"$T/h5.err"
is "$?" 8 "https with another CA: refused ($(cat "$T/h5.err"))"

# 15 404
"$FETCH" "$H/none" "$T/dl/h6" >/dev/null 2>&1
is "$?" 14 "http 404: NOT_FOUND"

# 16-17 a full disk: a 1 MiB tmpfs in a private mount namespace (gone with it)
mkdir -p "$T/small"
unshare -m --propagation private sh -c \
	"mount -t tmpfs -o size=1m tmpfs '$T/small' && '$FETCH' '$H/f20' '$T/small/f' >/dev/null 2>'$T/full.err'; echo \$? >'$T/full.rc'"
is "$(cat "$T/full.rc")" 19 "20 MiB into a 1 MiB tmpfs: STORAGE before the first byte ($(cat "$T/full.err"))"
! mountpoint -q "$T/small"
ok $? "the tmpfs is gone with its namespace"

# a server of the test's own: /dribble sends a byte every 0.3 s, /endless never stops
# (no Content-Length either, so only the bound or the disk stops it); /headers, /interim
# and /trailers never end their header lines: one answer's, 100 Continue after 100
# Continue (RFC 9110 15.2: a client must be able to parse one or more 1xx), and a
# chunked answer's trailer section (RFC 9112 7.1.2)
dp=$(port)
cat >"$T/drib.py" <<'PY'
import http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def log_message(self, *a): pass
    def do_GET(self):
        pad = b"X-Pad: " + b"a" * 1000 + b"\r\n"
        try:
            if self.path == "/headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                while True:
                    self.wfile.write(pad)
            if self.path == "/interim":
                while True:
                    self.wfile.write(b"HTTP/1.1 100 Continue\r\n" + pad + b"\r\n")
            if self.path == "/trailers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n")
                while True:
                    self.wfile.write(pad)
        except (BrokenPipeError, ConnectionResetError):
            return
        self.send_response(200)
        self.end_headers()
        try:
            while True:
                if self.path == "/dribble":
                    self.wfile.write(b"x"); self.wfile.flush(); time.sleep(0.3)
                else:
                    self.wfile.write(b"\0" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
bg "$T/drib.out" python3 "$T/drib.py" "$dp"
listening "$dp"
# 18 the time bound holds
s=$(date +%s%N)
"$FETCH" "http://127.0.0.1:$dp/dribble" "$T/dl/d1" --timeout 2 >/dev/null 2>&1
rc=$?
ms=$((($(date +%s%N) - s) / 1000000))
[ "$rc" = 5 ] && [ "$ms" -lt 3500 ]
ok $? "a server that dribbles: TIMEOUT at the 2 s bound (rc $rc after $ms ms)"
# 19 more than the bound: an error at once
"$FETCH" "http://127.0.0.1:$dp/endless" "$T/dl/e1" --max 3000000 >/dev/null 2>&1
rc=$?
[ "$rc" = 12 ] && [ "$(stat -c %s "$T/dl/e1")" -le 3000000 ]
ok $? "an endless answer with --max 3000000: PROTOCOL, no byte beyond it (rc $rc, $(stat -c %s "$T/dl/e1") bytes)"
# 20 a full disk while writing (no size announced)
unshare -m --propagation private sh -c \
	"mount -t tmpfs -o size=1m tmpfs '$T/small' && '$FETCH' 'http://127.0.0.1:$dp/endless' '$T/small/f' >/dev/null 2>'$T/full.err'; echo \$? >'$T/full.rc'"
is "$(cat "$T/full.rc")" 19 "an endless answer into a 1 MiB tmpfs: STORAGE while writing ($(cat "$T/full.err"))"
# 21-23 endless header lines: PROTOCOL at once, the memory bounded (libcurl 7.88.1 kept
# every trailer line: 634 MB in 5 s before lib/update bounded them, UPD_HTTP_HEADERS_MAX)
for w in headers interim trailers; do
	/usr/bin/time -o "$T/hdr.rss" -f %M "$FETCH" "http://127.0.0.1:$dp/$w" "$T/dl/h-$w" --timeout 5 \
		>/dev/null 2>"$T/hdr.err"
	rc=$? kb=$(tail -n1 "$T/hdr.rss")
	[ "$rc" = 12 ] && [ "$kb" -lt 65536 ] && grep -q "more than 256 KiB of header lines" "$T/hdr.err"
	ok $? "endless header lines (/$w): PROTOCOL, at most 64 MB (rc $rc, $((kb / 1024)) MB: $(cat "$T/hdr.err"))"
done

# 24 CoAP: coap-server-openssl with the file PUT into it (coap on $cp, coaps with a PSK on $cp+1)
cp=$(port)
printf sesame >"$T/psk"
bg "$T/coap.out" coap-server-openssl -A 127.0.0.1 -p "$cp" -d 20 -k sesame
listening "$cp"
coap-client-openssl -m put -b 1024 -f "$W/f20" "coap://127.0.0.1:$cp/f20" >/dev/null 2>&1
ok $? "the 20 MiB file PUT into coap-server"
C=coap://127.0.0.1:$cp
CS=coaps://127.0.0.1:$((cp + 1))

# 25-26 whole over coap and coaps
"$FETCH" "$C/f20" "$T/dl/c1" --block-size 1024 >/dev/null
ok $(($? + $(cmp -s "$W/f20" "$T/dl/c1"; echo $?))) "coap, Block2 1024: 20 MiB whole, byte-identical"
"$FETCH" "$CS/f20" "$T/dl/c2" --block-size 1024 --psk-id dev1 --psk-file "$T/psk" >/dev/null
ok $(($? + $(cmp -s "$W/f20" "$T/dl/c2"; echo $?))) "coaps with a PSK: 20 MiB whole, byte-identical"

# 27-31 coap killed (-9) mid-transfer, resumed from its last checkpoint; the first Block2
# num of the resume seen by the server (-v 7 logs each request). The pull goes through
# udp-delay adding 1 ms a round trip, so that its 8192 blocks take over 8 s: checkpoints
# come once a second (fetch.h), and a pull of 8 MiB on loopback is over in less.
vp=$(port)
rp=$(port)
head -c $((8 * 1024 * 1024)) /dev/urandom >"$W/f8"
bg "$T/coapv.out" coap-server-openssl -A 127.0.0.1 -p "$vp" -d 20 -v 7
listening "$vp"
bg "$T/relay.out" "$ROOT/build/bench/udp-delay" "$rp" "$vp" 1
wait_for "$T/relay.out" "^relay " 10
coap-client-openssl -m put -b 1024 -f "$W/f8" "coap://127.0.0.1:$vp/f8" >/dev/null 2>&1
ok $? "an 8 MiB file PUT into a coap-server that logs every request"
sh -c 'echo $$ >"$1.pid"; exec "$2" "$3" "$1" --block-size 1024' _ "$T/dl/c3" "$FETCH" \
	"coap://127.0.0.1:$rp/f8" >"$T/c3.out" 2>&1 &
_pids+=($!)
wait_for "$T/c3.out" "checkpoint offset=[1-7][0-9]{6} " 30
kill -9 "$(cat "$T/dl/c3.pid")"
wait "${_pids[-1]}" 2>/dev/null
cp_line=$(grep checkpoint "$T/c3.out" | tail -1)
off=$(field offset "$cp_line")
[ -n "$off" ] && [ "$off" -gt 0 ] && [ "$off" -lt $((8 * 1024 * 1024)) ] &&
	[ "$(stat -c %s "$T/dl/c3")" -ge "$off" ]
ok $? "killed after checkpoint ${off:-none} (file $(stat -c %s "$T/dl/c3") bytes)"
mark=$(wc -l <"$T/coapv.out")
out=$("$FETCH" "coap://127.0.0.1:$vp/f8" "$T/dl/c3" --block-size 1024 --offset "${off:-0}" \
	--etag "$(field etag "$cp_line")" --total "$(field total "$cp_line")" | tail -1)
is "$?" 0 "resumed from the checkpoint"
cmp -s "$W/f8" "$T/dl/c3" && [ "$(field sha256 "$out")" = "$(sha "$W/f8")" ]
ok $? "resumed: byte-identical, and the sink saw the whole (SHA-256)"
gets() { tail -n +"$((mark + 1))" "$T/coapv.out" | grep -a 'c:GET' | grep -oE 'Block2:[0-9]+' | cut -d: -f2; }
first=$(gets | head -1)
lowest=$(gets | sort -n | head -1)
[ "${off:-0}" -gt 0 ] && [ "$first" = $((off / 1024)) ] && [ "$lowest" = "$first" ]
ok $? "the resume's first GET asked for Block2 $first (= $off / 1024), and none before it (lowest $lowest)"

# 32-34 coap 4.04; coaps with the wrong PSK; an unsupported scheme
"$FETCH" "$C/none" "$T/dl/c5" >/dev/null 2>&1
is "$?" 14 "coap 4.04: NOT_FOUND"
printf wrong >"$T/psk2"
"$FETCH" "$CS/f20" "$T/dl/c6" --psk-id dev1 --psk-file "$T/psk2" --timeout 20 >/dev/null 2>"$T/c6.err"
is "$?" 7 "coaps with the wrong PSK: AUTH_LOCAL ($(cat "$T/c6.err"))"
"$FETCH" "ftp://127.0.0.1/f20" "$T/dl/x" >/dev/null 2>&1
is "$?" 3 "ftp://: not a scheme of ours (CONFIG)"

# 35-37 certificates outside their validity period, from the right CA: the test's own
# https server (python3 ssl), one certificate valid 2020-01-01..2020-02-01, one from 2040
mkdir -p "$T/ca"
: >"$T/ca/index"
echo 01 >"$T/ca/serial"
cat >"$T/ca.cnf" <<EOF
[ca]
default_ca = c
[c]
database = $T/ca/index
serial = $T/ca/serial
new_certs_dir = $T/ca
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
[ext]
subjectAltName = IP:127.0.0.1
EOF
dated() { # NAME START END
	openssl ca -batch -notext -config "$T/ca.cnf" -cert "$T/CA.pem" -keyfile "$T/CA.key" \
		-in "$T/server.csr" -out "$T/$1.pem" -startdate "$2" -enddate "$3" -extensions ext \
		>/dev/null 2>&1 && cat "$T/$1.pem" "$T/server.key" >"$T/$1.srv"
}
dated old 20200101000000Z 20200201000000Z && dated future 20400101000000Z 20400201000000Z
ok $? "certificates for 127.0.0.1 from the test CA: $(openssl x509 -in "$T/old.pem" -noout -enddate 2>&1), $(openssl x509 -in "$T/future.pem" -noout -startdate 2>&1)"
cat >"$T/odd.py" <<'PY'
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def answer(self, code, location=None, body=b""):
        self.send_response(code)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        p = self.path
        if p == "/to-file": self.answer(302, "file:///etc/passwd")
        elif p == "/to-http": self.answer(307, "http://127.0.0.1:%s/f" % sys.argv[3])
        elif p == "/to-long": self.answer(301, "gopher://h/\x01\x7f\xe9" + "x" * 4000)
        elif p == "/304": self.answer(304)
        elif p == "/300": self.answer(300, None, b"pick one")
        else: self.answer(200, None, b"hello")
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
if sys.argv[2] != "-":
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(sys.argv[2])
    s.socket = c.wrap_socket(s.socket, server_side=True)
s.serve_forever()
PY
op=$(port)
xp=$(port)
gp=$(port)
bg "$T/odd-http.out" python3 "$T/odd.py" "$op" - "$op"
bg "$T/odd-old.out" python3 "$T/odd.py" "$xp" "$T/old.srv" "$op"
bg "$T/odd-future.out" python3 "$T/odd.py" "$((xp + 1))" "$T/future.srv" "$op"
bg "$T/odd-good.out" python3 "$T/odd.py" "$gp" "$T/srv.pem" "$op"
for p in "$op" "$xp" "$((xp + 1))" "$gp"; do
	listening "$p" || diag "$(cat "$T"/odd-*.err)"
done
"$FETCH" "https://127.0.0.1:$xp/f" "$T/dl/x1" --ca "$T/CA.pem" >/dev/null 2>"$T/x1.err"
rc=$?
[ "$rc" = 10 ] && grep -qE "CN=server expired on 2020-02-01 00:00:00Z \(check the clock: ours says 20[0-9]{2}-[0-9]{2}-[0-9]{2} " "$T/x1.err"
ok $? "https, the server's certificate expired in 2020: CLOCK, the message names the certificate, its end and our clock (rc $rc: $(cat "$T/x1.err"))"
"$FETCH" "https://127.0.0.1:$((xp + 1))/f" "$T/dl/x2" --ca "$T/CA.pem" >/dev/null 2>"$T/x2.err"
rc=$?
[ "$rc" = 10 ] && grep -qE "CN=server is not valid before 2040-01-01 00:00:00Z \(check the clock: ours says 20[0-9]{2}-[0-9]{2}-[0-9]{2} " "$T/x2.err"
ok $? "https, the server's certificate valid from 2040: CLOCK, its start and our clock (rc $rc: $(cat "$T/x2.err"))"

# 38-40 redirects that are not followed: PROTOCOL, the file never read
"$FETCH" "http://127.0.0.1:$op/to-file" "$T/dl/x3" >/dev/null 2>"$T/x3.err"
rc=$?
[ "$rc" = 12 ] && grep -qF "redirected to file:///etc/passwd: not followed" "$T/x3.err" &&
	! grep -qs root "$T/dl/x3"
ok $? "http redirected to file:///etc/passwd: PROTOCOL, not followed, nothing of it in the file (rc $rc: $(cat "$T/x3.err"))"
"$FETCH" "https://127.0.0.1:$gp/to-http" "$T/dl/x4" --ca "$T/CA.pem" >/dev/null 2>"$T/x4.err"
rc=$?
[ "$rc" = 12 ] && grep -qF "redirected to http://127.0.0.1:$op/f: not followed (https only)" "$T/x4.err"
ok $? "https redirected to http: PROTOCOL, not followed (rc $rc: $(cat "$T/x4.err"))"
"$FETCH" "http://127.0.0.1:$op/to-long" "$T/dl/x5" >/dev/null 2>"$T/x5.err"
rc=$?
len=$(wc -c <"$T/x5.err")
[ "$rc" = 12 ] && [ "$len" -lt 200 ] &&
	grep -q "redirected to gopher://h/???x*\.\.\.: not followed" "$T/x5.err" &&
	! LC_ALL=C grep -q '[^[:print:]]' "$T/x5.err"
ok $? "a 4 KiB Location with bytes not printable: PROTOCOL, shown bounded and printable ($len bytes: $(cat "$T/x5.err"))"

# 41-42 a final 3xx: what the server answered (it was "no answer", "a body before its headers")
"$FETCH" "http://127.0.0.1:$op/304" "$T/dl/x6" >/dev/null 2>"$T/x6.err"
rc=$?
[ "$rc" = 12 ] && grep -q "HTTP 304" "$T/x6.err"
ok $? "a 304 to a request without a condition: PROTOCOL, named (rc $rc: $(cat "$T/x6.err"))"
"$FETCH" "http://127.0.0.1:$op/300" "$T/dl/x7" >/dev/null 2>"$T/x7.err"
rc=$?
[ "$rc" = 12 ] && grep -q "HTTP 300" "$T/x7.err" && [ ! -s "$T/dl/x7" ]
ok $? "a 300 with a body and no Location: PROTOCOL, named, its body not taken (rc $rc: $(cat "$T/x7.err"))"

done_testing
