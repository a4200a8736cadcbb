/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "m2m/m2m.h"

static const struct {
	const char *name;
	const char *text;
} rc_table[M2M_RC_COUNT_] = {
	[M2M_OK] = { "ok", "success" },
	[M2M_ERR_FAILURE] = { "failure", "internal or unclassified failure" },
	[M2M_ERR_USAGE] = { "usage", "bad command line" },
	[M2M_ERR_CONFIG] = { "config", "configuration missing, unsafe or invalid" },
	[M2M_ERR_DAEMON] = { "daemon", "charon is not reachable" },
	[M2M_ERR_TIMEOUT] = { "timeout", "timed out" },
	[M2M_ERR_UNREACHABLE] = { "unreachable", "peer did not answer" },
	[M2M_ERR_AUTH_LOCAL] = { "auth-local", "the peer rejected our authentication" },
	[M2M_ERR_AUTH_REMOTE] = { "auth-remote", "the peer failed our authentication check" },
	[M2M_ERR_CREDENTIAL] = { "credential", "key, certificate, PIN or token problem" },
	[M2M_ERR_CLOCK] = { "clock", "certificate not yet valid or expired" },
	[M2M_ERR_BUSY] = { "busy", "another instance holds the lock" },
	[M2M_ERR_PROTOCOL] = { "protocol", "negotiation with the peer failed" },
	[M2M_ERR_PIN_LOCKOUT] = { "pin-lockout", "too few PIN retries left; not tried" },
	[M2M_ERR_NOT_FOUND] = { "not-found", "no such profile or object" },
	[M2M_ERR_DOWN] = { "down", "not up" },
	[M2M_ERR_DEVICE] = { "device", "TPM, token or PKCS#11 module absent or unreachable" },
	[M2M_ERR_INTEGRITY] = { "integrity", "not genuine: an update package's signature, signer or hash, or the audit log's chain" },
	[M2M_ERR_REFUSED] = { "refused", "update package not for this device: model, version, type or expiry" },
	[M2M_ERR_STORAGE] = { "storage", "not enough space for the download or the install" },
	[M2M_ERR_QUARANTINED] = { "quarantined", "a security policy put the device in quarantine" },
};

const char *m2m_rc_name(int rc)
{
	if (rc < 0 || rc >= M2M_RC_COUNT_)
		return "unknown";
	return rc_table[rc].name;
}

const char *m2m_rc_describe(int rc)
{
	if (rc < 0 || rc >= M2M_RC_COUNT_)
		return "unknown result";
	return rc_table[rc].text;
}

int m2m_err_set(struct m2m_err *err, int rc, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return rc;
	err->rc = rc;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return rc;
}

int m2m_err_prefix(struct m2m_err *err, const char *fmt, ...)
{
	char pre[sizeof(err->msg)], old[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return M2M_ERR_FAILURE;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* a message cut short is still better than none */
	if (snprintf(err->msg, sizeof(err->msg), "%s: %s", pre, old) >= (int)sizeof(err->msg))
		err->msg[sizeof(err->msg) - 1] = '\0';
	return err->rc;
}

void m2m_err_clear(struct m2m_err *err)
{
	if (err) {
		err->rc = M2M_OK;
		err->msg[0] = '\0';
	}
}

const char *m2m_version(void)
{
	return M2M_VERSION;
}
