#!/bin/bash
# LwM2M 1.1 Observe-Composite, played by a raw CoAP peer (tests/tools/lw-rawrd.py) and
# judged from the specifications' text:
# - TS 1.1 Core, Information Reporting interface: Observe-Composite is a FETCH on the
#   root path with the Observe option 0 and the paths in SenML; each Notify carries the
#   values of all of them; Cancel Observe-Composite is the same FETCH with Observe 1.
#   TS 1.1 Transport: SenML JSON (110) or CBOR (112).
# - RFC 7641 (Observe) 3.1, 4.2: the answer that takes the observation carries the Observe
#   option, the notifications the observation's token and Observe values that grow; 3.6:
#   a FETCH with Observe 1 and the same token ends it (answered as a plain FETCH), and no
#   notification follows.
# - A queue-mode device keeps its observations across runs (TS 1.1 Core, queue mode): the
#   next --report run notifies the same token after its Update.
# - RFC 8428 4.5: records resolve to names (base name + name).
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 13

port=$(free_port)
C=112
P='[{"n":"/3/0/13"},{"n":"/3/0/14"}]'
cat >"$T/c.yaml" <<YAML
version: 1
device: {id: it-obscomp, manufacturer: ACME}
state_dir: $T/state
charon: {vici: "unix://$T/no-charon.vici"}
dm:
  server: "coap://127.0.0.1:$port"
  security: nosec
  binding: UQ
  lifetime: 10m
  queue_window: 6s
  timeout: 20s
YAML
report() { M2M_CONFIG=$T/c.yaml "$BIN/m2mdm-status" --report -v >"$T/out" 2>>"$T/err"; }
# events of a peer's log as lines: KIND TOKEN OBSERVE NAME=VALUE... (RFC 8428 4.5)
events() {
	PYTHONPATH=$ROOT/tests/tools python3 - "$1" <<'EOF'
import json, sys
from labcoap import senml_resolve
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] not in ("op", "notify", "unasked"):
        continue
    kind = e["event"] if e["event"] != "op" else e["op"].split(":")[0]
    vals = []
    if isinstance(e.get("senml"), list):
        for name, r in senml_resolve(e["senml"]):
            v = [r[k] for k in ("v", "vs") if k in r]
            vals.append("%s=%s" % (name, json.dumps(v[0]) if v else "?"))
    print(kind, e.get("token"), e.get("observe"), e.get("answer"), e.get("cf"), *vals)
EOF
}

# run 1: observe two resources, change one, cancel
bg "$T/p1.log" python3 "$ROOT/tests/tools/lw-rawrd.py" "$port" \
	"op=observe:$C:-:$P" op=wait:2.2 op=put:/3/0/14:+02:00 op=wait:0.6 \
	"op=cancel:$C:-:$P" op=wait:2
p1=$BG_PID
wait_for "$T/p1.log" '"event":"listening"' 10 || { echo "Bail out! peer did not start"; exit 1; }
report
is $? 0 "run 1 reports (exit 0)"
events "$T/p1.log" >"$T/e1"
read -r _ tok obs0 ans cf v1 v2 < <(grep '^observe ' "$T/e1")
is "$ans $cf" "2.05 112" "Observe-Composite answered 2.05 in SenML CBOR"
[ "$obs0" != None ]
ok $? "the answer carries the Observe option (the observation is taken; got $obs0)"
[[ $v1 == /3/0/13=* && $v2 == /3/0/14=* ]]
ok $? "the answer holds both paths' values ($v1 $v2)"
n=$(awk '/^put/ { exit } /^notify/ { n++ } END { print n + 0 }' "$T/e1")
[ "$n" -ge 1 ]
ok $? "notifications with the observation's token while /3/0/13 changes ($n before the write)"
awk '$1 == "notify" { print $3 }' "$T/e1" |
	awk -v o="$obs0" 'BEGIN { l = o } $1 <= l { bad = 1 } { l = $1 } END { exit bad }'
ok $? "Observe values grow (RFC 7641 4.4)"
is "$(awk '$1 == "notify"' "$T/e1" |
	grep -Evc "^notify $tok [0-9]+ 2.05 112 /3/0/13=[0-9]+ /3/0/14=\"[^ ]*\"\$")" 0 \
	"every notification: its token, 2.05, SenML CBOR, both paths"
awk '/^put/ { p = 1; next } p && /^notify/ { print; exit }' "$T/e1" | grep -q '/3/0/14="+02:00"'
ok $? "the write of /3/0/14 is notified with the new value"
read -r _ ctok cobs cans _ < <(grep '^cancel ' "$T/e1")
is "$ctok $cobs $cans" "$tok None 2.05" "the cancel (same token, Observe 1): 2.05 without Observe (RFC 7641 3.6)"
is "$(awk '/^cancel/ { c = 1; next } c && ($1 == "notify" || $1 == "unasked") && $2 == t' t="$tok" "$T/e1" | wc -l)" 0 \
	"no notification after the cancel"
grep -q "FETCH / (Observe-Composite, 2 records): 2.05" "$T/err"
ok $? "the log names the Observe-Composite"
kill "$p1" 2>/dev/null
wait "$p1" 2>/dev/null

# run 2 observes again and ends the run with the observation alive; run 3 notifies it
bg "$T/p2.log" python3 "$ROOT/tests/tools/lw-rawrd.py" "$port" "op=observe:$C:-:$P"
p2=$BG_PID
wait_for "$T/p2.log" '"event":"listening"' 10
report
tok2=$(events "$T/p2.log" | awk '$1 == "observe" { print $2 }' | head -1)
kill "$p2" 2>/dev/null
wait "$p2" 2>/dev/null
bg "$T/p3.log" python3 "$ROOT/tests/tools/lw-rawrd.py" "$port"
wait_for "$T/p3.log" '"event":"listening"' 10
sed -i 's/queue_window: 6s/queue_window: 2s/' "$T/c.yaml"
report
is $? 0 "run 3 (a new process, a new port) reports"
events "$T/p3.log" | awk -v t="$tok2" '$1 == "unasked" && $2 == t && $4 == "2.05"' | head -1 >"$T/n3"
[ -s "$T/n3" ] && grep -q '/3/0/13=[0-9]* /3/0/14=' "$T/n3"
ok $? "run 3 notifies the observation run 2 took (token $tok2), both paths: $(cat "$T/n3")"
[ "$_fail" = 0 ] || diag "$(cat "$T/p1.log" "$T/p3.log" "$T/err")"
done_testing
