/* SPDX-License-Identifier: MIT */
/*
 * The PKCS#11 key store: a key on a token reached through its module
 * (the session in ks_p11_session.c, import in ks_p11_import.c).
 *
 * Tokens lock after a few wrong PINs. So: the PIN is tried once per process
 * and never again after the token rejected it, and before any try the
 * token's CKF_USER_PIN_* flags are read; when they say retries are running
 * out the PIN is not tried at all (M2M_ERR_PIN_LOCKOUT), so that a cron job
 * with a wrong PIN can never lock a card.
 */
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

/* DigestInfo prefix of SHA-256 for PKCS#1 v1.5 (RFC 8017, 9.2 note 1) */
static const unsigned char sha256_prefix[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86,
					       0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
					       0x00, 0x04, 0x20 };

static int p11_generate(const struct m2m_key_ref *ref, enum m2m_key_type type, bool replace,
			struct m2m_err *err)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = type == M2M_KEY_RSA_3072 ? 3072 : 2048;
	unsigned char e[] = { 0x01, 0x00, 0x01 };
	const char *label = ref->label ? ref->label : "m2m device key";
	CK_MECHANISM mech = { type == M2M_KEY_EC_P256 ? CKM_EC_KEY_PAIR_GEN :
							CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE hpub, hpriv, old[KS_P11_MAX_OLD];
	struct p11 *p;
	size_t n_old = 0;
	CK_RV rv;
	int rc;

	rc = ks_p11_open(ref, true, &p, err);
	if (rc)
		return rc;
	rc = ks_p11_login(p, ref, NULL, err);
	if (rc)
		goto out;
	if (ks_p11_find(p, ref, CKO_PRIVATE_KEY) != CK_INVALID_HANDLE ||
	    ks_p11_find(p, ref, CKO_PUBLIC_KEY) != CK_INVALID_HANDLE) {
		if (!replace) {
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
					 "token '%s': a key with id %s is already there; not replaced (delete it first, or replace it: --force)",
					 p->token, ref->id);
			goto out;
		}
		/* the old objects go only once the new key exists */
		n_old = ks_p11_find_all(p, ref, old, KS_P11_MAX_OLD);
	}
	{
		CK_ATTRIBUTE pub_ec[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_VERIFY, &yes, sizeof(yes) },
			{ CKA_ID, p->id, p->idlen },
			{ CKA_LABEL, (void *)label, strlen(label) },
			{ CKA_EC_PARAMS, (void *)ks_p11_p256_oid, sizeof(ks_p11_p256_oid) },
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
				 p->token, ks_p11_rv_name(rv), (unsigned long)rv,
				 n_old ? "; the old key is still there" : "");
		goto out;
	}
	rc = ks_p11_destroy_old(p, ref, old, n_old, "the new key is made", err);
out:
	ks_p11_close(p);
	return rc;
}

/* The public key: from the public key object, else from the certificate. */
static int read_public(struct m2m_key *k, struct p11 *p, struct m2m_err *err)
{
	CK_OBJECT_HANDLE h = ks_p11_find(p, &k->ref, CKO_PUBLIC_KEY);
	unsigned char *a = NULL, *b = NULL;
	size_t al, bl;

	if (h == CK_INVALID_HANDLE) {
		h = ks_p11_find(p, &k->ref, CKO_CERTIFICATE);
		if (h != CK_INVALID_HANDLE && ks_p11_get_attr(p, h, CKA_VALUE, &a, &al) == 0) {
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
	if (ks_p11_get_attr(p, h, CKA_LABEL, &a, &al) == 0) {
		ks_p11_label_of(a, al, k->info.label, sizeof(k->info.label));
		free(a);
		a = NULL;
	}
	if (p->ktype == CKK_EC) {
		if (ks_p11_get_attr(p, h, CKA_EC_POINT, &a, &al) == 0) {
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
		if (ks_p11_get_attr(p, h, CKA_MODULUS, &a, &al) == 0 &&
		    ks_p11_get_attr(p, h, CKA_PUBLIC_EXPONENT, &b, &bl) == 0)
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
	int rc = ks_p11_open(&k->ref, false, &p, err);

	if (rc)
		return rc;
	k->be = p;
	rc = read_public(k, p, err);
	if (rc)
		return rc;
	if (p->idlen)
		m2m_hex(p->id, p->idlen, k->info.id, sizeof(k->info.id));
	k->info.pin_state = ks_p11_pin_state(p);
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
	int rc = ks_p11_login(p, &k->ref, NULL, err);

	if (rc)
		return rc;
	h = ks_p11_find(p, &k->ref, CKO_PRIVATE_KEY);
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
				   p->token, ks_p11_rv_name(rv), (unsigned long)rv);
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
	int rc = ks_p11_open(ref, true, &p, err);

	if (rc)
		return rc;
	rc = ks_p11_login(p, ref, NULL, err);
	if (!rc)
		rc = ks_p11_destroy_all(p, ref, &gone, err);
	if (!rc && gone == 0)
		rc = m2m_err_set(err, M2M_ERR_NOT_FOUND, "token '%s': no object with %s %s", p->token,
				 ref->id ? "id" : "label", ref->id ? ref->id : ref->label);
	ks_p11_close(p);
	return rc;
}

/* The object of a class with another id (or label, if idlen is 0) than the session's. */
static CK_OBJECT_HANDLE find_as(struct p11 *p, const struct m2m_key_ref *ref, const unsigned char *id,
				size_t idlen, CK_OBJECT_CLASS cls)
{
	unsigned char keep[sizeof(p->id)];
	size_t keeplen = p->idlen;
	CK_OBJECT_HANDLE h;

	memcpy(keep, p->id, sizeof(keep));
	memcpy(p->id, id, idlen);
	p->idlen = idlen;
	h = ks_p11_find(p, ref, cls);
	memcpy(p->id, keep, sizeof(keep));
	p->idlen = keeplen;
	return h;
}

int ks_p11_move(const struct m2m_key_ref *from, const struct m2m_key_ref *to, struct m2m_err *err)
{
	static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE };
	static const char *const kinds[] = { "private key", "public key", "certificate" };
	unsigned char id[64];
	size_t idlen = 0;
	struct p11 *p;
	int rc;

	if ((!!from->id) != (!!to->id) || (to->id && !m2m_unhex(to->id, id, sizeof(id), &idlen)) ||
	    (!to->id && !to->label))
		return m2m_err_set(err, M2M_ERR_USAGE, "pkcs11 key: cannot move %s to %s",
				   from->id ? from->id : from->label, to->id ? to->id : to->label);
	rc = ks_p11_open(from, true, &p, err);
	if (rc)
		return rc;
	/* the private key is seen only once logged in */
	rc = ks_p11_login(p, from, NULL, err);
	for (size_t i = 0; i < 3 && !rc; i++) {
		CK_OBJECT_HANDLE h = ks_p11_find(p, from, classes[i]);
		CK_ATTRIBUTE a = to->id ? (CK_ATTRIBUTE){ CKA_ID, id, idlen } :
					  (CK_ATTRIBUTE){ CKA_LABEL, (void *)to->label, strlen(to->label) };
		CK_RV rv;

		if (h == CK_INVALID_HANDLE)
			continue; /* none, or moved by a run a power cut stopped */
		if (find_as(p, to, id, idlen, classes[i]) != CK_INVALID_HANDLE) {
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
					 "token '%s': a %s with %s %s is there already; %s not moved", p->token,
					 kinds[i], to->id ? "id" : "label", to->id ? to->id : to->label,
					 from->id ? from->id : from->label);
			break;
		}
		rv = p->f->C_SetAttributeValue(p->s, h, &a, 1);
		if (rv != CKR_OK)
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "token '%s': cannot give the %s %s %s: %s",
					 p->token, kinds[i], to->id ? "id" : "label",
					 to->id ? to->id : to->label, ks_p11_rv_name(rv));
	}
	ks_p11_close(p);
	return rc;
}

static void p11_key_close(struct m2m_key *k)
{
	ks_p11_close(k->be);
	k->be = NULL;
}

/* The PIN tried here, once (so a wrong PIN never reaches charon), and handed back. */
static int p11_unlock(struct m2m_key *k, struct m2m_secret *pin, struct m2m_err *err)
{
	return ks_p11_login(k->be, &k->ref, pin, err);
}

static int p11_check(struct m2m_key *k, struct m2m_err *err)
{
	struct p11 *p = k->be;
	struct m2m_secret pin = { 0 };
	char what[96];
	int rc;

	rc = ks_pin_policy(ks_p11_pin_state(p), k->ref.pin.source == M2M_SECRET_PROMPT, p->token,
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

	h = ks_p11_find(p, &k->ref, CKO_CERTIFICATE);
	if (h == CK_INVALID_HANDLE || ks_p11_get_attr(p, h, CKA_VALUE, der, len))
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "token '%s': no certificate with %s %s",
				   p->token, p->idlen ? "id" : "label",
				   p->idlen ? k->ref.id : k->ref.label);
	return M2M_OK;
}

const struct ks_ops ks_pkcs11_ops = {
	.import = ks_p11_import_key,
	.generate = p11_generate,
	.open = p11_key_open,
	.sign = p11_sign,
	.remove = p11_remove,
	.close = p11_key_close,
	.cert = p11_cert,
	.unlock = p11_unlock,
	.check = p11_check,
};
