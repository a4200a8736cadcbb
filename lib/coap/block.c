/* SPDX-License-Identifier: MIT */
/*
 * Block-wise transfers (RFC 7959), done here rather than by libcoap: the
 * values we serve in blocks (answers and notifications, each with its ETag),
 * and the values kept for the later blocks a server asks for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/base.h"
#include "coap/coap_int.h"

/*
 * The ETag of a representation that goes out in blocks (RFC 7959 2.4): the
 * first 8 bytes of its SHA-256, never 0 (libcoap would put a counter of its
 * own in). The same value reaches the notification that carries the first
 * block and every later block the server asks for, so a server can tell when
 * a block comes from a newer value than the ones before.
 */
uint64_t mcoap_etag_of(const uint8_t *p, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	uint64_t e = 0;

	if (EVP_Digest(p ? p : (const uint8_t *)"", len, md, NULL, EVP_sha256(), NULL))
		for (int i = 0; i < 8; i++)
			e = e << 8 | md[i];
	return e ? e : 1;
}

/* Block option value: number, more, size exponent */
size_t mcoap_block_opt(uint8_t v[4], unsigned num, bool more, unsigned szx)
{
	return coap_encode_var_safe(v, 4, num << 4 | (more ? 8u : 0u) | szx);
}

/* Content-Format 0 (text/plain) too: 4.3.1 leaves it out, LwM2M servers want it */
bool mcoap_add_cf(coap_pdu_t *pdu, unsigned cf)
{
	uint8_t v[4];

	return cf == M2M_COAP_NONE ||
	       coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
			       coap_encode_var_safe(v, sizeof(v), cf), v) != 0;
}

/*
 * Block num (size exponent szx) of a value with its ETag, Block2 and Size2:
 * 0, 4.02 past the end, 5.00 if it does not fit.
 */
unsigned mcoap_put_block(coap_pdu_t *pdu, const uint8_t *p, size_t len, uint64_t etag,
			  unsigned num, unsigned szx)
{
	size_t chunk = (size_t)1 << (szx + 4), off = (size_t)num * chunk;
	size_t n = len > off ? (len - off < chunk ? len - off : chunk) : 0;
	uint8_t v[8];

	if (num > 0 && off >= len)
		return COAP_RESPONSE_CODE(402);
	if (!coap_add_option(pdu, COAP_OPTION_ETAG, coap_encode_var_safe8(v, sizeof(v), etag), v) ||
	    !coap_add_option(pdu, COAP_OPTION_BLOCK2, mcoap_block_opt(v, num, off + n < len, szx), v) ||
	    !coap_add_option(pdu, COAP_OPTION_SIZE2,
			     coap_encode_var_safe(v, sizeof(v), (unsigned)len), v) ||
	    !coap_add_data(pdu, n, p + off))
		return COAP_RESPONSE_CODE(500);
	return 0;
}

/*
 * A value larger than a block, in answer to a GET: the block asked for (the
 * first if none), with ETag and Size2, served by us rather than by libcoap's
 * large-body cache, which would answer the later blocks of a notification
 * from an older value and hold mcoap_idle() false for up to 93 s. The value
 * is kept when its first block goes out (as a notification's is), so its
 * later blocks come from it, not from a newer value; a server that sees
 * another ETag starts again (RFC 7959 2.4). Frees rep->payload.
 */
void mcoap_block_answer(struct m2m_coap *c, const struct m2m_coap_msg *m,
			struct m2m_coap_reply *rep, coap_pdu_t *resp)
{
	unsigned num = m->block2.has ? m->block2.num : 0, code;
	uint64_t etag = num == 0 ?
			mcoap_keep_note(c, m->path, rep->content_format, rep->payload, rep->len) :
			mcoap_etag_of(rep->payload, rep->len);

	mcoap_add_cf(resp, rep->content_format);
	code = mcoap_put_block(resp, rep->payload, rep->len, etag, num,
			       m->block2.has ? m->block2.szx : c->block_szx);
	if (code)
		coap_pdu_set_code(resp, code);
	free(rep->payload);
}

/*
 * A large notification's value, kept for the later blocks the server GETs
 * (RFC 7959 2.6, 3.4): they come from it, not from a newer value, for as long
 * as a server may take to ask (MAX_TRANSMIT_WAIT, RFC 7252) or until a newer
 * notification of the path replaces it. Our own copy rather than libcoap's
 * large-body cache: that one would hold mcoap_idle() false for up to 93 s
 * and with it the acknowledgement of a confirmable notification.
 */
#define KEEP_MS 93000

static const char *bare(const char *path)
{
	while (*path == '/')
		path++;
	return path;
}

/* Keep a value for its later blocks; its ETag. */
uint64_t mcoap_keep_note(struct m2m_coap *c, const char *path, unsigned cf, const uint8_t *p,
			  size_t len)
{
	struct kept *k = &c->kept[0];
	uint8_t *copy = malloc(len);
	uint64_t etag = mcoap_etag_of(p, len);

	if (!copy)
		return etag; /* its later blocks come from the value read then */
	for (size_t i = 0; i < ARRAY_SIZE(c->kept); i++) {
		if (strcmp(c->kept[i].path, bare(path)) == 0) {
			k = &c->kept[i];
			break;
		}
		if (c->kept[i].at < k->at)
			k = &c->kept[i]; /* the oldest (or an empty one) goes */
	}
	free(k->p);
	snprintf(k->path, sizeof(k->path), "%s", bare(path));
	memcpy(copy, p, len);
	k->p = copy;
	k->len = len;
	k->cf = cf;
	k->etag = etag;
	k->at = m2m_now_ms();
	return etag;
}

/* The kept value of path in a content format the request accepts, or NULL. */
const struct kept *mcoap_kept_note(struct m2m_coap *c, const char *path, unsigned accept)
{
	for (size_t i = 0; i < ARRAY_SIZE(c->kept); i++) {
		struct kept *k = &c->kept[i];

		if (!k->p)
			continue;
		if (m2m_now_ms() - k->at > KEEP_MS) {
			free(k->p);
			memset(k, 0, sizeof(*k));
			continue;
		}
		if (strcmp(k->path, bare(path)) == 0 && (accept == M2M_COAP_NONE || accept == k->cf))
			return k;
	}
	return NULL;
}

/*
 * A request body in Block1 blocks (RFC 7959 2.3, 2.5): applied only when
 * the last block is in, never in part. The blocks must come in order from
 * block 0 (2.5 allows a server to insist), each but the last the full size
 * its SZX says (2.2); a block that does not continue the body in progress
 * is 4.08 Request Entity Incomplete (2.9.2). Nothing is allocated from a
 * peer's claim: a Size1 over the limit, or a body that grows past it, is
 * 4.13 with Size1 = the limit (2.9.3, 4), and the buffer grows only with
 * the bytes that came. A body in progress is forgotten after KEEP_MS
 * without a block, as a server that stopped sending would expect.
 */
void mcoap_rx_drop(struct m2m_coap *c)
{
	free(c->rx.p);
	memset(&c->rx, 0, sizeof(c->rx));
}

static int rx_answer(coap_pdu_t *resp, unsigned code)
{
	coap_pdu_set_code(resp, (coap_pdu_code_t)code);
	return 1;
}

static int rx_too_large(struct m2m_coap *c, coap_pdu_t *resp)
{
	uint8_t v[8];

	mcoap_rx_drop(c);
	coap_add_option(resp, COAP_OPTION_SIZE1,
			coap_encode_var_safe8(v, sizeof(v), (uint64_t)c->max_body), v);
	return rx_answer(resp, COAP_RESPONSE_CODE(413));
}

int mcoap_rx(struct m2m_coap *c, struct m2m_coap_msg *m, coap_pdu_t *resp)
{
	const struct m2m_coap_block *b = &m->block1;
	size_t bsz = (size_t)16 << b->szx;
	uint64_t off = (uint64_t)b->num * bsz;
	uint8_t v[4];
	uint8_t *p;

	if (m->bad_option)
		return rx_answer(resp, COAP_RESPONSE_CODE(400));
	if (c->rx.active && m2m_now_ms() - c->rx.at > KEEP_MS)
		mcoap_rx_drop(c);
	if ((m->has_size1 && m->size1 > c->max_body) || m->len > c->max_body)
		return rx_too_large(c, resp);
	if (!b->has)
		return 0;
	if (c->rx.active && b->num && b->more && b->num == c->rx.last_num &&
	    off + m->len == c->rx.len && c->rx.code == m->code &&
	    strcmp(c->rx.path, m->path) == 0) {
		/* the last block again (our 2.31 was lost, a new message ID): the same answer */
		coap_add_option(resp, COAP_OPTION_BLOCK1, mcoap_block_opt(v, b->num, true, b->szx), v);
		return rx_answer(resp, COAP_RESPONSE_CODE(231));
	}
	if (b->num == 0) {
		mcoap_rx_drop(c); /* a new body replaces one in progress */
	} else if (!c->rx.active || c->rx.code != m->code || strcmp(c->rx.path, m->path) ||
		   off != c->rx.len) {
		if (c->rx.active && strcmp(c->rx.path, m->path) == 0)
			mcoap_rx_drop(c); /* that body cannot be completed any more */
		return rx_answer(resp, COAP_RESPONSE_CODE(408));
	}
	if (b->more && m->len != bsz)
		return rx_answer(resp, COAP_RESPONSE_CODE(400));
	if (off + m->len > c->max_body)
		return rx_too_large(c, resp);
	if (b->num == 0 && !b->more)
		return 0; /* the whole body in one block */
	if (m->len) {
		p = realloc(c->rx.p, c->rx.len + m->len);
		if (!p) {
			mcoap_rx_drop(c);
			return rx_answer(resp, COAP_RESPONSE_CODE(500));
		}
		memcpy(p + c->rx.len, m->payload, m->len);
		c->rx.p = p;
		c->rx.len += m->len;
	}
	c->rx.at = m2m_now_ms();
	if (b->more) {
		c->rx.active = true;
		c->rx.last_num = b->num;
		c->rx.code = m->code;
		c->rx.cf = m->content_format;
		snprintf(c->rx.path, sizeof(c->rx.path), "%s", m->path);
		coap_add_option(resp, COAP_OPTION_BLOCK1, mcoap_block_opt(v, b->num, true, b->szx), v);
		return rx_answer(resp, COAP_RESPONSE_CODE(231));
	}
	/* the last block: the handler gets the whole body, in the first block's format */
	c->rx.active = false;
	m->content_format = c->rx.cf;
	m->payload = c->rx.p;
	m->len = c->rx.len;
	return 0;
}

void mcoap_rx_done(struct m2m_coap *c, const struct m2m_coap_msg *m, coap_pdu_t *resp)
{
	uint8_t v[4];

	if (m->block1.has && COAP_RESPONSE_CLASS(coap_pdu_get_code(resp)) == 2)
		coap_add_option(resp, COAP_OPTION_BLOCK1,
				mcoap_block_opt(v, m->block1.num, false, m->block1.szx), v);
	if (!c->rx.active)
		mcoap_rx_drop(c);
}

/*
 * Request bodies handed on a block at a time (mcoap_on_block1): the order and
 * the sizes are checked here as mcoap_rx checks them (RFC 7959 2.2, 2.3,
 * 2.9.2), but nothing is kept: each block goes to the handler as it comes,
 * so a body of any size never sits in memory.
 */
void mcoap_on_block1(struct m2m_coap *c, const char *path, m2m_coap_block1_fn fn, void *ctx)
{
	memset(&c->b1s, 0, sizeof(c->b1s));
	snprintf(c->b1s.path, sizeof(c->b1s.path), "%s", fn && path ? bare(path) : "");
	c->b1s.fn = fn;
	c->b1s.ctx = ctx;
}

bool mcoap_rx_stream(struct m2m_coap *c, const struct m2m_coap_msg *m, coap_pdu_t *resp)
{
	const struct m2m_coap_block *b = &m->block1;
	uint64_t off = b->has ? (uint64_t)b->num << (b->szx + 4) : 0;
	bool more = b->has && b->more;
	unsigned code;
	uint8_t v[4];

	if (!c->b1s.fn || (m->code != COAP_REQUEST_CODE_PUT && m->code != COAP_REQUEST_CODE_POST) ||
	    strcmp(bare(m->path), c->b1s.path) != 0)
		return false;
	if (m->bad_option)
		return rx_answer(resp, COAP_RESPONSE_CODE(400));
	if (c->b1s.active && m2m_now_ms() - c->b1s.at > KEEP_MS)
		c->b1s.active = false;
	if (c->b1s.active && b->has && b->num && more && b->num == c->b1s.last_num &&
	    off + m->len == c->b1s.next && m->code == c->b1s.code) {
		/* the last block again (our 2.31 was lost, a new message ID): the same answer */
		coap_add_option(resp, COAP_OPTION_BLOCK1, mcoap_block_opt(v, b->num, true, b->szx), v);
		return rx_answer(resp, COAP_RESPONSE_CODE(231));
	}
	if (off && (!c->b1s.active || m->code != c->b1s.code || off != c->b1s.next)) {
		c->b1s.active = false; /* that body cannot be completed any more */
		return rx_answer(resp, COAP_RESPONSE_CODE(408));
	}
	if (more && m->len != (size_t)16 << b->szx) {
		c->b1s.active = false;
		return rx_answer(resp, COAP_RESPONSE_CODE(400));
	}
	code = c->b1s.fn(c->b1s.ctx, m, off);
	c->b1s.active = more && COAP_RESPONSE_CLASS(code) == 2;
	if (c->b1s.active) {
		c->b1s.code = m->code;
		c->b1s.last_num = b->num;
		c->b1s.next = off + m->len;
		c->b1s.at = m2m_now_ms();
		code = COAP_RESPONSE_CODE(231);
	}
	if (b->has && COAP_RESPONSE_CLASS(code) == 2)
		coap_add_option(resp, COAP_OPTION_BLOCK1, mcoap_block_opt(v, b->num, more, b->szx), v);
	return rx_answer(resp, code);
}
