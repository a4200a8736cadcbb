/* SPDX-License-Identifier: MIT */
/*
 * The journaled state machine of one update (journal.h): the record's JSON,
 * recovery from the last whole record, and the driver that writes each step
 * before acting on it and compacts the journal when the update ends.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "base/base.h"
#include "update/journal.h"

/* ------------------------------------------------------------------------ */
/* names */

static const char *const state_names[] = {
	[UPD_IDLE] = "idle",
	[UPD_DOWNLOADING] = "downloading",
	[UPD_DOWNLOADED] = "downloaded",
	[UPD_VERIFIED] = "verified",
	[UPD_INSTALLING] = "installing",
	[UPD_INSTALLED] = "installed",
	[UPD_COMMITTED] = "committed",
	[UPD_ROLLED_BACK] = "rolled-back",
	[UPD_FAILED] = "failed",
};
#define N_STATES (sizeof(state_names) / sizeof(state_names[0]))

static const char *const next_names[] = {
	[UPD_NEXT_NONE] = "none",
	[UPD_NEXT_FETCH] = "fetch",
	[UPD_NEXT_VERIFY] = "verify",
	[UPD_NEXT_INSTALL] = "install",
	[UPD_NEXT_HEALTH] = "health",
	[UPD_NEXT_FINISH] = "finish",
};

/* the package types as the manifest writes them; update.h's upd_type_name is the manifest's */
static const char *const type_names[] = {
	[UPD_FIRMWARE] = "firmware",
	[UPD_SOFTWARE] = "software",
	[UPD_CONFIG] = "config",
};

const char *upd_state_name(enum upd_state s)
{
	return (unsigned)s < N_STATES ? state_names[s] : "unknown";
}

bool upd_state_parse(const char *s, enum upd_state *out)
{
	for (size_t i = 0; i < N_STATES; i++) {
		if (strcmp(s, state_names[i]) == 0) {
			*out = (enum upd_state)i;
			return true;
		}
	}
	return false;
}

bool upd_state_is_end(enum upd_state s)
{
	return s == UPD_COMMITTED || s == UPD_ROLLED_BACK || s == UPD_FAILED;
}

const char *upd_next_name(enum upd_next n)
{
	return (unsigned)n < sizeof(next_names) / sizeof(next_names[0]) ? next_names[n] : "unknown";
}

enum upd_next upd_next_of(const struct upd_record *last)
{
	switch (last->state) {
	case UPD_IDLE:
		return UPD_NEXT_NONE;
	case UPD_DOWNLOADING:
		return UPD_NEXT_FETCH;
	case UPD_DOWNLOADED:
		return UPD_NEXT_VERIFY;
	case UPD_VERIFIED:
	case UPD_INSTALLING:
		return UPD_NEXT_INSTALL;
	case UPD_INSTALLED:
		return UPD_NEXT_HEALTH;
	case UPD_COMMITTED:
	case UPD_ROLLED_BACK:
	case UPD_FAILED:
		return last->done ? UPD_NEXT_NONE : UPD_NEXT_FINISH;
	}
	return UPD_NEXT_NONE;
}

/* ------------------------------------------------------------------------ */
/* the record as JSON */

static void add_str(json_object *o, const char *key, const char *v)
{
	if (v && *v)
		json_object_object_add(o, key, json_object_new_string(v));
}

int upd_record_json(const struct upd_record *r, char *buf, size_t len, struct m2m_err *err)
{
	json_object *o = json_object_new_object();
	const char *s;
	size_t n;

	if (!o)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	json_object_object_add(o, "state", json_object_new_string(upd_state_name(r->state)));
	add_str(o, "name", r->name);
	add_str(o, "version", r->version);
	if ((unsigned)r->type < sizeof(type_names) / sizeof(type_names[0]))
		add_str(o, "type", type_names[r->type]);
	add_str(o, "source", r->source);
	if (r->offset)
		json_object_object_add(o, "offset", json_object_new_int64((int64_t)r->offset));
	add_str(o, "etag", r->etag);
	add_str(o, "sha256", r->sha256);
	add_str(o, "slot", r->slot);
	json_object_object_add(o, "result", json_object_new_int(r->result));
	add_str(o, "message", r->message);
	json_object_object_add(o, "time", json_object_new_int64(r->time));
	if (r->ms)
		json_object_object_add(o, "ms", json_object_new_int((int)r->ms));
	if (r->done)
		json_object_object_add(o, "done", json_object_new_boolean(1));
	if (r->checking)
		json_object_object_add(o, "checking", json_object_new_boolean(1));
	if (r->installed)
		json_object_object_add(o, "installed", json_object_new_boolean(1));
	if (r->proc.pgid > 0) {
		json_object *p = json_object_new_object();

		if (!p) {
			json_object_put(o);
			return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
		}
		json_object_object_add(p, "pgid", json_object_new_int(r->proc.pgid));
		json_object_object_add(p, "start", json_object_new_int64((int64_t)r->proc.start));
		add_str(p, "boot", r->proc.boot);
		json_object_object_add(p, "limit", json_object_new_int64(r->proc.limit_ms));
		add_str(p, "service", r->proc.service);
		json_object_object_add(o, "proc", p);
	}
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	n = s ? strlen(s) : 0;
	if (!s || n >= len || n > M2M_JOURNAL_RECORD_MAX) {
		json_object_put(o);
		return m2m_err_set(err, M2M_ERR_FAILURE, "update journal: a record of %zu bytes is too long",
				   n);
	}
	memcpy(buf, s, n + 1);
	json_object_put(o);
	return M2M_OK;
}

static int get_str(json_object *o, const char *key, char *dst, size_t len, struct m2m_err *err)
{
	json_object *v;
	size_t n;

	dst[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v))
		return M2M_OK;
	if (!json_object_is_type(v, json_type_string))
		return m2m_err_set(err, M2M_ERR_FAILURE, "update record: %s is not a string", key);
	n = (size_t)json_object_get_string_len(v);
	if (n >= len || memchr(json_object_get_string(v), '\0', n))
		return m2m_err_set(err, M2M_ERR_FAILURE, "update record: %s is too long", key);
	memcpy(dst, json_object_get_string(v), n + 1);
	return M2M_OK;
}

static int get_int(json_object *o, const char *key, int64_t min, int64_t max, int64_t *out,
		   struct m2m_err *err)
{
	json_object *v;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v))
		return M2M_OK;
	if (!json_object_is_type(v, json_type_int))
		return m2m_err_set(err, M2M_ERR_FAILURE, "update record: %s is not an integer", key);
	*out = json_object_get_int64(v);
	if (*out < min || *out > max)
		return m2m_err_set(err, M2M_ERR_FAILURE, "update record: %s is out of range", key);
	return M2M_OK;
}

/* "proc": the installer's process group; one that is not whole is damage */
static int get_proc(json_object *v, struct upd_proc *p, struct m2m_err *err)
{
	int64_t n;
	int rc;

	if (!json_object_is_type(v, json_type_object))
		return m2m_err_set(err, M2M_ERR_FAILURE, "update record: proc is not an object");
	rc = get_int(v, "pgid", 2, INT32_MAX, &n, err);
	p->pgid = (int)n;
	if (!rc && !(rc = get_int(v, "start", 0, INT64_MAX, &n, err)))
		p->start = (uint64_t)n;
	if (!rc)
		rc = get_str(v, "boot", p->boot, sizeof(p->boot), err);
	if (!rc && !(rc = get_int(v, "limit", 0, UINT32_MAX, &n, err)))
		p->limit_ms = (unsigned)n;
	if (!rc)
		rc = get_str(v, "service", p->service, sizeof(p->service), err);
	if (!rc && !p->pgid)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "update record: proc without its pgid");
	return rc;
}

/*
 * Keys this version does not know are ignored: a journal written by a newer
 * version must still be read by this one after the newer one was rolled back.
 */
int upd_record_parse(const char *json, size_t len, struct upd_record *r, struct m2m_err *err)
{
	json_tokener *tk;
	json_object *o = NULL, *v;
	char state[32], type[16];
	int64_t n;
	int rc;

	memset(r, 0, sizeof(*r));
	if (len > M2M_JOURNAL_RECORD_MAX)
		return m2m_err_set(err, M2M_ERR_FAILURE, "update record: too long");
	tk = json_tokener_new();
	if (!tk)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	json_tokener_set_flags(tk, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tk, json, (int)len);
	if (o && json_tokener_get_parse_end(tk) != len) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tk);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return m2m_err_set(err, M2M_ERR_FAILURE, "update record: not a JSON object");
	}
	rc = get_str(o, "state", state, sizeof(state), err);
	if (!rc && !json_object_object_get_ex(o, "state", &v))
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "update record: no state");
	if (!rc && !upd_state_parse(state, &r->state))
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "update record: unknown state '%.31s'", state);
	if (!rc)
		rc = get_str(o, "name", r->name, sizeof(r->name), err);
	if (!rc)
		rc = get_str(o, "version", r->version, sizeof(r->version), err);
	if (!rc)
		rc = get_str(o, "type", type, sizeof(type), err);
	for (size_t i = 1; !rc && type[0] && i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcmp(type, type_names[i]) == 0)
			r->type = (enum upd_type)i;
	if (!rc && type[0] && !r->type)
		rc = m2m_err_set(err, M2M_ERR_FAILURE, "update record: unknown type '%s'", type);
	if (!rc)
		rc = get_str(o, "source", r->source, sizeof(r->source), err);
	if (!rc && !(rc = get_int(o, "offset", 0, INT64_MAX, &n, err)))
		r->offset = (uint64_t)n;
	if (!rc)
		rc = get_str(o, "etag", r->etag, sizeof(r->etag), err);
	if (!rc)
		rc = get_str(o, "sha256", r->sha256, sizeof(r->sha256), err);
	if (!rc)
		rc = get_str(o, "slot", r->slot, sizeof(r->slot), err);
	if (!rc && !(rc = get_int(o, "result", 0, M2M_RC_COUNT_ - 1, &n, err)))
		r->result = (int)n;
	if (!rc)
		rc = get_str(o, "message", r->message, sizeof(r->message), err);
	if (!rc && !(rc = get_int(o, "time", INT64_MIN, INT64_MAX, &n, err)))
		r->time = n;
	if (!rc && json_object_object_get_ex(o, "ms", NULL) &&
	    !(rc = get_int(o, "ms", 0, 999, &n, err)))
		r->ms = (unsigned)n;
	if (!rc && json_object_object_get_ex(o, "done", &v)) {
		if (json_object_is_type(v, json_type_boolean))
			r->done = json_object_get_boolean(v);
		else
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "update record: done is not a boolean");
	}
	if (!rc && json_object_object_get_ex(o, "checking", &v)) {
		if (json_object_is_type(v, json_type_boolean))
			r->checking = json_object_get_boolean(v);
		else
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "update record: checking is not a boolean");
	}
	if (!rc && json_object_object_get_ex(o, "installed", &v)) {
		if (json_object_is_type(v, json_type_boolean))
			r->installed = json_object_get_boolean(v);
		else
			rc = m2m_err_set(err, M2M_ERR_FAILURE, "update record: installed is not a boolean");
	}
	if (!rc && json_object_object_get_ex(o, "proc", &v))
		rc = get_proc(v, &r->proc, err);
	json_object_put(o);
	return rc;
}

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

	if (op->name[0] && !r.name[0]) {
		memcpy(r.name, op->name, sizeof(r.name));
		memcpy(r.version, op->version, sizeof(r.version));
		r.type = op->type;
	}
	r.result = result;
	snprintf(r.message, sizeof(r.message), "%s", msg ? msg : "");
	return put(u, &r, err);
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
	if (rc)
		return put_failed(u, &r, rc, e.msg, err);
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
	int rc;

	if (u->last.state == UPD_VERIFIED) {
		r = next_rec(u, UPD_INSTALLING);
		if (u->o.ops->prepare) {
			rc = u->o.ops->prepare(u->o.ctx, &r, &e);
			if (rc)
				return put_end(u, UPD_FAILED, rc, e.msg, err);
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
	if (rc)
		return put_end(u, UPD_ROLLED_BACK, rc, e.msg, err);
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
