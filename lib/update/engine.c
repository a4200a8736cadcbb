/* SPDX-License-Identifier: MIT */
/*
 * The update engine (m2m/update.h): the journal's state machine (journal.c)
 * with the real work behind its steps (steps.c), the installed versions and
 * the floor (versions.c), packages handed in by the caller (push.c).
 *
 * Files: the journal, the verified manifest (update.manifest) and the
 * committed versions (update.installed: {"name": "version"}) in the state
 * directory; the package (package) and the verified payload (payload) in
 * update.download_dir. The payload is only ever written by the verifier's
 * sink, from bytes that passed the signature and policy checks and whose
 * hash is checked at its end, so what an installer gets is what was signed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "update/engine_int.h"
#include "update/fetch.h"

void eng_log(void *ctx, int prio, const char *fmt, ...)
{
	struct m2m_update *u = ctx;
	char line[768];
	va_list ap;

	if (!u->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	u->o.log(u->o.log_ctx, prio, "%s", line);
}

const char *m2m_update_state_name(enum m2m_update_state s)
{
	return upd_state_name((enum upd_state)s);
}

void eng_arm(struct m2m_update *u)
{
	u->deadline = m2m_now_ms() + (u->o.timeout_ms ? u->o.timeout_ms : u->up->timeout_ms);
}

unsigned eng_left_ms(const struct m2m_update *u)
{
	uint64_t now = m2m_now_ms();

	if (now >= u->deadline)
		return 1;
	return u->deadline - now > UINT_MAX ? UINT_MAX : (unsigned)(u->deadline - now);
}

bool eng_is_file_source(const char *source)
{
	return source[0] == '/';
}

/* A file of the download area by its full path. */
const char *eng_dl_path(const struct m2m_update *u, const char *name, char *buf)
{
	snprintf(buf, DL_PATH_MAX, "%s/%s", u->dl.path, name);
	return buf;
}

int eng_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* ---- the public calls ------------------------------------------------------------------- */

static int open_dirs(const struct m2m_config *cfg, struct m2m_state *st, bool *st_open,
		     struct m2m_err *err)
{
	int rc = m2m_state_open(st, cfg->state_dir ? cfg->state_dir : M2M_STATE_DEFAULT_DIR, err);

	*st_open = rc == M2M_OK;
	return rc;
}

int m2m_update_open(const struct m2m_config *cfg, const struct m2m_update_opts *opts,
		    struct m2m_update **out, struct m2m_err *err)
{
	struct m2m_err local;
	struct upd_opts uo = { .ops = &eng_ops };
	struct m2m_update *u;
	int rc;

	if (!err)
		err = &local;
	m2m_err_clear(err);
	*out = NULL;
	if (!opts || opts->version < 1 || opts->version > M2M_UPDATE_OPTS_VERSION)
		return m2m_err_set(err, M2M_ERR_USAGE, "m2m_update_open: options of version %u, not 1..%u",
				   opts ? opts->version : 0, M2M_UPDATE_OPTS_VERSION);
	if (!cfg->update)
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: update: not configured", cfg->path);
	u = calloc(1, sizeof(*u));
	if (!u)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	u->cfg = cfg;
	u->up = cfg->update;
	u->o = *opts;
	u->payload_fd = -1;
	u->push_fd = -1;
	eng_arm(u);
	rc = open_dirs(cfg, &u->st, &u->st_open, err);
	if (!rc) {
		rc = m2m_state_open(&u->dl, u->up->download_dir, err);
		u->dl_open = rc == M2M_OK;
	}
	/* the floor (a TPM's) is opened when first needed: a check, a rollback, the health
	   check work without it */
	if (!rc) {
		uo.ctx = u;
		uo.floor = &eng_floor;
		uo.floor_ctx = u;
		uo.health_timeout_ms = u->up->health_timeout_ms;
		uo.hold = opts->hold;
		rc = upd_open(&u->st, &uo, &u->j, err);
	}
	if (rc) {
		m2m_update_close(u);
		return rc;
	}
	*out = u;
	return M2M_OK;
}

void m2m_update_close(struct m2m_update *u)
{
	if (!u)
		return;
	eng_push_close(u);
	upd_close(u->j);
	if (u->fops)
		eng_floor_close(u->fops, u->fctx);
	if (u->dl_open)
		m2m_state_close(&u->dl);
	if (u->st_open)
		m2m_state_close(&u->st);
	free(u);
}

/* An ended update whose end action a cut interrupted: finished before anything new. */
int eng_finish_pending(struct m2m_update *u, struct m2m_err *err)
{
	return upd_next(u->j) == UPD_NEXT_FINISH ? upd_step(u->j, err) : M2M_OK;
}

/* A call that succeeded says nothing (a lookup on the way may have left words in err). */
int eng_ok(int rc, struct m2m_err *err)
{
	if (rc == M2M_OK)
		m2m_err_clear(err);
	return rc;
}

int m2m_update_install(struct m2m_update *u, const char *source, struct m2m_err *err)
{
	struct m2m_err local;
	int rc;

	if (!err)
		err = &local;
	m2m_err_clear(err);
	eng_arm(u);
	if (source && source[0] != '/' && upd_fetch_scheme(source) == UPD_SCHEME_INVALID)
		return m2m_err_set(err, M2M_ERR_USAGE, "%s: not a URL or an absolute path", source);
	rc = eng_finish_pending(u, err);
	if (!rc)
		rc = upd_start(u->j, source, err);
	if (!rc)
		rc = upd_run(u->j, err);
	return eng_ok(rc, err);
}

int m2m_update_continue(struct m2m_update *u, struct m2m_err *err)
{
	struct m2m_err local;

	if (!err)
		err = &local;
	m2m_err_clear(err);
	eng_arm(u);
	return eng_ok(upd_run(u->j, err), err);
}

int m2m_update_apply(struct m2m_update *u, struct m2m_err *err)
{
	struct m2m_err local;

	if (!err)
		err = &local;
	m2m_err_clear(err);
	eng_arm(u);
	return eng_ok(upd_release(u->j, err), err);
}

int m2m_update_decide(struct m2m_update *u, bool good, struct m2m_err *err)
{
	struct m2m_err local;
	int rc;

	if (!err)
		err = &local;
	m2m_err_clear(err);
	eng_arm(u);
	if (good && upd_next(u->j) == UPD_NEXT_HEALTH) {
		rc = eng_can_commit(u, upd_last(u->j), err);
		if (rc)
			return rc;
	}
	return eng_ok(upd_decide(u->j, good, err), err);
}

int upd_engine_cancel(struct m2m_update *u, struct m2m_err *err)
{
	struct m2m_err local;
	int rc;

	if (!err)
		err = &local;
	m2m_err_clear(err);
	rc = upd_cancel(u->j, err);
	if (rc)
		return rc;
	eng_push_close(u);
	u->pushed = false;
	u->push_rc = 0;
	unlinkat(u->dl.dirfd, PKG_NAME, 0);
	unlinkat(u->dl.dirfd, PAYLOAD_TMP, 0);
	unlinkat(u->dl.dirfd, PAYLOAD_NAME, 0);
	fsync(u->dl.dirfd);
	eng_log(u, LOG_NOTICE, "update from %s cancelled", upd_last(u->j)->source);
	return M2M_OK;
}

static void status_of(const struct m2m_state *st, const struct upd_floor_ops *fops, void *fctx,
		      const struct upd_record *r, enum upd_next next, struct m2m_update_status *s)
{
	struct m2m_err e = { 0 };

	memset(s, 0, sizeof(*s));
	s->state = (enum m2m_update_state)r->state;
	s->done = r->done;
	snprintf(s->name, sizeof(s->name), "%s", r->name);
	snprintf(s->version, sizeof(s->version), "%s", r->version);
	snprintf(s->type, sizeof(s->type), "%s", r->type ? upd_type_name(r->type) : "");
	snprintf(s->source, sizeof(s->source), "%s", r->source);
	s->offset = r->offset;
	snprintf(s->slot, sizeof(s->slot), "%s", r->slot);
	s->result = r->result;
	snprintf(s->message, sizeof(s->message), "%s", r->message);
	s->time = r->time;
	snprintf(s->next, sizeof(s->next), "%s", upd_next_name(next));
	if (r->name[0] && st) {
		eng_installed_get(st, r->name, s->installed, sizeof(s->installed), &e);
		if (fops)
			fops->get(fctx, r->name, s->floor, sizeof(s->floor), &e);
	}
}

int m2m_update_get(const struct m2m_update *u, struct m2m_update_status *st, struct m2m_err *err)
{
	const struct upd_floor_ops *fops = u->fops;
	void *fctx = u->fctx;
	struct m2m_err fe = { 0 };

	/* not opened yet: for this status only (one that cannot be read shows "") */
	if (!fops && eng_floor_open(u->up, &u->st, &fops, &fctx, &fe) != M2M_OK)
		fops = NULL;
	status_of(&u->st, fops, fctx, upd_last(u->j), upd_next(u->j), st);
	if (fops && !u->fops)
		eng_floor_close(fops, fctx);
	return M2M_OK;
}

int m2m_update_status(const struct m2m_config *cfg, struct m2m_update_status *s,
		      struct m2m_err *err)
{
	struct m2m_err local;
	struct upd_record last;
	enum upd_next next;
	struct m2m_state st;
	int rc;

	if (!err)
		err = &local;
	m2m_err_clear(err);
	memset(s, 0, sizeof(*s));
	if (!cfg->update)
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: update: not configured", cfg->path);
	rc = m2m_state_open_existing(&st, cfg->state_dir ? cfg->state_dir : M2M_STATE_DEFAULT_DIR, err);
	if (rc == M2M_ERR_NOT_FOUND) {
		m2m_err_clear(err);
		snprintf(s->next, sizeof(s->next), "%s", upd_next_name(UPD_NEXT_NONE));
		return M2M_OK;
	}
	if (rc)
		return rc;
	rc = upd_journal_recover(&st, &last, &next, err);
	if (!rc) {
		const struct upd_floor_ops *fops = NULL;
		void *fctx = NULL;
		struct m2m_err fe = { 0 };

		/* a floor that cannot be read (no TPM here now) leaves it "" in the status */
		if (eng_floor_open(cfg->update, &st, &fops, &fctx, &fe) != M2M_OK)
			fops = NULL;
		status_of(&st, fops, fctx, &last, next, s);
		if (fops)
			eng_floor_close(fops, fctx);
	}
	m2m_state_close(&st);
	return rc;
}

/* The state directory, to read update.firmware: NOT_FOUND (none committed) if it is not there. */
static int fw_state(const struct m2m_config *cfg, struct m2m_state *st, struct m2m_err *err)
{
	int rc;

	if (!cfg->update)
		return m2m_err_set(err, M2M_ERR_CONFIG, "%s: update: not configured", cfg->path);
	rc = m2m_state_open_existing(st, cfg->state_dir ? cfg->state_dir : M2M_STATE_DEFAULT_DIR, err);
	if (rc == M2M_ERR_NOT_FOUND)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "no firmware package was committed");
	return rc;
}

int m2m_update_firmware(const struct m2m_config *cfg, char *name, size_t nlen, char *version,
			size_t vlen, struct m2m_err *err)
{
	struct m2m_err local;
	struct m2m_state st;
	int rc;

	if (!err)
		err = &local;
	m2m_err_clear(err);
	if (nlen)
		name[0] = '\0';
	if (vlen)
		version[0] = '\0';
	if (!nlen || !vlen)
		return m2m_err_set(err, M2M_ERR_USAGE, "update firmware: no room for it");
	rc = fw_state(cfg, &st, err);
	if (rc)
		return rc;
	rc = eng_firmware_get(&st, name, nlen, version, vlen, err);
	m2m_state_close(&st);
	return rc;
}

static void fw_entry(const struct upd_fw_entry *e, char *name, size_t nlen, char *version,
		     size_t vlen, char *slot, size_t slen, int64_t *committed)
{
	snprintf(name, nlen, "%s", e->name);
	snprintf(version, vlen, "%s", e->version);
	snprintf(slot, slen, "%s", e->slot);
	*committed = e->committed;
}

int m2m_update_fw_info(const struct m2m_config *cfg, struct m2m_update_fw_info *fw,
		       struct m2m_err *err)
{
	struct m2m_err local;
	struct upd_fw_record r;
	struct m2m_state st;
	unsigned v;
	int rc;

	if (!err)
		err = &local;
	m2m_err_clear(err);
	if (!fw || fw->version != M2M_UPDATE_FW_INFO_VERSION)
		return m2m_err_set(err, M2M_ERR_USAGE, "m2m_update_fw_info: a struct of version %u, not %u",
				   fw ? fw->version : 0, M2M_UPDATE_FW_INFO_VERSION);
	v = fw->version;
	memset(fw, 0, sizeof(*fw));
	fw->version = v;
	rc = fw_state(cfg, &st, err);
	if (rc)
		return rc;
	rc = eng_firmware_read(&st, &r, err);
	m2m_state_close(&st);
	if (rc == M2M_ERR_NOT_FOUND)
		return m2m_err_set(err, M2M_ERR_NOT_FOUND, "no firmware package was committed");
	if (rc)
		return rc;
	fw_entry(&r.run, fw->name, sizeof(fw->name), fw->fw_version, sizeof(fw->fw_version),
		 fw->slot, sizeof(fw->slot), &fw->committed);
	snprintf(fw->source, sizeof(fw->source), "%s", r.source);
	fw->fell_back = r.fell_back;
	fw_entry(&r.from, fw->from_name, sizeof(fw->from_name), fw->from_version,
		 sizeof(fw->from_version), fw->from_slot, sizeof(fw->from_slot), &fw->from_committed);
	fw->fell_back_at = r.fell_back_at;
	return M2M_OK;
}

int m2m_update_check_boot(struct m2m_update *u, bool *fell_back, struct m2m_err *err)
{
	struct m2m_err local;
	bool fb;

	if (!err)
		err = &local;
	m2m_err_clear(err);
	eng_arm(u);
	return eng_ok(eng_check_boot(u, fell_back ? fell_back : &fb, err), err);
}
