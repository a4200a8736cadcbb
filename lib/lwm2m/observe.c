/* SPDX-License-Identifier: MIT */
/* Observations and notifications that outlive the session: see observe.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <json-c/json.h>

#include "base/base.h"
#include "state/state.h"
#include "lwm2m/observe.h"

#define NOTE_MAX (64 * 1024)   /* a stored notification larger than this is not kept */
#define FILE_MAX (4 * 1024 * 1024)

#define logf_(s, ...) LW_LOG((s)->log, (s)->log_ctx, __VA_ARGS__)

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The next Observe value: from the wall clock (8 ms steps, so that a value
 * sent by the next run is fresher than one of this run, RFC 7641 3.4), but
 * always greater than the last one in the 24-bit serial order.
 */
static uint32_t next_seq(uint32_t last)
{
	uint32_t t = (uint32_t)(wall_ms() / 8) & 0xffffff, d = (t - last) & 0xffffff;

	return d == 0 || d >= (1u << 23) ? (last + 1) & 0xffffff : t;
}

static void hash_of(const uint8_t *p, size_t len, uint8_t out[8])
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a: change detection only */

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	memcpy(out, &h, 8);
}

/* The value an observation compares: a number for a single numeric resource. */
static bool numeric_of(const struct lw_records *rs, const struct lw_path *p, double *out)
{
	const struct lw_value *v;

	if (rs->n != 1 || rs->r[0].path.depth != p->depth)
		return false;
	v = &rs->r[0].v;
	switch (v->type) {
	case LW_INTEGER:
	case LW_TIME:
		*out = (double)v->i;
		return true;
	case LW_UNSIGNED:
		*out = (double)v->u;
		return true;
	case LW_FLOAT:
		*out = v->f;
		return true;
	default:
		return false;
	}
}

static struct lw_obs *by_path(struct lw_observers *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->o[i].path, path) == 0)
			return &s->o[i];
	return NULL;
}

static struct lw_obs *by_token(struct lw_observers *s, const uint8_t *tok, size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->o[i].toklen == len && memcmp(s->o[i].token, tok, len) == 0)
			return &s->o[i];
	return NULL;
}

static void notes_free(struct lw_obs *o)
{
	for (size_t i = 0; i < o->n_note; i++)
		free(o->note[i].p);
	o->n_note = 0;
}

static void note_drop(struct lw_obs *o, size_t i)
{
	free(o->note[i].p);
	memmove(&o->note[i], &o->note[i + 1], (o->n_note - i - 1) * sizeof(o->note[0]));
	o->n_note--;
}

/* Queue a notification (takes p); the same value as the last queued only moves its time. */
static void note_push(struct lw_observers *s, struct lw_obs *o, unsigned cf, uint8_t *p,
		      size_t len)
{
	struct lw_note *last = o->n_note ? &o->note[o->n_note - 1] : NULL;
	size_t i;

	if (last && !last->sent && last->cf == cf && last->len == len &&
	    (!len || memcmp(last->p, p, len) == 0)) {
		last->at = wall_ms();
		free(p);
		return;
	}
	if (o->n_note == LW_OBS_STORE) {
		/* full: the oldest one not on its way goes */
		for (i = 0; i < o->n_note && o->note[i].sent; i++)
			;
		note_drop(o, i < o->n_note ? i : 0);
		s->dropped++;
		logf_(s, LOG_WARNING, "%s: %d notifications stored, the oldest dropped", o->path,
		      LW_OBS_STORE);
	}
	o->note[o->n_note++] = (struct lw_note){ .at = wall_ms(), .cf = cf, .p = p, .len = len };
}

static void obs_remove(struct lw_observers *s, struct lw_obs *o)
{
	notes_free(o);
	*o = s->o[--s->n];
}

/* The server observes path again: it is no longer lost. */
static void lost_forget(struct lw_observers *s, const char *path)
{
	for (size_t i = s->n_lost; i-- > 0;)
		if (strcmp(s->lost[i].path, path) == 0)
			s->lost[i] = s->lost[--s->n_lost];
}

static void lost_add(struct lw_observers *s, const char *path, uint64_t at)
{
	lost_forget(s, path);
	if (s->n_lost == LW_MAX_OBS)
		memmove(&s->lost[0], &s->lost[1], --s->n_lost * sizeof(s->lost[0]));
	snprintf(s->lost[s->n_lost].path, sizeof(s->lost[0].path), "%s", path);
	s->lost[s->n_lost++].at = at;
}

bool lw_obs_take(struct lw_observers *s, const struct m2m_coap_msg *req, const struct lw_path *p,
		 const struct lw_records *rs, const uint8_t *payload, size_t len, uint32_t *seq)
{
	struct lw_obs *o = by_path(s, req->path);

	if (!o) {
		if (s->n == LW_MAX_OBS || strlen(req->path) >= sizeof(o->path))
			return false;
		o = &s->o[s->n++];
		memset(o, 0, sizeof(*o));
		snprintf(o->path, sizeof(o->path), "%s", req->path);
		logf_(s, LOG_INFO, "observation of %s", o->path);
	}
	/* a renewed observation: the server has the value now, and a new token */
	notes_free(o);
	o->earlier = false;
	lost_forget(s, o->path);
	o->p = *p;
	o->accept = req->accept;
	memcpy(o->token, req->token, req->toklen);
	o->toklen = req->toklen;
	o->seq = next_seq(o->seq);
	o->last_ms = m2m_now_ms();
	o->con_at = wall_ms();
	o->numeric = numeric_of(rs, p, &o->last_num);
	hash_of(payload, len, o->last_hash);
	*seq = o->seq;
	return true;
}

bool lw_obs_composite(struct lw_observers *s, const char *path, const struct lw_records *paths,
		      unsigned cf)
{
	struct lw_obs *o = by_path(s, path);

	if (!o)
		return false;
	if (paths->n > LW_OBS_COMPOSITE) {
		obs_remove(s, o);
		return false;
	}
	for (size_t i = 0; i < paths->n; i++)
		o->comp[i] = paths->r[i].path;
	o->n_comp = paths->n;
	o->accept = cf;
	return true;
}

/* A value to compare and notify: the observed path's, or the composite's paths' */
static int obs_read(struct lw_obs *o, struct lw_registry *reg, struct lw_records *rs,
		    struct lw_buf *out, unsigned *used)
{
	struct lw_records paths = { 0 };
	struct lw_path *bases = NULL;
	int rc = 0;

	if (!o->n_comp) {
		rc = lw_read(reg, &o->p, rs);
		return rc ? rc : lw_encode(rs, &o->p, o->accept, out, used);
	}
	for (size_t i = 0; i < o->n_comp && !rc; i++)
		if (!lw_records_add(&paths, &o->comp[i]))
			rc = LW_INTERNAL;
	if (!rc)
		rc = lw_read_composite(reg, &paths, rs, &bases);
	if (!rc)
		rc = lw_senml_encode_each(rs, bases, o->accept == LW_FMT_SENML_CBOR, out);
	*used = o->accept;
	free(bases);
	lw_records_free(&paths);
	return rc;
}

void lw_obs_cancel(struct lw_observers *s, const char *path, const uint8_t *token, size_t toklen)
{
	struct lw_obs *o = by_path(s, path);

	/* RFC 7641 3.6: the cancelling GET carries the observation's own token */
	if (o && o->toklen == toklen && memcmp(o->token, token, toklen) == 0) {
		logf_(s, LOG_INFO, "observation of %s cancelled", o->path);
		obs_remove(s, o);
	}
}

/* Whether a value read now must be notified (attributes as in TS Core 5.1.2). */
static bool due(const struct lw_obs *o, const struct lw_attrs *a, uint64_t age, unsigned pmax,
		const uint8_t h[8], bool numeric, double num)
{
	if (pmax && age >= pmax * 1000ull)
		return true;
	if (memcmp(h, o->last_hash, 8) == 0)
		return false;
	if (!numeric || !o->numeric || !(a->set & (LW_A_GT | LW_A_LT | LW_A_ST)))
		return true;
	if ((a->set & LW_A_GT) && ((o->last_num <= a->gt) != (num <= a->gt)))
		return true;
	if ((a->set & LW_A_LT) && ((o->last_num < a->lt) != (num < a->lt)))
		return true;
	return (a->set & LW_A_ST) && (num - o->last_num >= a->st || o->last_num - num >= a->st);
}

static size_t note_max(const struct lw_observers *s)
{
	return s->note_max ? s->note_max : 1024;
}

void lw_obs_tick(struct lw_observers *s, struct lw_registry *reg, unsigned dflt_pmin,
		 unsigned dflt_pmax, struct m2m_coap *c)
{
	int64_t now = (int64_t)m2m_now_ms();

	for (size_t i = 0; i < s->n; i++) {
		struct lw_obs *o = &s->o[i];
		struct lw_records rs = { 0 };
		struct lw_buf out = { 0 };
		struct lw_attrs a;
		unsigned used, pmin, pmax;
		uint64_t age = now > o->last_ms ? (uint64_t)(now - o->last_ms) : 0;
		uint8_t h[8];
		double num = 0;
		bool numeric;

		lw_attrs_get(reg, &o->p, &a);
		pmin = a.set & LW_A_PMIN ? a.pmin : dflt_pmin;
		pmax = a.set & LW_A_PMAX ? a.pmax : dflt_pmax;
		if (age < pmin * 1000ull)
			continue;
		if (obs_read(o, reg, &rs, &out, &used) || out.oom) {
			lw_records_free(&rs);
			lw_buf_free(&out);
			continue;
		}
		hash_of(out.p, out.len, h);
		numeric = numeric_of(&rs, &o->p, &num);
		lw_records_free(&rs);
		/*
		 * Offline and not to be stored (storing off, or too large to keep:
		 * its later blocks would be read from a newer value): left out,
		 * and compared with what the server has once it answers again.
		 */
		if (!due(o, &a, age, pmax, h, numeric, num) ||
		    (s->offline && (!s->storing || out.len > note_max(s)))) {
			lw_buf_free(&out);
			continue;
		}
		if (!out.p)
			out.p = malloc(1);
		if (!out.p)
			continue;
		o->last_ms = now;
		memcpy(o->last_hash, h, 8);
		o->last_num = num;
		o->numeric = numeric;
		note_push(s, o, used, out.p, out.len);
	}
	if (!s->offline)
		lw_obs_flush(s, c);
}

static void failed_now(struct lw_observers *s, const uint8_t *token, size_t toklen, bool reset);

void lw_obs_flush(struct lw_observers *s, struct m2m_coap *c)
{
	struct m2m_err err;

	/* libcoap may report a failure from inside a send: kept until the loop ends */
	s->in_flush = true;
	for (size_t i = 0; i < s->n && !s->offline; i++) {
		for (size_t k = 0; k < s->o[i].n_note && !s->offline; k++) {
			struct lw_obs *o = &s->o[i];
			struct lw_note *n = &o->note[k];
			uint32_t seq;
			bool con;

			if (n->sent)
				continue;
			seq = next_seq(o->seq);
			/* RFC 7641 4.5: a confirmable one at least every 24 hours */
			con = wall_ms() - o->con_at >= 24 * 3600 * 1000ull;
			if (mcoap_send_notify(c, o->path, con, o->token, o->toklen, seq, n->cf, n->p, n->len,
					      &err)) {
				logf_(s, LOG_WARNING, "notification of %s: %s", o->path, err.msg);
				s->offline = true;
				break;
			}
			o->seq = seq;
			if (!con) {
				note_drop(o, k--);
				continue;
			}
			o->con_at = wall_ms();
			n->sent = true;
		}
	}
	s->in_flush = false;
	for (size_t i = 0; i < s->n_deferred; i++)
		failed_now(s, s->deferred[i].token, s->deferred[i].toklen, s->deferred[i].reset);
	s->n_deferred = 0;
}

static void failed_now(struct lw_observers *s, const uint8_t *token, size_t toklen, bool reset)
{
	struct lw_obs *o = by_token(s, token, toklen);

	if (!o)
		return;
	if (reset && o->earlier) {
		/*
		 * One the server made in an earlier run: a server that cancels
		 * it on purpose and one that no longer knows it (a restart,
		 * or our address changed: RFC 7641 4.1 keys it by token and
		 * endpoint) look the same; either way what changed since did
		 * not reach it, which the status must show.
		 */
		logf_(s, LOG_WARNING, "observation of %s lost: the server reset a notification "
		      "of it (it observed it in an earlier run); what changed since did not "
		      "reach it, until it observes it again", o->path);
		lost_add(s, o->path, wall_ms());
		obs_remove(s, o);
		return;
	}
	if (reset) {
		logf_(s, LOG_INFO, "observation of %s cancelled by the server (reset)", o->path);
		obs_remove(s, o);
		return;
	}
	if (!s->offline)
		logf_(s, LOG_NOTICE, "notification of %s not acknowledged: the server is out of "
		      "reach; %s", o->path, s->storing ? "storing notifications" :
		      "notifications dropped (storing disabled)");
	s->offline = true;
	for (size_t i = 0; i < s->n; i++) {
		struct lw_obs *x = &s->o[i];
		bool requeued = false;

		for (size_t k = x->n_note; k-- > 0;) {
			if (!x->note[k].sent)
				continue;
			x->note[k].sent = false;
			requeued = true;
			/* not kept: storing off, or too large to keep (see lw_obs_tick) */
			if (!s->storing || x->note[k].len > note_max(s))
				note_drop(x, k);
		}
		/*
		 * What goes out again is older than what went out meanwhile as
		 * non-confirmable: the current value must follow it.
		 */
		if (requeued)
			memset(x->last_hash, 0, sizeof(x->last_hash));
	}
}

void lw_obs_failed(struct lw_observers *s, const uint8_t *token, size_t toklen, bool reset)
{
	if (s->in_flush) {
		s->offline = s->offline || !reset;
		if (s->n_deferred < sizeof(s->deferred) / sizeof(s->deferred[0]) &&
		    toklen <= sizeof(s->deferred[0].token)) {
			memcpy(s->deferred[s->n_deferred].token, token, toklen);
			s->deferred[s->n_deferred].toklen = toklen;
			s->deferred[s->n_deferred++].reset = reset;
		}
		return;
	}
	failed_now(s, token, toklen, reset);
}

void lw_obs_delivered(struct lw_observers *s)
{
	for (size_t i = 0; i < s->n; i++)
		for (size_t k = s->o[i].n_note; k-- > 0;)
			if (s->o[i].note[k].sent)
				note_drop(&s->o[i], k);
}

size_t lw_obs_unconfirmed(const struct lw_observers *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		for (size_t k = 0; k < s->o[i].n_note; k++)
			n += s->o[i].note[k].sent;
	return n;
}

void lw_obs_clear(struct lw_observers *s)
{
	while (s->n)
		obs_remove(s, &s->o[s->n - 1]);
	s->n_lost = 0;
}

void lw_obs_free(struct lw_observers *s)
{
	lw_obs_clear(s);
}

/* ---- across runs ---- */

/* "pmin=1&pmax=60&gt=3.5": the Write-Attributes query that sets a */
static void attrs_query(const struct lw_attrs *a, char *out, size_t len)
{
	size_t n = 0;

	out[0] = 0;
	if (a->set & LW_A_PMIN)
		n += (size_t)snprintf(out + n, len - n, "&pmin=%u", a->pmin);
	if ((a->set & LW_A_PMAX) && n < len)
		n += (size_t)snprintf(out + n, len - n, "&pmax=%u", a->pmax);
	if ((a->set & LW_A_GT) && n < len)
		n += (size_t)snprintf(out + n, len - n, "&gt=%.17g", a->gt);
	if ((a->set & LW_A_LT) && n < len)
		n += (size_t)snprintf(out + n, len - n, "&lt=%.17g", a->lt);
	if ((a->set & LW_A_ST) && n < len)
		snprintf(out + n, len - n, "&st=%.17g", a->st);
	if (out[0])
		memmove(out, out + 1, strlen(out));
}

int lw_obs_save(const struct lw_observers *s, const struct lw_obs_settings *set,
		const struct m2m_state *st, const char *name, const char *server,
		const char *endpoint, struct m2m_err *err)
{
	json_object *root = json_object_new_object(), *list = json_object_new_array();
	json_object *js = json_object_new_object(), *attrs = json_object_new_array();
	int64_t now = (int64_t)m2m_now_ms(), wall = (int64_t)wall_ms();
	const char *txt;
	int rc;

	if (!root || !list || !js || !attrs) {
		json_object_put(root);
		json_object_put(list);
		json_object_put(js);
		json_object_put(attrs);
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	}
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, "server", json_object_new_string(server));
	json_object_object_add(root, "endpoint", json_object_new_string(endpoint));
	json_object_object_add(js, "pmin", json_object_new_int64(set->dflt_pmin));
	json_object_object_add(js, "pmax", json_object_new_int64(set->dflt_pmax));
	json_object_object_add(js, "storing", json_object_new_boolean(set->storing));
	json_object_object_add(js, "mute_send", json_object_new_boolean(set->mute_send));
	if (set->lifetime_s) {
		json_object_object_add(js, "lifetime", json_object_new_int64(set->lifetime_s));
		json_object_object_add(js, "binding", json_object_new_int64(set->binding));
		json_object_object_add(js, "base_lifetime",
				       json_object_new_int64(set->base_lifetime_s));
		json_object_object_add(js, "base_binding", json_object_new_int64(set->base_binding));
	}
	for (size_t i = 0; i < set->n_attrs; i++) {
		json_object *a = json_object_new_object();
		char p[40], q[160];

		lw_path_format(&set->attrs[i].path, p, sizeof(p));
		attrs_query(&set->attrs[i], q, sizeof(q));
		json_object_object_add(a, "path", json_object_new_string(p));
		json_object_object_add(a, "query", json_object_new_string(q));
		json_object_array_add(attrs, a);
	}
	json_object_object_add(js, "attributes", attrs);
	json_object_object_add(root, "settings", js);
	for (size_t i = 0; i < s->n; i++) {
		const struct lw_obs *o = &s->o[i];
		json_object *j = json_object_new_object(), *notes = json_object_new_array();
		char tok[17], h[17];
		bool left_out = false;

		for (size_t k = 0; k < o->n_note; k++) {
			json_object *n;
			struct lw_buf b = { 0 };

			/* too large to keep (a confirmable one still unanswered) */
			if (o->note[k].len > note_max(s)) {
				left_out = true;
				continue;
			}
			n = json_object_new_object();
			lw_b64_encode(o->note[k].p, o->note[k].len, &b);
			json_object_object_add(n, "at", json_object_new_int64((int64_t)o->note[k].at));
			json_object_object_add(n, "cf", json_object_new_int((int)o->note[k].cf));
			json_object_object_add(n, "data", json_object_new_string_len(
				b.p ? (const char *)b.p : "", (int)b.len));
			lw_buf_free(&b);
			json_object_array_add(notes, n);
		}
		m2m_hex(o->token, o->toklen, tok, sizeof(tok));
		/* a left-out value: the next run sends the current one */
		if (left_out)
			memset(h, '0', 16), h[16] = 0;
		else
			m2m_hex(o->last_hash, 8, h, sizeof(h));
		json_object_object_add(j, "path", json_object_new_string(o->path));
		json_object_object_add(j, "token", json_object_new_string(tok));
		json_object_object_add(j, "accept", json_object_new_int((int)o->accept));
		if (o->n_comp) {
			json_object *cj = json_object_new_array();

			for (size_t k = 0; k < o->n_comp; k++) {
				char cp[40];

				lw_path_format(&o->comp[k], cp, sizeof(cp));
				json_object_array_add(cj, json_object_new_string(cp));
			}
			json_object_object_add(j, "composite", cj);
		}
		json_object_object_add(j, "seq", json_object_new_int64(o->seq));
		/* when the value was taken, on the wall clock: it outlives a reboot */
		json_object_object_add(j, "taken", json_object_new_int64(wall - (now - o->last_ms)));
		json_object_object_add(j, "hash", json_object_new_string(h));
		json_object_object_add(j, "con_at", json_object_new_int64((int64_t)o->con_at));
		json_object_object_add(j, "numeric", json_object_new_boolean(o->numeric));
		json_object_object_add(j, "num", json_object_new_double(o->last_num));
		json_object_object_add(j, "notes", notes);
		json_object_array_add(list, j);
	}
	json_object_object_add(root, "observations", list);
	if (s->n_lost) {
		json_object *lost = json_object_new_array();

		for (size_t i = 0; lost && i < s->n_lost; i++) {
			json_object *l = json_object_new_object();

			json_object_object_add(l, "path", json_object_new_string(s->lost[i].path));
			json_object_object_add(l, "at", json_object_new_int64((int64_t)s->lost[i].at));
			json_object_array_add(lost, l);
		}
		json_object_object_add(root, "lost", lost);
	}
	txt = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
					     JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = txt ? m2m_state_write(st, name, txt, strlen(txt), err) :
		   m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	json_object_put(root);
	return rc;
}

static bool get_str(json_object *o, const char *key, const char **out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return false;
	*out = json_object_get_string(v);
	return true;
}

static bool get_int(json_object *o, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return *out >= lo && *out <= hi;
}

/* One saved observation; false (and nothing kept) if any part of it is wrong. */
static bool load_one(struct lw_observers *s, json_object *j, int64_t now, int64_t wall)
{
	struct lw_obs o = { 0 };
	const char *path, *tok, *h;
	json_object *v, *notes;
	int64_t accept, seq, taken;
	size_t n;

	if (!get_str(j, "path", &path) || strlen(path) >= sizeof(o.path) ||
	    !lw_path_parse(path, strlen(path), &o.p) || !get_str(j, "token", &tok) ||
	    !m2m_unhex(tok, o.token, sizeof(o.token), &o.toklen) ||
	    !get_int(j, "accept", 0, LW_FMT_NONE, &accept) || !get_int(j, "seq", 0, 0xffffff, &seq) ||
	    !get_int(j, "taken", INT64_MIN / 4, INT64_MAX / 4, &taken) || !get_str(j, "hash", &h) ||
	    !m2m_unhex(h, o.last_hash, 8, &n) || n != 8 || by_path(s, path))
		return false;
	snprintf(o.path, sizeof(o.path), "%s", path);
	o.earlier = true;
	/* files of 0.1.0 wrote "no Accept" as 65535, a format nobody observes */
	o.accept = accept == 0xffff ? LW_FMT_NONE : (unsigned)accept;
	o.seq = (uint32_t)seq;
	/* on this boot's monotonic clock: before it began, if the value is that old */
	o.last_ms = now - (wall > taken ? wall - taken : 0);
	if (get_int(j, "con_at", 0, INT64_MAX, &seq))
		o.con_at = (uint64_t)seq;
	if (json_object_object_get_ex(j, "numeric", &v))
		o.numeric = json_object_get_boolean(v);
	/* an Observe-Composite: its paths, all of them valid, and a SenML format */
	if (json_object_object_get_ex(j, "composite", &v)) {
		if (!json_object_is_type(v, json_type_array) || !json_object_array_length(v) ||
		    json_object_array_length(v) > LW_OBS_COMPOSITE ||
		    (o.accept != LW_FMT_SENML_JSON && o.accept != LW_FMT_SENML_CBOR))
			return false;
		for (size_t k = 0; k < json_object_array_length(v); k++) {
			json_object *cj = json_object_array_get_idx(v, k);
			const char *cp = json_object_get_string(cj);

			if (!json_object_is_type(cj, json_type_string) ||
			    !lw_path_parse(cp, strlen(cp), &o.comp[k]) || !o.comp[k].depth)
				return false;
		}
		o.n_comp = json_object_array_length(v);
	}
	if (json_object_object_get_ex(j, "num", &v))
		o.last_num = json_object_get_double(v);
	if (json_object_object_get_ex(j, "notes", &notes) &&
	    json_object_is_type(notes, json_type_array)) {
		for (size_t k = 0; k < json_object_array_length(notes) && o.n_note < LW_OBS_STORE;
		     k++) {
			json_object *nj = json_object_array_get_idx(notes, k);
			struct lw_buf b = { 0 };
			const char *data;
			int64_t at, cf;

			if (!get_int(nj, "at", 0, INT64_MAX, &at) ||
			    !get_int(nj, "cf", 0, 0xffff, &cf) || !get_str(nj, "data", &data) ||
			    strlen(data) > NOTE_MAX * 4 / 3 + 4 ||
			    lw_b64_decode(data, strlen(data), &b) || b.oom) {
				lw_buf_free(&b);
				notes_free(&o);
				return false;
			}
			if (!b.p)
				b.p = malloc(1);
			if (!b.p) {
				notes_free(&o);
				return false;
			}
			o.note[o.n_note++] = (struct lw_note){ .at = (uint64_t)at, .cf = (unsigned)cf,
							       .p = b.p, .len = b.len };
		}
	}
	s->o[s->n++] = o;
	return true;
}

/* The saved settings; each attribute is checked by the same parser as a server's. */
static void load_settings(struct lw_obs_settings *set, json_object *js)
{
	struct lw_registry reg = { 0 };
	json_object *v, *list;
	int64_t x;

	if (!json_object_is_type(js, json_type_object))
		return;
	set->present = true;
	if (get_int(js, "pmin", 0, 86400, &x))
		set->dflt_pmin = (unsigned)x;
	if (get_int(js, "pmax", 0, 86400, &x))
		set->dflt_pmax = (unsigned)x;
	if (json_object_object_get_ex(js, "storing", &v) &&
	    json_object_is_type(v, json_type_boolean))
		set->storing = json_object_get_boolean(v);
	if (json_object_object_get_ex(js, "mute_send", &v) &&
	    json_object_is_type(v, json_type_boolean))
		set->mute_send = json_object_get_boolean(v);
	{
		int64_t lt, b, blt, bb;

		/* all four or none: a half-written set is not applied */
		if (get_int(js, "lifetime", 1, 0x7fffffff, &lt) && get_int(js, "binding", 0, 1, &b) &&
		    get_int(js, "base_lifetime", 1, 0x7fffffff, &blt) &&
		    get_int(js, "base_binding", 0, 1, &bb)) {
			set->lifetime_s = (unsigned)lt;
			set->binding = (unsigned)b;
			set->base_lifetime_s = (unsigned)blt;
			set->base_binding = (unsigned)bb;
		}
	}
	if (!json_object_object_get_ex(js, "attributes", &list) ||
	    !json_object_is_type(list, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *a = json_object_array_get_idx(list, i);
		const char *ps, *q;
		struct lw_path p;

		if (!get_str(a, "path", &ps) || !get_str(a, "query", &q) ||
		    !lw_path_parse(ps, strlen(ps), &p))
			continue;
		lw_attrs_store(&reg, &p, q, strlen(q));
	}
	memcpy(set->attrs, reg.attrs, sizeof(reg.attrs));
	set->n_attrs = reg.n_attrs;
}

/* A saved file's observations and settings, if it was saved for this server and endpoint. */
static void parse_root(struct lw_observers *s, struct lw_obs_settings *set, json_object *root,
		       const char *server, const char *endpoint)
{
	json_object *list, *js;
	const char *v;
	int64_t ver;

	if (!root || !get_int(root, "version", 1, 1, &ver) || !get_str(root, "server", &v) ||
	    strcmp(v, server) || !get_str(root, "endpoint", &v) || strcmp(v, endpoint) ||
	    !json_object_object_get_ex(root, "observations", &list) ||
	    !json_object_is_type(list, json_type_array))
		return;
	if (set && json_object_object_get_ex(root, "settings", &js))
		load_settings(set, js);
	for (size_t i = 0; i < json_object_array_length(list) && s->n < LW_MAX_OBS; i++)
		if (!load_one(s, json_object_array_get_idx(list, i), (int64_t)m2m_now_ms(),
			      (int64_t)wall_ms()))
			logf_(s, LOG_WARNING, "saved observation %zu unusable, dropped", i);
	if (!json_object_object_get_ex(root, "lost", &list) ||
	    !json_object_is_type(list, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *l = json_object_array_get_idx(list, i);
		const char *p;
		struct lw_path lp;
		int64_t at;

		if (get_str(l, "path", &p) && strlen(p) < sizeof(s->lost[0].path) &&
		    lw_path_parse(p, strlen(p), &lp) && get_int(l, "at", 0, INT64_MAX, &at) &&
		    !by_path(s, p))
			lost_add(s, p, (uint64_t)at);
	}
}

void lw_obs_parse(struct lw_observers *s, struct lw_obs_settings *set, const char *text,
		  size_t len, const char *server, const char *endpoint)
{
	json_tokener *tk = json_tokener_new();
	json_object *root = NULL;

	if (tk && len <= FILE_MAX)
		root = json_tokener_parse_ex(tk, text, (int)len);
	json_tokener_free(tk);
	parse_root(s, set, root, server, endpoint);
	json_object_put(root);
}

/*
 * What lw_obs_save writes, whichever server it was for: a JSON object with a
 * version, a server, an endpoint and a list of observations. The root is kept
 * (ctx) so the text is parsed once.
 */
static int check_file(const char *buf, size_t len, void *ctx, struct m2m_err *err)
{
	json_object **out = ctx, *root = NULL, *v;
	json_tokener *tk = json_tokener_new();

	if (tk && len <= FILE_MAX)
		root = json_tokener_parse_ex(tk, buf, (int)len);
	json_tokener_free(tk);
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "version", &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    !json_object_object_get_ex(root, "server", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    !json_object_object_get_ex(root, "endpoint", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    !json_object_object_get_ex(root, "observations", &v) ||
	    !json_object_is_type(v, json_type_array)) {
		json_object_put(root);
		return m2m_err_set(err, M2M_ERR_FAILURE, "not a list of observations");
	}
	*out = root;
	return M2M_OK;
}

void lw_obs_load(struct lw_observers *s, struct lw_obs_settings *set, const struct m2m_state *st,
		 const char *name, const char *server, const char *endpoint)
{
	struct m2m_err err;
	json_object *root = NULL;
	char *buf = NULL;
	int rc;

	rc = m2m_state_read(st, name, FILE_MAX, check_file, &root, &buf, NULL, &err);
	free(buf);
	if (rc == M2M_ERR_NOT_FOUND)
		return;
	if (rc) {
		/* set aside: the observations start over, the server sets them up again */
		logf_(s, LOG_WARNING, "%s; the observations start over", err.msg);
		return;
	}
	parse_root(s, set, root, server, endpoint);
	json_object_put(root);
}
