#!/bin/bash
# Values larger than one block (RFC 7959): with dm.block_size 64 the
# Register's links go out in 64-byte blocks (Block1), a Read of /3 comes back
# in 64-byte blocks, each carrying the
# same ETag; a notification of such a value carries its first block with
# ETag and Size2, and the server GETs the rest from that very value (libcoap
# keeps a copy), also a second later; once a newer notification replaced the
# copy (the Current Time in /3 moves every second), a later block carries
# another ETag, so the server starts again instead of joining two values. Against
# the project's own test server (tests/tools/lw-observer.py, which fetches
# the later blocks and checks their ETags).
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 19
port=$(free_port)
ep=it-blocks-$port
mkfifo "$T/ctl"
cat >"$T/m2m.yaml" <<YAML
version: 1
device: {id: $ep, manufacturer: m2m test lab, model: blocks}
state_dir: $T/state
charon: {vici: "unix://$T/no-charon.vici"}
dm:
  server: "coap://127.0.0.1:$port"
  security: nosec
  lifetime: 10m
  block_size: 64
vpn:
  profiles:
    pos:
      gateway: gw.example
      remote_id: gw.example
      auth: {method: cert, cert: $T/none.crt, key: $T/none.key}
      ca: $T/none-ca.pem
      remote_ts: 10.0.0.0/8
YAML
export M2M_CONFIG=$T/m2m.yaml
bg "$T/srv.log" python3 "$ROOT/tests/tools/lw-observer.py" "$port" "$T/ctl"
exec 9>"$T/ctl"
wait_for "$T/srv.log" '"event":"listening"' 10
ctl() { echo "$*" >&9; }
# the Nth (1-based) event of a kind that completed, as one JSON line
nth() { grep "\"event\":\"$1\",\"path\":\"/3\"," "$T/srv.log" | grep '"length"' | sed -n "${2}p"; }
# field of a JSON line
field() { grep -oE "\"$2\":(\"[^\"]*\"|[0-9a-z]+)" <<<"$1" | head -1 | cut -d: -f2 | tr -d '"'; }
# the value of an event is SenML JSON of /3 with the manufacturer and the current time
senml_ok() {
	python3 - "$1" <<'PY'
import json, sys
recs = json.loads(json.loads(sys.argv[1])["value"])
names, base = set(), ""
for r in recs:
    base = r.get("bn", base)
    names.add(base + r.get("n", ""))
man = [r for r in recs if r.get("vs") == "m2m test lab"]
sys.exit(0 if man and "/3/0/13" in names else 1)
PY
}

# --serve started while the server is deaf: it does not give up, it registers once it hears
ctl deaf
wait_for "$T/srv.log" '"event":"deaf"' 5
bg "$T/client.log" "$BIN/m2mdm-status" --serve -v
wait_for "$T/client.log.err" "trying again" 10
ok $? "--serve, server out of reach at start: a warning, and it keeps going"
ctl hear
wait_for "$T/srv.log" '"event":"register"' 20
ok $? "registered once the server answers"
reg=$(grep '"event":"register"' "$T/srv.log" | head -1)
[ "$(field "$reg" blocks)" -ge 2 ] && grep -q '</3/0>' <<<"$reg" && grep -q '</33810/0>' <<<"$reg"
ok $? "the Register's links went in $(field "$reg" blocks) blocks (Block1) and arrived whole"

# Execute Connect of the VPN profile: accepted at once (2.04), done after the answer; the
# outcome (here: no charon) shows in the profile's Last Error
ctl exec /33810/0/6
wait_for "$T/srv.log" '"event":"exec","path":"/33810/0/6"' 10
grep -q '"event":"exec","path":"/33810/0/6","code":"2.04"' "$T/srv.log"
ok $? "Execute Connect: 2.04 at once"
sleep 0.5
ctl fetch /33810/0/3
wait_for "$T/srv.log" '"event":"fetch","path":"/33810/0/3"' 10
grep -qE '"event":"fetch","path":"/33810/0/3","code":"2.05".*"value":"[^"]+' "$T/srv.log"
ok $? "then the profile's Last Error says why it did not connect ($(grep -o '"path":"/33810/0/3".*"value":"[^"]*"' "$T/srv.log"))"

# a resource instance (/4/0/4/0: the first IP address) and a path nobody serves
ctl fetch /4/0/4/0
ctl fetch /4/0/4/99
wait_for "$T/srv.log" '"event":"fetch","path":"/4/0/4/99"' 10
grep -qE '"event":"fetch","path":"/4/0/4/0","code":"2.05".*"value":"[0-9a-f.:]+"' "$T/srv.log"
ok $? "Read of a resource instance (/4/0/4/0): 2.05 with an address"
grep -q '"event":"fetch","path":"/4/0/4/99","code":"4.04"' "$T/srv.log"
ok $? "Read of a resource instance that does not exist: 4.04"

ctl fetch /3 110
wait_for "$T/srv.log" '"event":"fetch".*"length"' 10
f=$(nth fetch 1)
is "$(field "$f" block_size)" 64 "Read of /3: in 64-byte blocks (dm.block_size)"
[ "$(field "$f" blocks)" -ge 4 ]
ok $? "Read of /3: $(field "$f" blocks) blocks of one value, ETag $(field "$f" etag)"
[ -n "$(field "$f" etag)" ] && [ "$(field "$f" size2)" = "$(field "$f" length)" ]
ok $? "Read of /3: an ETag, and Size2 ($(field "$f" size2)) is the length put together"
senml_ok "$f"
ok $? "Read of /3: the blocks put together are SenML JSON with the manufacturer and the time"

# an observation of /3, at most one notification every 2 s (the time in /3 moves every second)
ctl attr /3 pmin=2
wait_for "$T/srv.log" '"event":"attr","path":"/3","code":"2.04"' 10
ok $? "Write-Attributes pmin=2 on /3: 2.04"
ctl observe /3 110
wait_for "$T/srv.log" '"event":"notify".*"length"' 10
ok $? "a notification of /3 (larger than a block) arrived and its later blocks were fetched"
n=$(nth notify 1)
senml_ok "$n"
ok $? "the notification's blocks put together are SenML JSON of /3"
[ "$(field "$n" restarts)" = 0 ] && [ "$(field "$n" size2)" = "$(field "$n" length)" ]
ok $? "with Size2 ($(field "$n" size2)) and every block under the notification's ETag"

# completed notifications after line $1 of the log with restarts $2 (a regex)
after() { tail -n +"$(($1 + 1))" "$T/srv.log" | grep '"event":"notify"' | grep '"length"' | grep -E "\"restarts\":$2" | grep -E "\"delay_ms\":$3"; }
# the server asks for block 1 a second late: still the notified value, from libcoap's copy
ctl blockdelay 1000
mark=$(wc -l <"$T/srv.log")
for ((i = 0; i < 100; i++)); do [ -n "$(after "$mark" 0 1000)" ] && break; sleep 0.1; done
[ -n "$(after "$mark" 0 1000)" ]
ok $? "block 1 asked for 1 s later: the blocks of the notified value, no restart"

# 3 s late: a newer notification replaced that copy, its ETag differs, the server starts again
ctl blockdelay 3000
mark=$(wc -l <"$T/srv.log")
for ((i = 0; i < 150; i++)); do [ -n "$(after "$mark" '[1-3]' 3000)" ] && break; sleep 0.1; done
tail -n +"$((mark + 1))" "$T/srv.log" | grep -q '"event":"etag-changed","path":"/3","block":1'
ok $? "block 1 asked for 3 s later: another ETag (a newer value), the server saw it"
r=$(after "$mark" '[1-3]' 3000 | head -1)
[ -n "$r" ] && senml_ok "$r"
ok $? "after starting again from block 0, a whole value of one ETag"
! grep -q '"error"' "$T/srv.log"
ok $? "no transfer failed: $(grep '"error"' "$T/srv.log" | head -1)"
done_testing
