/* SPDX-License-Identifier: MIT */
/*
 * A PKCS#11 token session: the module loaded with dlopen() (libm2m needs no
 * PKCS#11 library at build or run time) and probed under the key stores'
 * deadline, the token found by its label, the login under the PIN policy
 * (ks_pin.c), and finding, reading and deleting our objects.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <p11-kit/pkcs11.h>

#include "keystore/ks_int.h"
#include "keystore/ks_p11.h"

/* DER of OID prime256v1 (1.2.840.10045.3.1.7), the only curve we make */
const unsigned char ks_p11_p256_oid[10] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };

const char *ks_p11_rv_name(CK_RV rv)
{
	switch (rv) {
	case CKR_OK: return "OK";
	case CKR_PIN_INCORRECT: return "PIN_INCORRECT";
	case CKR_PIN_LOCKED: return "PIN_LOCKED";
	case CKR_PIN_EXPIRED: return "PIN_EXPIRED";
	case CKR_PIN_LEN_RANGE: return "PIN_LEN_RANGE";
	case CKR_TOKEN_NOT_PRESENT: return "TOKEN_NOT_PRESENT";
	case CKR_TOKEN_NOT_RECOGNIZED: return "TOKEN_NOT_RECOGNIZED";
	case CKR_DEVICE_REMOVED: return "DEVICE_REMOVED";
	case CKR_DEVICE_ERROR: return "DEVICE_ERROR";
	case CKR_USER_NOT_LOGGED_IN: return "USER_NOT_LOGGED_IN";
	case CKR_MECHANISM_INVALID: return "MECHANISM_INVALID";
	case CKR_KEY_TYPE_INCONSISTENT: return "KEY_TYPE_INCONSISTENT";
	case CKR_TEMPLATE_INCONSISTENT: return "TEMPLATE_INCONSISTENT";
	case CKR_SESSION_READ_ONLY: return "SESSION_READ_ONLY";
	case CKR_GENERAL_ERROR: return "GENERAL_ERROR";
	case CKR_FUNCTION_FAILED: return "FUNCTION_FAILED";
	case CKR_ARGUMENTS_BAD: return "ARGUMENTS_BAD";
	default: return "error";
	}
}

void ks_p11_label_of(const unsigned char *l, size_t n, char *out, size_t len)
{
	size_t k = n < len - 1 ? n : len - 1;

	memcpy(out, l, k);
	out[k] = '\0';
	while (k && out[k - 1] == ' ')
		out[--k] = '\0';
}

void ks_p11_close(struct p11 *p)
{
	if (!p)
		return;
	if (p->session) {
		if (p->logged_in)
			p->f->C_Logout(p->s);
		p->f->C_CloseSession(p->s);
	}
	if (p->initialized)
		p->f->C_Finalize(NULL);
	if (p->lib)
		dlclose(p->lib);
	free(p);
}

/*
 * Whether the module answers (loads, initializes, lists its slots) before the
 * key stores' deadline, asked in a child (ks_probe): a module whose daemon or
 * reader hangs (pcscd) has no time limit of its own. Once per module and
 * process, before this process initializes it: not every module survives a
 * fork after C_Initialize.
 */
static char p11_probed[4][256];

static int probe_module(void *arg)
{
	CK_C_INITIALIZE_ARGS ia = { .flags = CKF_OS_LOCKING_OK };
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_C_GetFunctionList gfl;
	CK_ULONG n = 0;
	void *lib = dlopen(arg, RTLD_NOW | RTLD_LOCAL);

	if (!lib)
		return 1;
	*(void **)&gfl = dlsym(lib, "C_GetFunctionList");
	if (!gfl || gfl(&f) != CKR_OK || !f || f->C_Initialize(&ia) != CKR_OK)
		return 1;
	f->C_GetSlotList(CK_TRUE, NULL, &n);
	f->C_Finalize(NULL);
	return 0;
}

static int p11_probe(const char *module, struct m2m_err *err)
{
	char what[320];
	size_t i;
	int rc;

	for (i = 0; i < 4 && p11_probed[i][0]; i++)
		if (strcmp(p11_probed[i], module) == 0)
			return M2M_OK;
	snprintf(what, sizeof(what), "PKCS#11 module %s: no answer", module);
	rc = ks_probe(what, probe_module, (void *)module, err);
	if (!rc && i < 4)
		snprintf(p11_probed[i], sizeof(p11_probed[i]), "%s", module);
	return rc;
}

/* Load the module, ks_p11_find the token, open a session. */
int ks_p11_open(const struct m2m_key_ref *ref, bool rw, struct p11 **out, struct m2m_err *err)
{
	CK_C_INITIALIZE_ARGS ia = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList gfl;
	CK_SLOT_ID slots[32];
	CK_ULONG ns = 32, found = 0;
	struct p11 *p = calloc(1, sizeof(*p));
	CK_RV rv;

	*out = NULL;
	if (!p)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	if (ref->id && !m2m_unhex(ref->id, p->id, sizeof(p->id), &p->idlen)) {
		free(p);
		return m2m_err_set(err, M2M_ERR_USAGE, "pkcs11 key: id '%s' is not hex", ref->id);
	}
	if (p11_probe(ref->module, err)) {
		free(p);
		return M2M_ERR_DEVICE;
	}
	p->lib = dlopen(ref->module, RTLD_NOW | RTLD_LOCAL);
	if (!p->lib) {
		m2m_err_set(err, M2M_ERR_DEVICE, "PKCS#11 module %s: %s", ref->module, dlerror());
		goto fail;
	}
	*(void **)&gfl = dlsym(p->lib, "C_GetFunctionList");
	if (!gfl || gfl(&p->f) != CKR_OK || !p->f) {
		m2m_err_set(err, M2M_ERR_DEVICE, "PKCS#11 module %s: no C_GetFunctionList",
			    ref->module);
		goto fail;
	}
	rv = p->f->C_Initialize(&ia);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		m2m_err_set(err, M2M_ERR_CREDENTIAL, "PKCS#11 module %s: C_Initialize: %s (0x%lx)",
			    ref->module, ks_p11_rv_name(rv), (unsigned long)rv);
		goto fail;
	}
	p->initialized = rv == CKR_OK;
	rv = p->f->C_GetSlotList(CK_TRUE, slots, &ns);
	if (rv != CKR_OK) {
		m2m_err_set(err, M2M_ERR_CREDENTIAL, "PKCS#11 module %s: listing slots: %s",
			    ref->module, ks_p11_rv_name(rv));
		goto fail;
	}
	for (CK_ULONG i = 0; i < ns; i++) {
		CK_TOKEN_INFO ti;
		char lbl[40];

		if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    !(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		ks_p11_label_of(ti.label, sizeof(ti.label), lbl, sizeof(lbl));
		if (ref->token && strcmp(lbl, ref->token) != 0)
			continue;
		if (found++ == 0) {
			p->slot = slots[i];
			snprintf(p->token, sizeof(p->token), "%s", lbl);
			ks_p11_label_of(ti.serialNumber, sizeof(ti.serialNumber), p->serial, sizeof(p->serial));
		}
	}
	if (found == 0) {
		if (ref->token)
			m2m_err_set(err, M2M_ERR_DEVICE, "PKCS#11: token '%s' not present (module %s)",
				    ref->token, ref->module);
		else
			m2m_err_set(err, M2M_ERR_DEVICE, "PKCS#11: no token present (module %s)",
				    ref->module);
		goto fail;
	}
	if (found > 1 && !ref->token) {
		/* what names no token is the configuration (or the command line): not a bad option */
		m2m_err_set(err, M2M_ERR_CONFIG,
			    "PKCS#11: %lu tokens present; name one by its label (auth.token in the profile, or --token)",
			    (unsigned long)found);
		goto fail;
	}
	rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0), NULL,
				 NULL, &p->s);
	if (rv != CKR_OK) {
		m2m_err_set(err, M2M_ERR_CREDENTIAL, "token '%s': opening a session: %s", p->token,
			    ks_p11_rv_name(rv));
		goto fail;
	}
	p->session = true;
	*out = p;
	return M2M_OK;
fail:
	ks_p11_close(p);
	return err ? err->rc : M2M_ERR_CREDENTIAL;
}

enum m2m_pin_state ks_p11_pin_state(struct p11 *p)
{
	CK_TOKEN_INFO ti;

	if (p->f->C_GetTokenInfo(p->slot, &ti) != CKR_OK)
		return M2M_PIN_OK;
	return ks_pin_state((unsigned long)ti.flags);
}

/*
 * Log in with the PIN from ref: at most one attempt per process, none if
 * the token says retries are running out. A copy of the PIN is left in
 * keep if it is not NULL (for charon).
 */
int ks_p11_login(struct p11 *p, const struct m2m_key_ref *ref, struct m2m_secret *keep,
		     struct m2m_err *err)
{
	struct m2m_secret pin = { 0 };
	char what[96];
	CK_RV rv;
	int rc;

	if (p->logged_in && !keep)
		return M2M_OK;
	if (p->pin_rejected)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "token '%s': the PIN was rejected before; not tried again", p->token);
	rc = ks_pin_policy(ks_p11_pin_state(p), ref->pin.source == M2M_SECRET_PROMPT, p->token, err);
	if (rc)
		return rc;
	snprintf(what, sizeof(what), "PIN for token '%s'", p->token);
	rc = m2m_secret_read(&ref->pin, what, &pin, err);
	if (rc)
		return rc;
	/* never a login with it: a token counts an empty PIN as a wrong one */
	if (pin.len == 0 && ref->pin.source != M2M_SECRET_NONE) {
		m2m_secret_wipe(&pin);
		snprintf(what, sizeof(what), "token '%s'", p->token);
		return ks_pin_empty(&ref->pin, what, err);
	}
	/*
	 * A PIN this token rejected in an earlier run is not offered again, even
	 * by a token that does not report its retry counter: only a changed PIN
	 * source (or a person at the terminal) gets another try.
	 */
	if (ref->pin.source != M2M_SECRET_PROMPT &&
	    ks_pin_rejected_before(ref->module, p->serial, p->token, pin.buf, pin.len)) {
		m2m_secret_wipe(&pin);
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "token '%s': this PIN was rejected in an earlier run; not tried again (fix the PIN source)",
				   p->token);
	}
	rv = p->f->C_Login(p->s, CKU_USER, (CK_UTF8CHAR *)pin.buf, (CK_ULONG)pin.len);
	/* refused as locked: not offered again either (a later session, a later run), as a wrong one */
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_LOCKED)
		ks_pin_remember(ref->module, p->serial, p->token, pin.buf, pin.len, true);
	else if (rv == CKR_OK)
		ks_pin_remember(ref->module, p->serial, p->token, pin.buf, pin.len, false);
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
		p->logged_in = true;
		if (keep)
			*keep = pin;
		else
			m2m_secret_wipe(&pin);
		return M2M_OK;
	}
	m2m_secret_wipe(&pin);
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE) {
		enum m2m_pin_state st = ks_p11_pin_state(p);

		p->pin_rejected = true;
		ks_pin_refused();
		if (st == M2M_PIN_LOCKED)
			return m2m_err_set(err, M2M_ERR_PIN_LOCKOUT,
					   "token '%s': wrong PIN, and the token is now locked", p->token);
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "token '%s': wrong PIN (not retried; the token reports PIN retries: %s)",
				   p->token, m2m_pin_state_name(st));
	}
	if (rv == CKR_PIN_LOCKED) {
		/* a try the token refused (its flags had not said so): counted once, as a TPM's lockout is */
		p->pin_rejected = true;
		ks_pin_refused();
		return m2m_err_set(err, M2M_ERR_PIN_LOCKOUT, "token '%s': the user PIN is locked",
				   p->token);
	}
	return m2m_err_set(err, M2M_ERR_CREDENTIAL, "token '%s': login failed: %s (0x%lx)", p->token,
			   ks_p11_rv_name(rv), (unsigned long)rv);
}

/* The first object of a class with our id (or label); CK_INVALID_HANDLE if none. */
CK_OBJECT_HANDLE ks_p11_find(struct p11 *p, const struct m2m_key_ref *ref, CK_OBJECT_CLASS cls)
{
	CK_ATTRIBUTE t[2] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;

	if (p->idlen)
		t[1] = (CK_ATTRIBUTE){ CKA_ID, p->id, p->idlen };
	else
		t[1] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)ref->label, strlen(ref->label) };
	if (p->f->C_FindObjectsInit(p->s, t, 2) != CKR_OK)
		return CK_INVALID_HANDLE;
	if (p->f->C_FindObjects(p->s, &h, 1, &n) != CKR_OK || n != 1)
		h = CK_INVALID_HANDLE;
	p->f->C_FindObjectsFinal(p->s);
	return h;
}

/* An attribute into a malloc()ed buffer. */
int ks_p11_get_attr(struct p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, unsigned char **val,
		    size_t *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };

	*val = NULL;
	if (p->f->C_GetAttributeValue(p->s, h, &a, 1) != CKR_OK || a.ulValueLen == (CK_ULONG)-1)
		return -1;
	a.pValue = malloc(a.ulValueLen + 1);
	if (!a.pValue)
		return -1;
	if (p->f->C_GetAttributeValue(p->s, h, &a, 1) != CKR_OK) {
		free(a.pValue);
		return -1;
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	return 0;
}

/* Every key and certificate object with our id (or label): up to max handles. */
size_t ks_p11_find_all(struct p11 *p, const struct m2m_key_ref *ref, CK_OBJECT_HANDLE *h,
		       size_t max)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE };
	size_t n = 0;

	for (size_t i = 0; i < 3 && n < max; i++) {
		CK_ATTRIBUTE t[2] = { { CKA_CLASS, (void *)&classes[i], sizeof(classes[i]) } };
		CK_ULONG got = 0;

		if (p->idlen)
			t[1] = (CK_ATTRIBUTE){ CKA_ID, p->id, p->idlen };
		else
			t[1] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)ref->label, strlen(ref->label) };
		if (p->f->C_FindObjectsInit(p->s, t, 2) != CKR_OK)
			continue;
		if (p->f->C_FindObjects(p->s, h + n, (CK_ULONG)(max - n), &got) == CKR_OK)
			n += got;
		p->f->C_FindObjectsFinal(p->s);
	}
	return n;
}

/* The objects a new key replaces, once it exists; done says what is done already. */
int ks_p11_destroy_old(struct p11 *p, const struct m2m_key_ref *ref, const CK_OBJECT_HANDLE *old,
		       size_t n, const char *done, struct m2m_err *err)
{
	int rc = M2M_OK;

	for (size_t i = 0; i < n; i++) {
		CK_RV rv = p->f->C_DestroyObject(p->s, old[i]);

		if (rv != CKR_OK && !rc)
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
					 "token '%s': %s, but an old object with id %s could not be deleted: %s",
					 p->token, done, ref->id, ks_p11_rv_name(rv));
	}
	return rc;
}

int ks_p11_destroy_all(struct p11 *p, const struct m2m_key_ref *ref, size_t *count,
		       struct m2m_err *err)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE };
	CK_OBJECT_HANDLE h;

	*count = 0;
	for (size_t i = 0; i < 3; i++) {
		while ((h = ks_p11_find(p, ref, classes[i])) != CK_INVALID_HANDLE) {
			CK_RV rv = p->f->C_DestroyObject(p->s, h);

			if (rv != CKR_OK)
				return m2m_err_set(err, M2M_ERR_CREDENTIAL,
						   "token '%s': cannot delete an object: %s", p->token,
						   ks_p11_rv_name(rv));
			(*count)++;
		}
	}
	return M2M_OK;
}
