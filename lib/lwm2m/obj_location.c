/* SPDX-License-Identifier: MIT */
/* Object 6 Location: "latitude longitude [altitude [radius]]" in the file dm.location. */
#include <stdio.h>
#include <sys/stat.h>

#include "lwm2m/obj_int.h"

static const struct lw_res_def location_res[] = {
	{ 0, LW_FLOAT, LW_OP_R, false }, /* Latitude */
	{ 1, LW_FLOAT, LW_OP_R, false }, /* Longitude */
	{ 2, LW_FLOAT, LW_OP_R, false }, /* Altitude */
	{ 3, LW_FLOAT, LW_OP_R, false }, /* Radius */
	{ 5, LW_TIME, LW_OP_R, false },  /* Timestamp: the file's mtime */
};

static int location_read(struct lw_object *o, uint16_t inst, uint16_t res, uint16_t ri,
			 struct lw_value *v)
{
	struct lw_objects *s = OBJS(o);
	double d[4];
	struct stat st;
	FILE *f;
	int n;

	f = fopen(s->cfg->dm.location, "re");
	if (!f)
		return LW_NOT_FOUND;
	n = fscanf(f, "%lf %lf %lf %lf", &d[0], &d[1], &d[2], &d[3]);
	if (fstat(fileno(f), &st))
		n = 0;
	fclose(f);
	if (n < 2 || d[0] < -90 || d[0] > 90 || d[1] < -180 || d[1] > 180)
		return LW_NOT_FOUND;
	if (res == 5) {
		v->type = LW_TIME;
		v->i = st.st_mtime;
		return 0;
	}
	if (res >= n)
		return LW_NOT_FOUND;
	v->type = LW_FLOAT;
	v->f = d[res];
	return 0;
}

static const struct lw_object_ops location_ops = { .read = location_read };

/* one instance if the configuration names the file */
static size_t location_instances(const struct m2m_config *cfg)
{
	return cfg->dm.location ? 1 : 0;
}

const struct lw_object_def lw_obj_location = {
	.id = 6, .res = location_res, .n_res = ARRAY_SIZE(location_res), .ops = &location_ops,
	.instances = location_instances,
};
