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

/* The key a renewal replaced, kept while its successor waits for its proof: m2m_key_ref_next()'s twin. */
int ks_key_ref_prev(const struct m2m_key_ref *ref, struct m2m_key_ref *prev, char *buf, size_t len,
		    struct m2m_err *err);

/* Is the key there? OK, NOT_FOUND, or why its store cannot tell (a token not present). */
int ks_key_there(const struct m2m_key_ref *ref, struct m2m_err *err);

/*
 * A token key's objects (private and public key, certificate) take to's id
 * (or label): the swap of a renewal with a new key. Resumable: what moved
 * already is left; an object of a kind that to has already is refused
 * (CREDENTIAL), nothing replaced. One login, under the token's PIN policy.
 * USAGE for the other stores.
 */
int ks_key_move(const struct m2m_key_ref *from, const struct m2m_key_ref *to, struct m2m_err *err);

/* The deadline m2m_keystore_set_deadline() set (0: none), to be put back after a tighter one. */
uint64_t ks_deadline_set(void);

/*
 * The blob the key at a TPM handle is kept as (keygen, import: the state
 * directory's tpm-key-0xHANDLE), m2m_key_ref_next()'s without a suffix.
 * USAGE for the other stores and for a blob.
 */
int ks_key_ref_kept(const struct m2m_key_ref *ref, struct m2m_key_ref *kept, char *buf, size_t len,
		    struct m2m_err *err);

/*
 * A TPM key's blob made the key at ref's handle (the swap of a renewal
 * with a new key, and its fallback): the key there is evicted (its own
 * blob, if kept, can put it back), the blob's loaded and persisted there.
 * Done already, OK, if the key at the handle is the blob's. USAGE for a
 * reference that is not a handle and a blob of one TPM.
 */
int ks_key_place(const struct m2m_key_ref *ref, const struct m2m_key_ref *blob,
		 struct m2m_err *err);

#endif
