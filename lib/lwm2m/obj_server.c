/* SPDX-License-Identifier: MIT */
/*
 * Object 1 Server: lifetime, binding, the notification defaults and Mute Send
 * the server may write; its instance ID and Short Server ID those a bootstrap
 * server wrote (TS 1.1 Core appendix E.2: the Server instance is linked to its
 * Security instance by the Short Server ID, not by the instance ID).
 */
#include <string.h>

#include "lwm2m/obj_int.h"
#include "lwm2m/state.h"

static const struct lw_res_def server_res[] = {
	{ 0, LW_INTEGER, LW_OP_R, false },            /* Short Server ID */
	{ 1, LW_INTEGER, LW_OP_R | LW_OP_W, false },  /* Lifetime */
	{ 2, LW_INTEGER, LW_OP_R | LW_OP_W, false },  /* Default Minimum Period */
	{ 3, LW_INTEGER, LW_OP_R | LW_OP_W, false },  /* Default Maximum Period */
	/* what the bootstrap server wrote; read only here: a Write would not outlive the run */
	{ 5, LW_INTEGER, LW_OP_R, false },            /* Disable Timeout */
	{ 6, LW_BOOLEAN, LW_OP_R | LW_OP_W, false },  /* Notification Storing */
	{ 7, LW_STRING, LW_OP_R | LW_OP_W, false },   /* Binding */
	{ 8, LW_NONE, LW_OP_E, false },               /* Registration Update Trigger */
	{ 23, LW_BOOLEAN, LW_OP_R | LW_OP_W, false }, /* Mute Send (TS 1.1 Core E.2) */
};

static int server_read(struct lw_object *o, uint16_t inst, uint16_t res, uint16_t ri,
		       struct lw_value *v)
{
	struct lw_objects *s = OBJS(o);

	switch (res) {
	case 0: return integer(v, s->ssid);
	case 1: return integer(v, s->lifetime_s);
	case 2: return integer(v, s->dflt_pmin);
	case 3: return integer(v, s->dflt_pmax);
	case 5: return integer(v, s->disable_s);
	case 6: v->type = LW_BOOLEAN; v->i = s->notif_storing; return 0;
	case 7: return str(v, s->binding == M2M_DM_BINDING_UQ ? "UQ" : "U");
	case 23: v->type = LW_BOOLEAN; v->i = s->mute_send; return 0;
	}
	return LW_NOT_FOUND;
}

static int server_write(struct lw_object *o, uint16_t inst, uint16_t res,
			const struct lw_value *v, bool apply)
{
	struct lw_objects *s = OBJS(o);

	switch (res) {
	case 1:
		if (v->i < 10 || v->i > 86400 * 31)
			return LW_BAD_REQUEST;
		if (!apply)
			return 0;
		s->update_due = s->update_due || (unsigned)v->i != s->lifetime_s;
		s->lifetime_s = (unsigned)v->i;
		return 0;
	case 2:
	case 3:
		if (v->i < 0 || v->i > 86400)
			return LW_BAD_REQUEST;
		if (!apply)
			return 0;
		*(res == 2 ? &s->dflt_pmin : &s->dflt_pmax) = (unsigned)v->i;
		return 0;
	case 6:
		if (apply)
			s->notif_storing = v->i != 0;
		return 0;
	case 23:
		if (apply)
			s->mute_send = v->i != 0;
		return 0;
	case 7: {
		unsigned b = v->len == 1 && v->buf[0] == 'U' ? M2M_DM_BINDING_U :
			     v->len == 2 && memcmp(v->buf, "UQ", 2) == 0 ? M2M_DM_BINDING_UQ : ~0u;

		if (b == ~0u)
			return LW_BAD_REQUEST;
		if (!apply)
			return 0;
		s->update_due = s->update_due || s->binding != b;
		s->binding = b;
		return 0;
	}
	}
	return LW_NOT_ALLOWED;
}

static int server_exec(struct lw_object *o, uint16_t inst, uint16_t res, const uint8_t *arg,
		       size_t len)
{
	OBJS(o)->update_due = true;
	return 0;
}

void lw_objects_bootstrapped(struct lw_objects *s, const struct lw_bs_server *bs)
{
	for (size_t i = 0; i < LW_MAX_OBJ; i++) {
		if (s->obj[i].id == 0 && s->obj[i].n_inst)
			s->obj[i].inst[0] = bs->sec_inst;
		else if (s->obj[i].id == 1 && s->obj[i].n_inst)
			s->obj[i].inst[0] = bs->srv_inst;
	}
	s->ssid = bs->ssid;
	if (bs->lifetime)
		s->lifetime_s = bs->lifetime;
	s->binding = strcmp(bs->binding, "UQ") == 0 ? M2M_DM_BINDING_UQ : M2M_DM_BINDING_U;
	if (bs->has & LW_BS_HAS_PMIN)
		s->dflt_pmin = bs->dflt_pmin;
	if (bs->has & LW_BS_HAS_PMAX)
		s->dflt_pmax = bs->dflt_pmax;
	if (bs->has & LW_BS_HAS_DISABLE)
		s->disable_s = bs->disable_timeout;
	if (bs->has & LW_BS_HAS_STORING)
		s->notif_storing = bs->notif_storing;
}

static const struct lw_object_ops server_ops = {
	.read = server_read, .write = server_write, .exec = server_exec,
};

const struct lw_object_def lw_obj_server = {
	.id = 1, .version = "1.1", .res = server_res, .n_res = ARRAY_SIZE(server_res),
	.ops = &server_ops,
};
