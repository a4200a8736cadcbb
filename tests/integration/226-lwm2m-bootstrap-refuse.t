#!/bin/bash
# Bootstrap never answers 2.04 for a value it drops, and reports at
# Bootstrap-Finish what it cannot use (TS 1.1 Core 5.2.6, 5.2.7.4, 5.2.7.5,
# appendix E), checked on the wire with a raw CoAP peer
# (tests/tools/lw-bs-peer.py) that sends exactly the requests below:
# - 5.2.7.4: a resource this client does not have is ignored inside an
#   instance's Write ("MUST ignore optional resources it does not support"),
#   refused (4.00) when the Write names it alone; a value it cannot keep
#   (binding S, a lifetime under 10 s) is refused, and a refused Write
#   leaves the instance as it was (the other values in it are not taken).
# - 5.2.6 / E.1-E.2: a Security instance whose Short Server ID no Server
#   instance has, or two server accounts for a client that registers with
#   one, is an inconsistency: Bootstrap-Finish 4.06, and the bootstrap server
#   can put it right and finish again.
# - 5.2.7.5: Delete / keeps the Bootstrap-Server account and the Device
#   object; the objects made from the device (/4) cannot be deleted: 4.00.
# - 5.2.7.3: a GET of / without Accept (older bootstrap servers) is a Discover.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 16
bsp=$(free_port)
srv=$(free_port)
ep=it-bsref-$bsp
uri="coap://127.0.0.1:$srv"
senml() { # PATH JSON-RECORDS: a Bootstrap-Write step in SenML JSON (110)
	python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "method": "PUT",
"path": sys.argv[2], "cf": 110, "payload": sys.argv[3]}))' "$@"
}
{
	echo '{"name":"delete","method":"DELETE","path":"/"}'
	senml write-security /0/1 "[{\"bn\":\"/0/1/\",\"n\":\"0\",\"vs\":\"$uri\"},{\"n\":\"1\",\"vb\":false},{\"n\":\"2\",\"v\":3},{\"n\":\"10\",\"v\":3}]"
	echo '{"name":"finish-no-server","method":"POST","path":"/bs"}'
	senml write-server /1/1 '[{"bn":"/1/1/","n":"0","v":3},{"n":"1","v":300},{"n":"7","vs":"U"},{"n":"13","v":1}]'
	senml write-binding-s /1/1/7 '[{"bn":"/1/1/","n":"7","vs":"S"}]'
	senml write-res-13 /1/1/13 '[{"bn":"/1/1/","n":"13","v":1}]'
	senml write-lifetime-5 /1/1 '[{"bn":"/1/1/","n":"2","v":10},{"n":"1","v":5}]'
	echo '{"name":"read","method":"GET","path":"/1/1","accept":110}'
	senml write-second /0/5 '[{"bn":"/0/5/","n":"0","vs":"coap://127.0.0.1:9"},{"n":"1","vb":false},{"n":"2","v":3},{"n":"10","v":9}]'
	echo '{"name":"finish-two","method":"POST","path":"/bs"}'
	echo '{"name":"delete-second","method":"DELETE","path":"/0/5"}'
	echo '{"name":"delete-4","method":"DELETE","path":"/4"}'
	echo '{"name":"delete-all","method":"DELETE","path":"/"}'
	echo '{"name":"discover-empty","method":"GET","path":"/","accept":40}'
	senml write-security-2 /0/1 "[{\"bn\":\"/0/1/\",\"n\":\"0\",\"vs\":\"$uri\"},{\"n\":\"1\",\"vb\":false},{\"n\":\"2\",\"v\":3},{\"n\":\"10\",\"v\":3}]"
	senml write-server-2 /1/1 '[{"bn":"/1/1/","n":"0","v":3},{"n":"1","v":300},{"n":"7","vs":"U"}]'
	echo '{"name":"discover-no-accept","method":"GET","path":"/"}'
	echo '{"name":"read-security","method":"GET","path":"/0/1"}'
	echo '{"name":"finish","method":"POST","path":"/bs"}'
} >"$T/script"
bs_peers "$bsp" "$srv" "$ep" 300ms
code() { jfield "$(bs_step "$1")" code; }

"$BIN/m2mdm-status" --report -v >"$T/r1.out" 2>"$T/r1.err"
is $? 0 "--report: the bootstrap ends once the bootstrap server put it right"
is "$(code finish-no-server)" 4.06 "Finish with Security /0/1 (SSID 3) and no Server instance of SSID 3: 4.06"
is "$(code write-server)" 2.04 "Write /1/1 with resource 13 inside (not supported here: ignored, 5.2.7.4)"
is "$(code write-binding-s)" 4.00 "Write /1/1/7 = S (no SMS here): refused, not dropped"
is "$(code write-res-13)" 4.00 "Write /1/1/13 alone (a resource not supported): refused, not dropped"
is "$(code write-lifetime-5)" 4.00 "Write /1/1 with lifetime 5 s: refused"
python3 - "$(bs_step read)" <<'PY'
import json, sys
vals, bn = {}, ""
for r in json.loads(json.loads(sys.argv[1])["payload"]):
    bn = r.get("bn", bn)
    vals[bn + r["n"]] = r.get("v", r.get("vb", r.get("vs")))
sys.exit(0 if vals == {"/1/1/0": 3, "/1/1/1": 300, "/1/1/7": "U"} else 1)
PY
ok $? "Bootstrap-Read /1/1: what was kept; the refused Write took nothing (no /1/1/2) ($(jfield "$(bs_step read)" payload))"
is "$(code finish-two)" 4.06 "Finish with two server accounts (SSID 3 and 9): 4.06"
is "$(code delete-second)" 2.02 "Delete /0/5"
is "$(code delete-4)" 4.00 "Delete /4 (made from the device's interfaces): 4.00"
d=$(jfield "$(bs_step discover-empty)" payload)
[[ "$d" == "</>;lwm2m=1.1,</0/0>,</1>;ver=1.1,</3>;ver=1.1,</3/0>,</4/0>"* ]]
ok $? "after Delete /: the Bootstrap-Server account /0/0 and /3/0 remain, no server account ($d)"
line=$(bs_step discover-no-accept)
[ "$(jfield "$line" code)" = 2.05 ] && [ "$(jfield "$line" cf)" = 40 ] &&
	[[ "$(jfield "$line" payload)" == *"</0/1>;ssid=3;uri=\"$uri\""*"</1/1>;ssid=3"* ]]
ok $? "GET / without Accept: a Discover (link format) ($(jfield "$line" payload))"
is "$(code read-security)" 4.01 "Bootstrap-Read of /0/1 (the credentials): 4.01"
is "$(code finish)" 2.04 "Finish once consistent"
reg=$(grep '"event":"register"' "$T/srv.log" | head -1)
[[ ",$(jfield "$reg" links)," == *",</1/1>,"* ]] && [[ "&$(jfield "$reg" query)&" == *"&lt=300&"* ]]
ok $? "registered with /1/1 and lifetime 300 ($reg)"
grep -qx "reported to $uri as $ep" "$T/r1.out"
ok $? "--report names the server from the bootstrap"
[ "$_fail" = 0 ] || diag "$(cat "$T/bs.log" "$T/srv.log" "$T/r1.err")"
done_testing
