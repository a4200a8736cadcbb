/* SPDX-License-Identifier: MIT */
/*
 * A TLS client connection under one deadline (pki_int.h), and the socket
 * under it and under plain HTTP: the CMP client's
 * https (RFC 6712 3.1 allows TLS under the HTTP transfer; RFC 9483 6.1).
 * OpenSSL does TLS; what is ours is the bound (a handshake polled against the
 * run's deadline and stop flag) and the one class and line for each way it
 * fails: out of time, a certificate out of its dates against our clock, a
 * certificate that does not verify, a server that does not speak TLS.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/base.h"
#include "pki/pki_int.h"

/* What the first certificate that failed verification was, for the one line. */
struct failed_cert {
	int error;
	char subject[160];
	time_t not_before, not_after;
	bool dates;
};

static int failed_idx = -1;
static pthread_once_t failed_once = PTHREAD_ONCE_INIT;

static void failed_init(void)
{
	failed_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct failed_cert *f = ssl ? SSL_get_ex_data(ssl, failed_idx) : NULL;
	X509 *c = X509_STORE_CTX_get_current_cert(x);

	if (ok || !f || f->error)
		return ok;
	f->error = X509_STORE_CTX_get_error(x);
	if (c) {
		X509_NAME_oneline(X509_get_subject_name(c), f->subject, sizeof(f->subject));
		m2m_printable(f->subject, sizeof(f->subject), f->subject, strlen(f->subject));
		struct tm a, b;

		f->dates = ASN1_TIME_to_tm(X509_get0_notBefore(c), &a) == 1 &&
			   ASN1_TIME_to_tm(X509_get0_notAfter(c), &b) == 1;
		if (f->dates) {
			f->not_before = timegm(&a);
			f->not_after = timegm(&b);
		}
	}
	return ok;
}

static bool is_ip(const char *host)
{
	unsigned char a[16];

	return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

SSL_CTX *pki_tls_ctx(const char *ca, struct m2m_err *err)
{
	static const unsigned char http11[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	bool loaded;

	if (!ctx) {
		m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		return NULL;
	}
	loaded = ca ? SSL_CTX_load_verify_file(ctx, ca) == 1 : SSL_CTX_set_default_verify_paths(ctx) == 1;
	if (!loaded) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		m2m_err_set(err, M2M_ERR_CONFIG, "%s: cannot read the CA certificates of the server's TLS certificate",
			    ca ? ca : "the system's CA certificates");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	/* HTTP/1.1 is what the CMP transfer speaks; a server may also ignore ALPN */
	SSL_CTX_set_alpn_protos(ctx, http11, sizeof(http11));
	return ctx;
}

static SSL *make_ssl(SSL_CTX *ctx, const char *host, struct m2m_err *err)
{
	SSL *ssl = SSL_new(ctx);

	if (!ssl) {
		m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		return NULL;
	}
	/* the names the certificate has (RFC 6125): not its CN when it has none */
	X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
							   X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	/* an address is checked against the certificate's IP names, a name against its DNS names */
	if (is_ip(host) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
			: SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1) {
		SSL_free(ssl);
		m2m_err_set(err, M2M_ERR_CONFIG, "%s: cannot check a TLS certificate against it", host);
		return NULL;
	}
	return ssl;
}

/*
 * The socket under HTTP and TLS: OpenSSL's socket BIO writes with write(),
 * and a peer that has closed its end would end the calling program with
 * SIGPIPE (TLS sends an alert as it fails); this one sends with MSG_NOSIGNAL.
 */
static BIO_METHOD *sock_method;
static pthread_once_t sock_once = PTHREAD_ONCE_INIT;

static int sock_fd(BIO *b)
{
	return (int)(intptr_t)BIO_get_data(b);
}

static int sock_write(BIO *b, const char *buf, int len)
{
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = send(sock_fd(b), buf, (size_t)len, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_write(b);
	return (int)n;
}

static int sock_read(BIO *b, char *buf, int len)
{
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = recv(sock_fd(b), buf, (size_t)len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		BIO_set_retry_read(b);
	return (int)n;
}

static long sock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_C_GET_FD:
		if (ptr)
			*(int *)ptr = sock_fd(b);
		return sock_fd(b);
	case BIO_CTRL_GET_CLOSE:
		return BIO_get_shutdown(b);
	case BIO_CTRL_SET_CLOSE:
		BIO_set_shutdown(b, (int)num);
		return 1;
	default:
		return 0;
	}
}

static int sock_destroy(BIO *b)
{
	if (BIO_get_init(b) && BIO_get_shutdown(b))
		close(sock_fd(b));
	BIO_set_init(b, 0);
	return 1;
}

static void sock_method_init(void)
{
	int type = BIO_get_new_index();
	BIO_METHOD *m = type > 0 ? BIO_meth_new(type | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
						 "m2m socket") : NULL;

	if (!m)
		return;
	if (!BIO_meth_set_write(m, sock_write) || !BIO_meth_set_read(m, sock_read) ||
	    !BIO_meth_set_ctrl(m, sock_ctrl) || !BIO_meth_set_destroy(m, sock_destroy)) {
		BIO_meth_free(m);
		return;
	}
	sock_method = m;
}

BIO *pki_sock_bio(int fd)
{
	BIO *b;

	pthread_once(&sock_once, sock_method_init);
	b = sock_method ? BIO_new(sock_method) : NULL;
	if (!b) {
		close(fd);
		return NULL;
	}
	BIO_set_data(b, (void *)(intptr_t)fd);
	BIO_set_shutdown(b, 1);
	BIO_set_init(b, 1);
	return b;
}

/* Why the handshake failed, in one class and line. */
static int handshake_failed(SSL *ssl, const struct failed_cert *f, int ssl_err, int sys_errno,
			    const char *who, const char *ca, struct m2m_err *err)
{
	long v = SSL_get_verify_result(ssl);
	unsigned long e = ERR_peek_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;
	int rc;

	if (v != X509_V_OK) {
		int fe = f->error ? f->error : (int)v;

		if ((fe == X509_V_ERR_CERT_NOT_YET_VALID || fe == X509_V_ERR_CERT_HAS_EXPIRED) &&
		    f->dates) {
			char what[220];

			snprintf(what, sizeof(what), "%s's TLS certificate %s", who, f->subject);
			rc = pki_check_validity(f->not_before, f->not_after, time(NULL), what, err);
			if (rc)
				return rc;
		}
		bool chain = fe == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
			     fe == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
			     fe == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
			     fe == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN;

		return m2m_err_set(err, M2M_ERR_AUTH_REMOTE, "%s's TLS certificate%s%s: %s%s%s%s", who,
				   f->subject[0] ? " " : "", f->subject,
				   X509_verify_cert_error_string(fe),
				   chain ? " (not from a CA in " : "",
				   chain ? (ca ? ca : "the system's store") : "", chain ? ")" : "");
	}
	/* a reset or a closed end is a peer that dropped us, as a close is: not a network failure */
	if (ssl_err == SSL_ERROR_SYSCALL && sys_errno && sys_errno != ECONNRESET && sys_errno != EPIPE &&
	    !e)
		return m2m_err_set(err, M2M_ERR_UNREACHABLE, "%s: TLS handshake: %s", who,
				   strerror(sys_errno));
	if (ssl_err == SSL_ERROR_SYSCALL || (e && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
		return m2m_err_set(err, M2M_ERR_PROTOCOL,
				   "%s closed the connection in the TLS handshake (not a TLS server?)", who);
	return m2m_err_set(err, M2M_ERR_PROTOCOL, "%s: TLS handshake failed: %s%s", who,
			   reason ? reason : "unknown error",
			   e && ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER ? " (not a TLS server?)" : "");
}

BIO *pki_tls_connect(SSL_CTX *ctx, int fd, const char *host, const char *ca, const char *who,
		     uint64_t deadline_ms, volatile const int *stop, struct m2m_err *err)
{
	struct failed_cert f = { 0 };
	BIO *sock, *bio;
	SSL *ssl;

	pthread_once(&failed_once, failed_init);
	if (failed_idx < 0) {
		close(fd);
		m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		return NULL;
	}
	ssl = make_ssl(ctx, host, err);
	sock = ssl ? pki_sock_bio(fd) : NULL;
	bio = sock ? BIO_new(BIO_f_ssl()) : NULL;
	if (!bio) {
		if (ssl && !err->rc)
			m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		SSL_free(ssl);
		if (sock)
			BIO_free(sock);
		else if (!ssl)
			close(fd); /* pki_sock_bio() closes it when it fails */
		return NULL;
	}
	/* the SSL owns the socket BIO (and so the fd), the SSL BIO owns the SSL */
	SSL_set_bio(ssl, sock, sock);
	BIO_set_ssl(bio, ssl, BIO_CLOSE);
	SSL_set_ex_data(ssl, failed_idx, &f);
	SSL_set_connect_state(ssl);
	for (;;) {
		int n, e, sys;

		ERR_clear_error();
		errno = 0;
		n = SSL_do_handshake(ssl);
		sys = errno;
		if (n == 1)
			break;
		e = SSL_get_error(ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (m2m_wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline_ms, stop))
				continue;
			m2m_err_set(err, M2M_ERR_TIMEOUT, "%s: no TLS handshake within the time limit", who);
		} else {
			handshake_failed(ssl, &f, e, sys, who, ca, err);
		}
		SSL_set_ex_data(ssl, failed_idx, NULL);
		BIO_free_all(bio);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_ex_data(ssl, failed_idx, NULL);
	return bio;
}
