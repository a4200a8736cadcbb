/* SPDX-License-Identifier: MIT */
/*
 * The policy: section of m2m.yaml(5): the device's location fence, the SIM it
 * is bound to, its case's tamper switch, what breaking each does, and what
 * still passes in quarantine.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

static const struct cfg_choice actions[] = {
	{ "quarantine", M2M_POLICY_QUARANTINE },
	{ "log", M2M_POLICY_LOG },
};

static int get_action(struct cfg_ctx *c, const struct cfg_node *v, enum m2m_policy_action *out)
{
	int a, rc = cfg_get_enum(c, v, actions, ARRAY_SIZE(actions), &a);

	if (!rc)
		*out = (enum m2m_policy_action)a;
	return rc;
}

/* A plain decimal number, as a coordinate is written: no hex, no exponent, no inf or nan. */
static bool plain_number(const char *s, double *out)
{
	const char *p = s;
	char *end;

	if (*p == '-' || *p == '+')
		p++;
	if (!(*p >= '0' && *p <= '9'))
		return false;
	for (; *p; p++)
		if (!((*p >= '0' && *p <= '9') || *p == '.'))
			return false;
	errno = 0;
	*out = strtod(s, &end);
	return errno == 0 && *end == '\0' && isfinite(*out);
}

static int get_degrees(struct cfg_ctx *c, const struct cfg_node *v, double limit, double *out)
{
	char expected[96], b[QMAX * 4 + 8];
	const char *s;
	int rc;

	snprintf(expected, sizeof(expected), "degrees as a decimal number from %g to %g", -limit,
		 limit);
	rc = cfg_text(c, v, expected, &s);
	if (rc)
		return rc;
	if (!plain_number(s, out) || *out < -limit || *out > limit)
		return cfg_fail(c, v, "invalid coordinate '%s'; expected %s", cfg_q(v, b, sizeof(b)),
				expected);
	return M2M_OK;
}

/* A distance: a number with unit m or km (none: metres), 10 m to 20000 km. */
static int get_distance(struct cfg_ctx *c, const struct cfg_node *v, double *out)
{
	static const char expected[] = "a distance with unit m or km (none: metres), such as 500m "
				       "or 2.5km, from 10m to 20000km";
	char num[32], b[QMAX * 4 + 8];
	const char *s;
	size_t n;
	double d, unit = 1;
	int rc = cfg_text(c, v, expected, &s);

	if (rc)
		return rc;
	n = strlen(s);
	if (n > 2 && strcmp(s + n - 2, "km") == 0) {
		unit = 1000;
		n -= 2;
	} else if (n > 1 && s[n - 1] == 'm') {
		n -= 1;
	}
	if (n == 0 || n >= sizeof(num) || s[0] == '-' || s[0] == '+')
		goto bad;
	memcpy(num, s, n);
	num[n] = '\0';
	if (!plain_number(num, &d))
		goto bad;
	d *= unit;
	if (d < 10 || d > 20000e3)
		goto bad;
	*out = d;
	return M2M_OK;
bad:
	return cfg_fail(c, v, "invalid distance '%s'; expected %s", cfg_q(v, b, sizeof(b)), expected);
}

/* host:port, [v6]:port, host or [v6]: gpsd's address */
static int get_gpsd(struct cfg_ctx *c, const struct cfg_node *v, struct m2m_policy_config *pc)
{
	static const char expected[] = "host:port of gpsd, such as localhost:2947";
	char b[QMAX * 4 + 8];
	const char *s, *colon, *host, *port = NULL;
	size_t hlen;
	int rc = cfg_text(c, v, expected, &s);

	if (rc)
		return rc;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb == s + 1 || (rb[1] && rb[1] != ':'))
			goto bad;
		host = s + 1;
		hlen = (size_t)(rb - host);
		port = rb[1] ? rb + 2 : NULL;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			goto bad; /* an IPv6 address goes in brackets */
		host = s;
		hlen = colon ? (size_t)(colon - s) : strlen(s);
		port = colon ? colon + 1 : NULL;
	}
	if (hlen == 0 || hlen > 253 || memchr(host, '/', hlen) || memchr(host, ' ', hlen))
		goto bad;
	if (port) {
		unsigned long n = 0;

		if (!*port || strlen(port) > 5)
			goto bad;
		for (const char *p = port; *p; p++) {
			if (*p < '0' || *p > '9')
				goto bad;
			n = n * 10 + (unsigned long)(*p - '0');
		}
		if (n == 0 || n > 65535)
			goto bad;
	}
	free(pc->gpsd_host);
	free(pc->gpsd_port);
	pc->gpsd_host = strndup(host, hlen);
	pc->gpsd_port = strdup(port ? port : "2947");
	if (!pc->gpsd_host || !pc->gpsd_port)
		return cfg_oom(c);
	return M2M_OK;
bad:
	return cfg_fail(c, v, "invalid gpsd address '%s'; expected %s", cfg_q(v, b, sizeof(b)),
			expected);
}

enum { F_LAT, F_LON, F_RADIUS, F_N };
static const char *const fence_keys[] = { "lat", "lon", "radius", NULL };

static int fence_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		     void *obj)
{
	struct m2m_policy_config *pc = obj;

	switch (k) {
	case F_LAT:
		return get_degrees(c, v, 90, &pc->fence_lat);
	case F_LON:
		return get_degrees(c, v, 180, &pc->fence_lon);
	case F_RADIUS:
		return get_distance(c, v, &pc->fence_radius_m);
	}
	return M2M_OK;
}

enum { L_GPSD, L_FENCE, L_MAX_AGE, L_OUTSIDE, L_NO_FIX, L_N };
static const char *const location_keys[] = { "gpsd", "fence", "max_age", "outside", "no_fix", NULL };

static int location_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
			const struct cfg_node *v, void *obj)
{
	struct m2m_policy_config *pc = obj;
	const struct cfg_node *seen[F_N] = { NULL };
	bool is_map;
	int rc;

	switch (k) {
	case L_GPSD:
		return get_gpsd(c, v, pc);
	case L_FENCE:
		rc = cfg_want_map(c, v, false, "a mapping with lat, lon and radius", &is_map);
		if (!rc)
			rc = cfg_walk(c, v, fence_keys, seen, fence_key, pc);
		for (int i = 0; !rc && i < F_N; i++)
			if (!seen[i])
				rc = cfg_missing(c, key, fence_keys[i],
						 i == F_RADIUS ? "the circle's radius, such as 500m"
							       : "the circle's centre in degrees");
		return rc;
	case L_MAX_AGE:
		return cfg_get_duration(c, v, true, &pc->max_age_ms);
	case L_OUTSIDE:
		return get_action(c, v, &pc->outside);
	case L_NO_FIX:
		return get_action(c, v, &pc->no_fix);
	}
	return M2M_OK;
}

/* An ICCID (ITU-T E.118): 18 to 22 digits, the last one may be F (padding) */
static const char *check_iccid(const char *s, char *hint, size_t len)
{
	size_t n = strlen(s);

	if (n < 18 || n > 22)
		return "not 18 to 22 digits";
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= '0' && s[i] <= '9') && !(i == n - 1 && (s[i] == 'F' || s[i] == 'f')))
			return "not digits";
	return NULL;
}

static const char *check_bus(const char *s, char *hint, size_t len)
{
	return strchr(s, ':') ? NULL : "not a D-Bus address";
}

static const struct cfg_vtype T_ICCID = { "ICCID", "the SIM's ICCID, 18 to 22 digits", check_iccid,
					  false };
static const struct cfg_vtype T_BUS = { "D-Bus address",
					"a D-Bus address such as unix:path=/run/dbus/system_bus_socket",
					check_bus, false };
static const struct cfg_vtype T_INPUT = { "path", "the file whose first word is the switch's state",
					  NULL, true };

enum { S_BUS, S_ICCID, S_CHANGED, S_N };
static const char *const sim_keys[] = { "bus", "iccid", "changed", NULL };

static int sim_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		   void *obj)
{
	struct m2m_policy_config *pc = obj;

	switch (k) {
	case S_BUS:
		return cfg_get_str(c, v, &T_BUS, &pc->sim_bus);
	case S_ICCID:
		return cfg_get_str(c, v, &T_ICCID, &pc->sim_iccid);
	case S_CHANGED:
		return get_action(c, v, &pc->sim_changed);
	}
	return M2M_OK;
}

enum { T_INPUT_K, T_OPEN, T_OPENED, T_N };
static const char *const tamper_keys[] = { "input", "open", "opened", NULL };

static int tamper_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
		      const struct cfg_node *v, void *obj)
{
	struct m2m_policy_config *pc = obj;
	char b[QMAX * 4 + 8];
	int rc;

	switch (k) {
	case T_INPUT_K:
		return cfg_get_str(c, v, &T_INPUT, &pc->tamper_input);
	case T_OPEN:
		free(pc->tamper_open);
		pc->tamper_open = NULL;
		rc = cfg_get_str(c, v, &cfg_vt_text, &pc->tamper_open);
		if (!rc && (strpbrk(pc->tamper_open, " \t") || strlen(pc->tamper_open) > 32))
			rc = cfg_fail(c, v, "invalid word '%s'; expected one word (at most 32 characters)",
				      cfg_q(v, b, sizeof(b)));
		return rc;
	case T_OPENED:
		return get_action(c, v, &pc->tamper_opened);
	}
	return M2M_OK;
}

enum { Q_ALLOW, Q_N };
static const char *const quarantine_keys[] = { "allow", NULL };

static int quarantine_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
			  const struct cfg_node *v, void *obj)
{
	struct m2m_policy_config *pc = obj;

	return cfg_get_list(c, v, &cfg_vt_cidr, &pc->quarantine_allow);
}

/* server: [release, wipe] or none: what the management server may order (object 33811) */
static const char *check_order(const char *s, char *hint, size_t len)
{
	return strcmp(s, "release") && strcmp(s, "wipe") && strcmp(s, "none") ? "not an order" : NULL;
}

static const struct cfg_vtype T_ORDER = { "order", "release, wipe or none", check_order, false };

static int get_orders(struct cfg_ctx *c, const struct cfg_node *v, unsigned *out)
{
	char **l = NULL;
	bool none = false;
	size_t n = 0;
	int rc = cfg_get_list(c, v, &T_ORDER, &l);

	if (rc)
		return rc;
	*out = 0;
	for (; l[n]; n++) {
		if (!strcmp(l[n], "none"))
			none = true;
		else
			*out |= !strcmp(l[n], "wipe") ? M2M_POLICY_ORDER_WIPE : M2M_POLICY_ORDER_RELEASE;
	}
	cfg_free_list(l);
	if (none && n > 1)
		return cfg_fail(c, v, "none with other orders; expected none alone, or release and/or wipe");
	return M2M_OK;
}

static const char *const counter_names[M2M_POLICY_N_COUNTERS + 1] = {
	[M2M_COUNTER_VPN_AUTH] = "vpn-auth",
	[M2M_COUNTER_UPDATE_INTEGRITY] = "update-integrity",
	[M2M_COUNTER_PIN] = "pin",
};

const char *m2m_policy_counter_name(enum m2m_policy_counter c)
{
	return (unsigned)c < M2M_POLICY_N_COUNTERS ? counter_names[c] : NULL;
}

/*
 * A count: a plain decimal number, 1 to 1000 (what the events file keeps of
 * each kind, M2M_EVENTS_KIND_KEEP in state.h, so that each count is exact).
 */
static int get_threshold(struct cfg_ctx *c, const struct cfg_node *v, unsigned *out)
{
	const char *s, *p;
	unsigned long n = 0;
	int rc = cfg_text(c, v, "a number of events, 1 to 1000", &s);

	if (rc)
		return rc;
	for (p = s; *p >= '0' && *p <= '9' && n <= 1000; p++)
		n = n * 10 + (unsigned long)(*p - '0');
	if (p == s || *p || n < 1 || n > 1000)
		return cfg_fail(c, v, "invalid threshold '%s'; expected a number of events, 1 to 1000", s);
	*out = (unsigned)n;
	return M2M_OK;
}

enum { K_THRESHOLD, K_WINDOW, K_ACTION, K_N };
static const char *const count_keys[] = { "threshold", "window", "action", NULL };

static int count_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		     void *obj)
{
	struct m2m_policy_count *pc = obj;

	switch (k) {
	case K_THRESHOLD:
		return get_threshold(c, v, &pc->threshold);
	case K_WINDOW: {
		int rc = cfg_get_duration(c, v, true, &pc->window_ms);

		if (!rc && pc->window_ms < 1000)
			rc = cfg_fail(c, v, "a window under 1s; expected a duration of 1s to 24h (the events are counted at each check)");
		return rc;
	}
	case K_ACTION:
		return get_action(c, v, &pc->action);
	}
	return M2M_OK;
}

static int counter_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		       void *obj)
{
	struct m2m_policy_config *pc = obj;
	struct m2m_policy_count *n = &pc->counters[k];
	const struct cfg_node *seen[K_N] = { NULL };
	bool is_map;
	int rc;

	n->window_ms = 60 * 60 * 1000;
	n->action = M2M_POLICY_QUARANTINE;
	rc = cfg_want_map(c, v, false, "a mapping with threshold, and optionally window and action",
			  &is_map);
	if (!rc)
		rc = cfg_walk(c, v, count_keys, seen, count_key, n);
	if (!rc && !seen[K_THRESHOLD])
		rc = cfg_missing(c, key, "threshold", "how many events within the window break it");
	return rc;
}

enum { P_TIMEOUT, P_LOCATION, P_SIM, P_TAMPER, P_QUARANTINE, P_SERVER, P_COUNTERS, P_N };
static const char *const policy_keys[] = { "timeout", "location", "sim", "tamper", "quarantine",
					   "server", "counters", NULL };

static int policy_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		      void *obj)
{
	struct m2m_policy_config *pc = obj;
	const struct cfg_node *fseen[L_N] = { NULL }, *tseen[T_N] = { NULL };
	bool is_map;
	int rc;

	switch (k) {
	case P_TIMEOUT:
		return cfg_get_duration(c, v, true, &pc->timeout_ms);
	case P_LOCATION:
		pc->location = true;
		rc = cfg_want_map(c, v, false, "a mapping with fence and optionally gpsd, max_age, "
				  "outside and no_fix", &is_map);
		if (!rc)
			rc = cfg_walk(c, v, location_keys, fseen, location_key, pc);
		if (!rc && !fseen[L_FENCE])
			rc = cfg_missing(c, key, "fence", "the circle the device stays in: lat, lon, radius");
		return rc;
	case P_SIM:
		pc->sim = true;
		return cfg_sub_section(c, v, "a mapping with bus, iccid and changed (all optional), "
				       "or no value", sim_keys, sim_key, pc);
	case P_TAMPER:
		pc->tamper = true;
		rc = cfg_want_map(c, v, false, "a mapping with input and optionally open and opened",
				  &is_map);
		if (!rc)
			rc = cfg_walk(c, v, tamper_keys, tseen, tamper_key, pc);
		if (!rc && !tseen[T_INPUT_K])
			rc = cfg_missing(c, key, "input", "the file whose first word is the switch's state");
		return rc;
	case P_QUARANTINE:
		return cfg_sub_section(c, v, "a mapping with allow, or no value", quarantine_keys,
				       quarantine_key, pc);
	case P_SERVER:
		return get_orders(c, v, &pc->server_orders);
	case P_COUNTERS: {
		const struct cfg_node *cseen[M2M_POLICY_N_COUNTERS] = { NULL };

		rc = cfg_want_map(c, v, false, "a mapping of vpn-auth, update-integrity and pin", &is_map);
		if (!rc)
			rc = cfg_walk(c, v, counter_names, cseen, counter_key, pc);
		return rc;
	}
	}
	return M2M_OK;
}

int cfg_policy_parse(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		     struct m2m_config *cfg)
{
	const struct cfg_node *seen[P_N] = { NULL };
	struct m2m_policy_config *pc;
	bool is_map;
	int rc;

	rc = cfg_want_map(c, v, true, "a mapping with location, sim, tamper and quarantine", &is_map);
	if (rc)
		return rc;
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return cfg_oom(c);
	cfg->policy = pc;
	pc->timeout_ms = 30 * 1000;
	pc->max_age_ms = 5 * 60 * 1000;
	pc->outside = M2M_POLICY_QUARANTINE;
	pc->no_fix = M2M_POLICY_LOG;
	pc->sim_changed = M2M_POLICY_QUARANTINE;
	pc->tamper_opened = M2M_POLICY_QUARANTINE;
	pc->server_orders = M2M_POLICY_ORDER_RELEASE;
	pc->gpsd_host = strdup("localhost");
	pc->gpsd_port = strdup("2947");
	pc->tamper_open = strdup("1");
	if (!pc->gpsd_host || !pc->gpsd_port || !pc->tamper_open)
		return cfg_oom(c);
	if (is_map)
		return cfg_walk(c, v, policy_keys, seen, policy_key, pc);
	return M2M_OK;
}

void cfg_policy_free(struct m2m_config *cfg)
{
	struct m2m_policy_config *pc = cfg->policy;

	if (!pc)
		return;
	free(pc->gpsd_host);
	free(pc->gpsd_port);
	free(pc->sim_bus);
	free(pc->sim_iccid);
	free(pc->tamper_input);
	free(pc->tamper_open);
	cfg_free_list(pc->quarantine_allow);
	free(pc);
	cfg->policy = NULL;
}
