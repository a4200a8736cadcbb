/* SPDX-License-Identifier: MIT */
/* Append-only journals: one CRC-checked line per record, torn last line cut off. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "state/state.h"

#define CRC_LEN 8 /* hex digits, then one space */

unsigned long m2m_crc32(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t crc = 0xffffffffu;

	/* bitwise: records are short and a table is 1 KiB of data for nothing */
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return crc ^ 0xffffffffu;
}

static bool record_ok(const char *line, size_t len)
{
	char hex[CRC_LEN + 1];
	unsigned long want;
	char *end;

	if (len < CRC_LEN + 1 || line[CRC_LEN] != ' ')
		return false;
	memcpy(hex, line, CRC_LEN);
	hex[CRC_LEN] = '\0';
	for (int i = 0; i < CRC_LEN; i++)
		if (!strchr("0123456789abcdef", hex[i]))
			return false;
	want = strtoul(hex, &end, 16);
	if (memchr(line + CRC_LEN + 1, '\0', len - CRC_LEN - 1))
		return false;
	return m2m_crc32(line + CRC_LEN + 1, len - CRC_LEN - 1) == want;
}

int m2m_journal_walk(const char *path, char *buf, size_t len, m2m_journal_fn fn, void *ctx,
		     size_t *whole, unsigned *count, struct m2m_err *err)
{
	size_t off = 0;
	unsigned n = 0;

	while (off < len) {
		char *nl = memchr(buf + off, '\n', len - off);
		size_t ll;

		if (!nl) /* the last line has no end: torn by a power cut */
			break;
		ll = (size_t)(nl - (buf + off));
		if (!record_ok(buf + off, ll)) {
			if ((size_t)(nl - buf) + 1 == len) /* the last line: torn */
				break;
			return m2m_err_set(err, M2M_ERR_FAILURE,
					   "%s: record %u is damaged and whole records follow it",
					   path, n + 1);
		}
		if (fn) {
			int rc;

			*nl = '\0';
			rc = fn(buf + off + CRC_LEN + 1, ll - CRC_LEN - 1, ctx);
			*nl = '\n';
			if (rc)
				return rc;
		}
		n++;
		off += ll + 1;
	}
	*whole = off;
	if (count)
		*count = n;
	return M2M_OK;
}

static int read_journal(const struct m2m_state *st, const char *name, int fd, size_t max,
			char **buf, size_t *len, struct m2m_err *err)
{
	char what[PATH_MAX + NAME_MAX + 2];
	struct stat sb;

	snprintf(what, sizeof(what), "%s/%s", st->path, name);
	if (fstat(fd, &sb) < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", what, strerror(errno));
	/* the bound holds before a byte is read */
	if ((uintmax_t)sb.st_size > max)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %jd bytes, more than the %zu allowed",
				   what, (intmax_t)sb.st_size, max);
	return m2m_read_fd(fd, what, max, buf, len, err);
}

int m2m_journal_open(const struct m2m_state *st, const char *name, size_t max,
		     struct m2m_journal *j, struct m2m_err *err)
{
	char *buf = NULL;
	size_t len = 0, whole = 0;
	int fd, rc;

	j->fd = -1;
	if (!name || !*name || strchr(name, '/'))
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: invalid journal name", st->path);
	fd = openat(st->dirfd, name, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return m2m_err_set(err, m2m_state_errno_rc(errno), "%s/%s: %s", st->path, name,
				   strerror(errno));
	rc = read_journal(st, name, fd, max, &buf, &len, err);
	if (rc == M2M_OK)
		rc = m2m_journal_walk(name, buf, len, NULL, NULL, &whole, &j->records, err);
	free(buf);
	if (rc == M2M_OK && whole < len && (ftruncate(fd, (off_t)whole) < 0 || fsync(fd) < 0))
		rc = m2m_err_set(err, m2m_state_errno_rc(errno), "%s/%s: %s", st->path, name,
				 strerror(errno));
	if (rc) {
		close(fd);
		return rc;
	}
	/* a new journal's name must survive a power cut as well as its records */
	if (len == 0)
		fsync(st->dirfd);
	j->fd = fd;
	j->size = whole;
	j->max = max;
	return M2M_OK;
}

int m2m_journal_append(struct m2m_journal *j, const char *rec, size_t len, struct m2m_err *err)
{
	char line[CRC_LEN + 1 + M2M_JOURNAL_RECORD_MAX + 1];
	size_t n;
	ssize_t w;

	if (j->fd < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "journal: not open");
	if (len > M2M_JOURNAL_RECORD_MAX || memchr(rec, '\n', len) || memchr(rec, '\0', len))
		return m2m_err_set(err, M2M_ERR_FAILURE,
				   "journal: a record is one line of at most %d bytes",
				   M2M_JOURNAL_RECORD_MAX);
	snprintf(line, sizeof(line), "%08lx ", m2m_crc32(rec, len));
	memcpy(line + CRC_LEN + 1, rec, len);
	n = CRC_LEN + 1 + len;
	line[n++] = '\n';
	if (j->size + n > j->max)
		return m2m_err_set(err, M2M_ERR_FAILURE, "journal: full (%zu bytes)", j->max);
	/* one write: a power cut leaves this record whole or a torn last line */
	do
		w = write(j->fd, line, n);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)n || fdatasync(j->fd) < 0) {
		/* a short write to a file: no room for the rest (write(2)) */
		int e = w < 0 || w == (ssize_t)n ? errno : ENOSPC;

		/* whatever part landed is a torn last line; cut it so the next record starts clean */
		if (ftruncate(j->fd, (off_t)j->size) == 0)
			fdatasync(j->fd);
		return m2m_err_set(err, m2m_state_errno_rc(e), "journal: %s", strerror(e));
	}
	j->size += n;
	j->records++;
	return M2M_OK;
}

void m2m_journal_close(struct m2m_journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
}

int m2m_journal_replay(const struct m2m_state *st, const char *name, size_t max, m2m_journal_fn fn,
		       void *ctx, struct m2m_err *err)
{
	char *buf = NULL;
	size_t len = 0, whole;
	int fd, rc;

	if (!name || !*name || strchr(name, '/'))
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: invalid journal name", st->path);
	fd = openat(st->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return M2M_OK;
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s/%s: %s", st->path, name, strerror(errno));
	}
	rc = read_journal(st, name, fd, max, &buf, &len, err);
	close(fd);
	if (rc == M2M_OK)
		rc = m2m_journal_walk(name, buf, len, fn, ctx, &whole, NULL, err);
	free(buf);
	return rc;
}
