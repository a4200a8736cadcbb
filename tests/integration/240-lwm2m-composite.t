#!/bin/bash
# LwM2M 1.1 Read-Composite and Write-Composite, played by a raw CoAP peer
# (tests/tools/lw-rawrd.py) and judged from the specifications' text:
# - TS 1.1 Core, Device Management interface: Read-Composite is a FETCH on the root path
#   whose payload lists the paths to read (objects, instances, resources, resource
#   instances), answered 2.05 with their values; Write-Composite is an iPATCH on the root
#   path whose payload carries the values, answered 2.04. TS 1.1 Transport: both in SenML
#   JSON (Content-Format 110) or SenML CBOR (112); the answer in the Accept's format.
# - RFC 8428 (SenML) 4.1 and 4.5: a base name holds for the records after it until the
#   next one, and a record's name is the base name and its name joined; LwM2M's names
#   are paths. 6: CBOR labels (bn -2, n 0, v 2, vs 3, vb 4).
# - RFC 7252 5.8 and TS 1.1 Core's answers: an Accept the client cannot give is 4.06, a
#   Content-Format it cannot read is 4.15; a write applies whole or not at all (a value
#   that cannot be written is 4.05 and changes nothing).
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 25

port=$(free_port)
J=110 C=112
ops=(
	# 1: three resources of two objects, no Accept: the request's format
	"op=fetch:$J:-:[{\"n\":\"/3/0/0\"},{\"n\":\"/3/0/2\"},{\"n\":\"/1/0/1\"}]"
	# 2: CBOR with a base name and relative names (as servers send them), Accept CBOR
	"op=fetch:$C:$C:[{\"bn\":\"/\",\"n\":\"3/0/1\"},{\"n\":\"1/0\"}]"
	# 3: JSON asked, CBOR wanted
	"op=fetch:$J:$C:[{\"n\":\"/3/0/0\"}]"
	# 4: a path the client lacks, next to one it has
	"op=fetch:$J:$J:[{\"n\":\"/3/0/0\"},{\"n\":\"/31999/0\"}]"
	# 5: only paths it lacks
	"op=fetch:$J:$J:[{\"n\":\"/31999/0\"},{\"n\":\"/3/77\"}]"
	# 6: an Accept it cannot give; 7: a Content-Format it cannot read
	"op=fetch:$J:0:[{\"n\":\"/3/0/0\"}]"
	"op=fetch:11542:$J:[{\"n\":\"/3/0/0\"}]"
	# 8: Write-Composite over two objects, 9: read back in one Read-Composite
	"op=ipatch:$J:[{\"bn\":\"/1/0/\",\"n\":\"2\",\"v\":7},{\"n\":\"3\",\"v\":60},{\"bn\":\"/3/0/\",\"n\":\"14\",\"vs\":\"+01:00\"}]"
	"op=fetch:$J:$J:[{\"n\":\"/1/0/2\"},{\"n\":\"/1/0/3\"},{\"n\":\"/3/0/14\"}]"
	# 10: one writable value and one read-only (Manufacturer): nothing written
	"op=ipatch:$J:[{\"bn\":\"/1/0/\",\"n\":\"2\",\"v\":8},{\"bn\":\"/3/0/\",\"n\":\"0\",\"vs\":\"x\"}]"
	"op=get:/1/0/2:0"
	# 12: Write-Composite in CBOR
	"op=ipatch:$C:[{\"bn\":\"/1/0/\",\"n\":\"3\",\"v\":120}]"
	"op=get:/1/0/3:0"
	# 14, 15: the composite operations are on the root path only
	"op=fetch@/3/0:$J:$J:[{\"n\":\"/3/0/0\"}]"
	"op=ipatch@/1/0:$J:[{\"bn\":\"/1/0/\",\"n\":\"3\",\"v\":99}]"
)
bg "$T/srv.log" python3 "$ROOT/tests/tools/lw-rawrd.py" "$port" "${ops[@]}"
wait_for "$T/srv.log" '"event":"listening"' 10 || { echo "Bail out! peer did not start"; exit 1; }
cat >"$T/c.yaml" <<YAML
version: 1
device: {id: it-composite, manufacturer: ACME, model: Gate-7, serial: S-240}
state_dir: $T/state
charon: {vici: "unix://$T/no-charon.vici"}
dm:
  server: "coap://127.0.0.1:$port"
  security: nosec
  binding: UQ
  lifetime: 10m
  queue_window: 5s
  timeout: 20s
YAML
# the queue window ends the run; the peer's requests are all in it (they take ms)
M2M_CONFIG=$T/c.yaml "$BIN/m2mdm-status" --report -v >"$T/out" 2>"$T/err"
is $? 0 "the run reports (exit 0)"
grep -q '"event":"ops_done"' "$T/srv.log"
ok $? "the peer's requests all ran in the queue window"

# op N FIELD: the answer, Content-Format, or the SenML as resolved name=value pairs
op() {
	PYTHONPATH=$ROOT/tests/tools python3 - "$T/srv.log" "$1" "$2" <<'EOF'
import json, sys
from labcoap import senml_resolve
ops = [e for e in map(json.loads, open(sys.argv[1])) if e["event"] == "op"]
e = ops[int(sys.argv[2]) - 1]
f = sys.argv[3]
if f == "senml":
    s = e["senml"]
    if not isinstance(s, list):
        print(s)
    else:
        out = []
        for name, r in senml_resolve(s):
            v = [(k, r[k]) for k in ("v", "vs", "vb", "vd", "vlo") if k in r]
            out.append("%s=%s" % (name, json.dumps(v[0][1]) if len(v) == 1 else "?"))
        print(" ".join(out))
elif f == "bn":
    print(" ".join(r.get("bn", "-") for r in e["senml"]))
else:
    print(e[f])
EOF
}

is "$(op 1 answer) $(op 1 cf)" "2.05 110" "Read-Composite, SenML JSON, no Accept: 2.05 in SenML JSON"
is "$(op 1 senml)" '/3/0/0="ACME" /3/0/2="S-240" /1/0/1=600' \
	"each record resolves (base name + name) to a path asked for, with its value"
is "$(op 1 bn)" "/3/0/ - /1/0/" "a base name where the instance changes, none where it holds"
is "$(op 2 answer) $(op 2 cf)" "2.05 112" "SenML CBOR with Accept 112: answered in SenML CBOR"
s2=$(op 2 senml)
[[ $s2 == '/3/0/1="Gate-7" /1/0/0=1 /1/0/1=600 '* ]] && [[ $s2 == *' /1/0/7="UQ"'* ]]
ok $? "CBOR: relative names under bn / read; an instance path gives all its resources ($s2)"
[[ $s2 == *' /1/0/23=false'* ]]
ok $? "the Server instance shows Mute Send (/1/0/23, TS 1.1 Core E.2), false by default"
is "$(op 3 cf) $(op 3 senml)" '112 /3/0/0="ACME"' "SenML JSON asked, Accept 112: SenML CBOR"
is "$(op 4 answer) $(op 4 senml)" '2.05 /3/0/0="ACME"' "a path the client lacks is left out"
is "$(op 5 answer)" "4.04" "none of the paths present: 4.04"
is "$(op 6 answer)" "4.06" "Accept text/plain for a composite answer: 4.06 Not Acceptable"
is "$(op 7 answer)" "4.15" "a TLV payload: 4.15 Unsupported Content-Format"

is "$(op 8 answer)" "2.04" "Write-Composite over /1/0 and /3/0: 2.04 Changed"
is "$(op 9 senml)" '/1/0/2=7 /1/0/3=60 /3/0/14="+01:00"' "every value written, read back"
is "$(op 10 answer)" "4.05" "a read-only resource in a Write-Composite: 4.05"
is "$(op 11 text)" "7" "... and nothing of it written (/1/0/2 still 7)"
is "$(op 12 answer)" "2.04" "Write-Composite in SenML CBOR: 2.04"
is "$(op 13 text)" "120" "... its value written"

# what the client logged, and the wire for FETCH and iPATCH on other paths
grep -q "FETCH / (Read-Composite" "$T/err"
ok $? "the log names the Read-Composites"
is "$(op 14 answer)" "4.05" "FETCH on /3/0, not the root: no Read-Composite (4.05)"
is "$(op 15 answer)" "4.05" "iPATCH on /1/0: no Write-Composite (4.05)"
# the CoAP layer: ACKs piggybacked the answers (RFC 7252 5.2.1), nothing was reset
! grep -q '"type":"RST"' "$T/srv.log"
ok $? "no Reset from the client"
grep -q '"path":"rd"' "$T/srv.log"
ok $? "registered with the peer (b=U&Q: queue mode)"
grep -q 'reported to' "$T/out"
ok $? "the run says it reported"
[ "$_fail" = 0 ] || diag "$(cat "$T/srv.log" "$T/err")"
done_testing
