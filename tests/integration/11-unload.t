#!/bin/bash
# 11-unload.t - what charon holds of a profile after down, after a failed up, and after the
# profile is gone from the configuration (m2mvpn-connect(1), COMMANDS, down):
#   on-demand profile after down / failed up: its connection stays loaded as a cache, but
#     cannot act on its own: charon lists its dpd_action and close_action as none (it shows
#     "clear" as none and "restart" as start; 5.9.8 does not list start_action), no trap
#     policy, and no SA comes back (checked past two DPD intervals);
#   always-on profile (restart policies) after down and after a failed up: connection gone;
#     the device key stays only while a configured profile's record still names it;
#   a profile removed from the configuration: the next run of any command (status, list)
#     terminates its SAs and removes its connection, its key and its record; also a
#     connection named m2m-<x> that no record names (state directory lost), and one whose
#     record is damaged; a record is written ahead of every load, so charon's own list
#     (get-conns) is asked once per charon (vpn.swept), not by every run; a removed profile
#     whose lock another run holds (an up or down under the configuration before) is left
#     to a later run.
# Read from charon itself: swanctl --list-conns / --list-sas / --list-pols / --list-certs.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

conns() { lab_swanctl dev --list-conns --raw 2>/dev/null | grep '^list-conn event'; }
conn_of() { conns | grep -F "{m2m-$1 {"; }
has_conn() { [ -n "$(conn_of "$1")" ]; }
no_sa() { [ "$(lab_sa_count dev)" = 0 ]; }
# "has private key": charon holds the private key of our certificate (loaded by us)
has_key() { lab_swanctl dev --list-certs 2>/dev/null | grep -q 'has private key'; }
traps() { lab_swanctl dev --list-pols --raw 2>/dev/null | grep -c 'm2m-' ; }
lab_dev_config pos + aon mode=always-on
# ---- on-demand: up, down
m2m up pos --timeout 20
is_rc 0 "up pos: exit 0"
ok "... m2m-pos loaded" has_conn pos
m2m down pos
is_rc 0 "down pos: exit 0"
ok "... no SA left" no_sa
ok "... m2m-pos kept loaded (on-demand: a cache for the next up)" has_conn pos
c=$(conn_of pos)
like "$c" ' dpd_action=none ' "... kept connection: no DPD action (no restart)" || diag "$c"
like "$c" ' close_action=none ' "... kept connection: no close action (no restart on close)"
is "$(traps)" 0 "... no trap policy of ours (swanctl --list-pols): no start on traffic"
sleep 4.5   # two DPD intervals (dpd 2s) plus charon's first retransmit
ok "... still no SA 4.5 s after down (nothing restarted it)" no_sa

# ---- always-on: up, down
m2m up aon --timeout 20
is_rc 0 "up aon: exit 0"
ok "... m2m-aon loaded" has_conn aon
c=$(conn_of aon)
like "$c" ' dpd_action=start ' "... always-on while up: restart on DPD" || diag "$c"
m2m down aon
is_rc 0 "down aon: exit 0"
ok "... no SA left" no_sa
nok "... m2m-aon unloaded (its restart policies with it)" has_conn aon
ok "... the device key stays: the configured profile pos still uses it" has_key

# ---- failed up: always-on unloaded, on-demand kept inert
lab_dev_config pos gateway="$LAB_DEAD_IP" + aon mode=always-on gateway="$LAB_DEAD_IP"
m2m up aon --timeout 3
rc_in "5 6" "up aon to nobody ($LAB_DEAD_IP): exit 5 or 6 (got $M2M_RC)"
ok "... no SA left" wait_until 1 no_sa
nok "... m2m-aon unloaded after the failed up" has_conn aon
m2m up pos --timeout 3
rc_in "5 6" "up pos to nobody: exit 5 or 6 (got $M2M_RC)"
ok "... no SA left" wait_until 1 no_sa
c=$(conn_of pos)
like "$c" ' dpd_action=none close_action=none ' "... m2m-pos kept, inert (no DPD or close action)" ||
	diag "$c"
is "$(traps)" 0 "... no trap policy of ours"
sleep 2.5
ok "... still no SA 2.5 s after the failed up" no_sa

# ---- a profile removed from the configuration
lab_dev_config pos
m2m up pos --timeout 20
is_rc 0 "up pos (gateway back): exit 0"
ok "... pos has a record of what it loaded" test -s "$LAB/dev/state/vpn-pos.loaded"
lab_dev_config aon mode=always-on
m2m status aon
is_rc 15 "status aon (pos no longer configured): exit 15, aon is down"
ok "... pos's SA terminated" wait_until 1 no_sa
nok "... m2m-pos removed from charon" has_conn pos
nok "... its private key removed (no configured profile uses it)" has_key ||
	diag "$(lab_swanctl dev --list-certs 2>&1 | head -20)"
nok "... its record removed" test -e "$LAB/dev/state/vpn-pos.loaded"

# ---- charon's own list (get-conns) is asked once per charon, not by every run
getconns() { grep -c 'requests: get-conns' "$LAB/dev/charon.log"; }
lab_dev_config pos
m2m up pos --timeout 20
is_rc 0 "up pos (configured again): exit 0"
m2m down pos
n=$(getconns)
m2m up pos --timeout 20
is_rc 0 "up pos (cached): exit 0"
is "$(getconns)" "$n" "... charon's connections not listed again (this charon's were swept before)"
like "$(cat "$LAB/dev/state/vpn.swept" 2>&1)" "^[0-9a-f-]{36} $(lab_pid charon-dev) [0-9]+\$" \
	"... vpn.swept names this charon (boot id, pid, start time)"
m2m down pos

# ---- a connection of ours that no record names: the state directory was lost
lab_dev_config ghost + pos
m2m up ghost --timeout 20
is_rc 0 "up ghost: exit 0"
ok "... ghost has a record" test -s "$LAB/dev/state/vpn-ghost.loaded"
rm -rf "${LAB:?}/dev/state/"*
m2m status pos
is_rc 15 "status pos (ghost still configured, the state directory lost): exit 15, pos is down"
nok "... no vpn.swept while a configured profile's connection has no record" \
	test -e "$LAB/dev/state/vpn.swept"
lab_dev_config pos
m2m list
is_rc 0 "list (ghost no longer configured, the state directory lost): exit 0"
ok "... ghost's SA terminated" wait_until 1 no_sa
nok "... m2m-ghost removed from charon" has_conn ghost

# ---- a record found damaged: set aside, and charon's list asked again
lab_dev_config ghost
m2m up ghost --timeout 20
is_rc 0 "up ghost again: exit 0"
echo garbage > "$LAB/dev/state/vpn-ghost.loaded"
lab_dev_config pos
n=$(getconns)
m2m list
is_rc 0 "list (ghost no longer configured, its record damaged): exit 0"
nok "... m2m-ghost removed from charon" has_conn ghost
ok "... the damaged record set aside" test -e "$LAB/dev/state/vpn-ghost.loaded.bad"
is "$(getconns)" "$((n + 1))" "... charon's connections listed again (what the record named is unknown)"

# ---- a profile removed while a run of the configuration before holds it (its lock, as an
# up or down of it does): left to a later run, not pulled from under that one
lab_dev_config ghost + pos
m2m up ghost --timeout 20
is_rc 0 "up ghost (to be removed while another run holds it): exit 0"
lab_dev_config pos
lab_bg holder python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a"); fcntl.flock(f, fcntl.LOCK_EX); print("held", flush=True); time.sleep(60)' \
	"$LAB/dev/state/vpn-ghost.lock"
wait_until 5 grep -q held "$LAB/log/holder.out"
ok "... another process holds ghost's lock" grep -q held "$LAB/log/holder.out"
m2m list
is_rc 0 "list (ghost no longer configured, its lock held): exit 0"
ok "... m2m-ghost left in charon while that run holds it" has_conn ghost
nok "... its SA left up" no_sa
ok "... its record kept: the next run looks again" test -s "$LAB/dev/state/vpn-ghost.loaded"
lab_stop holder
m2m list
is_rc 0 "list (the lock released): exit 0"
nok "... m2m-ghost removed from charon now" has_conn ghost
ok "... its SA terminated" wait_until 1 no_sa
nok "... and its lock file removed with it (none left behind per removed profile)" \
	test -e "$LAB/dev/state/vpn-ghost.lock"
done_testing
