/* SPDX-License-Identifier: MIT */
/*
 * The files the VPN module keeps in the state directory, named
 * "<dir>/<what>-<profile>": the per-profile lock that one-shot "up" runs and
 * the supervisor share, the lock a running watch holds, and the last failure
 * that "status" shows. Here, not in vpn.c or watch.c, so that each of those
 * asks about the other's state without calling into it.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "m2m/vpn.h"
#include "vpn/vpn_int.h"

const char *vpn_state_dir(const struct m2m_config *cfg)
{
	return cfg->state_dir ? cfg->state_dir : M2M_STATE_DEFAULT_DIR;
}

void vpn_state_path(const struct m2m_config *cfg, const char *what, const char *profile,
		    char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s-%s", vpn_state_dir(cfg), what, profile);
}

/* ---- locks ---------------------------------------------------------------- */

int vpn_profile_lock(const struct m2m_config *cfg, const char *profile, unsigned wait_ms, int *fd,
		     struct m2m_err *err)
{
	char path[PATH_MAX], name[64];
	int rc = m2m_mkdir_private(vpn_state_dir(cfg), err);

	if (rc)
		return rc;
	snprintf(name, sizeof(name), "%s.lock", profile);
	vpn_state_path(cfg, "vpn", name, path, sizeof(path));
	return m2m_lock(path, wait_ms, fd, err);
}

void vpn_watch_lock_path(const struct m2m_config *cfg, const char *profile, char *buf, size_t len)
{
	char name[64];

	snprintf(name, sizeof(name), "%s.lock", profile);
	vpn_state_path(cfg, "watch", name, buf, len);
}

bool vpn_watch_running(const struct m2m_config *cfg, const char *profile)
{
	char path[PATH_MAX];
	int fd = -1;

	vpn_watch_lock_path(cfg, profile, path, sizeof(path));
	if (access(path, F_OK) != 0)
		return false;
	if (m2m_lock(path, 0, &fd, NULL) == M2M_ERR_BUSY)
		return true;
	m2m_unlock(fd);
	return false;
}

/* ---- the last failure, kept for "status" -------------------------------- */

static void last_error_path(const struct m2m_config *cfg, const char *profile, char *buf,
			    size_t len)
{
	char name[64];

	snprintf(name, sizeof(name), "%s.last", profile);
	vpn_state_path(cfg, "vpn", name, buf, len);
}

void vpn_last_error_save(const struct m2m_config *cfg, const char *profile, int rc,
			 const char *msg)
{
	char path[PATH_MAX], buf[512];
	int n;

	last_error_path(cfg, profile, path, sizeof(path));
	if (rc == M2M_OK) {
		unlink(path);
		return;
	}
	if (m2m_mkdir_private(vpn_state_dir(cfg), NULL))
		return;
	n = snprintf(buf, sizeof(buf), "%d %lld %s\n", rc, (long long)time(NULL), msg);
	if (n > 0)
		m2m_write_atomic(path, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, 0600,
				 NULL);
}

void vpn_last_error_load(const struct m2m_config *cfg, struct m2m_vpn_status *st)
{
	char path[PATH_MAX], *buf = NULL, *end;
	long long t;

	last_error_path(cfg, st->profile, path, sizeof(path));
	if (m2m_read_file(path, 4096, &buf, NULL, NULL))
		return;
	st->last_rc = (int)strtol(buf, &end, 10);
	t = strtoll(end, &end, 10);
	st->last_error_time = t > 0 ? (uint64_t)t : 0;
	if (*end == ' ')
		end++;
	end[strcspn(end, "\n")] = '\0';
	snprintf(st->last_error, sizeof(st->last_error), "%s", end);
	free(buf);
}
