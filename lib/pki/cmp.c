/* SPDX-License-Identifier: MIT */
/*
 * CMP (RFC 4210, RFC 9483's profile) with the CA's server over HTTP (RFC
 * 6712): see cmp.h. OpenSSL's OSSL_CMP makes and checks the messages; the
 * transfer callback here connects and moves them with OpenSSL's HTTP request
 * code in non-blocking mode, polled by us against one deadline.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/cmperr.h>
#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/httperr.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/base.h"
#include "pki/pki_int.h"

/* one wait of the loop: the stop flag is seen at least this often */
#define SLICE_MS 100

struct cmp_io {
	const struct pki_cmp *r;
	struct m2m_err *err;       /* the first failure of ours (transport, our check of the answer) */
	bool failed;
	char host[256], port[8], path[512], hosthdr[272], who[300];
	bool tls;                  /* https:// */
	SSL_CTX *tls_ctx;          /* https: made once, before the first connection */
	X509_STORE *trust;         /* for the issued certificate */
	bool rejected;             /* we refused the issued certificate (in the certConf) ... */
	struct m2m_err verdict;    /* ... and why: it goes to the caller, the certConf to the CA */
};

static unsigned left_ms(const struct pki_cmp *r)
{
	uint64_t now = m2m_now_ms(), left = now >= r->deadline_ms ? 0 : r->deadline_ms - now;

	return left > INT_MAX ? INT_MAX : (unsigned)left; /* poll() takes an int */
}

static bool stopped(const struct pki_cmp *r)
{
	return r->stop && *r->stop;
}

static void io_fail(struct cmp_io *io, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void io_fail(struct cmp_io *io, int rc, const char *fmt, ...)
{
	char msg[sizeof(io->err->msg)];
	va_list ap;

	if (io->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	io->failed = true;
	m2m_err_set(io->err, rc, "%s", msg);
}

static void io_timeout(struct cmp_io *io, const char *what)
{
	if (stopped(io->r))
		io_fail(io, M2M_ERR_TIMEOUT, "stopped while %s", what);
	else
		io_fail(io, M2M_ERR_TIMEOUT, "the CA's server %s:%s: no answer in time (%s)", io->host,
			io->port, what);
}

/* http://host[:port]/path into io (the config checked the form; this checks again) */
static bool split_url(struct cmp_io *io, const char *url)
{
	const char *h, *end, *hend, *p;
	size_t n;

	io->tls = strncmp(url, "https://", 8) == 0;
	if (!io->tls && strncmp(url, "http://", 7) != 0)
		return false;
	h = url + (io->tls ? 8 : 7);
	end = h + strcspn(h, "/");
	if (*h == '[') {
		hend = memchr(h, ']', (size_t)(end - h));
		if (!hend)
			return false;
		n = (size_t)(hend - h - 1);
		if (n == 0 || n >= sizeof(io->host))
			return false;
		memcpy(io->host, h + 1, n);
		p = hend + 1;
	} else {
		hend = h + strcspn(h, ":/");
		n = (size_t)(hend - h);
		if (n == 0 || n >= sizeof(io->host))
			return false;
		memcpy(io->host, h, n);
		p = hend;
	}
	io->host[n] = '\0';
	if (*p == ':') {
		n = (size_t)(end - p - 1);
		if (n == 0 || n >= sizeof(io->port))
			return false;
		memcpy(io->port, p + 1, n);
		io->port[n] = '\0';
	} else if (p == end) {
		strcpy(io->port, io->tls ? "443" : "80");
	} else {
		return false;
	}
	if (strlen(*end ? end : "/") >= sizeof(io->path))
		return false;
	strcpy(io->path, *end ? end : "/");
	/* Host: as the URL has it (RFC 9110 7.2) */
	snprintf(io->hosthdr, sizeof(io->hosthdr), "%.*s", (int)(end - h), h);
	snprintf(io->who, sizeof(io->who), "the CA's server %s:%s", io->host, io->port);
	return true;
}

/* wait for ev on fd until the deadline: 1 ready, 0 timed out or stopped */
static int wait_fd(struct cmp_io *io, int fd, short ev)
{
	return m2m_wait_fd(fd, ev, io->r->deadline_ms, io->r->stop);
}

static int connect_to(struct cmp_io *io)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	struct m2m_err lerr;
	int fd = -1, last = 0;

	m2m_err_clear(&lerr);
	if (m2m_resolve(io->host, io->port, &hints, left_ms(io->r), io->r->stop, &res, &lerr)) {
		if (lerr.rc == M2M_ERR_TIMEOUT && !stopped(io->r))
			lerr.rc = M2M_ERR_UNREACHABLE;
		io_fail(io, left_ms(io->r) ? lerr.rc : M2M_ERR_TIMEOUT, "the CA's server: %s", lerr.msg);
		return -1;
	}
	fd = m2m_connect_any(res, io->r->deadline_ms, io->r->stop, &last);
	freeaddrinfo(res);
	if (fd < 0 && !last)
		io_timeout(io, "connecting");
	else if (fd < 0)
		io_fail(io, M2M_ERR_UNREACHABLE, "the CA's server %s:%s: %s", io->host, io->port,
			strerror(last));
	return fd;
}

/* Text from the network goes to a terminal: no control characters (an escape sequence) in it. */
static void printable(char *s)
{
	size_t n = strlen(s);

	m2m_printable(s, n + 1, s, n);
}

/* What OpenSSL's HTTP code says went wrong, with the detail it keeps ("code=500,reason=..."). */
static void http_error(struct cmp_io *io)
{
	unsigned long e, first = 0;
	const char *data = NULL, *d;
	char detail[128];
	int flags;

	while ((e = ERR_get_error_all(NULL, NULL, NULL, &d, &flags)) != 0) {
		if (!first) {
			first = e;
			if ((flags & ERR_TXT_STRING) && d && *d) {
				snprintf(detail, sizeof(detail), "%s", d);
				printable(detail);
				data = detail;
			}
		}
	}
	if (first && ERR_GET_LIB(first) == ERR_LIB_HTTP &&
	    (ERR_GET_REASON(first) == HTTP_R_MAX_RESP_LEN_EXCEEDED ||
	     ERR_GET_REASON(first) == HTTP_R_ASN1_LEN_EXCEEDS_MAX_RESP_LEN))
		io_fail(io, M2M_ERR_PROTOCOL, "the CA's server %s:%s: answer longer than %u bytes",
			io->host, io->port, PKI_CMP_MAX_ANSWER);
	else if (first)
		io_fail(io, M2M_ERR_PROTOCOL, "the CA's server %s:%s: not a CMP answer: %s%s%.120s",
			io->host, io->port, ERR_reason_error_string(first) ?: "unknown error",
			data ? ": " : "", data ? data : "");
	else
		io_fail(io, M2M_ERR_PROTOCOL, "the CA's server %s:%s: not a CMP answer", io->host,
			io->port);
}

/* One request, one answer: a connection each (no keep-alive, RFC 6712 3.4 allows either). */
static OSSL_CMP_MSG *transfer(OSSL_CMP_CTX *ctx, const OSSL_CMP_MSG *req)
{
	struct cmp_io *io = OSSL_CMP_CTX_get_transfer_cb_arg(ctx);
	OSSL_HTTP_REQ_CTX *rctx = NULL;
	ASN1_VALUE *val = NULL;
	BIO *bio = NULL;
	int fd, n;

	if (io->failed)
		return NULL;
	if (io->r->transfer) {
		OSSL_CMP_MSG *m = io->r->transfer(io->r->transfer_arg, req, io->err);

		if (!m)
			io->failed = true;
		return m;
	}
	if (stopped(io->r) || left_ms(io->r) == 0) {
		io_timeout(io, "before a request");
		return NULL;
	}
	fd = connect_to(io);
	if (fd < 0)
		return NULL;
	if (io->tls) {
		struct m2m_err terr;

		m2m_err_clear(&terr);
		bio = pki_tls_connect(io->tls_ctx, fd, io->host, io->r->tls_ca, io->who,
				      io->r->deadline_ms, io->r->stop, &terr);
		if (!bio) {
			if (terr.rc == M2M_ERR_TIMEOUT)
				io_timeout(io, "the TLS handshake");
			else
				io_fail(io, terr.rc, "%s", terr.msg);
			return NULL;
		}
	} else {
		bio = pki_sock_bio(fd); /* closes fd if it cannot be made */
	}
	if (!bio) {
		io_fail(io, M2M_ERR_FAILURE, "out of memory");
		return NULL;
	}
	rctx = OSSL_HTTP_REQ_CTX_new(bio, bio, 0);
	if (!rctx || !OSSL_HTTP_REQ_CTX_set_request_line(rctx, 1, NULL, NULL, io->path) ||
	    !OSSL_HTTP_REQ_CTX_add1_header(rctx, "Host", io->hosthdr) ||
	    !OSSL_HTTP_REQ_CTX_set_expected(rctx, "application/pkixcmp", 1, 0, 0) ||
	    !OSSL_HTTP_REQ_CTX_set1_req(rctx, "application/pkixcmp", ASN1_ITEM_rptr(OSSL_CMP_MSG),
					(const ASN1_VALUE *)req)) {
		io_fail(io, M2M_ERR_FAILURE, "cannot make the HTTP request");
		goto out;
	}
	OSSL_HTTP_REQ_CTX_set_max_response_length(rctx, PKI_CMP_MAX_ANSWER);
	for (;;) {
		ERR_set_mark();
		n = OSSL_HTTP_REQ_CTX_nbio_d2i(rctx, &val, ASN1_ITEM_rptr(OSSL_CMP_MSG));
		if (n == 1)
			break;
		if (n == 0) {
			http_error(io);
			break;
		}
		ERR_pop_to_mark();
		if (!wait_fd(io, fd, BIO_should_write(bio) ? POLLOUT : POLLIN)) {
			io_timeout(io, "exchanging a message");
			break;
		}
	}
out:
	OSSL_HTTP_REQ_CTX_free(rctx);
	BIO_free_all(bio);
	if (io->failed) {
		ASN1_item_free(val, ASN1_ITEM_rptr(OSSL_CMP_MSG));
		return NULL;
	}
	return (OSSL_CMP_MSG *)val;
}

static void reject(struct cmp_io *io, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reject(struct cmp_io *io, int rc, const char *fmt, ...)
{
	va_list ap;

	if (io->rejected)
		return;
	io->rejected = true;
	io->verdict.rc = rc;
	va_start(ap, fmt);
	vsnprintf(io->verdict.msg, sizeof(io->verdict.msg), fmt, ap);
	va_end(ap);
}

/* Does cert chain to our trust anchors, with what the CA sent as intermediates? 0, or the X509 error. */
static int verify_issued(OSSL_CMP_CTX *ctx, X509_STORE *trust, X509 *cert)
{
	STACK_OF(X509) *inter = OSSL_CMP_CTX_get1_extraCertsIn(ctx);
	STACK_OF(X509) *chain = OSSL_CMP_CTX_get1_newChain(ctx);
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	int e = X509_V_ERR_OUT_OF_MEM;

	if (!inter)
		inter = sk_X509_new_null();
	for (int i = 0; inter && chain && i < sk_X509_num(chain); i++)
		if (X509_add_cert(inter, sk_X509_value(chain, i), X509_ADD_FLAG_UP_REF) != 1)
			break;
	if (inter && vc && X509_STORE_CTX_init(vc, trust, cert, inter) == 1)
		e = X509_verify_cert(vc) == 1 ? 0 : X509_STORE_CTX_get_error(vc);
	X509_STORE_CTX_free(vc);
	sk_X509_pop_free(inter, X509_free);
	sk_X509_pop_free(chain, X509_free);
	ERR_clear_error();
	return e;
}

/*
 * Before the certificate is confirmed (RFC 4210 5.3.18): it must be for our
 * key, chain to the trust anchors and be valid now; else we reject it in the
 * certConf (which still goes to the CA) and write nothing.
 */
static int check_new_cert(OSSL_CMP_CTX *ctx, X509 *cert, int fail_info, const char **text)
{
	struct cmp_io *io = OSSL_CMP_CTX_get_certConf_cb_arg(ctx);
	EVP_PKEY *ours = OSSL_CMP_CTX_get0_newPkey(ctx, 0);
	const int incorrect = 1 << OSSL_CMP_PKIFAILUREINFO_incorrectData;
	char subj[256] = "";
	int e;

	if (!cert)
		return fail_info;
	X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
	if (fail_info != 0 || (ours && EVP_PKEY_eq(X509_get0_pubkey(cert), ours) != 1)) {
		/* OpenSSL's own check (3.0: the key) or ours */
		reject(io, M2M_ERR_CREDENTIAL, "the CA issued certificate %s for another key than ours%s%s: not taken",
		       subj, *text ? ": " : "", *text ? *text : "");
		if (!*text)
			*text = "public key does not match the requested one";
		return fail_info ? fail_info : incorrect;
	}
	e = verify_issued(ctx, io->trust, cert);
	if (e == X509_V_ERR_CERT_NOT_YET_VALID || e == X509_V_ERR_CERT_HAS_EXPIRED) {
		reject(io, M2M_ERR_CLOCK, "the CA issued certificate %s, which is not valid now (%s; check the clock): not taken",
		       subj, X509_verify_cert_error_string(e));
		*text = "certificate not valid now";
		return 1 << OSSL_CMP_PKIFAILUREINFO_badTime;
	}
	if (e) {
		reject(io, M2M_ERR_AUTH_REMOTE, "the CA issued certificate %s, which does not chain to %s (%s): not taken",
		       subj, io->r->trust, X509_verify_cert_error_string(e));
		*text = "certificate does not chain to our trust anchors";
		return incorrect;
	}
	return 0;
}

/* The first CMP reason of OpenSSL's error queue (0: none), and its text. */
static int cmp_reason(char *text, size_t len)
{
	unsigned long e;
	int reason = 0;

	text[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		if (reason || ERR_GET_LIB(e) != ERR_LIB_CMP)
			continue;
		reason = ERR_GET_REASON(e);
		snprintf(text, len, "%s", ERR_reason_error_string(e) ?: "unknown error");
	}
	return reason;
}

/* The run failed: say why, from the CA's status, OpenSSL's reason, or our own note. */
static int classify(struct cmp_io *io, OSSL_CMP_CTX *ctx, const struct pki_cmp *r)
{
	char st[OSSL_CMP_PKISI_BUFLEN], why[160];
	int reason = cmp_reason(why, sizeof(why));
	int status = OSSL_CMP_CTX_get_status(ctx), fi = OSSL_CMP_CTX_get_failInfoCode(ctx);

	if (io->rejected) {
		/* ours: the CA's answer to our rejecting certConf adds nothing */
		if (io->err)
			*io->err = io->verdict;
		return io->verdict.rc;
	}
	if (io->failed)
		return io->err ? io->err->rc : M2M_ERR_FAILURE;
	if (status == OSSL_CMP_PKISTATUS_rejection && fi > 0) {
		const int auth = (1 << OSSL_CMP_PKIFAILUREINFO_badMessageCheck) |
				 (1 << OSSL_CMP_PKIFAILUREINFO_wrongIntegrity) |
				 (1 << OSSL_CMP_PKIFAILUREINFO_signerNotTrusted) |
				 (1 << OSSL_CMP_PKIFAILUREINFO_notAuthorized) |
				 (1 << OSSL_CMP_PKIFAILUREINFO_wrongAuthority);

		if (!OSSL_CMP_CTX_snprint_PKIStatus(ctx, st, sizeof(st)))
			snprintf(st, sizeof(st), "rejection");
		printable(st);
		if (fi & auth)
			return m2m_err_set(io->err, M2M_ERR_AUTH_LOCAL,
					   "the CA refused our %s: %s",
					   r->reference ? "reference and secret" : "certificate", st);
		if (fi & (1 << OSSL_CMP_PKIFAILUREINFO_badTime))
			return m2m_err_set(io->err, M2M_ERR_CLOCK,
					   "the CA says our clock is wrong (check the clock): %s", st);
		if (fi & (1 << OSSL_CMP_PKIFAILUREINFO_certRevoked))
			return m2m_err_set(io->err, M2M_ERR_CREDENTIAL,
					   "the CA says our certificate is revoked: %s", st);
		return m2m_err_set(io->err, M2M_ERR_PROTOCOL, "the CA rejected the request: %s", st);
	}
	if (status == OSSL_CMP_PKISTATUS_rejection) {
		if (!OSSL_CMP_CTX_snprint_PKIStatus(ctx, st, sizeof(st)))
			snprintf(st, sizeof(st), "rejection");
		printable(st);
		return m2m_err_set(io->err, M2M_ERR_PROTOCOL, "the CA rejected the request: %s", st);
	}
	switch (reason) {
	case CMP_R_WRONG_PBM_VALUE:
		/* the CA protected its answer with another secret than ours: ours is wrong, most likely */
		return m2m_err_set(io->err, M2M_ERR_AUTH_LOCAL,
				   "the CA's answer is protected with another secret than ours: the secret or the reference (%s) is wrong",
				   r->reference ? r->reference : "none");
	case CMP_R_ERROR_VALIDATING_PROTECTION:
	case CMP_R_ERROR_VALIDATING_SIGNATURE:
	case CMP_R_NO_SUITABLE_SENDER_CERT:
	case CMP_R_SRVCERT_DOES_NOT_VALIDATE_MSG:
	case CMP_R_MISSING_PROTECTION:
	case CMP_R_MISSING_TRUST_STORE:
		return m2m_err_set(io->err, M2M_ERR_AUTH_REMOTE,
				   "the CA's answer does not verify against %s: %s", r->trust, why);
	case CMP_R_CERT_AND_KEY_DO_NOT_MATCH:
		return m2m_err_set(io->err, M2M_ERR_CREDENTIAL, "the certificate %s does not go with our key",
				   r->cert ? r->cert : "");
	case CMP_R_ERROR_CALCULATING_PROTECTION:
	case CMP_R_ERROR_PROTECTING_MESSAGE:
	case CMP_R_ERROR_CREATING_CERTREQ:
	case CMP_R_MISSING_PRIVATE_KEY:
	case CMP_R_MISSING_PRIVATE_KEY_FOR_POPO:
		return m2m_err_set(io->err, M2M_ERR_CREDENTIAL, "cannot sign the request with our key: %s",
				   why);
	case 0:
		return m2m_err_set(io->err, M2M_ERR_PROTOCOL, "CMP with %s failed", r->server);
	default:
		if (status >= 0 && OSSL_CMP_CTX_snprint_PKIStatus(ctx, st, sizeof(st))) {
			printable(st);
			return m2m_err_set(io->err, M2M_ERR_PROTOCOL, "CMP with %s: %s (%s)", r->server,
					   why, st);
		}
		return m2m_err_set(io->err, M2M_ERR_PROTOCOL, "CMP with %s: %s", r->server, why);
	}
}

/* the library never prints: what matters reaches the caller through err */
static int no_log(const char *func, const char *file, int line, OSSL_CMP_severity level,
		  const char *msg)
{
	(void)func, (void)file, (void)line, (void)level, (void)msg;
	return 1;
}

static int setup(OSSL_CMP_CTX *ctx, enum pki_cmp_op op, const struct pki_cmp *r, struct cmp_io *io,
		 X509 **cert, struct m2m_err *err)
{
	X509_STORE *ts = X509_STORE_new();
	X509_NAME *name = NULL;
	int rc = M2M_OK;

	if (!ts || X509_STORE_load_file(ts, r->trust) != 1) {
		X509_STORE_free(ts);
		ERR_clear_error();
		return m2m_err_set(err, M2M_ERR_CONFIG, "trust anchors %s: cannot read them", r->trust);
	}
	io->trust = ts;
	if (!X509_STORE_up_ref(ts) || !OSSL_CMP_CTX_set0_trustedStore(ctx, ts))
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	OSSL_CMP_CTX_set_log_cb(ctx, no_log);
	OSSL_CMP_CTX_set_transfer_cb(ctx, transfer);
	OSSL_CMP_CTX_set_transfer_cb_arg(ctx, io);
	OSSL_CMP_CTX_set_certConf_cb(ctx, check_new_cert);
	OSSL_CMP_CTX_set_certConf_cb_arg(ctx, io);
	/* our deadline bounds the run; OpenSSL's whole-second timers stay off */
	OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_MSG_TIMEOUT, 0);
	OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_TOTAL_TIMEOUT, 0);
	if (r->recipient) {
		name = pki_parse_dn(r->recipient, err);
		if (!name)
			return err ? err->rc : M2M_ERR_CONFIG;
		OSSL_CMP_CTX_set1_recipient(ctx, name);
		X509_NAME_free(name);
	}
	if (r->cert) {
		*cert = pki_read_cert(r->cert, err);
		if (!*cert)
			return err ? err->rc : M2M_ERR_CREDENTIAL;
	}
	if (r->reference) {
		if (!OSSL_CMP_CTX_set1_referenceValue(ctx, (const unsigned char *)r->reference,
						      (int)strlen(r->reference)) ||
		    !OSSL_CMP_CTX_set1_secretValue(ctx, r->secret, (int)r->secret_len))
			return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	} else {
		if (!*cert)
			return m2m_err_set(err, M2M_ERR_CONFIG,
					   "no reference and secret, and no certificate to sign the request with");
		if (!OSSL_CMP_CTX_set1_cert(ctx, *cert) || !OSSL_CMP_CTX_set1_pkey(ctx, r->key))
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
					 "the certificate %s does not go with our key", r->cert);
	}
	if (rc)
		return rc;
	if (op == PKI_CMP_KUR || op == PKI_CMP_RR) {
		if (!*cert)
			return m2m_err_set(err, M2M_ERR_CONFIG, "no certificate to %s",
					   op == PKI_CMP_KUR ? "renew" : "revoke");
		OSSL_CMP_CTX_set1_oldCert(ctx, *cert);
	}
	if (op == PKI_CMP_RR) {
		if (r->reason >= 0)
			OSSL_CMP_CTX_set_option(ctx, OSSL_CMP_OPT_REVOCATION_REASON, r->reason);
		return M2M_OK;
	}
	/* a new key at renewal: its proof of possession, the message still signed with the old */
	if (op == PKI_CMP_KUR && r->new_key) {
		if (!EVP_PKEY_up_ref(r->new_key) || !OSSL_CMP_CTX_set0_newPkey(ctx, 1, r->new_key))
			return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		return M2M_OK;
	}
	if (!EVP_PKEY_up_ref(r->key) || !OSSL_CMP_CTX_set0_newPkey(ctx, 1, r->key))
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	if (op == PKI_CMP_IR) {
		if (!r->subject)
			return m2m_err_set(err, M2M_ERR_CONFIG, "no subject to ask for");
		name = pki_parse_dn(r->subject, err);
		if (!name)
			return err ? err->rc : M2M_ERR_CONFIG;
		OSSL_CMP_CTX_set1_subjectName(ctx, name);
		X509_NAME_free(name);
		for (const char *const *s = r->sans; s && *s; s++) {
			GENERAL_NAME *g = pki_parse_san(*s, err);

			if (!g)
				return err ? err->rc : M2M_ERR_CONFIG;
			rc = OSSL_CMP_CTX_push1_subjectAltName(ctx, g) ? M2M_OK : M2M_ERR_FAILURE;
			GENERAL_NAME_free(g);
			if (rc)
				return m2m_err_set(err, rc, "out of memory");
		}
	}
	return M2M_OK;
}

/* A CA that says "waiting" names when to ask again (pollRep, RFC 4210 5.3.22): wait, within the deadline. */
static bool wait_poll(struct cmp_io *io, int after_s)
{
	uint64_t until = m2m_now_ms() + (uint64_t)(after_s > 0 ? after_s : 1) * 1000;

	if (until > io->r->deadline_ms) {
		io_fail(io, M2M_ERR_TIMEOUT,
			"the CA has not decided yet: it asks to wait %d s more, past the time limit",
			after_s > 0 ? after_s : 1);
		return false;
	}
	while (m2m_now_ms() < until) {
		uint64_t rest = until - m2m_now_ms();

		if (!m2m_sleep_ms(rest < SLICE_MS ? (unsigned)rest : SLICE_MS, io->r->stop)) {
			io_timeout(io, "waiting for the CA's decision");
			return false;
		}
	}
	return true;
}

static int result(X509 *x, char **pem, struct m2m_cert_info *info, struct m2m_err *err)
{
	BIO *mem = BIO_new(BIO_s_mem());
	BUF_MEM *bm = NULL;

	if (info)
		pki_fill_info(x, info);
	if (!pem) {
		BIO_free(mem);
		return M2M_OK;
	}
	if (!mem || !PEM_write_bio_X509(mem, x)) {
		BIO_free(mem);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	BIO_get_mem_ptr(mem, &bm);
	*pem = strndup(bm->data, bm->length);
	BIO_free(mem);
	return *pem ? M2M_OK : m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
}

int pki_cmp_run(enum pki_cmp_op op, const struct pki_cmp *r, char **pem, struct m2m_cert_info *info,
		struct m2m_err *err)
{
	struct cmp_io io = { .r = r, .err = err };
	OSSL_CMP_CTX *ctx;
	X509 *cert = NULL;
	int rc;

	if (pem)
		*pem = NULL;
	if (!r->transfer && !split_url(&io, r->server))
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: not an http(s)://host[:port]/path URL",
				   r->server);
	if (r->transfer)
		snprintf(io.host, sizeof(io.host), "test"), strcpy(io.port, "0");
	/* the CA file of an https server read before any network step, as trust is */
	if (io.tls && !(io.tls_ctx = pki_tls_ctx(r->tls_ca, err)))
		return err ? err->rc : M2M_ERR_CONFIG;
	ctx = OSSL_CMP_CTX_new(NULL, NULL);
	if (!ctx) {
		SSL_CTX_free(io.tls_ctx);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	ERR_clear_error();
	rc = setup(ctx, op, r, &io, &cert, err);
	if (rc)
		goto out;
	if (op == PKI_CMP_RR) {
		if (OSSL_CMP_exec_RR_ses(ctx) != 1)
			rc = classify(&io, ctx, r);
		goto out;
	}
	for (;;) {
		int after = 0, n;

		n = OSSL_CMP_try_certreq(ctx, op == PKI_CMP_IR ? OSSL_CMP_IR : OSSL_CMP_KUR, NULL, &after);
		if (n == 1)
			break;
		if (n == 0 || !wait_poll(&io, after)) {
			rc = classify(&io, ctx, r);
			goto out;
		}
	}
	if (!OSSL_CMP_CTX_get0_newCert(ctx)) {
		rc = m2m_err_set(err, M2M_ERR_PROTOCOL, "CMP with %s: no certificate in the answer",
				 r->server);
		goto out;
	}
	rc = result(OSSL_CMP_CTX_get0_newCert(ctx), pem, info, err);
out:
	X509_free(cert);
	X509_STORE_free(io.trust);
	SSL_CTX_free(io.tls_ctx);
	OSSL_CMP_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}
