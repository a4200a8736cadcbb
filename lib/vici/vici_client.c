/* SPDX-License-Identifier: MIT */
/*
 * VICI client: the exchanges on one connection to charon (the connection
 * itself, its time limits and raw I/O: vici_conn.c).
 *
 * VICI has no sequence numbers: charon answers the packets of a connection
 * one by one, in order, with exactly one reply each (CMD_RESPONSE or
 * CMD_UNKNOWN for a command, EVENT_CONFIRM or EVENT_UNKNOWN for a
 * registration). When we give up on a reply (timeout, a malformed event in
 * between), it may still come later; ->stale counts such replies so they are
 * dropped instead of being taken for the answer to the next command.
 *
 * When the byte stream itself can no longer be trusted (a bad length prefix,
 * a packet cut off by a timeout, a reply of the wrong kind, EOF), the
 * connection is marked broken and every later call fails.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vici/vici_conn.h"

/* ---- exchanges ----------------------------------------------------------- */

static bool is_reply(int type)
{
	return type == VICI_CMD_RESPONSE || type == VICI_CMD_UNKNOWN ||
	       type == VICI_EVENT_CONFIRM || type == VICI_EVENT_UNKNOWN;
}

/* Decode an event and hand it to cb; the tree lives only for the call. */
static int deliver_event(const char *name, size_t name_len, const uint8_t *body,
			 size_t body_len, vici_event_cb cb, void *ctx, struct m2m_err *err)
{
	struct vici_node *tree;
	char ev[256];
	int rc;

	memcpy(ev, name, name_len);
	ev[name_len] = '\0';
	rc = vici_decode(body, body_len, &tree, err);
	if (rc)
		return m2m_err_prefix(err, "event '%s' from charon", ev);
	if (cb)
		cb(ctx, ev, tree);
	vici_node_free(tree);
	return M2M_OK;
}

/* A received packet and its parts, which point into buf. */
struct packet {
	uint8_t *buf;
	size_t len;
	int type;
	const char *name;
	size_t name_len;
	const uint8_t *body;
	size_t body_len;
};

static int step_reply(struct vici_conn *c, const struct op *op, struct vici_step *st,
		      struct packet *pk, struct m2m_err *err);

/* Answers still owed for n steps we give up on; those sent ahead come before them. */
static void owe(struct vici_conn *c, size_t n)
{
	c->stale += c->ahead + (unsigned)n;
	c->ahead = 0;
}

/*
 * Read packets until a reply arrives (or, with want_event, one event),
 * delivering events on the way. On success a reply is left in *pk for the
 * caller to interpret and free; after an event pk->buf is NULL.
 */
static int next_reply(struct vici_conn *c, const struct op *op, bool want_event,
		      struct packet *pk, vici_event_cb cb, void *ctx, struct m2m_err *err)
{
	int rc;

	for (;;) {
		rc = vc_recv_packet(c, op, &pk->buf, &pk->len, err);
		if (rc)
			return rc;
		rc = vici_packet_split(pk->buf, pk->len, &pk->type, &pk->name, &pk->name_len,
				       &pk->body, &pk->body_len, err);
		if (rc) {
			/*
			 * An unknown packet type may well have been the reply
			 * we wait for: we no longer know where we are.
			 */
			c->broken = true;
			vc_packet_free(pk->buf, pk->len);
			pk->buf = NULL;
			return rc;
		}
		if (pk->type == VICI_EVENT) {
			rc = deliver_event(pk->name, pk->name_len, pk->body, pk->body_len, cb,
					   ctx, err);
			vc_packet_free(pk->buf, pk->len);
			pk->buf = NULL;
			if (rc || want_event)
				return rc;
			if (c->end_wait)
				return M2M_OK; /* no reply in pk: the caller stops waiting */
			/*
			 * a charon that never stops sending events never makes a read
			 * wait: the limit is looked at between them too (the stream
			 * stays in step: nothing of a packet is left half read)
			 */
			if ((op->deadline >= 0 && vc_remaining(op->deadline) == 0) ||
			    (c->cancel && *c->cancel))
				return vc_io_fail(c, op, IO_ETIMEOUT, 0, err);
			continue;
		}
		if (is_reply(pk->type) && c->ahead) {
			/* a registration sent ahead: its answer is first in line */
			struct vici_step st = { .type = VICI_EVENT_REGISTER, .name = c->ahead_name[0] };

			rc = step_reply(c, op, &st, pk, err);
			vc_packet_free(pk->buf, pk->len);
			pk->buf = NULL;
			c->ahead--;
			memmove(c->ahead_name[0], c->ahead_name[1], sizeof(c->ahead_name[0]) * c->ahead);
			if (rc)
				return rc;
			continue;
		}
		if (is_reply(pk->type) && c->stale) {
			/* the late answer to a request we already gave up on */
			c->stale--;
			vc_packet_free(pk->buf, pk->len);
			pk->buf = NULL;
			continue;
		}
		return M2M_OK;
	}
}

/* A reply we did not expect: the two sides disagree on the conversation. */
static int unexpected(struct vici_conn *c, const struct op *op, struct packet *pk,
		      struct m2m_err *err)
{
	int type = pk->type;

	c->broken = true;
	vc_packet_free(pk->buf, pk->len);
	pk->buf = NULL;
	if (!op->what)
		return m2m_err_set(err, M2M_ERR_PROTOCOL,
				   "unexpected VICI packet type %d from charon", type);
	return m2m_err_set(err, M2M_ERR_PROTOCOL,
			   "unexpected VICI packet type %d from charon in answer to '%s'", type,
			   op->what);
}

static int usable(struct vici_conn *c, struct m2m_err *err)
{
	if (!c)
		return m2m_err_set(err, M2M_ERR_FAILURE, "no VICI connection");
	if (c->busy)
		return m2m_err_set(err, M2M_ERR_FAILURE,
				   "VICI connection used from inside its own event callback");
	if (c->broken)
		return m2m_err_set(err, M2M_ERR_DAEMON,
				   "VICI connection to %s unusable after an earlier error; reconnect",
				   c->path);
	return M2M_OK;
}

/* The longest pipeline: what one "up" or "status" sends before it knows more. */
#define PIPELINE_MAX 8

/* What a step is, for messages: "initiate" or "register control-log". */
static void step_what(const struct vici_step *st, char *buf, size_t len)
{
	if (st->type == VICI_CMD_REQUEST)
		snprintf(buf, len, "%s", st->name);
	else
		snprintf(buf, len, "%s %s",
			 st->type == VICI_EVENT_REGISTER ? "register" : "unregister", st->name);
}

/* Everything that can be wrong with a step before anything is sent. */
static int step_check(const struct vici_step *st, struct m2m_err *err)
{
	size_t nlen;
	int rc;

	if (st->type == VICI_CMD_REQUEST) {
		if (!st->name)
			return m2m_err_set(err, M2M_ERR_FAILURE, "no VICI command name");
		if (st->req && (rc = vici_buf_check(st->req, err)))
			return m2m_err_prefix(err, "%s", st->name);
	} else if (st->type == VICI_EVENT_REGISTER || st->type == VICI_EVENT_UNREGISTER) {
		if (!st->name)
			return m2m_err_set(err, M2M_ERR_FAILURE, "no VICI event name");
	} else {
		return m2m_err_set(err, M2M_ERR_FAILURE, "VICI packet type %d is not a request",
				   st->type);
	}
	nlen = strlen(st->name);
	if (nlen == 0 || nlen > 255)
		return m2m_err_set(err, M2M_ERR_FAILURE, "invalid VICI name '%s'", st->name);
	return M2M_OK;
}

/* A step's length prefix, type and name into hdr (4 + 1 + 1 + 255 bytes); its length. */
static size_t step_header(const struct vici_step *st, size_t total, uint8_t *hdr)
{
	size_t nlen = strlen(st->name);

	hdr[0] = (uint8_t)(total >> 24);
	hdr[1] = (uint8_t)(total >> 16);
	hdr[2] = (uint8_t)(total >> 8);
	hdr[3] = (uint8_t)total;
	hdr[4] = (uint8_t)st->type;
	hdr[5] = (uint8_t)nlen;
	memcpy(hdr + 6, st->name, nlen);
	return 6 + nlen;
}

/* The reply to one step, as the step's outcome. */
static int step_reply(struct vici_conn *c, const struct op *op, struct vici_step *st,
		      struct packet *pk, struct m2m_err *err)
{
	int rc;

	if (st->type == VICI_CMD_REQUEST && pk->type == VICI_CMD_RESPONSE) {
		rc = vici_decode(pk->body, pk->body_len, &st->resp, err);
		if (rc)
			m2m_err_prefix(err, "answer to '%s'", st->name);
		return rc;
	}
	if (st->type == VICI_CMD_REQUEST && pk->type == VICI_CMD_UNKNOWN)
		return m2m_err_set(err, M2M_ERR_PROTOCOL,
				   "charon does not know command '%s' (vici plugin too old?)", st->name);
	if (st->type != VICI_CMD_REQUEST && pk->type == VICI_EVENT_CONFIRM)
		return M2M_OK;
	if (st->type != VICI_CMD_REQUEST && pk->type == VICI_EVENT_UNKNOWN)
		return m2m_err_set(err, M2M_ERR_PROTOCOL,
				   "charon does not know event '%s' (vici plugin too old?)", st->name);
	return unexpected(c, op, pk, err);
}

int vici_pipeline(struct vici_conn *c, struct vici_step *steps, size_t n, vici_event_cb cb,
		  void *ctx, int timeout_ms, struct m2m_err *err)
{
	uint8_t hdr[PIPELINE_MAX][4 + 1 + 1 + 255];
	struct iovec iov[2 * PIPELINE_MAX];
	struct packet pk = { 0 };
	enum io_result r;
	char what[300];
	size_t done, i;
	struct op op;
	int rc, e;

	for (i = 0; i < n; i++)
		steps[i].resp = NULL;
	if ((rc = usable(c, err)))
		return rc;
	if (n == 0 || n > PIPELINE_MAX)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%zu VICI requests at once (1..%d)", n,
				   PIPELINE_MAX);
	for (i = 0; i < n; i++) {
		const struct vici_step *st = &steps[i];
		size_t nlen, total;

		if ((rc = step_check(st, err)))
			return rc;
		nlen = strlen(st->name);
		total = 1 + 1 + nlen + (st->req ? st->req->len : 0);
		if (total > VICI_MAX_PACKET)
			return m2m_err_set(err, M2M_ERR_FAILURE, "VICI request '%s' too large (%zu bytes)",
					   st->name, total);
		/* headers and bodies in one sendmsg(): no copy of a body holding secrets */
		iov[2 * i].iov_base = hdr[i];
		iov[2 * i].iov_len = step_header(st, total, hdr[i]);
		iov[2 * i + 1].iov_base = st->req ? st->req->data : NULL;
		iov[2 * i + 1].iov_len = st->req ? st->req->len : 0;
	}
	step_what(&steps[0], what, sizeof(what));
	op.what = what;
	op.timeout_ms = timeout_ms;
	op.deadline = vc_deadline_of(timeout_ms);

	c->busy = true;
	r = vc_write_all(c, iov, (int)(2 * n), op.deadline, &done);
	if (r != IO_OK) {
		e = errno;
		/* part of a packet on the wire: charon would read our next one as its rest */
		if (done > 0)
			c->broken = true;
		rc = vc_io_fail(c, &op, r, e, err);
		goto out;
	}
	c->end_wait = false;
	for (i = 0; i < n; i++) {
		step_what(&steps[i], what, sizeof(what));
		rc = next_reply(c, &op, false, &pk, cb, ctx, err);
		if (!rc && !pk.buf) {
			/* vici_end_wait(): this answer and those after it come later */
			owe(c, n - i);
			break;
		}
		if (!rc) {
			rc = step_reply(c, &op, &steps[i], &pk, err);
			vc_packet_free(pk.buf, pk.len);
			pk.buf = NULL;
			/* this one is answered; the rest still owe theirs */
			if (rc && !c->broken)
				owe(c, n - i - 1);
		} else if (!c->broken) {
			owe(c, n - i);
		}
		if (rc)
			break;
	}
out:
	c->end_wait = false;
	c->busy = false;
	return rc;
}

void vici_end_wait(struct vici_conn *c)
{
	if (c && c->busy)
		c->end_wait = true;
}

bool vici_register_ahead(struct vici_conn *c, const char *event, int timeout_ms)
{
	const struct vici_step st = { .type = VICI_EVENT_REGISTER, .name = event };
	uint8_t pkt[4 + 1 + 1 + 63];
	struct iovec iov = { .iov_base = pkt };
	size_t nlen = event ? strlen(event) : 0, done;
	enum io_result r;

	if (usable(c, NULL) || c->stale || c->ahead >= sizeof(c->ahead_name) / sizeof(c->ahead_name[0]) ||
	    nlen == 0 || nlen > 63)
		return false;
	iov.iov_len = step_header(&st, 2 + nlen, pkt);
	r = vc_write_all(c, &iov, 1, vc_deadline_of(timeout_ms), &done);
	if (r != IO_OK) {
		/* part of a packet on the wire: charon would read our next one as its rest */
		if (done > 0)
			c->broken = true;
		return false;
	}
	memcpy(c->ahead_name[c->ahead], event, nlen + 1);
	c->ahead++;
	return true;
}

int vici_register(struct vici_conn *c, const char *event, int timeout_ms, struct m2m_err *err)
{
	struct vici_step st = { .type = VICI_EVENT_REGISTER, .name = event };

	return vici_pipeline(c, &st, 1, NULL, NULL, timeout_ms, err);
}

int vici_unregister(struct vici_conn *c, const char *event, int timeout_ms,
		    struct m2m_err *err)
{
	struct vici_step st = { .type = VICI_EVENT_UNREGISTER, .name = event };

	return vici_pipeline(c, &st, 1, NULL, NULL, timeout_ms, err);
}

int vici_request(struct vici_conn *c, const char *cmd, const struct vici_buf *req,
		 struct vici_node **resp, vici_event_cb cb, void *ctx, int timeout_ms,
		 struct m2m_err *err)
{
	struct vici_step st = { .type = VICI_CMD_REQUEST, .name = cmd, .req = req };
	int rc = vici_pipeline(c, &st, 1, cb, ctx, timeout_ms, err);

	*resp = st.resp;
	return rc;
}

int vici_wait_event(struct vici_conn *c, vici_event_cb cb, void *ctx, int timeout_ms,
		    struct m2m_err *err)
{
	struct packet pk = { 0 };
	struct op op = { .what = NULL };
	int rc;

	if ((rc = usable(c, err)))
		return rc;
	op.timeout_ms = timeout_ms;
	op.deadline = vc_deadline_of(timeout_ms);

	c->busy = true;
	rc = next_reply(c, &op, true, &pk, cb, ctx, err);
	/* next_reply() returned without an event: a reply nobody asked for */
	if (!rc && pk.buf)
		rc = unexpected(c, &op, &pk, err);
	c->end_wait = false; /* one event is all this waits for anyway */
	c->busy = false;
	return rc;
}
