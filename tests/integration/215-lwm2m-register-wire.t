#!/bin/bash
# What m2mdm-status puts on the wire for the registration interface, seen by a raw CoAP
# peer (tests/tools/lw-rawrd.py) and judged from the specifications' text:
# - LwM2M TS 1.1 Core 6.2.1 / Transport 6.4.3: a Register in queue mode says the binding
#   U and queue mode as the parameter Q of its own (b=U&Q, never b=UQ), lwm2m=1.1; an
#   Update with nothing changed carries no query; a change of queue mode, which a 1.1
#   Update cannot take back, goes out as a new Register (b=U, no Q);
# - RFC 7252 5.3.1: every request the client starts (Register, Update, De-register,
#   Bootstrap-Request) carries a token of at least 32 random bits: 4 bytes or more,
#   never two alike, none the next number after another (libcoap 4.3.1 counts from 0x01);
# - Discover (TS 1.1 Core 5.4.2, the attributes of 5.1.2) shows a number as written:
#   gt=123456789 reads back as 123456789, and what it shows, written back, is kept as is.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 14
port=$(free_port)
ep=it-wire-$port
conf() { # binding
	cat >"$T/m2m.yaml" <<YAML
version: 1
device: {id: $ep}
state_dir: $T/state
charon: {vici: "unix://$T/no-charon.vici"}
dm:
  server: "coap://127.0.0.1:$port"
  security: nosec
  binding: $1
  lifetime: 10m
  queue_window: 1500ms
  timeout: 10s
YAML
}
conf UQ
export M2M_CONFIG=$T/m2m.yaml
bg "$T/srv.log" python3 "$ROOT/tests/tools/lw-rawrd.py" "$port" \
	'attrs=/3/0/10?gt=123456789&lt=0.1&st=1234.5678' bs=4.00
wait_for "$T/srv.log" '"event":"listening"' 10
ok $? "the raw peer listens"

# jq-less: one request event's field, by order among the client's requests
req() { # N FIELD (N from 1)
	python3 - "$T/srv.log" "$1" "$2" <<'EOF'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if '"event":"request"' in l]
n, f = int(sys.argv[2]), sys.argv[3]
print(json.dumps(evs[n - 1][f]) if len(evs) >= n else "none")
EOF
}

"$BIN/m2mdm-status" --report -v >"$T/r1.out" 2>"$T/r1.err"
is $? 0 "run 1 (binding UQ) exits 0"
is "$(req 1 method) $(req 1 path)" '"POST" "rd"' "run 1 sent a Register (POST /rd)"
python3 - "$(req 1 query)" "$ep" <<'EOF'
import json, sys
q = json.loads(sys.argv[1])
want = ["ep=" + sys.argv[2], "lt=600", "lwm2m=1.1", "b=U", "Q"]
sys.exit(sorted(q) != sorted(want))
EOF
ok $? "the Register's query is ep, lt=600, lwm2m=1.1, b=U and Q, no b=UQ ($(req 1 query))"
wait_for "$T/srv.log" '"event":"discover"' 5
line=$(grep '"event":"discover"' "$T/srv.log" | head -1)
grep -q '"shown":"</3/0/10>;gt=123456789;lt=0.1;st=1234.5678"' <<<"$line"
ok $? "Discover shows gt=123456789;lt=0.1;st=1234.5678 as written ($line)"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(not (d["write"]=="2.04" and d["write_back"]=="2.04" and d["shown_again"]==d["shown"]))' "$line"
ok $? "what Discover showed, written back, is taken (2.04) and shown the same"

"$BIN/m2mdm-status" --report -v >"$T/r2.out" 2>"$T/r2.err"
is $? 0 "run 2 exits 0"
u=$(grep '"event":"request"' "$T/srv.log" | grep -n '"path":"rd/r1"' | head -1 | cut -d: -f1)
is "$(req "${u:-0}" method) $(req "${u:-0}" query)" '"POST" []' \
	"run 2 sent an Update to the location, with no query (nothing changed)"

conf U
"$BIN/m2mdm-status" --report -v >"$T/r3.out" 2>"$T/r3.err"
is $? 0 "run 3 (binding U now) exits 0"
r=$(grep '"event":"request"' "$T/srv.log" | grep -n '"path":"rd"' | sed -n 2p | cut -d: -f1)
python3 - "$(req "${r:-0}" query)" "$ep" <<'EOF'
import json, sys
q = json.loads(sys.argv[1])
sys.exit(sorted(q) != sorted(["ep=" + sys.argv[2], "lt=600", "lwm2m=1.1", "b=U"]))
EOF
ok $? "queue mode off under 1.1: a new Register with b=U and no Q ($(req "${r:-0}" query))"
grep -q "queue mode off: registering again" "$T/r3.err"
ok $? "the log says why it registered again"

# --serve, stopped: the De-register
bg "$T/serve.log" "$BIN/m2mdm-status" --serve
serve=$BG_PID
wait_for "$T/srv.log" '"method":"POST","type":"CON","path":"rd/r2"' 10
kill -TERM "$serve"
wait "$serve"
wait_for "$T/srv.log" '"method":"DELETE".*"path":"rd/r2"' 5
ok $? "--serve stopped: a De-register (DELETE /rd/r2)"

# a factory configuration: the Bootstrap-Request, twice (answered 4.00, Unknown Endpoint)
cat >"$T/bs.yaml" <<YAML
version: 1
device: {id: $ep}
state_dir: $T/bs-state
charon: {vici: "unix://$T/no-charon.vici"}
dm:
  bootstrap: "coap://127.0.0.1:$port"
  security: nosec
  timeout: 3s
YAML
M2M_CONFIG=$T/bs.yaml "$BIN/m2mdm-status" --report >/dev/null 2>"$T/bs1.err"
M2M_CONFIG=$T/bs.yaml "$BIN/m2mdm-status" --report >/dev/null 2>"$T/bs2.err"
is "$(grep -c '"path":"bs"' "$T/srv.log")" 2 "two Bootstrap-Requests (POST /bs) came"

# every request the client started: Register, Update, De-register, Bootstrap-Request
python3 - "$T/srv.log" <<'EOF'
import json, sys
toks = [json.loads(l)["token"] for l in open(sys.argv[1])
        if '"event":"request"' in l and '"type":"CON"' in l]
vals = [int(t, 16) if t else 0 for t in toks]
bad = [t for t in toks if len(t) < 8]
close = [(a, b) for a in vals for b in vals if b == a + 1]
print("# tokens: " + " ".join(toks))
sys.exit(bool(len(toks) < 6 or bad or len(set(toks)) != len(toks) or close))
EOF
ok $? "every request's token: 4 bytes or more, none alike, none the next after another"
[ "$_fail" = 0 ] || { diag "$(cat "$T/srv.log")"; diag "$(cat "$T"/r*.err "$T"/bs*.err)"; }
done_testing
