/* SPDX-License-Identifier: MIT */
/*
 * lib/update: making a package (the vendor side of m2m-update(5)): the
 * manifest signed with CMS by one or more keys of any store, the payload
 * streamed after it, the file replaced atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "update/update.h"

#define COPY_BLOCK 65536

static const char *ossl_why(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "failed";
}

static int io_err(struct m2m_err *err, const char *path, const char *what)
{
	int e = errno;

	return m2m_err_set(err, e == ENOSPC || e == EDQUOT ? M2M_ERR_STORAGE : M2M_ERR_FAILURE,
			   "%s: %s: %s", path, what, strerror(e));
}

/* the payload's size and SHA-256, read in blocks from fd's start */
static int hash_fd(int fd, const char *path, uint64_t *size, uint8_t h[32], int out,
		   const char *outpath, struct m2m_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t *buf = malloc(COPY_BLOCK);
	unsigned hl = 0;
	int rc = M2M_OK;

	*size = 0;
	if (!md || !buf || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "update: out of memory");
		goto out;
	}
	if (lseek(fd, 0, SEEK_SET) != 0) {
		rc = io_err(err, path, "seek");
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf, COPY_BLOCK);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = io_err(err, path, "read");
			goto out;
		}
		if (r == 0)
			break;
		EVP_DigestUpdate(md, buf, (size_t)r);
		*size += (uint64_t)r;
		for (ssize_t done = 0; out >= 0 && done < r;) {
			ssize_t w = write(out, buf + done, (size_t)(r - done));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = io_err(err, outpath, "write");
				goto out;
			}
			done += w;
		}
	}
	if (EVP_DigestFinal_ex(md, h, &hl) != 1 || hl != 32)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "update: SHA-256: %s", ossl_why());
out:
	free(buf);
	EVP_MD_CTX_free(md);
	return rc;
}

static bool cms_has_cert(CMS_ContentInfo *cms, X509 *x)
{
	STACK_OF(X509) *certs = CMS_get1_certs(cms);
	bool found = false;

	for (int i = 0; certs && i < sk_X509_num(certs); i++)
		if (X509_cmp(sk_X509_value(certs, i), x) == 0)
			found = true;
	sk_X509_pop_free(certs, X509_free);
	return found;
}

static int add_signer(CMS_ContentInfo *cms, const struct upd_signer *s, size_t i,
		      struct m2m_err *err)
{
	BIO *b;
	X509 *x = NULL, *c;
	int rc = M2M_OK;

	if (!s->key || !s->cert)
		return m2m_err_set(err, M2M_ERR_USAGE, "signer %zu: no key or no certificate", i + 1);
	b = BIO_new_file(s->cert, "r");
	x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!x) {
		ERR_clear_error();
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: not a PEM certificate", s->cert);
	}
	/* CMS_add1_signer checks that the certificate is the key's */
	if (!CMS_add1_signer(cms, x, s->key, EVP_sha256(), CMS_BINARY)) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "signer %zu (%s): %s", i + 1, s->cert,
				 ossl_why());
		goto out;
	}
	if (s->chain) {
		b = BIO_new_file(s->chain, "r");
		if (!b) {
			ERR_clear_error();
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: cannot read", s->chain);
			goto out;
		}
		while ((c = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
			/* OpenSSL 3.0 calls a certificate added twice an error: add each once */
			if (!cms_has_cert(cms, c) && !CMS_add1_cert(cms, c)) {
				X509_free(c);
				BIO_free(b);
				rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", s->chain, ossl_why());
				goto out;
			}
			X509_free(c);
		}
		ERR_clear_error(); /* the end of the PEM file */
		BIO_free(b);
	}
out:
	X509_free(x);
	return rc;
}

/* the detached CMS SignedData over the manifest bytes, DER; free() *der */
static int sign_manifest(const void *man, size_t mlen, const struct upd_signer *signers,
			 size_t n, uint8_t **der, size_t *dlen, struct m2m_err *err)
{
	const unsigned flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL;
	CMS_ContentInfo *cms = NULL;
	BIO *mb = NULL;
	unsigned char *p = NULL;
	int rc = M2M_OK, len;

	*der = NULL;
	if (n == 0)
		return m2m_err_set(err, M2M_ERR_USAGE, "update: a package needs a signer");
	cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
	mb = BIO_new_mem_buf(man, (int)mlen);
	if (!cms || !mb) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "CMS: %s", ossl_why());
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if ((rc = add_signer(cms, &signers[i], i, err)) != M2M_OK)
			goto out;
	/* the signatures are made here: a TPM or token key signs now */
	if (CMS_final(cms, mb, NULL, CMS_DETACHED | CMS_BINARY) != 1) {
		rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "CMS: a key did not sign (%s)", ossl_why());
		goto out;
	}
	len = i2d_CMS_ContentInfo(cms, &p);
	if (len <= 0) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "CMS: %s", ossl_why());
		goto out;
	}
	if (len > UPD_SIG_MAX) {
		OPENSSL_free(p);
		rc = m2m_err_set(err, M2M_ERR_USAGE,
				 "update: the signature is %d bytes, over the format's %d (fewer signers or a shorter chain)",
				 len, UPD_SIG_MAX);
		goto out;
	}
	*der = malloc((size_t)len);
	if (!*der) {
		OPENSSL_free(p);
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "update: out of memory");
		goto out;
	}
	memcpy(*der, p, (size_t)len);
	OPENSSL_free(p);
	*dlen = (size_t)len;
out:
	CMS_ContentInfo_free(cms);
	BIO_free(mb);
	ERR_clear_error();
	return rc;
}

static int write_all(int fd, const void *data, size_t len, const char *path, struct m2m_err *err)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return io_err(err, path, "write");
		p += w;
		len -= (size_t)w;
	}
	return M2M_OK;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * header, manifest, signature, then the payload copied from pfd; if want is
 * given, the copy must have that size and hash (a payload that changed
 * between the hash and the copy would make a package that never verifies)
 */
static int write_package(const char *out, const void *man, size_t mlen, int pfd,
			 const char *payload, const uint64_t *want_size, const uint8_t *want_hash,
			 const struct upd_signer *signers, size_t n, struct m2m_err *err)
{
	uint8_t hdr[UPD_HEADER_LEN], h[32], *sig = NULL;
	size_t slen = 0;
	char *tmp = NULL, *dirbuf = NULL;
	uint64_t size;
	int fd = -1, dfd, rc;

	if (mlen < 1 || mlen > UPD_MANIFEST_MAX)
		return m2m_err_set(err, M2M_ERR_USAGE, "update: the manifest is %zu bytes, not 1..%d",
				   mlen, UPD_MANIFEST_MAX);
	rc = sign_manifest(man, mlen, signers, n, &sig, &slen, err);
	if (rc != M2M_OK)
		return rc;
	if (asprintf(&tmp, "%s.XXXXXX", out) < 0) {
		tmp = NULL;
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "update: out of memory");
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = io_err(err, tmp, "create");
		free(tmp);
		tmp = NULL;
		goto out;
	}
	/* a package is public: its readers are the devices' downloaders */
	fchmod(fd, 0644);
	memcpy(hdr, UPD_MAGIC, UPD_MAGIC_LEN);
	put32(hdr + 8, (uint32_t)mlen);
	put32(hdr + 12, (uint32_t)slen);
	if ((rc = write_all(fd, hdr, sizeof(hdr), tmp, err)) != M2M_OK ||
	    (rc = write_all(fd, man, mlen, tmp, err)) != M2M_OK ||
	    (rc = write_all(fd, sig, slen, tmp, err)) != M2M_OK ||
	    (rc = hash_fd(pfd, payload, &size, h, fd, tmp, err)) != M2M_OK)
		goto out;
	if ((want_size && size != *want_size) || (want_hash && memcmp(h, want_hash, 32) != 0)) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: changed while the package was made", payload);
		goto out;
	}
	if (fsync(fd) != 0) {
		rc = io_err(err, tmp, "fsync");
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = io_err(err, tmp, "close");
		goto out;
	}
	fd = -1;
	if (rename(tmp, out) != 0) {
		rc = io_err(err, out, "rename");
		goto out;
	}
	free(tmp);
	tmp = NULL;
	dirbuf = strdup(out);
	if (dirbuf && (dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(dfd) != 0)
			rc = io_err(err, out, "fsync of its directory");
		close(dfd);
	}
out:
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(dirbuf);
	free(sig);
	return rc;
}

static int open_payload(const char *payload, struct m2m_err *err)
{
	int fd = open(payload, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		m2m_err_set(err, errno == ENOENT ? M2M_ERR_NOT_FOUND : M2M_ERR_FAILURE, "%s: %s",
			    payload, strerror(errno));
	return fd;
}

int upd_sign_raw(const void *manifest, size_t mlen, const char *payload,
		 const struct upd_signer *signers, size_t n, const char *out, struct m2m_err *err)
{
	int fd = open_payload(payload, err), rc;

	if (fd < 0)
		return err ? err->rc : M2M_ERR_FAILURE;
	rc = write_package(out, manifest, mlen, fd, payload, NULL, NULL, signers, n, err);
	close(fd);
	return rc;
}

int upd_sign(struct upd_manifest *m, const char *payload, const struct upd_signer *signers,
	     size_t n, const char *out, struct m2m_err *err)
{
	struct upd_manifest check;
	struct m2m_err e = { 0 };
	uint64_t size;
	uint8_t h[32];
	char *json = NULL;
	int fd = open_payload(payload, err), rc;

	if (fd < 0)
		return err ? err->rc : M2M_ERR_FAILURE;
	rc = hash_fd(fd, payload, &size, h, -1, NULL, err);
	if (rc != M2M_OK)
		goto out;
	m->size = size;
	memcpy(m->sha256, h, 32);
	json = upd_manifest_json(m);
	if (!json) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "update: out of memory");
		goto out;
	}
	/* what the devices will read: a manifest they would refuse is not made */
	if (upd_manifest_parse(json, strlen(json), &check, &e) != M2M_OK) {
		rc = m2m_err_set(err, M2M_ERR_USAGE, "%s", e.msg);
		goto out;
	}
	rc = write_package(out, json, strlen(json), fd, payload, &size, h, signers, n, err);
out:
	free(json);
	close(fd);
	return rc;
}
