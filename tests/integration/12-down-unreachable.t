#!/bin/bash
# 12-down-unreachable.t - down while the gateway cannot be reached (m2mvpn-connect(1), down):
# our side of the tunnel is gone, so down succeeds (exit 0) and says on stderr, in one
# line, that the gateway could not be told; it fails only while an SA of the profile is
# still installed. Checked with the gateway's packets dropped in the device namespace (the
# link stays up, so charon sends its DELETE and gets no answer) and with the gateway's
# charon killed; each time within down's time limit, and charon holds no SA afterwards.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

no_sa() { [ "$(lab_sa_count dev)" = 0 ]; }
nft_drop() {
	in_dev nft -f - <<-EOF
	table inet m2mt_drop {
		chain out { type filter hook output priority 0; policy accept;
			ip daddr $LAB_GW_IP udp dport { 500, 4500 } drop; }
	}
	EOF
}
nft_undrop() { in_dev nft delete table inet m2mt_drop 2>/dev/null; return 0; }
lab_on_exit nft_undrop

check_down() {   # check_down WHAT
	is_rc 0 "down with $1: exit 0"
	cmp_ok "$M2M_MS" -le 5500 "... within down --timeout 5 plus 0.5 s (${M2M_MS} ms)"
	ok "... one line on stderr" one_line "$M2M_ERR" || m2m_diag
	like "$M2M_ERR" 'warning: pos: down, but the gateway could not be told' \
		"... a warning that the gateway could not be told"
	ok "... no SA of ours left in charon" no_sa || diag "$(lab_sas dev)"
	m2m status pos
	is_rc 15 "... status pos: exit 15 (down)"
}

# ---- the gateway's packets dropped
m2m up pos --timeout 20
is_rc 0 "up pos: exit 0"
ok "nft drop of IKE/ESP to the gateway in place" nft_drop
m2m down pos --timeout 5
check_down "the gateway's packets dropped"
nft_undrop

# ---- the gateway's charon killed
m2m up pos --timeout 20
is_rc 0 "up pos again: exit 0"
lab_charon_kill gw
m2m down pos --timeout 5
check_down "the gateway's charon killed"

# ---- a down that had nothing to tell anyone stays quiet
m2m down pos --timeout 5
is_rc 0 "down again: exit 0"
is "$M2M_ERR" "" "... and nothing on stderr"
done_testing
