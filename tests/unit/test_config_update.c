/* SPDX-License-Identifier: MIT */
/*
 * The update: section of m2m.yaml(5): every key with its default, and every
 * error with its exact message, file:line:column and key path.
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

/* A valid file: lines 1 to 15; the tests append from line 16. */
#define BASE                                                                                       \
	"version: 1\n"                                                                             \
	"device:\n"                                                                                \
	"  id: dev1.lab\n"                                                                         \
	"  model: pos-a\n"                                                                         \
	"vpn:\n"                                                                                   \
	"  profiles:\n"                                                                            \
	"    pos:\n"                                                                               \
	"      gateway: 10.99.0.1\n"                                                               \
	"      remote_id: gw.lab\n"                                                                \
	"      auth:\n"                                                                            \
	"        method: cert\n"                                                                   \
	"        cert: dev.crt\n"                                                                  \
	"        key: dev.key\n"                                                                   \
	"      ca: ca.pem\n"                                                                       \
	"      remote_ts: 10.99.1.1/32\n"

#define DM                                                                                         \
	"dm:\n"                                                                                    \
	"  server: coap://127.0.0.1:5683\n"                                                        \
	"  security: nosec\n"

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

/* BASE + extra as "m2m.yaml": it must fail with exactly msg */
static void parse_err(const char *base, const char *extra, const char *msg)
{
	struct m2m_config *cfg = (struct m2m_config *)1;
	struct m2m_err err = { 0 };
	char *yaml;
	int rc;

	assert_true(asprintf(&yaml, "%s%s", base, extra) > 0);
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

	assert_null(cfg->update);
	m2m_config_free(cfg);
}

static void test_defaults(void **state)
{
	struct m2m_config *cfg = parse_ok("update:\n  trust: vendor-ca.pem\n");
	const struct m2m_update_config *up = cfg->update;

	assert_non_null(up);
	assert_string_equal(up->trust, "/etc/m2m/vendor-ca.pem");
	assert_string_equal(up->model, "pos-a");
	assert_int_equal(up->signatures, 1);
	assert_null(up->downgrades);
	assert_string_equal(up->download_dir, M2M_STATE_DEFAULT_DIR "/update");
	assert_int_equal(up->max_size, 1024ull * 1024 * 1024);
	assert_int_equal(up->timeout_ms, 3600 * 1000);
	assert_int_equal(up->health_timeout_ms, 300 * 1000);
	assert_null(up->health_profiles);
	assert_false(up->health_dm);     /* no dm: section */
	assert_false(up->rauc);
	assert_null(up->rauc_config);
	assert_null(up->script);
	assert_int_equal(up->script_timeout_ms, 600 * 1000);
	m2m_config_free(cfg);

	/* with a state_dir and a dm: section, the defaults follow them */
	cfg = parse_ok("state_dir: /srv/m2m\n" DM "update:\n  trust: /etc/m2m/ca.pem\n");
	assert_string_equal(cfg->update->download_dir, "/srv/m2m/update");
	assert_true(cfg->update->health_dm);
	m2m_config_free(cfg);
}

static void test_every_key(void **state)
{
	struct m2m_config *cfg = parse_ok(
		DM
		"update:\n"
		"  trust: /etc/m2m/vendor-ca.pem\n"
		"  model: pos-b\n"
		"  signatures: 2\n"
		"  downgrades: [2.3.9, \"2.4.0.1\"]\n"
		"  download_dir: /data/update\n"
		"  max_size: 512MiB\n"
		"  timeout: 30m\n"
		"  health:\n"
		"    timeout: 2m\n"
		"    profiles: pos\n"
		"    dm: false\n"
		"  installers:\n"
		"    rauc:\n"
		"      config: rauc/system.conf\n"
		"    script:\n"
		"      path: /usr/libexec/vendor-install\n"
		"      timeout: 90s\n"
		"  ca: ca/https.pem\n"
		"  jitter: 30m\n");
	const struct m2m_update_config *up = cfg->update;

	assert_string_equal(up->trust, "/etc/m2m/vendor-ca.pem");
	assert_string_equal(up->model, "pos-b");
	assert_int_equal(up->signatures, 2);
	assert_non_null(up->downgrades);
	assert_string_equal(up->downgrades[0], "2.3.9");
	assert_string_equal(up->downgrades[1], "2.4.0.1");
	assert_null(up->downgrades[2]);
	assert_string_equal(up->download_dir, "/data/update");
	assert_int_equal(up->max_size, 512ull * 1024 * 1024);
	assert_int_equal(up->timeout_ms, 30 * 60 * 1000);
	assert_int_equal(up->health_timeout_ms, 120 * 1000);
	assert_string_equal(up->health_profiles[0], "pos");
	assert_null(up->health_profiles[1]);
	assert_false(up->health_dm); /* said so, although there is a dm: section */
	assert_true(up->rauc);
	assert_string_equal(up->rauc_config, "/etc/m2m/rauc/system.conf");
	assert_string_equal(up->script, "/usr/libexec/vendor-install");
	assert_int_equal(up->script_timeout_ms, 90 * 1000);
	assert_string_equal(up->ca, "/etc/m2m/ca/https.pem");
	assert_int_equal(up->jitter_ms, 30 * 60 * 1000);
	m2m_config_free(cfg);

	/* rauc: with no value is RAUC with its own system.conf; health.dm: true with a dm: section */
	cfg = parse_ok(DM "update:\n  trust: /ca.pem\n  health: {dm: yes, profiles: [pos]}\n"
		       "  installers: {rauc: }\n");
	assert_true(cfg->update->rauc);
	assert_null(cfg->update->rauc_config);
	assert_true(cfg->update->health_dm);
	m2m_config_free(cfg);
}

static void test_errors(void **state)
{
	static const struct {
		const char *extra, *msg;
	} cases[] = {
		{ "update:\n",
		  "m2m.yaml:16:1: update.trust: missing; expected the PEM file of the trust anchors "
		  "that package signers chain to" },
		{ "update:\n  model: x\n",
		  "m2m.yaml:16:1: update.trust: missing; expected the PEM file of the trust anchors "
		  "that package signers chain to" },
		{ "update: yes\n",
		  "m2m.yaml:16:9: update: got 'yes'; expected a mapping with trust and the update "
		  "engine's keys" },
		{ "update:\n  trust: /ca.pem\n  trsut: /ca.pem\n",
		  "m2m.yaml:18:3: update: unknown key 'trsut' (did you mean 'trust'?); expected one of "
		  "trust, model, signatures, downgrades, download_dir, max_size, timeout, health, "
		  "installers, ca, floor, jitter" },
		{ "update:\n  trust: /ca.pem\n  trust: /ca2.pem\n",
		  "m2m.yaml:18:3: update.trust: duplicate key (first at line 17); expected each key once" },
		{ "update:\n  trust: [a, b]\n",
		  "m2m.yaml:17:10: update.trust: got a list; expected a PEM file of trust anchors" },
		{ "update:\n  trust: /ca.pem\n  model: \"\"\n",
		  "m2m.yaml:18:10: update.model: empty string; expected a string" },
		{ "update:\n  trust: /ca.pem\n  signatures: 3\n",
		  "m2m.yaml:18:15: update.signatures: unknown value '3'; expected 1 or 2" },
		{ "update:\n  trust: /ca.pem\n  downgrades: [2.3, v2.2]\n",
		  "m2m.yaml:18:21: update.downgrades[1]: invalid version 'v2.2' (a part is not a "
		  "number); expected a version such as 2.4.1 (1 to 4 numbers)" },
		{ "update:\n  trust: /ca.pem\n  downgrades: 1.2.3.4.5\n",
		  "m2m.yaml:18:15: update.downgrades: invalid version '1.2.3.4.5' (more than 4 parts); "
		  "expected a version such as 2.4.1 (1 to 4 numbers)" },
		{ "update:\n  trust: /ca.pem\n  downgrades: []\n",
		  "m2m.yaml:18:15: update.downgrades: empty list; expected at least one: a version such "
		  "as 2.4.1 (1 to 4 numbers)" },
		{ "update:\n  trust: /ca.pem\n  download_dir: dl\n",
		  "m2m.yaml:18:17: update.download_dir: invalid path 'dl' (not absolute); expected an "
		  "absolute directory path" },
		{ "update:\n  trust: /ca.pem\n  max_size: 512\n",
		  "m2m.yaml:18:13: update.max_size: invalid size '512' (too small); expected a whole "
		  "number of bytes, with unit B, KiB or MiB, from 1024 to 1099511627776 bytes" },
		{ "update:\n  trust: /ca.pem\n  timeout: 0\n",
		  "m2m.yaml:18:12: update.timeout: invalid duration '0' (zero); expected more than 0, a "
		  "number with unit ms, s, m or h (none: seconds), such as 2.5s, at most 24h" },
		{ "update:\n  trust: /ca.pem\n  health: [pos]\n",
		  "m2m.yaml:18:11: update.health: got a list; expected a mapping with timeout, profiles "
		  "and dm" },
		{ "update:\n  trust: /ca.pem\n  health:\n    timeout: 5 min\n",
		  "m2m.yaml:19:14: update.health.timeout: invalid duration '5 min' (unknown unit); "
		  "expected more than 0, a number with unit ms, s, m or h (none: seconds), such as 2.5s, "
		  "at most 24h" },
		{ "update:\n  trust: /ca.pem\n  health:\n    profiles: [pos, poss]\n",
		  "m2m.yaml:19:21: update.health.profiles[1]: unknown VPN profile 'poss' (did you mean "
		  "'pos'?); expected one of vpn.profiles: pos" },
		{ "update:\n  trust: /ca.pem\n  health:\n    profiles: office\n",
		  "m2m.yaml:19:15: update.health.profiles: unknown VPN profile 'office'; expected one of "
		  "vpn.profiles: pos" },
		{ "update:\n  trust: /ca.pem\n  health:\n    dm: true\n",
		  "m2m.yaml:19:9: update.health.dm: true, but there is no dm: section to register with; "
		  "expected false, or a dm: section" },
		{ "update:\n  trust: /ca.pem\n  health:\n    dm: maybe\n",
		  "m2m.yaml:19:9: update.health.dm: invalid boolean 'maybe'; expected true, false, yes "
		  "or no" },
		{ "update:\n  trust: /ca.pem\n  health:\n    profile: pos\n",
		  "m2m.yaml:19:5: update.health: unknown key 'profile' (did you mean 'profiles'?); "
		  "expected one of timeout, profiles, dm" },
		{ "update:\n  trust: /ca.pem\n  installers:\n    swupdate: {}\n",
		  "m2m.yaml:19:5: update.installers: unknown key 'swupdate'; expected one of rauc, "
		  "script" },
		{ "update:\n  trust: /ca.pem\n  installers:\n    rauc:\n      confg: /etc/rauc/system.conf\n",
		  "m2m.yaml:20:7: update.installers.rauc: unknown key 'confg' (did you mean 'config'?); "
		  "expected one of config" },
		{ "update:\n  trust: /ca.pem\n  installers:\n    rauc: /etc/rauc/system.conf\n",
		  "m2m.yaml:19:11: update.installers.rauc: got '/etc/rauc/system.conf'; expected a "
		  "mapping with config (optional), or no value" },
		{ "update:\n  trust: /ca.pem\n  installers:\n    script:\n      timeout: 1m\n",
		  "m2m.yaml:19:5: update.installers.script.path: missing; expected the path of the "
		  "script that installs a package" },
		{ "update:\n  trust: /ca.pem\n  installers:\n    script: /usr/bin/inst\n",
		  "m2m.yaml:19:13: update.installers.script: got '/usr/bin/inst'; expected a mapping "
		  "with path and optionally timeout" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		parse_err(BASE, cases[i].extra, cases[i].msg);
	/* without device.model the section must name the model */
	parse_err("version: 1\n", "update:\n  trust: /ca.pem\n",
		  "m2m.yaml:2:1: update.model: missing; expected model here or device.model (the "
		  "packages' models are checked against it)");
	/* no profile at all */
	parse_err("version: 1\ndevice: {model: m}\n",
		  "update:\n  trust: /ca.pem\n  health: {profiles: [pos]}\n",
		  "m2m.yaml:5:23: update.health.profiles[0]: unknown VPN profile 'pos'; expected a "
		  "profile of vpn.profiles (there is none)");
	/* a section name near update */
	parse_err(BASE, "updates:\n  trust: /ca.pem\n",
		  "m2m.yaml:16:1: unknown key 'updates' (did you mean 'update'?); expected one of "
		  "version, device, charon, state_dir, vpn, dm, update, policy, pki");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_absent),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
