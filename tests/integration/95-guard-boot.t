#!/bin/bash
# 95-guard-boot.t - the guards of always-on profiles are in place before the network comes
# up (issue 17, finding 8, fifth case): "m2mvpn-connect guard", run by
# examples/m2mvpn-guard.service before network-pre.target, needs neither charon nor a link.
# A boot in order, in the lab's device namespace:
#   1. charon not running, link A down: "guard" puts the always-on fail_closed profile's
#      guard in place (exit 0) and leaves the on-demand one alone;
#   2. the link comes up (address and default route): pings to the protected address are
#      refused, 0 clear packets on the outer link;
#   3. charon starts, then watch: the tunnel comes up through the guard, which now lets
#      charon's own TUN device through (made anew for it), pings answered, 0 clear;
#   4. "guard" again leaves a whole guard as it is; a named profile without fail_closed is
#      exit 3; the unit is ordered before network-pre.target; both man pages say that
#      "down" lifts the guard.
# "clear" = a packet on the outer link to/from 10.99.1.1 that is not UDP 500/4500.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

T=m2m_pos
# roff_text PAGE: the page's text on one line, without its font macros (no man(1) needed)
roff_text() {
	"$LAB_PY" - "$1" <<'PY'
import re, shlex, sys
out = []
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    m = re.match(r"^\.(B|I|BR|RB|IR|RI|BI|IB)\s+(.*)$", line)
    if m:
        try:
            args = shlex.split(m.group(2).replace("\\", "\\\\"))
        except ValueError:
            args = m.group(2).split()
        line = (" " if len(m.group(1)) == 1 else "").join(args)
    elif line.startswith("."):
        continue
    out.append(line)
t = " ".join(out).replace("\\-", "-").replace("\\(dq", '"')
t = re.sub(r"\\f[BIRP]", "", t)
print(re.sub(r"\s+", " ", t))
PY
}
probe() { in_dev ping -n -q -c 5 -i 0.2 -W 1 "$LAB_INNER_IP" > /dev/null 2>&1; PING_RC=$?; }

lab_dev_config pos mode=always-on fail_closed=true dpd=2s + kiosk mode=on-demand
# ---- 1. "boot": no charon, no link
lab_charon_stop dev
in_dev ip link set "$LAB_IF_A" down
m2m guard
is_rc 0 "guard with charon not running and the link down: exit 0"
ok "  the always-on profile's guard is in place" lab_guard_whole
nok "  the on-demand profile has none" lab_nft_table m2m_kiosk
unlike "$(in_dev nft list table inet "$T")" 'oifname "ipsec' "  no tunnel device yet: none is let through"

# ---- 2. the network comes up
in_dev ip link set "$LAB_IF_A" up
in_dev ip route replace default via "$LAB_GW_IP" dev "$LAB_IF_A" metric 100
wait_until 3 in_dev ping -c1 -W1 -q "$LAB_GW_IP" > /dev/null || lab_die "link A back"
lab_cap_start boot dev "$LAB_IF_A"
probe
lab_cap_stop boot
isnt "$PING_RC" 0 "link up, no tunnel: pings to $LAB_INNER_IP refused"
is "$(lab_cap_clear boot)" 0 "  0 clear packets on the outer link" || diag "$(lab_cap_show boot "host $LAB_INNER_IP")"

# ---- 3. charon, then watch
lab_charon_start dev
lab_bg watch --ns dev "$M2M_BIN" -v -c "$M2M_CONFIG_FILE" watch pos
ok "watch brings the tunnel up through the boot guard (within 20 s)" wait_until 20 lab_child_installed dev
ok "  the guard now lets charon's own device through" wait_until 3 eval \
	"in_dev nft list table inet $T | grep -q 'oifname \"ipsec0\" accept'"
lab_cap_start up dev "$LAB_IF_A"
probe
lab_cap_stop up
is "$PING_RC" 0 "tunnel up: pings answered through it"
is "$(lab_cap_clear up)" 0 "  0 clear packets"
lab_stop watch TERM 10

# ---- 4. the rest
before=$(in_dev nft -a list table inet "$T")
m2m guard
is_rc 0 "guard again: exit 0"
is "$(in_dev nft -a list table inet "$T")" "$before" "  a whole guard is left as it is (same rule handles)"
m2m guard kiosk
is_rc 3 "guard on a profile without fail_closed: exit 3"
m2m guard nosuch
is_rc 14 "guard on a profile that does not exist: exit 14"
unit=$LAB_REPO/examples/m2mvpn-guard.service
like "$(grep '^Before=' "$unit")" 'network-pre.target' "the boot unit is ordered before network-pre.target"
like "$(grep '^ExecStart=' "$unit")" 'm2mvpn-connect guard$' "  and runs 'm2mvpn-connect guard'"
like "$(grep '^DefaultDependencies=' "$unit")" 'no' "  without the default dependencies (which would order it late)"
for page in m2mvpn-connect.1 m2m.yaml.5; do
	text=$(roff_text "$LAB_REPO/man/$page")
	like "$text" 'until m2mvpn-connect down, which lifts the guard|until down, which lifts it' \
		"$page says the guard stays until down, which lifts it"
done
m2m down pos
is_rc 0 "down"
nok "  lifts the guard" lab_nft_table "$T"
done_testing
