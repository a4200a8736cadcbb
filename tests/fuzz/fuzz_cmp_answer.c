/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the CA's answers to a CMP run (lib/pki/cmp.c, pki_cmp_run), end to end
 * from the bytes a server sends: each answer is decoded by OpenSSL (d2i_OSSL_CMP_MSG,
 * as the HTTP transfer does), checked by OSSL_CMP (protection, nonces, status) and by
 * our certificate check, and every failure classified. The first byte picks the run:
 * ir, kur or rr, MAC-protected (reference and secret) or signed (a certificate of the
 * fuzzer's own CA). Then answers follow, each a 2-byte big-endian length and that many
 * bytes; when they run out the "server" closes. A pollRep cannot make the fuzzer wait:
 * the deadline is 50 ms away, and a wait past it ends the run. Besides not crashing
 * or leaking: the result is one of the documented codes with a message, and a
 * certificate is handed out only with its PEM and its facts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base/base.h"
#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *key;
static char trust[64], cert[64];

struct feed {
	const uint8_t *p;
	size_t n;
};

static void write_pem(char *path, X509 *x)
{
	int fd;
	FILE *fp;

	strcpy(path, "/tmp/m2m-fuzz-cmp-XXXXXX");
	fd = mkstemp(path);
	fp = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!fp || !PEM_write_X509(fp, x))
		abort();
	fclose(fp);
}

static void cleanup(void)
{
	unlink(trust);
	unlink(cert);
}

/* once: a key, a self-signed CA certificate of it (the trust) and a device certificate */
static void init(void)
{
	X509 *x;
	X509_NAME *n;

	if (key)
		return;
	key = EVP_EC_gen("P-256");
	x = X509_new();
	n = X509_NAME_new();
	if (!key || !x || !n)
		abort();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz", -1, -1, 0);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, key);
	if (!X509_sign(x, key, EVP_sha256()))
		abort();
	write_pem(trust, x);
	write_pem(cert, x);
	X509_NAME_free(n);
	X509_free(x);
	atexit(cleanup);
}

static OSSL_CMP_MSG *answer(void *arg, const OSSL_CMP_MSG *req, struct m2m_err *err)
{
	struct feed *f = arg;
	const unsigned char *p;
	OSSL_CMP_MSG *m;
	size_t len;

	if (f->n < 2) {
		m2m_err_set(err, M2M_ERR_PROTOCOL, "closed");
		return NULL;
	}
	len = (size_t)f->p[0] << 8 | f->p[1];
	f->p += 2;
	f->n -= 2;
	if (len > f->n)
		len = f->n;
	p = f->p;
	m = d2i_OSSL_CMP_MSG(NULL, &p, (long)len);
	f->p += len;
	f->n -= len;
	if (!m)
		m2m_err_set(err, M2M_ERR_PROTOCOL, "not CMP");
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sans[] = { "dev1.lab", NULL };
	static const unsigned char secret[] = "s3cret";
	struct feed f;
	struct pki_cmp r = { 0 };
	struct m2m_cert_info info;
	struct m2m_err err = { 0 };
	enum pki_cmp_op op;
	char *pem = NULL;
	int rc;

	if (size < 1)
		return 0;
	init();
	f.p = data + 1;
	f.n = size - 1;
	op = (enum pki_cmp_op)(data[0] % 3);
	r.server = "http://127.0.0.1/pkix/";
	r.trust = trust;
	r.recipient = data[0] & 8 ? "CN=CMP Mock Server" : NULL;
	if (data[0] & 4 || op != PKI_CMP_IR)
		r.cert = cert;
	if (!(data[0] & 4)) {
		r.reference = "1234";
		r.secret = secret;
		r.secret_len = sizeof(secret) - 1;
	}
	r.key = key;
	r.subject = "CN=dev1.lab";
	r.sans = sans;
	r.reason = data[0] & 16 ? 4 : -1;
	r.deadline_ms = m2m_now_ms() + 50;
	r.transfer = answer;
	r.transfer_arg = &f;
	memset(&info, 0, sizeof(info));
	rc = pki_cmp_run(op, &r, op == PKI_CMP_RR ? NULL : &pem, &info, &err);
	switch (rc) {
	case M2M_OK:
		if (op != PKI_CMP_RR && (!pem || strncmp(pem, "-----BEGIN CERTIFICATE-----", 27) ||
					 !memchr(info.subject, 0, sizeof(info.subject))))
			abort();
		break;
	case M2M_ERR_TIMEOUT: case M2M_ERR_UNREACHABLE: case M2M_ERR_AUTH_LOCAL:
	case M2M_ERR_AUTH_REMOTE: case M2M_ERR_CREDENTIAL: case M2M_ERR_CLOCK:
	case M2M_ERR_PROTOCOL: case M2M_ERR_FAILURE:
		if (pem || !err.msg[0] || !memchr(err.msg, 0, sizeof(err.msg)))
			abort();
		break;
	default:
		abort();
	}
	free(pem);
	return 0;
}
