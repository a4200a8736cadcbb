#!/bin/bash
# 101-keys-tpm-deadline.t - a TPM that does not answer ends every command at its own time
# limit, with status 16: the resource manager frozen (SIGSTOP) under "up" of a profile whose
# credentials charon holds, under doctor and under keygen; a TCTI socket that accepts and never
# answers. tpm2-tss alone waited 50 s (tabrmd's D-Bus set-up) or for ever (a silent socket).
# Each must end within its limit plus 100 ms.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
lab_require
lab_keys_require
lab_require_tool
lab_keys_up

T=$LAB_TPM_TCTI
m2mcert keygen --store tpm --tcti "$T" --handle "$LAB_TPM_HANDLE"
is_rc 0 "keygen --store tpm: exit 0"
m2mcert csr --store tpm --tcti "$T" --subject "CN=dev-tpm.lab" --san dev-tpm.lab -o "$LAB/pki/dev-tpm.csr"
ok "the lab CA issues dev-tpm.lab" lab_keys_issue "$LAB/pki/dev-tpm.csr" dev-tpm dev-tpm.lab
lab_keys_config pos tpm dev-tpm.lab "cert: $LAB/pki/dev-tpm.pem" "tcti: \"$T\"" "handle: $LAB_TPM_HANDLE"
m2m up pos --timeout 20
is_rc 0 "up with the TPM key: exit 0"
m2m down pos

tabrmd=$(lab_pid tabrmd)
kill -STOP "$tabrmd"
timed m2m up pos --timeout 5
is_rc 16 "resource manager frozen, up --timeout 5 (cached profile): exit 16"
ok "up returned within 5 s + 100 ms (${ELAPSED} ms)" test "$ELAPSED" -le 5100
like "$M2M_ERR" "no answer through TCTI" "up: the TCTI that did not answer is named"
timed m2mcert doctor pos --timeout 3
is_rc 16 "resource manager frozen, doctor --timeout 3: exit 16"
ok "doctor returned within 3 s + 100 ms (${ELAPSED} ms)" test "$ELAPSED" -le 3100
timed m2mcert keygen --store tpm --tcti "$T" --handle 0x81010077 --timeout 3
is_rc 16 "resource manager frozen, keygen --timeout 3: exit 16"
ok "keygen returned within 3 s + 100 ms (${ELAPSED} ms)" test "$ELAPSED" -le 3100
kill -CONT "$tabrmd"
m2mcert doctor pos --timeout 10
is_rc 0 "resource manager thawed: doctor passes again"

# a TCTI socket that accepts and never answers (the swtpm TCTI: command and control sockets)
lab_bg silent "$LAB_PY" -c 'import socket, sys, time
socks = []
for p in (sys.argv[1], sys.argv[1] + ".ctrl"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(p)
    s.listen(8)
    socks.append(s)
print("listening", flush=True)
held = []
while True:
    for s in socks:
        s.settimeout(0.1)
        try:
            held.append(s.accept()[0])
        except OSError:
            pass' "$LAB/tpm/silent.sock"
ok "a silent TCTI socket listens" wait_until 5 grep -q listening "$LAB/log/silent.out"
timed m2mcert keygen --store tpm --tcti "swtpm:path=$LAB/tpm/silent.sock" --timeout 3
is_rc 16 "a TCTI that never answers, keygen --timeout 3: exit 16"
ok "keygen returned within 3 s + 100 ms (${ELAPSED} ms)" test "$ELAPSED" -le 3100
timed m2mcert keygen --store tpm --tcti "swtpm:path=$LAB/tpm/silent.sock"
is_rc 16 "the same without --timeout: exit 16 at the default 30 s"
ok "within 30 s + 100 ms (${ELAPSED} ms)" test "$ELAPSED" -le 30100
done_testing
