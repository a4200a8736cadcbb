/* SPDX-License-Identifier: MIT */
/*
 * The PKCS#11 key store: a token reached through its module, loaded with
 * dlopen() so libm2m needs no PKCS#11 library at build or run time.
 *
 * Tokens lock after a few wrong PINs. So: the PIN is tried once per process
 * and never again after the token rejected it, and before any try the
 * token's CKF_USER_PIN_* flags are read; when they say retries are running
 * out the PIN is not tried at all (M2M_ERR_PIN_LOCKOUT), so that a cron job
 * with a wrong PIN can never lock a card.
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

struct p11 {
	void *lib;
	CK_FUNCTION_LIST *f;
	bool initialized;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	bool session;
	bool logged_in;
	bool pin_rejected;     /* never try again in this process */
	char token[40];        /* label, for messages */
	char serial[17];       /* the token's serial number: who the PIN belongs to */
	unsigned char id[64];
	size_t idlen;
	CK_KEY_TYPE ktype;
};

/* DER of OID prime256v1 (1.2.840.10045.3.1.7), the only curve we make */
static const unsigned char p256_oid[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
/* DigestInfo prefix of SHA-256 for PKCS#1 v1.5 (RFC 8017, 9.2 note 1) */
static const unsigned char sha256_prefix[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86,
					       0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
					       0x00, 0x04, 0x20 };

static const char *rv_name(CK_RV rv)
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

static void label_of(const unsigned char *l, size_t n, char *out, size_t len)
{
	size_t k = n < len - 1 ? n : len - 1;

	memcpy(out, l, k);
	out[k] = '\0';
	while (k && out[k - 1] == ' ')
		out[--k] = '\0';
}

static void p11_close(struct p11 *p)
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

/* Load the module, find the token, open a session. */
static int p11_open(const struct m2m_key_ref *ref, bool rw, struct p11 **out, struct m2m_err *err)
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
			    ref->module, rv_name(rv), (unsigned long)rv);
		goto fail;
	}
	p->initialized = rv == CKR_OK;
	rv = p->f->C_GetSlotList(CK_TRUE, slots, &ns);
	if (rv != CKR_OK) {
		m2m_err_set(err, M2M_ERR_CREDENTIAL, "PKCS#11 module %s: listing slots: %s",
			    ref->module, rv_name(rv));
		goto fail;
	}
	for (CK_ULONG i = 0; i < ns; i++) {
		CK_TOKEN_INFO ti;
		char lbl[40];

		if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK ||
		    !(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		label_of(ti.label, sizeof(ti.label), lbl, sizeof(lbl));
		if (ref->token && strcmp(lbl, ref->token) != 0)
			continue;
		if (found++ == 0) {
			p->slot = slots[i];
			snprintf(p->token, sizeof(p->token), "%s", lbl);
			label_of(ti.serialNumber, sizeof(ti.serialNumber), p->serial, sizeof(p->serial));
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
			    rv_name(rv));
		goto fail;
	}
	p->session = true;
	*out = p;
	return M2M_OK;
fail:
	p11_close(p);
	return err ? err->rc : M2M_ERR_CREDENTIAL;
}

static enum m2m_pin_state token_pin_state(struct p11 *p)
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
static int p11_login(struct p11 *p, const struct m2m_key_ref *ref, struct m2m_secret *keep,
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
	rc = ks_pin_policy(token_pin_state(p), ref->pin.source == M2M_SECRET_PROMPT, p->token, err);
	if (rc)
		return rc;
	snprintf(what, sizeof(what), "PIN for token '%s'", p->token);
	rc = m2m_secret_read(&ref->pin, what, &pin, err);
	if (rc)
		return rc;
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
	if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE)
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
		enum m2m_pin_state st = token_pin_state(p);

		p->pin_rejected = true;
		if (st == M2M_PIN_LOCKED)
			return m2m_err_set(err, M2M_ERR_PIN_LOCKOUT,
					   "token '%s': wrong PIN, and the token is now locked", p->token);
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "token '%s': wrong PIN (not retried; the token reports PIN retries: %s)",
				   p->token, m2m_pin_state_name(st));
	}
	if (rv == CKR_PIN_LOCKED)
		return m2m_err_set(err, M2M_ERR_PIN_LOCKOUT, "token '%s': the user PIN is locked",
				   p->token);
	return m2m_err_set(err, M2M_ERR_CREDENTIAL, "token '%s': login failed: %s (0x%lx)", p->token,
			   rv_name(rv), (unsigned long)rv);
}

/* The first object of a class with our id (or label); CK_INVALID_HANDLE if none. */
static CK_OBJECT_HANDLE find(struct p11 *p, const struct m2m_key_ref *ref, CK_OBJECT_CLASS cls)
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
static int get_attr(struct p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, unsigned char **val,
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

#define P11_MAX_OLD 16

/* Every key and certificate object with our id (or label): up to max handles. */
static size_t find_all(struct p11 *p, const struct m2m_key_ref *ref, CK_OBJECT_HANDLE *h,
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
static int destroy_old(struct p11 *p, const struct m2m_key_ref *ref, const CK_OBJECT_HANDLE *old,
		       size_t n, const char *done, struct m2m_err *err)
{
	int rc = M2M_OK;

	for (size_t i = 0; i < n; i++) {
		CK_RV rv = p->f->C_DestroyObject(p->s, old[i]);

		if (rv != CKR_OK && !rc)
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
					 "token '%s': %s, but an old object with id %s could not be deleted: %s",
					 p->token, done, ref->id, rv_name(rv));
	}
	return rc;
}

static int destroy_all(struct p11 *p, const struct m2m_key_ref *ref, size_t *count,
		       struct m2m_err *err)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE };
	CK_OBJECT_HANDLE h;

	*count = 0;
	for (size_t i = 0; i < 3; i++) {
		while ((h = find(p, ref, classes[i])) != CK_INVALID_HANDLE) {
			CK_RV rv = p->f->C_DestroyObject(p->s, h);

			if (rv != CKR_OK)
				return m2m_err_set(err, M2M_ERR_CREDENTIAL,
						   "token '%s': cannot delete an object: %s", p->token,
						   rv_name(rv));
			(*count)++;
		}
	}
	return M2M_OK;
}

static int p11_generate(const struct m2m_key_ref *ref, enum m2m_key_type type, bool replace,
			struct m2m_err *err)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = type == M2M_KEY_RSA_3072 ? 3072 : 2048;
	unsigned char e[] = { 0x01, 0x00, 0x01 };
	const char *label = ref->label ? ref->label : "m2m device key";
	CK_MECHANISM mech = { type == M2M_KEY_EC_P256 ? CKM_EC_KEY_PAIR_GEN :
							CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE hpub, hpriv, old[P11_MAX_OLD];
	struct p11 *p;
	size_t n_old = 0;
	CK_RV rv;
	int rc;

	rc = p11_open(ref, true, &p, err);
	if (rc)
		return rc;
	rc = p11_login(p, ref, NULL, err);
	if (rc)
		goto out;
	if (find(p, ref, CKO_PRIVATE_KEY) != CK_INVALID_HANDLE ||
	    find(p, ref, CKO_PUBLIC_KEY) != CK_INVALID_HANDLE) {
		if (!replace) {
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
					 "token '%s': a key with id %s is already there; not replaced (delete it first, or replace it: --force)",
					 p->token, ref->id);
			goto out;
		}
		/* the old objects go only once the new key exists */
		n_old = find_all(p, ref, old, P11_MAX_OLD);
	}
	{
		CK_ATTRIBUTE pub_ec[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_VERIFY, &yes, sizeof(yes) },
			{ CKA_ID, p->id, p->idlen },
			{ CKA_LABEL, (void *)label, strlen(label) },
			{ CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid) },
		};
		CK_ATTRIBUTE pub_rsa[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_VERIFY, &yes, sizeof(yes) },
			{ CKA_ID, p->id, p->idlen },
			{ CKA_LABEL, (void *)label, strlen(label) },
			{ CKA_MODULUS_BITS, &bits, sizeof(bits) },
			{ CKA_PUBLIC_EXPONENT, e, sizeof(e) },
		};
		CK_ATTRIBUTE priv[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_SENSITIVE, &yes, sizeof(yes) },
			{ CKA_EXTRACTABLE, &no, sizeof(no) },
			{ CKA_SIGN, &yes, sizeof(yes) },
			{ CKA_ID, p->id, p->idlen },
			{ CKA_LABEL, (void *)label, strlen(label) },
		};

		if (type == M2M_KEY_EC_P256)
			rv = p->f->C_GenerateKeyPair(p->s, &mech, pub_ec, 5, priv, 7, &hpub, &hpriv);
		else
			rv = p->f->C_GenerateKeyPair(p->s, &mech, pub_rsa, 6, priv, 7, &hpub, &hpriv);
	}
	if (rv != CKR_OK) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "token '%s': key generation failed: %s (0x%lx)%s",
				 p->token, rv_name(rv), (unsigned long)rv,
				 n_old ? "; the old key is still there" : "");
		goto out;
	}
	rc = destroy_old(p, ref, old, n_old, "the new key is made", err);
out:
	p11_close(p);
	return rc;
}

/* The public key: from the public key object, else from the certificate. */
static int read_public(struct m2m_key *k, struct p11 *p, struct m2m_err *err)
{
	CK_OBJECT_HANDLE h = find(p, &k->ref, CKO_PUBLIC_KEY);
	unsigned char *a = NULL, *b = NULL;
	size_t al, bl;

	if (h == CK_INVALID_HANDLE) {
		h = find(p, &k->ref, CKO_CERTIFICATE);
		if (h != CK_INVALID_HANDLE && get_attr(p, h, CKA_VALUE, &a, &al) == 0) {
			const unsigned char *q = a;
			X509 *x = d2i_X509(NULL, &q, (long)al);

			k->pub = x ? X509_get_pubkey(x) : NULL;
			X509_free(x);
			free(a);
		}
		if (!k->pub)
			return m2m_err_set(err, M2M_ERR_NOT_FOUND,
					   "token '%s': no key with %s %s", p->token,
					   p->idlen ? "id" : "label", p->idlen ? k->ref.id : k->ref.label);
		p->ktype = EVP_PKEY_is_a(k->pub, "RSA") ? CKK_RSA : CKK_EC;
		return M2M_OK;
	}
	{
		CK_ATTRIBUTE t = { CKA_KEY_TYPE, &p->ktype, sizeof(p->ktype) };

		if (p->f->C_GetAttributeValue(p->s, h, &t, 1) != CKR_OK)
			return m2m_err_set(err, M2M_ERR_CREDENTIAL, "token '%s': cannot read the key type",
					   p->token);
	}
	if (get_attr(p, h, CKA_LABEL, &a, &al) == 0) {
		label_of(a, al, k->info.label, sizeof(k->info.label));
		free(a);
		a = NULL;
	}
	if (p->ktype == CKK_EC) {
		if (get_attr(p, h, CKA_EC_POINT, &a, &al) == 0) {
			/* a DER OCTET STRING around 04||X||Y */
			const unsigned char *q = a;
			ASN1_OCTET_STRING *os = d2i_ASN1_OCTET_STRING(NULL, &q, (long)al);

			if (os)
				k->pub = ks_ec_pub_from_point(os->data, (size_t)os->length);
			else
				k->pub = ks_ec_pub_from_point(a, al);
			ASN1_OCTET_STRING_free(os);
		}
	} else if (p->ktype == CKK_RSA) {
		if (get_attr(p, h, CKA_MODULUS, &a, &al) == 0 &&
		    get_attr(p, h, CKA_PUBLIC_EXPONENT, &b, &bl) == 0)
			k->pub = ks_rsa_pub_from(a, al, b, bl);
	}
	free(a);
	free(b);
	if (!k->pub)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "token '%s': cannot read the public key (not ECDSA P-256 or RSA?)",
				   p->token);
	return M2M_OK;
}

static int p11_key_open(struct m2m_key *k, struct m2m_err *err)
{
	struct p11 *p;
	int rc = p11_open(&k->ref, false, &p, err);

	if (rc)
		return rc;
	k->be = p;
	rc = read_public(k, p, err);
	if (rc)
		return rc;
	if (p->idlen)
		m2m_hex(p->id, p->idlen, k->info.id, sizeof(k->info.id));
	k->info.pin_state = token_pin_state(p);
	k->info.pin_needed = true;
	k->info.slot = (unsigned long)p->slot;
	snprintf(k->info.location, sizeof(k->info.location), "pkcs11:token=%s;%s=%s (module %s)",
		 p->token, p->idlen ? "id" : "object", p->idlen ? k->info.id : k->ref.label,
		 k->ref.module);
	return M2M_OK;
}

static int p11_sign(struct m2m_key *k, const unsigned char *dg, size_t dlen, unsigned char **sig,
		    size_t *siglen, struct m2m_err *err)
{
	struct p11 *p = k->be;
	unsigned char buf[512], in[sizeof(sha256_prefix) + 32];
	CK_ULONG n = sizeof(buf);
	CK_MECHANISM mech = { p->ktype == CKK_RSA ? CKM_RSA_PKCS : CKM_ECDSA, NULL, 0 };
	CK_OBJECT_HANDLE h;
	CK_RV rv;
	int rc = p11_login(p, &k->ref, NULL, err);

	if (rc)
		return rc;
	h = find(p, &k->ref, CKO_PRIVATE_KEY);
	if (h == CK_INVALID_HANDLE)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "token '%s': no private key with %s %s",
				   p->token, p->idlen ? "id" : "label",
				   p->idlen ? k->ref.id : k->ref.label);
	if (p->ktype == CKK_RSA) {
		memcpy(in, sha256_prefix, sizeof(sha256_prefix));
		memcpy(in + sizeof(sha256_prefix), dg, dlen);
	} else {
		memcpy(in, dg, dlen);
	}
	rv = p->f->C_SignInit(p->s, &mech, h);
	if (rv == CKR_OK)
		rv = p->f->C_Sign(p->s, in, p->ktype == CKK_RSA ? sizeof(sha256_prefix) + dlen : dlen,
				  buf, &n);
	if (rv != CKR_OK)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "token '%s': signing failed: %s (0x%lx)",
				   p->token, rv_name(rv), (unsigned long)rv);
	if (p->ktype == CKK_EC) {
		/* CKM_ECDSA gives r||s */
		if (ks_ecdsa_raw_to_der(buf, n / 2, buf + n / 2, n / 2, sig, siglen))
			return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		return M2M_OK;
	}
	*sig = malloc(n);
	if (!*sig)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	memcpy(*sig, buf, n);
	*siglen = n;
	return M2M_OK;
}

static int p11_remove(const struct m2m_key_ref *ref, struct m2m_err *err)
{
	struct p11 *p;
	size_t gone = 0;
	int rc = p11_open(ref, true, &p, err);

	if (rc)
		return rc;
	rc = p11_login(p, ref, NULL, err);
	if (!rc)
		rc = destroy_all(p, ref, &gone, err);
	if (!rc && gone == 0)
		rc = m2m_err_set(err, M2M_ERR_NOT_FOUND, "token '%s': no object with %s %s", p->token,
				 ref->id ? "id" : "label", ref->id ? ref->id : ref->label);
	p11_close(p);
	return rc;
}

static void p11_key_close(struct m2m_key *k)
{
	p11_close(k->be);
	k->be = NULL;
}

/* ---- import ------------------------------------------------------------------ */

static void add(struct ks_p11_obj *o, CK_ATTRIBUTE_TYPE type, void *val, size_t len)
{
	if (o->n < KS_P11_MAX_ATTRS)
		o->a[o->n++] = (CK_ATTRIBUTE){ type, val, (CK_ULONG)len };
}

/* Keep a buffer we own (NULL if the table is full: the caller's error). */
static unsigned char *own(struct ks_p11_import *t, unsigned char *b, size_t len)
{
	if (!b || t->nbuf == KS_P11_MAX_BUFS) {
		if (b)
			OPENSSL_clear_free(b, len);
		return NULL;
	}
	t->buf[t->nbuf] = b;
	t->buflen[t->nbuf++] = len;
	return b;
}

/* A big-number parameter of pk as big-endian bytes (pad: at least that long). */
static int add_bn(struct ks_p11_import *t, struct ks_p11_obj *o, CK_ATTRIBUTE_TYPE type,
		  EVP_PKEY *pk, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char *b;
	int n;

	if (!EVP_PKEY_get_bn_param(pk, param, &bn))
		return -1;
	n = BN_num_bytes(bn);
	if (n < pad)
		n = pad;
	b = own(t, OPENSSL_malloc((size_t)n), (size_t)n);
	if (!b || BN_bn2binpad(bn, b, n) != n) {
		BN_clear_free(bn);
		return -1;
	}
	BN_clear_free(bn);
	add(o, type, b, (size_t)n);
	return 0;
}

/* An i2d_*() result as an attribute */
static int add_der(struct ks_p11_import *t, struct ks_p11_obj *o, CK_ATTRIBUTE_TYPE type,
		   unsigned char *der, int n)
{
	if (n <= 0 || !own(t, der, (size_t)n)) {
		OPENSSL_free(der);
		return -1;
	}
	add(o, type, der, (size_t)n);
	return 0;
}

static int build_cert(struct ks_p11_import *t, X509 *cert, const unsigned char *id,
		      size_t idlen, const char *label)
{
	struct ks_p11_obj *o = &t->cert;
	unsigned char *der = NULL;
	int n;

	add(o, CKA_CLASS, &t->cls_cert, sizeof(t->cls_cert));
	add(o, CKA_CERTIFICATE_TYPE, &t->ctype, sizeof(t->ctype));
	add(o, CKA_TOKEN, &t->yes, sizeof(t->yes));
	add(o, CKA_PRIVATE, &t->no, sizeof(t->no));
	add(o, CKA_ID, (void *)id, idlen);
	add(o, CKA_LABEL, (void *)label, strlen(label));
	n = i2d_X509(cert, &der);
	if (add_der(t, o, CKA_VALUE, der, n))
		return -1;
	der = NULL;
	n = i2d_X509_NAME(X509_get_subject_name(cert), &der);
	if (add_der(t, o, CKA_SUBJECT, der, n))
		return -1;
	der = NULL;
	n = i2d_X509_NAME(X509_get_issuer_name(cert), &der);
	if (add_der(t, o, CKA_ISSUER, der, n))
		return -1;
	der = NULL;
	n = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &der);
	return add_der(t, o, CKA_SERIAL_NUMBER, der, n);
}

int ks_p11_import_build(struct ks_p11_import *t, EVP_PKEY *pk, X509 *cert,
			const unsigned char *id, size_t idlen, const char *label,
			struct m2m_err *err)
{
	enum m2m_key_type type = ks_pkey_type(pk);
	struct ks_p11_obj *pv = &t->priv, *pb = &t->pub;
	int bad = 0;

	memset(t, 0, sizeof(*t));
	t->cls_priv = CKO_PRIVATE_KEY;
	t->cls_pub = CKO_PUBLIC_KEY;
	t->cls_cert = CKO_CERTIFICATE;
	t->ctype = CKC_X_509;
	t->yes = CK_TRUE;
	t->no = CK_FALSE;
	if (!label)
		label = "m2m device key";
	if (type == M2M_KEY_UNKNOWN)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "import: unsupported key (expected ECDSA P-256 or RSA 2048/3072)");
	t->ktype = type == M2M_KEY_EC_P256 ? CKK_EC : CKK_RSA;

	add(pv, CKA_CLASS, &t->cls_priv, sizeof(t->cls_priv));
	add(pv, CKA_KEY_TYPE, &t->ktype, sizeof(t->ktype));
	add(pv, CKA_TOKEN, &t->yes, sizeof(t->yes));
	add(pv, CKA_PRIVATE, &t->yes, sizeof(t->yes));
	add(pv, CKA_SENSITIVE, &t->yes, sizeof(t->yes));
	add(pv, CKA_EXTRACTABLE, &t->no, sizeof(t->no));
	add(pv, CKA_SIGN, &t->yes, sizeof(t->yes));
	add(pv, CKA_DECRYPT, &t->no, sizeof(t->no));
	add(pv, CKA_UNWRAP, &t->no, sizeof(t->no));
	add(pv, CKA_DERIVE, &t->no, sizeof(t->no));
	add(pv, CKA_ID, (void *)id, idlen);
	add(pv, CKA_LABEL, (void *)label, strlen(label));

	add(pb, CKA_CLASS, &t->cls_pub, sizeof(t->cls_pub));
	add(pb, CKA_KEY_TYPE, &t->ktype, sizeof(t->ktype));
	add(pb, CKA_TOKEN, &t->yes, sizeof(t->yes));
	add(pb, CKA_PRIVATE, &t->no, sizeof(t->no));
	add(pb, CKA_VERIFY, &t->yes, sizeof(t->yes));
	add(pb, CKA_ENCRYPT, &t->no, sizeof(t->no));
	add(pb, CKA_WRAP, &t->no, sizeof(t->no));
	add(pb, CKA_ID, (void *)id, idlen);
	add(pb, CKA_LABEL, (void *)label, strlen(label));

	if (t->ktype == CKK_EC) {
		unsigned char pt[65], *ecp;
		size_t ptlen = 0;

		add(pv, CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid));
		bad |= add_bn(t, pv, CKA_VALUE, pk, OSSL_PKEY_PARAM_PRIV_KEY, 32);
		add(pb, CKA_EC_PARAMS, (void *)p256_oid, sizeof(p256_oid));
		/* CKA_EC_POINT: DER OCTET STRING around the uncompressed point */
		if (!EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
						     sizeof(pt), &ptlen) ||
		    ptlen != sizeof(pt) || pt[0] != 0x04) {
			bad = 1;
		} else {
			ecp = own(t, OPENSSL_malloc(2 + ptlen), 2 + ptlen);
			if (!ecp) {
				bad = 1;
			} else {
				ecp[0] = 0x04;
				ecp[1] = (unsigned char)ptlen;
				memcpy(ecp + 2, pt, ptlen);
				add(pb, CKA_EC_POINT, ecp, 2 + ptlen);
			}
		}
	} else {
		static const struct {
			CK_ATTRIBUTE_TYPE type;
			const char *param;
		} rsa[] = {
			{ CKA_MODULUS, OSSL_PKEY_PARAM_RSA_N },
			{ CKA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E },
			{ CKA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D },
			{ CKA_PRIME_1, OSSL_PKEY_PARAM_RSA_FACTOR1 },
			{ CKA_PRIME_2, OSSL_PKEY_PARAM_RSA_FACTOR2 },
			{ CKA_EXPONENT_1, OSSL_PKEY_PARAM_RSA_EXPONENT1 },
			{ CKA_EXPONENT_2, OSSL_PKEY_PARAM_RSA_EXPONENT2 },
			{ CKA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1 },
		};

		for (size_t i = 0; i < sizeof(rsa) / sizeof(rsa[0]); i++)
			bad |= add_bn(t, pv, rsa[i].type, pk, rsa[i].param, 0);
		bad |= add_bn(t, pb, CKA_MODULUS, pk, OSSL_PKEY_PARAM_RSA_N, 0);
		bad |= add_bn(t, pb, CKA_PUBLIC_EXPONENT, pk, OSSL_PKEY_PARAM_RSA_E, 0);
	}
	if (bad) {
		ks_p11_import_free(t);
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "import: cannot read the key's values (an RSA key without CRT values?)");
	}
	if (cert && build_cert(t, cert, id, idlen, label)) {
		ks_p11_import_free(t);
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "import: cannot encode the certificate");
	}
	return M2M_OK;
}

void ks_p11_import_free(struct ks_p11_import *t)
{
	for (size_t i = 0; i < t->nbuf; i++)
		OPENSSL_clear_free(t->buf[i], t->buflen[i]);
	OPENSSL_cleanse(t, sizeof(*t));
}

const CK_ATTRIBUTE *ks_p11_attr(const struct ks_p11_obj *o, CK_ATTRIBUTE_TYPE type)
{
	for (CK_ULONG i = 0; i < o->n; i++)
		if (o->a[i].type == type)
			return &o->a[i];
	return NULL;
}

/*
 * The new objects are created first and the old ones (--force) destroyed
 * only after all three are there: an import that fails half way leaves the
 * token as it was.
 */
static int p11_import(const struct m2m_key_ref *ref, EVP_PKEY *pk, X509 *cert, bool replace,
		      struct m2m_err *err)
{
	struct ks_p11_import *t = OPENSSL_zalloc(sizeof(*t));
	CK_OBJECT_HANDLE h[3], old[P11_MAX_OLD];
	struct ks_p11_obj *objs[3];
	const char *what[3] = { "private key", "public key", "certificate" };
	size_t made = 0, n_old;
	struct p11 *p = NULL;
	CK_RV rv;
	int rc;

	if (!t)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	rc = p11_open(ref, true, &p, err);
	if (rc)
		goto out;
	rc = ks_p11_import_build(t, pk, cert, p->id, p->idlen, ref->label, err);
	if (rc)
		goto out;
	rc = p11_login(p, ref, NULL, err);
	if (rc)
		goto out;
	n_old = find_all(p, ref, old, P11_MAX_OLD);
	if (n_old && !replace) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
				 "token '%s': objects with id %s are already there; not replaced (delete them first)",
				 p->token, ref->id);
		goto out;
	}
	objs[0] = &t->priv;
	objs[1] = &t->pub;
	objs[2] = &t->cert;
	for (; made < 3 && objs[made]->n; made++) {
		rv = p->f->C_CreateObject(p->s, objs[made]->a, objs[made]->n, &h[made]);
		if (rv != CKR_OK) {
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
					 "token '%s': cannot store the %s: %s (0x%lx)", p->token,
					 what[made], rv_name(rv), (unsigned long)rv);
			/* all or nothing */
			while (made--)
				p->f->C_DestroyObject(p->s, h[made]);
			goto out;
		}
	}
	rc = destroy_old(p, ref, old, n_old, "the key is imported", err);
out:
	ks_p11_import_free(t);
	OPENSSL_free(t);
	p11_close(p);
	return rc;
}

/* The PIN tried here, once (so a wrong PIN never reaches charon), and handed back. */
static int p11_unlock(struct m2m_key *k, struct m2m_secret *pin, struct m2m_err *err)
{
	return p11_login(k->be, &k->ref, pin, err);
}

static int p11_check(struct m2m_key *k, struct m2m_err *err)
{
	struct p11 *p = k->be;
	struct m2m_secret pin = { 0 };
	char what[96];
	int rc;

	rc = ks_pin_policy(token_pin_state(p), k->ref.pin.source == M2M_SECRET_PROMPT, p->token,
			   err);
	if (rc || k->ref.pin.source == M2M_SECRET_PROMPT)
		return rc;
	snprintf(what, sizeof(what), "PIN for token '%s'", p->token);
	rc = m2m_secret_read(&k->ref.pin, what, &pin, err);
	if (rc)
		return rc;
	if (ks_pin_rejected_before(k->ref.module, p->serial, p->token, pin.buf, pin.len))
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
				 "token '%s': this PIN was rejected in an earlier run; not tried again (fix the PIN source)",
				 p->token);
	m2m_secret_wipe(&pin);
	return rc;
}

/* The certificate object next to the key (same CKA_ID) */
static int p11_cert(const struct m2m_key *k, unsigned char **der, size_t *len,
		    struct m2m_err *err)
{
	struct p11 *p = k->be;
	CK_OBJECT_HANDLE h;

	h = find(p, &k->ref, CKO_CERTIFICATE);
	if (h == CK_INVALID_HANDLE || get_attr(p, h, CKA_VALUE, der, len))
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "token '%s': no certificate with %s %s",
				   p->token, p->idlen ? "id" : "label",
				   p->idlen ? k->ref.id : k->ref.label);
	return M2M_OK;
}

const struct ks_ops ks_pkcs11_ops = {
	.import = p11_import,
	.generate = p11_generate,
	.open = p11_key_open,
	.sign = p11_sign,
	.remove = p11_remove,
	.close = p11_key_close,
	.cert = p11_cert,
	.unlock = p11_unlock,
	.check = p11_check,
};
