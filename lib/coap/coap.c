/* SPDX-License-Identifier: MIT */
/*
 * libcoap 4.3.1 glue: see coap.h. The pitfalls of that version (lab notes)
 * are handled here once: addresses resolved with getaddrinfo, options built
 * through optlists, Content-Format added by hand for text/plain answers,
 * block mode set before the session exists, and a deadline of our own
 * around coap_io_process().
 */
/* libcoap 4.3.1 takes token keys through an ENGINE (deprecated in OpenSSL 3) */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <coap3/coap.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/base.h"
#include "coap/coap.h"
#include "coap/coap_int.h"
#include "m2m/keystore.h"


/*
 * Join the values of option num with sep. Path segments keep their
 * identity: a '/' or '%' inside one is percent-encoded, so that
 * coap_split_path() gives back the same segments (lwm2m-node-lib sends
 * Location-Path "rd/1" as one segment and wants it back as one).
 */
static void join_opts(const coap_pdu_t *pdu, uint16_t num, char sep, bool lead, char *out,
		      size_t len)
{
	coap_opt_iterator_t it;
	coap_opt_filter_t f;
	coap_opt_t *opt;
	size_t n = 0;

	out[0] = 0;
	coap_option_filter_clear(&f);
	coap_option_filter_set(&f, num);
	coap_option_iterator_init(pdu, &it, &f);
	while ((opt = coap_option_next(&it))) {
		size_t l = coap_opt_length(opt);

		const uint8_t *v = coap_opt_value(opt);

		if (n + 3 * l + 2 >= len)
			break;
		if (n || lead)
			out[n++] = sep;
		for (size_t i = 0; i < l; i++) {
			if (sep == '/' && (v[i] == '/' || v[i] == '%')) {
				n += (size_t)snprintf(out + n, 4, "%%%02X", v[i]);
				continue;
			}
			out[n++] = (char)v[i];
		}
		out[n] = 0;
	}
}

static unsigned opt_uint(const coap_pdu_t *pdu, uint16_t num, unsigned dflt)
{
	coap_opt_iterator_t it;
	coap_opt_t *opt = coap_check_option(pdu, num, &it);

	if (!opt)
		return dflt;
	return coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
}

/* A Block1/Block2 option (RFC 7959 2.2): false if it is malformed (over 3 bytes, SZX 7) */
static bool block_of(const coap_pdu_t *pdu, uint16_t num, struct m2m_coap_block *b)
{
	coap_opt_iterator_t it;
	coap_opt_t *opt = coap_check_option(pdu, num, &it);
	unsigned v;

	memset(b, 0, sizeof(*b));
	if (!opt)
		return true;
	if (coap_opt_length(opt) > 3)
		return false;
	v = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
	b->has = true;
	b->num = v >> 4;
	b->more = v & 8;
	b->szx = v & 7;
	return b->szx != 7; /* reserved (BERT, over TCP only) */
}

/* A Size1/Size2 option: false if longer than its 4 bytes (RFC 7959 4) */
static bool size_of(const coap_pdu_t *pdu, uint16_t num, bool *has, uint64_t *out)
{
	coap_opt_iterator_t it;
	coap_opt_t *opt = coap_check_option(pdu, num, &it);

	*has = opt != NULL;
	*out = 0;
	if (!opt)
		return true;
	if (coap_opt_length(opt) > 4)
		return false;
	*out = coap_decode_var_bytes8(coap_opt_value(opt), coap_opt_length(opt));
	return true;
}

static void fill_msg(const coap_pdu_t *pdu, struct m2m_coap_msg *m, bool request)
{
	coap_opt_iterator_t it;
	coap_bin_const_t tok;
	coap_opt_t *opt;
	bool has;

	memset(m, 0, sizeof(*m));
	m->code = coap_pdu_get_code(pdu);
	join_opts(pdu, request ? COAP_OPTION_URI_PATH : COAP_OPTION_LOCATION_PATH, '/', true,
		  m->path, sizeof(m->path));
	if (request)
		join_opts(pdu, COAP_OPTION_URI_QUERY, '&', false, m->query, sizeof(m->query));
	m->content_format = opt_uint(pdu, COAP_OPTION_CONTENT_FORMAT, M2M_COAP_NONE);
	m->accept = opt_uint(pdu, COAP_OPTION_ACCEPT, M2M_COAP_NONE);
	m->observe = coap_check_option(pdu, COAP_OPTION_OBSERVE, &it) ?
		     (int)opt_uint(pdu, COAP_OPTION_OBSERVE, 0) : -1;
	tok = coap_pdu_get_token(pdu);
	m->toklen = tok.length <= sizeof(m->token) ? tok.length : 0;
	if (m->toklen)
		memcpy(m->token, tok.s, m->toklen);
	if (!coap_get_data(pdu, &m->len, &m->payload)) {
		m->payload = NULL;
		m->len = 0;
	}
	m->bad_option = !block_of(pdu, COAP_OPTION_BLOCK1, &m->block1) ||
			!block_of(pdu, COAP_OPTION_BLOCK2, &m->block2) ||
			!size_of(pdu, COAP_OPTION_SIZE1, &m->has_size1, &m->size1) ||
			!size_of(pdu, COAP_OPTION_SIZE2, &has, &m->size2);
	opt = coap_check_option(pdu, COAP_OPTION_ETAG, &it);
	if (opt && coap_opt_length(opt) <= sizeof(m->etag)) {
		m->etag_len = coap_opt_length(opt);
		memcpy(m->etag, coap_opt_value(opt), m->etag_len);
	}
	coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
	while (request && (opt = coap_option_next(&it))) {
		if (it.number != COAP_OPTION_IF_MATCH)
			continue;
		if (m->n_if_match < ARRAY_SIZE(m->if_match) &&
		    coap_opt_length(opt) <= sizeof(m->if_match[0].v)) {
			m->if_match[m->n_if_match].len = coap_opt_length(opt);
			memcpy(m->if_match[m->n_if_match].v, coap_opt_value(opt),
			       coap_opt_length(opt));
		}
		m->n_if_match++; /* counted even if not kept: a tag we cannot hold never matches */
	}
}

static struct m2m_coap *of_session(const coap_session_t *s)
{
	return coap_session_get_app_data(s);
}

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
				   const coap_pdu_t *recv, const coap_mid_t mid)
{
	struct m2m_coap *c = of_session(s);
	coap_bin_const_t tok = coap_pdu_get_token(recv);
	struct m2m_coap_msg m;

	if (!c || !c->req.busy || tok.length != c->req.toklen ||
	    memcmp(tok.s, c->req.token, tok.length))
		return COAP_RESPONSE_OK;
	fill_msg(recv, &m, false);
	/* the blocks of one request share its token: a late answer to an earlier one is not ours */
	if ((c->req.b1 && m.block1.has && m.block1.num != c->req.b1num) ||
	    (c->req.b2 && m.block2.has && m.block2.num != c->req.b2num))
		return COAP_RESPONSE_OK;
	*c->req.resp = m;
	c->req.resp->payload = NULL;
	if (m.len) {
		c->req.body = malloc(m.len);
		if (c->req.body) {
			memcpy(c->req.body, m.payload, m.len);
			c->req.resp->payload = c->req.body;
		} else {
			c->req.resp->len = 0;
		}
	}
	c->req.done = true;
	return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
		    const coap_mid_t mid)
{
	struct m2m_coap *c = of_session(s);

	if (!c)
		return;
	if (sent && COAP_RESPONSE_CLASS(coap_pdu_get_code(sent)) == 2) {
		/* one of our notifications: the server forgot it (RST) or is gone */
		coap_bin_const_t tok = coap_pdu_get_token(sent);

		if (c->notify_failed)
			c->notify_failed(c->hctx, tok.s, tok.length, reason == COAP_NACK_RST);
		return;
	}
	if (!c->req.busy)
		return;
	c->req.nacked = true;
	c->req.reason = reason;
	c->req.done = true;
}

static int on_event(coap_session_t *s, const coap_event_t ev)
{
	struct m2m_coap *c = of_session(s);

	if (!c)
		return 0;
	if (ev == COAP_EVENT_DTLS_CONNECTED)
		c->connected = true;
	if (ev == COAP_EVENT_DTLS_CLOSED && c->connected) {
		/* an established session lost: what its handshake showed is stale */
		memset(&c->hs, 0, sizeof(c->hs));
		c->hs.hello_at = m2m_now_ms();
	}
	if (ev == COAP_EVENT_DTLS_ERROR || ev == COAP_EVENT_DTLS_CLOSED) {
		c->connected = false;
		c->dtls_failed = ev == COAP_EVENT_DTLS_ERROR;
		if (c->req.busy && c->dtls_failed) {
			c->req.nacked = true;
			c->req.reason = COAP_NACK_TLS_FAILED;
			c->req.done = true;
		}
	}
	return 0;
}


/*
 * If-Match (RFC 7252 5.10.8.1): the request is performed only if the
 * current representation (read as a GET in the request's Content-Format
 * would answer it) has one of the ETags given; an empty one matches any.
 */
static bool if_match(struct m2m_coap *c, const struct m2m_coap_msg *m)
{
	struct m2m_coap_reply rep = { .code = COAP_RESPONSE_CODE(500),
				      .content_format = M2M_COAP_NONE, .observe = -1 };
	struct m2m_coap_msg get = { .code = COAP_REQUEST_CODE_GET, .accept = m->content_format,
				    .content_format = M2M_COAP_NONE, .observe = -1 };
	uint8_t v[8];
	size_t n;
	bool ok = false;

	memcpy(get.path, m->path, sizeof(get.path));
	c->handler(c->hctx, &get, &rep);
	if (rep.code == COAP_RESPONSE_CODE(205)) {
		n = coap_encode_var_safe8(v, sizeof(v), mcoap_etag_of(rep.payload, rep.len));
		for (unsigned i = 0; i < m->n_if_match && i < ARRAY_SIZE(m->if_match) && !ok; i++)
			ok = m->if_match[i].len == 0 ||
			     (m->if_match[i].len == n && memcmp(m->if_match[i].v, v, n) == 0);
	}
	free(rep.payload);
	return ok;
}

static void serve(struct m2m_coap *c, const struct m2m_coap_msg *m, coap_pdu_t *resp)
{
	struct m2m_coap_reply rep = { .code = COAP_RESPONSE_CODE(500),
				      .content_format = M2M_COAP_NONE, .observe = -1 };
	const struct kept *k;
	size_t block = (size_t)1 << (c->block_szx + 4);
	uint8_t v[8];

	if (m->code == COAP_REQUEST_CODE_GET && m->block2.has && m->block2.num > 0 &&
	    (k = mcoap_kept_note(c, m->path, m->accept))) {
		/* a later block of a kept value (a notification's, or a first block's) */
		unsigned code;

		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(205));
		mcoap_add_cf(resp, k->cf);
		code = mcoap_put_block(resp, k->p, k->len, k->etag, m->block2.num, m->block2.szx);
		if (code)
			coap_pdu_set_code(resp, code);
		return;
	}
	if (m->code == COAP_REQUEST_CODE_PUT && m->n_if_match && !if_match(c, m)) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(412));
		return;
	}
	c->handler(c->hctx, m, &rep);
	coap_pdu_set_code(resp, (coap_pdu_code_t)rep.code);
	if (rep.observe >= 0)
		coap_add_option(resp, COAP_OPTION_OBSERVE,
				coap_encode_var_safe(v, sizeof(v), (unsigned)rep.observe & 0xffffff),
				v);
	if (!rep.payload && rep.content_format == M2M_COAP_NONE)
		return;
	if (m->code == COAP_REQUEST_CODE_GET && rep.code == COAP_RESPONSE_CODE(205) && rep.payload &&
	    (m->block2.has || rep.len > block)) {
		mcoap_block_answer(c, m, &rep, resp);
		return;
	}
	/*
	 * Anything else goes in one message, never through libcoap's large-body
	 * cache (see block_answer). Only GETs answer with values (with their
	 * ETag, for a later If-Match); another answer too large for a block is a
	 * fault of ours.
	 */
	if (rep.len > block) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
		free(rep.payload);
		return;
	}
	if (m->code == COAP_REQUEST_CODE_GET && rep.code == COAP_RESPONSE_CODE(205))
		coap_add_option(resp, COAP_OPTION_ETAG,
				coap_encode_var_safe8(v, sizeof(v), mcoap_etag_of(rep.payload, rep.len)),
				v);
	mcoap_add_cf(resp, rep.content_format);
	if (rep.len && !coap_add_data(resp, rep.len, rep.payload))
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
	free(rep.payload);
}

/* A request of the server's: its body taken in (blocks, limits), then served */
static void on_request(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
		       const coap_string_t *query, coap_pdu_t *resp)
{
	struct m2m_coap *c = of_session(s);
	struct m2m_coap_msg m;

	if (!c) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
		return;
	}
	fill_msg(req, &m, true);
	if (mcoap_rx(c, &m, resp))
		return;
	serve(c, &m, resp);
	mcoap_rx_done(c, &m, resp);
}

/* "CN=x (issuer CN=y)" of a certificate, for messages */
static void cert_names(X509 *x, char *out, size_t len)
{
	char sub[80] = "?", iss[80] = "?";

	X509_NAME_oneline(X509_get_subject_name(x), sub, sizeof(sub));
	X509_NAME_oneline(X509_get_issuer_name(x), iss, sizeof(iss));
	snprintf(out, len, "%s (issuer %s)", sub, iss);
}

/*
 * libcoap's validate_cn callback: called for each certificate of the
 * server's chain with OpenSSL's verdict. We refuse what OpenSSL refused and
 * a leaf (depth 0) that does not name the host of the URI in a
 * subjectAltName (DNS or IP; the CN if it has none), and keep why, since the
 * handshake failure reaches us only as "TLS failed".
 */
static int check_server_name(const char *cn, const uint8_t *der, size_t len,
			     coap_session_t *s, unsigned depth, int validated, void *arg)
{
	struct m2m_coap *c = arg;
	const unsigned char *p = der;
	char names[160];
	X509 *x;
	int ok;

	x = d2i_X509(NULL, &p, (long)len);
	if (!x) {
		snprintf(c->hs.peer, sizeof(c->hs.peer), "the server's certificate is not X.509");
		return 0;
	}
	cert_names(x, names, sizeof(names));
	if (!validated) {
		if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
			snprintf(c->hs.peer, sizeof(c->hs.peer), "certificate %s has expired", names);
		else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
			snprintf(c->hs.peer, sizeof(c->hs.peer), "certificate %s is not valid yet",
				 names);
		else if (!c->hs.peer[0])
			snprintf(c->hs.peer, sizeof(c->hs.peer),
				 "certificate %s is not from the configured CA", names);
		X509_free(x);
		return 0;
	}
	ok = depth > 0 || (c->pinned && len == c->pinned_len && !memcmp(der, c->pinned, len)) ||
	     X509_check_ip_asc(x, c->host, 0) == 1 || X509_check_host(x, c->host, 0, 0, NULL) == 1;
	if (!ok)
		snprintf(c->hs.peer, sizeof(c->hs.peer), "certificate %s is not issued for %s",
			 names, c->host);
	X509_free(x);
	return ok;
}

static int hs_index = -1;
static int store_tls_setup(struct m2m_coap *c, SSL *ssl);

/* We are refusing the server: OpenSSL's verdict on its chain, if that is why. */
static void verify_failure(struct m2m_coap *c, const SSL *ssl)
{
	long v = SSL_get_verify_result(ssl);
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	char names[160] = "?";

	if (v == X509_V_OK)
		return;
	if (chain && sk_X509_num(chain) > 0)
		cert_names(sk_X509_value(chain, 0), names, sizeof(names));
	snprintf(c->hs.peer, sizeof(c->hs.peer), "certificate %s: %s (trusted: %s)", names,
		 X509_verify_cert_error_string(v), c->ca ? c->ca : "?");
}

/*
 * libcoap's own info callback, which ours calls first; and the session
 * watched (one per process), for the SSL of a new handshake libcoap makes
 * when a session is set up again (after the server lost it).
 */
static void (*hs_chained)(const SSL *, int, int);
static struct m2m_coap *hs_owner;

static void hs_watch(const SSL *ssl, int where, int ret)
{
	struct m2m_coap *c = hs_index >= 0 ? SSL_get_ex_data(ssl, hs_index) : NULL;

	if (hs_chained)
		hs_chained(ssl, where, ret);
	if (!c)
		c = hs_owner;
	if (!c)
		return;
	if (where & SSL_CB_HANDSHAKE_START) {
		/* a new handshake (a first one, or libcoap's after a lost session) */
		memset(&c->hs, 0, sizeof(c->hs));
		c->hs.hello_at = m2m_now_ms();
		c->sign_err[0] = 0;
		c->sign_rc = 0;
		/* libcoap's new SSL has no certificate or key of ours: give them */
		if (c->store_key && !SSL_get_privatekey(ssl) && !store_tls_setup(c, (SSL *)ssl))
			snprintf(c->sign_err, sizeof(c->sign_err), "%.160s", c->setup_err);
	}
	if ((where & SSL_CB_ALERT) && (ret >> 8) == SSL3_AL_FATAL) {
		char *a = (where & SSL_CB_READ) ? c->hs.alert_in : c->hs.alert_out;

		if (!a[0])
			snprintf(a, sizeof(c->hs.alert_in), "%s", SSL_alert_desc_string_long(ret));
		if ((where & SSL_CB_WRITE) && !c->hs.peer[0])
			verify_failure(c, ssl);
	}
	if (!(where & SSL_CB_LOOP))
		return;
	switch (SSL_get_state(ssl)) {
	case DTLS_ST_CR_HELLO_VERIFY_REQUEST:
	case TLS_ST_CR_SRVR_HELLO:
		if (!c->hs.answered)
			c->hs.rtt_ms = (unsigned)(m2m_now_ms() - c->hs.hello_at);
		c->hs.answered = true;
		break;
	case TLS_ST_CW_FINISHED:
		if (!c->hs.finished_sent)
			c->hs.finished_at = m2m_now_ms();
		c->hs.finished_sent = true;
		break;
	default:
		break;
	}
}

/*
 * Watch the handshake libcoap has just started on the session's SSL, and
 * the ones it starts later on SSLs of the same context.
 */
static void hs_attach(struct m2m_coap *c)
{
	coap_tls_library_t lib;
	SSL *ssl = coap_session_get_tls(c->s, &lib);
	SSL_CTX *ctx;
	void (*cb)(const SSL *, int, int);

	c->hs.hello_at = m2m_now_ms();
	hs_owner = c;
	if (!ssl || lib != COAP_TLS_LIBRARY_OPENSSL)
		return;
	if (hs_index < 0)
		hs_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (hs_index < 0 || !SSL_set_ex_data(ssl, hs_index, c))
		return;
	ctx = SSL_get_SSL_CTX(ssl);
	cb = SSL_get_info_callback(ssl);
	if (!cb)
		cb = SSL_CTX_get_info_callback(ctx);
	if (cb && cb != hs_watch)
		hs_chained = cb;
	SSL_set_info_callback(ssl, hs_watch);
	SSL_CTX_set_info_callback(ctx, hs_watch);
}

/*
 * Why the DTLS handshake failed, from what it showed: the server's
 * certificate refused by us (AUTH_REMOTE), a fatal alert from the server or
 * our Finished never answered (the server could not decrypt it: PSK key or
 * certificate refused; AUTH_LOCAL), or no answer at all (UNREACHABLE).
 */
int mcoap_hs_error(struct m2m_coap *c, unsigned timeout_ms, struct m2m_err *err)
{
	if (c->sign_err[0])
		return m2m_err_set(err, c->sign_rc ? c->sign_rc : M2M_ERR_CREDENTIAL,
				   "%s: DTLS: our key did not sign: %s", c->host, c->sign_err);
	if (c->hs.peer[0])
		return m2m_err_set(err, M2M_ERR_AUTH_REMOTE,
				   "%s: DTLS: the server's %s", c->host, c->hs.peer);
	if (c->hs.alert_out[0])
		return m2m_err_set(err, M2M_ERR_AUTH_REMOTE,
				   "%s: DTLS: we refused the server (%s)", c->host, c->hs.alert_out);
	if (c->hs.alert_in[0])
		return m2m_err_set(err, M2M_ERR_AUTH_LOCAL,
				   "%s: DTLS: the server refused us (%s): PSK identity or "
				   "certificate not accepted", c->host, c->hs.alert_in);
	if (c->hs.finished_sent)
		return m2m_err_set(err, M2M_ERR_AUTH_LOCAL,
				   "%s: DTLS: the server answered the handshake but not our "
				   "Finished: PSK key (or certificate) not accepted", c->host);
	if (c->hs.answered)
		return m2m_err_set(err, M2M_ERR_PROTOCOL,
				   "%s: DTLS handshake stalled after the server's first answer",
				   c->host);
	return m2m_err_set(err, M2M_ERR_UNREACHABLE,
			   "%s: no answer to the DTLS handshake within %u ms", c->host, timeout_ms);
}

static int parse_uri(const char *uri, bool *secure, char *host, size_t hlen, char *port,
		     size_t plen)
{
	const char *h, *end, *colon;

	if (strncmp(uri, "coaps://", 8) == 0) {
		*secure = true;
		h = uri + 8;
	} else if (strncmp(uri, "coap://", 7) == 0) {
		*secure = false;
		h = uri + 7;
	} else {
		return -1;
	}
	end = h + strcspn(h, "/?");
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));

		if (!rb)
			return -1;
		if ((size_t)(rb - h - 1) >= hlen)
			return -1;
		memcpy(host, h + 1, (size_t)(rb - h - 1));
		host[rb - h - 1] = 0;
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		size_t l = (size_t)((colon ? colon : end) - h);

		if (!l || l >= hlen)
			return -1;
		memcpy(host, h, l);
		host[l] = 0;
	}
	if (colon) {
		size_t l = (size_t)(end - colon - 1);

		if (!l || l >= plen)
			return -1;
		memcpy(port, colon + 1, l);
		port[l] = 0;
	} else {
		snprintf(port, plen, "%s", *secure ? "5684" : "5683");
	}
	return 0;
}

/* the session whose resets the log handler looks for (one per process) */
static struct m2m_coap *rst_owner;

/*
 * libcoap 4.3.1 tells nobody of a reset answering a non-confirmable message
 * except its log ("got RST for mid=0x..", LOG_ALERT). A reset answering a
 * notification is how a server cancels an observation it no longer wants
 * (RFC 7641 3.6), so we read that line; everything else libcoap logs goes
 * nowhere: the library must not print.
 */
/*
 * libcoap's log: a reset of one of our notifications (told only here), and a
 * datagram it dropped as too large (over its 1152-byte PDU limit) or
 * malformed, which we say in our log (at most once a minute, with a count)
 * since libcoap answers nothing.
 */
static void on_log(coap_log_t level, const char *msg)
{
	struct m2m_coap *c = rst_owner;
	uint64_t now = m2m_now_ms();
	unsigned mid;

	if (!c)
		return;
	if (strstr(msg, "discard malformed PDU")) {
		c->dropped++;
		if (c->log && (!c->dropped_logged_at || now - c->dropped_logged_at >= 60000)) {
			c->log(c->log_ctx, LOG_WARNING,
			       "%s: %u datagram(s) from the server too large (over %zu bytes) or "
			       "malformed: dropped", c->host, c->dropped,
			       c->s ? coap_session_max_pdu_size(c->s) : 0);
			c->dropped = 0;
			c->dropped_logged_at = now;
		}
		return;
	}
	if (sscanf(msg, "got RST for mid=0x%x", &mid) != 1)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(c->non); i++) {
		if (c->non[i].used && c->non[i].mid == (coap_mid_t)mid) {
			size_t len = c->non[i].toklen;

			c->non[i].used = false;
			if (c->notify_failed)
				c->notify_failed(c->hctx, c->non[i].token, len, true);
			return;
		}
	}
}

void mcoap_set_log(struct m2m_coap *c, m2m_coap_log_fn log, void *ctx)
{
	c->log = log;
	c->log_ctx = ctx;
}

static int setup_once(void)
{
	static bool done;

	if (!done) {
		coap_startup();
		coap_set_log_handler(on_log);
		coap_set_log_level(LOG_WARNING);
		coap_dtls_set_log_level(LOG_EMERG);
		done = true;
	}
	return 0;
}

/*
 * The key on a PKCS#11 token. libcoap 4.3.1 (OpenSSL) loads it with
 * COAP_PKI_KEY_PKCS11 through OpenSSL's "pkcs11" engine (libp11), which it
 * gets with ENGINE_by_id(): the engine object we configure here (a dynamic
 * engine joins OpenSSL's list when first loaded). The engine has no module
 * unless told: MODULE_PATH sets it, QUIET stops libp11 writing to stderr.
 */
static int p11_engine_setup(const char *module, struct m2m_err *err)
{
	ENGINE *e = ENGINE_by_id("pkcs11");
	int ok;

	if (!e) {
		ERR_clear_error();
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "PKCS#11: OpenSSL's pkcs11 engine is not installed "
				   "(Debian: libengine-pkcs11-openssl)");
	}
	ok = ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) &&
	     ENGINE_ctrl_cmd_string(e, "QUIET", NULL, 0);
	ENGINE_free(e);
	ERR_clear_error();
	if (!ok)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "PKCS#11: the pkcs11 engine refuses module %s", module);
	return M2M_OK;
}

/* RFC 7512: percent-encode all but unreserved characters */
static size_t p11_enc(char *out, size_t len, const char *s, bool hex)
{
	size_t n = 0;

	for (; *s && n + 4 < len; s++) {
		unsigned char ch = (unsigned char)*s;

		if (hex) { /* "0a1b" -> "%0a%1b" */
			if (!s[1])
				break;
			n += (size_t)snprintf(out + n, len - n, "%%%c%c", s[0], s[1]);
			s++;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			out[n++] = (char)ch;
		} else {
			n += (size_t)snprintf(out + n, len - n, "%%%02X", ch);
		}
	}
	out[n] = 0;
	return n;
}

/* The session's own trust store: the CA file of this configuration only. */
static int trust_ca(struct m2m_coap *c, SSL *ssl)
{
	X509_STORE *store = X509_STORE_new();

	if (!store || X509_STORE_load_file(store, c->ca) != 1 ||
	    SSL_set0_verify_cert_store(ssl, store) != 1) {
		X509_STORE_free(store);
		snprintf(c->setup_err, sizeof(c->setup_err), "CA %s unusable", c->ca);
		return 0;
	}
	return 1;
}

/*
 * In PKCS11 mode libcoap 4.3.1 wants the certificate and CA as pkcs11: URIs
 * or DER files (one certificate each), and calls additional_tls_setup_call_back
 * only on servers. Ours are PEM files (a chain, several CAs), so we load them
 * into the session's SSL ourselves, after libcoap has put the token key in it
 * and sent the ClientHello: the server's certificate is checked, and ours
 * sent, only later in the handshake.
 */
static int p11_tls_setup(struct m2m_coap *c)
{
	coap_tls_library_t lib;
	SSL *ssl = coap_session_get_tls(c->s, &lib);

	if (!ssl || lib != COAP_TLS_LIBRARY_OPENSSL) {
		snprintf(c->setup_err, sizeof(c->setup_err), "libcoap is not the OpenSSL flavour");
		return 0;
	}
	if (SSL_use_certificate_chain_file(ssl, c->cert) != 1) {
		snprintf(c->setup_err, sizeof(c->setup_err), "certificate %s unusable", c->cert);
		return 0;
	}
	if (SSL_check_private_key(ssl) != 1) {
		snprintf(c->setup_err, sizeof(c->setup_err),
			 "the token key does not match certificate %s", c->cert);
		return 0;
	}
	return trust_ca(c, ssl);
}

/* Why the token refused: libp11 reports the PKCS#11 return value by name. */
static void p11_reason(char *out, size_t len)
{
	unsigned long e;

	snprintf(out, len, "key not loaded (wrong PIN, or no such key or token)");
	while ((e = ERR_get_error())) {
		const char *r = ERR_reason_error_string(e);

		if (r && strstr(r, "PIN"))
			snprintf(out, len, "%s", r);
	}
}

static int open_pki_token(struct m2m_coap *c, const struct m2m_coap_opts *o,
			  coap_dtls_pki_t *pki, const coap_address_t *dst, struct m2m_err *err)
{
	char uri[512], why[160];
	size_t n;
	int rc;

	rc = p11_engine_setup(o->p11_module, err);
	if (rc)
		return rc;
	n = (size_t)snprintf(uri, sizeof(uri), "pkcs11:");
	if (o->p11_token) {
		n += (size_t)snprintf(uri + n, sizeof(uri) - n, "token=");
		n += p11_enc(uri + n, sizeof(uri) - n, o->p11_token, false);
		n += (size_t)snprintf(uri + n, sizeof(uri) - n, ";");
	}
	n += (size_t)snprintf(uri + n, sizeof(uri) - n, "id=");
	n += p11_enc(uri + n, sizeof(uri) - n, o->p11_id, true);
	snprintf(uri + n, sizeof(uri) - n, ";type=private");
	c->cert = o->cert;
	c->ca = o->ca;
	pki->pki_key.key_type = COAP_PKI_KEY_PKCS11;
	pki->pki_key.key.pkcs11.private_key = uri;
	pki->pki_key.key.pkcs11.user_pin = o->p11_pin;
	ERR_clear_error();
	/* the key is loaded (and the token logged in) here, not at the handshake */
	c->s = coap_new_client_session_pki(c->ctx, NULL, dst, COAP_PROTO_DTLS, pki);
	if (!c->s || !p11_tls_setup(c)) {
		if (c->setup_err[0])
			snprintf(why, sizeof(why), "%s", c->setup_err);
		else
			p11_reason(why, sizeof(why));
		ERR_clear_error();
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "DTLS: token key %s: %s", uri, why);
	}
	return M2M_OK;
}

/*
 * A key whose signatures come from the key store (a TPM): an EVP_PKEY made
 * of the certificate's public key and a method of ours whose sign calls
 * m2m_key_sign(). OpenSSL 3 treats a key with a method of its own as a
 * "foreign" legacy key and signs through that method. libcoap 4.3.1 has no
 * key type for it; the session starts without certificate or key (as a
 * client may), and we put ours into its SSL before the server asks for them,
 * also into the SSL of every new handshake. The client's signature
 * algorithms are limited to SHA-256, the one digest the store signs.
 */
static int store_idx_ec = -1, store_idx_rsa = -1;
static EC_KEY_METHOD *store_ec_meth;
static RSA_METHOD *store_rsa_meth;

static int store_sign(struct m2m_coap *c, const unsigned char *dg, int dlen, unsigned char *out,
		      unsigned int *outlen, size_t max)
{
	unsigned char *sig = NULL;
	size_t n = 0;
	struct m2m_err err;

	if (!c || !c->store_key || dlen != 32) {
		if (c)
			snprintf(c->sign_err, sizeof(c->sign_err), "a %d-byte digest to sign "
				 "(the key store signs SHA-256 only)", dlen);
		return 0;
	}
	if (m2m_key_sign(c->store_key, dg, (size_t)dlen, &sig, &n, &err)) {
		snprintf(c->sign_err, sizeof(c->sign_err), "%s", err.msg);
		c->sign_rc = err.rc;
		return 0;
	}
	if (n > max) {
		free(sig);
		snprintf(c->sign_err, sizeof(c->sign_err), "signature larger than the key allows");
		return 0;
	}
	memcpy(out, sig, n);
	*outlen = (unsigned int)n;
	free(sig);
	return 1;
}

static int store_ec_sign(int type, const unsigned char *dg, int dlen, unsigned char *sig,
			 unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
	(void)type, (void)kinv, (void)r;
	return store_sign(EC_KEY_get_ex_data(ec, store_idx_ec), dg, dlen, sig, siglen,
			  (size_t)ECDSA_size(ec));
}

static ECDSA_SIG *store_ec_sign_sig(const unsigned char *dg, int dlen, const BIGNUM *kinv,
				    const BIGNUM *r, EC_KEY *ec)
{
	unsigned char der[160];
	const unsigned char *p = der;
	unsigned int n = 0;

	(void)kinv, (void)r;
	if (!store_sign(EC_KEY_get_ex_data(ec, store_idx_ec), dg, dlen, der, &n, sizeof(der)))
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, (long)n);
}

static int store_rsa_sign(int type, const unsigned char *dg, unsigned int dlen, unsigned char *sig,
			  unsigned int *siglen, const RSA *rsa)
{
	if (type != NID_sha256)
		return 0;
	return store_sign(RSA_get_ex_data(rsa, store_idx_rsa), dg, (int)dlen, sig, siglen,
			  (size_t)RSA_size(rsa));
}

static EVP_PKEY *store_pkey(struct m2m_coap *c, EVP_PKEY *pub)
{
	EVP_PKEY *pk = EVP_PKEY_new();

	if (!pk)
		return NULL;
	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
		EC_KEY *ec = EC_KEY_dup(EVP_PKEY_get0_EC_KEY(pub));

		if (store_idx_ec < 0)
			store_idx_ec = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		if (!store_ec_meth && (store_ec_meth = EC_KEY_METHOD_new(EC_KEY_get_default_method())))
			EC_KEY_METHOD_set_sign(store_ec_meth, store_ec_sign, NULL, store_ec_sign_sig);
		if (ec && store_ec_meth && EC_KEY_set_method(ec, store_ec_meth) &&
		    EC_KEY_set_ex_data(ec, store_idx_ec, c) && EVP_PKEY_assign_EC_KEY(pk, ec))
			return pk;
		EC_KEY_free(ec);
	} else if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) {
		RSA *rsa = RSAPublicKey_dup(EVP_PKEY_get0_RSA(pub));

		if (store_idx_rsa < 0)
			store_idx_rsa = RSA_get_ex_new_index(0, NULL, NULL, NULL, NULL);
		if (!store_rsa_meth && (store_rsa_meth = RSA_meth_dup(RSA_get_default_method())))
			RSA_meth_set_sign(store_rsa_meth, store_rsa_sign);
		if (rsa && store_rsa_meth && RSA_set_method(rsa, store_rsa_meth) &&
		    RSA_set_ex_data(rsa, store_idx_rsa, c) && EVP_PKEY_assign_RSA(pk, rsa))
			return pk;
		RSA_free(rsa);
	}
	EVP_PKEY_free(pk);
	return NULL;
}

/* The store's key is the one the certificate names (our wrapper only has the latter's). */
static bool store_matches(struct m2m_coap *c, X509 *x)
{
	unsigned char *kd = NULL, *cd = NULL;
	struct m2m_err err;
	size_t kl = 0;
	int cl = i2d_PUBKEY(X509_get0_pubkey(x), &cd);
	bool same = cl > 0 && !m2m_key_public_der(c->store_key, &kd, &kl, &err) &&
		    kl == (size_t)cl && memcmp(kd, cd, kl) == 0;

	free(kd);
	OPENSSL_free(cd);
	return same;
}

/* Our certificate chain and the store's key into an SSL of the session. */
static int store_tls_setup(struct m2m_coap *c, SSL *ssl)
{
	X509 *x;
	EVP_PKEY *pk;
	int ok;

	if (SSL_use_certificate_chain_file(ssl, c->cert) != 1 || !(x = SSL_get_certificate(ssl))) {
		snprintf(c->setup_err, sizeof(c->setup_err), "certificate %s unusable", c->cert);
		return 0;
	}
	if (!store_matches(c, x)) {
		snprintf(c->setup_err, sizeof(c->setup_err),
			 "the key in the key store does not match certificate %s", c->cert);
		return 0;
	}
	pk = store_pkey(c, X509_get0_pubkey(x));
	ok = pk && SSL_use_PrivateKey(ssl, pk) == 1 && SSL_check_private_key(ssl) == 1;
	EVP_PKEY_free(pk);
	if (!ok) {
		snprintf(c->setup_err, sizeof(c->setup_err),
			 "the key of certificate %s is not EC or RSA", c->cert);
		return 0;
	}
	if (SSL_set1_client_sigalgs_list(ssl, "ECDSA+SHA256:RSA+SHA256") != 1) {
		snprintf(c->setup_err, sizeof(c->setup_err), "cannot limit signatures to SHA-256");
		return 0;
	}
	return trust_ca(c, ssl);
}

static int open_pki_store(struct m2m_coap *c, const struct m2m_coap_opts *o,
			  coap_dtls_pki_t *pki, const coap_address_t *dst, struct m2m_err *err)
{
	coap_tls_library_t lib;
	SSL *ssl;

	c->cert = o->cert;
	c->ca = o->ca;
	c->store_key = o->store_key;
	pki->pki_key.key_type = COAP_PKI_KEY_PEM;
	pki->pki_key.key.pem.ca_file = o->ca;
	ERR_clear_error();
	c->s = coap_new_client_session_pki(c->ctx, NULL, dst, COAP_PROTO_DTLS, pki);
	ssl = c->s ? coap_session_get_tls(c->s, &lib) : NULL;
	if (!ssl || lib != COAP_TLS_LIBRARY_OPENSSL || !store_tls_setup(c, ssl)) {
		ERR_clear_error();
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "DTLS: %s",
				   c->setup_err[0] ? c->setup_err : "libcoap cannot start the session");
	}
	return M2M_OK;
}

/*
 * Certificate mode from a bootstrap server: DER in memory (libcoap's ASN1
 * key type). The server's certificate (resource 0/x/4) is the trust anchor
 * by itself, also when it is not self-signed (X509_V_FLAG_PARTIAL_CHAIN): a
 * server presenting exactly it passes without a name check (LwM2M's
 * "domain-issued certificate" usage); if it is a CA, what it issued passes
 * with the usual name check.
 */
static int open_pki_der(struct m2m_coap *c, const struct m2m_coap_opts *o, coap_dtls_pki_t *pki,
			const coap_address_t *dst, struct m2m_err *err)
{
	const unsigned char *p = o->der_key;
	EVP_PKEY *key = d2i_AutoPrivateKey(NULL, &p, (long)o->der_key_len);
	int type = key ? EVP_PKEY_base_id(key) : EVP_PKEY_NONE;
	coap_tls_library_t lib;
	X509_STORE *store;
	X509 *anchor;
	SSL *ssl;

	EVP_PKEY_free(key);
	if (type != EVP_PKEY_EC && type != EVP_PKEY_RSA) {
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "DTLS: the private key from the bootstrap server is not EC or RSA");
	}
	pki->pki_key.key_type = COAP_PKI_KEY_ASN1;
	pki->pki_key.key.asn1.public_cert = o->der_cert;
	pki->pki_key.key.asn1.public_cert_len = o->der_cert_len;
	pki->pki_key.key.asn1.private_key = o->der_key;
	pki->pki_key.key.asn1.private_key_len = o->der_key_len;
	pki->pki_key.key.asn1.private_key_type = type == EVP_PKEY_EC ? COAP_ASN1_PKEY_EC :
								       COAP_ASN1_PKEY_RSA;
	pki->pki_key.key.asn1.ca_cert = o->der_server;
	pki->pki_key.key.asn1.ca_cert_len = o->der_server_len;
	c->pinned = o->der_server;
	c->pinned_len = o->der_server_len;
	c->ca = "the certificate from the bootstrap server";
	c->s = coap_new_client_session_pki(c->ctx, NULL, dst, COAP_PROTO_DTLS, pki);
	ssl = c->s ? coap_session_get_tls(c->s, &lib) : NULL;
	p = o->der_server;
	anchor = d2i_X509(NULL, &p, (long)o->der_server_len);
	store = X509_STORE_new();
	if (!ssl || lib != COAP_TLS_LIBRARY_OPENSSL || !anchor || !store ||
	    X509_STORE_add_cert(store, anchor) != 1 ||
	    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN) != 1 ||
	    SSL_set0_verify_cert_store(ssl, store) != 1) {
		X509_STORE_free(store);
		X509_free(anchor);
		ERR_clear_error();
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "DTLS: the certificate, key or server certificate from the "
				   "bootstrap server is unusable");
	}
	X509_free(anchor);
	return M2M_OK;
}

/*
 * The client session to the server, new: at open, and for a new handshake
 * from a new port (mcoap_rehandshake). From c->o, the options kept at open.
 */
int mcoap_new_session(struct m2m_coap *c, struct m2m_err *err)
{
	const struct m2m_coap_opts *o = &c->o;
	int rc = M2M_OK;

	c->setup_err[0] = 0;
	if (o->security == M2M_DM_NOSEC) {
		c->s = coap_new_client_session(c->ctx, NULL, &c->dst, COAP_PROTO_UDP);
		c->connected = true;
	} else if (o->security == M2M_DM_PSK) {
		coap_dtls_cpsk_t psk = { .version = COAP_DTLS_CPSK_SETUP_VERSION };

		if (!coap_dtls_is_supported())
			return m2m_err_set(err, M2M_ERR_FAILURE, "libcoap: built without DTLS");
		psk.client_sni = c->host;
		psk.psk_info.identity.s = (const uint8_t *)o->psk_identity;
		psk.psk_info.identity.length = strlen(o->psk_identity);
		psk.psk_info.key.s = o->psk_key;
		psk.psk_info.key.length = o->psk_len;
		c->s = coap_new_client_session_psk2(c->ctx, NULL, &c->dst, COAP_PROTO_DTLS, &psk);
	} else {
		coap_dtls_pki_t pki = { .version = COAP_DTLS_PKI_SETUP_VERSION };

		pki.verify_peer_cert = 1;
		pki.check_common_ca = 1;
		pki.cert_chain_validation = 1;
		pki.cert_chain_verify_depth = 3;
		pki.client_sni = c->host;
		pki.validate_cn_call_back = check_server_name;
		pki.cn_call_back_arg = c;
		if (o->p11_module) {
			rc = open_pki_token(c, o, &pki, &c->dst, err);
		} else if (o->store_key) {
			rc = open_pki_store(c, o, &pki, &c->dst, err);
		} else if (o->der_cert) {
			rc = open_pki_der(c, o, &pki, &c->dst, err);
		} else {
			pki.pki_key.key_type = COAP_PKI_KEY_PEM;
			pki.pki_key.key.pem.public_cert = o->cert;
			pki.pki_key.key.pem.private_key = o->key;
			pki.pki_key.key.pem.ca_file = o->ca;
			c->ca = o->ca;
			c->s = coap_new_client_session_pki(c->ctx, NULL, &c->dst, COAP_PROTO_DTLS,
							   &pki);
			if (!c->s)
				rc = m2m_err_set(err, M2M_ERR_CREDENTIAL,
						 "DTLS: certificate %s, key %s or CA %s unusable",
						 o->cert, o->key, o->ca);
		}
	}
	if (rc || !c->s) {
		if (c->s) {
			coap_session_release(c->s);
			c->s = NULL;
		}
		return rc ? rc : m2m_err_set(err, M2M_ERR_FAILURE,
					     "libcoap: cannot create a session to %s", o->uri);
	}
	coap_session_set_app_data(c->s, c);
	if (c->dtls)
		hs_attach(c);
	rst_owner = c;
	return M2M_OK;
}

/* The options kept for new sessions: strings and the PSK copied, the rest by contract */
static int keep_opts(struct m2m_coap *c, const struct m2m_coap_opts *o)
{
	const char **strs[] = { &c->o.uri, &c->o.psk_identity, &c->o.cert, &c->o.key, &c->o.ca,
				&c->o.p11_module, &c->o.p11_token, &c->o.p11_id };

	c->o = *o;
	for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
		if (*strs[i] && !(*strs[i] = strdup(*strs[i])))
			return -1;
	if (o->psk_key) {
		uint8_t *k = malloc(o->psk_len ? o->psk_len : 1);

		if (!k)
			return -1;
		memcpy(k, o->psk_key, o->psk_len);
		c->o.psk_key = k;
	}
	return 0;
}

static void free_opts(struct m2m_coap *c)
{
	char *strs[] = { (char *)c->o.uri, (char *)c->o.psk_identity, (char *)c->o.cert,
			 (char *)c->o.key, (char *)c->o.ca, (char *)c->o.p11_module,
			 (char *)c->o.p11_token, (char *)c->o.p11_id };

	for (size_t i = 0; i < ARRAY_SIZE(strs); i++)
		free(strs[i]);
	if (c->o.psk_key) {
		explicit_bzero((void *)c->o.psk_key, c->o.psk_len);
		free((void *)c->o.psk_key);
	}
	memset(&c->o, 0, sizeof(c->o));
}

int mcoap_open(const struct m2m_coap_opts *o, m2m_coap_handler h, void *hctx,
		  struct m2m_coap **out, struct m2m_err *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai = NULL;
	char host[256], port[16];
	struct m2m_coap *c;
	bool secure;
	int rc;

	*out = NULL;
	if (parse_uri(o->uri, &secure, host, sizeof(host), port, sizeof(port)))
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: not a coap:// or coaps:// URI",
				   o->uri);
	if (secure != (o->security != M2M_DM_NOSEC))
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: scheme does not match the security mode",
				   o->uri);
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc)
		return m2m_err_set(err, M2M_ERR_UNREACHABLE, "%s: %s", host, gai_strerror(rc));
	setup_once();
	c = calloc(1, sizeof(*c));
	if (!c) {
		freeaddrinfo(ai);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	c->handler = h;
	c->hctx = hctx;
	c->dtls = secure;
	c->host = strdup(host);
	c->block_szx = 6;
	c->max_body = o->max_body ? o->max_body : M2M_COAP_MAX_BODY;
	for (unsigned bs = 16, szx = 0; szx <= 6; szx++, bs *= 2)
		if (o->block_size == bs)
			c->block_szx = szx;
	coap_address_init(&c->dst);
	c->dst.size = ai->ai_addrlen;
	memcpy(&c->dst.addr.sa, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (!c->host || keep_opts(c, o)) {
		mcoap_close(c);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}

	c->ctx = coap_new_context(NULL);
	if (!c->ctx) {
		mcoap_close(c);
		return m2m_err_set(err, M2M_ERR_FAILURE, "libcoap: cannot create a context");
	}
	/*
	 * No block mode: libcoap 4.3.1 would size a reassembled body from the
	 * peer's Size1 (two datagrams made it allocate 4 GiB). block.c does
	 * block-wise transfers under our body limit instead.
	 */
	coap_register_response_handler(c->ctx, on_response);
	coap_register_nack_handler(c->ctx, on_nack);
	coap_register_event_handler(c->ctx, on_event);
	if (o->security != M2M_DM_NOSEC && !coap_dtls_is_supported()) {
		mcoap_close(c);
		return m2m_err_set(err, M2M_ERR_FAILURE, "libcoap: built without DTLS");
	}
	rc = mcoap_new_session(c, err);
	if (rc) {
		mcoap_close(c);
		return rc;
	}
	*out = c;
	return M2M_OK;
}

void mcoap_close(struct m2m_coap *c)
{
	if (!c)
		return;
	if (rst_owner == c)
		rst_owner = NULL;
	if (hs_owner == c)
		hs_owner = NULL;
	if (c->s) {
		coap_session_set_app_data(c->s, NULL);
		coap_session_release(c->s);
	}
	if (c->ctx)
		coap_free_context(c->ctx);
	for (size_t i = 0; i < ARRAY_SIZE(c->kept); i++)
		free(c->kept[i].p);
	mcoap_rx_drop(c);
	mcoap_discard(c);
	free_opts(c);
	free(c->host);
	free(c);
}

int mcoap_add_path(struct m2m_coap *c, const char *path, struct m2m_err *err)
{
	coap_str_const_t *uri;
	coap_resource_t *r;

	while (*path == '/')
		path++;
	uri = coap_new_str_const((const uint8_t *)path, strlen(path));
	r = uri ? coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI) : NULL;
	if (!r) {
		coap_delete_str_const(uri);
		return m2m_err_set(err, M2M_ERR_FAILURE, "libcoap: cannot add resource %s", path);
	}
	coap_register_handler(r, COAP_REQUEST_GET, on_request);
	coap_register_handler(r, COAP_REQUEST_PUT, on_request);
	coap_register_handler(r, COAP_REQUEST_POST, on_request);
	coap_register_handler(r, COAP_REQUEST_DELETE, on_request);
	coap_add_resource(c->ctx, r);
	return M2M_OK;
}

int mcoap_add_unknown(struct m2m_coap *c, struct m2m_err *err)
{
	coap_resource_t *r = coap_resource_unknown_init2(on_request, 0);

	if (!r)
		return m2m_err_set(err, M2M_ERR_FAILURE, "libcoap: cannot add the unknown resource");
	coap_register_handler(r, COAP_REQUEST_GET, on_request);
	coap_register_handler(r, COAP_REQUEST_POST, on_request);
	coap_register_handler(r, COAP_REQUEST_DELETE, on_request);
	coap_add_resource(c->ctx, r);
	return M2M_OK;
}

int mcoap_process(struct m2m_coap *c, unsigned ms)
{
	return coap_io_process(c->ctx, ms) < 0 ? M2M_ERR_FAILURE : M2M_OK;
}

void mcoap_on_notify_failed(struct m2m_coap *c, m2m_coap_notify_failed fn)
{
	c->notify_failed = fn;
}


int mcoap_send_notify(struct m2m_coap *c, const char *path, bool confirmable,
		      const uint8_t *token, size_t toklen, uint32_t seq, unsigned content_format,
		      const uint8_t *payload, size_t len, struct m2m_err *err)
{
	size_t max = (size_t)1 << (c->block_szx + 4);
	coap_pdu_t *pdu;
	coap_mid_t mid;
	uint8_t v[4];

	if (!c->s)
		return m2m_err_set(err, M2M_ERR_UNREACHABLE, "%s: no session", c->host);
	pdu = coap_pdu_init(confirmable ? COAP_MESSAGE_CON : COAP_MESSAGE_NON,
			    COAP_RESPONSE_CODE(205), coap_new_message_id(c->s),
			    coap_session_max_pdu_size(c->s));
	if (!pdu)
		return m2m_err_set(err, M2M_ERR_FAILURE, "libcoap: cannot build a notification");
	if (!coap_add_token(pdu, toklen, token) ||
	    !coap_add_option(pdu, COAP_OPTION_OBSERVE,
			     coap_encode_var_safe(v, sizeof(v), seq & 0xffffff), v) ||
	    !mcoap_add_cf(pdu, content_format) ||
	    /* larger: the first block; the server GETs the rest, from the value kept */
	    (len > max && mcoap_put_block(pdu, payload, len, mcoap_keep_note(c, path, content_format, payload, len),
				    0, c->block_szx))) {
		coap_delete_pdu(pdu);
		return m2m_err_set(err, M2M_ERR_FAILURE, "libcoap: cannot build a notification");
	}
	if (len && len <= max && !coap_add_data(pdu, len, payload)) {
		coap_delete_pdu(pdu);
		return m2m_err_set(err, M2M_ERR_FAILURE, "libcoap: notification too large");
	}
	mid = coap_send(c->s, pdu);
	if (mid == COAP_INVALID_MID)
		return m2m_err_set(err, M2M_ERR_UNREACHABLE, "%s: cannot send", c->host);
	if (!confirmable && toklen <= sizeof(c->non[0].token)) {
		unsigned i = c->non_next++ % ARRAY_SIZE(c->non);

		c->non[i].used = true;
		c->non[i].mid = mid;
		memcpy(c->non[i].token, token, toklen);
		c->non[i].toklen = toklen;
	}
	return M2M_OK;
}

size_t mcoap_block_size(const struct m2m_coap *c)
{
	return (size_t)1 << (c->block_szx + 4);
}

bool mcoap_idle(struct m2m_coap *c)
{
	return coap_can_exit(c->ctx);
}

int mcoap_rehandshake(struct m2m_coap *c, struct m2m_err *err)
{
	if (!c->dtls)
		return M2M_OK;
	mcoap_discard(c);
	/*
	 * A new session, from a new port: a server that still holds our old
	 * session for the old address (a libcoap server does, until it times
	 * out) would feed a new ClientHello to it and ignore it.
	 */
	if (c->s) {
		coap_session_set_app_data(c->s, NULL);
		coap_session_release(c->s);
		c->s = NULL;
	}
	c->connected = false;
	memset(&c->hs, 0, sizeof(c->hs));
	c->hs.hello_at = m2m_now_ms();
	return mcoap_new_session(c, err);
}

bool mcoap_dtls(const struct m2m_coap *c)
{
	return c->dtls;
}

unsigned mcoap_local_port(const struct m2m_coap *c)
{
	const coap_address_t *a = c->s ? coap_session_get_addr_local(c->s) : NULL;

	return a ? coap_address_get_port(a) : 0;
}

bool mcoap_connected(const struct m2m_coap *c)
{
	return c->connected;
}

bool mcoap_parse(const uint8_t *data, size_t len, bool request, struct m2m_coap_msg *out)
{
	coap_pdu_t *pdu;
	bool ok;

	setup_once();
	pdu = coap_pdu_init(COAP_MESSAGE_CON, 0, 0, len + 16);
	if (!pdu)
		return false;
	ok = coap_pdu_parse(COAP_PROTO_UDP, data, len, pdu) != 0;
	if (ok)
		fill_msg(pdu, out, request);
	coap_delete_pdu(pdu);
	return ok;
}
