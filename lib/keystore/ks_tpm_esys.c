/* SPDX-License-Identifier: MIT */
/*
 * The TPM store's connection: tpm2-tss loaded when a TPM is first used, the
 * TCTI (always explicit: the reference's, else device:/dev/tpmrm0; every
 * failure to reach the TPM names it), a probe under the key stores'
 * deadline, and the errors of tpm2-tss in our terms.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "keystore/ks_tpm.h"

static const char *tcti_of(const struct m2m_key_ref *ref)
{
	return ref->tcti ? ref->tcti : M2M_TPM_DEFAULT_TCTI;
}

uint32_t ks_tpm_handle(const struct m2m_key_ref *ref)
{
	return ref->handle ? ref->handle : M2M_TPM_DEFAULT_HANDLE;
}

/* The TPM's response code without the handle/session/parameter number. */
TSS2_RC ks_tpm_base_rc(TSS2_RC rc)
{
	rc &= 0xffff;
	if (rc & TPM2_RC_FMT1)
		rc &= ~0xf00u;
	return rc;
}

int ks_tpm_err(struct m2m_err *err, TSS2_RC rc, const char *what, uint32_t handle)
{
	TSS2_RC b = ks_tpm_base_rc(rc);

	if ((rc & 0xff0000) == 0 && (b == TPM2_RC_AUTH_FAIL || b == TPM2_RC_BAD_AUTH))
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "TPM key 0x%08x: %s: wrong auth value",
				   handle, what);
	if ((rc & 0xff0000) == 0 && b == TPM2_RC_LOCKOUT)
		return m2m_err_set(err, M2M_ERR_PIN_LOCKOUT,
				   "TPM: %s: the TPM is in dictionary-attack lockout; not retried", what);
	if ((rc & 0xff0000) == 0 && (b == TPM2_RC_OBJECT_MEMORY || b == TPM2_RC_SESSION_MEMORY ||
				     b == TPM2_RC_MEMORY))
		return m2m_err_set(err, M2M_ERR_DEVICE,
				   "TPM: %s: the TPM is out of memory for objects (another program "
				   "left some loaded; reach it through a resource manager: "
				   "device:/dev/tpmrm0 or tabrmd)", what);
	return m2m_err_set(err, M2M_ERR_CREDENTIAL, "TPM key 0x%08x: %s: %s", handle, what,
			   Tss2_RC_Decode(rc));
}

/* The persistent object at handle; NOT_FOUND only if the TPM says there is none. */
int ks_tpm_from_handle(struct tpm *t, uint32_t handle, ESYS_TR *obj, struct m2m_err *err)
{
	TSS2_RC r = Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE,
					  ESYS_TR_NONE, obj);

	if (r == TSS2_RC_SUCCESS)
		return M2M_OK;
	if ((r & 0xff0000) == 0 && ks_tpm_base_rc(r) == TPM2_RC_HANDLE)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "TPM: no key at handle 0x%08x (TCTI %s)",
				   (unsigned)handle, t->tcti_conf);
	return ks_tpm_err(err, r, "reading the key", handle);
}

void ks_tpm_close(struct tpm *t)
{
	if (!t)
		return;
	if (t->esys)
		Esys_Finalize(&t->esys);
	if (t->tcti)
		Tss2_TctiLdr_Finalize(&t->tcti);
	free(t);
}

/*
 * The tabrmd TCTI reports a missing resource manager through GLib, straight
 * to stderr; the caller gets our one-line message instead, so stderr is
 * pointed at /dev/null while the TCTI is loaded. stderr is the process's:
 * one thread at a time (two at once could each restore the other's
 * /dev/null and leave stderr silent for good).
 */
static pthread_mutex_t stderr_mu = PTHREAD_MUTEX_INITIALIZER;

static TSS2_RC quiet_tcti_init(const char *conf, TSS2_TCTI_CONTEXT **tcti)
{
	int saved, null;
	TSS2_RC rc;

	pthread_mutex_lock(&stderr_mu);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (saved >= 0 && null >= 0)
		dup2(null, STDERR_FILENO);
	rc = Tss2_TctiLdr_Initialize(conf, tcti);
	if (saved >= 0) {
		dup2(saved, STDERR_FILENO);
		close(saved);
	}
	if (null >= 0)
		close(null);
	pthread_mutex_unlock(&stderr_mu);
	return rc;
}

/*
 * Whether the TPM answers through the TCTI before the key stores' deadline
 * (ks_probe): a TCTI has no time limit where it hangs (tabrmd's D-Bus set-up
 * waits 25 s twice for a frozen resource manager, a socket that never
 * answers for ever). Once per process, before it has started a TCTI of its
 * own (a child of a process with tabrmd's GLib threads could not use D-Bus
 * safely), and again after a probe that timed out. A TPM that stops
 * answering after that is not caught here.
 */
static bool probed;
static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER; /* one probe at a time, bounded */

static int probe_tcti(void *arg)
{
	TSS2_TCTI_CONTEXT *tcti = NULL;
	ESYS_CONTEXT *esys = NULL;
	TPMS_CAPABILITY_DATA *cap = NULL;
	TSS2_RC rc = quiet_tcti_init(arg, &tcti);

	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_Initialize(&esys, tcti, NULL);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_GetCapability(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_TPM_PROPERTIES, TPM2_PT_MANUFACTURER, 1, NULL, &cap);
	return rc == TSS2_RC_SUCCESS ? 0 : 1;
}

static int tpm_probe(const char *conf, struct m2m_err *err)
{
	char what[300];
	int rc;

	pthread_mutex_lock(&probe_mu);
	if (probed) {
		pthread_mutex_unlock(&probe_mu);
		return M2M_OK;
	}
	snprintf(what, sizeof(what), "TPM: no answer through TCTI '%s'", conf);
	rc = ks_probe(what, probe_tcti, (void *)conf, err);
	probed = rc == M2M_OK;
	pthread_mutex_unlock(&probe_mu);
	return rc;
}

int ks_tpm_connect(const struct m2m_key_ref *ref, struct tpm **out, struct m2m_err *err)
{
	struct tpm *t = calloc(1, sizeof(*t));
	TPMS_CAPABILITY_DATA *cap = NULL;
	TSS2_RC rc;

	*out = NULL;
	if (!t)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	if (!ks_tss_load()) {
		free(t);
		return m2m_err_set(err, M2M_ERR_DEVICE,
				   "TPM: the tpm2-tss libraries are not installed (libtss2-esys0, libtss2-tctildr0, libtss2-mu0)");
	}
	snprintf(t->tcti_conf, sizeof(t->tcti_conf), "%s", tcti_of(ref));
	if (!m2m_tcti_allowed(t->tcti_conf)) {
		free(t);
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "TPM: refusing TCTI '%.60s'; expected device[:/dev/tpm...], tabrmd, mssim or swtpm",
				   tcti_of(ref));
	}
	if (tpm_probe(t->tcti_conf, err)) {
		free(t);
		return M2M_ERR_DEVICE;
	}
	rc = quiet_tcti_init(t->tcti_conf, &t->tcti);
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_Initialize(&t->esys, t->tcti, NULL);
	/* one round trip proves the TPM answers, not just that the transport opened */
	if (rc == TSS2_RC_SUCCESS)
		rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_TPM_PROPERTIES, TPM2_PT_MANUFACTURER, 1, NULL, &cap);
	Esys_Free(cap);
	if (rc != TSS2_RC_SUCCESS) {
		m2m_err_set(err, M2M_ERR_DEVICE, "TPM not reachable through TCTI '%s': %s",
			    t->tcti_conf, Tss2_RC_Decode(rc));
		ks_tpm_close(t);
		return M2M_ERR_DEVICE;
	}
	*out = t;
	return M2M_OK;
}

int ks_tpm_set_auth(struct tpm *t, ESYS_TR obj, const struct m2m_key_ref *ref, const char *what,
		    struct m2m_err *err)
{
	struct m2m_secret s = { 0 };
	TPM2B_AUTH auth = { 0 };
	int rc;

	if (ref->pin.source == M2M_SECRET_NONE)
		return M2M_OK;
	if (t->auth) {
		/* the value already read (a prompt must not ask twice) */
		if (t->auth->len > sizeof(auth.buffer))
			return m2m_err_set(err, M2M_ERR_CREDENTIAL,
					   "TPM key auth value longer than %zu bytes", sizeof(auth.buffer));
		auth.size = (UINT16)t->auth->len;
		memcpy(auth.buffer, t->auth->buf, t->auth->len);
		Esys_TR_SetAuth(t->esys, obj, &auth);
		OPENSSL_cleanse(&auth, sizeof(auth));
		return M2M_OK;
	}
	rc = m2m_secret_read(&ref->pin, what, &s, err);
	if (rc)
		return rc;
	if (s.len > sizeof(auth.buffer)) {
		m2m_secret_wipe(&s);
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "TPM key auth value longer than %zu bytes",
				   sizeof(auth.buffer));
	}
	auth.size = (UINT16)s.len;
	memcpy(auth.buffer, s.buf, s.len);
	m2m_secret_wipe(&s);
	Esys_TR_SetAuth(t->esys, obj, &auth);
	OPENSSL_cleanse(&auth, sizeof(auth));
	return M2M_OK;
}
