/* SPDX-License-Identifier: MIT */
/*
 * lib/update: the streaming verifier of a package (m2m-update(5)).
 *
 * Order, each step before the next byte is accepted:
 *   1. the 16-byte header: the magic, then both lengths against the format's
 *      maxima (a length over them is INTEGRITY there, before any buffer is
 *      sized from it: at most UPD_MANIFEST_MAX + UPD_SIG_MAX bytes are held);
 *   2. the manifest and its signature: every SignerInfo's signature over the
 *      exact manifest bytes (RFC 5652 5.4, 5.6), the manifest's form, then
 *      each signer's chain to pol->trust, the codeSigning extended key usage
 *      on each signer, the count of distinct signer keys;
 *   3. the policy (REFUSED);
 *   4. the payload, hashed and handed to the sink as it arrives; a byte past
 *      the manifest's size is INTEGRITY at once; the end checks the count and
 *      the SHA-256.
 * The sink sees no byte before 1-3 passed.
 *
 * The time at which the signer certificates must be valid: the manifest's
 * own expiry (its last valid second), not the device's clock. A device's
 * clock may be wrong after a power cut (back at the epoch or at the build
 * date, no RTC battery): checking the chain at "now" would refuse every
 * package on such a device, maybe the one that would let it reach its time
 * server again. At the expiry, the chain check does not depend on the clock,
 * and it is never weaker than a check at a correct "now": the policy
 * requires now < expires, so a chain valid at expires has not expired at now
 * either, and a package cannot be made to outlive its signer's certificate.
 * A freeze (an old, genuine package replayed) is stopped by the expiry
 * itself, checked against the device's time in upd_policy_check; anti-
 * rollback by the versions, which need no clock at all.
 *
 * OpenSSL 3.0 has no code-signing purpose (X509_PURPOSE_CODE_SIGN came in
 * 3.2) and its default, smimesign, refuses a codeSigning-only certificate:
 * the chain is verified with X509_PURPOSE_ANY and the codeSigning EKU is
 * required on every signer here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "update/update.h"

enum vstate { V_HEADER, V_META, V_PAYLOAD, V_DONE, V_FAILED };

#define UPD_SIGNERS_LEN 1024

struct upd_verifier {
	struct upd_policy pol;
	upd_sink_fn sink;
	void *ctx;
	X509_STORE *store;
	enum vstate state;
	struct m2m_err failed;      /* the first error: every later call returns it */
	uint8_t hdr[UPD_HEADER_LEN];
	uint32_t mlen, slen;
	uint8_t *meta;              /* manifest and signature, mlen + slen bytes */
	size_t have;                /* bytes of the current part (header or meta) */
	bool verified;
	bool genuine;               /* the signatures were checked (the policy may still refuse) */
	struct upd_manifest m;
	char signers[UPD_SIGNERS_LEN];
	EVP_MD_CTX *md;
	uint64_t got;               /* payload bytes */
	uint64_t offset;            /* package bytes */
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* the last OpenSSL reason, for a message; clears the queue */
static const char *ossl_why(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "failed";
}

static int fail(struct upd_verifier *v, struct m2m_err *err, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct upd_verifier *v, struct m2m_err *err, int rc, const char *fmt, ...)
{
	va_list ap;

	v->failed.rc = rc;
	va_start(ap, fmt);
	vsnprintf(v->failed.msg, sizeof(v->failed.msg), fmt, ap);
	va_end(ap);
	v->state = V_FAILED;
	if (err)
		*err = v->failed;
	return rc;
}

/* keep an error set by a callee (the parser, the policy, the sink) as the verifier's */
static int fail_err(struct upd_verifier *v, struct m2m_err *err, const struct m2m_err *e)
{
	v->failed = *e;
	if (!v->failed.rc)
		v->failed.rc = M2M_ERR_FAILURE;
	v->state = V_FAILED;
	if (err)
		*err = v->failed;
	return v->failed.rc;
}

int upd_verifier_new(const struct upd_policy *pol, upd_sink_fn sink, void *ctx,
		     struct upd_verifier **out, struct m2m_err *err)
{
	struct upd_verifier *v;

	*out = NULL;
	if (!pol || !pol->trust || !*pol->trust)
		return m2m_err_set(err, M2M_ERR_CONFIG, "update: no trust anchor for package signers");
	v = calloc(1, sizeof(*v));
	if (!v)
		return m2m_err_set(err, M2M_ERR_FAILURE, "update: out of memory");
	v->pol = *pol;
	v->sink = sink;
	v->ctx = ctx;
	v->store = X509_STORE_new();
	v->md = EVP_MD_CTX_new();
	if (!v->store || !v->md) {
		upd_verifier_free(v);
		return m2m_err_set(err, M2M_ERR_FAILURE, "update: out of memory");
	}
	/* only the configured anchors: no default paths, nothing from the package */
	if (X509_STORE_load_file(v->store, pol->trust) != 1) {
		const char *why = ossl_why();

		upd_verifier_free(v);
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: no trust anchor read (%s)", pol->trust, why);
	}
	if (EVP_DigestInit_ex(v->md, EVP_sha256(), NULL) != 1) {
		upd_verifier_free(v);
		return m2m_err_set(err, M2M_ERR_FAILURE, "update: SHA-256: %s", ossl_why());
	}
	*out = v;
	return M2M_OK;
}

static void subject_line(X509 *x, char *out, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long n;

	snprintf(out, len, "?");
	if (!b)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(b, &p);
		if (n > 0)
			snprintf(out, len, "%.*s", (int)n, p);
	}
	BIO_free(b);
	/* a subject is outside input: one printable line */
	for (p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
}

/* the chain of one signer to the anchors, at time t, and its codeSigning EKU */
static int check_signer(struct upd_verifier *v, X509 *x, STACK_OF(X509) *certs, int64_t t,
			const char *who, struct m2m_err *err)
{
	X509_STORE_CTX *sc = X509_STORE_CTX_new();
	int ok, e;

	if (!sc || X509_STORE_CTX_init(sc, v->store, x, certs) != 1) {
		X509_STORE_CTX_free(sc);
		return fail(v, err, M2M_ERR_FAILURE, "signer %s: %s", who, ossl_why());
	}
	X509_STORE_CTX_set_purpose(sc, X509_PURPOSE_ANY);
	X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(sc), (time_t)t);
	ok = X509_verify_cert(sc);
	e = X509_STORE_CTX_get_error(sc);
	X509_STORE_CTX_free(sc);
	if (ok != 1)
		return fail(v, err, M2M_ERR_INTEGRITY,
			    "signer %s: not a trusted package signer: %s (at the manifest's expiry)", who,
			    X509_verify_cert_error_string(e));
	ERR_clear_error();
	if (!(X509_get_extension_flags(x) & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(x) & XKU_CODE_SIGN))
		return fail(v, err, M2M_ERR_INTEGRITY,
			    "signer %s: its certificate lacks extendedKeyUsage codeSigning", who);
	return M2M_OK;
}

static int check_meta(struct upd_verifier *v, struct m2m_err *err)
{
	const uint8_t *man = v->meta, *sig = v->meta + v->mlen;
	unsigned need = v->pol.signatures ? v->pol.signatures : 1;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(X509) *signers = NULL, *certs = NULL;
	EVP_PKEY *keys[64];
	unsigned distinct = 0;
	BIO *sb = NULL, *mb = NULL;
	struct m2m_err e = { 0 };
	const ASN1_OBJECT *ct;
	size_t used = 0;
	int rc = M2M_ERR_FAILURE, n;

	sb = BIO_new_mem_buf(sig, (int)v->slen);
	/*
	 * The content behind a buffer BIO, not a memory BIO: OpenSSL 3.0's
	 * CMS_verify copies a memory BIO's data into a BIO of its own that it
	 * leaks when the SignedData names a digest it cannot set up (found by
	 * fuzz_package: 136 bytes per hostile package)
	 */
	mb = BIO_new(BIO_f_buffer());
	if (mb) {
		BIO *raw = BIO_new_mem_buf(man, (int)v->mlen);

		if (raw)
			BIO_push(mb, raw);
		else {
			BIO_free(mb);
			mb = NULL;
		}
	}
	if (!sb || !mb) {
		rc = fail(v, err, M2M_ERR_FAILURE, "update: out of memory");
		goto out;
	}
	cms = d2i_CMS_bio(sb, NULL);
	if (!cms) {
		rc = fail(v, err, M2M_ERR_INTEGRITY, "signature: not a DER CMS structure (%s)", ossl_why());
		goto out;
	}
	ct = CMS_get0_type(cms);
	if (!ct || OBJ_obj2nid(ct) != NID_pkcs7_signed || !CMS_is_detached(cms)) {
		rc = fail(v, err, M2M_ERR_INTEGRITY, "signature: not a detached CMS SignedData");
		goto out;
	}
	/* every SignerInfo's signature over exactly these manifest bytes; the chains below */
	if (CMS_verify(cms, NULL, v->store, mb, NULL,
		       CMS_BINARY | CMS_DETACHED | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
		rc = fail(v, err, M2M_ERR_INTEGRITY, "signature: does not verify over the manifest (%s)",
			  ossl_why());
		goto out;
	}
	if (upd_manifest_parse((const char *)man, v->mlen, &v->m, &e) != M2M_OK) {
		rc = fail_err(v, err, &e);
		goto out;
	}
	signers = CMS_get0_signers(cms);
	certs = CMS_get1_certs(cms);
	n = signers ? sk_X509_num(signers) : 0;
	if (n < 1 || n > (int)(sizeof(keys) / sizeof(keys[0]))) {
		rc = fail(v, err, M2M_ERR_INTEGRITY, "signature: %d signers", n);
		goto out;
	}
	v->signers[0] = '\0';
	for (int i = 0; i < n; i++) {
		X509 *x = sk_X509_value(signers, i);
		EVP_PKEY *pk = X509_get0_pubkey(x);
		char who[256];
		bool seen = false;

		subject_line(x, who, sizeof(who));
		/* the last second the manifest is valid: see the note at the top */
		if (check_signer(v, x, certs, v->m.expires - 1, who, err) != M2M_OK) {
			rc = v->failed.rc;
			goto out;
		}
		if (!pk) {
			rc = fail(v, err, M2M_ERR_INTEGRITY, "signer %s: no public key", who);
			goto out;
		}
		/* two SignerInfos (or two certificates) of one key are one signer */
		for (unsigned j = 0; j < distinct; j++)
			if (EVP_PKEY_eq(keys[j], pk) == 1)
				seen = true;
		if (!seen) {
			keys[distinct++] = pk;
			int w = snprintf(v->signers + used, sizeof(v->signers) - used, "%s\n", who);

			if (w > 0)
				used = used + (size_t)w < sizeof(v->signers) ? used + (size_t)w
									      : sizeof(v->signers) - 1;
		}
	}
	ERR_clear_error();
	if (v->m.type == UPD_FIRMWARE && distinct < need) {
		rc = fail(v, err, M2M_ERR_INTEGRITY,
			  "signature: firmware needs %u signers with different keys, it has %u", need,
			  distinct);
		goto out;
	}
	v->genuine = true;
	if (v->pol.versions) {
		char installed[40] = "", floor[40] = "";
		struct upd_policy pol = v->pol;

		if (v->pol.versions(v->pol.versions_ctx, v->m.name, installed, sizeof(installed), floor,
				    sizeof(floor), &e) != M2M_OK) {
			rc = fail_err(v, err, &e);
			goto out;
		}
		pol.installed = installed;
		pol.floor = floor;
		if (upd_policy_check(&pol, &v->m, &e) != M2M_OK) {
			rc = fail_err(v, err, &e);
			goto out;
		}
	} else if (upd_policy_check(&v->pol, &v->m, &e) != M2M_OK) {
		rc = fail_err(v, err, &e);
		goto out;
	}
	v->verified = true;
	rc = M2M_OK;
out:
	if (rc != M2M_OK)
		v->signers[0] = '\0';
	sk_X509_pop_free(certs, X509_free);
	sk_X509_free(signers);
	CMS_ContentInfo_free(cms);
	BIO_free(sb);
	BIO_free_all(mb);
	ERR_clear_error();
	return rc;
}

int upd_verifier_feed(struct upd_verifier *v, const void *data, size_t len, struct m2m_err *err)
{
	const uint8_t *p = data;

	if (v->state == V_FAILED) {
		if (err)
			*err = v->failed;
		return v->failed.rc;
	}
	while (len > 0) {
		size_t n = 0;

		switch (v->state) {
		case V_HEADER:
			n = UPD_HEADER_LEN - v->have < len ? UPD_HEADER_LEN - v->have : len;
			memcpy(v->hdr + v->have, p, n);
			v->have += n;
			if (v->have < UPD_HEADER_LEN)
				break;
			if (memcmp(v->hdr, UPD_MAGIC, UPD_MAGIC_LEN) != 0)
				return fail(v, err, M2M_ERR_INTEGRITY, "package: not an m2m update package (no magic)");
			v->mlen = be32(v->hdr + 8);
			v->slen = be32(v->hdr + 12);
			/* checked before anything is sized from them */
			if (v->mlen < 1 || v->mlen > UPD_MANIFEST_MAX)
				return fail(v, err, M2M_ERR_INTEGRITY,
					    "package: manifest length %u not within 1..%d", v->mlen,
					    UPD_MANIFEST_MAX);
			if (v->slen < 1 || v->slen > UPD_SIG_MAX)
				return fail(v, err, M2M_ERR_INTEGRITY,
					    "package: signature length %u not within 1..%d", v->slen,
					    UPD_SIG_MAX);
			v->meta = malloc((size_t)v->mlen + v->slen);
			if (!v->meta)
				return fail(v, err, M2M_ERR_FAILURE, "update: out of memory");
			v->have = 0;
			v->state = V_META;
			break;
		case V_META: {
			size_t want = (size_t)v->mlen + v->slen - v->have;

			n = want < len ? want : len;
			memcpy(v->meta + v->have, p, n);
			v->have += n;
			if (v->have < (size_t)v->mlen + v->slen)
				break;
			if (check_meta(v, err) != M2M_OK)
				return v->failed.rc;
			free(v->meta);
			v->meta = NULL;
			v->state = V_PAYLOAD;
			break;
		}
		case V_PAYLOAD: {
			struct m2m_err e = { 0 };

			if (len > v->m.size - v->got)
				return fail(v, err, M2M_ERR_INTEGRITY,
					    "package: more than the manifest's %llu payload bytes",
					    (unsigned long long)v->m.size);
			n = len;
			if (EVP_DigestUpdate(v->md, p, n) != 1)
				return fail(v, err, M2M_ERR_FAILURE, "update: SHA-256: %s", ossl_why());
			if (v->sink && v->sink(v->ctx, p, n, &e) != M2M_OK)
				return fail_err(v, err, &e);
			v->got += n;
			break;
		}
		case V_DONE:
			return fail(v, err, M2M_ERR_INTEGRITY, "package: bytes after its end");
		case V_FAILED:
			return v->failed.rc;
		}
		p += n;
		len -= n;
		v->offset += n;
	}
	return M2M_OK;
}

const struct upd_manifest *upd_verifier_manifest(const struct upd_verifier *v)
{
	return v && v->verified ? &v->m : NULL;
}

const struct upd_manifest *upd_verifier_genuine(const struct upd_verifier *v)
{
	return v && v->genuine ? &v->m : NULL;
}

const char *upd_verifier_signers(const struct upd_verifier *v)
{
	return v && v->verified ? v->signers : "";
}

uint64_t upd_verifier_offset(const struct upd_verifier *v)
{
	return v ? v->offset : 0;
}

uint64_t upd_verifier_size(const struct upd_verifier *v)
{
	return v && v->verified ? UPD_HEADER_LEN + (uint64_t)v->mlen + v->slen + v->m.size : 0;
}

int upd_verifier_end(struct upd_verifier *v, struct m2m_err *err)
{
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned hl = 0;

	switch (v->state) {
	case V_FAILED:
		if (err)
			*err = v->failed;
		return v->failed.rc;
	case V_DONE:
		return M2M_OK;
	case V_HEADER:
	case V_META:
		return fail(v, err, M2M_ERR_INTEGRITY,
			    "package: truncated in its %s (%llu bytes)",
			    v->state == V_HEADER ? "header" : "manifest or signature",
			    (unsigned long long)v->offset);
	case V_PAYLOAD:
		break;
	}
	if (v->got != v->m.size)
		return fail(v, err, M2M_ERR_INTEGRITY, "package: truncated: %llu of %llu payload bytes",
			    (unsigned long long)v->got, (unsigned long long)v->m.size);
	if (EVP_DigestFinal_ex(v->md, h, &hl) != 1 || hl != 32)
		return fail(v, err, M2M_ERR_FAILURE, "update: SHA-256: %s", ossl_why());
	if (memcmp(h, v->m.sha256, 32) != 0)
		return fail(v, err, M2M_ERR_INTEGRITY,
			    "package: the payload's SHA-256 is not the manifest's (tampered or corrupted)");
	v->state = V_DONE;
	return M2M_OK;
}

void upd_verifier_free(struct upd_verifier *v)
{
	if (!v)
		return;
	X509_STORE_free(v->store);
	EVP_MD_CTX_free(v->md);
	free(v->meta);
	free(v);
}

int upd_verify_file(const struct upd_policy *pol, const char *path, upd_sink_fn sink, void *ctx,
		    struct upd_manifest *m, char *signers, size_t slen, struct m2m_err *err)
{
	struct upd_verifier *v = NULL;
	static const size_t block = 65536;
	uint8_t *buf = NULL;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return m2m_err_set(err, errno == ENOENT ? M2M_ERR_NOT_FOUND : M2M_ERR_FAILURE, "%s: %s",
				   path, strerror(errno));
	rc = upd_verifier_new(pol, sink, ctx, &v, err);
	if (rc != M2M_OK)
		goto out;
	buf = malloc(block);
	if (!buf) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "update: out of memory");
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf, block);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		rc = upd_verifier_feed(v, buf, (size_t)r, err);
		if (rc != M2M_OK)
			goto out;
	}
	rc = upd_verifier_end(v, err);
	if (rc == M2M_OK && signers && slen)
		snprintf(signers, slen, "%s", v->signers);
out:
	if (m && v && (rc == M2M_OK || v->genuine))
		*m = v->m;
	if (rc != M2M_OK)
		m2m_err_prefix(err, "%s", path);
	free(buf);
	upd_verifier_free(v);
	close(fd);
	return rc;
}
