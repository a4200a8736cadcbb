/* SPDX-License-Identifier: MIT */
/*
 * The vpn module's header for the modules above it (enroll): what a renewal
 * with a new key needs of the module that proves it on the tunnel.
 */
#ifndef M2M_VPN_MODULE_H
#define M2M_VPN_MODULE_H

#include "m2m/config.h"
#include "m2m/m2m.h"

/*
 * A new key and its certificate (<key>.next, <cert>.next, written by the
 * renewal) take the place of the profile's, the ones replaced kept as
 * <key>.prev and <cert>.prev until the new pair is proven on the tunnel
 * (renewed.c); charon loads the new ones at the next up. Idempotent, and
 * what a power cut interrupted is finished by the next call or up. M2M_OK
 * if there is no <cert>.next.
 */
int vpn_key_swap(const struct m2m_config *cfg, const struct m2m_vpn_profile *p, struct m2m_err *err);

#endif
