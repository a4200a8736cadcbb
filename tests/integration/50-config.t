#!/bin/bash
# 50-config.t - configuration and command-line errors:
#   typo'd key -> 3, stderr names FILE:LINE:COL: of the key
#   YAML syntax error -> 3 with FILE:LINE:
#   wrong value type -> 3 with FILE:LINE:
#   config writable by others (0666) -> 3
#   missing config file -> 3
#   unknown profile -> 14;  --timeout abc -> 2;  unknown command -> 2;  no command -> 2
#   --help -> 0 (usage on stdout), --version -> 0
#   M2M_CONFIG names the file when -c is not given
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up
CFG=$LAB/dev/m2m.yaml

one_line_err() { ok "$1: error is one line on stderr" one_line "$M2M_ERR" || m2m_diag; }

# ---- typo'd key: remote_id -> remote_idd
lab_dev_config pos
sed -i 's/^      remote_id: /      remote_idd: /' "$CFG"
line=$(grep -n 'remote_idd:' "$CFG" | cut -d: -f1)
col=$(( $(grep 'remote_idd:' "$CFG" | sed 's/remote_idd.*//' | wc -c) ))   # 1-based column of the key
m2m up pos --timeout 5
is_rc 3 "typo'd key: exit 3"
like "$M2M_ERR" "${CFG//./\\.}:$line:$col:" "typo'd key: stderr has $CFG:$line:$col:"
like "$M2M_ERR" "remote_idd" "typo'd key: stderr names the key"
one_line_err "typo'd key"

# ---- YAML syntax error (unterminated flow sequence)
lab_dev_config pos
sed -i 's/^      remote_ts: \[\(.*\)\]$/      remote_ts: [\1/' "$CFG"
m2m up pos --timeout 5
is_rc 3 "YAML syntax error: exit 3"
like "$M2M_ERR" "${CFG//./\\.}:[0-9]+:" "YAML syntax error: stderr has $CFG:LINE:"
one_line_err "YAML syntax error"

# ---- wrong type
lab_dev_config pos virtual_ip=maybe
line=$(grep -n 'virtual_ip:' "$CFG" | cut -d: -f1)
m2m up pos --timeout 5
is_rc 3 "virtual_ip: maybe: exit 3"
like "$M2M_ERR" "${CFG//./\\.}:$line:" "virtual_ip: maybe: stderr has $CFG:$line:"
one_line_err "wrong type"

# ---- unsafe permissions
lab_dev_config -p 0666 pos
m2m up pos --timeout 5
is_rc 3 "config mode 0666: exit 3"
like "$M2M_ERR" "${CFG//./\\.}" "config mode 0666: stderr names the file"
one_line_err "config mode 0666"

# ---- missing file
M2M_CONFIG_FILE=$LAB/dev/missing.yaml m2m up pos --timeout 5
is_rc 3 "missing config file: exit 3"
like "$M2M_ERR" "missing\.yaml" "missing config file: stderr names it"
one_line_err "missing config file"

# ---- unknown profile, bad option values, usage
lab_dev_config pos
m2m up nosuch --timeout 5
is_rc 14 "unknown profile: exit 14"
like "$M2M_ERR" "nosuch" "unknown profile: stderr names it"
one_line_err "unknown profile"
m2m status nosuch
is_rc 14 "status of an unknown profile: exit 14"
m2m up pos --timeout abc
is_rc 2 "--timeout abc: exit 2"
is "$(lab_sa_count dev)" 0 "--timeout abc: nothing was started"
m2m frobnicate
is_rc 2 "unknown command: exit 2"
m2m
is_rc 2 "no command: exit 2"
m2m --help
is_rc 0 "--help: exit 0"
like "$M2M_OUT" "up" "--help: usage on stdout"
m2m --version
is_rc 0 "--version: exit 0"
like "$M2M_OUT" "[0-9]+\.[0-9]+" "--version prints a version"

# ---- M2M_CONFIG instead of -c
M2M_CMD="M2M_CONFIG=$CFG m2mvpn-connect list"
M2M_CONFIG=$CFG timeout 30 ip netns exec "$NS_DEV" "$M2M_BIN" list > "$LAB/log/env.out" 2> "$LAB/log/env.err"
M2M_RC=$? M2M_OUT=$(cat "$LAB/log/env.out") M2M_ERR=$(cat "$LAB/log/env.err") M2M_MS=0
is_rc 0 "M2M_CONFIG=FILE list: exit 0"
like "$M2M_OUT" "pos" "M2M_CONFIG=FILE list shows the profile"
done_testing
