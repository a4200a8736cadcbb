/* SPDX-License-Identifier: MIT */
/*
 * A key of any store as an OpenSSL EVP_PKEY: its public key and a method of
 * ours whose sign calls m2m_key_sign(), so that OpenSSL's CMS, CMP and TLS
 * code signs with a key that never leaves its TPM or token (and a TPM key's
 * every signature goes through its lockout policy, as m2m_key_sign()'s do).
 *
 * OpenSSL 3 treats a key with a method of its own as a "foreign" legacy key
 * and signs through that method, whatever the caller (EVP_DigestSign,
 * CMS_sign, SSL). A provider would be the modern way; the legacy method is
 * one file, works with every caller, and the store signs SHA-256 only
 * anyway: ECDSA and RSA PKCS#1 v1.5 over a SHA-256 digest.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>

#include "keystore/ks_int.h"

/*
 * What the method's ex_data points to. A copy of the EC_KEY or RSA (which
 * OpenSSL makes) shares it; the key stays open until the last is freed.
 */
struct ks_pkey_ctx {
	struct m2m_key *k;
	m2m_key_sign_failed_fn *failed;
	void *arg;
	unsigned refs;
};

static int idx_ec = -1, idx_rsa = -1;
static EC_KEY_METHOD *ec_meth;
static RSA_METHOD *rsa_meth;

static int ctx_dup(CRYPTO_EX_DATA *to, const CRYPTO_EX_DATA *from, void **from_d, int idx,
		   long argl, void *argp)
{
	struct ks_pkey_ctx *c = *(struct ks_pkey_ctx **)from_d;

	(void)to, (void)from, (void)idx, (void)argl, (void)argp;
	if (c)
		c->refs++;
	return 1;
}

static void ctx_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct ks_pkey_ctx *c = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (!c || --c->refs > 0)
		return;
	m2m_key_close(c->k); /* our hold on it */
	free(c);
}

/* The store's signature of a SHA-256 digest into out (at most max bytes). */
static int store_sign(struct ks_pkey_ctx *c, int type, const unsigned char *dg, int dlen,
		      unsigned char *out, unsigned int *outlen, size_t max)
{
	struct m2m_err e = { 0 };
	unsigned char *sig = NULL;
	size_t n = 0;

	if (!c)
		return 0;
	if (dlen != 32 || type != NID_sha256) {
		m2m_err_set(&e, M2M_ERR_CREDENTIAL,
			    "a %d-byte digest to sign (the key store signs SHA-256 only)", dlen);
		goto fail;
	}
	if (m2m_key_sign(c->k, dg, (size_t)dlen, &sig, &n, &e))
		goto fail;
	if (n > max) {
		free(sig);
		m2m_err_set(&e, M2M_ERR_CREDENTIAL, "signature larger than the key allows");
		goto fail;
	}
	memcpy(out, sig, n);
	*outlen = (unsigned int)n;
	free(sig);
	return 1;
fail:
	if (c->failed)
		c->failed(c->arg, &e);
	return 0;
}

static int ec_sign(int type, const unsigned char *dg, int dlen, unsigned char *sig,
		   unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	(void)type, (void)kinv, (void)r;
	/* ECDSA signs the bare digest: its type is not passed on reliably, the length is */
	return store_sign(EC_KEY_get_ex_data(ec, idx_ec), NID_sha256, dg, dlen, sig, siglen,
			  (size_t)ECDSA_size(ec));
}

static ECDSA_SIG *ec_sign_sig(const unsigned char *dg, int dlen, const BIGNUM *kinv,
			      const BIGNUM *r, EC_KEY *ec)
{
	unsigned char der[160];
	const unsigned char *p = der;
	unsigned int n = 0;

	(void)kinv, (void)r;
	if (!store_sign(EC_KEY_get_ex_data(ec, idx_ec), NID_sha256, dg, dlen, der, &n,
			sizeof(der)))
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, (long)n);
}

static int rsa_sign(int type, const unsigned char *dg, unsigned int dlen, unsigned char *sig,
		    unsigned int *siglen, const RSA *rsa)
{
	return store_sign(RSA_get_ex_data(rsa, idx_rsa), type, dg, (int)dlen, sig, siglen,
			  (size_t)RSA_size(rsa));
}

static bool methods(void)
{
	if (idx_ec < 0)
		idx_ec = EC_KEY_get_ex_new_index(0, NULL, NULL, ctx_dup, ctx_free);
	if (idx_rsa < 0)
		idx_rsa = RSA_get_ex_new_index(0, NULL, NULL, ctx_dup, ctx_free);
	if (!ec_meth && (ec_meth = EC_KEY_METHOD_new(EC_KEY_get_default_method())))
		EC_KEY_METHOD_set_sign(ec_meth, ec_sign, NULL, ec_sign_sig);
	if (!rsa_meth && (rsa_meth = RSA_meth_dup(RSA_get_default_method())))
		RSA_meth_set_sign(rsa_meth, rsa_sign);
	return idx_ec >= 0 && idx_rsa >= 0 && ec_meth && rsa_meth;
}

int m2m_key_pkey(struct m2m_key *k, m2m_key_sign_failed_fn *failed, void *arg, EVP_PKEY **out,
		 struct m2m_err *err)
{
	struct ks_pkey_ctx *c;
	EVP_PKEY *pk;

	*out = NULL;
	if (!k)
		return m2m_err_set(err, M2M_ERR_USAGE, "key: no key");
	if (!methods())
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	c = calloc(1, sizeof(*c));
	pk = EVP_PKEY_new();
	if (!c || !pk) {
		free(c);
		EVP_PKEY_free(pk);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	*c = (struct ks_pkey_ctx){ .k = k, .failed = failed, .arg = arg, .refs = 1 };
	k->refs++; /* released by ctx_free() */
	if (EVP_PKEY_is_a(k->pub, "EC")) {
		EC_KEY *ec = EC_KEY_dup(EVP_PKEY_get0_EC_KEY(k->pub));

		/* once the EC_KEY holds c, freeing the EC_KEY frees c */
		if (ec && EC_KEY_set_ex_data(ec, idx_ec, c)) {
			c = NULL;
			if (EC_KEY_set_method(ec, ec_meth) && EVP_PKEY_assign_EC_KEY(pk, ec))
				goto done;
		}
		EC_KEY_free(ec);
	} else if (EVP_PKEY_is_a(k->pub, "RSA")) {
		RSA *rsa = RSAPublicKey_dup(EVP_PKEY_get0_RSA(k->pub));

		if (rsa && RSA_set_ex_data(rsa, idx_rsa, c)) {
			c = NULL;
			if (RSA_set_method(rsa, rsa_meth) && EVP_PKEY_assign_RSA(pk, rsa))
				goto done;
		}
		RSA_free(rsa);
	}
	if (c)
		ctx_free(NULL, c, NULL, 0, 0, NULL);
	EVP_PKEY_free(pk);
	return m2m_err_set(err, M2M_ERR_CREDENTIAL, "key %s: not an EC or RSA key for OpenSSL",
			   k->info.location);
done:
	*out = pk;
	return M2M_OK;
}
