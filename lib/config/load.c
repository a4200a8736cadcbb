/* SPDX-License-Identifier: MIT */
/*
 * Loading the config file: refuse a file (or its directory, or a symlink's
 * target directory) that anyone but root or the file's owner running the
 * tool could change, and anything that is not a regular file of sane size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "config/config_int.h"
/* Refuse a file in a directory where anyone may replace it. */
static int check_dir(const char *qname, const char *file, char **real, struct m2m_err *err)
{
	char *copy = strdup(file), *slash, *dir;
	struct stat st;
	int rc = M2M_OK;

	*real = NULL;
	if (!copy)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	slash = strrchr(copy, '/');
	if (!slash)
		dir = ".";
	else if (slash == copy)
		dir = "/";
	else {
		*slash = '\0';
		dir = copy;
	}
	*real = realpath(dir, NULL);
	if (!*real || stat(*real, &st) < 0) {
		rc = m2m_err_set(err, M2M_ERR_CONFIG, "%s: its directory: %s", qname,
				 strerror(errno));
	} else if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
		char qdir[256];

		cfg_quote(qdir, sizeof(qdir), *real, strlen(*real), 200);
		rc = m2m_err_set(err, M2M_ERR_CONFIG,
				 "%s: refusing a config file in a world-writable directory (%s, mode %04o); chmod o-w %s",
				 qname, qdir, (unsigned)(st.st_mode & 07777), qdir);
	}
	free(copy);
	if (rc) {
		free(*real);
		*real = NULL;
	}
	return rc;
}

/* The file behind fd, and the directories of path; *dir: path's directory, resolved. */
static int check_file(const char *qname, const char *path, int fd, char **dir,
		      struct m2m_err *err)
{
	struct stat st;
	char *real = NULL, *target;
	int rc;

	*dir = NULL;
	if (fstat(fd, &st) < 0)
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: %s", qname, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: not a regular file; expected a YAML file",
				   qname);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "%s: refusing a config file writable by others (mode %04o); chmod go-w %s",
				   qname, (unsigned)(st.st_mode & 07777), qname);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "%s: refusing a config file owned by uid %u (neither root nor uid %u); chown root %s",
				   qname, (unsigned)st.st_uid, (unsigned)geteuid(), qname);
	if (st.st_size > CFG_MAX_BYTES)
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "%s: too large (%lld bytes); expected at most 1 MiB", qname,
				   (long long)st.st_size);
	/* the directory holding the name, and if it is a symlink, the target's */
	rc = check_dir(qname, path, dir, err);
	if (rc)
		return rc;
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		target = realpath(path, NULL);
		if (!target)
			rc = m2m_err_set(err, M2M_ERR_CONFIG, "%s: %s", qname, strerror(errno));
		else
			rc = check_dir(qname, target, &real, err);
		free(real);
		free(target);
	}
	if (rc) {
		free(*dir);
		*dir = NULL;
	}
	return rc;
}

int m2m_config_load(const char *path, struct m2m_config **out, struct m2m_err *err)
{
	char qname[256], *buf = NULL, *real = NULL;
	size_t len = 0;
	int fd, rc;

	if (!out)
		return m2m_err_set(err, M2M_ERR_FAILURE, "m2m_config_load: no result pointer");
	*out = NULL;
	if (!path)
		path = m2m_config_path(NULL);
	cfg_quote(qname, sizeof(qname), path, strlen(path), 200);
	/* O_NONBLOCK: opening a FIFO must not hang; it is refused below */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return m2m_err_set(err, M2M_ERR_CONFIG, "%s: no such file", qname);
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: %s", qname, strerror(errno));
	}
	rc = check_file(qname, path, fd, &real, err);
	if (!rc)
		/* one byte more than allowed, so the parser reports "too large" itself */
		rc = m2m_read_fd(fd, qname, CFG_MAX_BYTES + 1, &buf, &len, err);
	if (rc) {
		rc = M2M_ERR_CONFIG; /* every config problem is exit 3 */
		if (err)
			err->rc = rc;
	}
	close(fd);
	if (!rc)
		rc = cfg_parse_in(path, real, buf, len, out, err);
	free(real);
	free(buf);
	return rc;
}

