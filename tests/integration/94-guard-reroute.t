#!/bin/bash
# 94-guard-reroute.t - the fail-closed guard decides where the outgoing interface is final
# (issue 17, finding 8, third case). With the tunnel up, a firewall chain (type route, after
# the guard's output chain) sets a mark on traffic to the protected address and an ip rule
# sends marked traffic out of the physical link: the kernel re-routes after the output
# chains, so an output-only check saw the tunnel and let it out in clear (multi-WAN and
# dual-SIM routers route this way). The guard's postrouting chain sees the final interface:
#   1. tunnel up, mark + ip rule: 0 clear packets on the outer link, pings refused;
#   2. the mark chain removed: pings through the tunnel again;
#   3. control: without the guard the same mark + rule send the pings out in clear.
# "clear" = a packet on the outer link to/from 10.99.1.1 that is not UDP 500/4500.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

reroute_on() {
	in_dev ip route add default via "$LAB_GW_IP" dev "$LAB_IF_A" table 78 &&
	in_dev ip rule add fwmark 0x78 lookup 78 priority 100 &&
	in_dev nft -f - <<EOF2
table ip lab_wan {
	chain out {
		type route hook output priority filter + 10; policy accept;
		ip daddr $LAB_INNER_IP meta mark set 0x78
	}
}
EOF2
}
reroute_off() { in_dev nft delete table ip lab_wan; in_dev ip rule del fwmark 0x78 lookup 78 priority 100; in_dev ip route flush table 78; }
probe() { in_dev ping -n -q -c 5 -i 0.2 -W 1 "$LAB_INNER_IP" > /dev/null 2>&1; PING_RC=$?; }

lab_dev_config pos mode=always-on fail_closed=true dpd=2s
m2m up pos --timeout 20
is_rc 0 "up with fail_closed: exit 0"
reroute_on || lab_die "mark + ip rule"
lab_cap_start mark dev "$LAB_IF_A"
probe
lab_cap_stop mark
isnt "$PING_RC" 0 "tunnel up, marked after routing and re-routed to link A: pings refused"
is "$(lab_cap_clear mark)" 0 "  0 clear packets on the outer link" || diag "$(lab_cap_show mark "host $LAB_INNER_IP")"
dropped=$(in_dev nft list chain inet m2m_pos post_guard | sed -nE 's/.*counter packets ([0-9]+) .* drop$/\1/p' | head -n 1)
cmp_ok "${dropped:-0}" -ge 5 "  the guard's postrouting chain is what refused them ($dropped packets)"
reroute_off
lab_cap_start tun dev "$LAB_IF_A"
probe
lab_cap_stop tun
is "$PING_RC" 0 "mark chain gone: pings answered through the tunnel"
is "$(lab_cap_clear tun)" 0 "  0 clear packets"

# ---- control
m2m down pos
is_rc 0 "down lifts the guard"
lab_dev_config pos mode=always-on fail_closed=false dpd=2s
m2m up pos --timeout 20
is_rc 0 "up without fail_closed"
reroute_on || lab_die "mark + ip rule"
lab_cap_start control dev "$LAB_IF_A"
probe
lab_cap_stop control
reroute_off
cmp_ok "$(lab_cap_clear control)" -ge 5 "control: without the guard the re-routed pings leave in clear ($(lab_cap_clear control))"
done_testing
