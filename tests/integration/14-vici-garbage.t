#!/bin/bash
# 14-vici-garbage.t - a local charon whose VICI socket answers with something that is not
# VICI is a broken local daemon: exit 4 (m2m-exit-codes(7)), never 12 (a failed negotiation
# with the gateway). A fake peer on a unix socket reads one request and answers
#   range: a packet length of 0xff000000 (VICI allows 1..512 KiB)
#   type:  a 1-byte packet of type 9 (VICI knows 0..7)
# for up, down and status; each exits 4 at once with one line on stderr.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

cat > "$LAB/fake-vici.py" <<'EOF'
import os, socket, struct, sys, threading
path, mode = sys.argv[1], sys.argv[2]
answer = {"range": b"\xff\x00\x00\x00", "type": b"\x00\x00\x00\x01\x09"}[mode]
def serve(c):
    try:
        hdr = c.recv(4)
        n = struct.unpack(">I", hdr)[0] if len(hdr) == 4 else 0
        while n > 0:
            d = c.recv(min(n, 65536))
            if not d:
                break
            n -= len(d)
        c.sendall(answer)
        while c.recv(4096):
            pass
    except OSError:
        pass
    finally:
        c.close()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(16)
open(path + ".ready", "w").close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF

for mode in range type; do
	sock=$LAB/fake-$mode.vici
	lab_bg "fake-$mode" "$LAB_PY" "$LAB/fake-vici.py" "$sock" "$mode"
	ok "fake VICI peer ($mode) listening" wait_until 5 test -e "$sock.ready"
	lab_dev_config pos vici="unix://$sock"
	for cmd in "up pos --timeout 5" "status pos" "down pos --timeout 5"; do
		# shellcheck disable=SC2086
		m2m $cmd
		is_rc 4 "$mode: $cmd: exit 4 (a broken local daemon)"
		cmp_ok "$M2M_MS" -le 2000 "... at once (${M2M_MS} ms)"
		ok "... one line on stderr" one_line "$M2M_ERR" || m2m_diag
	done
	like "$M2M_ERR" 'VICI packet' "$mode: the message says what came from charon"
	lab_stop "fake-$mode" TERM 3
done
done_testing
