/* SPDX-License-Identifier: MIT */
/*
 * What the last policy check found, kept in the state directory as one JSON
 * file replaced atomically: whether a quarantine is in force and why, each
 * policy's last look, the SIM the device is bound to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "base/base.h"
#include "base/json.h"
#include "m2m/config.h"
#include "m2m/policy.h"
#include "policy/policy.h"
#include "policy/policy_int.h"
#include "state/state.h"

#define STATE_MAX (16 * 1024)
#define BINDING_NAME "policy-sim-binding"

const char *pol_state_dir(const struct m2m_config *cfg)
{
	return cfg->state_dir ? cfg->state_dir : M2M_STATE_DEFAULT_DIR;
}

static int check_iccid(const char *buf, size_t len, void *ctx, struct m2m_err *err)
{
	if (len < 18 || len > 22 || strspn(buf, "0123456789Ff") != len)
		return m2m_err_set(err, M2M_ERR_FAILURE, "not an ICCID");
	return M2M_OK;
}

void pol_binding_load(const struct m2m_state *s, char *iccid, size_t len)
{
	char *buf = NULL;
	size_t n;

	iccid[0] = '\0';
	if (m2m_state_read(s, BINDING_NAME, 64, check_iccid, NULL, &buf, &n, NULL) == M2M_OK &&
	    n < len)
		memcpy(iccid, buf, n + 1);
	free(buf);
}

int pol_binding_save(const struct m2m_state *s, const char *iccid, struct m2m_err *err)
{
	int rc = m2m_state_write(s, BINDING_NAME, iccid, strlen(iccid), err);

	if (rc)
		m2m_err_prefix(err, "the SIM binding");
	return rc;
}

static const char *const verdicts[] = { "off", "holds", "broken", "unknown" };
static const char *const action_names[] = { "log", "quarantine" };

const char *m2m_policy_verdict_name(enum m2m_policy_verdict v)
{
	return (unsigned)v < 4 ? verdicts[v] : "?";
}

const char *m2m_policy_action_name(enum m2m_policy_action a)
{
	return (unsigned)a < 2 ? action_names[a] : "?";
}

static int word(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return (int)i;
	return -1;
}

static bool get_str(json_object *o, const char *key, char *dst, size_t len)
{
	json_object *v;
	size_t n;

	if (!json_object_object_get_ex(o, key, &v))
		return true; /* absent: as it was */
	if (!json_object_is_type(v, json_type_string))
		return false;
	n = (size_t)json_object_get_string_len(v);
	if (n >= len || memchr(json_object_get_string(v), '\0', n))
		return false;
	memcpy(dst, json_object_get_string(v), n + 1);
	return true;
}

static bool get_int(json_object *o, const char *key, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return true;
	if (!json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return *out >= 0;
}

static bool get_look(json_object *o, const char *key, struct m2m_policy_look *l)
{
	json_object *v;
	char w[16] = "off", a[16] = "log";
	int64_t rc = 0;
	int i, j;

	if (!json_object_object_get_ex(o, key, &v))
		return true;
	if (!json_object_is_type(v, json_type_object) || !get_str(v, "verdict", w, sizeof(w)) ||
	    !get_str(v, "action", a, sizeof(a)) || !get_int(v, "rc", &rc) || rc >= M2M_RC_COUNT_ ||
	    !get_int(v, "since", &l->since) || !get_str(v, "detail", l->detail, sizeof(l->detail)))
		return false;
	i = word(w, verdicts, 4);
	j = word(a, action_names, 2);
	if (i < 0 || j < 0)
		return false;
	l->verdict = (enum m2m_policy_verdict)i;
	l->action = (enum m2m_policy_action)j;
	l->rc = (int)rc;
	return true;
}

static int check_state(const char *buf, size_t len, void *ctx, struct m2m_err *err)
{
	struct m2m_policy_status *st = ctx;
	json_object *o = m2m_json_object(buf, len, 4), *v;
	int64_t ver = 0;
	bool ok;

	ok = o && get_int(o, "version", &ver) && ver == 1;
	if (ok && json_object_object_get_ex(o, "quarantined", &v)) {
		ok = json_object_is_type(v, json_type_boolean);
		st->quarantined = ok && json_object_get_boolean(v);
	}
	ok = ok && get_int(o, "since", &st->quarantined_since) &&
	     get_str(o, "reason", st->reason, sizeof(st->reason)) &&
	     get_int(o, "checked", &st->checked) &&
	     get_str(o, "bound_iccid", st->bound_iccid, sizeof(st->bound_iccid)) &&
	     get_look(o, "location", &st->location) && get_look(o, "sim", &st->sim) &&
	     get_look(o, "tamper", &st->tamper);
	if (ok && json_object_object_get_ex(o, "released_ms", &v))
		ok = get_int(o, "released_ms", &st->released_ms);
	/* the counters' looks: absent in a state written before there were counters */
	if (ok && json_object_object_get_ex(o, "counters", &v)) {
		ok = json_object_is_type(v, json_type_object);
		for (int k = 0; ok && k < M2M_POLICY_N_COUNTERS; k++) {
			json_object *l;

			if (json_object_object_get_ex(v, m2m_policy_counter_name(k), &l))
				ok = get_look(v, m2m_policy_counter_name(k), &st->counters[k]);
		}
	}
	json_object_put(o);
	return ok ? M2M_OK : m2m_err_set(err, M2M_ERR_FAILURE, "not a policy state of this version");
}

int pol_state_load(const struct m2m_state *s, struct m2m_policy_status *st, struct m2m_err *err)
{
	char *buf = NULL;
	size_t len;
	int rc;

	memset(st, 0, sizeof(*st));
	st->version = M2M_POLICY_STATUS_VERSION;
	rc = m2m_state_read(s, POL_STATE_NAME, STATE_MAX, check_state, st, &buf, &len, err);
	free(buf);
	if (rc == M2M_ERR_NOT_FOUND) {
		m2m_err_clear(err);
		return M2M_OK;
	}
	if (rc) {
		/* moved aside: start afresh, but what check_state read so far is not to be trusted */
		bool q = st->quarantined;

		memset(st, 0, sizeof(*st));
		st->version = M2M_POLICY_STATUS_VERSION;
		st->quarantined = q;
	}
	return rc;
}

static json_object *look_json(const struct m2m_policy_look *l)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "verdict", json_object_new_string(m2m_policy_verdict_name(l->verdict)));
	json_object_object_add(o, "action", json_object_new_string(m2m_policy_action_name(l->action)));
	json_object_object_add(o, "rc", json_object_new_int(l->rc));
	json_object_object_add(o, "since", json_object_new_int64(l->since));
	json_object_object_add(o, "detail", json_object_new_string(l->detail));
	return o;
}

int pol_state_save(const struct m2m_state *s, const struct m2m_policy_status *st, struct m2m_err *err)
{
	json_object *o = json_object_new_object();
	const char *txt;
	int rc;

	if (!o)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	json_object_object_add(o, "version", json_object_new_int(1));
	json_object_object_add(o, "quarantined", json_object_new_boolean(st->quarantined));
	json_object_object_add(o, "since", json_object_new_int64(st->quarantined_since));
	json_object_object_add(o, "reason", json_object_new_string(st->reason));
	json_object_object_add(o, "checked", json_object_new_int64(st->checked));
	json_object_object_add(o, "bound_iccid", json_object_new_string(st->bound_iccid));
	json_object_object_add(o, "location", look_json(&st->location));
	json_object_object_add(o, "sim", look_json(&st->sim));
	json_object_object_add(o, "tamper", look_json(&st->tamper));
	if (st->version >= 2) {
		json_object *c = json_object_new_object();

		json_object_object_add(o, "released_ms", json_object_new_int64(st->released_ms));

		for (int k = 0; c && k < M2M_POLICY_N_COUNTERS; k++)
			if (st->counters[k].verdict != M2M_POLICY_OFF)
				json_object_object_add(c, m2m_policy_counter_name(k),
						       look_json(&st->counters[k]));
		json_object_object_add(o, "counters", c);
	}
	txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = txt ? m2m_state_write(s, POL_STATE_NAME, txt, strlen(txt), err)
		 : m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	json_object_put(o);
	if (rc)
		m2m_err_prefix(err, "policy state");
	return rc;
}

void pol_files_signature(const struct m2m_config *cfg, char *out, size_t len)
{
	static const char *const names[] = { POL_STATE_NAME, POL_AUDIT_NAME, POL_AUDIT_NAME ".1",
					     POL_QUARANTINE_RECORD };
	char path[4096];
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && n < len; i++) {
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", pol_state_dir(cfg), names[i]);
		if (stat(path, &sb) == 0)
			n += (size_t)snprintf(out + n, len - n, "%llu:%lld:%lld.%ld;",
					      (unsigned long long)sb.st_ino, (long long)sb.st_size,
					      (long long)sb.st_ctim.tv_sec, sb.st_ctim.tv_nsec);
		else
			n += (size_t)snprintf(out + n, len - n, "-;");
	}
}
