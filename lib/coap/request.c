/* SPDX-License-Identifier: MIT */
/*
 * Our requests to the server (Register, Update, a GET of an update pull),
 * one at a time, each a series of messages: a payload larger than a block in
 * Block1 blocks, an answer in Block2 blocks fetched block by block under the
 * body limit (RFC 7959), all within one deadline. mcoap_start() and
 * mcoap_poll() drive it without blocking; mcoap_request() waits for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "coap/coap_int.h"

static void add_split(coap_optlist_t **ol, const char *s, bool query)
{
	uint8_t buf[512], *p = buf;
	size_t len = sizeof(buf);
	int n;

	/* a leading '/' would become an empty first segment */
	while (s && !query && *s == '/')
		s++;
	if (!s || !*s)
		return;
	n = query ? coap_split_query((const uint8_t *)s, strlen(s), buf, &len) :
		    coap_split_path((const uint8_t *)s, strlen(s), buf, &len);
	while (n-- > 0) {
		coap_insert_optlist(ol, coap_new_optlist(query ? COAP_OPTION_URI_QUERY :
							      COAP_OPTION_URI_PATH,
							 coap_opt_length(p), coap_opt_value(p)));
		p += coap_opt_size(p);
	}
}

/*
 * The server answered our first flights at once but not our Finished: an
 * OpenSSL server drops a Finished it cannot decrypt (wrong PSK) without a
 * word, and libcoap would retransmit for minutes. Give it the two DTLS
 * retransmissions (after 1 s and 3 s) and four handshake round trips.
 */
static bool finished_unanswered(const struct m2m_coap *c, uint64_t now)
{
	return c->dtls && !c->connected && c->hs.finished_sent &&
	       now > c->hs.finished_at + 3500 + 4 * (uint64_t)c->hs.rtt_ms;
}

/*
 * A new token for a request of ours: 64 random bits. RFC 7252 5.3.1 asks for
 * at least 32 where answers may be spoofed; libcoap 4.3.1's own tokens count
 * up from 1 in every session, so each run's Register carried 0x01, which an
 * off-path attacker guesses at once.
 */
static void new_token(struct m2m_coap *c)
{
	for (size_t i = 0; i + 4 <= sizeof(c->req.token); i += 4) {
		uint32_t r = m2m_random_below(UINT32_MAX);

		memcpy(c->req.token + i, &r, sizeof(r));
	}
	c->req.toklen = sizeof(c->req.token);
}

/* One request message of ours: options, then a Block1 or Block2 option if given */
static coap_pdu_t *request_pdu(struct m2m_coap *c, unsigned method, const char *path,
			       const char *query, unsigned content_format,
			       const struct m2m_coap_block *b1, uint64_t size1,
			       const struct m2m_coap_block *b2)
{
	coap_optlist_t *ol = NULL;
	uint8_t v[8];
	coap_pdu_t *pdu;

	pdu = coap_pdu_init(COAP_MESSAGE_CON, (coap_pdu_code_t)method, coap_new_message_id(c->s),
			    coap_session_max_pdu_size(c->s));
	if (!pdu)
		return NULL;
	coap_add_token(pdu, c->req.toklen, c->req.token);
	/* a server may take Location-Path segments with '/' inside: send them as given */
	add_split(&ol, path, false);
	add_split(&ol, query, true);
	if (content_format != M2M_COAP_NONE)
		coap_insert_optlist(&ol, coap_new_optlist(COAP_OPTION_CONTENT_FORMAT,
							  coap_encode_var_safe(v, sizeof(v),
									       content_format),
							  v));
	if (b2 && b2->has)
		coap_insert_optlist(&ol, coap_new_optlist(COAP_OPTION_BLOCK2,
							  mcoap_block_opt(v, b2->num, false, b2->szx),
							  v));
	if (b1 && b1->has) {
		coap_insert_optlist(&ol, coap_new_optlist(COAP_OPTION_BLOCK1,
							  mcoap_block_opt(v, b1->num, b1->more,
									  b1->szx),
							  v));
		if (b1->num == 0) /* the whole size, in the first block (RFC 7959 4) */
			coap_insert_optlist(&ol, coap_new_optlist(COAP_OPTION_SIZE1,
								  coap_encode_var_safe8(v, sizeof(v),
											size1),
								  v));
	}
	if (!coap_add_optlist_pdu(pdu, &ol)) {
		coap_delete_optlist(ol);
		coap_delete_pdu(pdu);
		return NULL;
	}
	coap_delete_optlist(ol);
	return pdu;
}

/* Send one message of the request under way (c->x) with its slice of the payload. */
static int x_send(struct m2m_coap *c, coap_pdu_t *pdu, const uint8_t *payload, size_t len)
{
	struct m2m_err *err = &c->x.err;

	if (!pdu)
		return m2m_err_set(err, M2M_ERR_FAILURE, "libcoap: cannot make a request");
	if (len && !coap_add_data(pdu, len, payload)) {
		coap_delete_pdu(pdu);
		return m2m_err_set(err, M2M_ERR_FAILURE, "libcoap: cannot add the payload");
	}
	free(c->req.body);
	c->req.body = NULL;
	c->req.busy = true;
	c->req.done = c->req.nacked = false;
	c->req.resp = &c->x.resp;
	if (coap_send(c->s, pdu) == COAP_INVALID_MID) {
		c->req.busy = false;
		return m2m_err_set(err, M2M_ERR_UNREACHABLE, "%s: cannot send", c->host);
	}
	return M2M_OK;
}

/* The outcome of the message sent last: OK with an answer in x.resp, x.p, or why not. */
static int x_result(struct m2m_coap *c)
{
	struct m2m_err *err = &c->x.err;
	unsigned timeout_ms = c->x.timeout_ms;
	int rc = M2M_OK;

	c->req.busy = false;
	if (!c->req.done) {
		/* nothing came back at all: the server is out of reach (6), DTLS or not */
		if (c->dtls && !c->connected)
			rc = mcoap_hs_error(c, timeout_ms, err);
		else
			rc = m2m_err_set(err, M2M_ERR_UNREACHABLE, "%s: no answer within %u ms",
					 c->host, timeout_ms);
	} else if (c->req.nacked) {
		switch (c->req.reason) {
		case COAP_NACK_TLS_FAILED:
			rc = mcoap_hs_error(c, timeout_ms, err);
			break;
		case COAP_NACK_TOO_MANY_RETRIES:
			rc = m2m_err_set(err, M2M_ERR_UNREACHABLE, "%s: no answer (retries exhausted)",
					 c->host);
			break;
		case COAP_NACK_ICMP_ISSUE:
			rc = m2m_err_set(err, M2M_ERR_UNREACHABLE,
					 "%s: unreachable (ICMP: nothing listens on the port?)", c->host);
			/*
			 * libcoap 4.3.1 keeps retransmitting a confirmable message
			 * after an ICMP error; one we gave up on would reach a server
			 * that comes back (a second Register of ours, say), and its
			 * answer would go unheard. Drop what the session still sends.
			 */
			coap_session_disconnected(c->s, COAP_NACK_NOT_DELIVERABLE);
			break;
		case COAP_NACK_RST:
			rc = m2m_err_set(err, M2M_ERR_UNREACHABLE, "%s: the server reset the exchange",
					 c->host);
			break;
		default:
			rc = m2m_err_set(err, M2M_ERR_UNREACHABLE, "%s: request refused (reason %d)",
					 c->host, (int)c->req.reason);
		}
	}
	free(c->x.p);
	c->x.p = rc ? NULL : c->req.body;
	if (rc)
		free(c->req.body);
	c->req.body = NULL;
	return rc;
}

/*
 * The answer so far and its next block: ETag kept, size within the limit
 * (of what we take: a resumed fetch takes from byte base on)
 */
static int add_block(struct m2m_coap *c, const struct m2m_coap_msg *r, const uint8_t *p,
		     size_t base, uint8_t **all, size_t *len, struct m2m_err *err)
{
	uint8_t *n;

	if (r->size2 > base + c->max_body || *len + r->len > c->max_body)
		return m2m_err_set(err, M2M_ERR_PROTOCOL,
				   "%s: the answer is larger than the limit of %zu bytes", c->host,
				   c->max_body);
	n = realloc(*all, *len + r->len + 1);
	if (!n)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	if (r->len)
		memcpy(n + *len, p, r->len);
	*all = n;
	*len += r->len;
	return M2M_OK;
}

/* The next message of a Block1 series (payload larger than a block) */
static int x_send_b1(struct m2m_coap *c)
{
	struct mcoap_xfer *x = &c->x;
	size_t bsz = (size_t)16 << x->b1.szx;

	x->chunk = x->len - x->off < bsz ? x->len - x->off : bsz;
	x->b1.more = x->b1.has && x->off + x->chunk < x->len;
	c->req.b1 = x->b1.has;
	c->req.b1num = x->b1.num;
	c->req.b2 = false;
	return x_send(c, request_pdu(c, x->method, x->path, x->query, x->cf, &x->b1, x->len, NULL),
		      x->payload ? x->payload + x->off : NULL, x->chunk);
}

/*
 * The first answer to a resumed GET (mcoap_start_from): the representation
 * the earlier blocks came from (the ETag the caller had: RFC 7959 2.4, RFC
 * 7252 5.10.6) and the very block asked for, or the one that starts there in
 * the server's smaller blocks. A server that ignores the Block2 option sends
 * the whole from byte 0: not what was asked.
 */
static int resume_check(struct m2m_coap *c, const struct m2m_coap_msg *r)
{
	struct mcoap_xfer *x = &c->x;
	/*
	 * A single block (mcoap_start_block) is compared only when both sides
	 * have an ETag: libcoap's coap-server answers a block asked for out of
	 * sequence with none (and no Size2); the caller's hash at the end is
	 * what catches a resource that changed then.
	 */
	bool changed = x->one ? x->etag_len && r->etag_len &&
					(r->etag_len != x->etag_len ||
					 memcmp(r->etag, x->etag, x->etag_len)) :
				r->etag_len != x->etag_len || memcmp(r->etag, x->etag, x->etag_len);

	if (changed)
		return m2m_err_set(&x->err, M2M_ERR_PROTOCOL,
				   "%s: %s has changed since its earlier blocks (another ETag): "
				   "fetch it again from block 0", c->host, x->path);
	if (r->bad_option || (r->block2.has ? (size_t)r->block2.num << (r->block2.szx + 4) :
					       0) != x->base)
		return m2m_err_set(&x->err, M2M_ERR_PROTOCOL,
				   "%s: the answer to block %u of %s does not start at byte %zu",
				   c->host, x->b2.num, x->path, x->base);
	return M2M_OK;
}

/*
 * An answer to the message sent last came (or none within the deadline):
 * the next message of the request, or its outcome. True once it is known.
 */
static bool x_step(struct m2m_coap *c)
{
	struct mcoap_xfer *x = &c->x;
	struct m2m_coap_msg *r = &x->resp;
	struct m2m_err *err = &x->err;
	int rc = x_result(c);

	if (rc)
		goto done;
	if (!x->fetching) {
		if (x->resume && COAP_RESPONSE_CLASS(r->code) == 2 && (rc = resume_check(c, r)))
			goto done;
		if (x->one)
			goto done; /* that block alone, as it came */
		if (x->b1.more && r->code == COAP_RESPONSE_CODE(231)) {
			/* the server wants smaller blocks: heed it for the rest (RFC 7959 2.3) */
			if (r->block1.has && !r->bad_option && r->block1.szx < x->b1.szx)
				x->b1.szx = r->block1.szx;
			x->off += x->chunk;
			x->b1.num = (unsigned)(x->off >> (x->b1.szx + 4));
			rc = x_send_b1(c);
			if (rc)
				goto done;
			return false;
		}
		/* the final answer, or the server's verdict before the end */
		if (!r->block2.has || !r->block2.more)
			goto done;
		/* an answer in Block2 blocks: the later ones fetched, one exchange each (2.4) */
		if (x->method != M2M_COAP_GET) {
			rc = m2m_err_set(err, M2M_ERR_PROTOCOL, "%s: a block-wise answer to a %s",
					 c->host, x->method == M2M_COAP_POST ? "POST" : "PUT or DELETE");
			goto done;
		}
		x->fetching = true;
		x->first = *r;
		x->b2 = r->block2;
	}
	if (r->bad_option || r->block2.num != x->b2.num || r->etag_len != x->first.etag_len ||
	    memcmp(r->etag, x->first.etag, x->first.etag_len)) {
		rc = m2m_err_set(err, M2M_ERR_PROTOCOL,
				 "%s: the answer's blocks do not fit together (block %u)", c->host,
				 x->b2.num);
		goto done;
	}
	if ((size_t)r->block2.num * ((size_t)16 << r->block2.szx) != x->base + x->got) {
		rc = m2m_err_set(err, M2M_ERR_PROTOCOL, "%s: block %u of the answer out of place",
				 c->host, r->block2.num);
		goto done;
	}
	rc = add_block(c, r, x->p, x->base, &x->all, &x->got, err);
	if (rc || !r->block2.more || r->code != x->first.code)
		goto done;
	if (r->len != ((size_t)16 << r->block2.szx)) {
		rc = m2m_err_set(err, M2M_ERR_PROTOCOL, "%s: a short block %u before the last",
				 c->host, r->block2.num);
		goto done;
	}
	x->b2.szx = r->block2.szx;
	x->b2.num = (unsigned)((x->base + x->got) >> (x->b2.szx + 4));
	c->req.b1 = false;
	c->req.b2 = true;
	c->req.b2num = x->b2.num;
	rc = x_send(c, request_pdu(c, x->method, x->path, x->query, x->cf, NULL, 0, &x->b2),
		    NULL, 0);
	if (rc)
		goto done;
	return false;
done:
	x->rc = rc;
	x->finished = true;
	if (!rc && x->fetching) {
		/* the whole answer, as its first block described it */
		free(x->p);
		x->p = x->all;
		x->all = NULL;
		x->resp = x->first;
		x->resp.len = x->got;
		x->resp.block2.more = false;
	}
	x->resp.payload = x->p;
	return true;
}

/* A request of ours under way (c->x) with a new token; nothing sent yet */
static int x_begin(struct m2m_coap *c, unsigned method, const char *path, const char *query,
		   unsigned content_format, const uint8_t *payload, size_t len,
		   unsigned timeout_ms, struct m2m_err *err)
{
	struct mcoap_xfer *x = &c->x;
	int rc;

	if (x->active)
		return m2m_err_set(err, M2M_ERR_FAILURE, "a request is already under way");
	mcoap_discard(c);
	if (!c->s && (rc = mcoap_new_session(c, err)))
		return rc; /* a new session failed before (mcoap_rehandshake): try again */
	x->active = true;
	x->method = method;
	snprintf(x->path, sizeof(x->path), "%s", path ? path : "");
	snprintf(x->query, sizeof(x->query), "%s", query ? query : "");
	x->cf = content_format;
	x->payload = payload;
	x->len = len;
	x->timeout_ms = timeout_ms;
	x->deadline = m2m_now_ms() + timeout_ms;
	m2m_err_clear(&x->err);
	new_token(c);
	return M2M_OK;
}

int mcoap_start(struct m2m_coap *c, unsigned method, const char *path, const char *query,
		unsigned content_format, const uint8_t *payload, size_t len, unsigned timeout_ms,
		struct m2m_err *err)
{
	struct mcoap_xfer *x = &c->x;
	int rc = x_begin(c, method, path, query, content_format, payload, len, timeout_ms, err);

	if (rc)
		return rc;
	/* the payload: in Block1 blocks when larger than a block (RFC 7959 2.3) */
	x->b1.has = len > ((size_t)1 << (c->block_szx + 4));
	x->b1.szx = c->block_szx;
	rc = x_send_b1(c);
	if (rc) {
		*err = x->err;
		x->active = false;
	}
	return rc;
}

/*
 * The block the handler asked for ahead (mcoap_on_next_block) is the one the
 * caller now starts: it becomes the request under way, with the caller's
 * time bound, and an answer that came meanwhile is taken as it would be now.
 */
static bool x_adopt(struct m2m_coap *c, const char *path, const char *query, unsigned num,
		    unsigned szx, unsigned timeout_ms)
{
	struct mcoap_xfer *x = &c->x;

	if (!x->ahead || x->active || num != x->ahead_num || szx != x->b2.szx ||
	    strcmp(x->path, path ? path : "") || strcmp(x->query, query ? query : ""))
		return false;
	x->ahead = false;
	x->active = true;
	x->finished = x->fetching = false;
	x->timeout_ms = timeout_ms;
	x->deadline = m2m_now_ms() + timeout_ms;
	m2m_err_clear(&x->err);
	x->resp = x->ahead_resp;
	c->req.resp = &x->resp;
	return true;
}

/*
 * An answer to our message came (session.c's handler, inside libcoap). For
 * a block of a mcoap_start_block() series with a next-block hook, it is taken
 * here (as mcoap_poll() would take it), and the next block asked for at once
 * when it is a full 2.xx block with more to follow, in the size asked for,
 * and the hook wants it. Its answer goes to x->ahead_resp until the caller
 * starts that block.
 */
void mcoap_answered(struct m2m_coap *c)
{
	struct mcoap_xfer *x = &c->x;
	const struct m2m_coap_msg *r = &x->resp;
	coap_pdu_t *pdu;

	if (!c->next_block || !x->active || x->finished || !x->one || x->ahead)
		return;
	x_step(c);
	if (x->rc || COAP_RESPONSE_CLASS(r->code) != 2 || !r->block2.has || !r->block2.more ||
	    r->bad_option || r->block2.szx != x->b2.szx || r->block2.num != x->b2.num ||
	    r->len != ((size_t)16 << r->block2.szx) || r->block2.num + 1 >= 1u << 20 ||
	    !c->next_block(c->next_block_ctx, r))
		return;
	x->b2.num = r->block2.num + 1;
	new_token(c);
	pdu = request_pdu(c, x->method, x->path, x->query, x->cf, NULL, 0, &x->b2);
	if (!pdu)
		return;
	memset(&x->ahead_resp, 0, sizeof(x->ahead_resp));
	c->req.busy = true;
	c->req.done = c->req.nacked = false;
	c->req.resp = &x->ahead_resp;
	if (coap_send(c->s, pdu) == COAP_INVALID_MID) {
		c->req.busy = false; /* the caller's mcoap_start_block() sends it, and says why not */
		return;
	}
	x->ahead = true;
	x->ahead_num = x->b2.num;
}

void mcoap_on_next_block(struct m2m_coap *c, m2m_coap_next_block_fn ok, void *ctx)
{
	c->next_block = ok;
	c->next_block_ctx = ctx;
}

static int start_from(struct m2m_coap *c, const char *path, const char *query, unsigned num,
		      unsigned block_size, const uint8_t *etag, size_t etag_len, bool one,
		      unsigned timeout_ms, struct m2m_err *err)
{
	struct mcoap_xfer *x = &c->x;
	unsigned szx = c->block_szx;
	int rc;

	if (block_size) {
		for (szx = 0; szx <= 6 && (16u << szx) != block_size; szx++)
			;
		if (szx > 6)
			return m2m_err_set(err, M2M_ERR_FAILURE,
					   "block size %u: not a power of two from 16 to 1024",
					   block_size);
	}
	if (etag_len > sizeof(x->etag) || (etag_len && !etag))
		return m2m_err_set(err, M2M_ERR_FAILURE, "an ETag of %zu bytes (1 to 8)", etag_len);
	if (num >= 1u << 20) /* the Block2 option's 20 bits (RFC 7959 2.2) */
		return m2m_err_set(err, M2M_ERR_FAILURE, "block %u: beyond the Block2 option", num);
	if (one && x_adopt(c, path, query, num, szx, timeout_ms))
		goto set; /* asked for already, from the handler: its answer may be in */
	rc = x_begin(c, M2M_COAP_GET, path, query, M2M_COAP_NONE, NULL, 0, timeout_ms, err);
	if (rc)
		return rc;
	x->resume = true;
	x->one = one;
	x->b2.has = true;
	x->b2.num = num;
	x->b2.szx = szx;
	/* a new token, no late answers: the server may answer in smaller blocks (another number) */
	c->req.b1 = c->req.b2 = false;
	rc = x_send(c, request_pdu(c, x->method, x->path, x->query, x->cf, NULL, 0, &x->b2), NULL,
		    0);
	if (rc) {
		*err = x->err;
		x->active = false;
		return rc;
	}
set:
	x->base = (size_t)num << (szx + 4);
	if (etag_len)
		memcpy(x->etag, etag, etag_len);
	x->etag_len = etag_len;
	return M2M_OK;
}

int mcoap_start_from(struct m2m_coap *c, const char *path, const char *query, unsigned num,
		     unsigned block_size, const uint8_t *etag, size_t etag_len,
		     unsigned timeout_ms, struct m2m_err *err)
{
	return start_from(c, path, query, num, block_size, etag, etag_len, false, timeout_ms, err);
}

int mcoap_start_block(struct m2m_coap *c, const char *path, const char *query, unsigned num,
		      unsigned block_size, const uint8_t *etag, size_t etag_len,
		      unsigned timeout_ms, struct m2m_err *err)
{
	return start_from(c, path, query, num, block_size, etag, etag_len, true, timeout_ms, err);
}

bool mcoap_poll(struct m2m_coap *c)
{
	struct mcoap_xfer *x = &c->x;
	uint64_t now = m2m_now_ms();

	if (!x->active || x->finished)
		return true;
	if (c->req.done || now >= x->deadline || finished_unanswered(c, now))
		return x_step(c);
	return false;
}

uint64_t mcoap_wait_ms(struct m2m_coap *c)
{
	uint64_t now = m2m_now_ms();

	return c->x.active && !c->x.finished ? (c->x.deadline > now ? c->x.deadline - now : 0) :
					      UINT64_MAX;
}

int mcoap_finish(struct m2m_coap *c, struct m2m_coap_msg *resp, uint8_t **body,
		 struct m2m_err *err)
{
	struct mcoap_xfer *x = &c->x;
	int rc = x->rc;

	*body = NULL;
	memset(resp, 0, sizeof(*resp));
	if (!x->active || !x->finished)
		return m2m_err_set(err, M2M_ERR_FAILURE, "no request has finished");
	if (rc) {
		*err = x->err;
	} else {
		*resp = x->resp;
		*body = x->p;
		x->p = NULL;
	}
	x->active = x->finished = false;
	return rc;
}

void mcoap_discard(struct m2m_coap *c)
{
	struct mcoap_xfer *x = &c->x;

	c->req.busy = false;
	free(c->req.body);
	c->req.body = NULL;
	free(x->p);
	free(x->all);
	memset(x, 0, sizeof(*x));
}

/* The request started (rc: how its start went) carried through to its outcome */
static int x_wait(struct m2m_coap *c, int rc, struct m2m_coap_msg *resp, uint8_t **body,
		  struct m2m_err *err)
{
	*body = NULL;
	memset(resp, 0, sizeof(*resp));
	if (rc)
		return rc;
	while (!mcoap_poll(c)) {
		uint64_t left = mcoap_wait_ms(c);

		coap_io_process(c->ctx, (uint32_t)(left < 100 ? (left ? left : 1) : 100));
	}
	return mcoap_finish(c, resp, body, err);
}

int mcoap_request(struct m2m_coap *c, unsigned method, const char *path, const char *query,
		     unsigned content_format, const uint8_t *payload, size_t len,
		     unsigned timeout_ms, struct m2m_coap_msg *resp, uint8_t **body,
		     struct m2m_err *err)
{
	int rc = mcoap_start(c, method, path, query, content_format, payload, len, timeout_ms,
			     err);

	return x_wait(c, rc, resp, body, err);
}

int mcoap_get_from(struct m2m_coap *c, const char *path, const char *query, unsigned num,
		   unsigned block_size, const uint8_t *etag, size_t etag_len, unsigned timeout_ms,
		   struct m2m_coap_msg *resp, uint8_t **body, struct m2m_err *err)
{
	int rc = mcoap_start_from(c, path, query, num, block_size, etag, etag_len, timeout_ms,
				  err);

	return x_wait(c, rc, resp, body, err);
}

int mcoap_get_block(struct m2m_coap *c, const char *path, const char *query, unsigned num,
		    unsigned block_size, const uint8_t *etag, size_t etag_len, unsigned timeout_ms,
		    struct m2m_coap_msg *resp, uint8_t **body, struct m2m_err *err)
{
	int rc = mcoap_start_block(c, path, query, num, block_size, etag, etag_len, timeout_ms,
				   err);

	return x_wait(c, rc, resp, body, err);
}
