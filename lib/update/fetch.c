/* SPDX-License-Identifier: MIT */
/*
 * What every pull transport shares: the destination file written block by
 * block at the resume offset, the sink beside it, free space checked before
 * a byte is written, fsync at checkpoints, the time bound, and the resume
 * rules (fetch.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/base.h"
#include "update/fetch.h"

enum upd_scheme upd_fetch_scheme(const char *url)
{
	static const struct {
		const char *prefix;
		enum upd_scheme s;
	} schemes[] = {
		{ "http://", UPD_SCHEME_HTTP },
		{ "https://", UPD_SCHEME_HTTPS },
		{ "coap://", UPD_SCHEME_COAP },
		{ "coaps://", UPD_SCHEME_COAPS },
	};
	const char *colon, *p;

	if (!url)
		return UPD_SCHEME_INVALID;
	for (p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return UPD_SCHEME_INVALID; /* no space, control or raw UTF-8 in a URI */
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		size_t n = strlen(schemes[i].prefix);

		if (strncasecmp(url, schemes[i].prefix, n) == 0)
			return url[n] && url[n] != '/' && url[n] != '?' && url[n] != ':' ?
				       schemes[i].s :
				       UPD_SCHEME_INVALID;
	}
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" (RFC 3986 3.1) */
	colon = strchr(url, ':');
	if (!colon || colon == url || !((*url | 0x20) >= 'a' && (*url | 0x20) <= 'z'))
		return UPD_SCHEME_INVALID;
	for (p = url; p < colon; p++)
		if (!(((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '+' || *p == '-' || *p == '.'))
			return UPD_SCHEME_INVALID;
	return UPD_SCHEME_UNSUPPORTED;
}

/* A failed write, fsync or truncate: a full disk is STORAGE, the rest a failure. */
static int io_errno(struct upd_fetch_io *io, const char *what, int e)
{
	return m2m_err_set(io->err, e == ENOSPC || e == EDQUOT ? M2M_ERR_STORAGE : M2M_ERR_FAILURE,
			   "%s: %s: %s", io->o->path, what, strerror(e));
}

uint64_t upd_io_bound(const struct upd_fetch_io *io)
{
	return io->o->expected ? io->o->expected : io->o->max ? io->o->max : UINT64_MAX;
}

unsigned upd_io_left_ms(const struct upd_fetch_io *io)
{
	uint64_t now = m2m_now_ms();

	if (!io->deadline)
		return 0x7fffffffu;
	if (io->deadline <= now)
		return 1;
	return io->deadline - now > 0x7fffffffu ? 0x7fffffffu : (unsigned)(io->deadline - now);
}

static int io_flush(struct upd_fetch_io *io);

/* Room on the file's file system for need more bytes (statvfs: what an unprivileged writer gets) */
static int io_space(struct upd_fetch_io *io, uint64_t need)
{
	struct statvfs vfs;
	uint64_t avail;

	if (!need)
		return M2M_OK;
	if (fstatvfs(io->fd, &vfs))
		return io_errno(io, "statvfs", errno);
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (avail < need)
		return m2m_err_set(io->err, M2M_ERR_STORAGE,
				   "%s: %llu more bytes needed, %llu free", io->o->path,
				   (unsigned long long)need, (unsigned long long)avail);
	return M2M_OK;
}

int upd_io_total(struct upd_fetch_io *io, uint64_t total)
{
	const struct upd_fetch_opts *o = io->o;

	if (o->expected && total != o->expected)
		return m2m_err_set(io->err, M2M_ERR_INTEGRITY,
				   "%s: %llu bytes, not the %llu expected", o->url,
				   (unsigned long long)total, (unsigned long long)o->expected);
	if (total > upd_io_bound(io))
		return m2m_err_set(io->err, M2M_ERR_PROTOCOL,
				   "%s: %llu bytes, more than the limit of %llu", o->url,
				   (unsigned long long)total, (unsigned long long)upd_io_bound(io));
	io->st->total = total;
	return io_space(io, total > io->st->offset ? total - io->st->offset : 0);
}

int upd_io_rewind(struct upd_fetch_io *io, uint64_t offset)
{
	int rc;

	if (io->buffered && (rc = io_flush(io)))
		return rc;
	if (offset > io->st->offset || io->sunk)
		return m2m_err_set(io->err, M2M_ERR_FAILURE, "%s: cannot rewind to %llu",
				   io->o->path, (unsigned long long)offset);
	if (ftruncate(io->fd, (off_t)offset))
		return io_errno(io, "truncate", errno);
	io->st->offset = io->synced = offset;
	return M2M_OK;
}

int upd_io_restart(struct upd_fetch_io *io)
{
	struct upd_fetch_state *st = io->st;
	bool late = io->sunk > 0;

	io->buffered = 0; /* bytes of the old resource: never written */
	if (ftruncate(io->fd, 0))
		return io_errno(io, "truncate", errno);
	st->offset = io->synced = 0;
	st->etag[0] = 0;
	st->total = 0;
	io->fed = false;
	if (late)
		/* the sink had the old bytes: it cannot take the new ones after them */
		return m2m_err_set(io->err, M2M_ERR_PROTOCOL,
				   "%s: the resource changed during the pull; it starts again from "
				   "byte 0 on the next try", io->o->url);
	return M2M_OK;
}

int upd_io_continue(struct upd_fetch_io *io)
{
	const struct upd_fetch_opts *o = io->o;
	uint8_t buf[65536];
	uint64_t off = 0;
	int rc;

	if (io->fed)
		return M2M_OK;
	if (io->buffered && (rc = io_flush(io)))
		return rc;
	io->fed = true;
	if (!o->sink)
		return M2M_OK;
	/* the bytes already on disk, read back: the sink sees the package from byte 0 */
	while (off < io->st->offset) {
		size_t want = io->st->offset - off < sizeof(buf) ? (size_t)(io->st->offset - off) :
								   sizeof(buf);
		ssize_t n = pread(io->fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return io_errno(io, "read", errno);
		if (n == 0)
			return m2m_err_set(io->err, M2M_ERR_FAILURE, "%s: shorter than %llu bytes",
					   o->path, (unsigned long long)io->st->offset);
		if ((rc = o->sink(o->sink_ctx, buf, (size_t)n, io->err)))
			return rc;
		off += (uint64_t)n;
		io->sunk += (uint64_t)n;
	}
	return M2M_OK;
}

int upd_io_sync(struct upd_fetch_io *io)
{
	int rc;

	if (io->buffered && (rc = io_flush(io)))
		return rc;
	if (fdatasync(io->fd))
		return io_errno(io, "fsync", errno);
	io->synced = io->st->offset;
	io->synced_at = m2m_now_ms();
	if (io->o->checkpoint)
		return io->o->checkpoint(io->o->checkpoint_ctx, io->st, io->err);
	return M2M_OK;
}

/*
 * The buffered bytes to the file, and the whole MiBs among them to the disk
 * without waiting (a hint: its failure is the fsync's to report), so the disk
 * works while the network does and the checkpoint's or the end's fsync finds
 * little left. A failed write keeps st->offset at what the file holds.
 */
static int io_flush(struct upd_fetch_io *io)
{
	struct upd_fetch_state *st = io->st;
	uint64_t at = st->offset - io->buffered, from, to;
	size_t done = 0;

	while (done < io->buffered) {
		ssize_t n = pwrite(io->fd, io->buf + done, io->buffered - done, (off_t)(at + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			st->offset = at + done;
			io->buffered = 0;
			return io_errno(io, "write", e);
		}
		done += (size_t)n;
	}
	io->buffered = 0;
	from = at / UPD_FETCH_CHECKPOINT * UPD_FETCH_CHECKPOINT;
	to = st->offset / UPD_FETCH_CHECKPOINT * UPD_FETCH_CHECKPOINT;
	if (to > from)
		(void)sync_file_range(io->fd, (off_t)from, (off_t)(to - from), SYNC_FILE_RANGE_WRITE);
	return M2M_OK;
}

int upd_io_write(struct upd_fetch_io *io, const void *data, size_t len)
{
	const struct upd_fetch_opts *o = io->o;
	struct upd_fetch_state *st = io->st;
	const uint8_t *p = data;
	size_t left = len;
	int rc;

	if (len > upd_io_bound(io) - st->offset) {
		if (o->expected)
			return m2m_err_set(io->err, M2M_ERR_INTEGRITY,
					   "%s: more than the %llu bytes expected", o->url,
					   (unsigned long long)o->expected);
		return m2m_err_set(io->err, M2M_ERR_PROTOCOL, "%s: more than the limit of %llu bytes",
				   o->url, (unsigned long long)o->max);
	}
	if ((rc = upd_io_continue(io)))
		return rc;
	while (left) {
		size_t n = UPD_FETCH_WRITE - io->buffered < left ? UPD_FETCH_WRITE - io->buffered : left;

		memcpy(io->buf + io->buffered, p, n);
		io->buffered += n;
		st->offset += n;
		p += n;
		left -= n;
		if (io->buffered == UPD_FETCH_WRITE && (rc = io_flush(io)))
			return rc;
	}
	if (o->sink) {
		if ((rc = o->sink(o->sink_ctx, data, len, io->err)))
			return rc;
		io->sunk += len;
	}
	if (o->progress)
		o->progress(o->progress_ctx, st->offset, st->total);
	if (st->offset - io->synced >= UPD_FETCH_CHECKPOINT &&
	    m2m_now_ms() - io->synced_at >= UPD_FETCH_CHECKPOINT_MS)
		return upd_io_sync(io);
	return M2M_OK;
}

int upd_fetch(const struct upd_fetch_opts *o, struct upd_fetch_state *st, struct m2m_err *err)
{
	struct upd_fetch_io io = { .o = o, .st = st, .err = err, .fd = -1 };
	enum upd_scheme scheme = upd_fetch_scheme(o->url);
	struct stat sb;
	int rc, rc2;

	st->etag[sizeof(st->etag) - 1] = 0;
	if (scheme == UPD_SCHEME_INVALID)
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: not a URI", o->url ? o->url : "(none)");
	if (scheme == UPD_SCHEME_UNSUPPORTED)
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "%s: unsupported scheme (http, https, coap, coaps)", o->url);
	if (o->timeout_ms)
		io.deadline = m2m_now_ms() + o->timeout_ms;
	io.buf = malloc(UPD_FETCH_WRITE);
	if (!io.buf)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	io.fd = open(o->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (io.fd < 0) {
		free(io.buf);
		return io_errno(&io, "open", errno);
	}
	if (fstat(io.fd, &sb)) {
		rc = io_errno(&io, "stat", errno);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = m2m_err_set(err, M2M_ERR_CONFIG, "%s: not a regular file", o->path);
		goto out;
	}
	/*
	 * The file holds what was written; the journal what was synced. After a
	 * power cut the file may be shorter (unsynced data lost: resume from its
	 * end) or longer (written after the last checkpoint: not vouched for).
	 */
	if (st->offset > (uint64_t)sb.st_size)
		st->offset = (uint64_t)sb.st_size;
	if (o->expected && st->offset > o->expected)
		st->offset = 0;
	if ((uint64_t)sb.st_size != st->offset && ftruncate(io.fd, (off_t)st->offset)) {
		rc = io_errno(&io, "truncate", errno);
		goto out;
	}
	if (!st->offset)
		st->etag[0] = 0, st->total = 0;
	io.synced = st->offset;
	io.synced_at = m2m_now_ms();
	if (o->expected && (rc = upd_io_total(&io, o->expected)))
		goto out;
	if (scheme == UPD_SCHEME_HTTP || scheme == UPD_SCHEME_HTTPS)
		rc = upd_fetch_http(&io);
	else
		rc = upd_fetch_coap(&io);
	if (!rc && !st->total)
		st->total = st->offset;
	if (!rc && st->offset != st->total)
		rc = m2m_err_set(err, M2M_ERR_PROTOCOL, "%s: %llu of %llu bytes", o->url,
				 (unsigned long long)st->offset, (unsigned long long)st->total);
	if (!rc)
		rc = upd_io_continue(&io); /* already whole: the sink still sees it all */
out:
	/* what was written is made durable and reported, also after a failure */
	if (io.synced != st->offset || !rc) {
		struct m2m_err e2;

		io.err = &e2;
		rc2 = upd_io_sync(&io);
		io.err = err;
		if (!rc && rc2) {
			*err = e2;
			rc = rc2;
		}
	}
	if (close(io.fd) && !rc)
		rc = io_errno(&io, "close", errno);
	free(io.buf);
	return rc;
}
