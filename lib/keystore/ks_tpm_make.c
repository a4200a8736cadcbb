/* SPDX-License-Identifier: MIT */
/*
 * Making TPM keys: a child of an ECC storage primary in the owner
 * hierarchy, made persistent at a handle in 0x81000000-0x81ffffff, created
 * in the TPM or imported (TPM2_Import) from a soft key, always with a fixed
 * signing scheme (ecdsa-sha256 or rsassa-sha256): charon's tpm plugin takes
 * the scheme from the key and cannot sign with a key that has none. Also
 * the sealed secret of the machine store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "keystore/ks_tpm.h"

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

int ks_tpm_primary(struct tpm *t, ESYS_TR *prim, uint32_t handle, struct m2m_err *err)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcr = { 0 };
	TSS2_RC r = Esys_CreatePrimary(t->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				       ESYS_TR_NONE, &sens, &srk_template, &outside, &pcr, prim, NULL,
				       NULL, NULL, NULL);

	if (r != TSS2_RC_SUCCESS) {
		*prim = ESYS_TR_NONE;
		return ks_tpm_err(err, r, "creating the storage primary", handle);
	}
	return M2M_OK;
}

/*
 * The blob of a key about to be persistent at ref's handle, kept in the
 * state directory first: a key the swap of a renewal evicts can be put back
 * only from it. persisted(): the key is at the handle; else the blob goes.
 */
static int keep_blob(const struct m2m_key_ref *ref, const TPM2B_PUBLIC *pub,
		     const TPM2B_PRIVATE *priv, char *path, size_t len, struct m2m_err *err)
{
	int rc = ks_tpm_blob_path(ref, "", path, len, err);

	if (!rc)
		rc = ks_tpm_blob_write(path, pub, priv, err);
	if (rc)
		m2m_err_prefix(err, "TPM key 0x%08x: its blob cannot be kept", ks_tpm_handle(ref));
	return rc;
}

static void blob_not_persisted(const char *path)
{
	if (path[0])
		m2m_destroy_file(path, NULL, NULL);
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
	return r == TSS2_RC_SUCCESS ? M2M_OK : ks_tpm_err(err, r, "removing the old key", handle);
}

/*
 * Make the loaded key persistent at handle; with replace, the key there goes
 * first (only now that the new one exists). What was remembered of the old
 * key names that key (auth_marker, ks_tpm.c): the new one starts clean.
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
		rc = ks_tpm_err(err, r, "making the key persistent", handle);
		if (replace)
			m2m_err_prefix(err, "the old key at 0x%08x is gone already", handle);
		return rc;
	}
	return M2M_OK;
}

/*
 * A key made under the primary. ref->path names a blob: the key is written
 * there and not persisted (a renewal's next key). Else it is persisted at
 * the handle, its blob kept in the state directory.
 */
int ks_tpm_generate(const struct m2m_key_ref *ref, enum m2m_key_type type, bool replace,
			struct m2m_err *err)
{
	uint32_t handle = ks_tpm_handle(ref);
	TPM2B_SENSITIVE_CREATE key_sens = { 0 };
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcr = { 0 };
	TPM2B_PUBLIC tmpl, *pub = NULL;
	TPM2B_PRIVATE *priv = NULL;
	ESYS_TR prim = ESYS_TR_NONE, key = ESYS_TR_NONE;
	struct m2m_secret s = { 0 };
	char blob[4096] = "";
	struct tpm *t;
	TSS2_RC r;
	int rc;

	if (ref->path && !replace && access(ref->path, F_OK) == 0)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "%s: a TPM key is there already; not replaced (--force replaces it)",
				   ref->path);
	rc = ks_tpm_connect(ref, &t, err);
	if (rc)
		return rc;
	/* a handle in use: refused at once, or emptied only once the new key exists */
	rc = replace || ref->path ? M2M_OK : take_handle(t, handle, false, err);
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
	rc = ks_tpm_primary(t, &prim, handle, err);
	if (rc)
		goto out;
	/* a key without auth value cannot be guessed at: exempt it from dictionary-attack lockout */
	key_template(type, s.len == 0, &tmpl);
	r = Esys_Create(t->esys, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &key_sens,
			&tmpl, &outside, &pcr, &priv, &pub, NULL, NULL, NULL);
	if (r != TSS2_RC_SUCCESS) {
		rc = ks_tpm_err(err, r, "creating the key", handle);
		goto out;
	}
	if (ref->path) {
		rc = ks_tpm_blob_write(ref->path, pub, priv, err);
		goto out;
	}
	rc = keep_blob(ref, pub, priv, blob, sizeof(blob), err);
	if (rc)
		goto out;
	r = Esys_Load(t->esys, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, &key);
	rc = r == TSS2_RC_SUCCESS ? persist(t, key, handle, replace, err) :
				    ks_tpm_err(err, r, "loading the key", handle);
	if (rc)
		blob_not_persisted(blob);
out:
	m2m_secret_wipe(&s);
	OPENSSL_cleanse(&key_sens, sizeof(key_sens));
	if (key != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, key);
	if (prim != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, prim);
	Esys_Free(priv);
	Esys_Free(pub);
	ks_tpm_close(t);
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
int ks_tpm_import(const struct m2m_key_ref *ref, EVP_PKEY *pk, X509 *cert, bool replace,
		      struct m2m_err *err)
{
	uint32_t handle = ks_tpm_handle(ref);
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
	char blob[4096] = "";
	struct tpm *t;
	size_t off = 2;
	TSS2_RC r;
	int rc;

	(void)cert; /* a TPM keeps no certificates */
	if (ref->path)
		return m2m_err_set(err, M2M_ERR_USAGE,
				   "tpm key: a key is imported at a persistent handle, not into a blob file");
	rc = ks_tpm_connect(ref, &t, err);
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
		rc = ks_tpm_err(err, r, "encoding the key", handle);
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
		rc = ks_tpm_err(err, r, "creating the storage primary", handle);
		goto out;
	}
	r = Esys_Import(t->esys, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &enc_key,
			&pub, dup, &seed, &sym, &priv);
	if (r != TSS2_RC_SUCCESS) {
		rc = ks_tpm_err(err, r, "importing the key", handle);
		goto out;
	}
	rc = keep_blob(ref, &pub, priv, blob, sizeof(blob), err);
	if (rc)
		goto out;
	r = Esys_Load(t->esys, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, &pub, &key);
	if (r != TSS2_RC_SUCCESS) {
		rc = ks_tpm_err(err, r, "loading the imported key", handle);
		blob_not_persisted(blob);
		goto out;
	}
	/* the old key goes only once the new one is loaded: a failed import keeps it */
	rc = persist(t, key, handle, replace, err);
	if (rc)
		blob_not_persisted(blob);
out:
	m2m_secret_wipe(&s);
	OPENSSL_clear_free(key_sens, sizeof(*key_sens));
	OPENSSL_clear_free(dup, sizeof(*dup));
	if (key != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, key);
	if (prim != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, prim);
	Esys_Free(priv);
	ks_tpm_close(t);
	return rc;
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
	rc = ks_tpm_connect(&ref, &t, err);
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
			rc = ks_tpm_err(err, r, "removing the old sealed object", handle);
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
		rc = ks_tpm_err(err, r, "sealing", handle);
out:
	OPENSSL_cleanse(&data, sizeof(data));
	if (obj != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, obj);
	if (prim != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, prim);
	Esys_Free(priv);
	Esys_Free(pub);
	ks_tpm_close(t);
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
	int rc = ks_tpm_connect(&ref, &t, err);

	if (rc)
		return rc;
	r = Esys_TR_FromTPMPublic(t->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &obj);
	if (r != TSS2_RC_SUCCESS) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
				 "TPM: no sealed object at handle 0x%08x (TCTI %s): another TPM, or it was cleared",
				 handle, t->tcti_conf);
	} else if ((r = Esys_Unseal(t->esys, obj, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d)) !=
		   TSS2_RC_SUCCESS) {
		rc = ks_tpm_err(err, r, "unsealing", handle);
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
	ks_tpm_close(t);
	return rc;
}

/* ---- a blob's key put at a handle (the swap of a renewal with a new key) ---- */

/* The same key: the same type and public point or modulus. */
static bool same_key(const TPMT_PUBLIC *a, const TPMT_PUBLIC *b)
{
	if (a->type != b->type)
		return false;
	if (a->type == TPM2_ALG_ECC)
		return a->unique.ecc.x.size == b->unique.ecc.x.size &&
		       a->unique.ecc.y.size == b->unique.ecc.y.size &&
		       !memcmp(a->unique.ecc.x.buffer, b->unique.ecc.x.buffer, a->unique.ecc.x.size) &&
		       !memcmp(a->unique.ecc.y.buffer, b->unique.ecc.y.buffer, a->unique.ecc.y.size);
	return a->type == TPM2_ALG_RSA && a->unique.rsa.size == b->unique.rsa.size &&
	       !memcmp(a->unique.rsa.buffer, b->unique.rsa.buffer, a->unique.rsa.size);
}

/*
 * The key of the blob made persistent at ref's handle, what was there
 * evicted first. Idempotent: if the key at the handle is the blob's
 * already (a run before did it), nothing is done, so a step a power cut
 * interrupted is finished by doing it again. The blob stays.
 */
int ks_tpm_place(const struct m2m_key_ref *ref, const char *blob, struct m2m_err *err)
{
	uint32_t handle = ks_tpm_handle(ref);
	TPM2B_PUBLIC *pub = OPENSSL_zalloc(sizeof(*pub)), *at = NULL;
	TPM2B_PRIVATE *priv = OPENSSL_zalloc(sizeof(*priv));
	ESYS_TR prim = ESYS_TR_NONE, key = ESYS_TR_NONE, old;
	struct tpm *t = NULL;
	TSS2_RC r;
	int rc;

	if (!pub || !priv) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		goto out;
	}
	rc = ks_tpm_blob_read(blob, pub, priv, err);
	if (!rc)
		rc = ks_tpm_connect(ref, &t, err);
	if (rc)
		goto out;
	rc = ks_tpm_from_handle(t, handle, &old, err);
	if (!rc) {
		r = Esys_ReadPublic(t->esys, old, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &at, NULL,
				    NULL);
		if (r != TSS2_RC_SUCCESS) {
			rc = ks_tpm_err(err, r, "reading the public key", handle);
			goto out;
		}
		if (same_key(&at->publicArea, &pub->publicArea))
			goto out; /* there already */
		r = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, old, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				      ESYS_TR_NONE, handle, &old);
		if (r != TSS2_RC_SUCCESS) {
			rc = ks_tpm_err(err, r, "evicting the key in place", handle);
			goto out;
		}
	} else if (rc != M2M_ERR_NOT_FOUND) {
		goto out;
	}
	rc = ks_tpm_primary(t, &prim, handle, err);
	if (rc)
		goto out;
	r = Esys_Load(t->esys, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, &key);
	if (r != TSS2_RC_SUCCESS) {
		key = ESYS_TR_NONE;
		rc = ks_tpm_err(err, r, "loading the key", handle);
		m2m_err_prefix(err, "%s", blob);
		goto out;
	}
	rc = persist(t, key, handle, false, err);
out:
	if (t && key != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, key);
	if (t && prim != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, prim);
	if (at)
		Esys_Free(at);
	ks_tpm_close(t);
	OPENSSL_clear_free(priv, sizeof(*priv));
	OPENSSL_free(pub);
	return rc;
}
