/* SPDX-License-Identifier: MIT */
/*
 * Observations across runs (observe.h): what lw_obs_save() writes to the
 * state directory and lw_obs_load() and lw_obs_parse() take back, checked
 * field by field; observe.c keeps them in memory while a run lasts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <json-c/json.h>

#include "base/base.h"
#include "state/state.h"
#include "lwm2m/observe.h"

#define FILE_MAX (4 * 1024 * 1024)

#define logf_(s, ...) LW_LOG((s)->log, (s)->log_ctx, __VA_ARGS__)

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
	int64_t now = (int64_t)m2m_now_ms(), wall = (int64_t)lw_obs_wall_ms();
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
			if (o->note[k].len > lw_obs_note_max(s)) {
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
	    !m2m_unhex(h, o.last_hash, 8, &n) || n != 8 || lw_obs_by_path(s, path))
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
				lw_obs_notes_free(&o);
				return false;
			}
			if (!b.p)
				b.p = malloc(1);
			if (!b.p) {
				lw_obs_notes_free(&o);
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
			      (int64_t)lw_obs_wall_ms()))
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
		    !lw_obs_by_path(s, p))
			lw_obs_lost_add(s, p, (uint64_t)at);
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
