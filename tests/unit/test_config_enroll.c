/* SPDX-License-Identifier: MIT */
/*
 * A VPN profile's enroll: section of m2m.yaml(5): every key with its default,
 * and every error with its exact message, file:line:column and key path.
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

/* A valid file: lines 1 to 14; the tests append the profile's enroll: from line 15. */
#define BASE                                                                                       \
	"version: 1\n"                                                                             \
	"device:\n"                                                                                \
	"  id: dev1.lab\n"                                                                         \
	"vpn:\n"                                                                                   \
	"  profiles:\n"                                                                            \
	"    other:\n"                                                                             \
	"      gateway: 10.99.0.1\n"                                                               \
	"      remote_id: gw.lab\n"                                                                \
	"      auth: {method: cert, cert: o.crt, key: o.key}\n"                                    \
	"      ca: ca.pem\n"                                                                       \
	"      remote_ts: 10.99.1.1/32\n"                                                          \
	"    pos:\n"                                                                               \
	"      gateway: 10.99.0.1\n"                                                               \
	"      remote_id: gw.lab\n"                                                                \
	"      auth: {method: tpm, cert: dev.crt}\n"                                               \
	"      ca: ca.pem\n"                                                                       \
	"      remote_ts: 10.99.1.1/32\n"

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

	assert_null(m2m_config_enroll(cfg, m2m_config_profile(cfg, "pos")));
	assert_null(m2m_config_enroll(cfg, m2m_config_profile(cfg, "other")));
	assert_null(m2m_config_enroll(cfg, NULL));
	m2m_config_free(cfg);
}

static void test_defaults(void **state)
{
	struct m2m_config *cfg = parse_ok("      enroll:\n"
					  "        server: http://ca.example:8080/.well-known/cmp\n"
					  "        trust: ca-trust.pem\n");
	const struct m2m_enroll_config *e = m2m_config_enroll(cfg, m2m_config_profile(cfg, "pos"));

	assert_non_null(e);
	assert_null(m2m_config_enroll(cfg, m2m_config_profile(cfg, "other")));
	assert_string_equal(e->server, "http://ca.example:8080/.well-known/cmp");
	assert_string_equal(e->trust, "/etc/m2m/ca-trust.pem");
	assert_null(e->recipient);
	assert_null(e->reference);
	assert_int_equal(e->secret.source, M2M_SECRET_NONE);
	assert_null(e->subject);
	assert_null(e->sans);
	assert_int_equal(e->timeout_ms, 30 * 1000);
	m2m_config_free(cfg);
}

static void test_all_keys(void **state)
{
	struct m2m_config *cfg = parse_ok("      enroll:\n"
					  "        server: \"http://[fd00::1]/pkix/\"\n"
					  "        trust: /etc/pki/cmp.pem\n"
					  "        recipient: CN=Device CA,O=ACME\n"
					  "        reference: \"1234\"\n"
					  "        secret: {file: cmp.secret}\n"
					  "        subject: CN=dev1.lab\n"
					  "        san: [dev1.lab, 10.0.0.1]\n"
					  "        timeout: 2.5s\n");
	const struct m2m_enroll_config *e = m2m_config_enroll(cfg, m2m_config_profile(cfg, "pos"));

	assert_non_null(e);
	assert_string_equal(e->server, "http://[fd00::1]/pkix/");
	assert_string_equal(e->trust, "/etc/pki/cmp.pem");
	assert_string_equal(e->recipient, "CN=Device CA,O=ACME");
	assert_string_equal(e->reference, "1234");
	assert_int_equal(e->secret.source, M2M_SECRET_FILE);
	assert_string_equal(e->secret.path, "/etc/m2m/cmp.secret");
	assert_string_equal(e->subject, "CN=dev1.lab");
	assert_string_equal(e->sans[0], "dev1.lab");
	assert_string_equal(e->sans[1], "10.0.0.1");
	assert_null(e->sans[2]);
	assert_int_equal(e->timeout_ms, 2500);
	assert_null(e->tls_ca);
	m2m_config_free(cfg);
}

static void test_https(void **state)
{
	struct m2m_config *cfg = parse_ok("      enroll:\n"
					  "        server: https://ca.example:8443/.well-known/cmp\n"
					  "        trust: /etc/pki/cmp.pem\n"
					  "        tls_ca: tls-ca.pem\n");
	const struct m2m_enroll_config *e = m2m_config_enroll(cfg, m2m_config_profile(cfg, "pos"));

	(void)state;
	assert_non_null(e);
	assert_string_equal(e->server, "https://ca.example:8443/.well-known/cmp");
	/* relative to the configuration's directory, as every path */
	assert_string_equal(e->tls_ca, "/etc/m2m/tls-ca.pem");
	m2m_config_free(cfg);
}

#define EN "      enroll:\n"
#define TRUST "        trust: t.pem\n"

static void test_errors(void **state)
{
	parse_err(EN TRUST,
		  "m2m.yaml:18:7: vpn.profiles.pos.enroll.server: missing; expected the http:// or https:// URL of the CA's CMP server");
	parse_err(EN "        server: http://ca/\n",
		  "m2m.yaml:18:7: vpn.profiles.pos.enroll.trust: missing; expected a PEM file of the CA's trust anchors");
	parse_err(EN "        server: https://ca:x/\n" TRUST,
		  "m2m.yaml:19:17: vpn.profiles.pos.enroll.server: invalid URL 'https://ca:x/' (a port that is not a number); expected http(s)://host[:port]/path of the CA's CMP server");
	parse_err(EN "        server: http://ca/\n" TRUST "        tls_ca: ca.pem\n",
		  "m2m.yaml:21:9: vpn.profiles.pos.enroll: tls_ca is for an https:// server; server is http://ca/");
	parse_err(EN "        server: ftp://ca/\n" TRUST,
		  "m2m.yaml:19:17: vpn.profiles.pos.enroll.server: invalid URL 'ftp://ca/' (not an http:// or https:// URL); expected http(s)://host[:port]/path of the CA's CMP server");
	parse_err(EN "        server: http://user:pw@ca/\n" TRUST,
		  "m2m.yaml:19:17: vpn.profiles.pos.enroll.server: invalid URL 'http://user:pw@ca/' (a user, query or fragment is not allowed); expected http(s)://host[:port]/path of the CA's CMP server");
	parse_err(EN "        server: http://ca:0/\n" TRUST,
		  "m2m.yaml:19:17: vpn.profiles.pos.enroll.server: invalid URL 'http://ca:0/' (port 0); expected http(s)://host[:port]/path of the CA's CMP server");
	parse_err(EN "        server: http://ca:65536/\n" TRUST,
		  "m2m.yaml:19:17: vpn.profiles.pos.enroll.server: invalid URL 'http://ca:65536/' (a port above 65535); expected http(s)://host[:port]/path of the CA's CMP server");
	parse_err(EN "        server: http://ca:x/\n" TRUST,
		  "m2m.yaml:19:17: vpn.profiles.pos.enroll.server: invalid URL 'http://ca:x/' (a port that is not a number); expected http(s)://host[:port]/path of the CA's CMP server");
	parse_err(EN "        server: http:///x\n" TRUST,
		  "m2m.yaml:19:17: vpn.profiles.pos.enroll.server: invalid URL 'http:///x' (no host); expected http(s)://host[:port]/path of the CA's CMP server");
	parse_err(EN "        server: http://[fd00::1/\n" TRUST,
		  "m2m.yaml:19:17: vpn.profiles.pos.enroll.server: invalid URL 'http://[fd00::1/' (an IPv6 address without ]); expected http(s)://host[:port]/path of the CA's CMP server");
	parse_err(EN "        server: http://ca/\n" TRUST "        reference: \"1\"\n",
		  "m2m.yaml:18:7: vpn.profiles.pos.enroll.secret: missing; expected where the shared secret that goes with reference comes from");
	parse_err(EN "        server: http://ca/\n" TRUST "        secret: {file: s}\n",
		  "m2m.yaml:18:7: vpn.profiles.pos.enroll.reference: missing; expected the reference value the CA gave with the secret");
	parse_err(EN "        server: http://ca/\n" TRUST "        recipient: Device CA\n",
		  "m2m.yaml:21:20: vpn.profiles.pos.enroll.recipient: invalid name 'Device CA' (not a distinguished name); expected a distinguished name such as CN=dev1,O=ACME");
	parse_err(EN "        server: http://ca/\n" TRUST "        timeout: 0s\n",
		  "m2m.yaml:21:18: vpn.profiles.pos.enroll.timeout: invalid duration '0s' (zero); expected more than 0, a number with unit ms, s, m or h (none: seconds), such as 2.5s, at most 24h");
	parse_err(EN "        server: http://ca/\n" TRUST "        pin: {file: s}\n",
		  "m2m.yaml:21:9: vpn.profiles.pos.enroll: unknown key 'pin' (did you mean 'san'?); expected one of server, trust, recipient, reference, secret, subject, san, timeout, tls_ca");
	parse_err("      enroll: yes\n",
		  "m2m.yaml:18:15: vpn.profiles.pos.enroll: got 'yes'; expected a mapping with server, trust and how to authenticate");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_absent),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_https),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
