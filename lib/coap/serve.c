/* SPDX-License-Identifier: MIT */
/*
 * The server's requests to us, on the resources added by path (If-Match,
 * a GET's answer in blocks, the later blocks of a kept value), and our
 * notifications (RFC 7641) of the observations the handler took.
 */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "coap/coap_int.h"

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

/* RFC 7252 4.8.2: EXCHANGE_LIFETIME, with the default transmission parameters */
#define EXCHANGE_LIFETIME_MS 247000

static bool non_idempotent(coap_pdu_code_t code)
{
	return code == COAP_REQUEST_CODE_POST || code == COAP_REQUEST_CODE_IPATCH;
}

static struct answered *answered_find(struct m2m_coap *c, coap_mid_t mid, coap_bin_const_t tok)
{
	uint64_t now = m2m_now_ms();

	for (size_t i = 0; i < ARRAY_SIZE(c->answered); i++) {
		struct answered *a = &c->answered[i];

		if (a->used && now - a->at < EXCHANGE_LIFETIME_MS && a->mid == mid &&
		    a->toklen == tok.length && !memcmp(a->token, tok.s, tok.length))
			return a;
	}
	return NULL;
}

/* The same answer again: its code, options and body as they were sent. */
static void answered_replay(const struct answered *a, coap_pdu_t *resp)
{
	coap_pdu_set_code(resp, a->code);
	for (size_t i = 0; i + 4 <= a->optlen;) {
		unsigned num = (unsigned)a->opts[i] << 8 | a->opts[i + 1];
		size_t len = (size_t)a->opts[i + 2] << 8 | a->opts[i + 3];

		coap_add_option(resp, num, len, a->opts + i + 4);
		i += 4 + len;
	}
	if (a->bodylen)
		coap_add_data(resp, a->bodylen, a->body);
}

/* The answer kept, if it fits (larger ones are not: such a request is done again). */
static void answered_keep(struct m2m_coap *c, coap_mid_t mid, coap_bin_const_t tok,
			  coap_pdu_t *resp)
{
	struct answered a = { .used = true, .at = m2m_now_ms(), .mid = mid,
			      .code = coap_pdu_get_code(resp) };
	coap_opt_iterator_t oi;
	coap_opt_t *o;
	const uint8_t *data;
	size_t len;

	if (tok.length > sizeof(a.token))
		return;
	memcpy(a.token, tok.s, tok.length);
	a.toklen = tok.length;
	coap_option_iterator_init(resp, &oi, COAP_OPT_ALL);
	while ((o = coap_option_next(&oi)) != NULL) {
		size_t ol = coap_opt_length(o);

		if (a.optlen + 4 + ol > sizeof(a.opts))
			return;
		a.opts[a.optlen++] = (uint8_t)(oi.number >> 8);
		a.opts[a.optlen++] = (uint8_t)oi.number;
		a.opts[a.optlen++] = (uint8_t)(ol >> 8);
		a.opts[a.optlen++] = (uint8_t)ol;
		memcpy(a.opts + a.optlen, coap_opt_value(o), ol);
		a.optlen += ol;
	}
	if (coap_get_data(resp, &len, &data) && len) {
		if (len > sizeof(a.body))
			return;
		memcpy(a.body, data, len);
		a.bodylen = len;
	}
	c->answered[c->answered_next++ % ARRAY_SIZE(c->answered)] = a;
}

/* A request of the server's: its body taken in (blocks, limits), then served */
static void answer(struct m2m_coap *c, const coap_pdu_t *req, coap_pdu_t *resp)
{
	struct m2m_coap_msg m;

	mcoap_fill_msg(req, &m, true);
	if (mcoap_rx_stream(c, &m, resp) || mcoap_rx(c, &m, resp))
		return;
	serve(c, &m, resp);
	mcoap_rx_done(c, &m, resp);
}

static void on_request(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
		       const coap_string_t *query, coap_pdu_t *resp)
{
	struct m2m_coap *c = mcoap_of(s);
	coap_bin_const_t tok = coap_pdu_get_token(req);
	coap_mid_t mid = coap_pdu_get_mid(req);
	bool once = non_idempotent(coap_pdu_get_code(req));
	const struct answered *a;

	if (!c) {
		coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
		return;
	}
	/* the server sent it again (our answer lost): the same answer, the request not done twice */
	if (once && (a = answered_find(c, mid, tok)) != NULL) {
		answered_replay(a, resp);
		return;
	}
	answer(c, req, resp);
	if (once)
		answered_keep(c, mid, tok, resp);
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
	/* LwM2M 1.1's composite operations (on the root path) */
	coap_register_handler(r, COAP_REQUEST_FETCH, on_request);
	coap_register_handler(r, COAP_REQUEST_IPATCH, on_request);
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
