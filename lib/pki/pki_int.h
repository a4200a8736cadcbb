/* SPDX-License-Identifier: MIT */
/* Internal parts of the PKI module, for the modules that check certificates (vpn). */
#ifndef M2M_PKI_INT_H
#define M2M_PKI_INT_H

#include <time.h>

#include "m2m/m2m.h"

/*
 * The one clock check: CLOCK if now is outside [not_before, not_after], with
 * "<what> is not valid before <date> (check the clock)" or "<what> expired on
 * <date>" (dates in UTC). what names the certificate, e.g. "certificate CN=x".
 */
int pki_check_validity(time_t not_before, time_t not_after, time_t now, const char *what,
		       struct m2m_err *err);

#endif
