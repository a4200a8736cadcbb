/* SPDX-License-Identifier: MIT */
/*
 * Internal to the objects (obj_*.c, objects.c): what an object file gives
 * the table in objects.c, and the small helpers its callbacks share. A new
 * object is a file with its lw_object_def and one row in that table.
 */
#ifndef M2M_LWM2M_OBJ_INT_H
#define M2M_LWM2M_OBJ_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "lwm2m/objects.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Every object's priv is the struct lw_objects it belongs to. */
#define OBJS(o) ((struct lw_objects *)(o)->priv)

struct lw_object_def {
	uint16_t id;
	const char *version;           /* "1.1", NULL for 1.0 */
	const struct lw_res_def *res;  /* sorted by id */
	size_t n_res;
	const struct lw_object_ops *ops;
	bool hidden;                   /* not announced at registration */
	/* the instances 0..n-1 a configuration gives it (NULL: one) */
	size_t (*instances)(const struct m2m_config *cfg);
	/* what an Execute asked for, started once its answer is out (NULL: none) */
	void (*run)(struct lw_objects *s);
	/* on lw_objects_free() (NULL: nothing to release) */
	void (*free)(struct lw_objects *s);
};

extern const struct lw_object_def lw_obj_security, lw_obj_server, lw_obj_device,
	lw_obj_connmon, lw_obj_location, lw_obj_vpn, lw_obj_firmware, lw_obj_policy;

struct m2m_update_status;
/* obj_firmware.c: after the server's Update, the install waits for a boot into its slot
   (the device's reboot hook is run then) */
bool lw_fw_reboot_due(const struct m2m_update_status *st);
/* obj_firmware.c: the engine's worker runs or is not joined yet, or a push is under way */
bool lw_fw_busy(const struct lw_objects *s);

/*
 * obj_vpn_renew.c: the renewal the server ordered of profile inst, begun in a
 * worker thread that calls s->renew_fn with timeout_ms; 0 or an errno.
 */
int lw_renew_start(struct lw_objects *s, uint16_t inst, bool new_key, unsigned timeout_ms);
/*
 * obj_vpn_renew.c: the worker joined once it ended (wait: waited for, at
 * the end of the client), and what came of it in the profile's Last Renewal,
 * the log and the state directory.
 */
void lw_renew_reap(struct lw_objects *s, bool wait);
/* obj_vpn_renew.c: what Last Renewal of inst reads while its renewal runs; NULL if none runs */
const char *lw_renew_running(const struct lw_objects *s, uint16_t inst);

/*
 * orders.c: what came of the server's last orders (Last Renewal of each
 * profile, Last Order), read back from the state directory when the objects
 * are built (a file not as written is set aside: s->orders_why says why),
 * and kept there whenever one changes (the CoAP loop's thread).
 */
void lw_orders_load(struct lw_objects *s);
void lw_orders_save(struct lw_objects *s);

/* A string value the read callbacks hand out (NULL reads as ""). */
static inline int str(struct lw_value *v, const char *s)
{
	v->type = LW_STRING;
	v->buf = (uint8_t *)(s ? s : "");
	v->len = strlen((const char *)v->buf);
	return 0;
}

static inline int integer(struct lw_value *v, int64_t i)
{
	v->type = LW_INTEGER;
	v->i = i;
	return 0;
}

#endif
