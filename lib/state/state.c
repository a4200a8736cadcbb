/* SPDX-License-Identifier: MIT */
/* The state directory: its checks, locks, atomic whole files and validated reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "state/state.h"

/* A plain file name: the state directory holds no subdirectories and no escapes. */
static int check_name(const struct m2m_state *st, const char *name, struct m2m_err *err)
{
	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") ||
	    strlen(name) > NAME_MAX - 16)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: invalid state file name '%s'",
				   st->path, name ? name : "");
	return M2M_OK;
}

static int open_dir(struct m2m_state *st, const char *dir, bool create, struct m2m_err *err)
{
	struct stat sb;
	int rc;

	st->dirfd = -1;
	if (!dir || strlen(dir) >= sizeof(st->path))
		return m2m_err_set(err, M2M_ERR_CONFIG, "state directory: path missing or too long");
	strcpy(st->path, dir);
	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* made (with its parents) only when missing: no mkdir per path element on every run */
	if (st->dirfd < 0 && errno == ENOENT && create) {
		rc = m2m_mkdir_private(dir, err);
		if (rc)
			return rc;
		st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (st->dirfd < 0)
		return m2m_err_set(err, errno == ENOTDIR ? M2M_ERR_CONFIG :
				   errno == ENOENT ? M2M_ERR_NOT_FOUND : M2M_ERR_FAILURE,
				   "%s: %s", dir, strerror(errno));
	if (fstat(st->dirfd, &sb) < 0) {
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	if ((sb.st_uid != geteuid() && sb.st_uid != 0) || (sb.st_mode & 0022)) {
		rc = m2m_err_set(err, M2M_ERR_CONFIG,
				 "%s: the state directory must belong to us or root and be writable "
				 "by no one else (mode %03o, owner %u)",
				 dir, (unsigned)(sb.st_mode & 0777), (unsigned)sb.st_uid);
		goto fail;
	}
	return M2M_OK;
fail:
	close(st->dirfd);
	st->dirfd = -1;
	return rc;
}

int m2m_state_open(struct m2m_state *st, const char *dir, struct m2m_err *err)
{
	return open_dir(st, dir, true, err);
}

int m2m_state_open_existing(struct m2m_state *st, const char *dir, struct m2m_err *err)
{
	return open_dir(st, dir, false, err);
}

void m2m_state_close(struct m2m_state *st)
{
	if (st->dirfd >= 0)
		close(st->dirfd);
	st->dirfd = -1;
}

int m2m_state_lock(const struct m2m_state *st, const char *name, unsigned wait_ms, int *fdp,
		   struct m2m_err *err)
{
	uint64_t end = m2m_now_ms() + wait_ms;
	int fd, rc = check_name(st, name, err);

	if (rc)
		return rc;
again:
	fd = openat(st->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return m2m_err_set(err, m2m_state_errno_rc(errno), "%s/%s: %s", st->path, name,
				   strerror(errno));
	for (;;) {
		struct stat held, now;

		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			/*
			 * the file we hold must still be the one with that name: its holder
			 * may have removed it (m2m_state_unlock_remove) while we waited
			 */
			if (fstat(fd, &held) == 0 &&
			    fstatat(st->dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
			    held.st_ino == now.st_ino && held.st_dev == now.st_dev)
				break;
			close(fd);
			goto again;
		}
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "%s/%s: %s", st->path, name,
					 strerror(errno));
			close(fd);
			return rc;
		}
		if (m2m_now_ms() >= end) {
			close(fd);
			return m2m_err_set(err, M2M_ERR_BUSY, "%s/%s: held by another process",
					   st->path, name);
		}
		m2m_sleep_ms(20, NULL);
	}
	*fdp = fd;
	return M2M_OK;
}

void m2m_state_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

void m2m_state_unlock_remove(const struct m2m_state *st, const char *name, int fd)
{
	if (fd < 0)
		return;
	if (check_name(st, name, NULL) == M2M_OK)
		unlinkat(st->dirfd, name, 0);
	close(fd);
}

int m2m_state_errno_rc(int e)
{
	return e == ENOSPC || e == EDQUOT ? M2M_ERR_STORAGE : M2M_ERR_FAILURE;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int m2m_state_write(const struct m2m_state *st, const char *name, const void *data, size_t len,
		    struct m2m_err *err)
{
	char tmp[NAME_MAX + 1];
	int fd, e, rc = check_name(st, name, err);

	if (rc)
		return rc;
	/*
	 * The thread's id, not the process's: a thread id is unique among the
	 * threads alive on the machine, and two threads of one process writing
	 * the same name (watch's helper and its main loop both keep the guard's
	 * record) would otherwise share one temporary file, and the second
	 * rename would find it gone.
	 */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", name, (long)gettid());
	fd = openat(st->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return m2m_err_set(err, m2m_state_errno_rc(errno), "%s/%s: %s", st->path, tmp,
				   strerror(errno));
	if (write_all(fd, data, len) < 0 || fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		/* the room the part took comes back */
		unlinkat(st->dirfd, tmp, 0);
		return m2m_err_set(err, m2m_state_errno_rc(e), "%s/%s: %s", st->path, tmp,
				   strerror(e));
	}
	if (close(fd) < 0 || renameat(st->dirfd, tmp, st->dirfd, name) < 0) {
		e = errno;
		unlinkat(st->dirfd, tmp, 0);
		return m2m_err_set(err, m2m_state_errno_rc(e), "%s/%s: %s", st->path, name,
				   strerror(e));
	}
	/* the rename is only durable once the directory is */
	if (fsync(st->dirfd) < 0)
		return m2m_err_set(err, m2m_state_errno_rc(errno), "%s: %s", st->path,
				   strerror(errno));
	return M2M_OK;
}

/* Keep a damaged file for a person, out of the way of the next run. */
static void set_aside(const struct m2m_state *st, const char *name, struct m2m_err *err)
{
	char bad[NAME_MAX + 1];

	snprintf(bad, sizeof(bad), "%s.bad", name);
	if (renameat(st->dirfd, name, st->dirfd, bad) == 0) {
		fsync(st->dirfd);
		m2m_err_prefix(err, "%s/%s is damaged (moved to %s)", st->path, name, bad);
	} else {
		m2m_err_prefix(err, "%s/%s is damaged", st->path, name);
	}
}

int m2m_state_read(const struct m2m_state *st, const char *name, size_t max,
		   m2m_state_check_fn check, void *ctx, char **out, size_t *lenp,
		   struct m2m_err *err)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat sb;
	int fd, rc = check_name(st, name, err);

	*out = NULL;
	if (rc)
		return rc;
	fd = openat(st->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return m2m_err_set(err, errno == ENOENT ? M2M_ERR_NOT_FOUND : M2M_ERR_FAILURE,
				   "%s/%s: %s", st->path, name, strerror(errno));
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (size_t)sb.st_size > max) {
		close(fd);
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "%jd bytes, more than %zu", (intmax_t)sb.st_size,
				 max);
		set_aside(st, name, err);
		return rc;
	}
	/* a read error is the disk's, not the file's: the file stays where it is */
	rc = m2m_read_fd(fd, name, max, &buf, &len, err);
	close(fd);
	if (rc)
		return rc;
	if (check && check(buf, len, ctx, err) != M2M_OK) {
		/* state may hold a secret (a PSK): not left in freed memory */
		explicit_bzero(buf, len);
		free(buf);
		if (err)
			err->rc = M2M_ERR_FAILURE;
		set_aside(st, name, err);
		return M2M_ERR_FAILURE;
	}
	*out = buf;
	if (lenp)
		*lenp = len;
	return M2M_OK;
}

bool m2m_state_exists(const struct m2m_state *st, const char *name)
{
	return check_name(st, name, NULL) == M2M_OK &&
	       faccessat(st->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int m2m_state_remove(const struct m2m_state *st, const char *name, struct m2m_err *err)
{
	int rc = check_name(st, name, err);

	if (rc)
		return rc;
	if (unlinkat(st->dirfd, name, 0) < 0) {
		if (errno == ENOENT)
			return M2M_OK;
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s/%s: %s", st->path, name, strerror(errno));
	}
	fsync(st->dirfd);
	return M2M_OK;
}
