/* SPDX-License-Identifier: MIT */
/*
 * The http and https pull over libcurl. A resume asks for the rest with
 * Range (CURLOPT_RESUME_FROM_LARGE) and If-Range with the saved ETag (RFC
 * 7233 3.2): the server sends the rest (206) only if the resource is the
 * one whose first bytes we have, and the whole (200) otherwise. The answer
 * is judged in the header callback, before a byte of its body is written:
 * a 206 must start at our offset (Content-Range); a 200 to a Range is a
 * server that ignores Range or a resource that changed, and the file starts
 * again from byte 0 (never the whole appended to a part: the lab saw
 * CURLOPT_RANGE do that, and libcurl refuses a 200 after RESUME_FROM with
 * CURLE_RANGE_ERROR, so the whole is asked for again without a Range); a 416
 * is a file already complete when the server's size is our offset.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "base/base.h"
#include "update/fetch.h"
#include "update/fetch_http.h"

/*
 * libcurl is loaded with dlopen() on the first http or https pull, not when a
 * tool starts: with the 27 libraries it brings (Kerberos, LDAP, GnuTLS,
 * ...) it adds about 4.5 MB to the resident size of every run, which a coap
 * pull, an install from a file, a status or a commit never use (the 8 MB
 * bound on an update's RSS). Only its header is needed at build time.
 */
static struct {
	bool ok;
	CURLcode (*global_init)(long);
	const char *(*easy_strerror)(CURLcode);
	curl_version_info_data *(*version_info)(CURLversion);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	void (*easy_cleanup)(CURL *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	bool openssl; /* its TLS is OpenSSL's (or a fork's): its verify result is an X509_V_ERR_* */
	/* its OpenSSL is ours (the same major and minor: the same libssl.so loaded once), so
	   its SSL_CTX may be handed to us (CURLOPT_SSL_CTX_FUNCTION) */
	bool our_ssl;
	int ssl_idx;  /* our SSL_CTX ex_data: the struct upd_http of the handshake */
} cl;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);

	if (!h)
		return;
	*(void **)&cl.global_init = dlsym(h, "curl_global_init");
	*(void **)&cl.easy_strerror = dlsym(h, "curl_easy_strerror");
	*(void **)&cl.version_info = dlsym(h, "curl_version_info");
	*(void **)&cl.easy_getinfo = dlsym(h, "curl_easy_getinfo");
	*(void **)&cl.easy_init = dlsym(h, "curl_easy_init");
	*(void **)&cl.easy_setopt = dlsym(h, "curl_easy_setopt");
	*(void **)&cl.easy_perform = dlsym(h, "curl_easy_perform");
	*(void **)&cl.easy_cleanup = dlsym(h, "curl_easy_cleanup");
	*(void **)&cl.slist_append = dlsym(h, "curl_slist_append");
	*(void **)&cl.slist_free_all = dlsym(h, "curl_slist_free_all");
	if (!cl.global_init || !cl.easy_strerror || !cl.version_info || !cl.easy_getinfo ||
	    !cl.easy_init || !cl.easy_setopt || !cl.easy_perform || !cl.easy_cleanup ||
	    !cl.slist_append || !cl.slist_free_all) {
		dlclose(h);
		return;
	}
	/* kept loaded: libcurl's global state (and OpenSSL's) outlives any one pull */
	curl_init_rc = cl.global_init(CURL_GLOBAL_DEFAULT);
	{
		const curl_version_info_data *v = cl.version_info(CURLVERSION_NOW);
		const char *tls = v && v->ssl_version ? v->ssl_version : "";

		unsigned major, minor;

		cl.openssl = !strncmp(tls, "OpenSSL/", 8) || !strncmp(tls, "LibreSSL/", 9) ||
			     !strncmp(tls, "BoringSSL", 9) || !strncmp(tls, "quictls/", 8);
		cl.our_ssl = sscanf(tls, "OpenSSL/%u.%u", &major, &minor) == 2 &&
			     major == OPENSSL_VERSION_MAJOR && minor == OPENSSL_VERSION_MINOR &&
			     (OpenSSL_version_num() >> 28) == major &&
			     (cl.ssl_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL)) >= 0;
	}
	cl.ok = true;
}

/*
 * A header's value: leading and trailing blanks off, NUL-terminated into out.
 * False if it does not fit (it is then cut): a value judged must be whole.
 */
static bool header_value(const char *v, size_t len, char *out, size_t outlen)
{
	bool whole;

	while (len && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (len && isspace((unsigned char)v[len - 1]))
		len--;
	whole = len < outlen;
	if (!whole)
		len = outlen - 1;
	memcpy(out, v, len);
	out[len] = 0;
	return whole;
}

/* 1*DIGIT into 64 bits (none: false; more than 64 bits hold: false) */
static bool parse_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t n = 0;

	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (n > (UINT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*out = n;
	*p = s;
	return true;
}

/*
 * RFC 9110 14.4:
 *   Content-Range     = range-unit SP ( range-resp / unsatisfied-range )
 *   range-resp        = incl-range "/" ( complete-length / "*" )
 *   incl-range        = first-pos "-" last-pos
 *   unsatisfied-range = "*" "/" complete-length
 * invalid if last-pos < first-pos, or complete-length <= last-pos.
 */
bool upd_http_content_range(const char *v, struct upd_http_range *r)
{
	memset(r, 0, sizeof(*r));
	if (strncasecmp(v, "bytes ", 6))
		return false;
	v += 6;
	if (*v == '*') {
		v++;
		r->star = true;
		return *v++ == '/' && parse_u64(&v, &r->total) && !*v;
	}
	if (!parse_u64(&v, &r->first) || *v++ != '-' || !parse_u64(&v, &r->last) ||
	    r->last < r->first || *v++ != '/')
		return false;
	if (*v == '*')
		return !v[1]; /* total 0: not known */
	return parse_u64(&v, &r->total) && !*v && r->total > r->last;
}

/* the saved ETag may go in If-Range: a strong one only (RFC 7233 3.2) */
static bool strong_etag(const char *e)
{
	return e[0] == '"' && strlen(e) >= 2 && e[strlen(e) - 1] == '"';
}

/*
 * An answer that says "not now" rather than "not this" is UNREACHABLE, so that
 * the journal keeps the pull and the next try resumes it (a Range from the
 * last checkpoint): 503, a temporary overload or maintenance (RFC 9110
 * 15.6.4); 502 and 504, a gateway's upstream server failed or did not answer
 * in time (15.6.3, 15.6.5); 429, too many requests (RFC 6585 4). Any other
 * is PROTOCOL: the update fails.
 */
static int status_rc(long code)
{
	return code == 429 || code == 502 || code == 503 || code == 504 ? M2M_ERR_UNREACHABLE :
									  M2M_ERR_PROTOCOL;
}

/*
 * The final answer's headers are all in: is its body the rest of our file,
 * the whole from byte 0, or not ours at all? false stops the transfer.
 */
static bool decide(struct upd_http *h)
{
	struct upd_fetch_io *io = h->io;
	struct upd_fetch_state *st = io->st;
	const char *url = io->o->url;

	switch (h->code) {
	case 206:
		if (!h->ranged || !h->has_range || h->range.star || h->range.first != st->offset) {
			h->rc = m2m_err_set(io->err, M2M_ERR_PROTOCOL,
					    "%s: a 206 that does not start at byte %" PRIu64, url,
					    st->offset);
			return false;
		}
		if (st->etag[0] && h->etag[0] && strcmp(st->etag, h->etag)) {
			/* a server that does not heed If-Range, and the resource changed */
			h->restart = true;
			return false;
		}
		if (h->range.total && (h->rc = upd_io_total(io, h->range.total)))
			return false;
		if (!st->etag[0])
			snprintf(st->etag, sizeof(st->etag), "%s", h->etag);
		if ((h->rc = upd_io_continue(io)))
			return false;
		break;
	case 200:
		if (h->ranged) {
			h->restart = true;
			return false;
		}
		snprintf(st->etag, sizeof(st->etag), "%s", h->etag);
		if (h->has_len && (h->rc = upd_io_total(io, h->len)))
			return false;
		break;
	case 416:
		/* nothing from our offset on: whole if the server's size is ours */
		if (h->ranged && ((h->has_range && h->range.star && h->range.total == st->offset) ||
				  (!h->has_range && io->o->expected == st->offset))) {
			h->complete = true;
			st->total = st->offset;
			break;
		}
		h->restart = true;
		return false;
	case 404:
	case 410:
		h->rc = m2m_err_set(io->err, M2M_ERR_NOT_FOUND, "%s: HTTP %ld (not found)", url,
				    h->code);
		return false;
	case 401:
	case 403:
	case 407:
		h->rc = m2m_err_set(io->err, M2M_ERR_AUTH_LOCAL, "%s: HTTP %ld (refused)", url,
				    h->code);
		return false;
	default:
		h->rc = m2m_err_set(io->err, status_rc(h->code), "%s: HTTP %ld", url, h->code);
		return false;
	}
	h->decided = true;
	return true;
}

void upd_http_start(struct upd_http *h, struct upd_fetch_io *io)
{
	memset(h, 0, sizeof(*h));
	h->io = io;
	h->ranged = io->st->offset > 0;
}

/* The status code of a status line (RFC 9112 4: HTTP-version SP 3DIGIT SP ...); 0: none */
static long status_code(const char *b, size_t len)
{
	const char *p = memchr(b, ' ', len);
	size_t at = p ? (size_t)(p - b) + 1 : len;

	if (len - at < 3 || !isdigit((unsigned char)b[at]) || !isdigit((unsigned char)b[at + 1]) ||
	    !isdigit((unsigned char)b[at + 2]) || (len - at > 3 && isdigit((unsigned char)b[at + 3])))
		return 0;
	return (b[at] - '0') * 100 + (b[at + 1] - '0') * 10 + (b[at + 2] - '0');
}

size_t upd_http_header(struct upd_http *h, const char *b, size_t len)
{
	h->header_bytes += len;
	if (h->header_bytes > UPD_HTTP_HEADERS_MAX) {
		h->rc = m2m_err_set(h->io->err, M2M_ERR_PROTOCOL,
				    "%s: the server sent more than %u KiB of header lines", h->io->o->url,
				    UPD_HTTP_HEADERS_MAX / 1024);
		return 0;
	}
	/* after the final answer's headers only its trailers (chunked): it was judged */
	if (h->decided)
		return len;
	if (len >= 5 && strncmp(b, "HTTP/", 5) == 0) {
		/* a new answer (after a 1xx or a redirect): forget the last one's headers */
		h->code = status_code(b, len);
		h->etag[0] = h->location[0] = 0;
		h->has_range = h->has_len = h->location_long = false;
		return len;
	}
	if (len && len <= 2 && (b[0] == '\r' || b[0] == '\n')) {
		/* the end of an answer's headers: an interim 1xx is not the answer */
		if (h->code >= 100 && h->code < 200)
			return len;
		/* nor a redirect that libcurl follows (or refuses to: http_once says so) */
		if (h->code >= 300 && h->code < 400) {
			if (h->location[0])
				return len;
			h->rc = m2m_err_set(h->io->err, M2M_ERR_PROTOCOL,
					    "%s: HTTP %ld and no Location to follow", h->io->o->url,
					    h->code);
			return 0;
		}
		return decide(h) ? len : 0;
	}
	if (len > 5 && strncasecmp(b, "etag:", 5) == 0) {
		header_value(b + 5, len - 5, h->etag, sizeof(h->etag));
	} else if (len > 9 && strncasecmp(b, "location:", 9) == 0) {
		h->location_long = !header_value(b + 9, len - 9, h->location, sizeof(h->location));
	} else if (len > 14 && strncasecmp(b, "content-range:", 14) == 0) {
		char v[128];

		h->has_range = header_value(b + 14, len - 14, v, sizeof(v)) &&
			       upd_http_content_range(v, &h->range);
	} else if (len > 15 && strncasecmp(b, "content-length:", 15) == 0) {
		char v[32];
		const char *p = v;

		h->has_len = header_value(b + 15, len - 15, v, sizeof(v)) &&
			     parse_u64(&p, &h->len) && !*p;
	}
	return len;
}

static size_t on_header(char *b, size_t size, size_t n, void *ctx)
{
	return upd_http_header(ctx, b, size * n);
}

static size_t on_body(char *b, size_t size, size_t n, void *ctx)
{
	struct upd_http *h = ctx;
	size_t len = size * n;

	if (!h->decided) {
		h->rc = m2m_err_set(h->io->err, M2M_ERR_PROTOCOL, "%s: a body before its headers",
				    h->io->o->url);
		return 0;
	}
	if (h->complete)
		return len; /* the 416's own text */
	if ((h->rc = upd_io_write(h->io, b, len)))
		return 0;
	return len;
}

static int on_xfer(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct upd_http *h = ctx;

	(void)dt, (void)dn, (void)ut, (void)un;
	return h->io->o->stop && *h->io->o->stop;
}

/*
 * The server's chain failed OpenSSL's check of its validity period: a server
 * whose certificate expired, or a device whose clock is wrong (an RTC that
 * lost its time reads 1970 or its build date). CLOCK, not AUTH_REMOTE: the
 * server is not known to be untrusted. The words are lib/pki's
 * (pki_check_validity: "expired on", "is not valid before", "check the
 * clock"), with our clock. libcurl keeps no certificate of a handshake it
 * refused (CURLINFO_CERTINFO is empty then): the certificate and its dates
 * come from our verify callback (on_verify), when libcurl's OpenSSL is ours;
 * without it, the message has our clock only. No CRL is set for the pull
 * (CURLOPT_CRLFILE), so a CRL's own period is never checked.
 */
static int clock_error(struct upd_http *h)
{
	char now[32], when[32];
	time_t t = time(NULL), at;
	struct tm tm;
	bool expired = h->verify == X509_V_ERR_CERT_HAS_EXPIRED;

	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%d %H:%M:%SZ", &tm);
	at = expired ? h->not_after : h->not_before;
	if (!h->cert[0] || !at)
		return m2m_err_set(h->io->err, M2M_ERR_CLOCK,
				   "%s: the server's certificate (or one of its chain) %s (check the "
				   "clock: ours says %s)", h->io->o->url,
				   expired ? "has expired" : "is not valid yet", now);
	gmtime_r(&at, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm);
	return m2m_err_set(h->io->err, M2M_ERR_CLOCK,
			   "%s: the server's %scertificate %s %s %s (check the clock: ours says %s)",
			   h->io->o->url, h->cert_depth ? "CA " : "", h->cert,
			   expired ? "expired on" : "is not valid before", when, now);
}

/*
 * A redirect that libcurl did not follow: to a scheme other than ours
 * (CURLOPT_REDIR_PROTOCOLS_STR: http or https; https only from https), or
 * to what libcurl cannot read as a URL (scheme false). The
 * server's answer, not our configuration: PROTOCOL (LwM2M: Update Result 8,
 * not 9, which E.6 keeps for a Package URI of a scheme we do not speak).
 * The Location is the server's: shown to UPD_HTTP_LOCATION bytes at most,
 * anything not printable ASCII as '?'.
 */
static int redirect_error(struct upd_http *h, bool scheme)
{
	const char *why = !scheme ? "not a URL" :
			  upd_fetch_scheme(h->io->o->url) == UPD_SCHEME_HTTPS ? "https only" :
										  "http and https only";
	char to[UPD_HTTP_LOCATION + 1];
	size_t i;

	for (i = 0; h->location[i]; i++)
		to[i] = h->location[i] > ' ' && h->location[i] < 0x7f ? h->location[i] : '?';
	to[i] = 0;
	return m2m_err_set(h->io->err, M2M_ERR_PROTOCOL,
			   "%s: HTTP %ld redirected to %s%s: not followed (%s)", h->io->o->url, h->code,
			   to, h->location_long ? "..." : "", why);
}

/* libcurl's failure as one of ours */
static int curl_error(struct upd_http *h, CURLcode cc, const char *detail)
{
	struct upd_fetch_io *io = h->io;
	const char *url = io->o->url;
	const char *why = detail[0] ? detail : cl.easy_strerror(cc);
	uint64_t got = io->st->offset;

	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return m2m_err_set(io->err, M2M_ERR_UNREACHABLE, "%s: %s", url, why);
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return m2m_err_set(io->err, M2M_ERR_UNREACHABLE,
				   "%s: the connection was lost at byte %" PRIu64 " (%s)", url, got,
				   why);
	case CURLE_OPERATION_TIMEDOUT:
		if (io->deadline && m2m_now_ms() >= io->deadline)
			return m2m_err_set(io->err, M2M_ERR_TIMEOUT,
					   "%s: not complete within %u ms (%" PRIu64 " bytes)", url,
					   io->o->timeout_ms, got);
		return m2m_err_set(io->err, M2M_ERR_TIMEOUT, "%s: %s", url, why);
	case CURLE_ABORTED_BY_CALLBACK:
		return m2m_err_set(io->err, M2M_ERR_TIMEOUT, "%s: stopped at byte %" PRIu64, url,
				   got);
	case CURLE_PEER_FAILED_VERIFICATION:
		if (h->verify == X509_V_ERR_CERT_HAS_EXPIRED ||
		    h->verify == X509_V_ERR_CERT_NOT_YET_VALID)
			return clock_error(h);
		/* fall through */
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return m2m_err_set(io->err, M2M_ERR_AUTH_REMOTE,
				   "%s: the server's certificate: %s", url, why);
	case CURLE_SSL_CACERT_BADFILE:
		return m2m_err_set(io->err, M2M_ERR_CONFIG, "%s: CA file %s: %s", url,
				   io->o->ca ? io->o->ca : "(system)", why);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		if (h->code >= 300 && h->code < 400 && h->location[0])
			return redirect_error(h, cc == CURLE_UNSUPPORTED_PROTOCOL);
		return m2m_err_set(io->err, M2M_ERR_CONFIG, "%s: %s", url, why);
	case CURLE_OUT_OF_MEMORY:
		return m2m_err_set(io->err, M2M_ERR_FAILURE, "%s: out of memory", url);
	default:
		return m2m_err_set(io->err, M2M_ERR_PROTOCOL, "%s: %s", url, why);
	}
}

/* ASN1_TIME as time_t (0 if it cannot be read) */
static time_t asn1_time(const ASN1_TIME *a)
{
	struct tm tm;

	if (!a || ASN1_TIME_to_tm(a, &tm) != 1)
		return 0;
	return timegm(&tm);
}

/*
 * OpenSSL's verify callback on the server's chain: the certificate whose
 * dates failed is kept (its name and dates for the message), and the
 * verdict is left as it was (and to libcurl's own callback, if it has one).
 */
static int on_verify(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct upd_http *h = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cl.ssl_idx) : NULL;
	int e = X509_STORE_CTX_get_error(x);
	X509 *c = X509_STORE_CTX_get_current_cert(x);

	if (!h)
		return ok;
	if (!ok && !h->cert[0] && c &&
	    (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID)) {
		X509_NAME_oneline(X509_get_subject_name(c), h->cert, sizeof(h->cert));
		h->cert_depth = X509_STORE_CTX_get_error_depth(x);
		h->not_before = asn1_time(X509_get0_notBefore(c));
		h->not_after = asn1_time(X509_get0_notAfter(c));
	}
	return h->verify_next ? h->verify_next(ok, x) : ok;
}

static CURLcode on_ssl_ctx(CURL *e, void *ctx, void *arg)
{
	struct upd_http *h = arg;

	(void)e;
	h->verify_next = SSL_CTX_get_verify_callback(ctx);
	if (!SSL_CTX_set_ex_data(ctx, cl.ssl_idx, h))
		return CURLE_OK; /* the message without the dates */
	SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), on_verify);
	return CURLE_OK;
}

/* One request: from st->offset (a Range) or from 0 */
static int http_once(struct upd_fetch_io *io, struct upd_http *h)
{
	const struct upd_fetch_opts *o = io->o;
	struct upd_fetch_state *st = io->st;
	char errbuf[CURL_ERROR_SIZE] = "", ifrange[160];
	struct curl_slist *hdrs = NULL;
	unsigned connect_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 30000;
	unsigned stall_ms = o->stall_ms ? o->stall_ms : 60000;
	CURLcode cc;
	CURL *e;
	int rc;

	upd_http_start(h, io);
	if (!(e = cl.easy_init()))
		return m2m_err_set(io->err, M2M_ERR_FAILURE, "libcurl: cannot start");
	cl.easy_setopt(e, CURLOPT_URL, o->url);
	/* a redirect may not leave https for http: a libcurl too old to say so is refused */
	if (cl.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    cl.easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR,
			   upd_fetch_scheme(o->url) == UPD_SCHEME_HTTPS ? "https" : "http,https") !=
		    CURLE_OK) {
		cl.easy_cleanup(e);
		return m2m_err_set(io->err, M2M_ERR_DEVICE, "libcurl: too old to restrict the protocols "
				   "of a transfer and its redirects (7.85 or later needed)");
	}
	cl.easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	cl.easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	cl.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	cl.easy_setopt(e, CURLOPT_USERAGENT, "m2m-update/1");
	cl.easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	/* TLS verification is never off: no option turns it off */
	cl.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	cl.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca)
		cl.easy_setopt(e, CURLOPT_CAINFO, o->ca);
	if (cl.our_ssl && upd_fetch_scheme(o->url) == UPD_SCHEME_HTTPS) {
		cl.easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
		cl.easy_setopt(e, CURLOPT_SSL_CTX_DATA, h);
	}
	if (io->deadline) {
		unsigned left = upd_io_left_ms(io);

		cl.easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)left);
		if (connect_ms > left)
			connect_ms = left;
	}
	cl.easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
	/* less than a byte a second for the stall time: the server has stopped sending */
	cl.easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	cl.easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)(stall_ms + 999) / 1000);
	if (h->ranged) {
		cl.easy_setopt(e, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)st->offset);
		if (strong_etag(st->etag)) {
			snprintf(ifrange, sizeof(ifrange), "If-Range: %s", st->etag);
			if (!(hdrs = cl.slist_append(NULL, ifrange))) {
				cl.easy_cleanup(e);
				return m2m_err_set(io->err, M2M_ERR_FAILURE, "out of memory");
			}
			cl.easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
		}
	}
	cl.easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	cl.easy_setopt(e, CURLOPT_HEADERDATA, h);
	cl.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	cl.easy_setopt(e, CURLOPT_WRITEDATA, h);
	cl.easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_xfer);
	cl.easy_setopt(e, CURLOPT_XFERINFODATA, h);
	cl.easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	cc = cl.easy_perform(e);
	if (cc == CURLE_PEER_FAILED_VERIFICATION && cl.openssl &&
	    cl.easy_getinfo(e, CURLINFO_SSL_VERIFYRESULT, &h->verify) != CURLE_OK)
		h->verify = 0;
	cl.easy_cleanup(e);
	cl.slist_free_all(hdrs);
	if (h->rc)
		return h->rc;
	if (h->restart)
		return M2M_OK;
	if (cc == CURLE_RANGE_ERROR) {
		/* libcurl's own verdict on a resume: judged as a 200 would be */
		h->restart = true;
		return M2M_OK;
	}
	if (cc != CURLE_OK)
		return curl_error(h, cc, errbuf);
	rc = M2M_OK;
	if (!h->decided)
		rc = m2m_err_set(io->err, M2M_ERR_PROTOCOL, "%s: no answer", o->url);
	return rc;
}

int upd_fetch_http(struct upd_fetch_io *io)
{
	struct upd_http h;
	int rc;

	pthread_once(&curl_once, curl_init);
	if (!cl.ok)
		return m2m_err_set(io->err, M2M_ERR_DEVICE,
				   "%s: http and https need libcurl.so.4: not installed (libcurl4)",
				   io->o->url);
	if (curl_init_rc != CURLE_OK)
		return m2m_err_set(io->err, M2M_ERR_FAILURE, "libcurl: %s",
				   cl.easy_strerror(curl_init_rc));
	/* at most: the resume refused, then the whole */
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((rc = http_once(io, &h)))
			return rc;
		if (!h.restart)
			return M2M_OK;
		if ((rc = upd_io_restart(io)))
			return rc;
	}
	return m2m_err_set(io->err, M2M_ERR_PROTOCOL, "%s: the server does not send it from byte 0",
			   io->o->url);
}
