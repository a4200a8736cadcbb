/* SPDX-License-Identifier: MIT */
/*
 * The connection to charon over its unix stream socket (vici_conn.h): made
 * non-blocking, every wait through poll() against a deadline taken from
 * CLOCK_MONOTONIC when a call starts, so a timeout bounds the whole exchange
 * however charon dribbles bytes; what charon sends read ahead in bursts.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vici/vici_conn.h"

/* ---- time ---------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deadline for a timeout in ms; -1 for none. */
int64_t vc_deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* What is left until deadline, as a poll() timeout. */
int vc_remaining(int64_t deadline)
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
	return vici_connect_within(out, uri, -1, NULL, err);
}

int vici_connect_within(struct vici_conn **out, const char *uri, int timeout_ms, bool *absent,
			struct m2m_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int64_t deadline = vc_deadline_of(timeout_ms);
	struct vici_conn *c;
	const char *path;
	struct stat st;
	int fd, e;

	*out = NULL;
	if (absent)
		*absent = false;
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
		if (e == EAGAIN && vc_remaining(deadline) != 0) {
			int t = vc_remaining(deadline);

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
			if (absent)
				*absent = true;
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
			if (absent)
				*absent = true;
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
		int t = vc_remaining(deadline);

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
			if (vc_remaining(deadline) == 0 || (c->cancel && *c->cancel))
				return IO_TIMEOUT;
			continue;
		}
		if (errno != EINTR)
			return IO_ERROR;
	}
}


enum io_result vc_write_all(struct vici_conn *c, struct iovec *iov, int iovcnt,
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


int vc_io_fail(struct vici_conn *c, const struct op *op, enum io_result r, int e,
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
int vc_recv_packet(struct vici_conn *c, const struct op *op, uint8_t **pkt, size_t *len,
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
		return vc_io_fail(c, op, r, e, err);
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
		return vc_io_fail(c, op, r, e, err);
	}
	*pkt = p;
	*len = n;
	return M2M_OK;
}

void vc_packet_free(uint8_t *pkt, size_t len)
{
	if (pkt) {
		explicit_bzero(pkt, len);
		free(pkt);
	}
}
