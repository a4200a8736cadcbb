/* SPDX-License-Identifier: MIT */
/* Object 0 Security: present for the bootstrap server, never readable by a server. */
#include "lwm2m/obj_int.h"

static const struct lw_res_def security_res[] = {
	{ 0, LW_STRING, 0, false },   /* LwM2M Server URI */
	{ 1, LW_BOOLEAN, 0, false },  /* Bootstrap-Server */
	{ 2, LW_INTEGER, 0, false },  /* Security Mode */
	{ 10, LW_INTEGER, 0, false }, /* Short Server ID */
};

static int security_read(struct lw_object *o, uint16_t inst, uint16_t res, uint16_t ri,
			 struct lw_value *v)
{
	return LW_UNAUTHORIZED;
}

static const struct lw_object_ops security_ops = { .read = security_read };

const struct lw_object_def lw_obj_security = {
	.id = 0, .res = security_res, .n_res = ARRAY_SIZE(security_res), .ops = &security_ops,
	.hidden = true,
};
