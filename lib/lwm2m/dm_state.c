/* SPDX-License-Identifier: MIT */
/*
 * What the LwM2M client keeps on disk between runs: the registration (so
 * that a cron run Updates instead of Registering) and the observations with
 * what the server set for them (so that they outlive the process, a kill -9
 * or a power cut included). Written atomically, 0600, in the state directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <json-c/json.h>

#include "base/base.h"
#include "lwm2m/dm_int.h"

static char *state_path(const struct m2m_config *cfg)
{
	char *p = NULL;

	if (asprintf(&p, "%s/dm-registration.json", cfg->state_dir) < 0)
		return NULL;
	return p;
}

static void copy_str(char *dst, size_t len, json_object *o, const char *key)
{
	json_object *v;

	dst[0] = 0;
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		snprintf(dst, len, "%s", json_object_get_string(v));
}

/* The saved registration, and the object links it last sent (links may be NULL). */
int lw_dm_state_read(const struct m2m_config *cfg, struct m2m_dm_state *st, char *links,
		      size_t links_len)
{
	char *path = state_path(cfg);
	json_object *o, *v;

	memset(st, 0, sizeof(*st));
	o = lw_read_json_state(path);
	free(path);
	if (!o)
		return M2M_ERR_NOT_FOUND;
	if (links)
		copy_str(links, links_len, o, "links");
	copy_str(st->server, sizeof(st->server), o, "server");
	copy_str(st->endpoint, sizeof(st->endpoint), o, "endpoint");
	copy_str(st->location, sizeof(st->location), o, "location");
	copy_str(st->binding, sizeof(st->binding), o, "binding");
	copy_str(st->last_error, sizeof(st->last_error), o, "last_error");
	if (json_object_object_get_ex(o, "registered_at", &v))
		st->registered_at = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "lifetime", &v))
		st->lifetime_s = (unsigned)json_object_get_int(v);
	if (json_object_object_get_ex(o, "last_attempt", &v))
		st->last_attempt = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "last_rc", &v))
		st->last_rc = json_object_get_int(v);
	st->registered = st->location[0] && st->registered_at &&
			 st->registered_at + st->lifetime_s > (uint64_t)time(NULL) &&
			 (!cfg->dm.server || strcmp(st->server, cfg->dm.server) == 0);
	json_object_put(o);
	return M2M_OK;
}

int m2m_dm_state_load(const struct m2m_config *cfg, struct m2m_dm_state *st)
{
	return lw_dm_state_read(cfg, st, NULL, 0);
}

void lw_dm_state_save(struct m2m_dm *dm)
{
	json_object *o = json_object_new_object();
	char *path = state_path(dm->cfg);
	const char *s;
	struct m2m_err err;

	if (!o || !path) {
		json_object_put(o);
		free(path);
		return;
	}
	json_object_object_add(o, "server", json_object_new_string(dm->st.server));
	json_object_object_add(o, "endpoint", json_object_new_string(dm->st.endpoint));
	json_object_object_add(o, "location", json_object_new_string(dm->st.location));
	json_object_object_add(o, "registered_at", json_object_new_int64((int64_t)dm->st.registered_at));
	json_object_object_add(o, "lifetime", json_object_new_int((int)dm->st.lifetime_s));
	json_object_object_add(o, "binding", json_object_new_string(dm->st.binding));
	json_object_object_add(o, "last_attempt", json_object_new_int64((int64_t)dm->st.last_attempt));
	json_object_object_add(o, "last_rc", json_object_new_int(dm->st.last_rc));
	json_object_object_add(o, "last_error", json_object_new_string(dm->st.last_error));
	json_object_object_add(o, "links", json_object_new_string(dm->links));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	/* best effort: a lost state file only costs a full Register next time */
	if (m2m_mkdir_private(dm->cfg->state_dir, &err) == M2M_OK)
		m2m_write_atomic(path, s, strlen(s), 0600, &err);
	json_object_put(o);
	free(path);
}

/* ---- observations ---- */

static char *obs_path(const struct m2m_config *cfg)
{
	char *p = NULL;

	if (asprintf(&p, "%s/dm-observations.json", cfg->state_dir) < 0)
		return NULL;
	return p;
}

/*
 * The observations, and what the server set for them, on disk: at the end of
 * a run and, under --serve, as they change, so that a process killed or a
 * power cut does not end them without the server knowing (it still holds
 * them, and the restarted process Updates the same registration).
 */
void lw_dm_obs_save(struct m2m_dm *dm)
{
	struct lw_obs_settings set = { .dflt_pmin = dm->objs.dflt_pmin,
				       .dflt_pmax = dm->objs.dflt_pmax,
				       .storing = dm->objs.notif_storing };
	struct m2m_err err;
	char *path;

	if (!dm->obs_loaded)
		return;
	dm->obs_dirty = false;
	dm->obs_saved_at = m2m_now_ms();
	path = obs_path(dm->cfg);
	if (dm->objs.lifetime_s != dm->base_lifetime_s || dm->objs.binding != dm->base_binding) {
		set.lifetime_s = dm->objs.lifetime_s;
		set.binding = dm->objs.binding;
		set.base_lifetime_s = dm->base_lifetime_s;
		set.base_binding = dm->base_binding;
	}
	memcpy(set.attrs, dm->reg.attrs, sizeof(set.attrs));
	set.n_attrs = dm->reg.n_attrs;
	if (path && lw_obs_save(&dm->obs, &set, path, dm->st.server, dm->st.endpoint, &err))
		logf_(dm, LOG_WARNING, "%s", err.msg);
	free(path);
}

/*
 * The observations of an earlier run, and what the server set for them
 * (Write-Attributes, Server resources 2, 3 and 6): a new Register drops
 * them all again.
 */
static void obs_load(struct m2m_dm *dm, const char *path)
{
	struct lw_obs_settings set = { 0 };

	lw_obs_load(&dm->obs, &set, path, dm->st.server, dm->st.endpoint);
	if (!set.present)
		return;
	memcpy(dm->reg.attrs, set.attrs, sizeof(set.attrs));
	dm->reg.n_attrs = set.n_attrs;
	dm->objs.dflt_pmin = set.dflt_pmin;
	dm->objs.dflt_pmax = set.dflt_pmax;
	dm->objs.notif_storing = set.storing;
	/* what the server wrote to Lifetime and Binding, unless the configuration changed since */
	if (set.lifetime_s && set.base_lifetime_s == dm->base_lifetime_s &&
	    set.base_binding == dm->base_binding) {
		dm->objs.lifetime_s = set.lifetime_s;
		dm->objs.binding = set.binding;
	}
}

void lw_dm_obs_load(struct m2m_dm *dm)
{
	char *path = obs_path(dm->cfg);

	if (path)
		obs_load(dm, path);
	free(path);
}
