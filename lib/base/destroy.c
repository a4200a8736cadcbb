/* SPDX-License-Identifier: MIT */
/*
 * A file destroyed, not only unlinked: its blocks overwritten with zeros
 * through a descriptor still open after the unlink, flushed, and the
 * directory flushed (base.h). The wipe destroys a device's secrets so, and
 * a key renewal the key it replaced.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

/* Zeros over what fd holds, flushed to the disk. */
static int overwrite(int fd, struct m2m_err *err)
{
	static const char zero[4096];
	struct stat sb;
	off_t left;

	if (fstat(fd, &sb) < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s", strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return M2M_OK;
	for (left = sb.st_size; left > 0;) {
		ssize_t n = pwrite(fd, zero, left > (off_t)sizeof(zero) ? sizeof(zero) : (size_t)left,
				   sb.st_size - left);

		if (n <= 0)
			return m2m_err_set(err, M2M_ERR_FAILURE, "overwriting: %s",
					   n < 0 ? strerror(errno) : "no progress");
		left -= n;
	}
	if (fsync(fd) < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "flushing: %s", strerror(errno));
	return M2M_OK;
}

/* base.h; a file with other hard links is only unlinked: its blocks are another name's too */
int m2m_destroy_file(const char *path, int (*remove)(const char *path, struct m2m_err *err),
		     struct m2m_err *err)
{
	char target[PATH_MAX];
	struct stat sb;
	ssize_t n;
	int fd, rc;

	if (lstat(path, &sb) < 0)
		return m2m_err_set(err, errno == ENOENT ? M2M_ERR_NOT_FOUND : M2M_ERR_FAILURE, "%s: %s",
				   path, strerror(errno));
	if (S_ISLNK(sb.st_mode)) {
		n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		if (unlink(path) < 0)
			return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", path, strerror(errno));
		m2m_sync_dir_of(path);
		return m2m_err_set(err, M2M_ERR_FAILURE,
				   "a symbolic link: the link removed, what it named (%s) left", target);
	}
	if (!S_ISREG(sb.st_mode))
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: not a regular file: left", path);
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", path, strerror(errno));
	if (remove)
		rc = remove(path, err);
	else
		rc = unlink(path) < 0 ? m2m_err_set(err, M2M_ERR_FAILURE, "%s: %s", path,
						     strerror(errno)) : M2M_OK;
	if (!rc && sb.st_nlink == 1)
		rc = overwrite(fd, err);
	close(fd);
	m2m_sync_dir_of(path);
	return rc;
}

int m2m_destroy_replaced(const char *from, const char *to, struct m2m_err *err)
{
	struct stat sb;
	int fd = open(to, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK), rc;

	rc = m2m_rename_durable(from, to, err);
	if (!rc && fd >= 0 && fstat(fd, &sb) == 0 && sb.st_nlink == 0)
		rc = overwrite(fd, err);
	if (fd >= 0)
		close(fd);
	return rc;
}
