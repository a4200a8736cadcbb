/* SPDX-License-Identifier: MIT */
/*
 * One record of an update's journal (journal.h): the names of its states and
 * next steps, and the record as one line of JSON, written and read back
 * strictly (an unknown state, a field out of range or of the wrong type is a
 * damaged journal, not a guess).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/base.h"
#include "base/json.h"
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
	json_object *o = NULL, *v;
	char state[32], type[16];
	int64_t n;
	int rc;

	memset(r, 0, sizeof(*r));
	if (len > M2M_JOURNAL_RECORD_MAX)
		return m2m_err_set(err, M2M_ERR_FAILURE, "update record: too long");
	o = m2m_json_object(json, len, 0);
	if (!o)
		return m2m_err_set(err, M2M_ERR_FAILURE, "update record: not a JSON object");
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
