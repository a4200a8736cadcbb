/* SPDX-License-Identifier: MIT */
/*
 * The journaled state machine of one update (journal.h): recovery from the
 * last whole record, and the driver that writes each step before acting on it
 * and compacts the journal when the update ends. The record's format is
 * journal_record.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/base.h"
#include "update/journal.h"

/* ------------------------------------------------------------------------ */
/* recovery */

struct last_ctx {
	struct upd_record *last;
	struct m2m_err *err;
	unsigned n;
	int rc;
};

static int keep_last(const char *rec, size_t len, void *ctx)
{
	struct last_ctx *lc = ctx;

	lc->n++;
	/* a whole record (its CRC matched) that is not ours is damage, not a power cut */
	lc->rc = upd_record_parse(rec, len, lc->last, lc->err);
	if (lc->rc)
		m2m_err_prefix(lc->err, "%s record %u", UPD_JOURNAL_NAME, lc->n);
	return lc->rc;
}

static int recover(const struct m2m_state *st, size_t max, struct upd_record *last,
		   struct m2m_err *err)
{
	struct last_ctx lc = { .last = last, .err = err };
	int rc;

	memset(last, 0, sizeof(*last));
	rc = m2m_journal_replay(st, UPD_JOURNAL_NAME, max, keep_last, &lc, err);
	if (rc && lc.rc == 0)
		return rc;
	return lc.rc ? lc.rc : M2M_OK;
}

int upd_journal_recover(const struct m2m_state *st, struct upd_record *last, enum upd_next *next,
			struct m2m_err *err)
{
	int rc = recover(st, UPD_JOURNAL_MAX, last, err);

	if (rc) {
		memset(last, 0, sizeof(*last));
		*next = UPD_NEXT_NONE;
		return rc;
	}
	*next = upd_next_of(last);
	return M2M_OK;
}

/* ------------------------------------------------------------------------ */
/* the driver */

struct upd {
	const struct m2m_state *st;
	struct upd_opts o;
	struct m2m_journal j;
	int lock;
	struct upd_record last;
	bool waiting;   /* the health check said "not yet" in this run */
	bool released;  /* hold: upd_release() let the install go on */
};

/* The clock in ms since the epoch: the caller's (seconds) or the real one. */
static int64_t now_ms(const struct upd *u)
{
	struct timespec ts;

	if (u->o.ops->now)
		return u->o.ops->now(u->o.ctx) * 1000;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "<crc> <json>\n", the line lib/state's journal writes */
static int record_line(const struct upd_record *r, char *line, size_t len, size_t *n,
		       struct m2m_err *err)
{
	char json[M2M_JOURNAL_RECORD_MAX + 1];
	int rc = upd_record_json(r, json, sizeof(json), err);

	if (rc)
		return rc;
	*n = (size_t)snprintf(line, len, "%08lx %s\n", m2m_crc32(json, strlen(json)), json);
	return *n < len ? M2M_OK : m2m_err_set(err, M2M_ERR_FAILURE, "update journal: record too long");
}

/*
 * Replace the journal by r alone, atomically (lib/state's write, flush,
 * rename, flush the directory): a power cut leaves the old journal or the
 * new one, and either ends with a record that says where the update is.
 */
static int compact(struct upd *u, const struct upd_record *r, struct m2m_err *err)
{
	char line[M2M_JOURNAL_RECORD_MAX + 16];
	size_t n;
	int rc = record_line(r, line, sizeof(line), &n, err);

	if (rc)
		return rc;
	rc = m2m_state_write(u->st, UPD_JOURNAL_NAME, line, n, err);
	if (rc)
		return rc;
	m2m_journal_close(&u->j);
	return m2m_journal_open(u->st, UPD_JOURNAL_NAME, u->o.journal_max, &u->j, err);
}

/* Write r as the new last record (on the disk when this returns), then tell the caller. */
static int put(struct upd *u, struct upd_record *r, struct m2m_err *err)
{
	char json[M2M_JOURNAL_RECORD_MAX + 1];
	int64_t t;
	size_t n;
	int rc;

	t = now_ms(u);
	r->time = t / 1000;
	r->ms = (unsigned)(t % 1000);
	/* a message too long for a record is cut, never the record refused for it */
	while ((rc = upd_record_json(r, json, sizeof(json), err)) && strlen(r->message) > 16) {
		size_t cut = strlen(r->message) / 2;

		/* at a character's start: a status's JSON stays UTF-8 */
		while (cut && ((unsigned char)r->message[cut] & 0xc0) == 0x80)
			cut--;
		r->message[cut] = '\0';
	}
	if (rc)
		return rc;
	n = strlen(json);
	/* every record holds the whole state, so the new one alone is a journal */
	if (u->j.size + 8 + 1 + n + 1 > u->j.max)
		rc = compact(u, r, err);
	else
		rc = m2m_journal_append(&u->j, json, n, err);
	if (rc)
		return m2m_err_prefix(err, "%s/%s", u->st->path, UPD_JOURNAL_NAME);
	u->last = *r;
	if (u->o.ops->journaled)
		u->o.ops->journaled(u->o.ctx, &u->last);
	return M2M_OK;
}

/* The next record: the last one in a new state, with no result yet. */
static struct upd_record next_rec(const struct upd *u, enum upd_state s)
{
	struct upd_record r = u->last;

	r.state = s;
	r.result = M2M_OK;
	r.message[0] = '\0';
	r.done = false;
	if (s != UPD_INSTALLED)
		r.checking = false;
	/* the installer's group is kept while installing: a restart waits for it */
	if (s != UPD_INSTALLING)
		memset(&r.proc, 0, sizeof(r.proc));
	return r;
}

/*
 * A package not genuine, once on record: counted where the policies look
 * (update-integrity). Its signature or hash (fetch, verify), or the payload
 * in it that the installer found not genuine (a RAUC bundle its keyring
 * refuses, a script's 17): once a refused package or install.
 */
static void integrity_event(const struct upd *u, int put_rc, int result)
{
	if (!put_rc && result == M2M_ERR_INTEGRITY)
		m2m_state_event(u->st->path, "update-integrity", NULL);
}

static int put_end(struct upd *u, enum upd_state s, int result, const char *msg,
		   struct m2m_err *err)
{
	struct upd_record r = next_rec(u, s);

	r.result = result;
	snprintf(r.message, sizeof(r.message), "%s", msg ? msg : "");
	return put(u, &r, err);
}

/* A fetch or verify that failed: which package it was, if the step learnt it (a refusal). */
static int put_failed(struct upd *u, const struct upd_record *op, int result, const char *msg,
		      struct m2m_err *err)
{
	struct upd_record r = next_rec(u, UPD_FAILED);
	int rc;

	if (op->name[0] && !r.name[0]) {
		memcpy(r.name, op->name, sizeof(r.name));
		memcpy(r.version, op->version, sizeof(r.version));
		r.type = op->type;
	}
	r.result = result;
	snprintf(r.message, sizeof(r.message), "%s", msg ? msg : "");
	rc = put(u, &r, err);
	integrity_event(u, rc, result);
	return rc;
}

int upd_open(const struct m2m_state *st, const struct upd_opts *opts, struct upd **out,
	     struct m2m_err *err)
{
	struct upd *u;
	int rc;

	*out = NULL;
	if (!opts || !opts->ops || !opts->ops->fetch || !opts->ops->verify || !opts->ops->install ||
	    !opts->ops->health || !opts->ops->commit || !opts->ops->rollback)
		return m2m_err_set(err, M2M_ERR_FAILURE, "update: every step needs its operation");
	u = calloc(1, sizeof(*u));
	if (!u)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	u->st = st;
	u->o = *opts;
	u->j.fd = -1;
	u->lock = -1;
	/* a status reads the journal with UPD_JOURNAL_MAX as its bound */
	if (!u->o.journal_max || u->o.journal_max > UPD_JOURNAL_MAX)
		u->o.journal_max = UPD_JOURNAL_MAX;
	if (!u->o.health_timeout_ms)
		u->o.health_timeout_ms = 5 * 60 * 1000;
	rc = m2m_state_lock(st, UPD_LOCK_NAME, 0, &u->lock, err);
	/* open cuts a torn last record, so the next append starts on a line of its own */
	if (!rc)
		rc = m2m_journal_open(st, UPD_JOURNAL_NAME, u->o.journal_max, &u->j, err);
	if (!rc)
		rc = recover(st, u->o.journal_max, &u->last, err);
	if (rc) {
		upd_close(u);
		return rc;
	}
	*out = u;
	return M2M_OK;
}

void upd_close(struct upd *u)
{
	if (!u)
		return;
	m2m_journal_close(&u->j);
	if (u->lock >= 0)
		m2m_state_unlock(u->lock);
	free(u);
}

const struct upd_record *upd_last(const struct upd *u)
{
	return &u->last;
}

enum upd_next upd_next(const struct upd *u)
{
	return upd_next_of(&u->last);
}

int upd_start(struct upd *u, const char *source, struct m2m_err *err)
{
	struct upd_record r = { .state = UPD_DOWNLOADING };

	if (!source || !*source || strlen(source) >= sizeof(r.source))
		return m2m_err_set(err, M2M_ERR_USAGE, "update: the source is empty or longer than %zu bytes",
				   sizeof(r.source) - 1);
	if (upd_next(u) != UPD_NEXT_NONE)
		return m2m_err_set(err, M2M_ERR_BUSY, "update: one is under way (%s%s%s): run it to its end first",
				   upd_state_name(u->last.state), u->last.version[0] ? " " : "",
				   u->last.version);
	snprintf(r.source, sizeof(r.source), "%s", source);
	return put(u, &r, err);
}

int upd_installing(struct upd *u, const struct upd_proc *p, struct m2m_err *err)
{
	struct upd_record r = next_rec(u, UPD_INSTALLING);

	if (u->last.state != UPD_INSTALLING)
		return m2m_err_set(err, M2M_ERR_FAILURE, "update: an installer started while %s",
				   upd_state_name(u->last.state));
	r.proc = *p;
	return put(u, &r, err);
}

int upd_checkpoint(struct upd *u, uint64_t offset, const char *etag, struct m2m_err *err)
{
	struct upd_record r = next_rec(u, UPD_DOWNLOADING);

	if (u->last.state != UPD_DOWNLOADING)
		return m2m_err_set(err, M2M_ERR_FAILURE, "update: a checkpoint while %s",
				   upd_state_name(u->last.state));
	r.offset = offset;
	/* a validator too long to keep is forgotten: the package's hash catches a change */
	if (etag)
		snprintf(r.etag, sizeof(r.etag), "%s", strlen(etag) < sizeof(r.etag) ? etag : "");
	return put(u, &r, err);
}

int upd_cancel(struct upd *u, struct m2m_err *err)
{
	struct upd_record r = { .state = UPD_IDLE };

	if (u->last.state != UPD_DOWNLOADING && u->last.state != UPD_DOWNLOADED &&
	    u->last.state != UPD_VERIFIED)
		return m2m_err_set(err, M2M_ERR_USAGE, "update: nothing to cancel (%s)",
				   upd_state_name(u->last.state));
	memcpy(r.source, u->last.source, sizeof(r.source));
	snprintf(r.message, sizeof(r.message), "cancelled");
	return put(u, &r, err);
}

/* A failed fetch or verify: its files go first, and with them the room a full disk lacked. */
static void discard(struct upd *u, const struct upd_record *r)
{
	if (u->o.ops->discard)
		u->o.ops->discard(u->o.ctx, r);
}

static bool resumable(int rc)
{
	return rc == M2M_ERR_UNREACHABLE || rc == M2M_ERR_TIMEOUT;
}

static int step_fetch(struct upd *u, struct m2m_err *err)
{
	struct upd_record r = u->last;
	struct m2m_err e = { 0 };
	int rc = u->o.ops->fetch(u->o.ctx, u, &r, &e);

	if (rc == M2M_OK) {
		struct upd_record d = next_rec(u, UPD_DOWNLOADED);

		d.offset = r.offset;
		memcpy(d.etag, r.etag, sizeof(d.etag));
		return put(u, &d, err);
	}
	if (resumable(rc) && r.offset != UPD_NO_RESUME) {
		/* still downloading from the last checkpoint; the record says why it stopped */
		struct upd_record d = next_rec(u, UPD_DOWNLOADING);
		int wrc;

		d.result = rc;
		snprintf(d.message, sizeof(d.message), "%s", e.msg);
		wrc = put(u, &d, err);
		return wrc ? wrc : m2m_err_set(err, rc, "%s", e.msg);
	}
	discard(u, &r);
	return put_failed(u, &r, rc, e.msg, err);
}

static int step_verify(struct upd *u, struct m2m_err *err)
{
	struct upd_record r = next_rec(u, UPD_VERIFIED);
	struct m2m_err e = { 0 };
	int rc = u->o.ops->verify(u->o.ctx, &r, &e);

	/* out of time or stopped: still downloaded, the next run verifies again */
	if (rc == M2M_ERR_TIMEOUT)
		return m2m_err_set(err, rc, "%s", e.msg);
	if (rc) {
		discard(u, &r);
		return put_failed(u, &r, rc, e.msg, err);
	}
	r.state = UPD_VERIFIED;
	r.result = M2M_OK;
	r.message[0] = '\0';
	r.done = false;
	return put(u, &r, err);
}

static int step_install(struct upd *u, struct m2m_err *err)
{
	struct m2m_err e = { 0 };
	struct upd_record r;
	int rc, wrc;

	if (u->last.state == UPD_VERIFIED) {
		r = next_rec(u, UPD_INSTALLING);
		if (u->o.ops->prepare) {
			rc = u->o.ops->prepare(u->o.ctx, &r, &e);
			if (rc) {
				wrc = put_end(u, UPD_FAILED, rc, e.msg, err);
				integrity_event(u, wrc, rc);
				return wrc;
			}
		}
		rc = put(u, &r, err);
		if (rc)
			return rc;
	}
	r = next_rec(u, UPD_INSTALLING);
	rc = u->o.ops->install(u->o.ctx, &r, &e);
	/* an installer a killed run left still runs: neither ended nor rolled back beside it */
	if (rc == M2M_ERR_BUSY)
		return m2m_err_set(err, rc, "%s", e.msg);
	if (rc) {
		wrc = put_end(u, UPD_ROLLED_BACK, rc, e.msg, err);
		integrity_event(u, wrc, rc);
		return wrc;
	}
	r.state = UPD_INSTALLED;
	r.result = M2M_OK;
	r.message[0] = '\0';
	r.done = false;
	r.installed = true;
	memset(&r.proc, 0, sizeof(r.proc));
	return put(u, &r, err);
}

static int step_health(struct upd *u, struct m2m_err *err)
{
	struct m2m_err e = { 0 };
	int64_t since;
	int rc;

	if (!u->last.checking) {
		struct upd_record r;

		/* a reboot into the new version is pending: no bound runs yet */
		if (u->o.ops->ready && !u->o.ops->ready(u->o.ctx, &u->last)) {
			u->waiting = true;
			return M2M_OK;
		}
		/* the check begins: its bound runs from this record */
		r = next_rec(u, UPD_INSTALLED);
		r.checking = true;
		rc = put(u, &r, err);
		if (rc)
			return rc;
	}
	since = u->last.time * 1000 + u->last.ms;
	rc = u->o.ops->health(u->o.ctx, &u->last, &e);

	if (rc == M2M_OK)
		return put_end(u, UPD_COMMITTED, M2M_OK, NULL, err);
	if (rc == M2M_ERR_BUSY) {
		char msg[128];

		if (now_ms(u) - since < (int64_t)u->o.health_timeout_ms) {
			u->waiting = true;
			return M2M_OK;
		}
		snprintf(msg, sizeof(msg), "health: not proven healthy within %u s",
			 (u->o.health_timeout_ms + 999) / 1000);
		return put_end(u, UPD_ROLLED_BACK, M2M_ERR_TIMEOUT, msg, err);
	}
	return put_end(u, UPD_ROLLED_BACK, rc, e.msg, err);
}

/*
 * No room for the compacted copy (the disk is full of something else): the
 * final record appended as it is (the journal's last block often has room
 * for it), so that the update ends and no later run is stuck on its end; a
 * later end compacts the journal. If that fails too, the compaction's error.
 */
static int append_final(struct upd *u, const struct upd_record *r, struct m2m_err *err)
{
	char json[M2M_JOURNAL_RECORD_MAX + 1];
	struct m2m_err e = { 0 };

	if (upd_record_json(r, json, sizeof(json), &e) ||
	    m2m_journal_append(&u->j, json, strlen(json), &e))
		return err ? err->rc : M2M_ERR_STORAGE;
	m2m_err_clear(err);
	return M2M_OK;
}

/* The end state's action, then the journal compacted to the final record, done. */
static int step_finish(struct upd *u, struct m2m_err *err)
{
	struct upd_record r = u->last;
	int rc = M2M_OK;

	if (r.state == UPD_COMMITTED) {
		rc = u->o.ops->commit(u->o.ctx, &r, err);
		if (!rc && u->o.floor && r.name[0] && r.version[0])
			rc = u->o.floor->raise(u->o.floor_ctx, r.name, r.version, err);
	} else if (r.state == UPD_ROLLED_BACK) {
		rc = u->o.ops->rollback(u->o.ctx, &r, err);
	}
	if (rc)
		return rc;
	r.done = true;
	rc = compact(u, &r, err);
	if (rc == M2M_ERR_STORAGE)
		rc = append_final(u, &r, err);
	if (rc)
		return m2m_err_prefix(err, "%s/%s", u->st->path, UPD_JOURNAL_NAME);
	u->last = r;
	if (u->o.ops->journaled)
		u->o.ops->journaled(u->o.ctx, &u->last);
	return M2M_OK;
}

int upd_step(struct upd *u, struct m2m_err *err)
{
	u->waiting = false;
	switch (upd_next(u)) {
	case UPD_NEXT_NONE:
		return M2M_OK;
	case UPD_NEXT_FETCH:
		return step_fetch(u, err);
	case UPD_NEXT_VERIFY:
		return step_verify(u, err);
	case UPD_NEXT_INSTALL:
		return step_install(u, err);
	case UPD_NEXT_HEALTH:
		return step_health(u, err);
	case UPD_NEXT_FINISH:
		return step_finish(u, err);
	}
	return M2M_OK;
}

int upd_run(struct upd *u, struct m2m_err *err)
{
	bool acted = false;

	while (upd_next(u) != UPD_NEXT_NONE) {
		int rc;

		/* held: a verified package waits to be released (LwM2M: Execute Update) */
		if (u->o.hold && !u->released && u->last.state == UPD_VERIFIED)
			return M2M_OK;
		rc = upd_step(u, err);

		if (rc)
			return rc;
		acted = true;
		if (u->waiting)
			return M2M_OK;
	}
	if (!acted || u->last.result == M2M_OK)
		return M2M_OK;
	return m2m_err_set(err, u->last.result, "%s", u->last.message[0] ? u->last.message :
			   m2m_rc_describe(u->last.result));
}

int upd_release(struct upd *u, struct m2m_err *err)
{
	if (u->last.state != UPD_VERIFIED)
		return m2m_err_set(err, M2M_ERR_USAGE, "update: no downloaded package waits (state %s)",
				   upd_state_name(u->last.state));
	u->released = true;
	return upd_run(u, err);
}

int upd_decide(struct upd *u, bool good, struct m2m_err *err)
{
	int rc;

	if (upd_next(u) != UPD_NEXT_HEALTH)
		return m2m_err_set(err, M2M_ERR_USAGE,
				   "update: no installed update awaits a decision (state %s)",
				   upd_state_name(u->last.state));
	if (good)
		rc = put_end(u, UPD_COMMITTED, M2M_OK, NULL, err);
	else
		rc = put_end(u, UPD_ROLLED_BACK, M2M_ERR_FAILURE, "rollback: asked for by hand", err);
	return rc ? rc : step_finish(u, err);
}
