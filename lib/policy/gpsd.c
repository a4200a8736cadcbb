/* SPDX-License-Identifier: MIT */
/*
 * The position from gpsd: its JSON protocol (gpsd_json(5)), one object a
 * line over TCP, read with json-c over a non-blocking socket of our own under
 * one deadline (name lookup, connect, every read) and a stop flag.
 *
 * Not libgps: gps_open() connects and gps_read() reads without a time limit
 * (a gpsd, or anything on its port, that accepts and stays silent holds the
 * caller for good), and its API and ABI changed across gpsd releases (struct
 * gps_data_t, gps_read()'s arguments, the library's soname): the protocol is
 * the stable interface, the library is not.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "base/base.h"
#include "base/json.h"
#include "policy/policy_int.h"

#define GPSD_LINE_MAX (64u * 1024)    /* gpsd's longest (a POLL with many satellites) is a few KiB */
#define GPSD_TOTAL_MAX (1024u * 1024) /* read without a fix: then it is not gpsd */
/* the deepest of gpsd's objects: a POLL's sky[] entry's satellites[] entry, 5 */
#define GPSD_DEPTH 16
#define SLICE_MS 100                  /* the stop flag is looked at at least this often */

/* WATCH makes gpsd activate its devices (a POLL is answered only for active ones) */
static const char gpsd_ask[] = "?WATCH={\"enable\":true,\"json\":true};?POLL;\n";

/* ---- one line ---- */

static json_object *parse(const char *line, size_t len)
{
	/* one object, then nothing but white space (gpsd ends its lines with CR LF) */
	if (len > GPSD_LINE_MAX)
		return NULL;
	return m2m_json_object(line, len, GPSD_DEPTH);
}

/* a number field: 0 absent, 1 in [min, max] into *v, -1 anything else */
static int number(json_object *o, const char *key, double min, double max, double *v)
{
	json_object *f;
	double d;

	if (!json_object_object_get_ex(o, key, &f))
		return 0;
	if (!json_object_is_type(f, json_type_double) && !json_object_is_type(f, json_type_int))
		return -1;
	d = json_object_get_double(f);
	if (!isfinite(d) || d < min || d > max)
		return -1;
	*v = d;
	return 1;
}

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int month_days(int y, int m)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return d[m - 1];
}

/*
 * gpsd's "time": ISO 8601 in UTC as gpsd writes it, "2026-12-07T15:00:01.000Z",
 * the fraction optional (1 to 9 digits; dropped), 1970 or later; nothing else
 * (no offset, no missing field). A leap second (:60) is the next second.
 */
static bool utc_time(const char *s, size_t len, int64_t *t)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec;
	size_t i = 19;
	time_t r;

	if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return false;
	y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
	h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h < 0 || h > 23 ||
	    mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return false;
	if (s[i] == '.') {
		size_t n = 0;

		while (++i < len && s[i] >= '0' && s[i] <= '9')
			n++;
		if (n < 1 || n > 9)
			return false;
	}
	if (i != len - 1 || s[i] != 'Z')
		return false;
	tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d;
	tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = sec;
	r = timegm(&tm);
	if (r == (time_t)-1)
		return false;
	*t = (int64_t)r;
	return true;
}

/* a TPV object: 1 a fix into *out, 0 none, -1 not as gpsd_json(5) has it */
static int tpv(json_object *o, struct pol_fix *out)
{
	struct pol_fix f = { .eph = NAN };
	json_object *v;
	int64_t mode;
	int lat, lon;

	/* gpsd_json(5): "The "class" and "mode" fields will reliably be present." */
	if (!json_object_object_get_ex(o, "mode", &v) || !json_object_is_type(v, json_type_int))
		return -1;
	mode = json_object_get_int64(v);
	if (mode < 0 || mode > 3)
		return -1;
	f.mode = (int)mode;
	/* each field is checked when it is there, fix or not: gpsd never sends one wrong */
	lat = number(o, "lat", -90, 90, &f.lat);
	lon = number(o, "lon", -180, 180, &f.lon);
	if (lat < 0 || lon < 0 || number(o, "eph", 0, INFINITY, &f.eph) < 0)
		return -1;
	if (json_object_object_get_ex(o, "time", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	     !utc_time(json_object_get_string(v), (size_t)json_object_get_string_len(v), &f.time)))
		return -1;
	/* mode 0 (nothing seen yet) and 1 (no fix); a fix without a position is none either */
	if (f.mode < 2 || !lat || !lon)
		return 0;
	*out = f;
	return 1;
}

static bool is_class(json_object *o, const char *cls)
{
	json_object *c;

	return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "class", &c) &&
	       json_object_is_type(c, json_type_string) && strcmp(json_object_get_string(c), cls) == 0;
}

/*
 * A POLL answer: "tpv" holds the last TPV of each active device; the newest
 * fix of them (by its time; one without a time is the oldest; on a tie the
 * later in the list).
 */
static int poll_answer(json_object *o, struct pol_fix *out)
{
	struct pol_fix best = { 0 }, f;
	json_object *a;
	bool found = false;
	size_t n;

	if (!json_object_object_get_ex(o, "tpv", &a))
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return -1;
	n = json_object_array_length(a);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(a, i);
		int r;

		if (!is_class(e, "TPV"))
			return -1;
		r = tpv(e, &f);
		if (r < 0)
			return -1;
		if (r == 1 && (!found || f.time >= best.time)) {
			best = f;
			found = true;
		}
	}
	if (found)
		*out = best;
	return found;
}

int pol_gpsd_line(const char *line, size_t len, struct pol_fix *fix)
{
	json_object *o = parse(line, len), *c;
	const char *cls;
	int r = 0;

	if (!o)
		return -1;
	if (!json_object_object_get_ex(o, "class", &c) || !json_object_is_type(c, json_type_string) ||
	    !*(cls = json_object_get_string(c)))
		r = -1;
	else if (strcmp(cls, "TPV") == 0)
		r = tpv(o, fix);
	else if (strcmp(cls, "POLL") == 0)
		r = poll_answer(o, fix);
	/* VERSION, DEVICES, DEVICE, WATCH, SKY, GST, ERROR, ...: valid, no fix */
	json_object_put(o);
	return r;
}

/* ---- the connection ---- */

struct gpsd_conn {
	const char *host, *port;
	uint64_t deadline;
	volatile const int *stop;
	struct m2m_err *err;
	bool answered;  /* a line of gpsd's JSON came */
	char where[280]; /* host:port for messages */
};

static unsigned left_ms(const struct gpsd_conn *c)
{
	uint64_t now = m2m_now_ms(), left = now >= c->deadline ? 0 : c->deadline - now;

	return left > INT_MAX ? INT_MAX : (unsigned)left; /* poll() takes an int */
}

static bool stopped(const struct gpsd_conn *c)
{
	return c->stop && *c->stop;
}

static int timed_out(struct gpsd_conn *c, const char *what)
{
	if (stopped(c))
		return m2m_err_set(c->err, M2M_ERR_TIMEOUT, "gpsd at %s: stopped while %s", c->where, what);
	if (c->answered)
		return m2m_err_set(c->err, M2M_ERR_TIMEOUT, "gpsd at %s: no fix in time (gpsd has none)",
				   c->where);
	return m2m_err_set(c->err, M2M_ERR_TIMEOUT, "gpsd at %s: no answer in time (%s)", c->where, what);
}

/* wait for ev on fd until the deadline: 1 ready, 0 timed out or stopped */
static int wait_fd(const struct gpsd_conn *c, int fd, short ev)
{
	return m2m_wait_fd(fd, ev, c->deadline, c->stop);
}

/* a connected non-blocking socket into *fdp */
static int connect_to(struct gpsd_conn *c, int *fdp)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	struct m2m_err lerr;
	int fd = -1, last = 0;

	/* no AI_ADDRCONFIG: gpsd is mostly on localhost, in a network namespace perhaps with only lo */
	m2m_err_clear(&lerr);
	if (m2m_resolve(c->host, c->port, &hints, left_ms(c), c->stop, &res, &lerr)) {
		if (stopped(c) || left_ms(c) == 0)
			return timed_out(c, "looking up its name");
		return m2m_err_set(c->err, M2M_ERR_DAEMON, "gpsd at %s: %s", c->where, lerr.msg);
	}
	fd = m2m_connect_any(res, c->deadline, c->stop, &last);
	freeaddrinfo(res);
	if (fd < 0 && !last)
		return timed_out(c, "connecting");
	if (fd < 0)
		return m2m_err_set(c->err, M2M_ERR_DAEMON, "gpsd at %s: %s", c->where, strerror(last));
	*fdp = fd;
	return M2M_OK;
}

static int send_ask(struct gpsd_conn *c, int fd)
{
	size_t off = 0;

	while (off < sizeof(gpsd_ask) - 1) {
		ssize_t n;

		if (!wait_fd(c, fd, POLLOUT))
			return timed_out(c, "sending the request");
		n = send(fd, gpsd_ask + off, sizeof(gpsd_ask) - 1 - off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return m2m_err_set(c->err, M2M_ERR_DAEMON, "gpsd at %s: %s", c->where, strerror(errno));
		off += (size_t)n;
	}
	return M2M_OK;
}

/* a line that is not gpsd's, named by its start (outside input: printable, short) */
static int not_gpsd(struct gpsd_conn *c, const char *line, size_t len)
{
	char show[49];
	size_t n;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	n = len < sizeof(show) - 1 ? len : sizeof(show) - 1;
	m2m_printable(show, sizeof(show), line, n);
	/* a NUL inside is shown cut there, and the rest as cut off */
	n = strlen(show);
	return m2m_err_set(c->err, M2M_ERR_PROTOCOL, "gpsd at %s: not gpsd's JSON: \"%s\"%s", c->where,
			   show, len > n ? "..." : "");
}

/* one line: M2M_OK with *fix, 1 go on, or an error */
static int line_in(struct gpsd_conn *c, const char *line, size_t len, struct pol_fix *fix)
{
	int r = pol_gpsd_line(line, len, fix);

	if (r < 0)
		return not_gpsd(c, line, len);
	c->answered = true;
	return r == 1 ? M2M_OK : 1;
}

/* gpsd's lines until a fix, the deadline, the stop flag or one of the bounds */
static int read_fix(struct gpsd_conn *c, int fd, struct pol_fix *fix)
{
	char *buf = malloc(GPSD_LINE_MAX + 1);
	size_t have = 0, total = 0;
	int rc;

	if (!buf)
		return m2m_err_set(c->err, M2M_ERR_FAILURE, "out of memory");
	for (;;) {
		size_t room = GPSD_LINE_MAX + 1 - have, start = 0;
		char *nl;
		ssize_t n;

		/* never more than one byte past the total bound is read */
		if (room > GPSD_TOTAL_MAX + 1 - total)
			room = GPSD_TOTAL_MAX + 1 - total;
		if (!wait_fd(c, fd, POLLIN)) {
			rc = timed_out(c, "waiting for its first line");
			break;
		}
		n = recv(fd, buf + have, room, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			rc = m2m_err_set(c->err, M2M_ERR_DAEMON, "gpsd at %s: %s", c->where, strerror(errno));
			break;
		}
		if (n == 0) {
			/* a last line without its newline is judged as it is */
			rc = have ? line_in(c, buf, have, fix) : 1;
			if (rc == 1)
				rc = m2m_err_set(c->err, M2M_ERR_DAEMON, "gpsd at %s: closed the connection",
						 c->where);
			break;
		}
		have += (size_t)n;
		total += (size_t)n;
		rc = 1;
		while (rc == 1 && (nl = memchr(buf + start, '\n', have - start))) {
			rc = line_in(c, buf + start, (size_t)(nl - (buf + start)), fix);
			start = (size_t)(nl - buf) + 1;
		}
		if (rc != 1)
			break;
		memmove(buf, buf + start, have - start);
		have -= start;
		if (have > GPSD_LINE_MAX) {
			rc = m2m_err_set(c->err, M2M_ERR_PROTOCOL, "gpsd at %s: a line longer than %u KiB",
					 c->where, GPSD_LINE_MAX / 1024);
			break;
		}
		if (total > GPSD_TOTAL_MAX) {
			rc = m2m_err_set(c->err, M2M_ERR_PROTOCOL, "gpsd at %s: more than %u MiB without a fix",
					 c->where, GPSD_TOTAL_MAX / (1024 * 1024));
			break;
		}
	}
	free(buf);
	return rc;
}

static bool port_number(const char *s)
{
	unsigned long v = 0;

	if (!s || !*s || strlen(s) > 5)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return v >= 1 && v <= 65535;
}

int pol_gpsd_fix(const char *host, const char *port, uint64_t deadline_ms, volatile const int *stop,
		 struct pol_fix *fix, struct m2m_err *err)
{
	struct gpsd_conn c = { .host = host, .port = port, .deadline = deadline_ms, .stop = stop, .err = err };
	struct pol_fix f;
	int fd = -1, rc;

	if (!host || !*host || strlen(host) > 253 || !port_number(port))
		return m2m_err_set(err, M2M_ERR_CONFIG, "gpsd at %.253s:%.16s: not a host and a port (1-65535)",
				   host ? host : "", port ? port : "");
	/* an IPv6 address in brackets, so that its port stands out */
	if (strchr(host, ':'))
		snprintf(c.where, sizeof(c.where), "[%s]:%s", host, port);
	else
		snprintf(c.where, sizeof(c.where), "%s:%s", host, port);
	if (stopped(&c) || left_ms(&c) == 0)
		return timed_out(&c, "before connecting");
	rc = connect_to(&c, &fd);
	if (rc)
		return rc;
	rc = send_ask(&c, fd);
	if (rc == M2M_OK)
		rc = read_fix(&c, fd, &f);
	close(fd);
	if (rc == M2M_OK)
		*fix = f;
	return rc;
}
