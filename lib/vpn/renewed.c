/* SPDX-License-Identifier: MIT */
/*
 * A renewed certificate is proven on the tunnel. When a profile's certificate
 * is replaced by a renewal (m2mvpn-cert renew, lib/enroll), the one before is
 * kept beside it as "<cert>.prev" until an IKE SA came up with the new one.
 * m2m_vpn_up() settles it: an IKE SA established after the new certificate was
 * written proves it, and the previous one is removed; a gateway that refuses
 * our authentication brings the previous one back while it is still valid,
 * and up tries once more with it. So a CA that issues what the gateway does
 * not take (another intermediate, a name it does not expect) cannot cut a
 * device off while its old certificate would still do.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "m2m/pki.h"
#include "vpn/vpn_int.h"

static bool prev_path(const struct m2m_vpn_profile *p, char *out, size_t len)
{
	return p->cert && (size_t)snprintf(out, len, "%s" M2M_CERT_PREV_SUFFIX, p->cert) < len;
}

bool vpn_cert_unproven(const struct m2m_vpn_profile *p)
{
	char prev[4096];

	return prev_path(p, prev, sizeof(prev)) && access(prev, F_OK) == 0;
}

void vpn_cert_proven(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p,
		     const struct m2m_vpn_status *st)
{
	char prev[4096];
	struct stat sb;

	if (!prev_path(p, prev, sizeof(prev)) || stat(p->cert, &sb) != 0)
		return;
	/* an SA that was up before the certificate changed proves nothing */
	if (st->state != M2M_VPN_STATE_UP ||
	    (uint64_t)time(NULL) - st->established_s < (uint64_t)sb.st_mtime)
		return;
	if (unlink(prev) == 0)
		VLOG(vpn, LOG_NOTICE,
		     "%s: the renewed certificate is proven on the tunnel; the previous one is removed",
		     p->name);
}

bool vpn_cert_fall_back(struct m2m_vpn *vpn, const struct m2m_vpn_profile *p)
{
	char prev[4096], until[32] = "";
	struct m2m_cert_info ci;
	struct m2m_err err;

	if (!prev_path(p, prev, sizeof(prev)) || access(prev, F_OK) != 0)
		return false;
	m2m_err_clear(&err);
	if (m2m_cert_info_file(prev, &ci, &err) || m2m_cert_check_time(&ci, time(NULL), &err)) {
		VLOG(vpn, LOG_WARNING, "%s: the gateway refused the renewed certificate, and the previous one cannot stand in: %s",
		     p->name, err.msg);
		return false;
	}
	if (m2m_rename_durable(prev, p->cert, &err)) {
		VLOG(vpn, LOG_WARNING, "%s: cannot bring the previous certificate back: %s", p->name,
		     err.msg);
		return false;
	}
	vpn_loaded_pending(vpn->cfg, p);
	m2m_time_utc(ci.not_after, until, sizeof(until));
	VLOG(vpn, LOG_WARNING,
	     "%s: the gateway refused the renewed certificate; the previous one is back (%s, serial %s, until %s)",
	     p->name, ci.subject, ci.serial, until);
	return true;
}
