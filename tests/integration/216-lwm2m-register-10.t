#!/bin/bash
# A server that speaks only LwM2M 1.0, played by a raw CoAP peer (tests/tools/lw-rawrd.py).
# LwM2M TS 1.0 and 1.1 give one answer to a Register whose version the server does not
# speak: 4.12 Precondition Failed, "Supported LwM2M Versions of the Server and the Client
# are not compatible"; TS 1.0 answers 4.00 to "unknown parameter is specified", which is
# what Q (TS 1.1's queue-mode parameter) is to it. Either way the client registers again
# at once as 1.0, whose binding says queue mode itself (b=UQ, no Q), says so in its log,
# and Updates that registration the 1.0 way (b= when the binding changes). A server that
# refuses 1.0 too gets no third Register, and a 4.00 to a Register without Q is no
# version question: no second Register.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 16
conf() { # NAME PORT BINDING
	cat >"$T/$1.yaml" <<YAML
version: 1
device: {id: it-v10-$2}
state_dir: $T/$1-state
charon: {vici: "unix://$T/no-charon.vici"}
dm:
  server: "coap://127.0.0.1:$2"
  security: nosec
  binding: $3
  lifetime: 10m
  queue_window: 200ms
  timeout: 10s
YAML
}
peer() { rawrd_peer "$@"; } # NAME OPTION...: a raw peer on a port of its own ($port)
# the queries of the requests a peer saw, one line each: PATH ANSWER QUERY...
seen() {
	python3 - "$T/$1.log" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == "request":
        print(e["path"], e["answer"], " ".join(sorted(e["query"])))
EOF
}
report() { # NAME
	M2M_CONFIG=$T/$1.yaml "$BIN/m2mdm-status" --report -v >"$T/$1.out" 2>>"$T/$1.err"
}

# a 1.0 server by TS 1.0's version check: 4.12 to lwm2m=1.1
peer a refuse=1.1:4.12
conf a "$port" UQ
report a
is $? 0 "4.12 to LwM2M 1.1: the run still registers (exit 0)"
is "$(seen a | sed -n 1p)" "rd 4.12 Q b=U ep=it-v10-$port lt=600 lwm2m=1.1" \
	"first: the 1.1 Register (b=U&Q), answered 4.12"
is "$(seen a | sed -n 2p)" "rd 2.01 b=UQ ep=it-v10-$port lt=600 lwm2m=1.0" \
	"then at once: the 1.0 Register, queue mode in the binding (b=UQ), no Q"
grep -q "Register: the server answered 4.12 to LwM2M 1.1 (versions not compatible): registering as LwM2M 1.0 with b=UQ" "$T/a.err"
ok $? "the log says why it registered as 1.0"
grep -q "registered as it-v10-$port at /rd/r1 (lifetime 600 s, binding UQ, LwM2M 1.0)" "$T/a.err"
ok $? "the log names the version registered"
grep -Eq '"lwm2m": ?"1.0"' "$T/a-state/dm-registration.json"
ok $? "the saved registration is 1.0's"
report a
is "$(seen a | sed -n 3p)" "rd/r1 2.04 " "the next run Updates it (nothing changed: no query)"
conf a "$port" U
report a
is "$(seen a | sed -n 4p)" "rd/r1 2.04 b=U" "binding U: the 1.0 Update says b=U (TS 1.0 Update parameters)"
is "$(seen a | wc -l)" 4 "no Register after the first two"

# a 1.0 server that calls Q an unknown parameter: 4.00
peer b refuseq=4.00
conf b "$port" UQ
report b
is $? 0 "4.00 to a Register with Q: the run still registers (exit 0)"
is "$(seen b | cut -d' ' -f1-2 | tr '\n' ' ')" "rd 4.00 rd 2.01 " "a 1.1 Register refused, then the 1.0 one taken"
is "$(seen b | sed -n 2p | cut -d' ' -f3-)" "b=UQ ep=it-v10-$port lt=600 lwm2m=1.0" "the second is 1.0's"

# no version in common: two Registers, then the error
peer c refuse=1.1:4.12 refuse=1.0:4.12
conf c "$port" UQ
report c
rc=$?
[ "$rc" -ne 0 ] && grep -q "Register as LwM2M 1.0: unexpected answer 4.12" "$T/c.err"
ok $? "refused as 1.0 too: the run fails and says so (exit $rc)"
is "$(seen c | wc -l)" 2 "two Registers, no more"

# 4.00 to a Register without Q is no version question
peer d refuse=1.1:4.00
conf d "$port" U
report d
rc=$?
[ "$rc" -ne 0 ] && ! grep -q "LwM2M 1.0" "$T/d.err"
ok $? "binding U, 4.00: the run fails without trying 1.0 (exit $rc)"
is "$(seen d | wc -l)" 1 "one Register"
[ "$_fail" = 0 ] || { for f in a b c d; do diag "$(cat "$T/$f.log" "$T/$f.err")"; done; }
done_testing
