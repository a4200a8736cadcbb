/* SPDX-License-Identifier: MIT */
/*
 * Encodings the stores share: public keys from a device's raw values,
 * ECDSA signatures from r||s to DER, a key's type and fingerprint, DER out
 * of OpenSSL, and OpenSSL's reason for a failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "keystore/ks_int.h"

const char *ks_ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "unknown error";
}

enum m2m_key_type ks_pkey_type(const EVP_PKEY *pk)
{
	if (!pk)
		return M2M_KEY_UNKNOWN;
	if (EVP_PKEY_is_a(pk, "EC")) {
		char group[64];

		if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group,
						   sizeof(group), NULL) &&
		    (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
			return M2M_KEY_EC_P256;
		return M2M_KEY_UNKNOWN;
	}
	if (EVP_PKEY_is_a(pk, "RSA")) {
		int bits = EVP_PKEY_get_bits(pk);

		return bits == 2048 ? M2M_KEY_RSA_2048 : bits == 3072 ? M2M_KEY_RSA_3072 :
								       M2M_KEY_UNKNOWN;
	}
	return M2M_KEY_UNKNOWN;
}

void ks_fingerprint(const EVP_PKEY *pk, char *out, size_t len)
{
	unsigned char *der = NULL, md[32];
	char hex[65];
	int n = pk ? i2d_PUBKEY(pk, &der) : -1;

	if (len)
		out[0] = 0;
	if (n <= 0)
		return;
	SHA256(der, (size_t)n, md);
	OPENSSL_free(der);
	m2m_hex(md, sizeof(md), hex, sizeof(hex));
	snprintf(out, len, "SHA256:%s", hex);
}

int ks_der_out(unsigned char *p, int n, unsigned char **der, size_t *len, struct m2m_err *err)
{
	if (n <= 0) {
		OPENSSL_free(p);
		return m2m_err_set(err, M2M_ERR_FAILURE, "cannot encode it (DER)");
	}
	*der = malloc((size_t)n);
	if (!*der) {
		OPENSSL_free(p);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	memcpy(*der, p, (size_t)n);
	OPENSSL_free(p);
	*len = (size_t)n;
	return M2M_OK;
}

int ks_ecdsa_raw_to_der(const unsigned char *r, size_t rlen, const unsigned char *s, size_t slen,
			unsigned char **der, size_t *derlen)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *br = BN_bin2bn(r, (int)rlen, NULL), *bs = BN_bin2bn(s, (int)slen, NULL);
	unsigned char *p = NULL;
	int n;

	*der = NULL;
	if (!es || !br || !bs || !ECDSA_SIG_set0(es, br, bs)) {
		BN_free(br);
		BN_free(bs);
		ECDSA_SIG_free(es);
		return -1;
	}
	n = i2d_ECDSA_SIG(es, &p);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return -1;
	*der = malloc((size_t)n);
	if (*der)
		memcpy(*der, p, (size_t)n);
	OPENSSL_free(p);
	*derlen = (size_t)n;
	return *der ? 0 : -1;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *b)
{
	OSSL_PARAM *prm = b ? OSSL_PARAM_BLD_to_param(b) : NULL;
	EVP_PKEY_CTX *ctx = prm ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
	EVP_PKEY *pk = NULL;

	if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
		EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, prm);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(prm);
	OSSL_PARAM_BLD_free(b);
	return pk;
}

EVP_PKEY *ks_ec_pub_from_point(const unsigned char *pt, size_t len)
{
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();

	if (!b || !OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, pt, len)) {
		OSSL_PARAM_BLD_free(b);
		return NULL;
	}
	return from_params("EC", b);
}

EVP_PKEY *ks_rsa_pub_from(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen)
{
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
	EVP_PKEY *pk = NULL;

	if (b && bn && be && OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) &&
	    OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be)) {
		pk = from_params("RSA", b);
		b = NULL;
	}
	OSSL_PARAM_BLD_free(b);
	BN_free(bn);
	BN_free(be);
	return pk;
}

enum m2m_key_type m2m_pkey_type(const EVP_PKEY *pk)
{
	return ks_pkey_type(pk);
}

void m2m_pkey_fingerprint(const EVP_PKEY *pk, char *out, size_t len)
{
	ks_fingerprint(pk, out, len);
}
