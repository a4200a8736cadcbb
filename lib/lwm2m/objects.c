/* SPDX-License-Identifier: MIT */
/*
 * The objects this client serves, one file each: 0 Security and 1 Server
 * (from the dm: section), 3 Device (device: section and the system), 4
 * Connectivity Monitoring, 6 Location (a file), and 33810, the project's VPN
 * and certificate object; 5 Firmware Update (over lib/update) after the
 * objects the tests of the registration's links expect first, then 33811,
 * the security policy object. This file holds
 * their table, in the order they are registered (and announced at registration).
 */
#include <string.h>

#include "lwm2m/obj_int.h"

static const struct lw_object_def *const table[] = {
	&lw_obj_security,
	&lw_obj_server,
	&lw_obj_device,
	&lw_obj_connmon,
	&lw_obj_location,
	&lw_obj_vpn,
	&lw_obj_firmware,
	&lw_obj_policy,
};

_Static_assert(ARRAY_SIZE(table) <= LW_MAX_OBJ, "more objects than a registry holds");

int lw_objects_init(struct lw_objects *s, const struct m2m_config *cfg,
		    struct lw_registry *reg)
{
	int rc = 0;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->lifetime_s = cfg->dm.lifetime_ms / 1000;
	s->binding = cfg->dm.binding;
	s->notif_storing = true; /* LwM2M: the server may turn it off */
	s->ssid = 1;
	s->disable_s = 86400;    /* E.2: the default of Disable Timeout */
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		const struct lw_object_def *d = table[i];
		struct lw_object *o = &s->obj[i];

		o->id = d->id;
		o->version = d->version;
		o->res = d->res;
		o->n_res = d->n_res;
		o->ops = d->ops;
		o->priv = s;
		o->hidden = d->hidden;
		o->n_inst = d->instances ? d->instances(cfg) : 1;
		for (size_t k = 0; k < o->n_inst; k++)
			o->inst[k] = (uint16_t)k;
		rc |= lw_registry_add(reg, o);
	}
	/* what came of the server's last orders, also in an earlier run */
	lw_orders_load(s);
	return rc ? LW_INTERNAL : 0;
}

void lw_objects_free(struct lw_objects *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(table); i++)
		if (table[i]->free)
			table[i]->free(s);
}

/* The last first: a Reboot or Factory Reset (Device) starts after the rest pending. */
void lw_objects_run_hooks(struct lw_objects *s)
{
	for (size_t i = ARRAY_SIZE(table); i-- > 0;)
		if (table[i]->run)
			table[i]->run(s);
}

bool lw_objects_busy(const struct lw_objects *s)
{
	return s->hook_pid > 0 || s->pending_hook || s->vpn_pending || s->renewal || lw_fw_busy(s);
}
