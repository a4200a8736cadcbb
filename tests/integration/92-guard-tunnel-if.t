#!/bin/bash
# 92-guard-tunnel-if.t - the fail-closed guard lets through only the tunnel itself, not any
# interface whose name begins with "ipsec" (issue 17, finding 8, fourth case).
# The tunnel is recognised by its IPsec policy (kernel ESP) or by charon's own TUN device
# (kernel-libipsec, as here: the interface whose descriptor charon holds, ipsec0).
#   1. the guard names charon's device exactly, and no wildcard;
#   2. an impostor "ipsec7" (a veth to the gateway, an ordinary link carrying clear traffic)
#      with a route for the protected address, tunnel up and an ip rule sending the
#      protected address to it: 0 clear packets on ipsec7, pings refused;
#   3. the impostor route gone: pings flow through the tunnel again (the real one passes);
#   4. control: without the guard the same route carries the pings in clear on ipsec7.
# "clear" = a packet to/from 10.99.1.1 that is not UDP 500/4500.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

T=m2m_pos
# the impostor: a plain veth named like a tunnel, the gateway at its other end
ip link add ipsec7 netns "$NS_DEV" type veth peer name imp7 netns "$NS_GW" || lab_die "veth ipsec7"
ip -n "$NS_DEV" addr add 10.99.7.2/24 dev ipsec7
ip -n "$NS_GW" addr add 10.99.7.1/24 dev imp7
ip -n "$NS_DEV" link set ipsec7 up && ip -n "$NS_GW" link set imp7 up || lab_die "ipsec7 up"
in_gw sh -c 'echo 0 > /proc/sys/net/ipv4/conf/imp7/rp_filter; echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter'
in_dev sh -c 'echo 0 > /proc/sys/net/ipv4/conf/ipsec7/rp_filter'
wait_until 3 in_dev ping -c1 -W1 -q 10.99.7.1 > /dev/null || lab_die "the impostor link does not work"
impostor_on()  { in_dev ip route add "$LAB_INNER_IP/32" via 10.99.7.1 dev ipsec7 table 77 &&
                 in_dev ip rule add to "$LAB_INNER_IP/32" lookup 77 priority 100; }
impostor_off() { in_dev ip rule del to "$LAB_INNER_IP/32" lookup 77 priority 100; in_dev ip route flush table 77; }
probe() { in_dev ping -n -q -c 5 -i 0.2 -W 1 "$LAB_INNER_IP" > /dev/null 2>&1; PING_RC=$?; }

lab_dev_config pos mode=always-on fail_closed=true dpd=2s
m2m up pos --timeout 20
is_rc 0 "up with fail_closed: exit 0"
listing=$(in_dev nft list table inet "$T")
like "$listing" 'oifname "ipsec0" accept' "the guard lets charon's own device through by its exact name"
unlike "$listing" 'ipsec\*' "  and no interface by a wildcard"
like "$listing" 'rt ipsec exists accept' "  and traffic with an IPsec policy on its route (kernel ESP)"

impostor_on || lab_die "impostor route"
lab_cap_start imp dev ipsec7
probe
lab_cap_stop imp
isnt "$PING_RC" 0 "tunnel up, protected address routed to the impostor ipsec7: pings refused"
is "$(lab_cap_clear imp)" 0 "  0 clear packets on ipsec7" || diag "$(lab_cap_show imp "host $LAB_INNER_IP")"
impostor_off
lab_cap_start tun dev "$LAB_IF_A"
probe
lab_cap_stop tun
is "$PING_RC" 0 "impostor route gone: pings answered through the tunnel"
is "$(lab_cap_clear tun)" 0 "  0 clear packets on the outer link"
cmp_ok "$(lab_cap_count tun 'udp port 4500')" -ge 5 "  ESP in UDP carries them"

# ---- control: no guard, the impostor carries the traffic in clear
m2m down pos
is_rc 0 "down lifts the guard"
impostor_on
lab_cap_start control dev ipsec7
probe
lab_cap_stop control
impostor_off
cmp_ok "$(lab_cap_clear control)" -ge 5 "control: without the guard the pings leave in clear by ipsec7 ($(lab_cap_clear control))"
done_testing
