#!/bin/bash
# A name server that never answers cannot hold a run past its time limit. In a private
# network namespace (only lo) and mount namespace whose /etc/resolv.conf names 127.0.0.1,
# where a UDP socket takes every query and answers none, with the LwM2M server and a coap
# Package URI given by DNS names:
#   m2mdm-status --report --timeout 3: exit 6 (unreachable) within its limit, and the error
#     says the name lookup got no answer (glibc's own retries, 5 s per try and 2 tries
#     (resolv.conf(5): timeout, attempts), held it 10 s before);
#   m2mdm-update install coap://NAME/... --timeout 3: likewise.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v unshare >/dev/null || skip_all "unshare not installed"
plan 6
# a trust anchor for the update: section (nothing gets far enough to be verified)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" \
	-out "$T/ca.pem" -days 1 -subj /CN=it-dns-ca 2>/dev/null
cat >"$T/m2m.yaml" <<YAML
version: 1
device: {id: it-dns, model: gate-7}
state_dir: $T/state
dm:
  server: "coap://lwm2m.m2m-test.invalid:5683"
  security: nosec
update:
  trust: $T/ca.pem
YAML
echo "nameserver 127.0.0.1" >"$T/resolv.conf"
cat >"$T/inside.sh" <<'SH'
set -u
T=$1 BIN=$2
ip link set lo up
mount --bind "$T/resolv.conf" /etc/resolv.conf
python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 53))
print("bound", flush=True)
while True: print("query", len(s.recvfrom(2048)[0]), flush=True)' >"$T/dns.log" 2>&1 &
dns=$!
trap 'kill $dns 2>/dev/null; wait $dns 2>/dev/null' EXIT
for ((i = 0; i < 100; i++)); do grep -q bound "$T/dns.log" && break; sleep 0.05; done
run() { # NAME CMD...: its exit code and time in ms to $T/NAME.res, its stderr to $T/NAME.err
	local name=$1 t0 rc; shift
	t0=$(date +%s%N)
	"$@" >/dev/null 2>"$T/$name.err"; rc=$?
	echo "$rc $((($(date +%s%N) - t0) / 1000000))" >"$T/$name.res"
}
run report "$BIN/m2mdm-status" -c "$T/m2m.yaml" --report --timeout 3
run install "$BIN/m2mdm-update" -c "$T/m2m.yaml" install coap://fw.m2m-test.invalid/fw.pkg --timeout 3
SH
unshare -mn bash "$T/inside.sh" "$T" "$BIN"
grep -q '^query' "$T/dns.log"
ok $? "the resolver asked the silent name server ($(grep -c '^query' "$T/dns.log") queries)"
read -r rc ms <"$T/report.res"
diag "report: exit $rc after $ms ms: $(cat "$T/report.err")"
is "$rc" 6 "m2mdm-status --report: exit 6 (unreachable)"
[ "$ms" -le 4000 ]
ok $? "... within its 3 s limit (+1 s for start and slack: $ms ms)"
grep -q "lwm2m.m2m-test.invalid: no answer to the name lookup" "$T/report.err"
ok $? "... and says the name lookup got no answer"
read -r rc ms <"$T/install.res"
diag "install: exit $rc after $ms ms: $(cat "$T/install.err")"
[ "$ms" -le 4000 ]
ok $? "m2mdm-update install coap://NAME/...: ends within its 3 s limit ($ms ms, exit $rc)"
grep -q "fw.m2m-test.invalid: no answer to the name lookup" "$T/install.err"
ok $? "... and says the name lookup got no answer"
done_testing
