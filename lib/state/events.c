/* SPDX-License-Identifier: MIT */
/*
 * Security events the policies count (state.h, m2m.yaml(5) policy.counters):
 * one line "UNIXTIME.MMM KIND" each (milliseconds: a release and the events
 * just before it are told apart), appended to the state directory's
 * security-events (0600) under a lock on the file itself. Past 64 KiB the
 * file is written anew with its newest half: a counter looks back at most a
 * day, and a device that fails a thousand times a day has said enough.
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

#define EVENTS_MAX (64 * 1024)
#define LOCK_TRIES 20 /* 10 ms apart: an appender holds the lock for a write */

/* The file, open for appending and locked; one replaced meanwhile (compacted) is opened again. */
static int open_locked(const struct m2m_state *st, struct m2m_err *err)
{
	for (int again = 0; again < 3; again++) {
		struct stat a, b;
		int fd = openat(st->dirfd, M2M_EVENTS_NAME,
				O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		int i;

		if (fd < 0)
			return m2m_err_set(err, m2m_state_errno_rc(errno), "%s/%s: %s", st->path,
					   M2M_EVENTS_NAME, strerror(errno));
		for (i = 0; i < LOCK_TRIES && flock(fd, LOCK_EX | LOCK_NB) < 0; i++)
			m2m_sleep_ms(10, NULL);
		if (i == LOCK_TRIES) {
			close(fd);
			return m2m_err_set(err, M2M_ERR_BUSY, "%s/%s: locked", st->path, M2M_EVENTS_NAME);
		}
		if (fstat(fd, &a) == 0 && fstatat(st->dirfd, M2M_EVENTS_NAME, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
	return m2m_err_set(err, M2M_ERR_BUSY, "%s/%s: replaced again and again", st->path,
			   M2M_EVENTS_NAME);
}

/* The newest half of the file, line-aligned, and line after it, written anew. */
static int compact(const struct m2m_state *st, int fd, off_t size, const char *line,
		   struct m2m_err *err)
{
	char *buf = malloc((size_t)size + strlen(line) + 1);
	ssize_t n;
	size_t from, len;
	int rc;

	if (!buf)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	n = pread(fd, buf, (size_t)size, 0);
	if (n < 0) {
		free(buf);
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s/%s: %s", st->path, M2M_EVENTS_NAME,
				   strerror(errno));
	}
	from = (size_t)n > EVENTS_MAX / 2 ? (size_t)n - EVENTS_MAX / 2 : 0;
	while (from < (size_t)n && from > 0 && buf[from - 1] != '\n')
		from++;
	len = (size_t)n - from;
	memmove(buf, buf + from, len);
	memcpy(buf + len, line, strlen(line));
	len += strlen(line);
	rc = m2m_state_write(st, M2M_EVENTS_NAME, buf, len, err);
	free(buf);
	return rc;
}

int m2m_state_event(const char *dir, const char *kind, struct m2m_err *err)
{
	struct m2m_state st;
	struct stat sb;
	char line[96];
	int fd, rc = M2M_OK, n;

	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%lld.%03ld %s\n", (long long)ts.tv_sec, ts.tv_nsec / 1000000,
		     kind);
	if (n <= 0 || (size_t)n >= sizeof(line) || strpbrk(kind, " \n"))
		return m2m_err_set(err, M2M_ERR_USAGE, "security event: bad kind");
	rc = m2m_state_open(&st, dir, err);
	if (rc)
		return rc;
	fd = open_locked(&st, err);
	if (fd < 0) {
		m2m_state_close(&st);
		return err ? err->rc : M2M_ERR_FAILURE;
	}
	if (fstat(fd, &sb) == 0 && sb.st_size + n > EVENTS_MAX) {
		rc = compact(&st, fd, sb.st_size, line, err);
	} else if (write(fd, line, (size_t)n) != n || fsync(fd) < 0) {
		rc = m2m_err_set(err, m2m_state_errno_rc(errno), "%s/%s: %s", st.path, M2M_EVENTS_NAME,
				 strerror(errno));
	}
	close(fd);
	m2m_state_close(&st);
	return rc;
}

unsigned m2m_state_events_since(const char *dir, const char *kind, int64_t since_ms)
{
	struct m2m_state st;
	char *buf = NULL, *p, *nl;
	size_t len = 0, klen = strlen(kind);
	unsigned count = 0;

	if (m2m_state_open_existing(&st, dir, NULL) != M2M_OK)
		return 0;
	if (m2m_state_read(&st, M2M_EVENTS_NAME, 2 * EVENTS_MAX, NULL, NULL, &buf, &len, NULL) ==
	    M2M_OK) {
		for (p = buf; p < buf + len; p = nl + 1) {
			char *end;
			long long t = strtoll(p, &end, 10) * 1000;

			nl = memchr(p, '\n', (size_t)(buf + len - p));
			if (!nl)
				break; /* a line not written whole */
			/* "SECONDS.MMM KIND" (the milliseconds may be absent) */
			if (end > p && *end == '.' && end[1] >= '0' && end[1] <= '9') {
				char *ms;

				t += strtol(end + 1, &ms, 10);
				end = ms;
			}
			if (end > p && *end == ' ' && t >= since_ms && (size_t)(nl - end - 1) == klen &&
			    !memcmp(end + 1, kind, klen))
				count++;
		}
	}
	free(buf);
	m2m_state_close(&st);
	return count;
}
