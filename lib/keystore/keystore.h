/* SPDX-License-Identifier: MIT */
/*
 * The key store for the library's other modules (lib/vpn, lib/lwm2m): what
 * they need beyond the public interface (m2m/keystore.h) and may not be
 * public, as it deals in lib/base's secrets. Not installed.
 */
#ifndef M2M_KEYSTORE_KEYSTORE_H
#define M2M_KEYSTORE_KEYSTORE_H

#include "base/base.h"
#include "m2m/keystore.h"

/*
 * Try the key's PIN (token) or auth value (TPM) once now, under the store's
 * retry policy, so that a wrong one is seen here with our exit codes
 * (CREDENTIAL, PIN_LOCKOUT) and never reaches another program, and hand it
 * back in *pin (m2m_secret_wipe() it) for one that signs with the key itself
 * (charon, libcoap's engine). The key's own later signatures use *pin, not
 * its source again (a file descriptor or a prompt gives it once): *pin must
 * outlive them. FILE, MACHINE: nothing to try (OK, *pin untouched).
 */
int ks_unlock(struct m2m_key *k, struct m2m_secret *pin, struct m2m_err *err);

#endif
