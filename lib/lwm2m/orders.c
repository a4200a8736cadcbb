/* SPDX-License-Identifier: MIT */
/*
 * What came of the management server's last orders, kept in the state
 * directory so that it outlives the run that carried them out: a report run
 * (cron) ends soon after an order, and the server reads the outcome in the
 * next one. Object 33810's Last Renewal (15) of each profile, by the
 * profile's name, and object 33811's Last Order (13), in the words the
 * resources report. Written whole through lib/state (a temporary file,
 * fsync, rename: a power cut leaves the old file or the new) whenever one
 * changes, on the CoAP loop's thread; read when the objects are built. A
 * file that is not what this writes (torn, larger than ORDERS_MAX, not JSON,
 * a text longer than its resource keeps) is set aside as ORDERS_FILE.bad
 * and taken as none: the resources read empty, as before any order.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <json-c/json.h>

#include "lwm2m/obj_int.h"
#include "lwm2m/state.h"

#define ORDERS_FILE "dm-orders.json"
/*
 * What this writes is 21 KiB at most: 320 + 8 x 384 bytes of text, each
 * escaped to 6 bytes at worst ("\u001f"), 8 names of 32 and the keys.
 */
#define ORDERS_MAX 32768

_Static_assert(6 * (sizeof(((struct lw_objects *)0)->last_order) +
		    sizeof(((struct lw_objects *)0)->renewed)) + LW_MAX_INST * 64 + 256 <= ORDERS_MAX,
	       "dm-orders.json as written must fit the bound it is read with");

/* A text a resource keeps: a string shorter than its buffer, without a NUL ("\u0000") */
static bool text_ok(json_object *v, size_t size)
{
	size_t len;

	if (!json_object_is_type(v, json_type_string))
		return false;
	len = (size_t)json_object_get_string_len(v);
	return len < size && strlen(json_object_get_string(v)) == len;
}

/* lw_state_read_json's check: what lw_orders_save writes */
static int check_orders(json_object *o, void *ctx, struct m2m_err *err)
{
	const struct lw_objects *s = ctx;
	json_object *v;

	if (json_object_object_get_ex(o, "last_order", &v) && !text_ok(v, sizeof(s->last_order)))
		return m2m_err_set(err, M2M_ERR_FAILURE, "last_order: not a text of at most %zu bytes",
				   sizeof(s->last_order) - 1);
	if (!json_object_object_get_ex(o, "last_renewal", &v))
		return M2M_OK;
	if (!json_object_is_type(v, json_type_object))
		return m2m_err_set(err, M2M_ERR_FAILURE, "last_renewal: not an object");
	json_object_object_foreach(v, name, text)
		if (!text_ok(text, sizeof(s->renewed[0])))
			return m2m_err_set(err, M2M_ERR_FAILURE,
					   "last_renewal of %.64s: not a text of at most %zu bytes", name,
					   sizeof(s->renewed[0]) - 1);
	return M2M_OK;
}

void lw_orders_load(struct lw_objects *s)
{
	json_object *o, *v, *t;

	m2m_err_clear(&s->orders_why);
	if (!s->cfg->state_dir)
		return;
	if (lw_state_read_json(s->cfg, ORDERS_FILE, ORDERS_MAX, check_orders, s, &o,
			       &s->orders_why)) {
		/* none yet, or no state directory yet: nothing to say */
		if (s->orders_why.rc != M2M_ERR_FAILURE)
			m2m_err_clear(&s->orders_why);
		return;
	}
	if (json_object_object_get_ex(o, "last_order", &v))
		snprintf(s->last_order, sizeof(s->last_order), "%s", json_object_get_string(v));
	/* by name: a profile may have moved in the configuration since */
	if (json_object_object_get_ex(o, "last_renewal", &v))
		for (size_t i = 0; i < s->cfg->n_profiles && i < LW_MAX_INST; i++)
			if (json_object_object_get_ex(v, s->cfg->profiles[i].name, &t))
				snprintf(s->renewed[i], sizeof(s->renewed[i]), "%s",
					 json_object_get_string(t));
	json_object_put(o);
}

void lw_orders_save(struct lw_objects *s)
{
	json_object *o, *r;
	struct m2m_err err;
	const char *txt;
	int rc = M2M_ERR_FAILURE;

	if (!s->cfg->state_dir)
		return;
	m2m_err_set(&err, rc, "out of memory");
	o = json_object_new_object();
	r = json_object_new_object();
	if (o && r) {
		if (s->last_order[0])
			json_object_object_add(o, "last_order", json_object_new_string(s->last_order));
		for (size_t i = 0; i < s->cfg->n_profiles && i < LW_MAX_INST; i++)
			if (s->renewed[i][0])
				json_object_object_add(r, s->cfg->profiles[i].name,
						       json_object_new_string(s->renewed[i]));
		json_object_object_add(o, "last_renewal", r);
		r = NULL;
		txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
		if (txt)
			rc = lw_state_write(s->cfg, ORDERS_FILE, txt, &err);
	}
	json_object_put(r);
	json_object_put(o);
	/* the order itself is done: only the next run would not know what came of it */
	if (rc)
		LW_LOG(s->log, s->log_ctx, LOG_WARNING, "%s: %s (the next run will not know what "
		       "came of the last order)", ORDERS_FILE, err.msg);
}
