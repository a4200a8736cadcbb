/* SPDX-License-Identifier: MIT */
/*
 * The coap and coaps pull over lib/coap: one GET per Block2 block (RFC
 * 7959), block num asked for, written at num * size, so that an interrupted
 * pull resumes from the last whole block written (libcoap's own block layer
 * does not go on from a block > 0: the lab saw its client stop after it).
 * The block size is the caller's (dm.block_size), or the server's smaller
 * one (RFC 7959 2.4).
 *
 * The validator: libcoap's coap-server sends the ETag (and Size2) with block
 * 0 only, not with a block asked for out of sequence. So an ETag is compared
 * when both sides have one; a resume against such a server compares nothing,
 * and a resource that changed between two runs is caught by the package's
 * signature and hash at the end (the journal then starts again from 0).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "update/fetch.h"

static void no_requests(void *ctx, const struct m2m_coap_msg *req, struct m2m_coap_reply *rep)
{
	(void)ctx, (void)req;
	rep->code = 0x84; /* 4.04: we serve nothing */
}

/* The URL's path ("/fw/a") and query ("v=1"), after scheme://host[:port] */
static void split_url(const char *url, char *path, size_t plen, char *query, size_t qlen)
{
	const char *h = strstr(url, "://"), *p, *q;

	h = h ? h + 3 : url;
	p = h + strcspn(h, "/?");
	q = strchr(p, '?');
	snprintf(path, plen, "%.*s", (int)(q ? q - p : (ptrdiff_t)strlen(p)), p);
	snprintf(query, qlen, "%s", q ? q + 1 : "");
}

static bool block_size_ok(unsigned bs)
{
	return bs >= 16 && bs <= 1024 && !(bs & (bs - 1));
}

static int coap_code_error(struct upd_fetch_io *io, unsigned code)
{
	const char *url = io->o->url;
	unsigned cls = code >> 5, detail = code & 31;

	if (code == 0x84)
		return m2m_err_set(io->err, M2M_ERR_NOT_FOUND, "%s: %u.%02u (not found)", url, cls,
				   detail);
	if (code == 0x81 || code == 0x83)
		return m2m_err_set(io->err, M2M_ERR_AUTH_LOCAL, "%s: %u.%02u (refused)", url, cls,
				   detail);
	return m2m_err_set(io->err, M2M_ERR_PROTOCOL, "%s: answered %u.%02u", url, cls, detail);
}

/* The checks before a block is asked for: stopped, out of time, beyond the option */
static int may_ask(struct upd_fetch_io *io, uint64_t offset, unsigned bs, struct m2m_err *err)
{
	const struct upd_fetch_opts *o = io->o;

	if (o->stop && *o->stop)
		return m2m_err_set(err, M2M_ERR_TIMEOUT, "%s: stopped at byte %" PRIu64,
				   o->url, io->st->offset);
	if (io->deadline && m2m_now_ms() >= io->deadline)
		return m2m_err_set(err, M2M_ERR_TIMEOUT,
				   "%s: not complete within %u ms (%" PRIu64 " bytes)", o->url,
				   o->timeout_ms, io->st->offset);
	if (offset / bs >= 1u << 20)
		return m2m_err_set(err, M2M_ERR_PROTOCOL,
				   "%s: block %" PRIu64 " is beyond the Block2 option", o->url,
				   offset / bs);
	return M2M_OK;
}

/* Ask for the block that starts at offset (a multiple of bs), under the stall bound */
static int ask(struct upd_fetch_io *io, struct m2m_coap *c, const char *path, const char *query,
	       uint64_t offset, unsigned bs, const uint8_t *etag, size_t etag_len)
{
	unsigned stall_ms = io->o->stall_ms ? io->o->stall_ms : 60000, left;
	int rc = may_ask(io, offset, bs, io->err);

	if (rc)
		return rc;
	left = upd_io_left_ms(io);
	return mcoap_start_block(c, path, query, (unsigned)(offset / bs), bs, etag, etag_len,
				 left < stall_ms ? left : stall_ms, io->err);
}

/*
 * The answer to the block asked for (mcoap_get_block's wait, on the request
 * started); a stop is looked at every 100 ms of it, as the http pull's
 * progress callback does: a cancel or the client's end must not wait for a
 * silent server's stall bound.
 */
static int answer(struct upd_fetch_io *io, struct m2m_coap *c, struct m2m_coap_msg *resp,
		  uint8_t **body)
{
	const struct upd_fetch_opts *o = io->o;

	while (!mcoap_poll(c)) {
		uint64_t left = mcoap_wait_ms(c);

		if (o->stop && *o->stop) {
			mcoap_discard(c);
			return m2m_err_set(io->err, M2M_ERR_TIMEOUT, "%s: stopped at byte %" PRIu64,
					   o->url, io->st->offset);
		}
		mcoap_process(c, (unsigned)(left < 100 ? (left ? left : 1) : 100));
	}
	return mcoap_finish(c, resp, body, io->err);
}

/*
 * lib/coap's next-block hook (inside mcoap_process): block n + 1 is wanted
 * when pull() below would ask for it (st->offset is where block n starts:
 * the blocks before it are written). The answer's code, size and more flag
 * are lib/coap's checks; pull() judges the answer as it always does, and an
 * answer it refuses drops the request asked for ahead (mcoap_discard, or
 * mcoap_close).
 */
static bool next_wanted(void *ctx, const struct m2m_coap_msg *r)
{
	struct upd_fetch_io *io = ctx;
	uint64_t next = io->st->offset + r->len;
	struct m2m_err scratch = { 0 };

	return next <= upd_io_bound(io) && !may_ask(io, next, (unsigned)r->len, &scratch);
}

/*
 * One block at a time (NSTART = 1, RFC 7252 4.7), but the next block is
 * asked for as soon as an answer is in, from libcoap's answer handler
 * (mcoap_on_next_block, as libcoap's own client does), before its bytes go
 * to the file and the sink: the write, the hash and the fsync of a
 * checkpoint happen while the next block is on its way, not between the
 * blocks. ask() then takes that request under way. An answer that is not the
 * next block of the same representation discards the request under way (its
 * late answer is ignored) before anything is decided.
 */
static int pull(struct upd_fetch_io *io, struct m2m_coap *c, const char *path, const char *query,
		unsigned bs)
{
	const struct upd_fetch_opts *o = io->o;
	struct upd_fetch_state *st = io->st;
	bool restarted = false;
	uint8_t etag[8];
	size_t etag_len = 0;
	int rc;

	if (st->etag[0] && !m2m_unhex(st->etag, etag, sizeof(etag), &etag_len))
		st->etag[0] = 0; /* not one of ours: nothing to compare */
	if (st->total && st->offset == st->total)
		return M2M_OK;
	if ((rc = ask(io, c, path, query, st->offset, bs, etag, etag_len)))
		return rc;
	for (;;) {
		struct m2m_coap_msg resp;
		uint8_t *body = NULL;
		unsigned size;
		bool next;
		int rc2;

		rc = answer(io, c, &resp, &body);
		if (rc == M2M_ERR_PROTOCOL && st->offset && !restarted) {
			/* another ETag, or an answer from byte 0: the resume is not to be had */
			restarted = true;
			etag_len = 0;
			if ((rc = upd_io_restart(io)) ||
			    (rc = ask(io, c, path, query, st->offset, bs, etag, etag_len)))
				return rc;
			continue;
		}
		if ((rc == M2M_ERR_UNREACHABLE || rc == M2M_ERR_TIMEOUT) && io->deadline &&
		    m2m_now_ms() >= io->deadline)
			return m2m_err_set(io->err, M2M_ERR_TIMEOUT,
					   "%s: not complete within %u ms (%" PRIu64 " bytes)", o->url,
					   o->timeout_ms, st->offset);
		if (rc)
			return rc;
		if (resp.code != 0x45 && resp.code != 0x44) {
			free(body);
			if (resp.code == 0x82 && st->offset && !restarted) {
				/* no such block: a resource now shorter than our part */
				restarted = true;
				etag_len = 0;
				if ((rc = upd_io_restart(io)) ||
				    (rc = ask(io, c, path, query, st->offset, bs, etag, etag_len)))
					return rc;
				continue;
			}
			return coap_code_error(io, resp.code);
		}
		if (!resp.block2.has) {
			/* not block-wise: the whole in one answer (from 0: a resume was refused above) */
			if (!(rc = upd_io_total(io, resp.len)))
				rc = upd_io_write(io, body, resp.len);
			free(body);
			return rc;
		}
		size = 16u << resp.block2.szx;
		if (size < bs)
			bs = size; /* the server's smaller blocks, for the rest (RFC 7959 2.4) */
		if (st->offset == 0) {
			/* block 0 carries the representation's ETag and Size2 (coap-server's) */
			if (resp.etag_len) {
				memcpy(etag, resp.etag, resp.etag_len);
				etag_len = resp.etag_len;
				m2m_hex(etag, etag_len, st->etag, sizeof(st->etag));
			}
			if (resp.size2 && (rc = upd_io_total(io, resp.size2))) {
				free(body);
				return rc;
			}
		}
		if (resp.block2.more && resp.len != size) {
			free(body);
			return m2m_err_set(io->err, M2M_ERR_PROTOCOL,
					   "%s: block %u of %u bytes, not %u", o->url,
					   resp.block2.num, (unsigned)resp.len, size);
		}
		if (!resp.block2.more && st->total && st->total != st->offset + resp.len) {
			free(body);
			return m2m_err_set(io->err, M2M_ERR_PROTOCOL,
					   "%s: the last block ends at %" PRIu64 ", Size2 said %" PRIu64,
					   o->url, st->offset + resp.len, st->total);
		}
		/* the next block on its way before this one is written (the bound is upd_io_write's) */
		next = resp.block2.more && st->offset + resp.len <= upd_io_bound(io);
		rc2 = next ? ask(io, c, path, query, st->offset + resp.len, bs, etag, etag_len) :
			     M2M_OK;
		/* this block is kept also when the next cannot be asked for (stopped, out of time) */
		rc = upd_io_write(io, body, resp.len);
		free(body);
		if (rc) {
			mcoap_discard(c);
			return rc;
		}
		if (rc2)
			return rc2;
		if (!resp.block2.more) {
			st->total = st->offset;
			return M2M_OK;
		}
	}
}

int upd_fetch_coap(struct upd_fetch_io *io)
{
	const struct upd_fetch_opts *o = io->o;
	struct upd_fetch_state *st = io->st;
	struct m2m_coap_opts co = { .security = M2M_DM_NOSEC };
	bool secure = upd_fetch_scheme(o->url) == UPD_SCHEME_COAPS;
	char path[512], query[256];
	struct m2m_coap *c;
	unsigned bs;
	int rc;

	if (o->coap)
		co = *o->coap;
	co.uri = o->url;
	if (!secure)
		co.security = M2M_DM_NOSEC;
	else if (co.security == M2M_DM_NOSEC)
		return m2m_err_set(io->err, M2M_ERR_CONFIG, "%s: coaps needs a PSK or a certificate",
				   o->url);
	bs = co.block_size ? co.block_size : 1024;
	if (!block_size_ok(bs))
		return m2m_err_set(io->err, M2M_ERR_CONFIG,
				   "block size %u: not a power of two from 16 to 1024", bs);
	split_url(o->url, path, sizeof(path), query, sizeof(query));
	/* the last whole block is where it resumes */
	if ((rc = upd_io_rewind(io, st->offset - st->offset % bs)))
		return rc;
	/* the name looked up within the pull's time and its stall bound */
	co.resolve_ms = upd_io_left_ms(io);
	if (!co.resolve_ms || co.resolve_ms > (o->stall_ms ? o->stall_ms : 60000))
		co.resolve_ms = o->stall_ms ? o->stall_ms : 60000;
	co.resolve_stop = o->stop;
	if ((rc = mcoap_open(&co, no_requests, NULL, &c, io->err)))
		return rc;
	mcoap_on_next_block(c, next_wanted, io);
	rc = pull(io, c, path, query, bs);
	mcoap_close(c);
	return rc;
}
