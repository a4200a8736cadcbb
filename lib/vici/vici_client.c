/* SPDX-License-Identifier: MIT */
/*
 * VICI client: one connection to charon over its unix stream socket.
 *
 * The socket is non-blocking and every wait goes through poll() against a
 * deadline taken from CLOCK_MONOTONIC when the call starts, so a timeout
 * bounds the whole exchange however charon dribbles bytes or events.
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

#include "vici/vici.h"

struct vici_conn {
	int fd;
	bool broken;       /* stream out of sync or closed: unusable */
	bool busy;         /* inside a call: callbacks must not re-enter */
	unsigned stale;    /* replies still owed for requests we gave up on */
	unsigned ahead;    /* registrations sent ahead: their answers come before any other */
	char ahead_name[4][64];
	bool end_wait;     /* an event callback has seen enough: stop waiting */
	volatile const int *cancel; /* set (from a signal handler): give up waiting */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	/*
	 * Read ahead: charon's events come in bursts of small packets (a log line
	 * each), taken in one recv() instead of two per packet. dry: the last
	 * recv() emptied the socket, so the next read waits in poll() first.
	 */
	size_t in_off, in_len;
	bool dry;
	uint8_t in[4096];
};

/* ---- time ---------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deadline for a timeout in ms; -1 for none. */
static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* What is left until deadline, as a poll() timeout. */
static int remaining(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - now_ms();
	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* ---- connecting ---------------------------------------------------------- */

int vici_connect(struct vici_conn **out, const char *uri, struct m2m_err *err)
{
	return vici_connect_within(out, uri, -1, err);
}

int vici_connect_within(struct vici_conn **out, const char *uri, int timeout_ms,
			struct m2m_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = deadline_of(timeout_ms);
	struct vici_conn *c;
	const char *path;
	struct stat st;
	int fd, e;

	*out = NULL;
	if (!uri)
		return m2m_err_set(err, M2M_ERR_CONFIG, "unsupported VICI URI '(null)'");
	if (strncmp(uri, "unix://", 7) == 0)
		path = uri + 7;
	else
		path = uri;
	/* a relative path would depend on the cwd of whoever runs us */
	if (path[0] != '/')
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "unsupported VICI URI '%s' (use unix:///path)", uri);
	if (strlen(path) >= sizeof(sa.sun_path))
		return m2m_err_set(err, M2M_ERR_CONFIG, "VICI socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);

	/* non-blocking from the start: all I/O after polls, connect() included */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "socket: %s", strerror(errno));
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		if (e == EINTR)
			continue;
		/*
		 * A unix socket whose listen queue is full (a charon that stopped
		 * accepting) says EAGAIN and keeps no connect in progress: ask again.
		 */
		if (e == EAGAIN && remaining(deadline) != 0) {
			int t = remaining(deadline);

			poll(NULL, 0, t < 0 || t > 10 ? 10 : t);
			continue;
		}
		close(fd);
		switch (e) {
		case EAGAIN:
			return m2m_err_set(err, M2M_ERR_TIMEOUT,
					   "charon accepted no connection on %s within %d ms", path,
					   timeout_ms);
		case ENOENT:
		case ENOTDIR:
			return m2m_err_set(err, M2M_ERR_DAEMON,
					   "charon is not running (no socket at %s)", path);
		case ECONNREFUSED:
			/*
			 * Linux says ECONNREFUSED both for a socket nobody
			 * listens on and for a path that is no socket at all;
			 * only the latter is a configuration mistake.
			 */
			if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
				return m2m_err_set(err, M2M_ERR_DAEMON,
						   "%s is not a VICI socket", path);
			return m2m_err_set(err, M2M_ERR_DAEMON,
					   "charon is not running (nothing listens on %s)", path);
		case ENOTSOCK:
			return m2m_err_set(err, M2M_ERR_DAEMON, "%s is not a VICI socket", path);
		case EACCES:
		case EPERM:
			return m2m_err_set(err, M2M_ERR_DAEMON, "permission denied on %s", path);
		default:
			return m2m_err_set(err, M2M_ERR_DAEMON, "cannot connect to %s: %s", path,
					   strerror(e));
		}
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	c->fd = fd;
	memcpy(c->path, path, strlen(path) + 1);
	*out = c;
	return M2M_OK;
}

void vici_set_cancel(struct vici_conn *c, volatile const int *flag)
{
	if (c)
		c->cancel = flag;
}

void vici_close(struct vici_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	explicit_bzero(c->in, sizeof(c->in));
	free(c);
}

bool vici_pending(const struct vici_conn *c)
{
	return c && c->in_off < c->in_len;
}

bool vici_broken(const struct vici_conn *c)
{
	return !c || c->broken;
}

int vici_fd(const struct vici_conn *c)
{
	return c ? c->fd : -1;
}

/* ---- raw I/O ------------------------------------------------------------- */

/* Outcome of a wait: data can move, the deadline passed, or poll failed. */
enum io_wait { IO_READY, IO_TIMEOUT, IO_ERROR };

static enum io_wait wait_fd(const struct vici_conn *c, short events, int64_t deadline)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	int r;

	for (;;) {
		int t = remaining(deadline);

		/* a cancel flag set just before poll() must still be seen: short slices */
		if (c->cancel) {
			if (*c->cancel)
				return IO_TIMEOUT;
			if (t < 0 || t > 200)
				t = 200;
		}
		r = poll(&p, 1, t);
		if (r > 0)
			return IO_READY; /* including POLLHUP/POLLERR: the I/O call says what */
		if (r == 0) {
			/* poll may wake a hair early; trust the clock, not poll */
			if (remaining(deadline) == 0 || (c->cancel && *c->cancel))
				return IO_TIMEOUT;
			continue;
		}
		if (errno != EINTR)
			return IO_ERROR;
	}
}

/* What failed, for the caller to turn into a message naming the operation. */
enum io_result { IO_OK, IO_ETIMEOUT, IO_EOF, IO_ESYS };

static enum io_result write_all(struct vici_conn *c, struct iovec *iov, int iovcnt,
				int64_t deadline, size_t *done)
{
	struct msghdr mh = { 0 };
	ssize_t n;

	*done = 0;
	while (iovcnt > 0) {
		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
			continue;
		}
		mh.msg_iov = iov;
		mh.msg_iovlen = iovcnt;
		/* MSG_NOSIGNAL: a dead charon must not kill us with SIGPIPE */
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				switch (wait_fd(c, POLLOUT, deadline)) {
				case IO_READY:
					continue;
				case IO_TIMEOUT:
					return IO_ETIMEOUT;
				case IO_ERROR:
					return IO_ESYS;
				}
			}
			if (errno == EPIPE || errno == ECONNRESET)
				return IO_EOF;
			return IO_ESYS;
		}
		*done += n;
		while (n > 0 && iovcnt > 0) {
			if ((size_t)n >= iov->iov_len) {
				n -= iov->iov_len;
				iov++;
				iovcnt--;
			} else {
				iov->iov_base = (uint8_t *)iov->iov_base + n;
				iov->iov_len -= n;
				n = 0;
			}
		}
	}
	return IO_OK;
}

static enum io_result read_all(struct vici_conn *c, uint8_t *p, size_t len, int64_t deadline,
			       size_t *done)
{
	ssize_t n;

	*done = 0;
	while (*done < len) {
		size_t want = len - *done;

		if (c->in_off < c->in_len) {
			n = (ssize_t)(want < c->in_len - c->in_off ? want : c->in_len - c->in_off);
			memcpy(p + *done, c->in + c->in_off, (size_t)n);
			c->in_off += (size_t)n;
			*done += (size_t)n;
			continue;
		}
		c->in_off = c->in_len = 0;
		if (c->dry) {
			n = -1;
			errno = EAGAIN;
		} else if (want >= sizeof(c->in)) {
			/* a large packet straight into place */
			n = recv(c->fd, p + *done, want, 0);
			if (n > 0) {
				c->dry = (size_t)n < want;
				*done += (size_t)n;
				continue;
			}
		} else {
			n = recv(c->fd, c->in, sizeof(c->in), 0);
			if (n > 0) {
				c->dry = (size_t)n < sizeof(c->in);
				c->in_len = (size_t)n;
				continue;
			}
		}
		if (n == 0)
			return IO_EOF;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->dry = false;
			switch (wait_fd(c, POLLIN, deadline)) {
			case IO_READY:
				continue;
			case IO_TIMEOUT:
				return IO_ETIMEOUT;
			case IO_ERROR:
				return IO_ESYS;
			}
		}
		if (errno == ECONNRESET)
			return IO_EOF;
		return IO_ESYS;
	}
	return IO_OK;
}

/*
 * Context of the operation in progress, for error messages: "initiate" or
 * "register control-log". timeout_ms is what the caller asked for.
 */
struct op {
	const char *what;
	int timeout_ms;
	int64_t deadline;
};

static int io_fail(struct vici_conn *c, const struct op *op, enum io_result r, int e,
		   struct m2m_err *err)
{
	switch (r) {
	case IO_ETIMEOUT:
		if (!op->what)
			return m2m_err_set(err, M2M_ERR_TIMEOUT,
					   "no event from charon within %d ms", op->timeout_ms);
		return m2m_err_set(err, M2M_ERR_TIMEOUT,
				   "no answer from charon to '%s' within %d ms", op->what,
				   op->timeout_ms);
	case IO_EOF:
		c->broken = true;
		return m2m_err_set(err, M2M_ERR_DAEMON, "charon closed the connection");
	default:
		c->broken = true;
		return m2m_err_set(err, M2M_ERR_DAEMON, "VICI connection to %s: %s", c->path,
				   strerror(e));
	}
}

/*
 * Read one packet into a malloc'd buffer. A timeout before its first byte
 * leaves the connection usable; anything after does not.
 */
static int recv_packet(struct vici_conn *c, const struct op *op, uint8_t **pkt, size_t *len,
		       struct m2m_err *err)
{
	uint8_t hdr[4];
	enum io_result r;
	size_t done;
	uint32_t n;
	uint8_t *p;
	int e;

	*pkt = NULL;
	r = read_all(c, hdr, 4, op->deadline, &done);
	if (r != IO_OK) {
		e = errno;
		if (done > 0)
			c->broken = true;
		return io_fail(c, op, r, e, err);
	}
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > VICI_MAX_PACKET) {
		/* we cannot find the next packet boundary any more */
		c->broken = true;
		return m2m_err_set(err, M2M_ERR_PROTOCOL,
				   "VICI packet length %u from charon out of range (1..%d)", n,
				   VICI_MAX_PACKET);
	}
	p = malloc(n);
	if (!p) {
		c->broken = true;
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory for a %u byte packet", n);
	}
	r = read_all(c, p, n, op->deadline, &done);
	if (r != IO_OK) {
		e = errno;
		c->broken = true;
		explicit_bzero(p, n);
		free(p);
		return io_fail(c, op, r, e, err);
	}
	*pkt = p;
	*len = n;
	return M2M_OK;
}

static void packet_free(uint8_t *pkt, size_t len)
{
	if (pkt) {
		explicit_bzero(pkt, len);
		free(pkt);
	}
}

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
		rc = recv_packet(c, op, &pk->buf, &pk->len, err);
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
			packet_free(pk->buf, pk->len);
			pk->buf = NULL;
			return rc;
		}
		if (pk->type == VICI_EVENT) {
			rc = deliver_event(pk->name, pk->name_len, pk->body, pk->body_len, cb,
					   ctx, err);
			packet_free(pk->buf, pk->len);
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
			if ((op->deadline >= 0 && remaining(op->deadline) == 0) ||
			    (c->cancel && *c->cancel))
				return io_fail(c, op, IO_ETIMEOUT, 0, err);
			continue;
		}
		if (is_reply(pk->type) && c->ahead) {
			/* a registration sent ahead: its answer is first in line */
			struct vici_step st = { .type = VICI_EVENT_REGISTER, .name = c->ahead_name[0] };

			rc = step_reply(c, op, &st, pk, err);
			packet_free(pk->buf, pk->len);
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
			packet_free(pk->buf, pk->len);
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
	packet_free(pk->buf, pk->len);
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
		hdr[i][0] = total >> 24;
		hdr[i][1] = total >> 16;
		hdr[i][2] = total >> 8;
		hdr[i][3] = total;
		hdr[i][4] = st->type;
		hdr[i][5] = nlen;
		memcpy(hdr[i] + 6, st->name, nlen);
		/* headers and bodies in one sendmsg(): no copy of a body holding secrets */
		iov[2 * i].iov_base = hdr[i];
		iov[2 * i].iov_len = 6 + nlen;
		iov[2 * i + 1].iov_base = st->req ? st->req->data : NULL;
		iov[2 * i + 1].iov_len = st->req ? st->req->len : 0;
	}
	step_what(&steps[0], what, sizeof(what));
	op.what = what;
	op.timeout_ms = timeout_ms;
	op.deadline = deadline_of(timeout_ms);

	c->busy = true;
	r = write_all(c, iov, (int)(2 * n), op.deadline, &done);
	if (r != IO_OK) {
		e = errno;
		/* part of a packet on the wire: charon would read our next one as its rest */
		if (done > 0)
			c->broken = true;
		rc = io_fail(c, &op, r, e, err);
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
			packet_free(pk.buf, pk.len);
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
	uint8_t pkt[4 + 1 + 1 + 63];
	struct iovec iov = { .iov_base = pkt };
	size_t nlen = event ? strlen(event) : 0, done;
	enum io_result r;

	if (usable(c, NULL) || c->stale || c->ahead >= sizeof(c->ahead_name) / sizeof(c->ahead_name[0]) ||
	    nlen == 0 || nlen > 63)
		return false;
	pkt[0] = pkt[1] = pkt[2] = 0;
	pkt[3] = (uint8_t)(2 + nlen);
	pkt[4] = VICI_EVENT_REGISTER;
	pkt[5] = (uint8_t)nlen;
	memcpy(pkt + 6, event, nlen);
	iov.iov_len = 6 + nlen;
	r = write_all(c, &iov, 1, deadline_of(timeout_ms), &done);
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
	op.deadline = deadline_of(timeout_ms);

	c->busy = true;
	rc = next_reply(c, &op, true, &pk, cb, ctx, err);
	/* next_reply() returned without an event: a reply nobody asked for */
	if (!rc && pk.buf)
		rc = unexpected(c, &op, &pk, err);
	c->end_wait = false; /* one event is all this waits for anyway */
	c->busy = false;
	return rc;
}
