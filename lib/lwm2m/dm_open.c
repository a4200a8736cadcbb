/* SPDX-License-Identifier: MIT */
/*
 * The LwM2M client's handle (client.c serves it): opened from the
 * configuration (the objects, the CoAP endpoint and the paths it answers,
 * what the bootstrap server and an earlier run left on disk) and closed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "base/base.h"
#include "lwm2m/dm_int.h"

static int add_paths(struct m2m_dm *dm, struct m2m_err *err)
{
	char path[32];
	/* the root: LwM2M 1.1's composite operations */
	int rc = mcoap_add_path(dm->coap, "/", err);

	for (size_t i = 0; i < dm->reg.n && !rc; i++) {
		const struct lw_object *o = dm->reg.obj[i];

		snprintf(path, sizeof(path), "/%u", o->id);
		rc = mcoap_add_path(dm->coap, path, err);
		for (size_t k = 0; k < o->n_inst && !rc; k++) {
			snprintf(path, sizeof(path), "/%u/%u", o->id, o->inst[k]);
			rc = mcoap_add_path(dm->coap, path, err);
			for (size_t r = 0; r < o->n_res && !rc; r++) {
				snprintf(path, sizeof(path), "/%u/%u/%u", o->id, o->inst[k],
					 o->res[r].id);
				rc = mcoap_add_path(dm->coap, path, err);
				if (!rc && o->ops->write_block && o->res[r].id == o->ops->block_res)
					mcoap_on_block1(dm->coap, path, lw_dm_on_block, dm);
			}
		}
	}
	if (!rc)
		rc = mcoap_add_unknown(dm->coap, err);
	return rc;
}

int m2m_dm_open(const struct m2m_config *cfg, struct m2m_dm **out, struct m2m_err *err)
{
	return lw_dm_open(cfg, 0, NULL, out, err);
}

int lw_dm_open(const struct m2m_config *cfg, unsigned resolve_ms, volatile const int *stop,
	       struct m2m_dm **out, struct m2m_err *err)
{
	struct m2m_coap_opts o = { .resolve_ms = resolve_ms, .resolve_stop = stop };
	struct m2m_secret key = { 0 };
	struct lw_bs_server *bs = NULL;
	bool from_bs = false;
	struct m2m_dm *dm;
	int rc;

	*out = NULL;
	dm = calloc(1, sizeof(*dm));
	if (!dm)
		return m2m_err_set(err, M2M_ERR_FAILURE, "out of memory");
	/* what a bootstrap server gave us wins over the factory settings */
	bs = &dm->bs;
	if (cfg->dm.enabled && cfg->dm.bootstrap && lw_bs_load(cfg, bs) == M2M_OK)
		from_bs = true;
	else if (cfg->dm.enabled && cfg->dm.bootstrap && !cfg->dm.server)
		rc = m2m_err_set(err, M2M_ERR_NOT_FOUND, "%s: not bootstrapped yet",
				 cfg->dm.bootstrap);
	else if (!cfg->dm.enabled || (!cfg->dm.server && !from_bs))
		rc = m2m_err_set(err, M2M_ERR_CONFIG, "%s: dm: no LwM2M server configured",
				 cfg->path ? cfg->path : "config");
	else
		rc = M2M_OK;
	if (!from_bs && rc) {
		explicit_bzero(&dm->bs, sizeof(dm->bs));
		free(dm);
		return rc;
	}
	dm->cfg = cfg;
	dm->obs.storing = true;
	/* plain CoAP: the port of the last run, so that the server's observations still match */
	lw_dm_port_load(dm);
	o.local_port = dm->kept_port;
	if (lw_objects_init(&dm->objs, cfg, &dm->reg)) {
		explicit_bzero(&dm->bs, sizeof(dm->bs));
		free(dm);
		return m2m_err_set(err, M2M_ERR_FAILURE, "LwM2M: cannot build the objects");
	}
	if (from_bs) {
		char ident[sizeof(bs->identity) + 1];

		o.uri = bs->uri;
		o.block_size = cfg->dm.block_size;
		o.max_body = cfg->dm.max_body;
		if (bs->mode == 2) {
			/* certificate mode: the credentials stay in dm->bs for libcoap */
			o.security = M2M_DM_X509;
			o.der_cert = bs->identity;
			o.der_cert_len = bs->id_len;
			o.der_key = bs->secret;
			o.der_key_len = bs->secret_len;
			o.der_server = bs->server_key;
			o.der_server_len = bs->server_key_len;
		} else {
			memcpy(ident, bs->identity, bs->id_len);
			ident[bs->id_len] = 0;
			o.security = bs->mode == 0 ? M2M_DM_PSK : M2M_DM_NOSEC;
			o.psk_identity = ident;
			o.psk_key = bs->secret;
			o.psk_len = bs->secret_len;
		}
		lw_objects_bootstrapped(&dm->objs, bs);
		rc = mcoap_open(&o, lw_dm_on_request, dm, &dm->coap, err);
		if (bs->mode != 2)
			explicit_bzero(bs->secret, sizeof(bs->secret));
	} else {
		rc = mcoap_config_opts(cfg, cfg->dm.server, &o, &key, &dm->pin, err);
		if (rc) {
			m2m_dm_close(dm);
			return rc;
		}
		dm->store_key = o.store_key;
		rc = mcoap_open(&o, lw_dm_on_request, dm, &dm->coap, err);
	}
	dm->base_lifetime_s = dm->objs.lifetime_s;
	dm->base_binding = dm->objs.binding;
	/* libcoap keeps its own copy of the key in the session */
	m2m_secret_wipe(&key);
	if (!rc) {
		mcoap_on_notify_failed(dm->coap, lw_dm_on_notify_failed);
		dm->obs.note_max = mcoap_block_size(dm->coap);
		rc = add_paths(dm, err);
	}
	if (rc) {
		m2m_dm_close(dm);
		return rc;
	}
	snprintf(dm->st.server, sizeof(dm->st.server), "%s", o.uri);
	snprintf(dm->st.endpoint, sizeof(dm->st.endpoint), "%s", cfg->dm.endpoint);
	*out = dm;
	return M2M_OK;
}

void m2m_dm_close(struct m2m_dm *dm)
{
	if (!dm)
		return;
	/*
	 * Kept for the next run; a new Register or a De-register empties them,
	 * a run that could not reach the server keeps them.
	 */
	lw_dm_obs_save(dm);
	lw_obs_free(&dm->obs);
	lw_buf_free(&dm->upd.links);
	mcoap_close(dm->coap);
	/* a Reboot or Factory Reset answered in a --report run's window runs now */
	lw_objects_run_hooks(&dm->objs);
	m2m_key_close(dm->store_key);
	explicit_bzero(&dm->bs, sizeof(dm->bs));
	m2m_secret_wipe(&dm->pin);
	lw_objects_free(&dm->objs);
	free(dm);
}

struct m2m_coap *lw_dm_coap(struct m2m_dm *dm)
{
	return dm->coap;
}

void lw_dm_set_orders(struct m2m_dm *dm, const struct m2m_dm_run_opts *o, uint64_t end_ms)
{
	dm->objs.run_end_ms = end_ms;
	dm->objs.run_stop = o->stop;
	/* each field only in the versions that have it */
	if (o->version >= 2) {
		dm->objs.wipe_fn = o->wipe;
		dm->objs.wipe_ctx = o->wipe_ctx;
	}
	if (o->version >= 3) {
		dm->objs.renew_fn = o->renew;
		dm->objs.renew_ctx = o->renew_ctx;
	}
}

bool lw_dm_renewing(const struct m2m_dm *dm)
{
	return lw_objects_renewing(&dm->objs);
}

bool lw_dm_wipe_due(const struct m2m_dm *dm)
{
	return dm->objs.wipe_due;
}

const char *lw_dm_wipe_reason(const struct m2m_dm *dm)
{
	return dm->objs.wipe_reason;
}

void m2m_dm_set_log(struct m2m_dm *dm, m2m_log_fn log, void *ctx)
{
	dm->log = log;
	dm->log_ctx = ctx;
	dm->obs.log = log;
	dm->obs.log_ctx = ctx;
	dm->objs.log = log;
	dm->objs.log_ctx = ctx;
	mcoap_set_log(dm->coap, log, ctx);
}
