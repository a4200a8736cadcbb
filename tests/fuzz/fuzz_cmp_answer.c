/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the CA's answers to a CMP run (lib/pki/cmp.c, pki_cmp_run). The first
 * byte picks the run: ir, kur or rr, MAC-protected (reference and secret) or signed
 * (a certificate of the fuzzer's own CA), and one of two servers:
 *  - raw: each answer is the input's next chunk (a 2-byte big-endian length and that
 *    many bytes) decoded by OpenSSL (d2i_OSSL_CMP_MSG, as the HTTP transfer does) and
 *    checked by OSSL_CMP; random transaction IDs and nonces stop most of them at the
 *    header, so this one is for the decoder and the early checks;
 *  - a CA in process (OpenSSL's OSSL_CMP_SRV_CTX with the same secret or trust), whose
 *    answers are well-formed and protected but whose content comes from the input: the
 *    PKIStatus, failInfo and text of each answer, and the certificate it issues (for
 *    our key, for another key, not yet valid, expired, from a CA we do not trust, or
 *    DER bytes from the input), a waiting that turns into pollReps. This one reaches
 *    our certificate check, the certConf and every branch of the classification.
 * A pollRep cannot make the fuzzer wait: the deadline is 50 ms away, and a wait past it
 * ends the run. Besides not crashing or leaking: the result is one of the documented
 * codes with a message, and a certificate is handed out only with its PEM and facts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/cmp.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/base.h"
#include "pki/pki.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *key, *other;
static X509 *ca, *issued[5]; /* for our key: valid now; for another key; not yet valid; expired; by a rogue CA */
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

static X509 *make(const char *cn, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *signer, long serial,
		  long from, long to)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	if (!x || !n)
		abort();
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509_set_pubkey(x, pub);
	if (!issuer) { /* a CA */
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");

		if (!e || !X509_add_ext(x, e, -1))
			abort();
		X509_EXTENSION_free(e);
	}
	if (!X509_sign(x, signer, EVP_sha256()))
		abort();
	X509_NAME_free(n);
	return x;
}

/*
 * once: our key, a self-signed CA certificate of it (the trust, and the certificate
 * a signed request goes with), another key, and the certificates the CA may issue
 */
static void init(void)
{
	X509 *rogue;

	if (key)
		return;
	key = EVP_EC_gen("P-256");
	other = EVP_EC_gen("P-256");
	if (!key || !other)
		abort();
	ca = make("fuzz", key, NULL, key, 1, -3600, 86400);
	rogue = make("rogue", other, NULL, other, 2, -3600, 86400);
	issued[0] = make("dev1.lab", key, ca, key, 10, -60, 86400);
	issued[1] = make("dev1.lab", other, ca, key, 11, -60, 86400);
	issued[2] = make("dev1.lab", key, ca, key, 12, 86400, 2 * 86400);
	issued[3] = make("dev1.lab", key, ca, key, 13, -2 * 86400, -86400);
	issued[4] = make("dev1.lab", key, rogue, other, 14, -60, 86400);
	X509_free(rogue);
	write_pem(trust, ca);
	write_pem(cert, ca);
	atexit(cleanup);
}

/* ---- the CA in process: what it answers comes from the input ---- */

static uint8_t take(struct feed *f)
{
	uint8_t b = f->n ? f->p[0] : 0;

	if (f->n) {
		f->p++;
		f->n--;
	}
	return b;
}

static OSSL_CMP_PKISI *status_of(struct feed *f, int *status)
{
	static const char *const texts[] = { NULL, "no", "not today", "policy says no" };
	int st = take(f) % 7, fi = (take(f) << 8 | take(f)) & ((1 << 27) - 1);

	if (status)
		*status = st;
	if (st == OSSL_CMP_PKISTATUS_accepted || st == OSSL_CMP_PKISTATUS_grantedWithMods ||
	    st == OSSL_CMP_PKISTATUS_waiting)
		fi = 0; /* OpenSSL's server takes failInfo only with a rejection */
	return OSSL_CMP_STATUSINFO_new(st, fi, texts[take(f) % 4]);
}

static X509 *cert_of(struct feed *f)
{
	uint8_t which = take(f) % 6;

	if (which < 5)
		return X509_dup(issued[which]);
	{
		size_t len = take(f);
		const unsigned char *p = f->p;
		X509 *x;

		if (len > f->n)
			len = f->n;
		x = d2i_X509(NULL, &p, (long)len);
		f->p += len;
		f->n -= len;
		return x ? x : X509_dup(issued[0]);
	}
}

static OSSL_CMP_MSG *pending_req;

static OSSL_CMP_PKISI *srv_cert_request(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req, int id,
					const OSSL_CRMF_MSG *crm, const X509_REQ *p10,
					X509 **out, STACK_OF(X509) **chain, STACK_OF(X509) **capubs)
{
	struct feed *f = OSSL_CMP_SRV_CTX_get0_custom_ctx(srv);
	int st = 0;
	OSSL_CMP_PKISI *si = status_of(f, &st);

	(void)id, (void)crm, (void)p10, (void)chain, (void)capubs;
	if (st == OSSL_CMP_PKISTATUS_waiting) {
		OSSL_CMP_MSG_free(pending_req);
		pending_req = OSSL_CMP_MSG_dup(req);
	} else if (st != OSSL_CMP_PKISTATUS_rejection) {
		*out = cert_of(f);
	}
	return si;
}

static int srv_poll(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req, int id, OSSL_CMP_MSG **cr,
		    int64_t *after)
{
	struct feed *f = OSSL_CMP_SRV_CTX_get0_custom_ctx(srv);

	(void)req, (void)id;
	*after = take(f) % 3;
	if (take(f) & 1 && pending_req) {
		*cr = pending_req; /* decided: the request again, answered as a new one */
		pending_req = NULL;
	} else {
		*cr = NULL;
	}
	return 1;
}

static OSSL_CMP_PKISI *srv_rr(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req,
			      const X509_NAME *issuer, const ASN1_INTEGER *serial)
{
	(void)req, (void)issuer, (void)serial;
	return status_of(OSSL_CMP_SRV_CTX_get0_custom_ctx(srv), NULL);
}

static int srv_certconf(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req, int id,
			const ASN1_OCTET_STRING *hash, const OSSL_CMP_PKISI *si)
{
	(void)srv, (void)req, (void)id, (void)hash, (void)si;
	return 1;
}

static void srv_error(OSSL_CMP_SRV_CTX *srv, const OSSL_CMP_MSG *req, const OSSL_CMP_PKISI *si,
		      const ASN1_INTEGER *code, const OSSL_CMP_PKIFREETEXT *details)
{
	(void)srv, (void)req, (void)si, (void)code, (void)details;
}

static int srv_log(const char *func, const char *file, int line, OSSL_CMP_severity level,
		   const char *msg)
{
	(void)func, (void)file, (void)line, (void)level, (void)msg;
	return 1;
}

struct srv {
	OSSL_CMP_SRV_CTX *ctx;
	struct feed *f;
};

static OSSL_CMP_MSG *answer_srv(void *arg, const OSSL_CMP_MSG *req, struct m2m_err *err)
{
	struct srv *s = arg;
	OSSL_CMP_MSG *m = OSSL_CMP_SRV_process_request(s->ctx, req);

	if (!m)
		m2m_err_set(err, M2M_ERR_PROTOCOL, "the CA in process did not answer");
	return m;
}

static OSSL_CMP_SRV_CTX *srv_new(struct feed *f, bool mac, const unsigned char *secret, size_t len)
{
	OSSL_CMP_SRV_CTX *srv = OSSL_CMP_SRV_CTX_new(NULL, NULL);
	OSSL_CMP_CTX *c = srv ? OSSL_CMP_SRV_CTX_get0_cmp_ctx(srv) : NULL;
	X509_STORE *ts = X509_STORE_new();

	if (!c || !ts || !X509_STORE_add_cert(ts, ca) ||
	    !OSSL_CMP_SRV_CTX_init(srv, f, srv_cert_request, srv_rr, NULL, srv_error, srv_certconf,
				   srv_poll))
		abort();
	OSSL_CMP_CTX_set_log_cb(c, srv_log);
	OSSL_CMP_CTX_set0_trustedStore(c, ts);
	if (mac) {
		OSSL_CMP_CTX_set1_referenceValue(c, (const unsigned char *)"1234", 4);
		OSSL_CMP_CTX_set1_secretValue(c, secret, (int)len);
	} else {
		OSSL_CMP_CTX_set1_cert(c, ca);
		OSSL_CMP_CTX_set1_pkey(c, key);
	}
	OSSL_CMP_SRV_CTX_set_grant_implicit_confirm(srv, take(f) & 1);
	return srv;
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
	struct srv srv = { 0 };
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
	op = (enum pki_cmp_op)((data[0] & 3) % 3);
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
	if (data[0] & 0x20) {
		srv.f = &f;
		srv.ctx = srv_new(&f, r.reference != NULL, secret, sizeof(secret) - 1);
		r.transfer = answer_srv;
		r.transfer_arg = &srv;
	} else {
		r.transfer = answer;
		r.transfer_arg = &f;
	}
	memset(&info, 0, sizeof(info));
	rc = pki_cmp_run(op, &r, op == PKI_CMP_RR ? NULL : &pem, &info, &err);
	if (getenv("FUZZ_CMP_SAY")) /* what a seed reaches: FUZZ_CMP_SAY=1 fuzz_cmp_answer SEED */
		fprintf(stderr, "op %d: %d %s\n", (int)op, rc, rc ? err.msg : info.subject);
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
	OSSL_CMP_SRV_CTX_free(srv.ctx);
	OSSL_CMP_MSG_free(pending_req);
	pending_req = NULL;
	return 0;
}
