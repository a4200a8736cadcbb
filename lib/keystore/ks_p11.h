/* SPDX-License-Identifier: MIT */
/*
 * Internal: the PKCS#11 object templates for importing a soft key onto a
 * token (private key, public key, certificate), built apart from the token
 * so that unit tests can check them.
 */
#ifndef M2M_KS_P11_H
#define M2M_KS_P11_H

#include <p11-kit/pkcs11.h>

#include "keystore/ks_int.h"

#define KS_P11_MAX_ATTRS 20
#define KS_P11_MAX_BUFS 16

struct ks_p11_obj {
	CK_ATTRIBUTE a[KS_P11_MAX_ATTRS];
	CK_ULONG n;
};

/* Must not be moved once built: the attributes point into it. */
struct ks_p11_import {
	CK_OBJECT_CLASS cls_priv, cls_pub, cls_cert;
	CK_KEY_TYPE ktype;
	CK_CERTIFICATE_TYPE ctype;
	CK_BBOOL yes, no;
	struct ks_p11_obj priv, pub, cert;  /* cert.n == 0: no certificate */
	unsigned char *buf[KS_P11_MAX_BUFS]; /* values we own; all wiped on free */
	size_t buflen[KS_P11_MAX_BUFS];
	size_t nbuf;
};

/*
 * Build the templates for pk (ECDSA P-256 or RSA) and cert (may be NULL):
 * the private key sensitive, not extractable, sign-only, on the token. The
 * private values are copied; ks_p11_import_free() wipes them.
 */
int ks_p11_import_build(struct ks_p11_import *t, EVP_PKEY *pk, X509 *cert,
			const unsigned char *id, size_t idlen, const char *label,
			struct m2m_err *err);
void ks_p11_import_free(struct ks_p11_import *t);
/* The attribute of a type in an object template, or NULL. */
const CK_ATTRIBUTE *ks_p11_attr(const struct ks_p11_obj *o, CK_ATTRIBUTE_TYPE type);

#endif
