/* SPDX-License-Identifier: MIT */
/* Observations and notifications that outlive the session: see observe.h; observe_store.c keeps them across runs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "base/base.h"
#include "lwm2m/observe.h"

#define logf_(s, ...) LW_LOG((s)->log, (s)->log_ctx, __VA_ARGS__)

uint64_t lw_obs_wall_ms(void)
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
	uint32_t t = (uint32_t)(lw_obs_wall_ms() / 8) & 0xffffff, d = (t - last) & 0xffffff;

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

struct lw_obs *lw_obs_by_path(struct lw_observers *s, const char *path)
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

void lw_obs_notes_free(struct lw_obs *o)
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
		last->at = lw_obs_wall_ms();
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
	o->note[o->n_note++] = (struct lw_note){ .at = lw_obs_wall_ms(), .cf = cf, .p = p, .len = len };
}

static void obs_remove(struct lw_observers *s, struct lw_obs *o)
{
	lw_obs_notes_free(o);
	*o = s->o[--s->n];
}

/* The server observes path again: it is no longer lost. */
static void lost_forget(struct lw_observers *s, const char *path)
{
	for (size_t i = s->n_lost; i-- > 0;)
		if (strcmp(s->lost[i].path, path) == 0)
			s->lost[i] = s->lost[--s->n_lost];
}

void lw_obs_lost_add(struct lw_observers *s, const char *path, uint64_t at)
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
	struct lw_obs *o = lw_obs_by_path(s, req->path);

	if (!o) {
		if (s->n == LW_MAX_OBS || strlen(req->path) >= sizeof(o->path))
			return false;
		o = &s->o[s->n++];
		memset(o, 0, sizeof(*o));
		snprintf(o->path, sizeof(o->path), "%s", req->path);
		logf_(s, LOG_INFO, "observation of %s", o->path);
	}
	/* a renewed observation: the server has the value now, and a new token */
	lw_obs_notes_free(o);
	o->earlier = false;
	lost_forget(s, o->path);
	o->p = *p;
	o->accept = req->accept;
	memcpy(o->token, req->token, req->toklen);
	o->toklen = req->toklen;
	o->seq = next_seq(o->seq);
	o->last_ms = m2m_now_ms();
	o->con_at = lw_obs_wall_ms();
	o->numeric = numeric_of(rs, p, &o->last_num);
	hash_of(payload, len, o->last_hash);
	*seq = o->seq;
	return true;
}

bool lw_obs_composite(struct lw_observers *s, const char *path, const struct lw_records *paths,
		      unsigned cf)
{
	struct lw_obs *o = lw_obs_by_path(s, path);

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
	struct lw_obs *o = lw_obs_by_path(s, path);

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

size_t lw_obs_note_max(const struct lw_observers *s)
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
		    (s->offline && (!s->storing || out.len > lw_obs_note_max(s)))) {
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

uint64_t lw_obs_next_ms(const struct lw_observers *s, const struct lw_registry *reg,
			unsigned dflt_pmin, unsigned dflt_pmax)
{
	int64_t now = (int64_t)m2m_now_ms();
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < s->n; i++) {
		const struct lw_obs *o = &s->o[i];
		uint64_t age = now > o->last_ms ? (uint64_t)(now - o->last_ms) : 0, due;
		uint64_t pmin, pmax;
		struct lw_attrs a;

		lw_attrs_get(reg, &o->p, &a);
		pmin = (a.set & LW_A_PMIN ? a.pmin : dflt_pmin) * 1000ull;
		pmax = (a.set & LW_A_PMAX ? a.pmax : dflt_pmax) * 1000ull;
		if (age < pmin)
			due = pmin - age;
		else
			due = LW_OBS_SAMPLE_MS;
		/*
		 * pmax when it comes; one passed already was looked at by the tick
		 * just taken, and what could not be sent then (pmin not over,
		 * offline and not stored, a value that does not read) waits for the
		 * next sample, not for a busy loop. A pmax not above pmin counts for
		 * nothing (TS 1.1 Core 5.1.2: pmax greater than pmin).
		 */
		if (pmax > pmin && age < pmax && pmax - age < due)
			due = pmax - age;
		if (due < next)
			next = due;
	}
	return next;
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
			con = lw_obs_wall_ms() - o->con_at >= 24 * 3600 * 1000ull;
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
			o->con_at = lw_obs_wall_ms();
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
		lw_obs_lost_add(s, o->path, lw_obs_wall_ms());
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
			if (!s->storing || x->note[k].len > lw_obs_note_max(s))
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
