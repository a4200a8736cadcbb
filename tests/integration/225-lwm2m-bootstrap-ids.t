#!/bin/bash
# Bootstrap keeps what the bootstrap server wrote (TS 1.1 Core 5.2.7 and
# appendix E), checked on the wire against the specification's text, not
# against our own bootstrap server: a raw CoAP peer (tests/tools/lw-bs-peer.py)
# sends exactly the requests below, then the project's test LwM2M server
# (tests/tools/lw-observer.py) sees the Register and reads the Server object.
# - E.1/E.2: a Security and a Server instance belong together by the Short
#   Server ID, whatever their instance IDs: /0/2 and /1/3 with SSID 7 is one
#   server account; the client registers </1/3> and /1/3/0 reads 7.
# - E.2: Default Minimum/Maximum Period, Disable Timeout and Notification
#   Storing written at bootstrap are kept (read back) and used (an observation
#   without attributes is notified at the written default pmax).
# - 5.2.7.3: Bootstrap-Discover has lwm2m=1.1 on the root, ssid= on Security
#   and Server instances and uri= on the server's Security instance, the
#   Bootstrap-Server account without ssid, and every object the client has.
# - Transport 6.1: a Bootstrap-Read without Accept is answered in a data format.
# - after it, --report names the server the bootstrap gave, and --json shows it.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 22
bsp=$(free_port)
srv=$(free_port)
ep=it-bsids-$bsp
uri="coap://127.0.0.1:$srv"
cat >"$T/script" <<EOF
{"name":"delete","method":"DELETE","path":"/"}
{"name":"write-security","method":"PUT","path":"/0/2","cf":110,"payload":"[{\"bn\":\"/0/2/\",\"n\":\"0\",\"vs\":\"$uri\"},{\"n\":\"1\",\"vb\":false},{\"n\":\"2\",\"v\":3},{\"n\":\"10\",\"v\":7}]"}
{"name":"write-server","method":"PUT","path":"/1/3","cf":110,"payload":"[{\"bn\":\"/1/3/\",\"n\":\"0\",\"v\":7},{\"n\":\"1\",\"v\":120},{\"n\":\"2\",\"v\":1},{\"n\":\"3\",\"v\":2},{\"n\":\"5\",\"v\":3600},{\"n\":\"6\",\"vb\":false},{\"n\":\"7\",\"vs\":\"U\"}]"}
{"name":"discover","method":"GET","path":"/","accept":40}
{"name":"discover-0","method":"GET","path":"/0","accept":40}
{"name":"read","method":"GET","path":"/1/3"}
{"name":"read-res","method":"GET","path":"/1/3/5"}
{"name":"finish","method":"POST","path":"/bs"}
EOF
bs_peers "$bsp" "$srv" "$ep" 6s

"$BIN/m2mdm-status" --report -v >"$T/r1.out" 2>"$T/r1.err" &
r=$!
wait_for "$T/srv.log" '"event":"register"' 20
for p in /1/3/0 /1/3/1 /1/3/2 /1/3/3 /1/3/5 /1/3/6 /1/0/0; do echo "fetch $p" >&9; done
echo "observe /1/3/1" >&9
wait "$r"
is $? 0 "--report: bootstrap, then register with what it gave"

is "$(jfield "$(bs_step write-server)" code)" 2.04 "Bootstrap-Write /1/3 (SSID 7, lifetime, pmin, pmax, Disable Timeout, storing, binding)"
d=$(jfield "$(bs_step discover)" payload)
diag "Bootstrap-Discover /: $d"
python3 - "$d" "$uri" <<'PY'
import re, sys
links, uri = sys.argv[1].split(","), sys.argv[2]
ok = links[0] == "</>;lwm2m=1.1" \
    and "</0/0>" in links \
    and '</0/2>;ssid=7;uri="%s"' % uri in links \
    and "</1/3>;ssid=7" in links \
    and not any(l.startswith("</0/1>") or l.startswith("</1/0>") for l in links)
sys.exit(0 if ok else 1)
PY
ok $? "Discover: lwm2m=1.1 on the root, the Bootstrap-Server account bare, /0/2 with ssid=7 and uri, /1/3 with ssid=7"
python3 - "$d" <<'PY'
import re, sys
objs = {int(m.group(1)) for m in re.finditer(r"</(\d+)(?:/\d+)?>", sys.argv[1])}
sys.exit(0 if {0, 1, 3, 4, 5, 6, 33810} <= objs else 1)
PY
ok $? "Discover lists every object the client has: 0, 1, 3, 4, 5, 6 and 33810"
d0=$(jfield "$(bs_step discover-0)" payload)
[[ "$d0" == "</>;lwm2m=1.1,</0/0>,</0/2>;ssid=7;uri=\"$uri\"" ]]
ok $? "Discover /0: only the Security instances ($d0)"
line=$(bs_step read)
[ "$(jfield "$line" code)" = 2.05 ] && [ "$(jfield "$line" cf)" != 40 ] && python3 - "$line" <<'PY'
import json, sys
m = json.loads(sys.argv[1])
assert m["cf"] == 110, m["cf"]
vals, bn = {}, ""
for r in json.loads(m["payload"]):
    bn = r.get("bn", bn)
    vals[bn + r["n"]] = r.get("v", r.get("vb", r.get("vs")))
want = {"/1/3/0": 7, "/1/3/1": 120, "/1/3/2": 1, "/1/3/3": 2, "/1/3/5": 3600,
        "/1/3/6": False, "/1/3/7": "U"}
sys.exit(0 if vals == want else 1)
PY
ok $? "Bootstrap-Read /1/3 without Accept: 2.05 in SenML JSON (110), not link format, with what was written ($line)"
line=$(bs_step read-res)
[ "$(jfield "$line" code)" = 2.05 ] && [ "$(jfield "$line" cf)" = 0 ] && [ "$(jfield "$line" payload)" = 3600 ]
ok $? "Bootstrap-Read /1/3/5 without Accept: text/plain 3600 ($line)"
is "$(jfield "$(bs_step finish)" code)" 2.04 "Bootstrap-Finish accepted"

reg=$(grep '"event":"register"' "$T/srv.log" | head -1)
links=$(jfield "$reg" links)
[[ ",$links," == *",</1/3>,"* ]] && [[ "$links" != *"</1/0>"* ]]
ok $? "Register lists </1/3>, not </1/0> ($links)"
[[ "&$(jfield "$reg" query)&" == *"&lt=120&"* ]]
ok $? "Register carries the lifetime written (lt=120: $(jfield "$reg" query))"
val() { grep "\"event\":\"fetch\",\"path\":\"$1\"" "$T/srv.log" | head -1; }
is "$(jfield "$(val /1/3/0)" value)" 7 "the server reads /1/3/0: Short Server ID 7"
is "$(jfield "$(val /1/3/2)" value)" 1 "/1/3/2 Default Minimum Period as written"
is "$(jfield "$(val /1/3/3)" value)" 2 "/1/3/3 Default Maximum Period as written"
is "$(jfield "$(val /1/3/5)" value)" 3600 "/1/3/5 Disable Timeout as written"
is "$(jfield "$(val /1/3/6)" value)" 0 "/1/3/6 Notification Storing as written (false: text 0)"
is "$(jfield "$(val /1/0/0)" code)" 4.04 "/1/0 is not there"
# the default pmax (2 s) is what an observation without attributes gets
# (TS 1.1 Core 7.3.2); lifetime does not change, so only pmax makes it notify.
# Slack: at most 6 s after the Observe for a loaded machine (window 6 s).
t0=$(grep '"event":"observe","path":"/1/3/1"' "$T/srv.log" | head -1 | grep -oE '"ms":[0-9]+' | cut -d: -f2)
t1=$(grep '"event":"notify","path":"/1/3/1"' "$T/srv.log" | head -1 | grep -oE '"ms":[0-9]+' | cut -d: -f2)
[ -n "$t0" ] && [ -n "$t1" ] && [ $((t1 - t0)) -ge 1500 ]
ok $? "an observation of /1/3/1 is notified at the written default pmax (after $((${t1:-0} - ${t0:-0})) ms)"

grep -qx "reported to $uri as $ep" "$T/r1.out"
ok $? "--report names the server from the bootstrap ($(cat "$T/r1.out"))"
"$BIN/m2mdm-status" --json >"$T/s.json"
is "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["management"]["server"])' "$T/s.json")" \
	"$uri" "--json: management.server is the server from the bootstrap"
python3 - "$T/state/dm-bootstrap.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
sys.exit(0 if (b["security_instance"], b["server_instance"], b["ssid"], b["default_pmax"],
               b["notification_storing"]) == (2, 3, 7, 2, False) else 1)
PY
ok $? "dm-bootstrap.json keeps /0/2, /1/3, SSID 7 and the Server resources for the next runs"
# the next run: no bootstrap, the same registration; a factory dm.server in
# the configuration does not win over what the bootstrap gave (nor make the
# run take the saved registration for another server's)
sed -i "s|^  bootstrap:|  server: \"coap://127.0.0.1:9\"\n  bootstrap:|" "$T/m2m.yaml"
"$BIN/m2mdm-status" --report -v -t 3 >"$T/r2.out" 2>"$T/r2.err"
is $? 0 "the next run (a factory dm.server added)"
[ "$(grep -c '"event":"register"' "$T/srv.log")" = 1 ] && grep -q '"event":"update"' "$T/srv.log" &&
	[ "$(grep -c '"event":"request"' "$T/bs.log")" = 1 ]
ok $? "it Updates the registration of /1/3 with the bootstrapped server: no second Register, no bootstrap"
[ "$_fail" = 0 ] || diag "$(cat "$T/bs.log" "$T/srv.log" "$T/r1.err")"
done_testing
