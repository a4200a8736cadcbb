/* SPDX-License-Identifier: MIT */
/*
 * Importing a soft key onto a token: the object templates (private key
 * sensitive, not extractable, sign-only; public key; certificate) and their
 * creation, all or nothing.
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

		add(pv, CKA_EC_PARAMS, (void *)ks_p11_p256_oid, sizeof(ks_p11_p256_oid));
		bad |= add_bn(t, pv, CKA_VALUE, pk, OSSL_PKEY_PARAM_PRIV_KEY, 32);
		add(pb, CKA_EC_PARAMS, (void *)ks_p11_p256_oid, sizeof(ks_p11_p256_oid));
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
int ks_p11_import_key(const struct m2m_key_ref *ref, EVP_PKEY *pk, X509 *cert, bool replace,
		      struct m2m_err *err)
{
	struct ks_p11_import *t = OPENSSL_zalloc(sizeof(*t));
	CK_OBJECT_HANDLE h[3], old[KS_P11_MAX_OLD];
	struct ks_p11_obj *objs[3];
	const char *what[3] = { "private key", "public key", "certificate" };
	size_t made = 0, n_old;
	struct p11 *p = NULL;
	CK_RV rv;
	int rc;

	if (!t)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	rc = ks_p11_open(ref, true, &p, err);
	if (rc)
		goto out;
	rc = ks_p11_import_build(t, pk, cert, p->id, p->idlen, ref->label, err);
	if (rc)
		goto out;
	rc = ks_p11_login(p, ref, NULL, err);
	if (rc)
		goto out;
	n_old = ks_p11_find_all(p, ref, old, KS_P11_MAX_OLD);
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
					 what[made], ks_p11_rv_name(rv), (unsigned long)rv);
			/* all or nothing */
			while (made--)
				p->f->C_DestroyObject(p->s, h[made]);
			goto out;
		}
	}
	rc = ks_p11_destroy_old(p, ref, old, n_old, "the key is imported", err);
out:
	ks_p11_import_free(t);
	OPENSSL_free(t);
	ks_p11_close(p);
	return rc;
}
