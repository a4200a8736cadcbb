/* SPDX-License-Identifier: MIT */
/*
 * Is a certificate valid now, and is it due for renewal: one check and one
 * threshold for doctor, connect, status and the management objects, so that
 * none of them tells a different story about the same certificate.
 */
#include <stdio.h>
#include <time.h>

#include "base/base.h"
#include "m2m/pki.h"
#include "pki/pki_int.h"

int pki_check_validity(time_t not_before, time_t not_after, time_t now, const char *what,
		       struct m2m_err *err)
{
	char when[32];
	struct tm tm;

	if (now >= not_before && now <= not_after)
		return M2M_OK;
	gmtime_r(now < not_before ? &not_before : &not_after, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	if (now < not_before)
		return m2m_err_set(err, M2M_ERR_CLOCK, "%s is not valid before %s (check the clock)",
				   what, when);
	return m2m_err_set(err, M2M_ERR_CLOCK, "%s expired on %s", what, when);
}

int m2m_cert_check_time(const struct m2m_cert_info *cert, time_t now, struct m2m_err *err)
{
	char what[300];

	snprintf(what, sizeof(what), "certificate %s", cert->subject);
	return pki_check_validity(cert->not_before, cert->not_after, now, what, err);
}

bool m2m_cert_renewal_due(const struct m2m_cert_info *cert, time_t now)
{
	return cert->not_after < now + (time_t)M2M_CERT_RENEW_DAYS * 86400;
}
