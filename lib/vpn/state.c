/* SPDX-License-Identifier: MIT */
/*
 * The files the VPN module keeps in the state directory, named
 * "<dir>/<what>-<profile>": the per-profile lock that one-shot "up" runs and
 * the supervisor share, the lock a running watch holds, and the last failure
 * that "status" shows. Here, not in vpn.c or watch.c, so that each of those
 * asks about the other's state without calling into it. All of them through
 * lib/state: the directory's ownership checked, files replaced atomically, and a
 * damaged one set aside (NAME.bad) instead of read.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "m2m/vpn.h"
#include "state/state.h"
#include "vpn/vpn_int.h"

const char *vpn_state_dir(const struct m2m_config *cfg)
{
	return cfg->state_dir ? cfg->state_dir : M2M_STATE_DEFAULT_DIR;
}

/* "<what>-<profile><suffix>", the file's name in the state directory */
static void state_name(const char *what, const char *profile, const char *suffix, char *buf,
		       size_t len)
{
	char name[64];

	snprintf(name, sizeof(name), "%s%s", profile, suffix);
	snprintf(buf, len, "%s-%s", what, name);
}

/* ---- locks ---------------------------------------------------------------- */

/* "<what>-<profile>.lock" in the state directory, waited for at most wait_ms */
static int lock(const struct m2m_config *cfg, const char *what, const char *profile,
		unsigned wait_ms, int *fd, struct m2m_err *err)
{
	struct m2m_state st;
	char name[NAME_MAX + 1];
	int rc = m2m_state_open(&st, vpn_state_dir(cfg), err);

	if (rc)
		return rc;
	state_name(what, profile, ".lock", name, sizeof(name));
	rc = m2m_state_lock(&st, name, wait_ms, fd, err);
	m2m_state_close(&st);
	return rc;
}

int vpn_profile_lock(const struct m2m_config *cfg, const char *profile, unsigned wait_ms, int *fd,
		     struct m2m_err *err)
{
	return lock(cfg, "vpn", profile, wait_ms, fd, err);
}

void vpn_profile_unlock_remove(const struct m2m_config *cfg, const char *profile, int fd)
{
	struct m2m_state st;
	char name[NAME_MAX + 1];

	if (m2m_state_open_existing(&st, vpn_state_dir(cfg), NULL)) {
		m2m_state_unlock(fd);
		return;
	}
	state_name("vpn", profile, ".lock", name, sizeof(name));
	m2m_state_unlock_remove(&st, name, fd);
	m2m_state_close(&st);
}

int vpn_watch_lock(const struct m2m_config *cfg, const char *profile, int *fd,
		   struct m2m_err *err)
{
	return lock(cfg, "watch", profile, 0, fd, err);
}

bool vpn_watch_running(const struct m2m_config *cfg, const char *profile)
{
	struct m2m_state st;
	char name[NAME_MAX + 1];
	bool held = false;
	int fd = -1;

	/* a question: no directory is made and no lock file left behind to answer it */
	if (m2m_state_open_existing(&st, vpn_state_dir(cfg), NULL))
		return false;
	state_name("watch", profile, ".lock", name, sizeof(name));
	if (m2m_state_exists(&st, name)) {
		held = m2m_state_lock(&st, name, 0, &fd, NULL) == M2M_ERR_BUSY;
		m2m_state_unlock(fd);
	}
	m2m_state_close(&st);
	return held;
}

/* ---- the last failure, kept for "status" -------------------------------- */

void vpn_last_error_save(const struct m2m_config *cfg, const char *profile, int rc,
			 const char *msg)
{
	struct m2m_state st;
	char name[NAME_MAX + 1], buf[512];
	int n;

	state_name("vpn", profile, ".last", name, sizeof(name));
	if (rc == M2M_OK) {
		if (m2m_state_open_existing(&st, vpn_state_dir(cfg), NULL) == M2M_OK) {
			m2m_state_remove(&st, name, NULL);
			m2m_state_close(&st);
		}
		return;
	}
	/* the gateway refused us, or we it: counted where the policies look (policy.counters) */
	if (rc == M2M_ERR_AUTH_LOCAL || rc == M2M_ERR_AUTH_REMOTE)
		m2m_state_event(vpn_state_dir(cfg), "vpn-auth", NULL);
	if (m2m_state_open(&st, vpn_state_dir(cfg), NULL))
		return;
	n = snprintf(buf, sizeof(buf), "%d %lld %s\n", rc, (long long)time(NULL), msg);
	if (n > 0)
		m2m_state_write(&st, name, buf,
				(size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, NULL);
	m2m_state_close(&st);
}

/*
 * "<number> <unix time> <message>", the shape of both files below: the
 * numbers, and the message up to the end of its line (NUL-terminated there).
 */
static int parse_line(char *buf, long long *num, long long *t, const char **msg)
{
	char *end;

	*num = strtoll(buf, &end, 10);
	if (end == buf || *end != ' ')
		return -1;
	*t = strtoll(end + 1, &end, 10);
	if (*end != ' ' && *end != '\n')
		return -1;
	if (*end == ' ')
		end++;
	end[strcspn(end, "\n")] = '\0';
	*msg = end;
	return 0;
}

/* read back validated: a result code and a time, as vpn_last_error_save writes */
static int check_last(const char *buf, size_t len, void *ctx, struct m2m_err *err)
{
	char copy[512];
	const char *msg;
	long long rc, t;

	(void)ctx;
	snprintf(copy, sizeof(copy), "%.*s", (int)len, buf);
	if (parse_line(copy, &rc, &t, &msg) || rc <= 0 || rc > 255 || t < 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "no result code and time");
	return M2M_OK;
}

void vpn_last_error_load(const struct m2m_config *cfg, struct m2m_vpn_status *s)
{
	struct m2m_state st;
	struct m2m_err err;
	char name[NAME_MAX + 1], *buf = NULL;
	const char *msg;
	long long code, t;
	int rc;

	if (m2m_state_open_existing(&st, vpn_state_dir(cfg), NULL))
		return;
	state_name("vpn", s->profile, ".last", name, sizeof(name));
	rc = m2m_state_read(&st, name, 4096, check_last, NULL, &buf, NULL, &err);
	m2m_state_close(&st);
	if (rc && rc != M2M_ERR_NOT_FOUND) {
		/* damaged and set aside (or unreadable): the status says so, in place of the failure */
		s->last_rc = M2M_ERR_FAILURE;
		s->last_error_time = (uint64_t)time(NULL);
		snprintf(s->last_error, sizeof(s->last_error), "%.*s", (int)sizeof(s->last_error) - 1,
			 err.msg);
		return;
	}
	if (rc)
		return;
	if (parse_line(buf, &code, &t, &msg) == 0) {
		s->last_rc = (int)code;
		s->last_error_time = t > 0 ? (uint64_t)t : 0;
		snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
	}
	free(buf);
}

/* ---- the gateway's silence, as the supervisor sees it ------------------- */

/*
 * "live-<profile>": "<IKE SA uniqueid> <unix time> <message>" while the
 * supervisor sees the gateway leave our liveness checks (DPD, MOBIKE)
 * unanswered on that IKE SA; removed when it answers again. Only watch reads
 * charon's log stream, so only it can tell; "status" runs apart and reads this.
 */
void vpn_liveness_save(const struct m2m_config *cfg, const char *profile, unsigned ike_id,
		       time_t since, const char *msg)
{
	struct m2m_state st;
	char name[NAME_MAX + 1], buf[512];
	int n;

	state_name("live", profile, "", name, sizeof(name));
	if (m2m_state_open(&st, vpn_state_dir(cfg), NULL))
		return;
	n = snprintf(buf, sizeof(buf), "%u %lld %s\n", ike_id, (long long)since, msg);
	if (n > 0)
		m2m_state_write(&st, name, buf,
				(size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, NULL);
	m2m_state_close(&st);
}

void vpn_liveness_clear(const struct m2m_config *cfg, const char *profile)
{
	struct m2m_state st;
	char name[NAME_MAX + 1];

	state_name("live", profile, "", name, sizeof(name));
	if (m2m_state_open_existing(&st, vpn_state_dir(cfg), NULL) == M2M_OK) {
		if (m2m_state_exists(&st, name))
			m2m_state_remove(&st, name, NULL);
		m2m_state_close(&st);
	}
}

/* read back validated: an IKE SA id and a time, as vpn_liveness_save writes */
static int check_live(const char *buf, size_t len, void *ctx, struct m2m_err *err)
{
	char copy[512];
	const char *msg;
	long long id, t;

	(void)ctx;
	snprintf(copy, sizeof(copy), "%.*s", (int)len, buf);
	if (parse_line(copy, &id, &t, &msg) || id < 0 || t <= 0)
		return m2m_err_set(err, M2M_ERR_FAILURE, "no IKE SA id and time");
	return M2M_OK;
}

void vpn_liveness_load(const struct m2m_config *cfg, struct m2m_vpn_status *s)
{
	struct m2m_state st;
	struct m2m_err err;
	char name[NAME_MAX + 1], *buf = NULL;
	const char *msg;
	long long id, t;
	int rc;

	if (s->state != M2M_VPN_STATE_UP ||
	    m2m_state_open_existing(&st, vpn_state_dir(cfg), NULL))
		return;
	state_name("live", s->profile, "", name, sizeof(name));
	rc = m2m_state_exists(&st, name) ?
		     m2m_state_read(&st, name, 1024, check_live, NULL, &buf, NULL, &err) :
		     M2M_ERR_NOT_FOUND;
	m2m_state_close(&st);
	if (rc)
		return;
	/* a left-over of another SA, or of a watch that is gone, says nothing about this one */
	if (parse_line(buf, &id, &t, &msg) == 0 && id == (long long)s->ike_uniqueid &&
	    vpn_watch_running(cfg, s->profile)) {
		s->state = M2M_VPN_STATE_UNCONFIRMED;
		s->last_rc = M2M_ERR_UNREACHABLE;
		s->last_error_time = (uint64_t)t;
		snprintf(s->last_error, sizeof(s->last_error), "%s", msg);
	}
	free(buf);
}
