/* SPDX-License-Identifier: MIT */
/*
 * The key store interface: argument checks and dispatch to the backends
 * (through their ks_ops only). What the backends share is in files of its
 * own (ks_pin.c, ks_codec.c, ks_device.c), so no backend calls back here.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "keystore/keystore.h"
#include "keystore/ks_int.h"

static const struct ks_ops *const store_ops[] = {
	[M2M_KEYSTORE_FILE] = &ks_file_ops,
	[M2M_KEYSTORE_PKCS11] = &ks_pkcs11_ops,
	[M2M_KEYSTORE_TPM] = &ks_tpm_ops,
	[M2M_KEYSTORE_MACHINE] = &ks_machine_ops,
};

#define N_STORES (sizeof(store_ops) / sizeof(store_ops[0]))

const struct ks_ops *ks_store_ops(enum m2m_key_store s)
{
	return store_ops[(unsigned)s < N_STORES ? s : M2M_KEYSTORE_FILE];
}


/* ---- argument checks ---------------------------------------------------- */

static bool is_hex(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isxdigit((unsigned char)s[n]))
			return false;
	return n > 0 && n % 2 == 0 && n <= 128;
}

int m2m_key_ref_check(const struct m2m_key_ref *ref, bool generate, struct m2m_err *err)
{
	if (!ref)
		return m2m_err_set(err, M2M_ERR_USAGE, "key: no key reference");
	switch (ref->store) {
	case M2M_KEYSTORE_FILE:
	case M2M_KEYSTORE_MACHINE:
		if (!ref->path || !*ref->path)
			return m2m_err_set(err, M2M_ERR_USAGE, "%s key: no key file given",
					   m2m_key_store_name(ref->store));
		return M2M_OK;
	case M2M_KEYSTORE_PKCS11:
		if (!ref->module || !*ref->module)
			return m2m_err_set(err, M2M_ERR_USAGE, "pkcs11 key: no module given");
		if (ref->module[0] != '/')
			return m2m_err_set(err, M2M_ERR_USAGE,
					   "pkcs11 key: module '%s' is not an absolute path", ref->module);
		if (ref->id && !is_hex(ref->id))
			return m2m_err_set(err, M2M_ERR_USAGE,
					   "pkcs11 key: id '%s' is not hex (an even number of 0-9a-f, at most 64 bytes)",
					   ref->id);
		if (!ref->id && !ref->label)
			return m2m_err_set(err, M2M_ERR_USAGE, "pkcs11 key: no id or label given");
		if (generate && !ref->id)
			return m2m_err_set(err, M2M_ERR_USAGE, "pkcs11 key: generating needs an id");
		if (ref->label && strlen(ref->label) > 63)
			return m2m_err_set(err, M2M_ERR_USAGE, "pkcs11 key: label longer than 63 bytes");
		if (ref->pin.source == M2M_SECRET_NONE)
			return m2m_err_set(err, M2M_ERR_USAGE,
					   "pkcs11 key: no PIN source (file, fd, credential or prompt)");
		return M2M_OK;
	case M2M_KEYSTORE_TPM:
		if (ref->handle && (ref->handle < 0x81000000u || ref->handle > 0x81ffffffu))
			return m2m_err_set(err, M2M_ERR_USAGE,
					   "tpm key: handle 0x%08x is not a persistent handle (0x81000000-0x817fffff)",
					   (unsigned)ref->handle);
		if (ref->handle >= 0x81800000u)
			return m2m_err_set(err, M2M_ERR_USAGE,
					   "tpm key: handle 0x%08x belongs to the platform (0x81800000 and up); use one of the owner's, 0x81000000-0x817fffff",
					   (unsigned)ref->handle);
		if (ref->tcti && !*ref->tcti)
			return m2m_err_set(err, M2M_ERR_USAGE, "tpm key: empty TCTI");
		if (ref->path && !*ref->path)
			return m2m_err_set(err, M2M_ERR_USAGE, "tpm key: empty blob file name");
		return M2M_OK;
	}
	return m2m_err_set(err, M2M_ERR_USAGE, "key: unknown key store %d", (int)ref->store);
}

/* ---- the interface ------------------------------------------------------ */

int m2m_key_generate(const struct m2m_key_ref *ref, enum m2m_key_type type, bool replace,
		     struct m2m_err *err)
{
	int rc = m2m_key_ref_check(ref, true, err);

	if (rc)
		return rc;
	if (type == M2M_KEY_UNKNOWN)
		type = M2M_KEY_EC_P256;
	if (type != M2M_KEY_EC_P256 && type != M2M_KEY_RSA_2048 && type != M2M_KEY_RSA_3072)
		return m2m_err_set(err, M2M_ERR_USAGE, "key: unsupported key type");
	return store_ops[ref->store]->generate(ref, type, replace, err);
}

static void free_ref(struct m2m_key_ref *r)
{
	free((char *)r->path);
	free((char *)r->module);
	free((char *)r->token);
	free((char *)r->id);
	free((char *)r->label);
	free((char *)r->tcti);
	free(r->pin.path);
}

static int dup_str(const char *s, const char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -1;
}

static int copy_ref(const struct m2m_key_ref *src, struct m2m_key_ref *dst)
{
	*dst = *src;
	dst->path = dst->module = dst->token = dst->id = dst->label = dst->tcti = NULL;
	dst->pin.path = NULL;
	if (dup_str(src->path, &dst->path) || dup_str(src->module, &dst->module) ||
	    dup_str(src->token, &dst->token) || dup_str(src->id, &dst->id) ||
	    dup_str(src->label, &dst->label) || dup_str(src->tcti, &dst->tcti) ||
	    (src->pin.path && !(dst->pin.path = strdup(src->pin.path))))
		return -1;
	return 0;
}

int m2m_key_open(const struct m2m_key_ref *ref, struct m2m_key **out, struct m2m_err *err)
{
	struct m2m_key *k;
	int rc;

	*out = NULL;
	rc = m2m_key_ref_check(ref, false, err);
	if (rc)
		return rc;
	k = calloc(1, sizeof(*k));
	if (!k || copy_ref(ref, &k->ref)) {
		if (k)
			free_ref(&k->ref);
		free(k);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	k->refs = 1;
	k->ops = store_ops[ref->store];
	k->info.store = ref->store;
	rc = k->ops->open(k, err);
	if (!rc && !k->pub)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "key: backend gave no public key");
	if (rc) {
		m2m_key_close(k);
		return rc;
	}
	k->info.type = ks_pkey_type(k->pub);
	ks_fingerprint(k->pub, k->info.fingerprint, sizeof(k->info.fingerprint));
	*out = k;
	return M2M_OK;
}

void m2m_key_close(struct m2m_key *k)
{
	/* an EVP_PKEY of m2m_key_pkey() may still sign with it */
	if (!k || --k->refs > 0)
		return;
	if (k->ops && k->ops->close)
		k->ops->close(k);
	EVP_PKEY_free(k->pub);
	EVP_PKEY_free(k->priv);
	free_ref(&k->ref);
	free(k);
}

int m2m_key_describe(const struct m2m_key *k, struct m2m_key_info *info)
{
	*info = k->info;
	return M2M_OK;
}

int m2m_key_public_der(const struct m2m_key *k, unsigned char **der, size_t *len,
		       struct m2m_err *err)
{
	unsigned char *p = NULL;
	int n = i2d_PUBKEY(k->pub, &p);

	return ks_der_out(p, n, der, len, err);
}

int m2m_key_sign(struct m2m_key *k, const unsigned char *digest, size_t dlen,
		 unsigned char **sig, size_t *siglen, struct m2m_err *err)
{
	if (!k || !digest || !sig || !siglen)
		return m2m_err_set(err, M2M_ERR_USAGE, "sign: missing argument");
	if (dlen != 32)
		return m2m_err_set(err, M2M_ERR_USAGE, "sign: expected a SHA-256 digest (32 bytes), got %zu",
				   dlen);
	return k->ops->sign(k, digest, dlen, sig, siglen, err);
}

int m2m_key_cert_der(const struct m2m_key *k, unsigned char **der, size_t *len,
		     struct m2m_err *err)
{
	*der = NULL;
	if (!k->ops->cert)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "a %s key store keeps no certificates",
				   m2m_key_store_name(k->ref.store));
	return k->ops->cert(k, der, len, err);
}

int ks_unlock(struct m2m_key *k, struct m2m_secret *pin, struct m2m_err *err)
{
	if (!k || !pin)
		return m2m_err_set(err, M2M_ERR_USAGE, "unlock: missing argument");
	return k->ops->unlock ? k->ops->unlock(k, pin, err) : M2M_OK;
}

int m2m_key_check(struct m2m_key *k, struct m2m_err *err)
{
	if (!k)
		return m2m_err_set(err, M2M_ERR_USAGE, "check: no key");
	return k->ops->check ? k->ops->check(k, err) : M2M_OK;
}

int m2m_key_public(const struct m2m_key *k, EVP_PKEY **pub)
{
	*pub = k && EVP_PKEY_up_ref(k->pub) ? k->pub : NULL;
	return *pub ? M2M_OK : M2M_ERR_USAGE;
}

int m2m_key_private(const struct m2m_key *k, EVP_PKEY **priv, struct m2m_err *err)
{
	*priv = NULL;
	if (!k->priv)
		return m2m_err_set(err, M2M_ERR_USAGE, "key: a %s key never leaves its store",
				   m2m_key_store_name(k->ref.store));
	if (!EVP_PKEY_up_ref(k->priv))
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	*priv = k->priv;
	return M2M_OK;
}

int m2m_key_delete(const struct m2m_key_ref *ref, struct m2m_err *err)
{
	int rc = m2m_key_ref_check(ref, false, err);

	if (rc)
		return rc;
	return store_ops[ref->store]->remove(ref, err);
}

int m2m_key_import(const struct m2m_key_ref *dst, const char *src,
		   const struct m2m_secret_ref *src_pin, const char *cert_out, bool replace,
		   struct m2m_err *err)
{
	EVP_PKEY *pk = NULL;
	X509 *cert = NULL;
	int rc = m2m_key_ref_check(dst, true, err);

	if (rc)
		return rc;
	if (!ks_store_ops(dst->store)->import)
		return m2m_err_set(err, M2M_ERR_USAGE,
				   "import: into a %s store is not supported; generate the key there instead",
				   m2m_key_store_name(dst->store));
	rc = ks_read_soft(src, src_pin, &pk, &cert, NULL, err);
	if (rc)
		return rc;
	if (ks_pkey_type(pk) == M2M_KEY_UNKNOWN)
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
				 "%s: unsupported key (expected ECDSA P-256 or RSA 2048/3072)", src);
	else if (cert && X509_check_private_key(cert, pk) != 1)
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
				 "%s: the certificate does not match the private key", src);
	else
		rc = ks_store_ops(dst->store)->import(dst, pk, cert, replace, err);
	if (!rc && cert_out && cert) {
		BIO *mem = BIO_new(BIO_s_mem());
		BUF_MEM *bm = NULL;

		if (mem && PEM_write_bio_X509(mem, cert))
			BIO_get_mem_ptr(mem, &bm);
		if (!bm)
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		else
			rc = m2m_write_atomic(cert_out, bm->data, bm->length, 0644, err);
		BIO_free(mem);
	}
	X509_free(cert);
	EVP_PKEY_free(pk);
	ERR_clear_error();
	return rc;
}

/*
 * ref with suffix on what names its key: a file's path, a token key's id (the
 * suffix's bytes added in hex) or, for one found by its label, its label; a
 * TPM key's blob in the state directory (a blob's path, for a blob).
 */
static int ref_suffixed(const struct m2m_key_ref *ref, const char *suffix, struct m2m_key_ref *out,
			char *buf, size_t len, struct m2m_err *err)
{
	size_t n;

	switch (ref->store) {
	case M2M_KEYSTORE_FILE:
		if (!ref->path || !ref->path[0] ||
		    (size_t)snprintf(buf, len, "%s%s", ref->path, suffix) >= len)
			return m2m_err_set(err, M2M_ERR_USAGE, "no key file, or its path is too long");
		*out = *ref;
		out->path = buf;
		return M2M_OK;
	case M2M_KEYSTORE_PKCS11:
		if (ref->id && ref->id[0]) {
			/* the id's bytes and the suffix's must fit what a token session holds (64) */
			n = (size_t)snprintf(buf, len, "%s", ref->id);
			for (const char *s = suffix; *s && n + 2 < len; s++)
				n += (size_t)snprintf(buf + n, len - n, "%02x", (unsigned char)*s);
			if (n != strlen(ref->id) + 2 * strlen(suffix) || n / 2 > 64)
				return m2m_err_set(err, M2M_ERR_USAGE, "pkcs11 key: id %s is too long for a next key",
						   ref->id);
			*out = *ref;
			out->id = buf;
			return M2M_OK;
		}
		if (!ref->label || !ref->label[0] ||
		    (size_t)snprintf(buf, len, "%s%s", ref->label, suffix) >= len)
			return m2m_err_set(err, M2M_ERR_USAGE, "pkcs11 key: no id or label, or the label is too long");
		*out = *ref;
		out->label = buf;
		return M2M_OK;
	case M2M_KEYSTORE_TPM:
		if (ref->path ? (size_t)snprintf(buf, len, "%s%s", ref->path, suffix) >= len :
				ks_tpm_blob_path(ref, suffix, buf, len, err) != M2M_OK)
			return m2m_err_set(err, M2M_ERR_USAGE, "tpm key: the blob's path is too long");
		*out = *ref;
		out->path = buf;
		return M2M_OK;
	default:
		return m2m_err_set(err, M2M_ERR_USAGE,
				   "a new key at renewal is made for file, token and TPM keys, not in a %s store: renew keeps the key",
				   m2m_key_store_name(ref->store));
	}
}

int m2m_key_ref_next(const struct m2m_key_ref *ref, struct m2m_key_ref *next, char *buf,
		     size_t len, struct m2m_err *err)
{
	return ref_suffixed(ref, M2M_KEY_NEXT_SUFFIX, next, buf, len, err);
}

int ks_key_ref_prev(const struct m2m_key_ref *ref, struct m2m_key_ref *prev, char *buf, size_t len,
		    struct m2m_err *err)
{
	return ref_suffixed(ref, M2M_KEY_PREV_SUFFIX, prev, buf, len, err);
}

int ks_key_ref_kept(const struct m2m_key_ref *ref, struct m2m_key_ref *kept, char *buf, size_t len,
		    struct m2m_err *err)
{
	if (ref->store != M2M_KEYSTORE_TPM || ref->path)
		return m2m_err_set(err, M2M_ERR_USAGE, "key: only a key at a TPM handle is kept as a blob");
	return ref_suffixed(ref, "", kept, buf, len, err);
}

int ks_key_there(const struct m2m_key_ref *ref, struct m2m_err *err)
{
	struct m2m_key *k = NULL;
	int rc;

	/* a file, or a TPM key's blob: nothing to ask the TPM */
	if (ref->store == M2M_KEYSTORE_FILE || (ref->store == M2M_KEYSTORE_TPM && ref->path))
		return ref->path && access(ref->path, F_OK) == 0 ?
			       M2M_OK :
			       m2m_err_set(err, M2M_ERR_NOT_FOUND, "%s: no such key", ref->path ? ref->path : "?");
	rc = m2m_key_open(ref, &k, err);
	m2m_key_close(k);
	return rc;
}

int ks_key_move(const struct m2m_key_ref *from, const struct m2m_key_ref *to, struct m2m_err *err)
{
	int rc = m2m_key_ref_check(from, false, err);

	if (rc)
		return rc;
	if (from->store != M2M_KEYSTORE_PKCS11 || to->store != M2M_KEYSTORE_PKCS11 ||
	    from->module != to->module || from->token != to->token)
		return m2m_err_set(err, M2M_ERR_USAGE, "key: only a token key is moved, on its token");
	return ks_p11_move(from, to, err);
}

int ks_key_place(const struct m2m_key_ref *ref, const struct m2m_key_ref *blob,
		 struct m2m_err *err)
{
	int rc = m2m_key_ref_check(ref, false, err);

	if (rc)
		return rc;
	if (ref->store != M2M_KEYSTORE_TPM || blob->store != M2M_KEYSTORE_TPM || ref->path ||
	    !blob->path || ref->handle != blob->handle)
		return m2m_err_set(err, M2M_ERR_USAGE, "key: only a TPM key's blob is put at its handle");
	return ks_tpm_place(ref, blob->path, err);
}
