/* SPDX-License-Identifier: MIT */
/*
 * Soft credentials: PEM certificate + key, or PKCS#12. libm2m decrypts them
 * itself and hands charon DER over VICI, so the PIN never reaches charon, a
 * config file or a command line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "base/base.h"
#include "keystore/keystore.h"
#include "m2m/keystore.h"
#include "pki/pki.h"
#include "vpn/vpn_int.h"

static int der_from_x509(X509 *x, struct der *d)
{
	unsigned char *p = NULL;
	int n = i2d_X509(x, &p);

	if (n <= 0)
		return -1;
	d->data = p;
	d->len = (size_t)n;
	return 0;
}

static void der_free(struct der *d, bool wipe)
{
	if (d->data && wipe)
		OPENSSL_cleanse(d->data, d->len);
	OPENSSL_free(d->data);
	d->data = NULL;
	d->len = 0;
}

static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown error";
}

static int check_cert(X509 *x, struct vpn_creds *c, const char *file, struct m2m_err *err)
{
	const ASN1_TIME *nb = X509_get0_notBefore(x), *na = X509_get0_notAfter(x);
	struct tm tm;
	char what[300];
	int rc;

	X509_NAME_oneline(X509_get_subject_name(x), c->subject, sizeof(c->subject));
	/* timegm() fails (-1) past 2038 with a 32-bit time_t: clamp, never "expired" */
	c->not_before = 0;
	c->not_after = (time_t)(sizeof(time_t) > 4 ? INT64_MAX : INT32_MAX);
	if (ASN1_TIME_to_tm(nb, &tm) == 1) {
		time_t t = timegm(&tm);

		if (t != (time_t)-1)
			c->not_before = t;
	}
	if (ASN1_TIME_to_tm(na, &tm) == 1) {
		time_t t = timegm(&tm);

		if (t != (time_t)-1)
			c->not_after = t;
	}
	snprintf(what, sizeof(what), "certificate %s", c->subject);
	rc = pki_check_validity(c->not_before, c->not_after, time(NULL), what, err);
	if (rc)
		m2m_err_prefix(err, "%s", file);
	return rc;
}

static int key_to_der(EVP_PKEY *pk, struct vpn_creds *c, const char *file, struct m2m_err *err)
{
	unsigned char *p = NULL;
	int n;

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		c->key_type = "rsa";
		break;
	case EVP_PKEY_EC:
		c->key_type = "ecdsa";
		break;
	case EVP_PKEY_ED25519:
		c->key_type = "ed25519";
		break;
	default:
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "%s: unsupported key type (use ECDSA, RSA or Ed25519)", file);
	}
	n = i2d_PrivateKey(pk, &p);
	if (n <= 0)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: cannot encode key: %s", file,
				   ssl_reason());
	c->key.data = p;
	c->key.len = (size_t)n;
	return M2M_OK;
}

static int load_ca(const struct m2m_vpn_profile *p, struct vpn_creds *c, struct m2m_err *err)
{
	for (char **f = p->ca; f && *f; f++) {
		FILE *fp = fopen(*f, "re");
		X509 *x;
		size_t before = c->n_ca;

		if (!fp)
			return m2m_err_set(err, M2M_ERR_CREDENTIAL, "CA certificate %s: %m", *f);
		while ((x = PEM_read_X509(fp, NULL, NULL, NULL))) {
			struct der *nd = realloc(c->ca, (c->n_ca + 1) * sizeof(*nd));

			if (!nd || der_from_x509(x, &nd[c->n_ca]) < 0) {
				if (nd)
					c->ca = nd;
				X509_free(x);
				fclose(fp);
				return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
			}
			c->ca = nd;
			c->n_ca++;
			X509_free(x);
		}
		ERR_clear_error();
		fclose(fp);
		if (c->n_ca == before)
			return m2m_err_set(err, M2M_ERR_CREDENTIAL,
					   "CA certificate %s: no PEM certificate in it", *f);
	}
	return M2M_OK;
}

/* PEM certificate + key file (the key may be encrypted: the PIN is read then) */
static int load_pem(const struct m2m_vpn_profile *p, struct vpn_creds *c, struct m2m_err *err)
{
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	FILE *fp;
	int rc;

	fp = fopen(p->cert, "re");
	if (!fp)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "certificate %s: %m", p->cert);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (!x)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "certificate %s: not a PEM certificate",
				   p->cert);
	rc = m2m_key_read_file(p->key, &p->pin, &pk, NULL, NULL, err);
	if (rc == M2M_ERR_NOT_FOUND) {
		rc = M2M_ERR_CREDENTIAL; /* a missing key file is a credential problem */
		if (err)
			err->rc = rc;
	}
	if (!rc)
		rc = check_cert(x, c, p->cert, err);
	if (!rc && X509_check_private_key(x, pk) != 1)
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "certificate %s does not match key %s",
				 p->cert, p->key);
	if (!rc && der_from_x509(x, &c->cert) < 0)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	if (!rc)
		rc = key_to_der(pk, c, p->key, err);
	EVP_PKEY_free(pk);
	X509_free(x);
	ERR_clear_error();
	return rc;
}

/* PKCS#12: key, certificate and the chain shipped with them */
static int load_p12(const struct m2m_vpn_profile *p, struct vpn_creds *c, struct m2m_err *err)
{
	STACK_OF(X509) *extra = NULL;
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	int rc;

	rc = m2m_key_read_file(p->pkcs12, &p->pin, &pk, &x, &extra, err);
	if (rc == M2M_ERR_NOT_FOUND) {
		rc = M2M_ERR_CREDENTIAL; /* a missing key file is a credential problem */
		if (err)
			err->rc = rc;
	}
	if (!rc && !x)
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "PKCS#12 %s: no certificate in it",
				 p->pkcs12);
	if (!rc)
		rc = check_cert(x, c, p->pkcs12, err);
	if (!rc && X509_check_private_key(x, pk) != 1)
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "PKCS#12 %s: certificate does not match key",
				 p->pkcs12);
	if (!rc && der_from_x509(x, &c->cert) < 0)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	if (!rc)
		rc = key_to_der(pk, c, p->pkcs12, err);
	for (int i = 0; !rc && extra && i < sk_X509_num(extra); i++) {
		struct der *nd = realloc(c->chain, (c->n_chain + 1) * sizeof(*nd));

		if (!nd) {
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
			break;
		}
		c->chain = nd;
		if (der_from_x509(sk_X509_value(extra, i), &c->chain[c->n_chain]) == 0)
			c->n_chain++;
	}
	sk_X509_pop_free(extra, X509_free);
	EVP_PKEY_free(pk);
	X509_free(x);
	ERR_clear_error();
	return rc;
}

/* Our certificate: the profile's file, or the one on the token next to the key. */
static X509 *key_cert(const struct m2m_vpn_profile *p, const struct m2m_key *k, const char **where,
		      struct m2m_err *err)
{
	unsigned char *der = NULL;
	const unsigned char *q;
	size_t len = 0;
	X509 *x = NULL;
	FILE *fp;

	if (p->cert) {
		*where = p->cert;
		fp = fopen(p->cert, "re");
		if (!fp) {
			m2m_err_set(err, M2M_ERR_CREDENTIAL, "certificate %s: %m", p->cert);
			return NULL;
		}
		x = PEM_read_X509(fp, NULL, NULL, NULL);
		fclose(fp);
		if (!x)
			m2m_err_set(err, M2M_ERR_CREDENTIAL, "certificate %s: not a PEM certificate",
				    p->cert);
		return x;
	}
	*where = "the token";
	if (m2m_key_cert_der(k, &der, &len, err))
		return NULL;
	q = der;
	x = d2i_X509(NULL, &q, (long)len);
	free(der);
	if (!x)
		m2m_err_set(err, M2M_ERR_CREDENTIAL, "the certificate on the token is not X.509");
	return x;
}

/*
 * A key in a key store: the store opens it (an unreachable TPM, a missing
 * token, a wrong or locked PIN, another machine's key fail here, with our
 * codes, before charon sees anything), the certificate must belong to it.
 * A machine-bound key is decrypted and handed over like a soft key; token
 * and TPM keys stay where they are and charon signs through its plugin.
 */
static int load_store(const struct m2m_vpn_profile *p, struct vpn_creds *c, struct m2m_err *err)
{
	struct m2m_key_ref ref;
	struct m2m_key *k = NULL;
	struct m2m_key_info ki;
	const char *where = "";
	EVP_PKEY *certkey, *pub = NULL, *priv = NULL;
	X509 *x = NULL;
	int rc;

	rc = m2m_key_ref_from_profile(p, &ref, err);
	if (!rc)
		rc = m2m_key_open(&ref, &k, err);
	if (rc)
		return m2m_err_prefix(err, "profile %s", p->name);
	m2m_key_describe(k, &ki);
	x = key_cert(p, k, &where, err);
	if (!x) {
		rc = err ? err->rc : M2M_ERR_CREDENTIAL;
		goto out;
	}
	rc = check_cert(x, c, where, err);
	if (rc)
		goto out;
	certkey = X509_get0_pubkey(x);
	m2m_key_public(k, &pub);
	if (!certkey || !pub || EVP_PKEY_eq(certkey, pub) != 1) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "certificate %s (%s) does not match key %s",
				 c->subject, where, ki.location);
		goto out;
	}
	if (der_from_x509(x, &c->cert) < 0) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		goto out;
	}
	switch (ref.store) {
	case M2M_KEYSTORE_PKCS11:
		/* the PIN is tried here, once, under the token's retry policy */
		rc = ks_unlock(k, &c->token_pin, err);
		snprintf(c->token_handle, sizeof(c->token_handle), "%s", ki.id);
		c->token_has_slot = true;
		c->token_slot = ki.slot;
		c->key_kind = VPN_KEY_TOKEN;
		break;
	case M2M_KEYSTORE_TPM:
		if (strcmp(ki.scheme, "ecdsa-sha256") != 0 && strcmp(ki.scheme, "rsassa-sha256") != 0) {
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
					 "TPM key %s has signing scheme %s; charon needs a fixed ecdsa-sha256 or rsassa-sha256 (re-create it with m2mvpn-cert keygen --store tpm)",
					 ki.id, ki.scheme);
			break;
		}
		/* the auth value is tried here, once, under the TPM's lockout policy */
		rc = ks_unlock(k, &c->token_pin, err);
		/* charon wants the handle as hex digits without 0x */
		snprintf(c->token_handle, sizeof(c->token_handle), "%08x",
			 (unsigned)(ref.handle ? ref.handle : M2M_TPM_DEFAULT_HANDLE));
		c->token_module = VPN_TPM_MODULE;
		c->key_kind = VPN_KEY_TOKEN;
		break;
	default:
		rc = m2m_key_private(k, &priv, err);
		if (!rc)
			rc = key_to_der(priv, c, ki.location, err);
		c->key_kind = VPN_KEY_SOFT;
	}
out:
	EVP_PKEY_free(pub);
	EVP_PKEY_free(priv);
	X509_free(x);
	m2m_key_close(k);
	ERR_clear_error();
	return rc;
}

static int load_eap(const struct m2m_vpn_profile *p, struct vpn_creds *c, struct m2m_err *err)
{
	char what[96];
	int rc;

	c->eap_id = p->eap_id ? p->eap_id : p->local_id;
	if (!c->eap_id)
		return m2m_err_set(err, M2M_ERR_CONFIG, "profile %s: no EAP identity (eap_id, local_id)",
				   p->name);
	snprintf(what, sizeof(what), "EAP password for profile %s", p->name);
	rc = m2m_secret_read(&p->password, what, &c->eap_secret, err);
	if (!rc && c->eap_secret.len == 0)
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "profile %s: the EAP password is empty",
				 p->name);
	return rc;
}

int vpn_creds_check(const struct m2m_vpn_profile *p, struct m2m_err *err)
{
	struct m2m_key_ref ref;
	struct m2m_key *k = NULL;
	int rc;

	if (p->auth != M2M_AUTH_PKCS11 && p->auth != M2M_AUTH_TPM && p->auth != M2M_AUTH_MACHINE)
		return M2M_OK;
	/* the open reaches the device (TCTI, module, token), or derives the machine binding */
	rc = m2m_key_ref_from_profile(p, &ref, err);
	if (!rc)
		rc = m2m_key_open(&ref, &k, err);
	if (!rc)
		rc = m2m_key_check(k, err);
	m2m_key_close(k);
	ERR_clear_error();
	return rc ? m2m_err_prefix(err, "profile %s", p->name) : M2M_OK;
}

int vpn_creds_load(const struct m2m_vpn_profile *p, struct vpn_creds *c, struct m2m_err *err)
{
	int rc;

	memset(c, 0, sizeof(*c));
	switch (p->auth) {
	case M2M_AUTH_CERT:
		rc = load_pem(p, c, err);
		c->key_kind = VPN_KEY_SOFT;
		break;
	case M2M_AUTH_PKCS12:
		rc = load_p12(p, c, err);
		c->key_kind = VPN_KEY_SOFT;
		break;
	case M2M_AUTH_PKCS11:
	case M2M_AUTH_TPM:
	case M2M_AUTH_MACHINE:
		rc = load_store(p, c, err);
		break;
	case M2M_AUTH_EAP:
		c->key_kind = VPN_KEY_NONE;
		/* no certificate of ours, so no validity window to keep to */
		c->not_before = 0;
		c->not_after = (time_t)253402300799; /* 9999-12-31 */
		rc = load_eap(p, c, err);
		break;
	case M2M_AUTH_CERT_EAP:
		rc = load_pem(p, c, err);
		c->key_kind = VPN_KEY_SOFT;
		if (!rc)
			rc = load_eap(p, c, err);
		break;
	default:
		rc = m2m_err_set(err, M2M_ERR_CONFIG, "profile %s: unsupported auth method", p->name);
	}
	if (!rc)
		rc = load_ca(p, c, err);
	ERR_clear_error();
	if (rc)
		vpn_creds_free(c);
	return rc;
}

void vpn_creds_free(struct vpn_creds *c)
{
	der_free(&c->cert, false);
	der_free(&c->key, true);
	for (size_t i = 0; i < c->n_chain; i++)
		der_free(&c->chain[i], false);
	free(c->chain);
	for (size_t i = 0; i < c->n_ca; i++)
		der_free(&c->ca[i], false);
	free(c->ca);
	m2m_secret_wipe(&c->token_pin);
	m2m_secret_wipe(&c->eap_secret);
	memset(c, 0, sizeof(*c));
}
