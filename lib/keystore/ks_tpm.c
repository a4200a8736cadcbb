/* SPDX-License-Identifier: MIT */
/*
 * The TPM 2.0 key store, through tpm2-tss ESAPI: opening a key, signing,
 * removing, and the lockout policy every try of an auth value goes
 * through. The connection (TCTI, ESAPI) is in ks_tpm_esys.c, making keys
 * (created, imported, sealed) in ks_tpm_make.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keystore/ks_tpm.h"

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
	uint32_t handle = ks_tpm_handle(&k->ref);
	TPM2B_PUBLIC *pub = NULL;
	struct tpm *t;
	TPMT_PUBLIC *pa;
	TSS2_RC r;
	int rc = ks_tpm_connect(&k->ref, &t, err);

	if (rc)
		return rc;
	k->be = t;
	snprintf(k->info.tcti, sizeof(k->info.tcti), "%s", t->tcti_conf);
	snprintf(k->info.id, sizeof(k->info.id), "0x%08x", (unsigned)handle);
	if (k->ref.path)
		snprintf(k->info.location, sizeof(k->info.location), "tpm:%.200s (for 0x%08x, TCTI %.60s)",
			 k->ref.path, (unsigned)handle, t->tcti_conf);
	else
		snprintf(k->info.location, sizeof(k->info.location), "tpm:0x%08x (TCTI %s)",
			 (unsigned)handle, t->tcti_conf);
	k->info.pin_needed = k->ref.pin.source != M2M_SECRET_NONE;
	/* a blob (a renewal's next key): loaded for this connection, flushed at close */
	if (k->ref.path) {
		rc = ks_tpm_blob_load(t, k->ref.path, handle, &t->key, err);
		t->transient = rc == M2M_OK;
	} else {
		rc = ks_tpm_from_handle(t, handle, &t->key, err);
	}
	if (rc)
		return rc;
	r = Esys_ReadPublic(t->esys, t->key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL,
			    NULL);
	if (r != TSS2_RC_SUCCESS)
		return ks_tpm_err(err, r, "reading the public key", handle);
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
	rc = ks_tpm_set_auth(t, t->key, &k->ref, "auth value of the TPM key", err);
	if (rc)
		return rc;
	r = Esys_Sign(t->esys, t->key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &d, &t->scheme,
		      &tk, &s);
	if (r != TSS2_RC_SUCCESS) {
		t->auth_failed = (r & 0xff0000) == 0 && (ks_tpm_base_rc(r) == TPM2_RC_AUTH_FAIL ||
							  ks_tpm_base_rc(r) == TPM2_RC_BAD_AUTH);
		if (t->auth_failed)
			t->unlocked = false; /* the next one goes through the policy again */
		/* the key's auth value refused, or the TPM in lockout: a refused try, counted */
		if (t->auth_failed || ((r & 0xff0000) == 0 && ks_tpm_base_rc(r) == TPM2_RC_LOCKOUT))
			ks_pin_refused();
		return ks_tpm_err(err, r, "signing", ks_tpm_handle(&k->ref));
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

/*
 * A blob destroyed (overwritten first, as a key file is); the key at a
 * handle evicted, and its blob too: a key kept as a blob could be loaded
 * again.
 */
static int tpm_remove(const struct m2m_key_ref *ref, struct m2m_err *err)
{
	uint32_t handle = ks_tpm_handle(ref);
	char blob[4096];
	struct tpm *t;
	ESYS_TR obj;
	TSS2_RC r;
	int rc, brc;

	if (ref->path)
		return m2m_destroy_file(ref->path, NULL, err);
	rc = ks_tpm_connect(ref, &t, err);
	if (rc)
		return rc;
	rc = ks_tpm_from_handle(t, handle, &obj, err);
	if (!rc && (r = Esys_EvictControl(t->esys, ESYS_TR_RH_OWNER, obj, ESYS_TR_PASSWORD,
					ESYS_TR_NONE, ESYS_TR_NONE, handle, &obj)) != TSS2_RC_SUCCESS)
		rc = ks_tpm_err(err, r, "removing the key", handle);
	ks_tpm_close(t);
	if (rc && rc != M2M_ERR_NOT_FOUND)
		return rc;
	/* its blob goes too, and is the key deleted when only it was left */
	brc = ks_tpm_blob_path(ref, "", blob, sizeof(blob), NULL);
	if (!brc)
		brc = m2m_destroy_file(blob, NULL, rc ? NULL : err);
	return brc == M2M_ERR_NOT_FOUND || (brc && rc) ? rc : brc;
}

static void tpm_key_close(struct m2m_key *k)
{
	struct tpm *t = k->be;

	if (t)
		m2m_secret_wipe(&t->own);
	if (t && t->transient)
		Esys_FlushContext(t->esys, t->key);
	ks_tpm_close(k->be);
	k->be = NULL;
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
	auth_marker(k, ks_tpm_handle(&k->ref), w->serial, w->name);
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
	.import = ks_tpm_import,
	.generate = ks_tpm_generate,
	.open = tpm_key_open,
	.sign = tpm_sign,
	.remove = tpm_remove,
	.close = tpm_key_close,
	.unlock = tpm_unlock,
	.check = tpm_check,
};

