/* SPDX-License-Identifier: MIT */
/*
 * What the LwM2M client keeps on disk between runs: the registration (so
 * that a cron run Updates instead of Registering) and the observations with
 * what the server set for them (so that they outlive the process, a kill -9
 * or a power cut included). Through lib/state: written atomically, 0600, in
 * the state directory, and a damaged file set aside (NAME.bad) and taken as
 * none: the client registers afresh, the observations start over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <json-c/json.h>

#include "base/base.h"
#include "state/state.h"
#include "lwm2m/dm_int.h"

#define REG_FILE "dm-registration.json"
#define OBS_FILE "dm-observations.json"

static void copy_str(char *dst, size_t len, json_object *o, const char *key)
{
	json_object *v;

	dst[0] = 0;
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		snprintf(dst, len, "%s", json_object_get_string(v));
}

static bool is_type(json_object *o, const char *key, json_type t)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, t);
}

/* what lw_dm_state_save writes, as far as a reader needs it to Update */
static int check_reg(json_object *o, void *ctx, struct m2m_err *err)
{
	static const char *const strs[] = { "server", "endpoint", "location" };

	(void)ctx;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (!is_type(o, strs[i], json_type_string))
			return m2m_err_set(err, M2M_ERR_FAILURE, "no \"%s\"", strs[i]);
	if (!is_type(o, "registered_at", json_type_int) || !is_type(o, "lifetime", json_type_int))
		return m2m_err_set(err, M2M_ERR_FAILURE, "no registration time or lifetime");
	return M2M_OK;
}

/*
 * Whether a saved registration is one with the server this configuration
 * reports to: the one a bootstrap server gave wins over dm.server (as in
 * m2m_dm_open()).
 */
static bool same_server(const struct m2m_config *cfg, const char *server)
{
	struct lw_bs_server *bs = cfg->dm.bootstrap ? malloc(sizeof(*bs)) : NULL;
	const char *want = cfg->dm.server;
	bool same;

	if (bs && lw_bs_load(cfg, bs) == M2M_OK)
		want = bs->uri;
	same = !want || strcmp(server, want) == 0;
	if (bs)
		explicit_bzero(bs, sizeof(*bs));
	free(bs);
	return same;
}

/*
 * The saved registration, the object links it last sent (links may be NULL)
 * and whether it is LwM2M 1.0's (*v10, may be NULL). A damaged file is set
 * aside and taken as none (the client registers afresh); the status shows
 * that as the last error, and *why (if given) says it.
 */
static int reg_read(const struct m2m_config *cfg, struct m2m_dm_state *st, char *links,
		    size_t links_len, bool *v10, struct m2m_err *why)
{
	struct m2m_err err;
	json_object *o, *v;
	char version[8];
	int rc;

	memset(st, 0, sizeof(*st));
	m2m_err_clear(&err);
	rc = lw_state_read_json(cfg, REG_FILE, 65536, check_reg, NULL, &o, &err);
	if (rc == M2M_ERR_FAILURE) {
		st->last_rc = rc;
		st->last_attempt = (uint64_t)time(NULL);
		snprintf(st->last_error, sizeof(st->last_error), "%.*s",
			 (int)sizeof(st->last_error) - 1, err.msg);
		if (why)
			*why = err;
	}
	if (rc)
		return M2M_ERR_NOT_FOUND;
	if (links)
		copy_str(links, links_len, o, "links");
	/* none in the file of a version that spoke only 1.1: 1.1 */
	copy_str(version, sizeof(version), o, "lwm2m");
	if (v10)
		*v10 = strcmp(version, "1.0") == 0;
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
			 same_server(cfg, st->server);
	json_object_put(o);
	return M2M_OK;
}

int lw_dm_state_read(const struct m2m_config *cfg, struct m2m_dm_state *st, char *links,
		     size_t links_len, bool *v10)
{
	return reg_read(cfg, st, links, links_len, v10, NULL);
}

int m2m_dm_state_load(const struct m2m_config *cfg, struct m2m_dm_state *st)
{
	return lw_dm_state_read(cfg, st, NULL, 0, NULL);
}

void lw_dm_state_save(struct m2m_dm *dm)
{
	json_object *o = json_object_new_object();
	const char *s;
	struct m2m_err err;

	if (!o)
		return;
	json_object_object_add(o, "server", json_object_new_string(dm->st.server));
	json_object_object_add(o, "endpoint", json_object_new_string(dm->st.endpoint));
	json_object_object_add(o, "location", json_object_new_string(dm->st.location));
	json_object_object_add(o, "registered_at", json_object_new_int64((int64_t)dm->st.registered_at));
	json_object_object_add(o, "lifetime", json_object_new_int((int)dm->st.lifetime_s));
	json_object_object_add(o, "binding", json_object_new_string(dm->st.binding));
	/* the Updates of a registration speak its version (the binding's form differs) */
	json_object_object_add(o, "lwm2m", json_object_new_string(dm->v10 ? "1.0" : "1.1"));
	json_object_object_add(o, "last_attempt", json_object_new_int64((int64_t)dm->st.last_attempt));
	json_object_object_add(o, "last_rc", json_object_new_int(dm->st.last_rc));
	json_object_object_add(o, "last_error", json_object_new_string(dm->st.last_error));
	json_object_object_add(o, "links", json_object_new_string(dm->links));
	/* plain CoAP: the next run sends from it again (see lw_dm_port_load) */
	if (!mcoap_dtls(dm->coap) && mcoap_local_port(dm->coap))
		json_object_object_add(o, "port", json_object_new_int((int)mcoap_local_port(dm->coap)));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	/* best effort: a lost state file only costs a full Register next time */
	lw_state_write(dm->cfg, REG_FILE, s, &err);
	json_object_put(o);
}

/*
 * The local port the last run sent from. A server knows a plain-CoAP client
 * by its address: a notification of an observation it made from another
 * port does not match it (RFC 7641 4.1 and RFC 7252 5.3.2: token and
 * endpoint), and the server answers it with a reset. So the next run sends
 * from the same port where it can (queue mode: one cron run after another).
 */
void lw_dm_port_load(struct m2m_dm *dm)
{
	json_object *o, *v;

	dm->kept_port = 0;
	m2m_err_clear(&dm->kept_why);
	if (lw_state_read_json(dm->cfg, REG_FILE, 65536, check_reg, NULL, &o, &dm->kept_why)) {
		if (dm->kept_why.rc != M2M_ERR_FAILURE)
			m2m_err_clear(&dm->kept_why);
		return;
	}
	if (json_object_object_get_ex(o, "port", &v) && json_object_is_type(v, json_type_int) &&
	    json_object_get_int(v) > 0 && json_object_get_int(v) <= 65535)
		dm->kept_port = (unsigned)json_object_get_int(v);
	json_object_put(o);
}

/* ---- observations ---- */

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
				       .storing = dm->objs.notif_storing,
				       .mute_send = dm->objs.mute_send };
	struct m2m_state st;
	struct m2m_err err;

	if (!dm->obs_loaded)
		return;
	dm->obs_dirty = false;
	dm->obs_saved_at = m2m_now_ms();
	if (dm->objs.lifetime_s != dm->base_lifetime_s || dm->objs.binding != dm->base_binding) {
		set.lifetime_s = dm->objs.lifetime_s;
		set.binding = dm->objs.binding;
		set.base_lifetime_s = dm->base_lifetime_s;
		set.base_binding = dm->base_binding;
	}
	memcpy(set.attrs, dm->reg.attrs, sizeof(set.attrs));
	set.n_attrs = dm->reg.n_attrs;
	if (m2m_state_open(&st, dm->cfg->state_dir, &err) ||
	    lw_obs_save(&dm->obs, &set, &st, OBS_FILE, dm->st.server, dm->st.endpoint, &err))
		logf_(dm, LOG_WARNING, "%s", err.msg);
	m2m_state_close(&st);
}

/*
 * The observations of an earlier run, and what the server set for them
 * (Write-Attributes, Server resources 2, 3, 6 and 23): a new Register drops
 * the observations again.
 */
static void obs_load(struct m2m_dm *dm, const struct m2m_state *st)
{
	struct lw_obs_settings set = { 0 };

	lw_obs_load(&dm->obs, &set, st, OBS_FILE, dm->st.server, dm->st.endpoint);
	if (!set.present)
		return;
	memcpy(dm->reg.attrs, set.attrs, sizeof(set.attrs));
	dm->reg.n_attrs = set.n_attrs;
	dm->objs.dflt_pmin = set.dflt_pmin;
	dm->objs.dflt_pmax = set.dflt_pmax;
	dm->objs.notif_storing = set.storing;
	dm->objs.mute_send = set.mute_send;
	/* what the server wrote to Lifetime and Binding, unless the configuration changed since */
	if (set.lifetime_s && set.base_lifetime_s == dm->base_lifetime_s &&
	    set.base_binding == dm->base_binding) {
		dm->objs.lifetime_s = set.lifetime_s;
		dm->objs.binding = set.binding;
	}
}

/* Whether the port of the last run could be had again (the log is set only after open). */
static void port_said(struct m2m_dm *dm)
{
	unsigned now = mcoap_local_port(dm->coap);

	if (!dm->kept_port || mcoap_dtls(dm->coap))
		return;
	if (now == dm->kept_port)
		logf_(dm, LOG_DEBUG, "from local port %u, as the last run", now);
	else
		logf_(dm, LOG_NOTICE, "local port %u of the last run is taken: from port %u "
		      "now (the server may reset notifications of its earlier observations)",
		      dm->kept_port, now);
}

/*
 * The state of an earlier run, read where a run first needs it (before its
 * first Register or Update): the observations, and a look at the registration
 * so that a damaged file is set aside here, where there is a log to say so,
 * and the Register that follows starts afresh.
 */
void lw_dm_obs_load(struct m2m_dm *dm)
{
	struct m2m_dm_state saved;
	struct m2m_state st;
	struct m2m_err why;

	m2m_err_clear(&why);
	if (dm->kept_why.rc)
		why = dm->kept_why;
	else
		reg_read(dm->cfg, &saved, NULL, 0, NULL, &why);
	if (why.rc)
		logf_(dm, LOG_WARNING, "%s; registering afresh", why.msg);
	m2m_err_clear(&dm->kept_why);
	/* read when the objects were built, before there was a log to say so */
	if (dm->objs.orders_why.rc)
		logf_(dm, LOG_WARNING, "%s; what came of the server's last orders is not known",
		      dm->objs.orders_why.msg);
	m2m_err_clear(&dm->objs.orders_why);
	port_said(dm);
	if (m2m_state_open_existing(&st, dm->cfg->state_dir, NULL) == M2M_OK) {
		obs_load(dm, &st);
		m2m_state_close(&st);
	}
}

int m2m_dm_lost_observation(const struct m2m_config *cfg, size_t i, char *path,
			    size_t path_len, uint64_t *at)
{
	struct m2m_dm_state saved;
	struct lw_observers *obs;
	struct m2m_state st;
	int rc = M2M_ERR_NOT_FOUND;

	if (!cfg || !path || !path_len || !at)
		return M2M_ERR_USAGE;
	path[0] = 0;
	*at = 0;
	/* the observations are kept for the server and endpoint of the registration */
	if (reg_read(cfg, &saved, NULL, 0, NULL, NULL) ||
	    m2m_state_open_existing(&st, cfg->state_dir, NULL))
		return rc;
	obs = calloc(1, sizeof(*obs));
	if (!obs) {
		m2m_state_close(&st);
		return M2M_ERR_FAILURE;
	}
	lw_obs_load(obs, NULL, &st, OBS_FILE, saved.server, saved.endpoint);
	if (i < obs->n_lost) {
		snprintf(path, path_len, "%s", obs->lost[i].path);
		*at = obs->lost[i].at / 1000;
		rc = M2M_OK;
	}
	lw_obs_free(obs);
	free(obs);
	m2m_state_close(&st);
	return rc;
}
