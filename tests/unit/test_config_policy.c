/* SPDX-License-Identifier: MIT */
/*
 * The policy: section of m2m.yaml(5): every key with its default, and the
 * errors a person is likely to make, with file:line:column and key path.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "m2m/config.h"

/* A valid file: lines 1 to 3; the tests append policy: from line 4. */
#define BASE                                                                                       \
	"version: 1\n"                                                                             \
	"device:\n"                                                                                \
	"  id: dev1.lab\n"

static struct m2m_config *parse_ok(const char *extra)
{
	struct m2m_config *cfg = NULL;
	struct m2m_err err = { 0 };
	char *yaml;
	int rc;

	assert_true(asprintf(&yaml, "%s%s", BASE, extra) > 0);
	rc = m2m_config_parse("/etc/m2m/m2m.yaml", yaml, strlen(yaml), &cfg, &err);
	free(yaml);
	if (rc != M2M_OK)
		fail_msg("unexpected error %d: %s", rc, err.msg);
	assert_non_null(cfg);
	return cfg;
}

static void parse_err(const char *extra, const char *msg)
{
	struct m2m_config *cfg = (struct m2m_config *)1;
	struct m2m_err err = { 0 };
	char *yaml;
	int rc;

	assert_true(asprintf(&yaml, "%s%s", BASE, extra) > 0);
	rc = m2m_config_parse("m2m.yaml", yaml, strlen(yaml), &cfg, &err);
	free(yaml);
	if (rc == M2M_OK) {
		m2m_config_free(cfg);
		fail_msg("accepted, expected: %s", msg);
	}
	assert_int_equal(rc, M2M_ERR_CONFIG);
	assert_null(cfg);
	assert_string_equal(err.msg, msg);
}

static void test_absent(void **state)
{
	struct m2m_config *cfg = parse_ok("");

	assert_null(cfg->policy);
	m2m_config_free(cfg);
}

static void test_empty(void **state)
{
	struct m2m_config *cfg = parse_ok("policy:\n");
	const struct m2m_policy_config *p = cfg->policy;

	assert_non_null(p);
	assert_false(p->location);
	assert_false(p->sim);
	assert_false(p->tamper);
	assert_int_equal(p->timeout_ms, 30000);
	assert_null(p->quarantine_allow);
	/* the management server may release, not wipe, unless policy.server says so */
	assert_int_equal(p->server_orders, M2M_POLICY_ORDER_RELEASE);
	m2m_config_free(cfg);
}

static void test_counters(void **state)
{
	struct m2m_config *cfg = parse_ok("policy:\n  counters:\n"
					  "    vpn-auth: {threshold: 5}\n"
					  "    update-integrity: {threshold: 2, window: 24h, action: log}\n");
	const struct m2m_policy_count *c = cfg->policy->counters;

	(void)state;
	assert_int_equal(c[M2M_COUNTER_VPN_AUTH].threshold, 5);
	assert_int_equal(c[M2M_COUNTER_VPN_AUTH].window_ms, 3600000);
	assert_int_equal(c[M2M_COUNTER_VPN_AUTH].action, M2M_POLICY_QUARANTINE);
	assert_int_equal(c[M2M_COUNTER_UPDATE_INTEGRITY].threshold, 2);
	assert_int_equal(c[M2M_COUNTER_UPDATE_INTEGRITY].window_ms, 24 * 3600000);
	assert_int_equal(c[M2M_COUNTER_UPDATE_INTEGRITY].action, M2M_POLICY_LOG);
	assert_int_equal(c[M2M_COUNTER_PIN].threshold, 0); /* not counted */
	assert_string_equal(m2m_policy_counter_name(M2M_COUNTER_PIN), "pin");
	assert_null(m2m_policy_counter_name(M2M_POLICY_N_COUNTERS));
	m2m_config_free(cfg);
	parse_err("policy:\n  counters:\n    vpn-auth: {window: 1h}\n",
		  "m2m.yaml:6:5: policy.counters.vpn-auth.threshold: missing; expected how many events within the window break it");
	parse_err("policy:\n  counters:\n    vpn-auth: {threshold: 0}\n",
		  "m2m.yaml:6:27: policy.counters.vpn-auth.threshold: invalid threshold '0'; expected a number of events, 1 to 1000");
	parse_err("policy:\n  counters:\n    logins: {threshold: 3}\n",
		  "m2m.yaml:6:5: policy.counters: unknown key 'logins'; expected one of vpn-auth, update-integrity, pin");
}

static void test_server_orders(void **state)
{
	struct m2m_config *cfg = parse_ok("policy:\n  server: [release, wipe]\n");

	(void)state;
	assert_int_equal(cfg->policy->server_orders, M2M_POLICY_ORDER_RELEASE | M2M_POLICY_ORDER_WIPE);
	m2m_config_free(cfg);
	cfg = parse_ok("policy:\n  server: wipe\n");
	assert_int_equal(cfg->policy->server_orders, M2M_POLICY_ORDER_WIPE);
	m2m_config_free(cfg);
	cfg = parse_ok("policy:\n  server: none\n");
	assert_int_equal(cfg->policy->server_orders, 0);
	m2m_config_free(cfg);
	parse_err("policy:\n  server: [release, reboot]\n",
		  "m2m.yaml:5:21: policy.server[1]: invalid order 'reboot' (not an order); expected release, wipe or none");
	parse_err("policy:\n  server: [none, wipe]\n",
		  "m2m.yaml:5:11: policy.server: none with other orders; expected none alone, or release and/or wipe");
}

static void test_defaults(void **state)
{
	struct m2m_config *cfg = parse_ok("policy:\n"
					  "  location:\n"
					  "    fence: {lat: 48.8566, lon: -2.3522, radius: 500}\n"
					  "  sim:\n"
					  "  tamper: {input: /run/case}\n");
	const struct m2m_policy_config *p = cfg->policy;

	assert_true(p->location);
	assert_string_equal(p->gpsd_host, "localhost");
	assert_string_equal(p->gpsd_port, "2947");
	assert_true(p->fence_lat == 48.8566);
	assert_true(p->fence_lon == -2.3522);
	assert_true(p->fence_radius_m == 500);
	assert_int_equal(p->max_age_ms, 5 * 60 * 1000);
	assert_int_equal(p->outside, M2M_POLICY_QUARANTINE);
	assert_int_equal(p->no_fix, M2M_POLICY_LOG);
	assert_true(p->sim);
	assert_null(p->sim_bus);
	assert_null(p->sim_iccid);
	assert_int_equal(p->sim_changed, M2M_POLICY_QUARANTINE);
	assert_true(p->tamper);
	assert_string_equal(p->tamper_input, "/run/case");
	assert_string_equal(p->tamper_open, "1");
	assert_int_equal(p->tamper_opened, M2M_POLICY_QUARANTINE);
	m2m_config_free(cfg);
}

static void test_all_keys(void **state)
{
	struct m2m_config *cfg = parse_ok("policy:\n"
					  "  timeout: 10s\n"
					  "  location:\n"
					  "    gpsd: '[::1]:29470'\n"
					  "    fence: {lat: -33.9, lon: 151.2, radius: 2.5km}\n"
					  "    max_age: 30s\n"
					  "    outside: log\n"
					  "    no_fix: quarantine\n"
					  "  sim:\n"
					  "    bus: unix:path=/tmp/bus\n"
					  "    iccid: 8933011234567890123F\n"
					  "    changed: log\n"
					  "  tamper:\n"
					  "    input: case\n"
					  "    open: opened\n"
					  "    opened: log\n"
					  "  quarantine:\n"
					  "    allow: [10.1.0.0/16, 'fd00::/8']\n");
	const struct m2m_policy_config *p = cfg->policy;

	assert_int_equal(p->timeout_ms, 10000);
	assert_string_equal(p->gpsd_host, "::1");
	assert_string_equal(p->gpsd_port, "29470");
	assert_true(p->fence_radius_m == 2500);
	assert_int_equal(p->max_age_ms, 30000);
	assert_int_equal(p->outside, M2M_POLICY_LOG);
	assert_int_equal(p->no_fix, M2M_POLICY_QUARANTINE);
	assert_string_equal(p->sim_bus, "unix:path=/tmp/bus");
	assert_string_equal(p->sim_iccid, "8933011234567890123F");
	assert_int_equal(p->sim_changed, M2M_POLICY_LOG);
	/* relative to the config file's directory */
	assert_string_equal(p->tamper_input, "/etc/m2m/case");
	assert_string_equal(p->tamper_open, "opened");
	assert_int_equal(p->tamper_opened, M2M_POLICY_LOG);
	assert_string_equal(p->quarantine_allow[0], "10.1.0.0/16");
	assert_string_equal(p->quarantine_allow[1], "fd00::/8");
	assert_null(p->quarantine_allow[2]);
	m2m_config_free(cfg);

	cfg = parse_ok("policy:\n  location:\n    gpsd: gps.lab\n    fence: {lat: 0, lon: 0, radius: 10m}\n");
	assert_string_equal(cfg->policy->gpsd_host, "gps.lab");
	assert_string_equal(cfg->policy->gpsd_port, "2947");
	m2m_config_free(cfg);
}

static void test_errors(void **state)
{
	parse_err("policy:\n  location:\n    gpsd: x:1\n",
		  
		  "m2m.yaml:5:3: policy.location.fence: missing; expected the circle the device stays in: lat, lon, radius");
	parse_err("policy:\n  location:\n    fence: {lat: 1, radius: 1km}\n",
		  
		  "m2m.yaml:6:5: policy.location.fence.lon: missing; expected the circle's centre in degrees");
	parse_err("policy:\n  location:\n    fence: {lat: 91, lon: 0, radius: 1km}\n",
		  "m2m.yaml:6:18: policy.location.fence.lat: invalid coordinate '91'; expected degrees "
		  "as a decimal number from -90 to 90");
	parse_err("policy:\n  location:\n    fence: {lat: 1e1, lon: 0, radius: 1km}\n",
		  "m2m.yaml:6:18: policy.location.fence.lat: invalid coordinate '1e1'; expected degrees "
		  "as a decimal number from -90 to 90");
	parse_err("policy:\n  location:\n    fence: {lat: 1, lon: nan, radius: 1km}\n",
		  
		  "m2m.yaml:6:26: policy.location.fence.lon: invalid coordinate 'nan'; expected degrees as a decimal number from -180 to 180");
	parse_err("policy:\n  location:\n    fence: {lat: 1, lon: 2, radius: 5m}\n",
		  
		  "m2m.yaml:6:37: policy.location.fence.radius: invalid distance '5m'; expected a distance with unit m or km (none: metres), such as 500m or 2.5km, from 10m to 20000km");
	parse_err("policy:\n  location:\n    fence: {lat: 1, lon: 2, radius: 1 km}\n",
		  
		  "m2m.yaml:6:37: policy.location.fence.radius: invalid distance '1 km'; expected a distance with unit m or km (none: metres), such as 500m or 2.5km, from 10m to 20000km");
	parse_err("policy:\n  location:\n    gpsd: 'a:b'\n    fence: {lat: 1, lon: 2, radius: 1km}\n",
		  "m2m.yaml:6:11: policy.location.gpsd: invalid gpsd address 'a:b'; expected host:port "
		  "of gpsd, such as localhost:2947");
	parse_err("policy:\n  location:\n    gpsd: '::1'\n    fence: {lat: 1, lon: 2, radius: 1km}\n",
		  "m2m.yaml:6:11: policy.location.gpsd: invalid gpsd address '::1'; expected host:port "
		  "of gpsd, such as localhost:2947");
	parse_err("policy:\n  location:\n    fence: {lat: 1, lon: 2, radius: 1km}\n    outside: wipe\n",
		  
		  "m2m.yaml:7:14: policy.location.outside: unknown value 'wipe'; expected quarantine or log");
	parse_err("policy:\n  sim: {iccid: 12345}\n",
		  "m2m.yaml:5:16: policy.sim.iccid: invalid ICCID '12345' (not 18 to 22 digits); "
		  "expected the SIM's ICCID, 18 to 22 digits");
	parse_err("policy:\n  tamper: {open: '1'}\n",
		  
		  "m2m.yaml:5:3: policy.tamper.input: missing; expected the file whose first word is the switch's state");
	parse_err("policy:\n  tamper: {input: /x, open: 'a b'}\n",
		  
		  "m2m.yaml:5:29: policy.tamper.open: invalid word 'a b'; expected one word (at most 32 characters)");
	parse_err("policy:\n  quarantine: {allow: 10.0.0.0/33}\n",
		  
		  "m2m.yaml:5:23: policy.quarantine.allow: invalid CIDR prefix '10.0.0.0/33' (prefix length not in 0..32); expected an IPv4 or IPv6 prefix such as 10.1.0.0/16 or fd00:1::/64");
	parse_err("policy:\n  fence: 1\n",
		  
		  "m2m.yaml:5:3: policy: unknown key 'fence'; expected one of timeout, location, sim, tamper, quarantine, server, counters");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_absent),   cmocka_unit_test(test_empty),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_server_orders),
		cmocka_unit_test(test_counters), cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
