/* SPDX-License-Identifier: MIT */
/*
 * Security events the policies count (state.h, m2m.yaml(5) policy.counters):
 * one line "UNIXTIME.MMM KIND" each (milliseconds: a release and the events
 * just before it are told apart), appended to the state directory's
 * security-events (0600) under a lock on the file itself.
 *
 * An event that would take the file past EVENTS_MAX (192 KiB) has it written
 * anew with, of each kind, its newest KIND_EVENTS (1000) events in at most
 * KIND_BYTES (32 KiB), for the KINDS_KEPT (4) kinds whose events are the
 * newest: at most EVENTS_KEEP (128 KiB), so a compaction comes at most once in
 * 64 KiB of events. Kept by kind, not by age: a flood of one kind (a PIN tried
 * thousands of times) does not push another's few events out before their
 * window ends; and 1000 is the largest threshold (policy.counters), so every
 * count up to a threshold is exact, however many events came after.
 * Readers take the newest EVENTS_MAX bytes, all of a file written here, so no
 * file (one written by something else, however large) costs more than that.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "state/state.h"

#define KINDS_KEPT 4                 /* the three of policy.counters, and one of a later version */
#define KIND_EVENTS M2M_EVENTS_KIND_KEEP /* 1000, a threshold's largest */
#define KIND_BYTES (32 * 1024)       /* 1000 lines of the longest kind today (32 bytes) */
#define EVENTS_KEEP (KINDS_KEPT * KIND_BYTES)
#define EVENTS_MAX (EVENTS_KEEP + 64 * 1024)
#define READ_MAX EVENTS_MAX
#define LINE_MAX_LEN 96              /* an event's line, its newline included (m2m_state_event) */
#define LOCK_TRIES 200 /* 10 ms apart: 2 s; an appender holds the lock for a write */

/*
 * The file, open for appending and locked (a descriptor), or -1 with err; one
 * replaced meanwhile (compacted) is opened again.
 */
static int open_locked(const struct m2m_state *st, struct m2m_err *err)
{
	for (int again = 0; again < 3; again++) {
		struct stat a, b;
		int fd = openat(st->dirfd, M2M_EVENTS_NAME,
				O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		int i;

		if (fd < 0) {
			m2m_err_set(err, m2m_state_errno_rc(errno), "%s/%s: %s", st->path,
				    M2M_EVENTS_NAME, strerror(errno));
			return -1;
		}
		for (i = 0; i < LOCK_TRIES && flock(fd, LOCK_EX | LOCK_NB) < 0; i++)
			m2m_sleep_ms(10, NULL);
		if (i == LOCK_TRIES) {
			close(fd);
			m2m_err_set(err, M2M_ERR_BUSY, "%s/%s: locked", st->path, M2M_EVENTS_NAME);
			return -1;
		}
		if (fstat(fd, &a) == 0 && fstatat(st->dirfd, M2M_EVENTS_NAME, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
	m2m_err_set(err, M2M_ERR_BUSY, "%s/%s: replaced again and again", st->path, M2M_EVENTS_NAME);
	return -1;
}

/* "SECONDS[.MMM]" at p into unix milliseconds; false if it is not one (or absurd). */
static bool event_time(const char *p, const char **end, int64_t *ms)
{
	int64_t t = 0;
	const char *q = p;

	for (; *q >= '0' && *q <= '9'; q++) {
		if (t > 100000000000LL)
			return false;
		t = t * 10 + (*q - '0');
	}
	if (q == p)
		return false;
	t *= 1000;
	if (*q == '.') {
		int64_t f = 0, d = 0;

		for (q++; *q >= '0' && *q <= '9' && d < 3; q++, d++)
			f = f * 10 + (*q - '0');
		for (; d < 3; d++)
			f *= 10;
		t += f;
	}
	*end = q;
	*ms = t;
	return true;
}

/* a kind a compaction met (a copy: the lines move), and how much of it is kept */
struct kept {
	char kind[LINE_MAX_LEN];
	size_t len, bytes;
	unsigned n;
};

/*
 * Whether the line at p (len bytes, its newline included), met newest first,
 * is kept: an event ("TIME KIND") of one of the first KINDS_KEPT kinds met,
 * with room left under its kind's bounds. A line that is no event counts
 * nowhere and goes.
 */
static bool keep_line(struct kept *k, size_t *nk, const char *p, size_t len)
{
	const char *end, *kind;
	int64_t t;
	size_t klen, i;

	if (len > LINE_MAX_LEN || !event_time(p, &end, &t) || *end != ' ')
		return false;
	kind = end + 1;
	klen = (size_t)(p + len - 1 - kind);
	if (!klen || memchr(kind, ' ', klen))
		return false;
	for (i = 0; i < *nk && (k[i].len != klen || memcmp(k[i].kind, kind, klen)); i++)
		;
	if (i == *nk) {
		if (*nk == KINDS_KEPT)
			return false;
		memcpy(k[i].kind, kind, klen);
		k[i].len = klen;
		k[i].bytes = k[i].n = 0;
		(*nk)++;
	}
	if (k[i].n == KIND_EVENTS || k[i].bytes + len > KIND_BYTES)
		return false;
	k[i].n++;
	k[i].bytes += len;
	return true;
}

size_t m2m_state_events_keep(char *buf, size_t len)
{
	struct kept k[KINDS_KEPT];
	size_t nk = 0, e, o;

	/* newest first; what is kept never passes what is still to be read */
	for (e = o = len; e > 0;) {
		char *nl = e > 1 ? memrchr(buf, '\n', e - 1) : NULL;
		size_t s = nl ? (size_t)(nl - buf) + 1 : 0;

		if (keep_line(k, &nk, buf + s, e - s)) {
			o -= e - s;
			memmove(buf + o, buf + s, e - s);
		}
		e = s;
	}
	return o;
}

/* The file written anew with line, of its newest READ_MAX bytes what m2m_state_events_keep keeps. */
static int compact(const struct m2m_state *st, int fd, off_t size, const char *line,
		   struct m2m_err *err)
{
	off_t at = size > READ_MAX ? size - READ_MAX : 0;
	size_t llen = strlen(line), from = 0, len, o;
	char *buf = malloc((size_t)(size - at) + 1 + llen);
	ssize_t n;
	int rc;

	if (!buf)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	n = pread(fd, buf, (size_t)(size - at), at);
	if (n < 0) {
		free(buf);
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s/%s: %s", st->path, M2M_EVENTS_NAME,
				   strerror(errno));
	}
	/* from the first whole line (unless the file was read from its start) */
	if (at > 0) {
		char *nl = memchr(buf, '\n', (size_t)n);

		from = nl ? (size_t)(nl - buf) + 1 : (size_t)n;
	}
	len = (size_t)n;
	if (len > from && buf[len - 1] != '\n')
		buf[len++] = '\n'; /* a torn last line ends here, as an append would end it */
	memcpy(buf + len, line, llen);
	len += llen;
	o = from + m2m_state_events_keep(buf + from, len - from);
	rc = m2m_state_write(st, M2M_EVENTS_NAME, buf + o, len - o, err);
	free(buf);
	return rc;
}

int m2m_state_event(const char *dir, const char *kind, struct m2m_err *err)
{
	struct m2m_state st;
	struct timespec ts;
	struct stat sb;
	char line[98], last = '\n';
	int fd, rc = M2M_OK, n;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* room for a newline first: after a torn last line */
	n = snprintf(line + 1, sizeof(line) - 1, "%lld.%03ld %s\n", (long long)ts.tv_sec,
		     ts.tv_nsec / 1000000, kind);
	if (n <= 0 || (size_t)n >= sizeof(line) - 1 || strpbrk(kind, " \n"))
		return m2m_err_set(err, M2M_ERR_USAGE, "security event: bad kind");
	line[0] = '\n';
	rc = m2m_state_open(&st, dir, err);
	if (rc)
		return rc;
	fd = open_locked(&st, err);
	if (fd < 0) {
		m2m_state_close(&st);
		return err && err->rc ? err->rc : M2M_ERR_FAILURE;
	}
	if (fstat(fd, &sb) < 0) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s/%s: %s", st.path, M2M_EVENTS_NAME,
				 strerror(errno));
	} else if (sb.st_size + n + 1 > EVENTS_MAX) { /* 1: a torn last line's newline */
		rc = compact(&st, fd, sb.st_size, line + 1, err);
	} else {
		/* a last line a power cut tore is ended first, so the event is a line of its own */
		if (sb.st_size > 0 && pread(fd, &last, 1, sb.st_size - 1) != 1)
			last = '\n';
		if (last != '\n')
			n++;
		if (write(fd, last != '\n' ? line : line + 1, (size_t)n) != n || fsync(fd) < 0)
			rc = m2m_err_set(err, m2m_state_errno_rc(errno), "%s/%s: %s", st.path,
					 M2M_EVENTS_NAME, strerror(errno));
	}
	close(fd);
	m2m_state_close(&st);
	return rc;
}

/*
 * The events of kind (NULL: any) from since_ms on, among the newest READ_MAX
 * bytes; *newest (if not NULL) the newest time among them, 0 if none. A time
 * ahead of the clock by more than a minute is not believed.
 */
static unsigned scan(const char *dir, const char *kind, int64_t since_ms, int64_t *newest)
{
	struct m2m_state st;
	struct stat sb;
	char *buf, *p, *nl;
	size_t klen = kind ? strlen(kind) : 0;
	int64_t until = m2m_unix_ms() + 60000; /* a time ahead of the clock by more is not believed */
	unsigned count = 0;
	off_t at;
	ssize_t n;
	int fd;

	if (newest)
		*newest = 0;

	if (m2m_state_open_existing(&st, dir, NULL) != M2M_OK)
		return 0;
	fd = openat(st.dirfd, M2M_EVENTS_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	m2m_state_close(&st);
	if (fd < 0)
		return 0;
	buf = fstat(fd, &sb) == 0 ? malloc(READ_MAX + 1) : NULL;
	if (!buf) {
		close(fd);
		return 0;
	}
	/* the newest READ_MAX bytes: an older, longer file (not ours) costs no more */
	at = sb.st_size > READ_MAX ? sb.st_size - READ_MAX : 0;
	n = pread(fd, buf, READ_MAX, at);
	close(fd);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	p = buf;
	if (at > 0 && (nl = memchr(buf, '\n', (size_t)n)))
		p = nl + 1; /* from the first whole line */
	for (; p < buf + n; p = nl + 1) {
		const char *end;
		int64_t t;

		nl = memchr(p, '\n', (size_t)(buf + n - p));
		if (!nl)
			break; /* a line not written whole */
		if (event_time(p, &end, &t) && *end == ' ' && t >= since_ms && t <= until &&
		    (!kind || ((size_t)(nl - end - 1) == klen && !memcmp(end + 1, kind, klen)))) {
			count++;
			if (newest && t > *newest)
				*newest = t;
		}
	}
	free(buf);
	return count;
}

unsigned m2m_state_events_since(const char *dir, const char *kind, int64_t since_ms)
{
	return scan(dir, kind, since_ms, NULL);
}

int64_t m2m_state_events_newest(const char *dir)
{
	int64_t newest;

	scan(dir, NULL, INT64_MIN, &newest);
	return newest;
}
