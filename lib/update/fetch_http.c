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
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "base/base.h"
#include "update/fetch.h"

struct http {
	struct upd_fetch_io *io;
	bool ranged;            /* this request asked for the bytes from st->offset on */
	long code;              /* the status of the answer whose headers are arriving */
	char etag[132];
	bool has_range, range_star, has_len;
	uint64_t range_first, range_total, len;
	bool decided;           /* the final answer's headers judged: its body may come */
	bool complete;          /* 416: we have it all; its body is not ours */
	bool restart;           /* a 200 to a Range: ask again for the whole */
	int rc;                 /* our verdict that stopped the transfer */
};

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
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	void (*easy_cleanup)(CURL *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
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
	*(void **)&cl.easy_init = dlsym(h, "curl_easy_init");
	*(void **)&cl.easy_setopt = dlsym(h, "curl_easy_setopt");
	*(void **)&cl.easy_perform = dlsym(h, "curl_easy_perform");
	*(void **)&cl.easy_cleanup = dlsym(h, "curl_easy_cleanup");
	*(void **)&cl.slist_append = dlsym(h, "curl_slist_append");
	*(void **)&cl.slist_free_all = dlsym(h, "curl_slist_free_all");
	if (!cl.global_init || !cl.easy_strerror || !cl.easy_init || !cl.easy_setopt ||
	    !cl.easy_perform || !cl.easy_cleanup || !cl.slist_append || !cl.slist_free_all) {
		dlclose(h);
		return;
	}
	/* kept loaded: libcurl's global state (and OpenSSL's) outlives any one pull */
	curl_init_rc = cl.global_init(CURL_GLOBAL_DEFAULT);
	cl.ok = true;
}

/* A header's value: leading and trailing blanks off, NUL-terminated into out */
static void header_value(const char *v, size_t len, char *out, size_t outlen)
{
	while (len && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (len && isspace((unsigned char)v[len - 1]))
		len--;
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, v, len);
	out[len] = 0;
}

static bool parse_u64(const char **p, uint64_t *out)
{
	char *end;

	if (!isdigit((unsigned char)**p))
		return false;
	errno = 0;
	*out = strtoull(*p, &end, 10);
	if (errno)
		return false;
	*p = end;
	return true;
}

/* Content-Range (RFC 7233 4.2): "bytes FIRST-LAST/TOTAL" (TOTAL may be "*"), or "bytes *" "/TOTAL" */
static void parse_content_range(struct http *h, const char *v)
{
	uint64_t last;

	if (strncasecmp(v, "bytes ", 6))
		return;
	v += 6;
	if (*v == '*') {
		v++;
		if (*v++ != '/' || !parse_u64(&v, &h->range_total))
			return;
		h->range_star = h->has_range = true;
		return;
	}
	if (!parse_u64(&v, &h->range_first) || *v++ != '-' || !parse_u64(&v, &last) ||
	    last < h->range_first || *v++ != '/')
		return;
	if (*v == '*')
		h->range_total = 0;
	else if (!parse_u64(&v, &h->range_total) || last >= h->range_total)
		return;
	h->has_range = true;
}

/* the saved ETag may go in If-Range: a strong one only (RFC 7233 3.2) */
static bool strong_etag(const char *e)
{
	return e[0] == '"' && strlen(e) >= 2 && e[strlen(e) - 1] == '"';
}

/*
 * The final answer's headers are all in: is its body the rest of our file,
 * the whole from byte 0, or not ours at all? false stops the transfer.
 */
static bool decide(struct http *h)
{
	struct upd_fetch_io *io = h->io;
	struct upd_fetch_state *st = io->st;
	const char *url = io->o->url;

	switch (h->code) {
	case 206:
		if (!h->ranged || !h->has_range || h->range_star || h->range_first != st->offset) {
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
		if (h->range_total && (h->rc = upd_io_total(io, h->range_total)))
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
		if (h->ranged && ((h->has_range && h->range_star && h->range_total == st->offset) ||
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
		h->rc = m2m_err_set(io->err, M2M_ERR_PROTOCOL, "%s: HTTP %ld", url, h->code);
		return false;
	}
	h->decided = true;
	return true;
}

static size_t on_header(char *b, size_t size, size_t n, void *ctx)
{
	struct http *h = ctx;
	size_t len = size * n;

	if (len >= 5 && strncmp(b, "HTTP/", 5) == 0) {
		/* a new answer (after a 100 or a redirect): forget the last one's headers */
		const char *p = memchr(b, ' ', len);

		h->code = p ? strtol(p + 1, NULL, 10) : 0;
		h->etag[0] = 0;
		h->has_range = h->range_star = h->has_len = false;
		return len;
	}
	if (len <= 2 && (b[0] == '\r' || b[0] == '\n')) {
		/* the end of an answer's headers: 1xx and followed redirects are not the answer */
		if (h->code < 200 || (h->code >= 300 && h->code < 400))
			return len;
		return decide(h) ? len : 0;
	}
	if (len > 5 && strncasecmp(b, "etag:", 5) == 0) {
		header_value(b + 5, len - 5, h->etag, sizeof(h->etag));
	} else if (len > 14 && strncasecmp(b, "content-range:", 14) == 0) {
		char v[128];

		header_value(b + 14, len - 14, v, sizeof(v));
		parse_content_range(h, v);
	} else if (len > 15 && strncasecmp(b, "content-length:", 15) == 0) {
		char v[32];
		const char *p = v;

		header_value(b + 15, len - 15, v, sizeof(v));
		h->has_len = parse_u64(&p, &h->len) && !*p;
	}
	return len;
}

static size_t on_body(char *b, size_t size, size_t n, void *ctx)
{
	struct http *h = ctx;
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
	struct http *h = ctx;

	(void)dt, (void)dn, (void)ut, (void)un;
	return h->io->o->stop && *h->io->o->stop;
}

/* libcurl's failure as one of ours */
static int curl_error(struct http *h, CURLcode cc, const char *detail)
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
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return m2m_err_set(io->err, M2M_ERR_AUTH_REMOTE,
				   "%s: the server's certificate: %s", url, why);
	case CURLE_SSL_CACERT_BADFILE:
		return m2m_err_set(io->err, M2M_ERR_CONFIG, "%s: CA file %s: %s", url,
				   io->o->ca ? io->o->ca : "(system)", why);
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return m2m_err_set(io->err, M2M_ERR_CONFIG, "%s: %s", url, why);
	case CURLE_OUT_OF_MEMORY:
		return m2m_err_set(io->err, M2M_ERR_FAILURE, "%s: out of memory", url);
	default:
		return m2m_err_set(io->err, M2M_ERR_PROTOCOL, "%s: %s", url, why);
	}
}

/* One request: from st->offset (a Range) or from 0 */
static int http_once(struct upd_fetch_io *io, struct http *h)
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

	memset(h, 0, sizeof(*h));
	h->io = io;
	h->ranged = st->offset > 0;
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
	struct http h;
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
