/* SPDX-License-Identifier: MIT */
/*
 * update.firmware (fw_record.h): its parser and writer, and what a commit,
 * an install and a fallback of the bootloader do to it. The file is ours,
 * but a power cut, a disk or a hand may have damaged it: anything that is
 * not exactly the shape written is refused whole (the caller then claims no
 * version), never half believed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/json.h"
#include "update/fw_record.h"

/* key's string into out: absent is "" (true); not a string, empty or too long: false */
static bool opt_str(json_object *o, const char *key, char *out, size_t len)
{
	json_object *v;
	int n;

	out[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v))
		return true;
	if (!json_object_is_type(v, json_type_string))
		return false;
	n = json_object_get_string_len(v);
	if (n <= 0 || (size_t)n >= len || memchr(json_object_get_string(v), '\0', (size_t)n))
		return false;
	memcpy(out, json_object_get_string(v), (size_t)n + 1);
	return true;
}

static bool opt_time(json_object *o, const char *key, int64_t *out)
{
	json_object *v;

	*out = 0;
	if (!json_object_object_get_ex(o, key, &v))
		return true;
	if (!json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return *out >= 0;
}

/* name and version, both or neither; committed */
static bool entry(json_object *o, struct upd_fw_entry *e, bool need_version)
{
	if (!json_object_is_type(o, json_type_object) || !opt_str(o, "name", e->name, sizeof(e->name)) ||
	    !opt_str(o, "version", e->version, sizeof(e->version)) ||
	    !opt_time(o, "committed", &e->committed))
		return false;
	if (!e->name[0] != !e->version[0])
		return false;
	return !need_version || e->version[0];
}

static bool slots(json_object *o, struct upd_fw_record *r)
{
	if (!json_object_is_type(o, json_type_object))
		return false;
	json_object_object_foreach(o, key, val) {
		struct upd_fw_entry *e;

		if (r->n == UPD_FW_SLOTS_MAX || !*key || strlen(key) >= sizeof(e->slot))
			return false;
		e = &r->slots[r->n];
		if (!entry(val, e, true) || upd_fw_record_slot(r, key))
			return false;
		snprintf(e->slot, sizeof(e->slot), "%s", key);
		r->n++;
	}
	return true;
}

static bool record(json_object *o, struct upd_fw_record *r)
{
	json_object *v;

	if (!json_object_is_type(o, json_type_object) || !entry(o, &r->run, false) ||
	    !opt_str(o, "slot", r->run.slot, sizeof(r->run.slot)) ||
	    !opt_str(o, "source", r->source, sizeof(r->source)))
		return false;
	if (r->source[0] && strcmp(r->source, "record") && strcmp(r->source, "rauc"))
		return false;
	if (r->run.version[0] && !r->source[0])
		snprintf(r->source, sizeof(r->source), "record");
	if (!r->run.version[0] && r->source[0])
		return false;
	if (json_object_object_get_ex(o, "slots", &v)) {
		if (!slots(v, r))
			return false;
	} else if (r->run.slot[0] && r->run.version[0]) {
		/* a record of before the slots were kept: what runs is its slot's */
		r->slots[r->n++] = r->run;
	}
	if (json_object_object_get_ex(o, "fallback", &v)) {
		if (!entry(v, &r->from, false) || !opt_str(v, "slot", r->from.slot, sizeof(r->from.slot)) ||
		    !r->from.slot[0] || !opt_time(v, "time", &r->fell_back_at))
			return false;
		r->fell_back = true;
	}
	return true;
}

int upd_fw_record_parse(const char *text, size_t len, struct upd_fw_record *r,
			struct m2m_err *err)
{
	/* one document and nothing after it but white space */
	json_object *o = m2m_json_object(text, len, 0);
	bool ok;

	memset(r, 0, sizeof(*r));
	ok = o && record(o, r);
	json_object_put(o);
	if (ok)
		return M2M_OK;
	memset(r, 0, sizeof(*r));
	return m2m_err_set(err, M2M_ERR_FAILURE, "not a firmware record");
}

static void put_entry(json_object *o, const struct upd_fw_entry *e)
{
	if (e->version[0]) {
		json_object_object_add(o, "name", json_object_new_string(e->name));
		json_object_object_add(o, "version", json_object_new_string(e->version));
	}
	if (e->committed)
		json_object_object_add(o, "committed", json_object_new_int64(e->committed));
}

char *upd_fw_record_json(const struct upd_fw_record *r)
{
	json_object *o = json_object_new_object(), *s, *f;
	const char *t;
	char *out = NULL;

	if (!o)
		return NULL;
	put_entry(o, &r->run);
	if (r->run.slot[0])
		json_object_object_add(o, "slot", json_object_new_string(r->run.slot));
	if (r->run.version[0] && r->source[0])
		json_object_object_add(o, "source", json_object_new_string(r->source));
	/* always, empty or not: a record without it is one of before, its slot's entry implied */
	s = json_object_new_object();
	for (size_t i = 0; s && i < r->n; i++) {
		json_object *e = json_object_new_object();

		put_entry(e, &r->slots[i]);
		json_object_object_add(s, r->slots[i].slot, e);
	}
	json_object_object_add(o, "slots", s);
	if (r->fell_back) {
		f = json_object_new_object();
		if (f) {
			put_entry(f, &r->from);
			json_object_object_add(f, "slot", json_object_new_string(r->from.slot));
			json_object_object_add(f, "time", json_object_new_int64(r->fell_back_at));
		}
		json_object_object_add(o, "fallback", f);
	}
	t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (t)
		out = strdup(t);
	json_object_put(o);
	return out;
}

const struct upd_fw_entry *upd_fw_record_slot(const struct upd_fw_record *r, const char *slot)
{
	for (size_t i = 0; slot && *slot && i < r->n; i++)
		if (strcmp(r->slots[i].slot, slot) == 0)
			return &r->slots[i];
	return NULL;
}

bool upd_fw_record_forget(struct upd_fw_record *r, const char *slot)
{
	const struct upd_fw_entry *e = upd_fw_record_slot(r, slot);
	size_t i;

	if (!e)
		return false;
	i = (size_t)(e - r->slots);
	memmove(&r->slots[i], &r->slots[i + 1], (r->n - i - 1) * sizeof(r->slots[0]));
	r->n--;
	return true;
}

void upd_fw_record_commit(struct upd_fw_record *r, const char *name, const char *version,
			  const char *slot, int64_t now)
{
	struct upd_fw_entry e = { .committed = now };

	snprintf(e.name, sizeof(e.name), "%s", name);
	snprintf(e.version, sizeof(e.version), "%s", version);
	snprintf(e.slot, sizeof(e.slot), "%s", slot ? slot : "");
	r->run = e;
	snprintf(r->source, sizeof(r->source), "record");
	r->fell_back = false;
	memset(&r->from, 0, sizeof(r->from));
	r->fell_back_at = 0;
	if (!e.slot[0])
		return;
	upd_fw_record_forget(r, e.slot);
	/* the table is full of slots this device no longer has: the oldest entry goes */
	if (r->n == UPD_FW_SLOTS_MAX) {
		memmove(&r->slots[0], &r->slots[1], (r->n - 1) * sizeof(r->slots[0]));
		r->n--;
	}
	r->slots[r->n++] = e;
}

void upd_fw_record_fall_back(struct upd_fw_record *r, const char *booted, const char *rauc_version,
			     int64_t now)
{
	const struct upd_fw_entry *e = upd_fw_record_slot(r, booted);
	struct upd_fw_entry run = { 0 };

	r->from = r->run;
	r->fell_back = true;
	r->fell_back_at = now;
	memset(r->source, 0, sizeof(r->source));
	if (e) {
		run = *e;
		snprintf(r->source, sizeof(r->source), "record");
	} else if (rauc_version && *rauc_version && strlen(rauc_version) < sizeof(run.version) &&
		   r->from.name[0]) {
		/* RAUC's word for the slot's bundle; the package it came in had the same name */
		snprintf(run.name, sizeof(run.name), "%s", r->from.name);
		snprintf(run.version, sizeof(run.version), "%s", rauc_version);
		snprintf(r->source, sizeof(r->source), "rauc");
	}
	snprintf(run.slot, sizeof(run.slot), "%s", booted);
	r->run = run;
}
