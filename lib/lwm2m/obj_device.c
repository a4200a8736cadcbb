/* SPDX-License-Identifier: MIT */
/*
 * Object 3 Device: the device: section and the system (uname, sysinfo,
 * the clock); Reboot and Factory Reset run the configured hooks. Firmware
 * Version is the version of the firmware package last committed (lib/update:
 * the one the device runs), the running kernel until one was.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lwm2m/obj_int.h"
#include "m2m/update.h"

extern char **environ;

static const struct lw_res_def device_res[] = {
	{ 0, LW_STRING, LW_OP_R, false },   /* Manufacturer */
	{ 1, LW_STRING, LW_OP_R, false },   /* Model Number */
	{ 2, LW_STRING, LW_OP_R, false },   /* Serial Number */
	{ 3, LW_STRING, LW_OP_R, false },   /* Firmware Version */
	{ 4, LW_NONE, LW_OP_E, false },     /* Reboot */
	{ 5, LW_NONE, LW_OP_E, false },     /* Factory Reset */
	{ 10, LW_INTEGER, LW_OP_R, false }, /* Memory Free (KiB) */
	{ 11, LW_INTEGER, LW_OP_R, true },  /* Error Code */
	{ 12, LW_NONE, LW_OP_E, false },    /* Reset Error Code */
	{ 13, LW_TIME, LW_OP_R, false },    /* Current Time */
	{ 14, LW_STRING, LW_OP_R | LW_OP_W, false }, /* UTC Offset */
	{ 15, LW_STRING, LW_OP_R | LW_OP_W, false }, /* Timezone */
	{ 16, LW_STRING, LW_OP_R, false },  /* Supported Binding and Modes */
	{ 17, LW_STRING, LW_OP_R, false },  /* Device Type */
	{ 19, LW_STRING, LW_OP_R, false },  /* Software Version: libm2m */
	{ 21, LW_INTEGER, LW_OP_R, false }, /* Memory Total (KiB) */
};

static int device_read(struct lw_object *o, uint16_t inst, uint16_t res, uint16_t ri,
		       struct lw_value *v)
{
	struct lw_objects *s = OBJS(o);
	const struct m2m_config *cfg = s->cfg;
	struct utsname u;
	struct sysinfo si;

	switch (res) {
	case 0: return cfg->device.manufacturer ? str(v, cfg->device.manufacturer) : LW_NOT_FOUND;
	case 1: return cfg->device.model ? str(v, cfg->device.model) : LW_NOT_FOUND;
	case 2: return cfg->device.serial ? str(v, cfg->device.serial) : LW_NOT_FOUND;
	case 3: {
		char name[64];

		/* a committed firmware package (its version); without one, the kernel */
		if (cfg->update && !m2m_update_firmware(cfg, name, sizeof(name), s->scratch,
							 sizeof(s->scratch), NULL))
			return str(v, s->scratch);
		if (uname(&u))
			return LW_NOT_FOUND;
		snprintf(s->scratch, sizeof(s->scratch), "%s %s", u.sysname, u.release);
		return str(v, s->scratch);
	}
	case 10:
	case 21:
		if (sysinfo(&si))
			return LW_NOT_FOUND;
		return integer(v, (int64_t)((res == 10 ? si.freeram : si.totalram) *
					    (uint64_t)si.mem_unit / 1024));
	case 11:
		return integer(v, 0); /* no error */
	case 13:
		v->type = LW_TIME;
		v->i = time(NULL);
		return 0;
	case 14:
		if (!s->utc_offset[0]) {
			time_t t = time(NULL);
			struct tm tm;
			int off, h, m;

			localtime_r(&t, &tm);
			off = (int)(tm.tm_gmtoff / 60);
			h = (abs(off) / 60) % 24;
			m = abs(off) % 60;
			snprintf(s->utc_offset, sizeof(s->utc_offset), "%c%02d:%02d",
				 off < 0 ? '-' : '+', h, m);
		}
		return str(v, s->utc_offset);
	case 15:
		if (!s->timezone[0]) {
			const char *tz = getenv("TZ");
			ssize_t n;

			if (tz && *tz) {
				snprintf(s->timezone, sizeof(s->timezone), "%s", tz);
			} else {
				n = readlink("/etc/localtime", s->scratch, sizeof(s->scratch) - 1);
				s->scratch[n > 0 ? n : 0] = 0;
				tz = strstr(s->scratch, "zoneinfo/");
				snprintf(s->timezone, sizeof(s->timezone), "%s", tz ? tz + 9 : "UTC");
			}
		}
		return str(v, s->timezone);
	case 16: return str(v, "UQ");
	case 17: return str(v, "m2m gateway");
	case 19: return str(v, "libm2m " M2M_VERSION);
	}
	return LW_NOT_FOUND;
}

static int device_count(struct lw_object *o, uint16_t inst, uint16_t res)
{
	return res == 11 ? 1 : 0;
}

static int device_write(struct lw_object *o, uint16_t inst, uint16_t res,
			const struct lw_value *v, bool apply)
{
	struct lw_objects *s = OBJS(o);

	if (res == 14) {
		/* "+02:00", "-0530", "Z": checked loosely, stored as given */
		if (v->len >= sizeof(s->utc_offset) || v->len < 1 ||
		    !strchr("+-Z", v->buf[0]))
			return LW_BAD_REQUEST;
		if (!apply)
			return 0;
		memcpy(s->utc_offset, v->buf, v->len);
		s->utc_offset[v->len] = 0;
		return 0;
	}
	if (res == 15) {
		if (v->len >= sizeof(s->timezone) || !v->len)
			return LW_BAD_REQUEST;
		if (!apply)
			return 0;
		memcpy(s->timezone, v->buf, v->len);
		s->timezone[v->len] = 0;
		return 0;
	}
	return LW_NOT_ALLOWED;
}

static int device_exec(struct lw_object *o, uint16_t inst, uint16_t res, const uint8_t *arg,
		       size_t len)
{
	struct lw_objects *s = OBJS(o);
	const char *hook = NULL;

	if (res == 12)
		return 0; /* no error codes are latched */
	hook = res == 4 ? s->cfg->dm.reboot_hook : s->cfg->dm.factory_reset_hook;
	if (!hook)
		return LW_NOT_ALLOWED; /* not configured: this device does not do it remotely */
	s->pending_hook = hook;
	return 0;
}

static const struct lw_object_ops device_ops = {
	.read = device_read, .count = device_count, .write = device_write, .exec = device_exec,
};

/* A Reboot or Factory Reset once its answer is out; reap the one before. */
static void device_run(struct lw_objects *s)
{
	char *argv[2];
	int st;

	if (s->hook_pid > 0 && waitpid(s->hook_pid, &st, WNOHANG) == s->hook_pid)
		s->hook_pid = 0;
	if (!s->pending_hook || s->hook_pid > 0)
		return;
	argv[0] = (char *)s->pending_hook;
	argv[1] = NULL;
	if (posix_spawn(&s->hook_pid, s->pending_hook, NULL, NULL, argv, environ))
		s->hook_pid = 0;
	s->pending_hook = NULL;
}

const struct lw_object_def lw_obj_device = {
	.id = 3, .version = "1.1", .res = device_res, .n_res = ARRAY_SIZE(device_res),
	.ops = &device_ops, .run = device_run,
};
