/* SPDX-License-Identifier: MIT */
/*
 * The objects: 0 Security and 1 Server (from the dm: section), 3 Device
 * (device: section and the system), 4 Connectivity Monitoring (getifaddrs,
 * /proc/net/route), 6 Location (a file), and 33810, the project's VPN and
 * certificate object (libm2m's VPN API).
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include "base/base.h"
#include "lwm2m/objects.h"
#include "m2m/pki.h"

extern char **environ;

#define OBJS(o) ((struct lw_objects *)(o)->priv)

static int str(struct lw_value *v, const char *s)
{
	v->type = LW_STRING;
	v->buf = (uint8_t *)(s ? s : "");
	v->len = strlen((const char *)v->buf);
	return 0;
}

static int integer(struct lw_value *v, int64_t i)
{
	v->type = LW_INTEGER;
	v->i = i;
	return 0;
}

/* ---- 0 Security: never readable by a server (hidden), present for bootstrap ---- */

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

/* ---- 1 Server ---- */

static const struct lw_res_def server_res[] = {
	{ 0, LW_INTEGER, LW_OP_R, false },            /* Short Server ID */
	{ 1, LW_INTEGER, LW_OP_R | LW_OP_W, false },  /* Lifetime */
	{ 2, LW_INTEGER, LW_OP_R | LW_OP_W, false },  /* Default Minimum Period */
	{ 3, LW_INTEGER, LW_OP_R | LW_OP_W, false },  /* Default Maximum Period */
	{ 6, LW_BOOLEAN, LW_OP_R | LW_OP_W, false },  /* Notification Storing */
	{ 7, LW_STRING, LW_OP_R | LW_OP_W, false },   /* Binding */
	{ 8, LW_NONE, LW_OP_E, false },               /* Registration Update Trigger */
};

static int server_read(struct lw_object *o, uint16_t inst, uint16_t res, uint16_t ri,
		       struct lw_value *v)
{
	struct lw_objects *s = OBJS(o);

	switch (res) {
	case 0: return integer(v, 1);
	case 1: return integer(v, s->lifetime_s);
	case 2: return integer(v, s->dflt_pmin);
	case 3: return integer(v, s->dflt_pmax);
	case 6: v->type = LW_BOOLEAN; v->i = s->notif_storing; return 0;
	case 7: return str(v, s->binding == M2M_DM_BINDING_UQ ? "UQ" : "U");
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

static const struct lw_object_ops server_ops = {
	.read = server_read, .write = server_write, .exec = server_exec,
};

/* ---- 3 Device ---- */

static const struct lw_res_def device_res[] = {
	{ 0, LW_STRING, LW_OP_R, false },   /* Manufacturer */
	{ 1, LW_STRING, LW_OP_R, false },   /* Model Number */
	{ 2, LW_STRING, LW_OP_R, false },   /* Serial Number */
	{ 3, LW_STRING, LW_OP_R, false },   /* Firmware Version: the kernel */
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
	case 3:
		if (uname(&u))
			return LW_NOT_FOUND;
		snprintf(s->scratch, sizeof(s->scratch), "%s %s", u.sysname, u.release);
		return str(v, s->scratch);
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

static void vpn_run_pending(struct lw_objects *s);

void lw_objects_run_hooks(struct lw_objects *s)
{
	char *argv[2];
	int st;

	vpn_run_pending(s);
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

/* ---- 4 Connectivity Monitoring ---- */

static const struct lw_res_def connmon_res[] = {
	{ 0, LW_INTEGER, LW_OP_R, false }, /* Network Bearer */
	{ 1, LW_INTEGER, LW_OP_R, true },  /* Available Network Bearer */
	{ 2, LW_INTEGER, LW_OP_R, false }, /* Radio Signal Strength */
	{ 4, LW_STRING, LW_OP_R, true },   /* IP Addresses */
	{ 5, LW_STRING, LW_OP_R, true },   /* Router IP Addresses */
};

/* The default route's interface and gateway from /proc/net/route. */
static bool default_route(char *ifname, size_t iflen, char *gw, size_t gwlen)
{
	FILE *f = fopen("/proc/net/route", "re");
	char line[256], name[IFNAMSIZ];
	unsigned dest, gate, flags;
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%15s %x %x %x", name, &dest, &gate, &flags) != 4)
			continue;
		if (dest == 0 && (flags & 0x2)) {
			struct in_addr a = { .s_addr = gate };

			snprintf(ifname, iflen, "%s", name);
			inet_ntop(AF_INET, &a, gw, (socklen_t)gwlen);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* LwM2M bearer codes: 41 Ethernet, 21 WLAN, 6 LTE-FDD (cellular modems) */
static int bearer_of(const char *ifname)
{
	if (strncmp(ifname, "wl", 2) == 0)
		return 21;
	if (strncmp(ifname, "ww", 2) == 0 || strncmp(ifname, "rmnet", 5) == 0 ||
	    strncmp(ifname, "usb", 3) == 0)
		return 6;
	return 41;
}

/* The ri-th global address of an up, non-loopback interface; false past the end. */
static bool nth_address(unsigned ri, char *out, size_t len)
{
	struct ifaddrs *ifa, *i;
	unsigned n = 0;
	bool found = false;

	if (getifaddrs(&ifa))
		return false;
	for (i = ifa; i && !found; i = i->ifa_next) {
		const void *a;

		if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			a = &((struct sockaddr_in *)i->ifa_addr)->sin_addr;
		else if (i->ifa_addr->sa_family == AF_INET6 &&
			 !IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr))
			a = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
		else
			continue;
		if (n++ == ri) {
			inet_ntop(i->ifa_addr->sa_family, a, out, (socklen_t)len);
			found = true;
		}
	}
	freeifaddrs(ifa);
	return found;
}

static int connmon_count(struct lw_object *o, uint16_t inst, uint16_t res)
{
	char b[64], ifn[IFNAMSIZ];
	int n = 0;

	if (res == 1)
		return 1;
	if (res == 5)
		return default_route(ifn, sizeof(ifn), b, sizeof(b)) ? 1 : 0;
	while (n < 32 && nth_address((unsigned)n, b, sizeof(b)))
		n++;
	return n;
}

static int connmon_read(struct lw_object *o, uint16_t inst, uint16_t res, uint16_t ri,
			struct lw_value *v)
{
	struct lw_objects *s = OBJS(o);
	char ifn[IFNAMSIZ] = "eth0", gw[64];

	switch (res) {
	case 0:
	case 1:
		default_route(ifn, sizeof(ifn), gw, sizeof(gw));
		return integer(v, bearer_of(ifn));
	case 2:
		return integer(v, 0); /* wired: no radio; modems report through their own tools */
	case 4:
		if (!nth_address(ri, s->scratch, sizeof(s->scratch)))
			return LW_NOT_FOUND;
		return str(v, s->scratch);
	case 5:
		if (!default_route(ifn, sizeof(ifn), s->scratch, sizeof(s->scratch)))
			return LW_NOT_FOUND;
		return str(v, s->scratch);
	}
	return LW_NOT_FOUND;
}

static const struct lw_object_ops connmon_ops = { .read = connmon_read, .count = connmon_count };

/* ---- 6 Location: "latitude longitude [altitude [radius]]" in a file ---- */

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

/* ---- 33810 m2m VPN and certificate ---- */

static const struct lw_res_def vpn_res[] = {
	{ 0, LW_STRING, LW_OP_R, false },  /* Profile */
	{ 1, LW_STRING, LW_OP_R, false },  /* State: down, connecting, up */
	{ 2, LW_STRING, LW_OP_R, true },   /* Virtual IP */
	{ 3, LW_STRING, LW_OP_R, false },  /* Last Error */
	{ 4, LW_INTEGER, LW_OP_R, false }, /* Bytes In */
	{ 5, LW_INTEGER, LW_OP_R, false }, /* Bytes Out */
	{ 6, LW_NONE, LW_OP_E, false },    /* Connect */
	{ 7, LW_NONE, LW_OP_E, false },    /* Disconnect */
	{ 8, LW_STRING, LW_OP_R, false },  /* Certificate Subject */
	{ 9, LW_TIME, LW_OP_R, false },    /* Certificate Not After */
	{ 10, LW_STRING, LW_OP_R, false }, /* Certificate Renewal State */
	{ 11, LW_STRING, LW_OP_R, false }, /* Certificate Store */
	{ 12, LW_INTEGER, LW_OP_R, false },/* Last Result Code (m2m exit code) */
};

static void vpn_refresh(struct lw_objects *s)
{
	struct m2m_err err;
	uint64_t now = m2m_now_ms();

	if (s->vst_at && now - s->vst_at < 1000)
		return;
	s->vst_at = now;
	for (size_t i = 0; i < s->cfg->n_profiles && i < LW_MAX_INST; i++) {
		m2m_err_clear(&err);
		memset(&s->vst[i], 0, sizeof(s->vst[i]));
		if (!s->vpn_handle && m2m_vpn_open(s->cfg, &s->vpn_handle, &err))
			s->vpn_handle = NULL;
		s->vst_rc[i] = s->vpn_handle ?
			       m2m_vpn_status(s->vpn_handle, s->cfg->profiles[i].name, &s->vst[i], &err) :
			       err.rc;
		snprintf(s->vst_err[i], sizeof(s->vst_err[i]), "%s", s->vst_rc[i] ? err.msg : "");
	}
}

/* Subject and notAfter of a profile's certificate file (PKCS#12 needs its PIN: not read). */
static bool vpn_cert(const struct m2m_vpn_profile *p, char *subject, size_t len, time_t *na)
{
	struct m2m_cert_info ci;
	struct m2m_err err;

	if (!p->cert || m2m_cert_info_file(p->cert, &ci, &err))
		return false;
	snprintf(subject, len, "%s", ci.subject);
	*na = ci.not_after;
	return true;
}

static int vpn_count(struct lw_object *o, uint16_t inst, uint16_t res)
{
	struct lw_objects *s = OBJS(o);

	vpn_refresh(s);
	return (int)s->vst[inst].n_vips;
}

static int vpn_read(struct lw_object *o, uint16_t inst, uint16_t res, uint16_t ri,
		    struct lw_value *v)
{
	struct lw_objects *s = OBJS(o);
	const struct m2m_vpn_profile *p = &s->cfg->profiles[inst];
	struct m2m_vpn_status *st = &s->vst[inst];
	time_t na = 0;
	bool cert;

	if (res <= 5 || res == 12)
		vpn_refresh(s);
	switch (res) {
	case 0: return str(v, p->name);
	case 1: return str(v, s->vst_rc[inst] ? "unknown" : m2m_vpn_state_name(st->state));
	case 2: return ri < st->n_vips ? str(v, st->vips[ri]) : LW_NOT_FOUND;
	case 3: return str(v, s->vst_rc[inst] ? s->vst_err[inst] : st->last_error);
	case 4: return integer(v, (int64_t)st->bytes_in);
	case 5: return integer(v, (int64_t)st->bytes_out);
	case 11: {
		static const char *const stores[] = { "file", "pkcs12", "pkcs11", "tpm", "machine",
						      "none", "file" };

		return str(v, (size_t)p->auth < 7 ? stores[p->auth] : "unknown");
	}
	case 12: return integer(v, s->vst_rc[inst] ? s->vst_rc[inst] : st->last_rc);
	}
	cert = vpn_cert(p, s->scratch, sizeof(s->scratch), &na);
	switch (res) {
	case 8:
		return cert ? str(v, s->scratch) : LW_NOT_FOUND;
	case 9:
		if (!cert)
			return LW_NOT_FOUND;
		v->type = LW_TIME;
		v->i = na;
		return 0;
	case 10:
		if (!cert)
			return str(v, "unknown");
		/* renewal is due in the last 30 days, as m2mvpn-cert will see it */
		return str(v, na < time(NULL) ? "expired" :
			      na < time(NULL) + 30 * 86400 ? "due" : "valid");
	}
	return LW_NOT_FOUND;
}

static int vpn_exec(struct lw_object *o, uint16_t inst, uint16_t res, const uint8_t *arg,
		    size_t len)
{
	struct lw_objects *s = OBJS(o);
	struct m2m_err err;

	m2m_err_clear(&err);
	if (!s->vpn_handle && m2m_vpn_open(s->cfg, &s->vpn_handle, &err))
		return LW_INTERNAL;
	if (s->vpn_pending)
		return LW_SERVICE_UNAVAILABLE; /* one at a time */
	/*
	 * Done once the answer (2.04: accepted) is out, not inside the request:
	 * a connect takes up to 20 s, and the server would retransmit its
	 * Execute meanwhile. The outcome shows in the profile's State and Last
	 * Error resources.
	 */
	s->vpn_pending = true;
	s->vpn_inst = inst;
	s->vpn_res = res;
	return 0;
}

static void vpn_run_pending(struct lw_objects *s)
{
	const char *name;
	struct m2m_err err;

	if (!s->vpn_pending || !s->vpn_handle)
		return;
	s->vpn_pending = false;
	name = s->cfg->profiles[s->vpn_inst].name;
	m2m_err_clear(&err);
	/* the result is kept by the library as the profile's last error */
	if (s->vpn_res == 6)
		m2m_vpn_up(s->vpn_handle, name, 20 * 1000, NULL, &err);
	else
		m2m_vpn_down(s->vpn_handle, name, 10 * 1000, &err);
	s->vst_at = 0;
}

static const struct lw_object_ops vpn_ops = {
	.read = vpn_read, .count = vpn_count, .exec = vpn_exec,
};

/* ------------------------------------------------------------------------ */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void obj(struct lw_object *o, struct lw_objects *s, uint16_t id, const char *ver,
		const struct lw_res_def *res, size_t n, const struct lw_object_ops *ops,
		size_t n_inst)
{
	o->id = id;
	o->version = ver;
	o->res = res;
	o->n_res = n;
	o->ops = ops;
	o->priv = s;
	o->n_inst = n_inst;
	for (size_t i = 0; i < n_inst; i++)
		o->inst[i] = (uint16_t)i;
}

int lw_objects_init(struct lw_objects *s, const struct m2m_config *cfg,
		    struct lw_registry *reg)
{
	int rc = 0;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->lifetime_s = cfg->dm.lifetime_ms / 1000;
	s->binding = cfg->dm.binding;
	s->notif_storing = true; /* LwM2M: the server may turn it off */
	obj(&s->security, s, 0, NULL, security_res, ARRAY_SIZE(security_res), &security_ops, 1);
	s->security.hidden = true;
	obj(&s->server, s, 1, "1.1", server_res, ARRAY_SIZE(server_res), &server_ops, 1);
	obj(&s->device, s, 3, "1.1", device_res, ARRAY_SIZE(device_res), &device_ops, 1);
	obj(&s->connmon, s, 4, NULL, connmon_res, ARRAY_SIZE(connmon_res), &connmon_ops, 1);
	obj(&s->location, s, 6, NULL, location_res, ARRAY_SIZE(location_res), &location_ops,
	    cfg->dm.location ? 1 : 0);
	obj(&s->vpn, s, LW_OBJ_M2M_VPN, NULL, vpn_res, ARRAY_SIZE(vpn_res), &vpn_ops,
	    cfg->n_profiles < LW_MAX_INST ? cfg->n_profiles : LW_MAX_INST);
	rc |= lw_registry_add(reg, &s->security);
	rc |= lw_registry_add(reg, &s->server);
	rc |= lw_registry_add(reg, &s->device);
	rc |= lw_registry_add(reg, &s->connmon);
	rc |= lw_registry_add(reg, &s->location);
	rc |= lw_registry_add(reg, &s->vpn);
	return rc ? LW_INTERNAL : 0;
}

void lw_objects_free(struct lw_objects *s)
{
	m2m_vpn_close(s->vpn_handle);
	s->vpn_handle = NULL;
}
