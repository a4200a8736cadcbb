/* SPDX-License-Identifier: MIT */
/*
 * Internal to the PKCS#11 store (ks_pkcs11.c, ks_p11_*.c): the token
 * session, and the object templates for importing a soft key onto a token
 * (private key, public key, certificate), built apart from the token so
 * that unit tests can check them.
 */
#ifndef M2M_KS_P11_H
#define M2M_KS_P11_H

#include <stdbool.h>

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

/* ---- a token session (ks_p11_session.c) ---- */
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
extern const unsigned char ks_p11_p256_oid[10];
#define KS_P11_MAX_OLD 16

const char *ks_p11_rv_name(CK_RV rv);
/* A label or serial number (blank-padded) as a string */
void ks_p11_label_of(const unsigned char *l, size_t n, char *out, size_t len);
/* Load the module (probed under the deadline first), find the token, open a session. */
int ks_p11_open(const struct m2m_key_ref *ref, bool rw, struct p11 **out, struct m2m_err *err);
void ks_p11_close(struct p11 *p);
enum m2m_pin_state ks_p11_pin_state(struct p11 *p);
/*
 * Log in with the PIN from ref: at most one attempt per process, none if
 * the token says retries are running out. A copy of the PIN is left in
 * keep if it is not NULL (for charon).
 */
int ks_p11_login(struct p11 *p, const struct m2m_key_ref *ref, struct m2m_secret *keep,
		 struct m2m_err *err);
/* The first object of a class with our id (or label); CK_INVALID_HANDLE if none. */
CK_OBJECT_HANDLE ks_p11_find(struct p11 *p, const struct m2m_key_ref *ref, CK_OBJECT_CLASS cls);
/* An attribute into a malloc()ed buffer. */
int ks_p11_get_attr(struct p11 *p, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type,
		    unsigned char **val, size_t *len);
/* Every key and certificate object with our id (or label): up to max handles. */
size_t ks_p11_find_all(struct p11 *p, const struct m2m_key_ref *ref, CK_OBJECT_HANDLE *h,
		       size_t max);
/* The objects a new key replaces, once it exists; done says what is done already. */
int ks_p11_destroy_old(struct p11 *p, const struct m2m_key_ref *ref, const CK_OBJECT_HANDLE *old,
		       size_t n, const char *done, struct m2m_err *err);
int ks_p11_destroy_all(struct p11 *p, const struct m2m_key_ref *ref, size_t *count,
		       struct m2m_err *err);

/* ---- import (ks_p11_import.c) ---- */
int ks_p11_import_key(const struct m2m_key_ref *ref, EVP_PKEY *pk, X509 *cert, bool replace,
		      struct m2m_err *err);

#endif
