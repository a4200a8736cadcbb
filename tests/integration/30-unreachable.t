#!/bin/bash
# 30-unreachable.t - a gateway that does not answer, within the time limit, and no
# half-open IKE SA left behind:
#   nobody at the address (10.99.0.9 on link A; ARP fails)      -> exit 6 or 5, <= 4 s + 1.5 s
#   gateway host up, its charon stopped (nothing on UDP 500)      -> exit 6 or 5, <= 4 s + 1.5 s
#   gateway charon running WITHOUT config (answers NO_PROPOSAL_CHOSEN) -> exit 12, fast
#   gateway back with its config                                  -> up exit 0
# charon (retransmit_tries 2, timeout 1.0, base 1.4) gives up by itself after ~4.4 s with
# "giving up after 2 retransmits" / "peer not responding", so with --timeout 4 the tool's
# own deadline comes first.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

no_sa() { [ "$(lab_sa_count dev)" = 0 ]; }

# ---- nobody at the address
lab_dev_config pos gateway="$LAB_DEAD_IP"
m2m up pos --timeout 4
rc_in "5 6" "gateway $LAB_DEAD_IP (nobody there), --timeout 4: exit 6 or 5 (got $M2M_RC)"
cmp_ok "$M2M_MS" -le 5500 "... answered within 4 s + 1.5 s (${M2M_MS} ms)"
ok "... error is one line on stderr" one_line "$M2M_ERR" || m2m_diag
ok "... no IKE SA left connecting on the device charon" wait_until 0.5 no_sa ||
	diag "$(lab_sas dev)"

# ---- gateway charon stopped, address present
lab_dev_config pos
lab_charon_stop gw
m2m up pos --timeout 4
rc_in "5 6" "gateway charon stopped, --timeout 4: exit 6 or 5 (got $M2M_RC)"
cmp_ok "$M2M_MS" -le 5500 "... answered within 4 s + 1.5 s (${M2M_MS} ms)"
ok "... error is one line on stderr" one_line "$M2M_ERR" || m2m_diag
ok "... no IKE SA left connecting on the device charon" wait_until 0.5 no_sa ||
	diag "$(lab_sas dev)"

# ---- gateway charon up but its config not loaded: NO_PROPOSAL_CHOSEN
lab_charon_start gw
m2m up pos --timeout 10
is_rc 12 "gateway answering without config (NO_PROPOSAL_CHOSEN): exit 12"
cmp_ok "$M2M_MS" -le 3000 "... reported at once, not after the timeout (${M2M_MS} ms)"
ok "... error is one line on stderr" one_line "$M2M_ERR" || m2m_diag
ok "... no IKE SA left on the device charon" wait_until 0.5 no_sa

# ---- gateway back
lab_gw_load
m2m up pos --timeout 10
is_rc 0 "gateway back with its config: up exit 0"
ok "traffic through the tunnel" lab_ping_inner 2
m2m down pos
is_rc 0 "down exit 0"
done_testing
