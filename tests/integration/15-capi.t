#!/bin/bash
# The C API, as an application uses it (examples/vpn-up.c): the same result codes as the tool.
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
APP=${M2M_BUILD_DIR:-$(dirname "$M2M_BIN")/..}/examples/vpn-up
[ -x "$APP" ] || { echo "1..1"; echo "not ok 1 - $APP built"; exit 1; }
lab_up
plan 5
out=$(M2M_CONFIG=$M2M_CONFIG_FILE in_dev "$APP" pos 2>&1); rc=$?
is "$rc" 0 "m2m_vpn_up() through the API: result 0"
like "$out" "pos is up, our address in the tunnel is 10\.99\.2\.[0-9]+" "the API reports the virtual IP"
ok "traffic flows after the API call" lab_ping_inner 3
out=$(M2M_CONFIG=$M2M_CONFIG_FILE in_dev "$APP" nope 2>&1); rc=$?
is "$rc" 14 "unknown profile through the API: M2M_ERR_NOT_FOUND (14)"
like "$out" "no VPN profile 'nope'" "the API's error message names the profile"
