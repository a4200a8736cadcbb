/* SPDX-License-Identifier: MIT */
/*
 * Certificates of the device: CSRs whose signature comes from the key store
 * (the TBS part is hashed here and signed by m2m_key_sign, so no OpenSSL
 * provider or engine is needed for TPM or token keys), certificate facts,
 * and the checks doctor and connect share.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "m2m/pki.h"
#include "pki/pki_int.h"

/* "CN=a,O=b" or "/CN=a/O=b" */
X509_NAME *pki_parse_dn(const char *s, struct m2m_err *err)
{
	char *copy = strdup(s), *save = NULL, *tok;
	const char *sep = s[0] == '/' ? "/" : ",";
	X509_NAME *n = X509_NAME_new();

	if (!copy || !n) {
		free(copy);
		X509_NAME_free(n);
		m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		return NULL;
	}
	for (tok = strtok_r(copy, sep, &save); tok; tok = strtok_r(NULL, sep, &save)) {
		char *eq;

		while (*tok == ' ')
			tok++;
		eq = strchr(tok, '=');
		if (!eq || eq == tok || !eq[1]) {
			m2m_err_set(err, M2M_ERR_USAGE, "subject '%s': '%s' is not TYPE=value", s, tok);
			goto fail;
		}
		*eq = '\0';
		if (!X509_NAME_add_entry_by_txt(n, tok, MBSTRING_UTF8, (unsigned char *)eq + 1, -1, -1,
						0)) {
			m2m_err_set(err, M2M_ERR_USAGE, "subject '%s': unknown attribute type '%s'", s,
				    tok);
			goto fail;
		}
	}
	if (X509_NAME_entry_count(n) == 0) {
		m2m_err_set(err, M2M_ERR_USAGE, "subject '%s': empty", s);
		goto fail;
	}
	free(copy);
	ERR_clear_error();
	return n;
fail:
	free(copy);
	X509_NAME_free(n);
	ERR_clear_error();
	return NULL;
}

GENERAL_NAME *pki_parse_san(const char *s, struct m2m_err *err)
{
	unsigned char ip[16];
	int type, len = 0;
	const char *v = s;
	GENERAL_NAME *g;

	if (strncmp(s, "DNS:", 4) == 0) {
		type = GEN_DNS;
		v = s + 4;
	} else if (strncmp(s, "IP:", 3) == 0) {
		type = GEN_IPADD;
		v = s + 3;
	} else if (strncmp(s, "email:", 6) == 0) {
		type = GEN_EMAIL;
		v = s + 6;
	} else if (inet_pton(AF_INET, s, ip) == 1 || inet_pton(AF_INET6, s, ip) == 1) {
		type = GEN_IPADD;
	} else if (strchr(s, '@')) {
		type = GEN_EMAIL;
	} else {
		type = GEN_DNS;
	}
	if (!*v) {
		m2m_err_set(err, M2M_ERR_USAGE, "subject alternative name '%s': empty", s);
		return NULL;
	}
	if (type == GEN_IPADD) {
		if (inet_pton(AF_INET, v, ip) == 1)
			len = 4;
		else if (inet_pton(AF_INET6, v, ip) == 1)
			len = 16;
		else {
			m2m_err_set(err, M2M_ERR_USAGE, "subject alternative name '%s': not an address", s);
			return NULL;
		}
	}
	g = GENERAL_NAME_new();
	if (!g)
		return NULL;
	if (type == GEN_IPADD) {
		ASN1_OCTET_STRING *o = ASN1_OCTET_STRING_new();

		ASN1_OCTET_STRING_set(o, ip, len);
		GENERAL_NAME_set0_value(g, GEN_IPADD, o);
	} else {
		ASN1_IA5STRING *a = ASN1_IA5STRING_new();

		ASN1_STRING_set(a, v, -1);
		GENERAL_NAME_set0_value(g, type, a);
	}
	return g;
}

int m2m_csr_make(struct m2m_key *k, const char *subject, const char *const *sans, char **pem,
		 struct m2m_err *err)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = NULL;
	GENERAL_NAMES *gens = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_BIT_STRING *bits = NULL;
	unsigned char *tbs = NULL, md[32], *sig = NULL;
	size_t siglen = 0;
	BIO *mem = NULL;
	BUF_MEM *bm = NULL;
	EVP_PKEY *pub = NULL;
	bool rsa;
	int n, rc = M2M_OK;

	*pem = NULL;
	if (!req || m2m_key_public(k, &pub)) {
		X509_REQ_free(req);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	if (!subject || !*subject) {
		rc = m2m_err_set(err, M2M_ERR_USAGE, "csr: no subject");
		goto out;
	}
	name = pki_parse_dn(subject, err);
	if (!name) {
		rc = err ? err->rc : M2M_ERR_USAGE;
		goto out;
	}
	X509_REQ_set_version(req, 0);
	X509_REQ_set_subject_name(req, name);
	X509_REQ_set_pubkey(req, pub);
	if (sans && sans[0]) {
		X509_EXTENSION *ext;

		gens = GENERAL_NAMES_new();
		for (const char *const *s = sans; *s; s++) {
			GENERAL_NAME *g = pki_parse_san(*s, err);

			if (!g) {
				rc = err ? err->rc : M2M_ERR_USAGE;
				goto out;
			}
			sk_GENERAL_NAME_push(gens, g);
		}
		exts = sk_X509_EXTENSION_new_null();
		ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
		if (!exts || !ext) {
			X509_EXTENSION_free(ext);
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
			goto out;
		}
		sk_X509_EXTENSION_push(exts, ext);
		X509_REQ_add_extensions(req, exts);
	}
	rsa = EVP_PKEY_is_a(pub, "RSA");
	alg = X509_ALGOR_new();
	X509_ALGOR_set0(alg, OBJ_nid2obj(rsa ? NID_sha256WithRSAEncryption : NID_ecdsa_with_SHA256),
			rsa ? V_ASN1_NULL : V_ASN1_UNDEF, NULL);
	X509_REQ_set1_signature_algo(req, alg);
	/* the signed part, hashed here; the signature comes from the key store */
	n = i2d_re_X509_REQ_tbs(req, &tbs);
	if (n <= 0) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "csr: cannot encode: %s",
				 ERR_reason_error_string(ERR_peek_last_error()) ?: "unknown error");
		goto out;
	}
	SHA256(tbs, (size_t)n, md);
	rc = m2m_key_sign(k, md, sizeof(md), &sig, &siglen, err);
	if (rc)
		goto out;
	bits = ASN1_BIT_STRING_new();
	ASN1_BIT_STRING_set(bits, sig, (int)siglen);
	bits->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	bits->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	X509_REQ_set0_signature(req, bits);
	bits = NULL;
	/* never hand out a request that does not verify: a wrong key store answer shows here */
	if (X509_REQ_verify(req, pub) != 1) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
				 "csr: the key store's signature does not verify with the key's public part");
		goto out;
	}
	mem = BIO_new(BIO_s_mem());
	if (!mem || !PEM_write_bio_X509_REQ(mem, req)) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		goto out;
	}
	BIO_get_mem_ptr(mem, &bm);
	*pem = strndup(bm->data, bm->length);
	if (!*pem)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
out:
	BIO_free(mem);
	ASN1_BIT_STRING_free(bits);
	free(sig);
	OPENSSL_free(tbs);
	X509_ALGOR_free(alg);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(pub);
	ERR_clear_error();
	return rc;
}

/* ---- certificates --------------------------------------------------------- */

X509 *pki_read_cert(const char *path, struct m2m_err *err)
{
	FILE *fp = fopen(path, "re");
	X509 *x;

	if (!fp) {
		m2m_err_set(err, errno == ENOENT ? M2M_ERR_NOT_FOUND : M2M_ERR_CREDENTIAL,
			    "certificate %s: %s", path, strerror(errno));
		return NULL;
	}
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	if (!x) {
		rewind(fp);
		x = d2i_X509_fp(fp, NULL);
	}
	fclose(fp);
	ERR_clear_error();
	if (!x)
		m2m_err_set(err, M2M_ERR_CREDENTIAL, "certificate %s: neither PEM nor DER", path);
	return x;
}

void pki_fill_info(X509 *x, struct m2m_cert_info *ci)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	EVP_PKEY *pk = X509_get0_pubkey(x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	struct tm tm;
	size_t off = 0;

	memset(ci, 0, sizeof(*ci));
	X509_NAME_oneline(X509_get_subject_name(x), ci->subject, sizeof(ci->subject));
	X509_NAME_oneline(X509_get_issuer_name(x), ci->issuer, sizeof(ci->issuer));
	snprintf(ci->serial, sizeof(ci->serial), "%s", hex ? hex : "");
	OPENSSL_free(hex);
	BN_free(bn);
	if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) == 1)
		ci->not_before = timegm(&tm);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		ci->not_after = timegm(&tm);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char v[128] = "";
		const char *t = NULL;

		if (g->type == GEN_DNS || g->type == GEN_EMAIL) {
			t = g->type == GEN_DNS ? "DNS" : "email";
			snprintf(v, sizeof(v), "%.*s", ASN1_STRING_length(g->d.ia5),
				 (const char *)ASN1_STRING_get0_data(g->d.ia5));
		} else if (g->type == GEN_IPADD) {
			int l = ASN1_STRING_length(g->d.ip);

			t = "IP";
			/* only the two lengths an address can have: the rest is a broken SAN */
			if (l == 4 || l == 16)
				inet_ntop(l == 16 ? AF_INET6 : AF_INET, ASN1_STRING_get0_data(g->d.ip), v,
					  sizeof(v));
			else
				snprintf(v, sizeof(v), "(invalid, %d bytes)", l);
		}
		if (t && off < sizeof(ci->sans))
			off += (size_t)snprintf(ci->sans + off, sizeof(ci->sans) - off, "%s%s:%s",
						off ? ", " : "", t, v);
	}
	GENERAL_NAMES_free(gens);
	ci->key_type = m2m_pkey_type(pk);
	m2m_pkey_fingerprint(pk, ci->fingerprint, sizeof(ci->fingerprint));
	ci->is_ca = X509_check_ca(x) > 0;
	ERR_clear_error();
}

int m2m_cert_info_file(const char *path, struct m2m_cert_info *info, struct m2m_err *err)
{
	X509 *x = pki_read_cert(path, err);

	if (!x)
		return err ? err->rc : M2M_ERR_CREDENTIAL;
	pki_fill_info(x, info);
	X509_free(x);
	return M2M_OK;
}

int m2m_cert_info_der(const unsigned char *der, size_t len, struct m2m_cert_info *info,
		      struct m2m_err *err)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);

	if (!x)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "not a DER certificate");
	pki_fill_info(x, info);
	X509_free(x);
	return M2M_OK;
}

int m2m_cert_matches_key(const struct m2m_cert_info *cert, const struct m2m_key *k,
			 struct m2m_err *err)
{
	struct m2m_key_info ki;

	m2m_key_describe(k, &ki);
	if (strcmp(cert->fingerprint, ki.fingerprint) == 0)
		return M2M_OK;
	return m2m_err_set(err, M2M_ERR_CREDENTIAL,
			   "certificate %s does not match key %s (public keys %s and %s)",
			   cert->subject, ki.location, cert->fingerprint, ki.fingerprint);
}

static int verify(X509 *x, char *const *ca_files, struct m2m_err *err)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc = M2M_OK, e;

	if (!st || !ctx) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		goto out;
	}
	for (char *const *f = ca_files; f && *f; f++) {
		if (X509_STORE_load_file(st, *f) != 1) {
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "CA certificate %s: cannot read it",
					 *f);
			goto out;
		}
	}
	X509_STORE_CTX_init(ctx, st, x, NULL);
	if (X509_verify_cert(ctx) == 1)
		goto out;
	e = X509_STORE_CTX_get_error(ctx);
	if (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID) {
		char subj[256];

		X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
		rc = m2m_err_set(err, M2M_ERR_CLOCK, "certificate %s: %s", subj,
				 X509_verify_cert_error_string(e));
	}
	else
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "does not chain to the configured CA: %s",
				 X509_verify_cert_error_string(e));
out:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	ERR_clear_error();
	return rc;
}

int m2m_cert_verify(const char *path, char *const *ca_files, struct m2m_err *err)
{
	X509 *x = pki_read_cert(path, err);
	int rc;

	if (!x)
		return err ? err->rc : M2M_ERR_CREDENTIAL;
	rc = verify(x, ca_files, err);
	X509_free(x);
	return rc;
}

int m2m_cert_verify_der(const unsigned char *der, size_t len, char *const *ca_files,
			struct m2m_err *err)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	int rc;

	if (!x)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "not a DER certificate");
	rc = verify(x, ca_files, err);
	X509_free(x);
	return rc;
}
