/* SPDX-License-Identifier: MIT */
/*
 * TPM key blobs: a key's public area and its private area wrapped by the
 * storage primary, in a file. A persistent object cannot move to another
 * handle, nor be loaded again once evicted; a blob can be loaded (under
 * the same primary, so in this TPM only) as often as needed. So a
 * renewal's next key is a blob, loaded for its signatures, and the key at a
 * handle is kept as one beside it, to be persisted there again. The file:
 * KS_TPM_BLOB_MAGIC, then TPM2B_PUBLIC and TPM2B_PRIVATE as tpm2-tss
 * marshals them, nothing after; 0600, written atomically.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "keystore/ks_tpm.h"

#define MAGIC_LEN (sizeof(KS_TPM_BLOB_MAGIC) - 1)
/* a blob is at most the magic and both areas at their largest */
#define BLOB_MAX (MAGIC_LEN + sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE))

static int no_tss(struct m2m_err *err)
{
	return m2m_err_set(err, M2M_ERR_DEVICE,
			   "TPM: the tpm2-tss libraries are not installed (libtss2-esys0, libtss2-tctildr0, libtss2-mu0)");
}

int ks_tpm_blob_write(const char *path, const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
		      struct m2m_err *err)
{
	unsigned char *buf = OPENSSL_zalloc(BLOB_MAX);
	char dir[4096], *slash;
	size_t off = MAGIC_LEN;
	TSS2_RC r;
	int rc;

	if (!ks_tss_load()) {
		OPENSSL_free(buf);
		return no_tss(err);
	}
	if (!buf)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	memcpy(buf, KS_TPM_BLOB_MAGIC, MAGIC_LEN);
	r = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, buf, BLOB_MAX, &off);
	if (r == TSS2_RC_SUCCESS)
		r = Tss2_MU_TPM2B_PRIVATE_Marshal(priv, buf, BLOB_MAX, &off);
	if (r != TSS2_RC_SUCCESS) {
		OPENSSL_free(buf);
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: encoding the key: %s", path,
				   Tss2_RC_Decode(r));
	}
	/* the state directory may not exist yet (a key made before anything else) */
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	rc = M2M_OK;
	if (slash && slash != dir) {
		*slash = '\0';
		rc = m2m_mkdir_private(dir, err);
	}
	if (!rc)
		rc = m2m_write_atomic(path, buf, off, 0600, err);
	OPENSSL_clear_free(buf, BLOB_MAX);
	return rc;
}

int ks_tpm_blob_read(const char *path, TPM2B_PUBLIC *pub, TPM2B_PRIVATE *priv,
		     struct m2m_err *err)
{
	char *buf = NULL;
	size_t len = 0, off = MAGIC_LEN;
	TSS2_RC r;
	int rc;

	/* tpm2-tss's marshalling: loaded with the rest of it (a blob may be read before a TPM is reached) */
	if (!ks_tss_load())
		return no_tss(err);
	rc = m2m_read_file(path, BLOB_MAX, &buf, &len, err);
	if (rc)
		return rc;
	memset(pub, 0, sizeof(*pub));
	memset(priv, 0, sizeof(*priv));
	if (len < MAGIC_LEN || memcmp(buf, KS_TPM_BLOB_MAGIC, MAGIC_LEN) != 0) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: not a TPM key blob", path);
		goto out;
	}
	r = Tss2_MU_TPM2B_PUBLIC_Unmarshal((const uint8_t *)buf, len, &off, pub);
	if (r == TSS2_RC_SUCCESS)
		r = Tss2_MU_TPM2B_PRIVATE_Unmarshal((const uint8_t *)buf, len, &off, priv);
	if (r != TSS2_RC_SUCCESS || off != len)
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: a damaged TPM key blob", path);
out:
	OPENSSL_clear_free(buf, len);
	return rc;
}

int ks_tpm_blob_load(struct tpm *t, const char *path, uint32_t handle, ESYS_TR *key,
		     struct m2m_err *err)
{
	TPM2B_PUBLIC *pub = OPENSSL_zalloc(sizeof(*pub));
	TPM2B_PRIVATE *priv = OPENSSL_zalloc(sizeof(*priv));
	ESYS_TR prim = ESYS_TR_NONE;
	TSS2_RC r;
	int rc;

	*key = ESYS_TR_NONE;
	if (!pub || !priv) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		goto out;
	}
	rc = ks_tpm_blob_read(path, pub, priv, err);
	if (!rc)
		rc = ks_tpm_primary(t, &prim, handle, err);
	if (rc)
		goto out;
	r = Esys_Load(t->esys, prim, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, key);
	if (r != TSS2_RC_SUCCESS) {
		*key = ESYS_TR_NONE;
		/* another TPM's, or this one's cleared since: its storage key is not the one that wrapped it */
		rc = ks_tpm_err(err, r, "loading the key", handle);
		m2m_err_prefix(err, "%s", path);
	}
out:
	if (prim != ESYS_TR_NONE)
		Esys_FlushContext(t->esys, prim);
	OPENSSL_clear_free(priv, sizeof(*priv));
	OPENSSL_free(pub);
	return rc;
}
