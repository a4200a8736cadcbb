/* SPDX-License-Identifier: MIT */
/*
 * The TPM 2.0 key store, through tpm2-tss ESAPI. A key is a child of an ECC
 * storage primary in the owner hierarchy, made persistent at a handle in
 * 0x81000000-0x81ffffff. Keys are created with a fixed signing scheme
 * (ecdsa-sha256 or rsassa-sha256): charon's tpm plugin takes the scheme
 * from the key and cannot sign with a key that has none.
 *
 * The TCTI is always explicit (the reference's, else device:/dev/tpmrm0),
 * and every failure to reach the TPM names it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "keystore/ks_int.h"

/*
 * tpm2-tss (six libraries) is loaded when a TPM is first used, not when a
 * tool starts: most runs of m2mvpn-connect never touch a TPM, and loading it
 * costs start-up time and memory on small devices.
 */
static struct {
	bool tried, ok;
	__typeof__(Esys_Create) *Esys_Create;
	__typeof__(Esys_CreatePrimary) *Esys_CreatePrimary;
	__typeof__(Esys_EvictControl) *Esys_EvictControl;
	__typeof__(Esys_Finalize) *Esys_Finalize;
	__typeof__(Esys_FlushContext) *Esys_FlushContext;
	__typeof__(Esys_Free) *Esys_Free;
	__typeof__(Esys_GetCapability) *Esys_GetCapability;
	__typeof__(Esys_Import) *Esys_Import;
	__typeof__(Esys_Initialize) *Esys_Initialize;
	__typeof__(Esys_Load) *Esys_Load;
	__typeof__(Esys_ReadPublic) *Esys_ReadPublic;
	__typeof__(Esys_Sign) *Esys_Sign;
	__typeof__(Esys_TR_FromTPMPublic) *Esys_TR_FromTPMPublic;
	__typeof__(Esys_TR_SetAuth) *Esys_TR_SetAuth;
	__typeof__(Esys_Unseal) *Esys_Unseal;
	__typeof__(Tss2_RC_Decode) *Tss2_RC_Decode;
	__typeof__(Tss2_TctiLdr_Finalize) *Tss2_TctiLdr_Finalize;
	__typeof__(Tss2_TctiLdr_Initialize) *Tss2_TctiLdr_Initialize;
	__typeof__(Tss2_MU_TPMT_SENSITIVE_Marshal) *Tss2_MU_TPMT_SENSITIVE_Marshal;
} tss;

static bool tss_load(void)
{
	static const char *const names[] = { "libtss2-esys.so.0", "libtss2-tctildr.so.0",
					     "libtss2-rc.so.0", "libtss2-mu.so.0" };
	void *h[4];

	if (tss.tried)
		return tss.ok;
	tss.tried = true;
	for (int i = 0; i < 4; i++) {
		h[i] = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (!h[i])
			return false;
	}
	*(void **)&tss.Esys_Create = dlsym(h[0], "Esys_Create");
	*(void **)&tss.Esys_CreatePrimary = dlsym(h[0], "Esys_CreatePrimary");
	*(void **)&tss.Esys_EvictControl = dlsym(h[0], "Esys_EvictControl");
	*(void **)&tss.Esys_Finalize = dlsym(h[0], "Esys_Finalize");
	*(void **)&tss.Esys_FlushContext = dlsym(h[0], "Esys_FlushContext");
	*(void **)&tss.Esys_Free = dlsym(h[0], "Esys_Free");
	*(void **)&tss.Esys_GetCapability = dlsym(h[0], "Esys_GetCapability");
	*(void **)&tss.Esys_Import = dlsym(h[0], "Esys_Import");
	*(void **)&tss.Esys_Initialize = dlsym(h[0], "Esys_Initialize");
	*(void **)&tss.Esys_Load = dlsym(h[0], "Esys_Load");
	*(void **)&tss.Esys_ReadPublic = dlsym(h[0], "Esys_ReadPublic");
	*(void **)&tss.Esys_Sign = dlsym(h[0], "Esys_Sign");
	*(void **)&tss.Esys_TR_FromTPMPublic = dlsym(h[0], "Esys_TR_FromTPMPublic");
	*(void **)&tss.Esys_TR_SetAuth = dlsym(h[0], "Esys_TR_SetAuth");
	*(void **)&tss.Esys_Unseal = dlsym(h[0], "Esys_Unseal");
	*(void **)&tss.Tss2_RC_Decode = dlsym(h[2], "Tss2_RC_Decode");
	*(void **)&tss.Tss2_TctiLdr_Finalize = dlsym(h[1], "Tss2_TctiLdr_Finalize");
	*(void **)&tss.Tss2_TctiLdr_Initialize = dlsym(h[1], "Tss2_TctiLdr_Initialize");
	*(void **)&tss.Tss2_MU_TPMT_SENSITIVE_Marshal = dlsym(h[3], "Tss2_MU_TPMT_SENSITIVE_Marshal");
	tss.ok = tss.Esys_Create &&
		 tss.Esys_CreatePrimary &&
		 tss.Esys_EvictControl &&
		 tss.Esys_Finalize &&
		 tss.Esys_FlushContext &&
		 tss.Esys_Free &&
		 tss.Esys_GetCapability &&
		 tss.Esys_Import &&
		 tss.Esys_Initialize &&
		 tss.Esys_Load &&
		 tss.Esys_ReadPublic &&
		 tss.Esys_Sign &&
		 tss.Esys_TR_FromTPMPublic &&
		 tss.Esys_TR_SetAuth &&
		 tss.Esys_Unseal &&
		 tss.Tss2_RC_Decode &&
		 tss.Tss2_TctiLdr_Finalize &&
		 tss.Tss2_TctiLdr_Initialize &&
		 tss.Tss2_MU_TPMT_SENSITIVE_Marshal;
	return tss.ok;
}

#define Esys_Create (tss.Esys_Create)
#define Esys_CreatePrimary (tss.Esys_CreatePrimary)
#define Esys_EvictControl (tss.Esys_EvictControl)
#define Esys_Finalize (tss.Esys_Finalize)
#define Esys_FlushContext (tss.Esys_FlushContext)
#define Esys_Free (tss.Esys_Free)
#define Esys_GetCapability (tss.Esys_GetCapability)
#define Esys_Import (tss.Esys_Import)
#define Esys_Initialize (tss.Esys_Initialize)
#define Esys_Load (tss.Esys_Load)
#define Esys_ReadPublic (tss.Esys_ReadPublic)
#define Esys_Sign (tss.Esys_Sign)
#define Esys_TR_FromTPMPublic (tss.Esys_TR_FromTPMPublic)
#define Esys_TR_SetAuth (tss.Esys_TR_SetAuth)
#define Esys_Unseal (tss.Esys_Unseal)
#define Tss2_RC_Decode (tss.Tss2_RC_Decode)
#define Tss2_TctiLdr_Finalize (tss.Tss2_TctiLdr_Finalize)
#define Tss2_TctiLdr_Initialize (tss.Tss2_TctiLdr_Initialize)
#define Tss2_MU_TPMT_SENSITIVE_Marshal (tss.Tss2_MU_TPMT_SENSITIVE_Marshal)


struct tpm {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR key;
	TPMI_ALG_PUBLIC type;
	TPMT_SIG_SCHEME scheme;
	bool noda;              /* the key is exempt from dictionary-attack lockout */
	bool auth_failed;       /* the TPM refused the auth value */
	const struct m2m_secret *auth; /* set: use it, do not read the source again */
	/*
	 * The auth value passed the policy (ks_tpm_unlock) in this process: every
	 * signature goes through it first, whichever tool or subcommand asks.
	 */
	bool unlocked, unlocking;
	struct m2m_secret own;  /* the value the policy read, when no caller gave one */
	char tcti_conf[256];
};

static const char *tcti_of(const struct m2m_key_ref *ref)
{
	return ref->tcti ? ref->tcti : M2M_TPM_DEFAULT_TCTI;
}

static uint32_t handle_of(const struct m2m_key_ref *ref)
{
	return ref->handle ? ref->handle : M2M_TPM_DEFAULT_HANDLE;
}

/* The TPM's response code without the handle/session/parameter number. */
static TSS2_RC base_rc(TSS2_RC rc)
{
	rc &= 0xffff;
	if (rc & TPM2_RC_FMT1)
		rc &= ~0xf00u;
	return rc;
}

static int tss_err(struct m2m_err *err, TSS2_RC rc, const char *what, uint32_t handle)
{
	TSS2_RC b = base_rc(rc);

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
static int from_handle(struct tpm *t, uint32_t handle, ESYS_TR *obj, struct m2m_err *err)
{
	TSS2_RC r = Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE,
					  ESYS_TR_NONE, obj);

	if (r == TSS2_RC_SUCCESS)
		return M2M_OK;
	if ((r & 0xff0000) == 0 && base_rc(r) == TPM2_RC_HANDLE)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "TPM: no key at handle 0x%08x (TCTI %s)",
				   (unsigned)handle, t->tcti_conf);
	return tss_err(err, r, "reading the key", handle);
}

static void tpm_close(struct tpm *t)
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
 * pointed at /dev/null while the TCTI is loaded.
 */
static TSS2_RC quiet_tcti_init(const char *conf, TSS2_TCTI_CONTEXT **tcti)
{
	int saved, null;
	TSS2_RC rc;

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

	if (probed)
		return M2M_OK;
	snprintf(what, sizeof(what), "TPM: no answer through TCTI '%s'", conf);
	rc = ks_probe(what, probe_tcti, (void *)conf, err);
	probed = rc == M2M_OK;
	return rc;
}

static int tpm_connect(const struct m2m_key_ref *ref, struct tpm **out, struct m2m_err *err)
{
	struct tpm *t = calloc(1, sizeof(*t));
	TPMS_CAPABILITY_DATA *cap = NULL;
	TSS2_RC rc;

	*out = NULL;
	if (!t)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	if (!tss_load()) {
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
	/* tpm2-tss logs errors to stderr by default; the library reports through err instead */
	setenv("TSS2_LOG", "all+none", 0);
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
		tpm_close(t);
		return M2M_ERR_DEVICE;
	}
	*out = t;
	return M2M_OK;
}

static int set_auth(struct tpm *t, ESYS_TR obj, const struct m2m_key_ref *ref, const char *what,
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

static const TPM2B_PUBLIC srk_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED |
				    TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |
				    TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
				    TPMA_OBJECT_NODA,
		.parameters.eccDetail = {
			.symmetric = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
				       .mode.aes = TPM2_ALG_CFB },
			.scheme.scheme = TPM2_ALG_NULL,
			.curveID = TPM2_ECC_NIST_P256,
			.kdf.scheme = TPM2_ALG_NULL,
		},
	},
};

static void key_template(enum m2m_key_type type, bool noda, TPM2B_PUBLIC *tp)
{
	memset(tp, 0, sizeof(*tp));
	tp->publicArea.nameAlg = TPM2_ALG_SHA256;
	tp->publicArea.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_SIGN_ENCRYPT |
					  TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					  TPMA_OBJECT_SENSITIVEDATAORIGIN |
					  (noda ? TPMA_OBJECT_NODA : 0);
	if (type == M2M_KEY_EC_P256) {
		tp->publicArea.type = TPM2_ALG_ECC;
		tp->publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		tp->publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
		tp->publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
		tp->publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
		tp->publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	} else {
		tp->publicArea.type = TPM2_ALG_RSA;
		tp->publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		tp->publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
		tp->publicArea.parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
		tp->publicArea.parameters.rsaDetail.keyBits = type == M2M_KEY_RSA_3072 ? 3072 : 2048;
		tp->publicArea.parameters.rsaDetail.exponent = 0;
	}
}

/* Free a persistent handle for a new key: refuse, or remove the old one. */
static int take_handle(struct tpm *t, uint32_t handle, bool replace, struct m2m_err *err)
{
	ESYS_TR old;
	TSS2_RC r;

	if (Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				  &old) != TSS2_RC_SUCCESS)
		return M2M_OK;
	if (!replace)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "TPM: a key is already at handle 0x%08x; not replaced (delete it first, or replace it: --force)",
				   handle);
	r = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, old, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			      ESYS_TR_NONE, handle, &old);
	return r == TSS2_RC_SUCCESS ? M2M_OK : tss_err(err, r, "removing the old key", handle);
}

/*
 * What a refused auth value (ks_pin_remember) or a fact of the key at handle
 * is remembered under: the handle and the key's own public key, so another
 * key made at the handle (by us or by any tool) starts clean.
 */
static void auth_marker(const struct m2m_key *k, uint32_t handle, char serial[48], char name[32])
{
	/*
	 * the public key's fingerprint, as m2m_key_open() took it: "SHA256:<hex>";
	 * its first 16 bytes, as in the markers of earlier versions (kept valid)
	 */
	const char *fp = strchr(k->info.fingerprint, ':');

	snprintf(serial, 48, "%08x:%.32s", handle, fp ? fp + 1 : "");
	snprintf(name, 32, "TPM key 0x%08x", handle);
}

/*
 * Make the loaded key persistent at handle; with replace, the key there goes
 * first (only now that the new one exists). What was remembered of the old
 * key names that key (auth_marker): the new one starts clean.
 */
static int persist(struct tpm *t, ESYS_TR key, uint32_t handle, bool replace,
		   struct m2m_err *err)
{
	ESYS_TR pers;
	TSS2_RC r;
	int rc;

	rc = replace ? take_handle(t, handle, true, err) : M2M_OK;
	if (rc)
		return rc;
	r = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, key, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			      ESYS_TR_NONE, handle, &pers);
	if (r != TSS2_RC_SUCCESS) {
		rc = tss_err(err, r, "making the key persistent", handle);
		if (replace)
			m2m_err_prefix(err, "the old key at 0x%08x is gone already", handle);
		return rc;
	}
	return M2M_OK;
}

static int tpm_generate(const struct m2m_key_ref *ref, enum m2m_key_type type, bool replace,
			struct m2m_err *err)
{
	uint32_t handle = handle_of(ref);
	TPM2B_SENSITIVE_CREATE sens = { 0 }, key_sens = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcr = { 0 };
	TPM2B_PUBLIC tmpl, *pub = NULL;
	TPM2B_PRIVATE *priv = NULL;
	ESYS_TR prim = ESYS_TR_NONE, key = ESYS_TR_NONE;
	struct m2m_secret s = { 0 };
	struct tpm *t;
	TSS2_RC r;
	int rc;

	rc = tpm_connect(ref, &t, err);
	if (rc)
		return rc;
	/* a handle in use: refused at once, or emptied only once the new key exists */
	rc = replace ? M2M_OK : take_handle(t, handle, false, err);
	if (rc)
		goto out;
	if (ref->pin.source != M2M_SECRET_NONE) {
		rc = m2m_secret_read(&ref->pin, "auth value for the new TPM key", &s, err);
		if (rc)
			goto out;
		if (s.len > sizeof(key_sens.sensitive.userAuth.buffer)) {
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "TPM: auth value too long");
			goto out;
		}
		key_sens.sensitive.userAuth.size = (UINT16)s.len;
		memcpy(key_sens.sensitive.userAuth.buffer, s.buf, s.len);
	}
	r = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, &sens, &srk_template, &outside, &pcr, &prim, NULL, NULL,
			       NULL, NULL);
	if (r != TSS2_RC_SUCCESS) {
		rc = tss_err(err, r, "creating the storage primary", handle);
		goto out;
	}
	/* a key without auth value cannot be guessed at: exempt it from dictionary-attack lockout */
	key_template(type, s.len == 0, &tmpl);
	r = Esys_Create(t->esys, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &key_sens,
			&tmpl, &outside, &pcr, &priv, &pub, NULL, NULL, NULL);
	if (r == TSS2_RC_SUCCESS)
		r = Esys_Load(t->esys, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub,
			      &key);
	if (r != TSS2_RC_SUCCESS) {
		rc = tss_err(err, r, "creating the key", handle);
		goto out;
	}
	rc = persist(t, key, handle, replace, err);
out:
	m2m_secret_wipe(&s);
	OPENSSL_cleanse(&key_sens, sizeof(key_sens));
	if (key != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, key);
	if (prim != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, prim);
	Esys_Free(priv);
	Esys_Free(pub);
	tpm_close(t);
	return rc;
}

/*
 * The public and sensitive areas of a soft key for TPM2_Import. The key
 * came from outside, so the TPM must not claim it was made inside
 * (fixedTPM, fixedParent, sensitiveDataOrigin are clear); the signing
 * scheme is fixed as for keys made in the TPM.
 */
static int import_areas(EVP_PKEY *pk, const struct m2m_secret *auth, TPM2B_PUBLIC *pub,
			TPMT_SENSITIVE *sens, struct m2m_err *err)
{
	enum m2m_key_type type = ks_pkey_type(pk);
	TPMT_PUBLIC *pa = &pub->publicArea;
	BIGNUM *a = NULL, *b = NULL;
	int ok = 0;

	memset(sens, 0, sizeof(*sens));
	if (type == M2M_KEY_UNKNOWN)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "import: unsupported key (expected ECDSA P-256 or RSA 2048/3072)");
	key_template(type, auth->len == 0, pub);
	pa->objectAttributes &= ~(TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
				  TPMA_OBJECT_SENSITIVEDATAORIGIN);
	sens->sensitiveType = pa->type;
	sens->authValue.size = (UINT16)auth->len;
	if (auth->len)
		memcpy(sens->authValue.buffer, auth->buf, auth->len);
	/* the obfuscation value of an asymmetric key: as long as the name digest */
	sens->seedValue.size = 32;
	if (RAND_priv_bytes(sens->seedValue.buffer, 32) != 1)
		return m2m_err_set(err, M2M_ERR_FAILURE, "import: no random bytes");
	if (type == M2M_KEY_EC_P256) {
		unsigned char pt[65];
		size_t n = 0;

		if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt,
						    sizeof(pt), &n) &&
		    n == sizeof(pt) && pt[0] == 0x04 &&
		    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &a) &&
		    BN_bn2binpad(a, sens->sensitive.ecc.buffer, 32) == 32) {
			pa->unique.ecc.x.size = 32;
			memcpy(pa->unique.ecc.x.buffer, pt + 1, 32);
			pa->unique.ecc.y.size = 32;
			memcpy(pa->unique.ecc.y.buffer, pt + 33, 32);
			sens->sensitive.ecc.size = 32;
			ok = 1;
		}
	} else if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &a) &&
		   EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_FACTOR1, &b) &&
		   BN_num_bytes(a) <= (int)sizeof(pa->unique.rsa.buffer) &&
		   BN_num_bytes(b) <= (int)sizeof(sens->sensitive.rsa.buffer)) {
		/* the TPM derives the rest of the private key from one prime */
		pa->parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)BN_num_bits(a);
		pa->unique.rsa.size = (UINT16)BN_bn2bin(a, pa->unique.rsa.buffer);
		sens->sensitive.rsa.size = (UINT16)BN_bn2bin(b, sens->sensitive.rsa.buffer);
		BN_free(a);
		a = NULL;
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &a)) {
			BN_ULONG e = BN_get_word(a);

			/* 0 stands for 65537 */
			pa->parameters.rsaDetail.exponent = e == 65537 ? 0 : (UINT32)e;
			ok = e <= 0xffffffffu;
		}
	}
	BN_clear_free(a);
	BN_clear_free(b);
	if (!ok) {
		OPENSSL_cleanse(sens, sizeof(*sens));
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "import: cannot read the key's values");
	}
	return M2M_OK;
}

/*
 * TPM2_Import of an unwrapped duplicate (no outer or inner wrapper: the
 * key is in our memory anyway), then load it and make it persistent.
 */
static int tpm_import(const struct m2m_key_ref *ref, EVP_PKEY *pk, X509 *cert, bool replace,
		      struct m2m_err *err)
{
	uint32_t handle = handle_of(ref);
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_DATA outside = { 0 }, enc_key = { 0 };
	TPML_PCR_SELECTION pcr = { 0 };
	TPM2B_ENCRYPTED_SECRET seed = { 0 };
	TPMT_SYM_DEF_OBJECT sym = { .algorithm = TPM2_ALG_NULL };
	TPM2B_PUBLIC pub;
	TPMT_SENSITIVE *key_sens = NULL;
	TPM2B_PRIVATE *dup = NULL, *priv = NULL;
	ESYS_TR prim = ESYS_TR_NONE, key = ESYS_TR_NONE;
	struct m2m_secret s = { 0 };
	struct tpm *t;
	size_t off = 2;
	TSS2_RC r;
	int rc;

	(void)cert; /* a TPM keeps no certificates */
	rc = tpm_connect(ref, &t, err);
	if (rc)
		return rc;
	key_sens = OPENSSL_zalloc(sizeof(*key_sens));
	dup = OPENSSL_zalloc(sizeof(*dup));
	if (!key_sens || !dup) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		goto out;
	}
	/* a handle in use: refused before anything else, unless it is to be replaced */
	rc = replace ? M2M_OK : take_handle(t, handle, false, err);
	if (rc)
		goto out;
	if (ref->pin.source != M2M_SECRET_NONE) {
		rc = m2m_secret_read(&ref->pin, "auth value for the new TPM key", &s, err);
		if (rc)
			goto out;
		if (s.len > sizeof(key_sens->authValue.buffer)) {
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "TPM: auth value too long");
			goto out;
		}
	}
	rc = import_areas(pk, &s, &pub, key_sens, err);
	if (rc)
		goto out;
	r = Tss2_MU_TPMT_SENSITIVE_Marshal(key_sens, dup->buffer, sizeof(dup->buffer), &off);
	if (r != TSS2_RC_SUCCESS) {
		rc = tss_err(err, r, "encoding the key", handle);
		goto out;
	}
	/* the duplicate is a TPM2B_SENSITIVE: a size, then the TPMT_SENSITIVE */
	dup->buffer[0] = (BYTE)((off - 2) >> 8);
	dup->buffer[1] = (BYTE)(off - 2);
	dup->size = (UINT16)off;
	r = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, &sens, &srk_template, &outside, &pcr, &prim, NULL, NULL,
			       NULL, NULL);
	if (r != TSS2_RC_SUCCESS) {
		rc = tss_err(err, r, "creating the storage primary", handle);
		goto out;
	}
	r = Esys_Import(t->esys, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &enc_key,
			&pub, dup, &seed, &sym, &priv);
	if (r != TSS2_RC_SUCCESS) {
		rc = tss_err(err, r, "importing the key", handle);
		goto out;
	}
	r = Esys_Load(t->esys, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, &pub, &key);
	if (r != TSS2_RC_SUCCESS) {
		rc = tss_err(err, r, "loading the imported key", handle);
		goto out;
	}
	/* the old key goes only once the new one is loaded: a failed import keeps it */
	rc = persist(t, key, handle, replace, err);
out:
	m2m_secret_wipe(&s);
	OPENSSL_clear_free(key_sens, sizeof(*key_sens));
	OPENSSL_clear_free(dup, sizeof(*dup));
	if (key != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, key);
	if (prim != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, prim);
	Esys_Free(priv);
	tpm_close(t);
	return rc;
}

static void scheme_name(const TPMT_PUBLIC *pa, char *buf, size_t len)
{
	TPMI_ALG_SIG_SCHEME sch = pa->type == TPM2_ALG_ECC ? pa->parameters.eccDetail.scheme.scheme :
							  pa->parameters.rsaDetail.scheme.scheme;
	TPMI_ALG_HASH h = pa->type == TPM2_ALG_ECC ?
				  pa->parameters.eccDetail.scheme.details.ecdsa.hashAlg :
				  pa->parameters.rsaDetail.scheme.details.rsassa.hashAlg;
	const char *hn = h == TPM2_ALG_SHA256 ? "sha256" : h == TPM2_ALG_SHA384 ? "sha384" :
			 h == TPM2_ALG_SHA1 ? "sha1" : "other";

	switch (sch) {
	case TPM2_ALG_ECDSA:
		snprintf(buf, len, "ecdsa-%s", hn);
		break;
	case TPM2_ALG_RSASSA:
		snprintf(buf, len, "rsassa-%s", hn);
		break;
	case TPM2_ALG_RSAPSS:
		snprintf(buf, len, "rsapss-%s", hn);
		break;
	case TPM2_ALG_NULL:
		snprintf(buf, len, "none");
		break;
	default:
		snprintf(buf, len, "other");
	}
}

static int tpm_key_open(struct m2m_key *k, struct m2m_err *err)
{
	uint32_t handle = handle_of(&k->ref);
	TPM2B_PUBLIC *pub = NULL;
	struct tpm *t;
	TPMT_PUBLIC *pa;
	TSS2_RC r;
	int rc = tpm_connect(&k->ref, &t, err);

	if (rc)
		return rc;
	k->be = t;
	snprintf(k->info.tcti, sizeof(k->info.tcti), "%s", t->tcti_conf);
	snprintf(k->info.id, sizeof(k->info.id), "0x%08x", (unsigned)handle);
	snprintf(k->info.location, sizeof(k->info.location), "tpm:0x%08x (TCTI %s)",
		 (unsigned)handle, t->tcti_conf);
	k->info.pin_needed = k->ref.pin.source != M2M_SECRET_NONE;
	rc = from_handle(t, handle, &t->key, err);
	if (rc)
		return rc;
	r = Esys_ReadPublic(t->esys, t->key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL,
			    NULL);
	if (r != TSS2_RC_SUCCESS)
		return tss_err(err, r, "reading the public key", handle);
	pa = &pub->publicArea;
	t->type = pa->type;
	t->noda = (pa->objectAttributes & TPMA_OBJECT_NODA) != 0;
	scheme_name(pa, k->info.scheme, sizeof(k->info.scheme));
	if (pa->type == TPM2_ALG_ECC && pa->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256) {
		unsigned char pt[65] = { 0x04 };
		const TPMS_ECC_POINT *q = &pa->unique.ecc;

		if (q->x.size <= 32 && q->y.size <= 32) {
			memcpy(pt + 1 + 32 - q->x.size, q->x.buffer, q->x.size);
			memcpy(pt + 33 + 32 - q->y.size, q->y.buffer, q->y.size);
			k->pub = ks_ec_pub_from_point(pt, sizeof(pt));
		}
		t->scheme.scheme = TPM2_ALG_ECDSA;
		t->scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	} else if (pa->type == TPM2_ALG_RSA) {
		UINT32 e = pa->parameters.rsaDetail.exponent ? pa->parameters.rsaDetail.exponent : 65537;
		unsigned char eb[4] = { (unsigned char)(e >> 24), (unsigned char)(e >> 16),
					(unsigned char)(e >> 8), (unsigned char)e };

		k->pub = ks_rsa_pub_from(pa->unique.rsa.buffer, pa->unique.rsa.size, eb, 4);
		t->scheme.scheme = TPM2_ALG_RSASSA;
		t->scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
	}
	if (!(pa->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT) ||
	    (pa->objectAttributes & TPMA_OBJECT_RESTRICTED)) {
		Esys_Free(pub);
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "TPM: the object at 0x%08x is not an unrestricted signing key",
				   (unsigned)handle);
	}
	Esys_Free(pub);
	if (!k->pub)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "TPM: the key at 0x%08x is neither ECDSA P-256 nor RSA",
				   (unsigned)handle);
	return M2M_OK;
}

static int tpm_sign(struct m2m_key *k, const unsigned char *dg, size_t dlen, unsigned char **sig,
		    size_t *siglen, struct m2m_err *err)
{
	struct tpm *t = k->be;
	TPM2B_DIGEST d = { .size = (UINT16)dlen };
	TPMT_TK_HASHCHECK tk = { .tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL };
	TPMT_SIGNATURE *s = NULL;
	TSS2_RC r;
	int rc;

	memcpy(d.buffer, dg, dlen);
	if (!t->unlocked && !t->unlocking) {
		/* never a try the lockout policy has not allowed (doctor, csr, a DTLS handshake) */
		rc = ks_tpm_unlock(k, &t->own, err);
		if (rc)
			return rc;
		if (!t->auth && t->own.buf)
			t->auth = &t->own;
	}
	rc = set_auth(t, t->key, &k->ref, "auth value of the TPM key", err);
	if (rc)
		return rc;
	r = Esys_Sign(t->esys, t->key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d, &t->scheme,
		      &tk, &s);
	if (r != TSS2_RC_SUCCESS) {
		t->auth_failed = (r & 0xff0000) == 0 && (base_rc(r) == TPM2_RC_AUTH_FAIL ||
							  base_rc(r) == TPM2_RC_BAD_AUTH);
		if (t->auth_failed)
			t->unlocked = false; /* the next one goes through the policy again */
		return tss_err(err, r, "signing", handle_of(&k->ref));
	}
	if (s->sigAlg == TPM2_ALG_ECDSA) {
		if (ks_ecdsa_raw_to_der(s->signature.ecdsa.signatureR.buffer,
					s->signature.ecdsa.signatureR.size,
					s->signature.ecdsa.signatureS.buffer,
					s->signature.ecdsa.signatureS.size, sig, siglen))
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	} else {
		*sig = malloc(s->signature.rsassa.sig.size);
		if (!*sig) {
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		} else {
			memcpy(*sig, s->signature.rsassa.sig.buffer, s->signature.rsassa.sig.size);
			*siglen = s->signature.rsassa.sig.size;
		}
	}
	Esys_Free(s);
	return rc;
}

static int tpm_remove(const struct m2m_key_ref *ref, struct m2m_err *err)
{
	uint32_t handle = handle_of(ref);
	struct tpm *t;
	ESYS_TR obj;
	TSS2_RC r;
	int rc = tpm_connect(ref, &t, err);

	if (rc)
		return rc;
	rc = from_handle(t, handle, &obj, err);
	if (!rc && (r = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, obj, ESYS_TR_PASSWORD,
					ESYS_TR_NONE, ESYS_TR_NONE, handle, &obj)) != TSS2_RC_SUCCESS)
		rc = tss_err(err, r, "removing the key", handle);
	tpm_close(t);
	return rc;
}

static void tpm_key_close(struct m2m_key *k)
{
	struct tpm *t = k->be;

	if (t)
		m2m_secret_wipe(&t->own);
	tpm_close(k->be);
	k->be = NULL;
}

/* ---- sealing (the machine store's TPM input) ------------------------------ */

int ks_tpm_seal(const char *tcti, uint32_t handle, const unsigned char *secret, size_t len,
		bool replace, struct m2m_err *err)
{
	struct m2m_key_ref ref = { .store = M2M_KEYSTORE_TPM, .tcti = tcti, .handle = handle };
	TPM2B_SENSITIVE_CREATE sens = { 0 }, data = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcr = { 0 };
	TPM2B_PUBLIC tmpl = { 0 }, *pub = NULL;
	TPM2B_PRIVATE *priv = NULL;
	ESYS_TR prim = ESYS_TR_NONE, obj = ESYS_TR_NONE, old, pers;
	struct tpm *t;
	TSS2_RC r;
	int rc;

	if (len > sizeof(data.sensitive.data.buffer))
		return m2m_err_set(err, M2M_ERR_FAILURE, "TPM: secret too long to seal");
	rc = tpm_connect(&ref, &t, err);
	if (rc)
		return rc;
	if (Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				  &old) == TSS2_RC_SUCCESS) {
		if (!replace) {
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
					 "TPM: an object is already at handle 0x%08x (the sealed secret of another machine-bound key?); not replaced: give another --handle", handle);
			goto out;
		}
		r = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, old, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				      ESYS_TR_NONE, handle, &old);
		if (r != TSS2_RC_SUCCESS) {
			rc = tss_err(err, r, "removing the old sealed object", handle);
			goto out;
		}
	}
	/* a sealed data object: the TPM gives it back only to whoever can reach this TPM */
	tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
	tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
	tmpl.publicArea.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_FIXEDTPM |
					   TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA;
	tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	data.sensitive.data.size = (UINT16)len;
	memcpy(data.sensitive.data.buffer, secret, len);
	r = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
			       ESYS_TR_NONE, &sens, &srk_template, &outside, &pcr, &prim, NULL, NULL,
			       NULL, NULL);
	if (r == TSS2_RC_SUCCESS)
		r = Esys_Create(t->esys, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &data,
				&tmpl, &outside, &pcr, &priv, &pub, NULL, NULL, NULL);
	if (r == TSS2_RC_SUCCESS)
		r = Esys_Load(t->esys, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub,
			      &obj);
	if (r == TSS2_RC_SUCCESS)
		r = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, obj, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				      ESYS_TR_NONE, handle, &pers);
	if (r != TSS2_RC_SUCCESS)
		rc = tss_err(err, r, "sealing", handle);
out:
	OPENSSL_cleanse(&data, sizeof(data));
	if (obj != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, obj);
	if (prim != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, prim);
	Esys_Free(priv);
	Esys_Free(pub);
	tpm_close(t);
	return rc;
}

int ks_tpm_unseal(const char *tcti, uint32_t handle, unsigned char *out, size_t max, size_t *len,
		  struct m2m_err *err)
{
	struct m2m_key_ref ref = { .store = M2M_KEYSTORE_TPM, .tcti = tcti, .handle = handle };
	TPM2B_SENSITIVE_DATA *d = NULL;
	struct tpm *t;
	ESYS_TR obj;
	TSS2_RC r;
	int rc = tpm_connect(&ref, &t, err);

	if (rc)
		return rc;
	r = Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &obj);
	if (r != TSS2_RC_SUCCESS) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
				 "TPM: no sealed object at handle 0x%08x (TCTI %s): another TPM, or it was cleared",
				 handle, t->tcti_conf);
	} else if ((r = Esys_Unseal(t->esys, obj, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d)) !=
		   TSS2_RC_SUCCESS) {
		rc = tss_err(err, r, "unsealing", handle);
	} else if (d->size > max) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "TPM: sealed object too large");
	} else {
		memcpy(out, d->buffer, d->size);
		*len = d->size;
	}
	if (d) {
		OPENSSL_cleanse(d, sizeof(*d));
		Esys_Free(d);
	}
	tpm_close(t);
	return rc;
}

/* Dictionary-attack state: in lockout, failed tries so far, tries allowed. */
static int da_state(struct tpm *t, bool *lockout, uint32_t *failed, uint32_t *max,
		    struct m2m_err *err)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TSS2_RC r;

	*lockout = false;
	*failed = *max = 0;
	r = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
			       TPM2_CAP_TPM_PROPERTIES, TPM2_PT_PERMANENT,
			       TPM2_PT_MAX_AUTH_FAIL - TPM2_PT_PERMANENT + 1, NULL, &cap);
	if (r != TSS2_RC_SUCCESS)
		return m2m_err_set(err, M2M_ERR_DEVICE, "TPM: cannot read its lockout state: %s",
				   Tss2_RC_Decode(r));
	for (UINT32 i = 0; i < cap->data.tpmProperties.count; i++) {
		const TPMS_TAGGED_PROPERTY *p = &cap->data.tpmProperties.tpmProperty[i];

		if (p->property == TPM2_PT_PERMANENT)
			*lockout = (p->value & TPMA_PERMANENT_INLOCKOUT) != 0;
		else if (p->property == TPM2_PT_LOCKOUT_COUNTER)
			*failed = p->value;
		else if (p->property == TPM2_PT_MAX_AUTH_FAIL)
			*max = p->value;
	}
	Esys_Free(cap);
	return M2M_OK;
}

/*
 * The auth value of a TPM key, tried here before charon gets it, under the
 * same policy as a token PIN: every wrong try counts towards the TPM's
 * dictionary-attack lockout, which then refuses every protected key of the
 * machine for a long time. So: not tried in lockout, not tried unattended
 * when one more failure would lock, not tried again once the TPM refused it
 * (remembered across runs, hashed, in the state directory), and one test
 * signature otherwise.
 *
 * policy(): everything but the try. 1 when there is nothing to try (no auth
 * value, none needed), 0 when the value in *auth may be tried, or an error;
 * verified: the value signed in an earlier run and is unchanged since.
 */
struct tpm_try {
	char serial[48], name[32];
	const char *val;
	size_t vlen;
	uint32_t failed, max;
	bool none;
};

static int policy(struct m2m_key *k, struct m2m_secret *auth, bool verified, struct tpm_try *w,
		  struct m2m_err *err)
{
	struct tpm *t = k->be;
	bool lockout;
	int rc;

	memset(w, 0, sizeof(*w));
	w->val = "";
	w->none = k->ref.pin.source == M2M_SECRET_NONE;
	/* made without an auth value (exempt from the lockout): a wrong try costs nothing */
	if (w->none && t->noda)
		return 1;
	auth_marker(k, handle_of(&k->ref), w->serial, w->name);
	/* it signed without one before (made so by another tool): nothing to count */
	if (w->none && ks_fact_has(t->tcti_conf, w->serial, w->name, "no-auth"))
		return 1;
	/*
	 * Otherwise the key has an auth value, most likely: without one
	 * configured it is tried empty, once, under the same policy, rather than
	 * by every signature (charon's at every IKE attempt) counting a failure.
	 */
	if (!w->none) {
		rc = m2m_secret_read(&k->ref.pin, "auth value of the TPM key", auth, err);
		if (rc)
			return rc;
		w->val = auth->buf;
		w->vlen = auth->len;
	}
	if (ks_pin_rejected_before(t->tcti_conf, w->serial, w->name, w->val, w->vlen))
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, w->none ?
				   "%s: refused without an auth value in an earlier run; not tried again (give its auth value: pin in the profile, or --pin-file)" :
				   "%s: this auth value was refused in an earlier run; not tried again (fix its source)",
				   w->name);
	rc = da_state(t, &lockout, &w->failed, &w->max, err);
	if (rc)
		return rc;
	if (lockout)
		return m2m_err_set(err, M2M_ERR_PIN_LOCKOUT,
				   "TPM: in dictionary-attack lockout (%u failed tries); %s not tried",
				   w->failed, w->name);
	/* a value that signed before (verified) is no guess: it may go to charon */
	if (!verified && !t->noda && w->max && w->failed + 1 >= w->max &&
	    k->ref.pin.source != M2M_SECRET_PROMPT)
		return m2m_err_set(err, M2M_ERR_PIN_LOCKOUT,
				   "TPM: %u of %u failed tries; one more would lock it: %s not tried unattended",
				   w->failed, w->max, w->name);
	return 0;
}

int ks_tpm_unlock(struct m2m_key *k, struct m2m_secret *auth, struct m2m_err *err)
{
	struct tpm *t = k->be;
	unsigned char dg[32], *sig = NULL;
	struct tpm_try w;
	size_t siglen = 0;
	int rc;

	if (k->ref.store != M2M_KEYSTORE_TPM || !t)
		return m2m_err_set(err, M2M_ERR_USAGE, "unlock: not a TPM key");
	rc = policy(k, auth, false, &w, err);
	if (rc == 1) {
		t->unlocked = true;
		return M2M_OK;
	}
	if (rc)
		goto fail;
	memset(dg, 0x6d, sizeof(dg));
	t->auth_failed = false;
	t->auth = w.none ? NULL : auth;
	t->unlocking = true;
	rc = tpm_sign(k, dg, sizeof(dg), &sig, &siglen, err);
	t->unlocking = false;
	t->auth = NULL;
	free(sig);
	if (rc && t->auth_failed) {
		ks_pin_remember(t->tcti_conf, w.serial, w.name, w.val, w.vlen, true);
		m2m_err_set(err, M2M_ERR_CREDENTIAL, w.none ?
			    "%s: the key has an auth value and none was given (pin in the profile, or --pin-file; not retried: %u of %u failed tries)" :
			    "%s: wrong auth value (not retried: %u of %u failed tries)", w.name,
			    w.failed + 1, w.max);
	} else if (!rc) {
		ks_pin_remember(t->tcti_conf, w.serial, w.name, w.val, w.vlen, false);
		if (w.none)
			ks_fact_set(t->tcti_conf, w.serial, w.name, "no-auth");
		t->unlocked = true;
		return M2M_OK;
	}
fail:
	m2m_secret_wipe(auth);
	return rc;
}

/*
 * Whether the key could be used now, without using it (a later "up" whose
 * credentials charon still holds, so its value signed before and is
 * unchanged): the device answers (the open did that), it is not locked, the
 * configured value was not refused since. The policy's verdicts, without a
 * try.
 */
static int tpm_check(struct m2m_key *k, struct m2m_err *err)
{
	struct m2m_secret auth = { 0 };
	struct tpm_try w;
	int rc;

	rc = policy(k, &auth, true, &w, err);
	m2m_secret_wipe(&auth);
	return rc == 1 ? M2M_OK : rc;
}

/*
 * The auth value tried once (ks_tpm_unlock); the key's later signatures use
 * it, not its source again (a file descriptor or a prompt gives it only
 * once): auth must outlive them.
 */
static int tpm_unlock(struct m2m_key *k, struct m2m_secret *auth, struct m2m_err *err)
{
	struct tpm *t = k->be;
	int rc = ks_tpm_unlock(k, auth, err);

	if (!rc && auth->buf)
		t->auth = auth;
	return rc;
}

const struct ks_ops ks_tpm_ops = {
	.import = tpm_import,
	.generate = tpm_generate,
	.open = tpm_key_open,
	.sign = tpm_sign,
	.remove = tpm_remove,
	.close = tpm_key_close,
	.unlock = tpm_unlock,
	.check = tpm_check,
};
