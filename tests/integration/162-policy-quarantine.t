#!/bin/bash
# 162-policy-quarantine.t - m2mdm-policy on the real lab, driven by the tamper switch (a file):
#   m2mdm-policy(1), m2m.yaml(5) SECURITY POLICIES. Contract:
#   - a check with every policy holding changes nothing (exit 0, no nftables table);
#   - the case opened: exit 20, the device is in quarantine: what it sends, receives or
#     forwards is dropped but for IKE and ESP with the VPN gateways, the management server
#     (dm.server), quarantine.allow, the loopback and the link's upkeep. Counted on the
#     device's outer link: 0 packets to a destination not let through; the tunnel still
#     comes up (m2mvpn-connect up) and carries traffic to the management server only;
#   - the quarantine is sticky: the case shut again does not lift it; a flushed ruleset
#     (a firewall reload) is seen by status (not whole) and put back by the next check;
#     apply (boot) puts it back from its record; release needs a reason and lifts it;
#   - every change is in the audit log, in order, chained: a record changed on the disk is
#     exit 17 at the record, and the next check sets the log aside and starts a new one;
#   - one check at a time (11); a policy whose action is log quarantines nothing.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

POL=$M2M_BIN_DIR/m2mdm-policy
[ -x "$POL" ] || lab_die "$POL is not built"
pol() { M2M_BIN=$POL m2m "$@"; }
CASE=$LAB/dev/case
STATE=$LAB/dev/state
BLOCKED=10.99.1.2   # on the gateway, reachable in clear, neither allowed nor the server
ALLOWED=10.99.1.3   # on the gateway, in quarantine.allow
DMS=$LAB_INNER_IP   # the management server (dm.server): behind the tunnel, or in clear without it
in_gw ip addr add $BLOCKED/32 dev lo
in_gw ip addr add $ALLOWED/32 dev lo

config() {   # config [ACTION]: a profile whose gateway is a name that does not resolve, the lab's, a policy: section
	lab_dev_config other gateway=gw.invalid + pos top="dm:
  server: coap://$DMS:5683
  security: nosec
policy:
  timeout: 5s
  tamper:
    input: $CASE
    opened: ${1:-quarantine}
  quarantine:
    allow: $ALLOWED/32"
}
pings() { in_dev ping -n -q -c "${2:-3}" -i 0.2 -W 1 "$1" 2>/dev/null | sed -nE 's/.* ([0-9]+) received.*/\1/p'; }
table() { lab_nft_table m2m_quarantine; }
audit_events() { "$POL" -c "$M2M_CONFIG_FILE" audit --json | "$LAB_PY" -c \
	'import json,sys; print(" ".join(r["event"] + ":" + (r["policy"] or "-") for r in json.load(sys.stdin)["records"]))'; }

config
echo 0 > "$CASE"

# ---- everything holds
pol check
is_rc 0 "check with the case shut: exit 0"
like "$M2M_OUT" "not in quarantine" "  it says so"
like "$M2M_OUT" "tamper +holds +the case is shut" "  and what the switch says"
nok "  no quarantine table" table
is "$(pings $BLOCKED)" 3 "  traffic flows"

# ---- the case opened
echo 1 > "$CASE"
pol check
is_rc 20 "check with the case open: exit 20 (quarantined)"
like "$M2M_OUT" "QUARANTINED since .*: tamper: the case is open" "  it says why"
ok "  the quarantine table is in place" table
like "$M2M_ERR" "not resolved in time, not let through: gw.invalid" \
	"  the gateway name that did not resolve is said"
like "$(in_dev nft list table inet m2m_quarantine)" "ip daddr $LAB_GW_IP udp dport \{ 500, 4500 \} accept" \
	"  the gateway given as an address is let through (IKE) all the same"

lab_cap_start q dev "$LAB_IF_A"
is "$(pings $BLOCKED)" 0 "a destination not let through gets no answer"
is "$(pings $LAB_GW_IP)" 0 "  nor the gateway's address (only IKE and ESP pass)"
is "$(pings $ALLOWED)" 3 "quarantine.allow ($ALLOWED) passes"
is "$(pings $DMS)" 3 "the management server (dm.server, $DMS) passes"
gw_in=$(in_gw ping -n -q -c 3 -i 0.2 -W 1 "$LAB_DEV_IP" 2>/dev/null | sed -nE 's/.* ([0-9]+) received.*/\1/p')
is "$gw_in" 0 "nothing but the allowed gets in (the gateway pings the device: no answer)"
# the link's upkeep is no way out: a datagram from the DHCP client port to an address that
# is not the broadcast one (RFC 2131 4.1: requests are broadcast)
in_dev "$LAB_PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 68))
for i in range(3):
    try: s.sendto(b"exfil", (sys.argv[1], 67))
    except OSError: pass' "$BLOCKED"
lab_cap_stop q
is "$(lab_cap_count q "dst host $BLOCKED")" 0 "0 packets to $BLOCKED on the outer link (DHCP's ports included)"
is "$(lab_cap_count q "dst host $LAB_GW_IP and icmp")" 0 "0 ICMP packets to the gateway on the outer link"
cmp_ok "$(lab_cap_count q "dst host $ALLOWED")" -ge 3 "the allowed packets did go out"

# the management tunnel still comes up, and carries only what is let through
m2m up pos --timeout 20
is_rc 0 "in quarantine, the VPN tunnel comes up (IKE and ESP with the gateway pass)"
ok "  its CHILD_SA is installed" lab_child_installed dev
lab_cap_start t dev "$LAB_IF_A"
is "$(pings $DMS)" 3 "  through it, the management server answers"
is "$(pings $BLOCKED)" 0 "  $BLOCKED (outside the tunnel) still does not"
lab_cap_stop t
is "$(lab_cap_clear t)" 0 "  the management server's traffic went through the tunnel (none in clear)"
cmp_ok "$(lab_cap_count t "udp port 4500")" -ge 6 "  as ESP in UDP with the gateway"
is "$(lab_cap_count t "dst host $BLOCKED")" 0 "  0 packets to $BLOCKED on the outer link"
m2m down pos
is_rc 0 "  down"

pol status --json
is_rc 20 "status: exit 20"
is "$(jget schema <<< "$M2M_OUT")" "m2m.policy/1" "  schema m2m.policy/1"
is "$(jget quarantined <<< "$M2M_OUT")" true "  quarantined"
is "$(jget quarantine_whole <<< "$M2M_OUT")" true "  its rules whole"
is "$(jget policies.tamper.verdict <<< "$M2M_OUT")" broken "  tamper: broken"
is "$(jget policies.tamper.action <<< "$M2M_OUT")" quarantine "  its action: quarantine"
is "$(jget policies.location.verdict <<< "$M2M_OUT")" off "  location: off (not configured)"

# ---- sticky
echo 0 > "$CASE"
pol check
is_rc 20 "the case shut again: still quarantined (only a release lifts it)"
like "$M2M_OUT" "tamper +holds" "  the switch holds again"
is "$(pings $BLOCKED)" 0 "  and traffic is still held"

# ---- a firewall reload
in_dev nft flush ruleset
pol status
is_rc 20 "after nft flush ruleset: status still says quarantined"
like "$M2M_OUT" "not in place as made" "  and that its rules are not in place"
is "$(pings $BLOCKED 2)" 2 "  (traffic flowed meanwhile: the window lasts until the next check)"
pol check
is_rc 20 "check puts them back"
ok "  the table is back" table
is "$(pings $BLOCKED)" 0 "  traffic is held again"
ok "a rule added to the quarantine's table" in_dev nft add rule inet m2m_quarantine q_out accept
pol status --json
is "$(jget quarantine_whole <<< "$M2M_OUT")" false "a rule added to the table: not whole"
pol check
pol status --json
is "$(jget quarantine_whole <<< "$M2M_OUT")" true "  check made it whole again"

# ---- boot: the table gone (a reboot), apply puts it back from the record
in_dev nft delete table inet m2m_quarantine
pol apply
is_rc 0 "apply (boot) after the table was gone"
ok "  the table is back" table
is "$(pings $BLOCKED)" 0 "  traffic is held"

# ---- a damaged state file: the quarantine's record still says it is in force
echo "garbage" > "$STATE/policy-state"
pol status --json
is_rc 20 "a damaged state file: status still exit 20"
is "$(jget quarantined <<< "$M2M_OUT")" true "  quarantined (the rules' record says so)"
pol check
is_rc 20 "  and check keeps the quarantine"
ok "  the damaged file was set aside" test -e "$STATE/policy-state.bad"

# ---- one at a time
in_dev flock "$STATE/policy.lock" sleep 3 &
holder=$!
sleep 0.3
pol check
is_rc 11 "a second check while one holds the lock: exit 11"
wait "$holder"

# ---- release
pol release
is_rc 2 "release without --reason: exit 2"
ok "  the quarantine stays" table
pol release --reason "ticket 4711: case sealed"
is_rc 0 "release --reason"
nok "  the table is gone" table
is "$(pings $BLOCKED)" 3 "  traffic flows"
pol status
is_rc 0 "  status: exit 0"
pol release --reason again
is_rc 0 "release with nothing in force: exit 0"
like "$M2M_OUT" "nothing to release" "  and says so"

# ---- the audit log
pol audit
is_rc 0 "audit: the chain is whole"
is "$(audit_events)" \
	"holds:tamper broken:tamper quarantine:tamper holds:tamper restored:- restored:- boot:- holds:tamper release:-" \
	"  every change, in order (the switch's verdict again after the state was lost)"
like "$(grep release "$LAB/log/m2m.out")" "released by uid 0: ticket 4711: case sealed" \
	"  the release names the uid and the reason"
# a record changed on the disk, its CRC made right: only the chain can tell
"$LAB_PY" - "$STATE/policy-audit" <<'EOF'
import sys, zlib
p = sys.argv[1]
lines = open(p).read().splitlines()
rec = lines[2].split(" ", 1)[1].replace("the case is open", "nothing happened")
lines[2] = "%08x %s" % (zlib.crc32(rec.encode()), rec)
open(p, "w").write("\n".join(lines) + "\n")
EOF
pol audit
is_rc 17 "a record changed: audit exit 17"
like "$M2M_ERR" "line 4 \(record 4\): does not follow record 3" "  at the record after the change"
pol check
is_rc 0 "the next check goes on"
ok "  the broken log is set aside" eval 'test -s "$(ls "$STATE"/policy-audit.bad-* | head -n1)"'
pol audit
is_rc 0 "  a new log is whole"
like "$(audit_events)" "^log-broken:-" "  and begins by saying the old one was broken"

# ---- a tamper input with nothing in it is no verdict
: > "$CASE"
pol check --json
is "$(jget policies.tamper.verdict <<< "$M2M_OUT")" unknown "an empty tamper input: unknown, not shut"
printf '1\r\n' > "$CASE"
pol check --json
is "$(jget policies.tamper.verdict <<< "$M2M_OUT")" broken "'1' with CR LF: the case is open"
pol release --reason "test: CR LF"
echo 0 > "$CASE"
pol check

# ---- a record taken off the start of the log (it holds more than one now)
"$LAB_PY" - "$STATE/policy-audit" <<'EOF2'
import sys
p = sys.argv[1]
lines = open(p).read().splitlines(True)
open(p, "w").write("".join(lines[1:]))
EOF2
pol audit
is_rc 17 "the first record taken off the log: audit exit 17"
like "$M2M_ERR" "records were removed at its start" "  it says so"
pol status --json
is "$(jget audit.intact <<< "$M2M_OUT")" false "  status: the chain is not intact"
pol check
pol audit
is_rc 0 "  the next check sets it aside and begins a new one"

# ---- a quarantine outlives a policy: section taken out
echo 1 > "$CASE"
pol check
is_rc 20 "quarantined again"
lab_dev_config pos
in_dev nft flush ruleset
pol check
is_rc 20 "the policy: section taken out: check still exit 20"
ok "  and the flushed rules are back" table
pol release --reason "test: section out"
is_rc 0 "  release works without the section"
nok "  the table is gone" table
pol check
is_rc 3 "  nothing in force, no section: exit 3"
config
echo 0 > "$CASE"

# ---- an action of log
config log
echo 1 > "$CASE"
pol check
is_rc 0 "opened: log: the device is not quarantined"
like "$M2M_OUT" "tamper +broken .*\(logged only\)" "  it says the policy is broken, logged only"
nok "  no table" table

# ---- bad input: one line, no crash
echo "not a policy" > "$LAB/bad.yaml"; chmod 600 "$LAB/bad.yaml"
M2M_CONFIG_FILE=$LAB/bad.yaml pol check
is_rc 3 "a config that is not YAML of m2m: exit 3"
lab_dev_config pos
pol check
is_rc 3 "a config without policy: exit 3"
like "$M2M_ERR" "no policy: section" "  it says so"
pol bogus
is_rc 2 "an unknown command: exit 2"

done_testing
