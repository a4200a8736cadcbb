/* SPDX-License-Identifier: MIT */
/*
 * The file key store: a PEM PKCS#8 private key, encrypted (AES-256-CBC,
 * PBKDF2) with a PIN when the reference names a PIN source. Also what every
 * soft key needs (the machine store's too): making, reading, signing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>

#include "keystore/ks_int.h"

struct pw_ctx {
	const struct m2m_secret_ref *ref;
	const char *file;
	struct m2m_secret secret;
	bool asked;
	int rc;
	struct m2m_err *err;
};

EVP_PKEY *ks_soft_generate(enum m2m_key_type type)
{
	switch (type) {
	case M2M_KEY_EC_P256:
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	case M2M_KEY_RSA_2048:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	case M2M_KEY_RSA_3072:
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	default:
		return NULL;
	}
}

int ks_soft_sign(EVP_PKEY *pk, const unsigned char *dg, size_t dlen, unsigned char **sig,
		 size_t *siglen, struct m2m_err *err)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	size_t n = 0;
	int rc = M2M_OK;

	*sig = NULL;
	if (!ctx || EVP_PKEY_sign_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) <= 0 ||
	    (EVP_PKEY_is_a(pk, "RSA") && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0) ||
	    EVP_PKEY_sign(ctx, NULL, &n, dg, dlen) <= 0) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "sign: %s", ks_ssl_reason());
		goto out;
	}
	*sig = malloc(n);
	if (!*sig) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		goto out;
	}
	if (EVP_PKEY_sign(ctx, *sig, &n, dg, dlen) <= 0) {
		free(*sig);
		*sig = NULL;
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "sign: %s", ks_ssl_reason());
		goto out;
	}
	*siglen = n;
out:
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

bool ks_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}


/* OpenSSL calls this only for an encrypted key: the PIN is read then, once. */
static int pw_cb(char *buf, int size, int rwflag, void *u)
{
	struct pw_ctx *pc = u;
	char what[300];

	if (!pc->ref || pc->ref->source == M2M_SECRET_NONE) {
		pc->rc = m2m_err_set(pc->err, M2M_ERR_CREDENTIAL,
				     "%s: the key is encrypted, but no PIN source is given", pc->file);
		return -1;
	}
	if (!pc->asked) {
		snprintf(what, sizeof(what), "PIN for %s", pc->file);
		pc->rc = m2m_secret_read(pc->ref, what, &pc->secret, pc->err);
		if (pc->rc)
			return -1;
		pc->asked = true;
	}
	if ((int)pc->secret.len >= size)
		return -1;
	memcpy(buf, pc->secret.buf, pc->secret.len);
	return (int)pc->secret.len;
}

int ks_read_soft(const char *path, const struct m2m_secret_ref *pin, EVP_PKEY **pk, X509 **cert,
		 STACK_OF(X509) **chain, struct m2m_err *err)
{
	struct pw_ctx pc = { .ref = pin, .file = path, .err = err };
	bool empty;
	PKCS12 *p12;
	FILE *fp;
	int rc = M2M_OK;

	*pk = NULL;
	if (cert)
		*cert = NULL;
	if (chain)
		*chain = NULL;
	fp = fopen(path, "re");
	if (!fp)
		return m2m_err_set(err, errno == ENOENT ? M2M_ERR_NOT_FOUND : M2M_ERR_CREDENTIAL,
				   "%s: %s", path, strerror(errno));
	if ((rc = m2m_check_private(fileno(fp), path, "private key", err))) {
		fclose(fp);
		return rc;
	}
	p12 = d2i_PKCS12_fp(fp, NULL);
	if (p12) {
		const char *pw;

		fclose(fp);
		if (pin && pin->source != M2M_SECRET_NONE) {
			char what[300];

			snprintf(what, sizeof(what), "PIN for %s", path);
			rc = m2m_secret_read(pin, what, &pc.secret, err);
			if (rc) {
				PKCS12_free(p12);
				return rc;
			}
		}
		/*
		 * Without a PIN a file is protected with the empty or the NULL
		 * password; without a MAC there is nothing to check a PIN against.
		 */
		pw = pc.secret.buf ? pc.secret.buf : "";
		if (PKCS12_mac_present(p12)) {
			if (pc.secret.len == 0 && !PKCS12_verify_mac(p12, "", 0) &&
			    PKCS12_verify_mac(p12, NULL, 0))
				pw = NULL;
			else if (!PKCS12_verify_mac(p12, pw, (int)pc.secret.len)) {
				if (pc.secret.len == 0 && pin && pin->source != M2M_SECRET_NONE) {
					rc = ks_pin_empty(pin, path, err);
				} else {
					ks_pin_refused();
					rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
							 "%s: wrong PIN (PKCS#12 integrity check failed)",
							 path);
				}
			}
		}
		if (!rc && (!PKCS12_parse(p12, pw, pk, cert, chain) || !*pk))
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: no private key in it (%s)", path,
					 ks_ssl_reason());
		PKCS12_free(p12);
		m2m_secret_wipe(&pc.secret);
		ERR_clear_error();
		return rc;
	}
	rewind(fp);
	ERR_clear_error();
	*pk = PEM_read_PrivateKey(fp, NULL, pw_cb, &pc);
	if (*pk && cert) {
		/* a certificate in the same file ("cat key.pem cert.pem") goes with the key */
		rewind(fp);
		*cert = PEM_read_X509(fp, NULL, NULL, NULL);
	}
	fclose(fp);
	empty = pc.asked && pc.secret.len == 0;
	m2m_secret_wipe(&pc.secret);
	if (!*pk) {
		if (pc.rc)
			rc = pc.rc;
		else if (empty)
			rc = ks_pin_empty(pin, path, err);
		else if (pc.asked) {
			ks_pin_refused();
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: wrong PIN", path);
		}
		else
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
					 "%s: neither a PEM private key nor a PKCS#12 file (%s)", path,
					 ks_ssl_reason());
	}
	ERR_clear_error();
	return rc;
}

int m2m_key_read_file(const char *path, const struct m2m_secret_ref *pin, EVP_PKEY **pk,
		      X509 **cert, STACK_OF(X509) **chain, struct m2m_err *err)
{
	return ks_read_soft(path, pin, pk, cert, chain, err);
}

int ks_file_write(const char *path, EVP_PKEY *pk, const struct m2m_secret_ref *pin, bool replace,
		  struct m2m_err *err)
{
	struct m2m_secret s = { 0 };
	BIO *mem;
	BUF_MEM *bm;
	int rc, ok;

	if (!replace && ks_exists(path))
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "%s: a key is already there; not replaced (delete it first, or replace it: --force)", path);
	if (pin && pin->source != M2M_SECRET_NONE) {
		rc = m2m_secret_read(pin, "PIN for the new key", &s, err);
		if (rc)
			return rc;
		if (s.len < 4) {
			m2m_secret_wipe(&s);
			return m2m_err_set(err, M2M_ERR_CREDENTIAL,
					   "%s: the PIN is shorter than 4 characters", path);
		}
	}
	mem = BIO_new(BIO_s_secmem());
	if (!mem) {
		m2m_secret_wipe(&s);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	if (s.buf)
		ok = PEM_write_bio_PKCS8PrivateKey(mem, pk, EVP_aes_256_cbc(), s.buf, (int)s.len,
						   NULL, NULL);
	else
		ok = PEM_write_bio_PKCS8PrivateKey(mem, pk, NULL, NULL, 0, NULL, NULL);
	m2m_secret_wipe(&s);
	BIO_get_mem_ptr(mem, &bm);
	if (!ok || !bm)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: cannot encode the key: %s", path,
				 ks_ssl_reason());
	else
		rc = m2m_write_atomic(path, bm->data, bm->length, 0600, err);
	BIO_free(mem);
	ERR_clear_error();
	return rc;
}

static int file_generate(const struct m2m_key_ref *ref, enum m2m_key_type type, bool replace,
			 struct m2m_err *err)
{
	EVP_PKEY *pk;
	int rc;

	if (!replace && ks_exists(ref->path))
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "%s: a key is already there; not replaced (delete it first, or replace it: --force)",
				   ref->path);
	pk = ks_soft_generate(type);
	if (!pk)
		return m2m_err_set(err, M2M_ERR_FAILURE, "key generation failed: %s", ks_ssl_reason());
	rc = ks_file_write(ref->path, pk, &ref->pin, replace, err);
	EVP_PKEY_free(pk);
	return rc;
}

int ks_pub_from_priv(struct m2m_key *k, struct m2m_err *err)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int n = i2d_PUBKEY(k->priv, &der);

	if (n <= 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "key: cannot encode the public key");
	p = der;
	k->pub = d2i_PUBKEY(NULL, &p, n);
	OPENSSL_free(der);
	return k->pub ? M2M_OK : m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
}

/* A PKCS#12 file's certificate is kept with the key (m2m_key_cert_der) */
static int file_open(struct m2m_key *k, struct m2m_err *err)
{
	X509 *cert = NULL;
	int rc = ks_read_soft(k->ref.path, &k->ref.pin, &k->priv, &cert, NULL, err);

	k->be = cert;
	if (rc)
		return rc;
	k->info.pin_needed = k->ref.pin.source != M2M_SECRET_NONE;
	snprintf(k->info.location, sizeof(k->info.location), "%s", k->ref.path);
	return ks_pub_from_priv(k, err);
}

static int file_sign(struct m2m_key *k, const unsigned char *dg, size_t dlen, unsigned char **sig,
		     size_t *siglen, struct m2m_err *err)
{
	return ks_soft_sign(k->priv, dg, dlen, sig, siglen, err);
}

static int file_remove(const struct m2m_key_ref *ref, struct m2m_err *err)
{
	if (unlink(ref->path) < 0)
		return m2m_err_set(err, errno == ENOENT ? M2M_ERR_NOT_FOUND : M2M_ERR_CREDENTIAL,
				   "%s: %s", ref->path, strerror(errno));
	return M2M_OK;
}

static int file_import(const struct m2m_key_ref *ref, EVP_PKEY *pk, X509 *cert, bool replace,
		       struct m2m_err *err)
{
	(void)cert; /* the caller writes it out, if asked */
	return ks_file_write(ref->path, pk, &ref->pin, replace, err);
}

static void file_close(struct m2m_key *k)
{
	X509_free(k->be);
	k->be = NULL;
}

/* a PKCS#12 file's certificate */
static int file_cert(const struct m2m_key *k, unsigned char **der, size_t *len,
		     struct m2m_err *err)
{
	unsigned char *p = NULL;
	int n;

	if (!k->be)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "%s: no certificate in the key file",
				   k->ref.path);
	n = i2d_X509(k->be, &p);
	return ks_der_out(p, n, der, len, err);
}

const struct ks_ops ks_file_ops = {
	.import = file_import,
	.generate = file_generate,
	.open = file_open,
	.sign = file_sign,
	.remove = file_remove,
	.close = file_close,
	.cert = file_cert,
};

/* exported for the machine store and lib/vpn */
int ks_private_der(const struct m2m_key *k, unsigned char **der, size_t *len, struct m2m_err *err)
{
	int n;

	*der = NULL;
	if (!k->priv)
		return m2m_err_set(err, M2M_ERR_USAGE, "key: a %s key cannot be exported",
				   m2m_key_store_name(k->ref.store));
	n = i2d_PrivateKey(k->priv, der);
	if (n <= 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "key: cannot encode: %s", ks_ssl_reason());
	*len = (size_t)n;
	return M2M_OK;
}
