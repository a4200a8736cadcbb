#!/bin/bash
# LwM2M 1.1 Send (dm.send), played by a raw CoAP peer (tests/tools/lw-rawrd.py) and judged
# from the specifications' text:
# - TS 1.1 Core, Information Reporting interface, Send: the client sends values to the
#   server without a request of the server's; TS 1.1 Transport: a confirmable POST to
#   /dp with the values in SenML JSON (110) or SenML CBOR (112), answered 2.04 Changed.
#   The Register comes first (a Send goes to a server the client is registered with).
# - TS 1.1 Core Appendix E.2, Server object, resource 23 Mute Send: while true, the client
#   does not use Send. TS 1.0 has no Send: a server that registered us as 1.0 gets none.
# - RFC 8428 4.5 (names: base name + name) and 6 (CBOR labels); RFC 7252 5.8 and 12.3: a
#   server without Send answers 4.04 or 4.05, one without a format 4.15.
# A refused or failed Send is a warning in the log; the report itself succeeds (exit 0).
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 19

conf() { # NAME PORT
	cat >"$T/$1.yaml" <<YAML
version: 1
device: {id: it-send-$2, manufacturer: ACME, model: Gate-7, serial: S-241}
state_dir: $T/$1-state
charon: {vici: "unix://$T/no-charon.vici"}
dm:
  server: "coap://127.0.0.1:$2"
  security: nosec
  binding: UQ
  lifetime: 10m
  queue_window: 1s
  timeout: 15s
  send: [/3/0/0, /3/0/2, /1/0/1]
YAML
}
peer() { # NAME OPTION...: a raw peer on a port of its own ($port), and NAME's config for it
	rawrd_peer "$@"
	conf "$1" "$port"
}
report() { # NAME
	M2M_CONFIG=$T/$1.yaml "$BIN/m2mdm-status" --report -v >"$T/$1.out" 2>>"$T/$1.err"
}
# the requests a peer saw, one line each: METHOD TYPE PATH ANSWER PORT
seen() {
	python3 - "$T/$1.log" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "request":
        print(e["method"], e["type"], e["path"], e["answer"], e["port"])
EOF
}
# the Sends a peer took: CF NAME=VALUE... (names resolved per RFC 8428 4.5)
sends() {
	PYTHONPATH=$ROOT/tests/tools python3 - "$T/$1.log" <<'EOF'
import json, sys
from labcoap import senml_resolve
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "send":
        s = e["senml"]
        out = [str(e["cf"])]
        if isinstance(s, list):
            for name, r in senml_resolve(s):
                v = [r[k] for k in ("v", "vs", "vb", "vd") if k in r]
                out.append("%s=%s" % (name, json.dumps(v[0]) if len(v) == 1 else "?"))
        else:
            out.append(str(s))
        print(" ".join(out))
EOF
}

# a server that takes Send
peer a
report a
is $? 0 "the run reports (exit 0)"
is "$(seen a | awk '{ print $1, $2, $3, $4 }' | tr '\n' ',')" "POST CON rd 2.01,POST CON dp 2.04," \
	"the Register, then one confirmable POST /dp, answered 2.04"
is "$(seen a | awk '{ print $5 }' | sort -u | wc -l)" 1 "both from the registered endpoint (one port)"
is "$(sends a)" '112 /3/0/0="ACME" /3/0/2="S-241" /1/0/1=600' \
	"SenML CBOR; each record resolves to a path of dm.send, with its value"
grep -Eq "sent 3 values of the dm.send paths to /dp \(SenML CBOR, [0-9]+ bytes\)" "$T/a.err"
ok $? "the log says what was sent"
report a
is "$(seen a | awk '{ print $3, $4 }' | tr '\n' ',')" "rd 2.01,dp 2.04,rd/r1 2.04,dp 2.04," \
	"the next run: the Update, then the Send again"

# a server without Send: 4.05, and one that refuses it as a path it lacks: 4.04
for c in 4.05 4.04; do
	peer "no$c" "dp=$c"
	report "no$c"
	is $? 0 "Send answered $c: the report still succeeds (exit 0)"
	grep -q "Send: the server refused it ($c: it has no Send); the values wait to be read" \
		"$T/no$c.err"
	ok $? "... and the log says why, as a warning"
done

# a server that reads SenML JSON only: 4.15 to the CBOR, then the same values in JSON
peer json dp=4.15
report json
is "$(sends json | cut -d' ' -f1 | tr '\n' ' ')" "112 110 " "4.15 to SenML CBOR: sent again in SenML JSON"
is "$(sends json | sed -n 2p)" '110 /3/0/0="ACME" /3/0/2="S-241" /1/0/1=600' "... the same values"
grep -q "Send: the server answered 4.15; the values wait to be read" "$T/json.err"
ok $? "refused in JSON too: a warning"

# Mute Send (/1/0/23), written by the server in one run, holds in the next
peer mute op=put:/1/0/23:1 op=get:/1/0/23:0
report mute
is "$(sends mute | wc -l)" 1 "before the server mutes it: one Send"
report mute
is "$(seen mute | awk '{ print $3 }' | tr '\n' ' ')" "rd dp rd/r1 " \
	"muted (Server resource 23 written true): the next run Updates and sends nothing"
grep -q "Send: not sent: the server muted it (Server resource 23, Mute Send)" "$T/mute.err"
ok $? "the log says it is muted"
grep -q '"op":"get:/1/0/23:0".*"text":"1"' "$T/mute.log"
ok $? "the server reads Mute Send back as true"

# a server that registered us as LwM2M 1.0: no Send there
peer v10 refuse=1.1:4.12
report v10
is "$(seen v10 | awk '{ print $3, $4 }' | tr '\n' ',')" "rd 4.12,rd 2.01," "LwM2M 1.0 server: no POST /dp"
grep -q "Send: not sent: the server registered us as LwM2M 1.0, which has no Send" "$T/v10.err"
ok $? "the log says why"
[ "$_fail" = 0 ] || for f in a no4.05 json mute v10; do diag "$(cat "$T/$f.log" "$T/$f.err")"; done
done_testing
