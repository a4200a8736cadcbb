/* SPDX-License-Identifier: MIT */
/*
 * The vpn module's header for the modules above it (enroll, wipe): what a
 * renewal with a new key needs of the module that proves it on the tunnel,
 * and the profile's lock.
 */
#ifndef M2M_VPN_MODULE_H
#define M2M_VPN_MODULE_H

#include "m2m/config.h"
#include "m2m/m2m.h"

/*
 * Under the profile's lock (waited for up to wait_ms, as an up holds it): a
 * change of its key and certificate that a power cut interrupted finished,
 * then a new key and its certificate (<key>.next, <cert>.next, written by the
 * renewal) take the place of the profile's, the ones replaced kept as
 * <key>.prev and <cert>.prev until the new pair is proven on the tunnel
 * (renewed.c); charon loads the new ones at the next up. M2M_OK if there is
 * nothing to do; BUSY if the lock is not free in time; TIMEOUT if *stop (may
 * be NULL) is set while waiting for it.
 */
int vpn_key_swap(const struct m2m_config *cfg, const struct m2m_vpn_profile *p, unsigned wait_ms,
		 volatile const int *stop, struct m2m_err *err);

/*
 * The profile's lock, shared by "up", "down", the supervisor, a swap of its
 * key and the wipe; waits up to wait_ms (BUSY then). m2m_unlock() it.
 */
int vpn_profile_lock(const struct m2m_config *cfg, const char *profile, unsigned wait_ms, int *fd,
		     struct m2m_err *err);

#endif
