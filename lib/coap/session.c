/* SPDX-License-Identifier: MIT */
/*
 * The context and its one client session: the URI resolved, the options
 * kept for new sessions, libcoap's handlers (answers to our requests,
 * failures, its log), and the I/O loop. The session's credentials are
 * coap.c's.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/base.h"
#include "coap/coap_int.h"

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent,
				   const coap_pdu_t *recv, const coap_mid_t mid)
{
	struct m2m_coap *c = mcoap_of(s);
	coap_bin_const_t tok = coap_pdu_get_token(recv);
	struct m2m_coap_msg m;

	if (!c || !c->req.busy || tok.length != c->req.toklen ||
	    memcmp(tok.s, c->req.token, tok.length))
		return COAP_RESPONSE_OK;
	mcoap_fill_msg(recv, &m, false);
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
	mcoap_answered(c);
	return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *s, const coap_pdu_t *sent, const coap_nack_reason_t reason,
		    const coap_mid_t mid)
{
	struct m2m_coap *c = mcoap_of(s);

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
	struct m2m_coap *c = mcoap_log_owner();
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

int mcoap_setup_once(void)
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
	rc = m2m_resolve(host, port, &hints, o->resolve_ms ? o->resolve_ms : M2M_RESOLVE_MS,
			 o->resolve_stop, &ai, err);
	if (rc)
		return rc;
	mcoap_setup_once();
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
	coap_register_event_handler(c->ctx, mcoap_on_event);
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
	mcoap_disown(c);
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

int mcoap_process(struct m2m_coap *c, unsigned ms)
{
	return coap_io_process(c->ctx, ms) < 0 ? M2M_ERR_FAILURE : M2M_OK;
}

int mcoap_process_ready(struct m2m_coap *c)
{
	return coap_io_process(c->ctx, COAP_IO_NO_WAIT) < 0 ? M2M_ERR_FAILURE : M2M_OK;
}

int mcoap_fd(const struct m2m_coap *c)
{
	return coap_context_get_coap_fd(c->ctx);
}

size_t mcoap_block_size(const struct m2m_coap *c)
{
	return (size_t)1 << (c->block_szx + 4);
}

bool mcoap_idle(struct m2m_coap *c)
{
	return coap_can_exit(c->ctx);
}

unsigned mcoap_local_port(const struct m2m_coap *c)
{
	const coap_address_t *a = c->s ? coap_session_get_addr_local(c->s) : NULL;

	return a ? coap_address_get_port(a) : 0;
}
