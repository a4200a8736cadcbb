/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the configuration module: the full schema with its defaults,
 * every class of error with its exact message and position, the value
 * syntax checks, file permissions, relative paths, the lookup order of the
 * file, and the example shipped in examples/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "m2m/config.h"
#include "config/tree.h"

/* the source tree, for examples/m2m.yaml; the tests run from its top */
#ifndef M2M_SRCDIR
#define M2M_SRCDIR "."
#endif

/* A valid file: lines 1 to 14. Tests append to it. */
#define MINIMAL                                                                                    \
	"version: 1\n"                                                                             \
	"device:\n"                                                                                \
	"  id: dev1.lab\n"                                                                         \
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

static struct m2m_config *parse_ok(const char *yaml)
{
	struct m2m_config *cfg = NULL;
	struct m2m_err err = { 0 };
	int rc = m2m_config_parse("/etc/m2m/m2m.yaml", yaml, strlen(yaml), &cfg, &err);

	if (rc != M2M_OK)
		fail_msg("unexpected error %d: %s", rc, err.msg);
	assert_non_null(cfg);
	return cfg;
}

/* Parse yaml as "m2m.yaml": it must fail with exactly msg, on one line. */
static void parse_err(const char *yaml, const char *msg)
{
	struct m2m_config *cfg = (struct m2m_config *)1;
	struct m2m_err err = { 0 };
	int rc = m2m_config_parse("m2m.yaml", yaml, strlen(yaml), &cfg, &err);

	if (rc == M2M_OK) {
		m2m_config_free(cfg);
		fail_msg("accepted, expected: %s", msg);
	}
	assert_int_equal(rc, M2M_ERR_CONFIG);
	assert_int_equal(err.rc, M2M_ERR_CONFIG);
	assert_null(cfg);
	assert_null(strchr(err.msg, '\n'));
	assert_string_equal(err.msg, msg);
}

static void parse_err_with(const char *extra, const char *msg)
{
	char *yaml;

	assert_true(asprintf(&yaml, "%s%s", MINIMAL, extra) > 0);
	parse_err(yaml, msg);
	free(yaml);
}

static void assert_list(char **l, const char *const *want)
{
	size_t i;

	assert_non_null(l);
	for (i = 0; want[i]; i++) {
		assert_non_null(l[i]);
		assert_string_equal(l[i], want[i]);
	}
	assert_null(l[i]);
}

#define LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ------------------------------------------------------------------------ */
/* valid files */

static void test_full_file(void **state)
{
	static const char yaml[] =
		"# every key there is\n"
		"version: 1\n"
		"device:\n"
		"  id: dev1.lab\n"
		"  serial: \"A1234\"\n"
		"  manufacturer: \"ACME\"\n"
		"  model: \"POS-9\"\n"
		"charon:\n"
		"  vici: /run/charon.vici\n"
		"state_dir: /var/lib/m2m-test\n"
		"vpn:\n"
		"  profiles:\n"
		"    pos:\n"
		"      gateway: [10.99.0.1, gw2.lab, \"2001:db8::1\"]\n"
		"      remote_id: gw.lab\n"
		"      local_id: pos.lab\n"
		"      auth:\n"
		"        method: pkcs12\n"
		"        pkcs12: certs/dev.p12\n"
		"        pin:\n"
		"          file: pin\n"
		"      ca: [ca.pem, /usr/share/m2m/ca2.pem]\n"
		"      proposals: [aes256gcm16-prfsha256-ecp256, aes128-sha256-modp2048]\n"
		"      esp_proposals: aes256gcm16\n"
		"      local_ts: [10.0.0.0/8, \"fd00::/8\"]\n"
		"      remote_ts: [10.99.1.1/32, \"fd00:99::/48\"]\n"
		"      virtual_ip: no\n"
		"      mode: always-on\n"
		"      fail_closed: false\n"
		"      mobike: False\n"
		"      dpd: 15s\n"
		"      rekey: 4h\n"
		"      timeout: 1500ms\n"
		"      retry:\n"
		"        network: {min: 2s, max: 2m}\n"
		"        auth: {min: 10m, max: 24h}\n"
		"    kiosk:\n"
		"      gateway: kiosk-gw.lab\n"
		"      remote_id: \"CN=kiosk gw, O=ACME\"\n"
		"      auth: {method: cert, cert: /etc/ssl/k.crt, key: k.key, pin: {fd: 3}}\n"
		"      ca: ca.pem\n"
		"      remote_ts: 10.99.2.0/24\n"
		"dm: {server: \"coaps://dm.lab\", security: psk, psk_identity: dev1,\n"
		"     psk_key: {credential: dm-psk}, binding: UQ, lifetime: 10m}\n"
		"pki: {}\n";
	struct m2m_config *cfg = parse_ok(yaml);
	const struct m2m_vpn_profile *p, *k;

	assert_string_equal(cfg->path, "/etc/m2m/m2m.yaml");
	assert_string_equal(cfg->device.id, "dev1.lab");
	assert_string_equal(cfg->device.serial, "A1234");
	assert_string_equal(cfg->device.manufacturer, "ACME");
	assert_string_equal(cfg->device.model, "POS-9");
	assert_string_equal(cfg->charon.vici, "/run/charon.vici");
	assert_string_equal(cfg->state_dir, "/var/lib/m2m-test");
	assert_int_equal(cfg->n_profiles, 2);

	p = &cfg->profiles[0];
	assert_ptr_equal(m2m_config_profile(cfg, "pos"), p);
	assert_string_equal(p->name, "pos");
	assert_list(p->gateways, LIST("10.99.0.1", "gw2.lab", "2001:db8::1"));
	assert_string_equal(p->remote_id, "gw.lab");
	assert_string_equal(p->local_id, "pos.lab");
	assert_int_equal(p->auth, M2M_AUTH_PKCS12);
	assert_null(p->cert);
	assert_null(p->key);
	assert_string_equal(p->pkcs12, "/etc/m2m/certs/dev.p12");
	assert_int_equal(p->pin.source, M2M_SECRET_FILE);
	assert_string_equal(p->pin.path, "/etc/m2m/pin");
	assert_int_equal(p->pin.fd, -1);
	assert_list(p->ca, LIST("/etc/m2m/ca.pem", "/usr/share/m2m/ca2.pem"));
	assert_list(p->proposals, LIST("aes256gcm16-prfsha256-ecp256", "aes128-sha256-modp2048"));
	assert_list(p->esp_proposals, LIST("aes256gcm16"));
	assert_list(p->local_ts, LIST("10.0.0.0/8", "fd00::/8"));
	assert_list(p->remote_ts, LIST("10.99.1.1/32", "fd00:99::/48"));
	assert_false(p->virtual_ip);
	assert_int_equal(p->mode, M2M_VPN_ALWAYS_ON);
	assert_false(p->fail_closed);
	assert_false(p->mobike);
	assert_int_equal(p->dpd_delay_ms, 15000);
	assert_int_equal(p->rekey_ms, 4 * 3600 * 1000);
	assert_int_equal(p->timeout_ms, 1500);
	assert_int_equal(p->retry_network.min_ms, 2000);
	assert_int_equal(p->retry_network.max_ms, 120000);
	assert_int_equal(p->retry_auth.min_ms, 600000);
	assert_int_equal(p->retry_auth.max_ms, 24 * 3600 * 1000);

	k = &cfg->profiles[1];
	assert_ptr_equal(m2m_config_profile(cfg, "kiosk"), k);
	assert_string_equal(k->name, "kiosk");
	assert_list(k->gateways, LIST("kiosk-gw.lab"));
	assert_string_equal(k->remote_id, "CN=kiosk gw, O=ACME");
	assert_string_equal(k->local_id, "dev1.lab"); /* from device.id */
	assert_int_equal(k->auth, M2M_AUTH_CERT);
	assert_string_equal(k->cert, "/etc/ssl/k.crt");
	assert_string_equal(k->key, "/etc/m2m/k.key");
	assert_null(k->pkcs12);
	assert_int_equal(k->pin.source, M2M_SECRET_FD);
	assert_int_equal(k->pin.fd, 3);
	assert_null(k->pin.path);
	assert_list(k->ca, LIST("/etc/m2m/ca.pem"));
	assert_list(k->remote_ts, LIST("10.99.2.0/24"));

	assert_null(m2m_config_profile(cfg, "nope"));
	assert_null(m2m_config_profile(cfg, NULL));
	m2m_config_free(cfg);
}

static void test_defaults_on_demand(void **state)
{
	struct m2m_config *cfg = parse_ok(MINIMAL);
	const struct m2m_vpn_profile *p = m2m_config_profile(cfg, "pos");

	assert_string_equal(cfg->charon.vici, M2M_VICI_DEFAULT_URI);
	assert_string_equal(cfg->state_dir, M2M_STATE_DEFAULT_DIR);
	assert_null(cfg->device.serial);
	assert_null(cfg->device.manufacturer);
	assert_null(cfg->device.model);
	assert_non_null(p);
	assert_list(p->gateways, LIST("10.99.0.1"));
	assert_string_equal(p->local_id, "dev1.lab");
	assert_int_equal(p->auth, M2M_AUTH_CERT);
	assert_string_equal(p->cert, "/etc/m2m/dev.crt");
	assert_string_equal(p->key, "/etc/m2m/dev.key");
	assert_int_equal(p->pin.source, M2M_SECRET_NONE);
	assert_null(p->pin.path);
	assert_null(p->proposals);
	assert_null(p->esp_proposals);
	assert_null(p->local_ts);
	assert_true(p->virtual_ip);
	assert_int_equal(p->mode, M2M_VPN_ON_DEMAND);
	assert_false(p->fail_closed);
	assert_true(p->mobike);
	assert_int_equal(p->dpd_delay_ms, 0);
	assert_int_equal(p->rekey_ms, 0);
	assert_int_equal(p->timeout_ms, 30000);
	assert_int_equal(p->retry_network.min_ms, 1000);
	assert_int_equal(p->retry_network.max_ms, 60000);
	assert_int_equal(p->retry_auth.min_ms, 300000);
	assert_int_equal(p->retry_auth.max_ms, 3600000);
	m2m_config_free(cfg);
}

static void test_defaults_always_on(void **state)
{
	struct m2m_config *cfg = parse_ok(MINIMAL "      mode: always-on\n");
	const struct m2m_vpn_profile *p = m2m_config_profile(cfg, "pos");

	assert_int_equal(p->mode, M2M_VPN_ALWAYS_ON);
	assert_true(p->fail_closed);
	assert_int_equal(p->dpd_delay_ms, 10000);
	m2m_config_free(cfg);

	/* explicit values win over the mode's defaults */
	cfg = parse_ok(MINIMAL "      mode: always-on\n      fail_closed: no\n      dpd: 0\n");
	p = m2m_config_profile(cfg, "pos");
	assert_false(p->fail_closed);
	assert_int_equal(p->dpd_delay_ms, 0);
	m2m_config_free(cfg);

	cfg = parse_ok(MINIMAL "      fail_closed: yes\n      dpd: 30\n"
			       "      retry: {network: {max: 10m}, auth: {min: 1m}}\n");
	p = m2m_config_profile(cfg, "pos");
	assert_int_equal(p->mode, M2M_VPN_ON_DEMAND);
	assert_true(p->fail_closed);
	assert_int_equal(p->dpd_delay_ms, 30000);
	assert_int_equal(p->retry_network.min_ms, 1000);
	assert_int_equal(p->retry_network.max_ms, 600000);
	assert_int_equal(p->retry_auth.min_ms, 60000);
	assert_int_equal(p->retry_auth.max_ms, 3600000);
	m2m_config_free(cfg);
}

static void test_optional_sections(void **state)
{
	struct m2m_config *cfg;

	/* empty sections are allowed, and no profile at all */
	cfg = parse_ok("version: 1\ndevice:\ncharon:\nvpn:\ndm:\npki:\n");
	assert_int_equal(cfg->n_profiles, 0);
	assert_null(cfg->profiles);
	assert_null(cfg->device.id);
	assert_string_equal(cfg->charon.vici, M2M_VICI_DEFAULT_URI);
	m2m_config_free(cfg);

	cfg = parse_ok("version: \"1\"\nvpn: {profiles: {}}\n");
	assert_int_equal(cfg->n_profiles, 0);
	m2m_config_free(cfg);

	/* pin sources, and local_id without device.id */
	cfg = parse_ok("version: 1\nvpn:\n  profiles:\n"
		       "    a: {gateway: g.lab, remote_id: g, local_id: me, ca: /ca, remote_ts: 10.0.0.0/8,\n"
		       "        auth: {method: pkcs12, pkcs12: /p12, pin: {credential: p12pin}}}\n"
		       "    b: {gateway: g.lab, remote_id: g, local_id: me, ca: /ca, remote_ts: 10.0.0.0/8,\n"
		       "        auth: {method: pkcs12, pkcs12: /p12, pin: {prompt: true}}}\n"
		       "    c: {gateway: g.lab, remote_id: g, local_id: me, ca: /ca, remote_ts: 10.0.0.0/8,\n"
		       "        auth: {method: pkcs12, pkcs12: /p12}}\n");
	assert_int_equal(cfg->n_profiles, 3);
	assert_null(cfg->device.id);
	assert_int_equal(cfg->profiles[0].pin.source, M2M_SECRET_CREDENTIAL);
	assert_string_equal(cfg->profiles[0].pin.path, "p12pin");
	assert_int_equal(cfg->profiles[1].pin.source, M2M_SECRET_PROMPT);
	assert_int_equal(cfg->profiles[2].pin.source, M2M_SECRET_NONE);
	assert_string_equal(cfg->profiles[2].local_id, "me");
	m2m_config_free(cfg);

	m2m_config_free(NULL);
	assert_null(m2m_config_profile(NULL, "pos"));
}

/* ------------------------------------------------------------------------ */
/* errors, one class each, with exact positions */

static void test_err_unknown_key(void **state)
{
	parse_err("version: 1\ncolour: blue\n",
		  "m2m.yaml:2:1: unknown key 'colour'; expected one of version, device, charon, "
		  "state_dir, vpn, dm, update, policy, pki");
	parse_err_with("      retry: {network: {min: 1s, maximum: 2s}}\n",
		       "m2m.yaml:15:34: vpn.profiles.pos.retry.network: unknown key 'maximum'; "
		       "expected one of min, max");
	/* too short a key to guess from */
	parse_err("version: 1\ndevice: {x: 1}\n",
		  "m2m.yaml:2:10: device: unknown key 'x'; expected one of id, serial, "
		  "manufacturer, model");
}

static void test_err_typo(void **state)
{
	parse_err("version: 1\n"
		  "vpn:\n"
		  "  profiles:\n"
		  "    pos:\n"
		  "      gatway: 10.99.0.1\n",
		  "m2m.yaml:5:7: vpn.profiles.pos: unknown key 'gatway' (did you mean 'gateway'?); "
		  "expected one of gateway, remote_id, local_id, auth, ca, proposals, "
		  "esp_proposals, local_ts, remote_ts, virtual_ip, mode, fail_closed, mobike, dpd, "
		  "rekey, timeout, retry, enroll");
	/* transposed letters count once */
	parse_err("version: 1\ndevcie: {}\n",
		  "m2m.yaml:2:1: unknown key 'devcie' (did you mean 'device'?); expected one of "
		  "version, device, charon, state_dir, vpn, dm, update, policy, pki");
	parse_err_with("      faill_closed: true\n",
		       "m2m.yaml:15:7: vpn.profiles.pos: unknown key 'faill_closed' (did you mean "
		       "'fail_closed'?); expected one of gateway, remote_id, local_id, auth, ca, "
		       "proposals, esp_proposals, local_ts, remote_ts, virtual_ip, mode, fail_closed, "
		       "mobike, dpd, rekey, timeout, retry, enroll");
}

static void test_err_wrong_type(void **state)
{
	parse_err_with("      mode: [always-on]\n",
		       "m2m.yaml:15:13: vpn.profiles.pos.mode: got a list; expected on-demand or "
		       "always-on");
	parse_err_with("      local_id: {cn: gw}\n",
		       "m2m.yaml:15:17: vpn.profiles.pos.local_id: got a mapping; expected an IKE "
		       "identity (a string)");
	parse_err("version: 1\ndevice: {id: {a: b}}\n",
		  "m2m.yaml:2:14: device.id: got a mapping; expected an IKE identity (a string)");
	parse_err("version: 1\ndevice: [id]\n",
		  "m2m.yaml:2:9: device: got a list; expected a mapping with id, serial, "
		  "manufacturer and model");
	parse_err_with("      retry: 5\n",
		       "m2m.yaml:15:14: vpn.profiles.pos.retry: got '5'; expected a mapping with "
		       "network and/or auth");
	parse_err_with("      gateway2: x\n",
		       "m2m.yaml:15:7: vpn.profiles.pos: unknown key 'gateway2' (did you mean "
		       "'gateway'?); expected one of gateway, remote_id, local_id, auth, ca, "
		       "proposals, esp_proposals, local_ts, remote_ts, virtual_ip, mode, fail_closed, "
		       "mobike, dpd, rekey, timeout, retry, enroll");
	parse_err_with("      local_ts: [[10.0.0.0/8]]\n",
		       "m2m.yaml:15:18: vpn.profiles.pos.local_ts[0]: got a list; expected an IPv4 "
		       "or IPv6 prefix such as 10.1.0.0/16 or fd00:1::/64");
	parse_err_with("      virtual_ip: maybe\n",
		       "m2m.yaml:15:19: vpn.profiles.pos.virtual_ip: invalid boolean 'maybe'; "
		       "expected true, false, yes or no");
	parse_err_with("      local_id:\n",
		       "m2m.yaml:15:7: vpn.profiles.pos.local_id: got no value; expected an IKE "
		       "identity (a string)");
	parse_err_with("      local_id: \"\"\n",
		       "m2m.yaml:15:17: vpn.profiles.pos.local_id: empty string; expected an IKE "
		       "identity (a string)");
	parse_err_with("      proposals: []\n",
		       "m2m.yaml:15:18: vpn.profiles.pos.proposals: empty list; expected at least "
		       "one: a strongSwan proposal such as aes256gcm16-prfsha256-ecp256");
	parse_err_with("      proposals: [aes256 sha256]\n",
		       "m2m.yaml:15:19: vpn.profiles.pos.proposals[0]: invalid proposal 'aes256 "
		       "sha256' (only letters, digits, - and _ are allowed); expected a strongSwan "
		       "proposal such as aes256gcm16-prfsha256-ecp256");
	parse_err("version: 1\ndevice: {id: \"a\\tb\"}\n",
		  "m2m.yaml:2:14: device.id: control character in 'a\\x09b'; expected an IKE "
		  "identity (a string)");
	parse_err("version: 1\n? [a]\n: b\n",
		  "m2m.yaml:2:3: got a list as a key; expected a plain key: version, device, "
		  "charon, state_dir, vpn, dm, update, policy, pki");
	parse_err("- version: 1\n",
		  "m2m.yaml:1:1: got a list; expected a mapping with version: 1 and the sections "
		  "of m2m.yaml(5)");
	parse_err("version: 1\nstate_dir: var/lib/m2m\n",
		  "m2m.yaml:2:12: state_dir: invalid path 'var/lib/m2m' (not absolute); expected "
		  "an absolute directory path");
	parse_err("version: 1\ncharon: {vici: \"tcp://127.0.0.1:4502\"}\n",
		  "m2m.yaml:2:16: charon.vici: invalid VICI URI 'tcp://127.0.0.1:4502' (neither "
		  "unix:// nor an absolute path); expected unix:///path/to/socket or "
		  "/path/to/socket");
	parse_err("version: 1\ncharon: {vici: \"unix://run/x\"}\n",
		  "m2m.yaml:2:16: charon.vici: invalid VICI URI 'unix://run/x' (the socket path "
		  "is not absolute); expected unix:///path/to/socket or /path/to/socket");
	parse_err("version: 1\ndm: [1]\n",
		  "m2m.yaml:2:5: dm: got a list; expected a mapping with server, security and "
		  "their keys");
}

static void test_err_enum(void **state)
{
	/* the example of the error format */
	parse_err("version: 1\n"
		  "device:\n"
		  "  id: dev1.lab\n"
		  "vpn:\n"
		  "  profiles:\n"
		  "    pos:\n"
		  "      gateway: 10.99.0.1\n"
		  "      remote_id: gw.lab\n"
		  "      ca: ca.pem\n"
		  "      remote_ts: 10.99.1.1/32\n"
		  "      virtual_ip: true\n"
		  "      mode: allways-on\n",
		  "m2m.yaml:12:13: vpn.profiles.pos.mode: unknown value 'allways-on'; expected "
		  "on-demand or always-on");
	parse_err("version: 1\nvpn: {profiles: {p: {auth: {method: psk}}}}\n",
		  "m2m.yaml:2:37: vpn.profiles.p.auth.method: unknown value 'psk'; expected cert, "
		  "pkcs12, pkcs11, tpm, machine, eap or cert+eap");
}

/* The methods of the key stores and EAP: their keys, defaults and errors. */
static void test_auth_methods(void **state)
{
#define P(auth) "version: 1\ndevice: {id: dev1.lab}\nvpn:\n  profiles:\n" \
		"    p: {gateway: g, remote_id: g, ca: /ca, remote_ts: 10.0.0.0/8,\n" \
		"        auth: " auth "}\n"
	struct m2m_config *cfg;
	const struct m2m_vpn_profile *p;

	cfg = parse_ok(P("{method: pkcs11, module: /usr/lib/softhsm/libsofthsm2.so, token: lab-dev, "
			 "id: 0A01, pin: {file: /etc/m2m/pin}}"));
	p = &cfg->profiles[0];
	assert_int_equal(p->auth, M2M_AUTH_PKCS11);
	assert_string_equal(p->module, "/usr/lib/softhsm/libsofthsm2.so");
	assert_string_equal(p->token, "lab-dev");
	assert_string_equal(p->key_id, "0A01");
	assert_null(p->cert);
	assert_int_equal(p->pin.source, M2M_SECRET_FILE);
	m2m_config_free(cfg);

	cfg = parse_ok(P("{method: tpm, cert: /c.pem, handle: 0x81010002, tcti: \"tabrmd:bus_type=session\"}"));
	p = &cfg->profiles[0];
	assert_int_equal(p->auth, M2M_AUTH_TPM);
	assert_int_equal(p->handle, 0x81010002u);
	assert_string_equal(p->tcti, "tabrmd:bus_type=session");
	m2m_config_free(cfg);
	cfg = parse_ok(P("{method: tpm, cert: /c.pem}"));
	assert_int_equal(cfg->profiles[0].handle, 0);
	assert_null(cfg->profiles[0].tcti);
	m2m_config_free(cfg);

	cfg = parse_ok(P("{method: machine, cert: /c.pem, key: /k.bound}"));
	assert_int_equal(cfg->profiles[0].auth, M2M_AUTH_MACHINE);
	m2m_config_free(cfg);

	cfg = parse_ok(P("{method: eap, eap_id: user1, password: {credential: eap-pass}}"));
	p = &cfg->profiles[0];
	assert_int_equal(p->auth, M2M_AUTH_EAP);
	assert_string_equal(p->eap_id, "user1");
	assert_int_equal(p->password.source, M2M_SECRET_CREDENTIAL);
	assert_string_equal(p->password.path, "eap-pass");
	assert_int_equal(p->pin.source, M2M_SECRET_NONE);
	m2m_config_free(cfg);

	cfg = parse_ok(P("{method: cert+eap, cert: /c.pem, key: /k.pem, password: {fd: 3}}"));
	p = &cfg->profiles[0];
	assert_int_equal(p->auth, M2M_AUTH_CERT_EAP);
	assert_int_equal(p->password.source, M2M_SECRET_FD);
	assert_int_equal(p->password.fd, 3);
	assert_null(p->eap_id);
	m2m_config_free(cfg);

	parse_err(P("{method: pkcs11, module: /m.so, id: 01}"),
		  "m2m.yaml:6:9: vpn.profiles.p.auth.pin: missing for method pkcs11; expected "
		  "where the PIN comes from (file, fd, credential or prompt)");
	parse_err(P("{method: pkcs11, module: m.so, id: 01, pin: {prompt: yes}}"),
		  "m2m.yaml:6:40: vpn.profiles.p.auth.module: invalid path 'm.so' (not absolute); "
		  "expected the absolute path of a PKCS#11 module (.so)");
	parse_err(P("{method: pkcs11, module: /m.so, id: 1, pin: {prompt: yes}}"),
		  "m2m.yaml:6:51: vpn.profiles.p.auth.id: invalid key id '1' (an odd number of hex "
		  "digits); expected the key's CKA_ID in hex, such as 01");
	parse_err(P("{method: tpm, cert: /c, handle: 81010002}"),
		  "m2m.yaml:6:47: vpn.profiles.p.auth.handle: invalid handle '81010002'; expected a "
		  "persistent handle in hex, 0x81000000 to 0x817fffff");
	parse_err(P("{method: tpm, cert: /c, handle: 0x80000001}"),
		  "m2m.yaml:6:47: vpn.profiles.p.auth.handle: invalid handle '0x80000001'; expected a "
		  "persistent handle in hex, 0x81000000 to 0x817fffff");
	parse_err(P("{method: tpm, cert: /c, handle: 0x81800001}"),
		  "m2m.yaml:6:47: vpn.profiles.p.auth.handle: handle '0x81800001' belongs to the "
		  "platform; expected a persistent handle in hex, 0x81000000 to 0x817fffff");
	parse_err(P("{method: eap, eap_id: u}"),
		  "m2m.yaml:6:9: vpn.profiles.p.auth.password: missing for method eap; expected "
		  "where the EAP password comes from (file, fd, credential or prompt)");
	parse_err(P("{method: eap, password: {prompt: yes}, key: /k}"),
		  "m2m.yaml:6:54: vpn.profiles.p.auth.key: not used by method eap; expected method, "
		  "eap_id or password");
	parse_err(P("{method: machine, cert: /c, key: /k, pin: {prompt: yes}}"),
		  "m2m.yaml:6:52: vpn.profiles.p.auth.pin: not used by method machine; expected "
		  "method, cert, key, tcti or handle");
	parse_err(P("{method: eap, password: s3cret}"),
		  "m2m.yaml:6:39: vpn.profiles.p.auth.password: got 's3cret'; expected a mapping saying "
		  "where the PIN comes from (file, fd, credential or prompt), never the PIN itself");
#undef P
}

/* The one map from an auth method (or the dm key) to its name and its key store. */
static void test_key_store_names(void **state)
{
	static const struct {
		enum m2m_auth_method m;
		const char *name, *store;
	} t[] = {
		{ M2M_AUTH_CERT, "cert", "file" },
		{ M2M_AUTH_PKCS12, "pkcs12", "pkcs12" },
		{ M2M_AUTH_PKCS11, "pkcs11", "pkcs11" },
		{ M2M_AUTH_TPM, "tpm", "tpm" },
		{ M2M_AUTH_MACHINE, "machine", "machine" },
		{ M2M_AUTH_EAP, "eap", "none" },
		{ M2M_AUTH_CERT_EAP, "cert+eap", "file" },
	};
	struct m2m_dm_config dm = { 0 };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_string_equal(m2m_auth_method_name(t[i].m), t[i].name);
		assert_string_equal(m2m_auth_key_store(t[i].m), t[i].store);
	}
	assert_string_equal(m2m_auth_method_name((enum m2m_auth_method)99), "unknown");
	assert_string_equal(m2m_auth_key_store((enum m2m_auth_method)-1), "unknown");
	assert_string_equal(m2m_dm_key_store(&dm), "file");
	dm.key_module = "/usr/lib/p11.so";
	assert_string_equal(m2m_dm_key_store(&dm), "pkcs11");
	dm.key_module = NULL;
	dm.key_tpm = true;
	assert_string_equal(m2m_dm_key_store(&dm), "tpm");
}

static void test_err_duration(void **state)
{
	static const char expected[] =
		"expected a number with unit ms, s, m or h (none: seconds), such as 2.5s, at most 24h";
	char want[512];

	snprintf(want, sizeof(want),
		 "m2m.yaml:15:12: vpn.profiles.pos.dpd: invalid duration '10x' (unknown unit); %s",
		 expected);
	parse_err_with("      dpd: 10x\n", want);
	snprintf(want, sizeof(want),
		 "m2m.yaml:15:14: vpn.profiles.pos.rekey: invalid duration '25h' (longer than 24h); %s",
		 expected);
	parse_err_with("      rekey: 25h\n", want);
	snprintf(want, sizeof(want),
		 "m2m.yaml:15:14: vpn.profiles.pos.rekey: invalid duration '99999999999999999999s' (longer than 24h); %s",
		 expected);
	parse_err_with("      rekey: 99999999999999999999s\n", want);
	snprintf(want, sizeof(want),
		 "m2m.yaml:15:16: vpn.profiles.pos.timeout: invalid duration '0s' (zero); "
		 "expected more than 0, a number with unit ms, s, m or h (none: seconds), "
		 "such as 2.5s, at most 24h");
	parse_err_with("      timeout: 0s\n", want);
	snprintf(want, sizeof(want),
		 "m2m.yaml:15:12: vpn.profiles.pos.dpd: invalid duration '-1s' (not a number); %s",
		 expected);
	parse_err_with("      dpd: -1s\n", want);
	snprintf(want, sizeof(want),
		 "m2m.yaml:15:12: vpn.profiles.pos.dpd: invalid duration '1,5s' (unknown unit); %s",
		 expected);
	parse_err_with("      dpd: 1,5s\n", want);
	snprintf(want, sizeof(want),
		 "m2m.yaml:15:12: vpn.profiles.pos.dpd: invalid duration '1.s' (not a number); %s",
		 expected);
	parse_err_with("      dpd: 1.s\n", want);
}

/* Decimals, as on the command line (--timeout 2.5): one grammar for both. */
static void test_duration_decimals(void **state)
{
	struct m2m_config *cfg = parse_ok(MINIMAL "      dpd: 1.5s\n"
						  "      rekey: 2.5h\n"
						  "      timeout: 2.5\n");

	assert_int_equal(cfg->profiles[0].dpd_delay_ms, 1500);
	assert_int_equal(cfg->profiles[0].rekey_ms, 9000000);
	assert_int_equal(cfg->profiles[0].timeout_ms, 2500);
	m2m_config_free(cfg);
}

static void test_err_cidr(void **state)
{
	parse_err_with("      local_ts: [10.0.0.0/8, 10.0.0.0/33]\n",
		       "m2m.yaml:15:30: vpn.profiles.pos.local_ts[1]: invalid CIDR prefix "
		       "'10.0.0.0/33' (prefix length not in 0..32); expected an IPv4 or IPv6 prefix "
		       "such as 10.1.0.0/16 or fd00:1::/64");
	parse_err_with("      local_ts: 10.0.0.1/8\n",
		       "m2m.yaml:15:17: vpn.profiles.pos.local_ts: invalid CIDR prefix '10.0.0.1/8' "
		       "(address bits set past the prefix length); expected 10.0.0.0/8");
	parse_err_with("      local_ts: 10.0.0.1\n",
		       "m2m.yaml:15:17: vpn.profiles.pos.local_ts: invalid CIDR prefix '10.0.0.1' "
		       "(no /prefix-length); expected an IPv4 or IPv6 prefix such as 10.1.0.0/16 or "
		       "fd00:1::/64");
	parse_err_with("      local_ts: 10.0.256.0/24\n",
		       "m2m.yaml:15:17: vpn.profiles.pos.local_ts: invalid CIDR prefix "
		       "'10.0.256.0/24' (not an IPv4 address); expected an IPv4 or IPv6 prefix such "
		       "as 10.1.0.0/16 or fd00:1::/64");
	parse_err_with("      local_ts: \"fd00::1/64\"\n",
		       "m2m.yaml:15:17: vpn.profiles.pos.local_ts: invalid CIDR prefix 'fd00::1/64' "
		       "(address bits set past the prefix length); expected fd00::/64");
	parse_err("version: 1\nvpn:\n  profiles:\n    p:\n      remote_ts:\n"
		  "        - 10.1.0.0/16\n        - \"fd00:::/64\"\n",
		  "m2m.yaml:7:11: vpn.profiles.p.remote_ts[1]: invalid CIDR prefix 'fd00:::/64' "
		  "(not an IPv6 address); expected an IPv4 or IPv6 prefix such as 10.1.0.0/16 or "
		  "fd00:1::/64");
	parse_err("version: 1\nvpn: {profiles: {p: {gateway: [gw.lab, 10.1.2.300]}}}\n",
		  "m2m.yaml:2:40: vpn.profiles.p.gateway[1]: invalid address or DNS name "
		  "'10.1.2.300' (not an IPv4 address); expected an IPv4 or IPv6 address or a DNS "
		  "name");
	parse_err("version: 1\nvpn: {profiles: {p: {gateway: \"gw lab\"}}}\n",
		  "m2m.yaml:2:31: vpn.profiles.p.gateway: invalid address or DNS name 'gw lab' "
		  "(not a DNS name); expected an IPv4 or IPv6 address or a DNS name");
}

static void test_err_missing(void **state)
{
	parse_err("version: 1\n"
		  "vpn:\n"
		  "  profiles:\n"
		  "    pos:\n"
		  "      gateway: 10.99.0.1\n"
		  "      auth: {method: cert, cert: a, key: b}\n"
		  "      ca: ca.pem\n"
		  "      remote_ts: 10.99.1.1/32\n",
		  "m2m.yaml:4:5: vpn.profiles.pos.remote_id: missing; expected the gateway's IKE "
		  "identity (a string)");
	parse_err("version: 1\nvpn: {profiles: {pos: {}}}\n",
		  "m2m.yaml:2:18: vpn.profiles.pos.gateway: missing; expected the gateway's address "
		  "or DNS name, or a list of them");
	parse_err("version: 1\nvpn: {profiles: {pos: {gateway: g, remote_id: g, auth: {cert: c}}}}\n",
		  "m2m.yaml:2:50: vpn.profiles.pos.auth.method: missing; expected cert, pkcs12, "
		  "pkcs11, tpm, machine, eap or cert+eap");
	parse_err("version: 1\nvpn: {profiles: {pos: {gateway: g, remote_id: g,\n"
		  "    auth: {method: cert, key: k}}}}\n",
		  "m2m.yaml:3:5: vpn.profiles.pos.auth.cert: missing for method cert; expected the "
		  "path of a PEM certificate");
	parse_err("version: 1\nvpn: {profiles: {pos: {gateway: g, remote_id: g,\n"
		  "    auth: {method: pkcs12, pin: {fd: 0}}}}}\n",
		  "m2m.yaml:3:5: vpn.profiles.pos.auth.pkcs12: missing for method pkcs12; "
		  "expected the path of a PKCS#12 file");
	/* neither local_id nor device.id */
	parse_err("version: 1\n"
		  "vpn:\n"
		  "  profiles:\n"
		  "    a: {gateway: g, remote_id: g, local_id: me, ca: /ca, remote_ts: 10.0.0.0/8,\n"
		  "        auth: {method: pkcs12, pkcs12: /p12}}\n"
		  "    b: {gateway: g, remote_id: g, ca: /ca, remote_ts: 10.0.0.0/8,\n"
		  "        auth: {method: pkcs12, pkcs12: /p12}}\n",
		  "m2m.yaml:6:5: vpn.profiles.b.local_id: missing; expected local_id here or "
		  "device.id (our IKE identity)");
	/* a key the method does not use */
	parse_err_with("      pin: 1\n",
		       "m2m.yaml:15:7: vpn.profiles.pos: unknown key 'pin'; expected one of gateway, "
		       "remote_id, local_id, auth, ca, proposals, esp_proposals, local_ts, "
		       "remote_ts, virtual_ip, mode, fail_closed, mobike, dpd, rekey, timeout, retry, enroll");
	parse_err("version: 1\nvpn: {profiles: {pos: {gateway: g, remote_id: g,\n"
		  "    auth: {method: cert, cert: c, key: k, pkcs12: p}}}}\n",
		  "m2m.yaml:3:43: vpn.profiles.pos.auth.pkcs12: not used by method cert; expected "
		  "method, cert, key or pin");
}

static void test_err_duplicate(void **state)
{
	parse_err("version: 1\ndevice:\n  id: a\n  serial: s\n  id: b\n",
		  "m2m.yaml:5:3: device.id: duplicate key (first at line 3); expected each key once");
	parse_err("version: 1\nversion: 1\n",
		  "m2m.yaml:2:1: version: duplicate key (first at line 1); expected each key once");
	parse_err("version: 1\n"
		  "vpn:\n"
		  "  profiles:\n"
		  "    pos: {}\n"
		  "    kiosk: {}\n"
		  "    pos: {}\n",
		  "m2m.yaml:6:5: vpn.profiles.pos: duplicate key (first at line 4); expected each "
		  "key once");
	/*
	 * The reserved sections too, at any depth. A mapping's own keys are
	 * checked before what is nested in it; of them, the first repetition
	 * in the file is reported.
	 */
	parse_err("version: 1\npki:\n  a: {x: 1, y: 2, x: 3}\n  b: 1\n  b: 2\n  a: 1\n",
		  "m2m.yaml:5:3: pki.b: duplicate key (first at line 4); expected each key once");
	parse_err("version: 1\npki:\n  a: {x: 1, y: 2, x: 3}\n  b: 1\n",
		  "m2m.yaml:3:19: pki.a.x: duplicate key (first at line 3); expected each key once");
	parse_err("version: 1\npki: {b: 1, a: 1, c: 1, b: 2, a: 2}\n",
		  "m2m.yaml:2:25: pki.b: duplicate key (first at line 2); expected each key once");
}

static void test_dm(void **state)
{
	struct m2m_config *cfg;

	cfg = parse_ok("version: 1\ndevice: {id: dev9}\n"
		       "dm: {server: \"coap://127.0.0.1:5683\", security: nosec,\n"
		       "     hooks: {reboot: /sbin/reboot}, location: /run/gps}\n");
	assert_true(cfg->dm.enabled);
	assert_string_equal(cfg->dm.endpoint, "dev9");
	assert_int_equal(cfg->dm.security, M2M_DM_NOSEC);
	assert_int_equal(cfg->dm.binding, M2M_DM_BINDING_U);
	assert_int_equal(cfg->dm.lifetime_ms, 300000);
	assert_int_equal(cfg->dm.block_size, 1024);
	/* LwM2M TS 1.1 Transport, queue mode: CoAP's MAX_TRANSMIT_WAIT; the run's bound has room for it */
	assert_int_equal(cfg->dm.queue_window_ms, 93000);
	assert_true(cfg->dm.timeout_ms > cfg->dm.queue_window_ms);
	assert_string_equal(cfg->dm.reboot_hook, "/sbin/reboot");
	assert_null(cfg->dm_send);
	m2m_config_free(cfg);
	/* dm.send: LwM2M paths (TS 1.1 Core 7.1), one or a list; never the Security object */
	cfg = parse_ok("version: 1\ndevice: {id: dev9}\n"
		       "dm: {server: \"coap://h\", security: nosec, send: [/3/0/9, /4/0, /33810]}\n");
	assert_string_equal(cfg->dm_send[0], "/3/0/9");
	assert_string_equal(cfg->dm_send[2], "/33810");
	assert_null(cfg->dm_send[3]);
	m2m_config_free(cfg);
	cfg = parse_ok("version: 1\ndevice: {id: dev9}\n"
		       "dm: {server: \"coap://h\", security: nosec, send: /3/0/7/1}\n");
	assert_string_equal(cfg->dm_send[0], "/3/0/7/1");
	m2m_config_free(cfg);
	parse_err("version: 1\ndevice: {id: d}\n"
		  "dm: {server: \"coap://h\", security: nosec, send: [/3/0/9, /3/65535]}\n",
		  "m2m.yaml:3:58: dm.send[1]: invalid LwM2M path '/3/65535' (not an LwM2M path); "
		  "expected /Object[/Instance[/Resource[/Instance]]], such as /3/0/9");
	parse_err("version: 1\ndevice: {id: d}\n"
		  "dm: {server: \"coap://h\", security: nosec, send: /0/0/3}\n",
		  "m2m.yaml:3:49: dm.send: invalid LwM2M path '/0/0/3' (the Security object is never "
		  "sent); expected a path outside the Security object (/0)");
	cfg = parse_ok("version: 1\ndevice: {id: dev9}\n"
		       "dm: {server: \"coap://h\", security: nosec, block_size: 64}\n");
	assert_int_equal(cfg->dm.block_size, 64);
	assert_int_equal(cfg->dm.max_body, 64 * 1024);
	m2m_config_free(cfg);
	cfg = parse_ok("version: 1\ndevice: {id: dev9}\n"
		       "dm: {server: \"coap://h\", security: nosec, max_body: 1MiB}\n");
	assert_int_equal(cfg->dm.max_body, 1024 * 1024);
	m2m_config_free(cfg);
	cfg = parse_ok("version: 1\ndevice: {id: dev9}\n"
		       "dm: {server: \"coap://h\", security: nosec, max_body: 2048}\n");
	assert_int_equal(cfg->dm.max_body, 2048);
	m2m_config_free(cfg);
	parse_err("version: 1\ndevice: {id: d}\n"
		  "dm: {server: \"coap://h\", security: nosec, max_body: 4GiB}\n",
		  "m2m.yaml:3:53: dm.max_body: invalid size '4GiB' (unknown unit); expected a whole "
		  "number of bytes, with unit B, KiB or MiB, from 1024 to 16777216 bytes");
	parse_err("version: 1\ndevice: {id: d}\n"
		  "dm: {server: \"coap://h\", security: nosec, max_body: 17MiB}\n",
		  "m2m.yaml:3:53: dm.max_body: invalid size '17MiB' (too large); expected a whole "
		  "number of bytes, with unit B, KiB or MiB, from 1024 to 16777216 bytes");
	parse_err("version: 1\ndevice: {id: d}\n"
		  "dm: {server: \"coap://h\", security: nosec, max_body: 99999999999999999999}\n",
		  "m2m.yaml:3:53: dm.max_body: invalid size '99999999999999999999' (too large); "
		  "expected a whole number of bytes, with unit B, KiB or MiB, from 1024 to 16777216 "
		  "bytes");
	parse_err("version: 1\ndevice: {id: d}\n"
		  "dm: {server: \"coap://h\", security: nosec, max_body: 10}\n",
		  "m2m.yaml:3:53: dm.max_body: invalid size '10' (too small); expected a whole "
		  "number of bytes, with unit B, KiB or MiB, from 1024 to 16777216 bytes");
	parse_err("version: 1\ndevice: {id: d}\n"
		  "dm: {server: \"coap://h\", security: nosec, block_size: 100}\n",
		  "m2m.yaml:3:55: dm.block_size: unknown value '100'; expected 16, 32, 64, 128, "
		  "256, 512 or 1024");
	cfg = parse_ok("version: 1\ndm: {}\n");
	assert_false(cfg->dm.enabled);
	m2m_config_free(cfg);
	parse_err("version: 1\ndm: {server: \"coap://h\", security: psk, psk_identity: x,"
		  " psk_key: {file: /k}}\n",
		  "m2m.yaml:2:6: dm.server: 'coap://h' does not match security psk; expected "
		  "coaps://");
	parse_err("version: 1\ndm: {server: \"coaps://h\", security: psk, psk_identity: x}\n",
		  "m2m.yaml:2:1: dm.psk_key: missing; expected it with security psk");
	parse_err("version: 1\ndm: {server: \"coap://h\", security: nosec, cert: a.pem}\n",
		  "m2m.yaml:2:43: dm.cert: does not apply to security nosec; expected it removed");
	parse_err("version: 1\ndm: {server: \"http://h\", security: nosec}\n",
		  "m2m.yaml:2:14: dm.server: invalid URI 'http://h' (not a coap:// or coaps:// "
		  "URI); expected coap://host[:port] or coaps://host[:port]");
	parse_err("version: 1\ndm: {server: \"coap://h\", security: nosec, binding: Q}\n",
		  "m2m.yaml:2:52: dm.binding: unknown value 'Q'; expected U or UQ");
	parse_err("version: 1\ndm: {server: \"coap://h\", security: nosec}\n",
		  "m2m.yaml:2:1: dm.endpoint: missing; expected endpoint here or device.id");
	/* x509 with the key on a PKCS#11 token */
	cfg = parse_ok("version: 1\ndevice: {id: d}\n"
		       "dm:\n  server: \"coaps://h\"\n  security: x509\n  cert: c.pem\n  ca: ca.pem\n"
		       "  key:\n    pkcs11: {module: /usr/lib/p11.so, token: lab, id: \"0a\"}\n"
		       "    pin: {credential: dm-pin}\n");
	assert_null(cfg->dm.key);
	assert_string_equal(cfg->dm.key_module, "/usr/lib/p11.so");
	assert_string_equal(cfg->dm.key_token, "lab");
	assert_string_equal(cfg->dm.key_id, "0a");
	assert_int_equal(cfg->dm.key_pin.source, M2M_SECRET_CREDENTIAL);
	m2m_config_free(cfg);
	parse_err("version: 1\ndevice: {id: d}\n"
		  "dm: {server: \"coaps://h\", security: x509, cert: c, ca: a,\n"
		  "     key: {pkcs11: {module: /m.so, id: \"01\"}}}\n",
		  "m2m.yaml:4:6: dm.key.pin: missing; expected where the token's user PIN comes "
		  "from (file, fd, credential or prompt)");
	parse_err("version: 1\ndevice: {id: d}\n"
		  "dm: {server: \"coaps://h\", security: x509, cert: c, ca: a,\n"
		  "     key: {pkcs11: {module: m.so, id: \"01\"}, pin: {prompt: true}}}\n",
		  "m2m.yaml:4:29: dm.key.pkcs11.module: invalid path 'm.so' (not absolute); "
		  "expected the absolute path of a PKCS#11 module (.so)");
	parse_err("version: 1\ndevice: {id: d}\n"
		  "dm: {server: \"coaps://h\", security: x509, cert: c, ca: a,\n"
		  "     key: {pkcs11: {module: /m.so}, pin: {prompt: true}}}\n",
		  "m2m.yaml:4:12: dm.key.pkcs11.id: missing; expected the key's CKA_ID in hex, "
		  "such as 01");
	/* x509 with the key in a TPM: the auth value is optional */
	cfg = parse_ok("version: 1\ndevice: {id: d}\n"
		       "dm:\n  server: \"coaps://h\"\n  security: x509\n  cert: c.pem\n  ca: ca.pem\n"
		       "  key:\n    tpm: {handle: 0x81010007, tcti: \"device:/dev/tpmrm0\"}\n");
	assert_null(cfg->dm.key);
	assert_true(cfg->dm.key_tpm);
	assert_int_equal(cfg->dm.key_handle, 0x81010007);
	assert_string_equal(cfg->dm.key_tcti, "device:/dev/tpmrm0");
	assert_int_equal(cfg->dm.key_pin.source, M2M_SECRET_NONE);
	m2m_config_free(cfg);
	cfg = parse_ok("version: 1\ndevice: {id: d}\n"
		       "dm: {server: \"coaps://h\", security: x509, cert: c, ca: a,\n"
		       "     key: {tpm: {}, pin: {file: /etc/m2m/a}}}\n");
	assert_true(cfg->dm.key_tpm);
	assert_int_equal(cfg->dm.key_handle, 0);
	assert_int_equal(cfg->dm.key_pin.source, M2M_SECRET_FILE);
	m2m_config_free(cfg);
	parse_err("version: 1\ndevice: {id: d}\n"
		  "dm: {server: \"coaps://h\", security: x509, cert: c, ca: a,\n"
		  "     key: {pkcs11: {module: /m.so, id: \"01\"}, tpm: {}, pin: {prompt: true}}}\n",
		  "m2m.yaml:4:47: dm.key.tpm: the key is on a PKCS#11 token already; expected "
		  "pkcs11 or tpm, not both");
	parse_err("version: 1\ndevice: {id: d}\n"
		  "dm: {server: \"coaps://h\", security: x509, cert: c, ca: a,\n"
		  "     key: {tpm: {handle: 7}}}\n",
		  "m2m.yaml:4:26: dm.key.tpm.handle: invalid handle '7'; expected a persistent "
		  "handle in hex, 0x81000000 to 0x817fffff");
}

static void test_err_alias(void **state)
{
	parse_err("version: 1\ndevice: &dev {id: x}\ncharon: *dev\n",
		  "m2m.yaml:3:9: charon: alias '*dev' refused; expected the value written out "
		  "(aliases are not supported)");
	parse_err("version: 1\ndevice: {id: &i x, serial: *i}\n",
		  "m2m.yaml:2:28: device.serial: alias '*i' refused; expected the value written "
		  "out (aliases are not supported)");
	parse_err("version: &v 1\n*v : 1\n",
		  "m2m.yaml:2:1: alias '*v' refused; expected the value written out (aliases are "
		  "not supported)");
	parse_err("version: 1\npki: {a: &x [1], b: [*x]}\n",
		  "m2m.yaml:2:22: pki.b[0]: alias '*x' refused; expected the value written out "
		  "(aliases are not supported)");
	/* billion laughs: refused at the first alias, nothing expanded */
	parse_err("version: 1\n"
		  "pki:\n"
		  "  a: &a [x, x, x, x, x, x, x, x, x]\n"
		  "  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		  "  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
		  "m2m.yaml:4:10: pki.b[0]: alias '*a' refused; expected the value written out "
		  "(aliases are not supported)");
	/* an anchor alone is harmless */
	m2m_config_free(parse_ok("version: 1\ndevice: &d {id: x}\n"));
}

static void test_err_syntax(void **state)
{
	parse_err("version: 1\ndevice: {id: x\n",
		  "m2m.yaml:3:1: YAML syntax error: did not find expected ',' or '}' (while "
		  "parsing a flow mapping at 2:9)");
	parse_err("version: 1\n device: x\n",
		  "m2m.yaml:2:8: YAML syntax error: mapping values are not allowed in this context");
	parse_err("version: 1\ndevice:\n\tid: x\n",
		  "m2m.yaml:3:1: YAML syntax error: found character that cannot start any token "
		  "(while scanning for the next token at 3:1)");
	parse_err("version: 1\nx: \"\xff\"\n",
		  "m2m.yaml:2:5: YAML syntax error: invalid leading UTF-8 octet (#FF)");
	parse_err("version: 1\n---\nversion: 1\n",
		  "m2m.yaml:2:1: a second YAML document; expected exactly one");
}

static void test_err_empty(void **state)
{
	static const char msg[] =
		"m2m.yaml:1:1: version: missing (the file is empty); expected version: 1";

	parse_err("", msg);
	parse_err("# nothing but a comment\n\n", msg);
	parse_err("---\n", "m2m.yaml:2:1: version: missing (the file is empty); expected version: 1");
	parse_err("~\n", msg);
}

static void test_err_version(void **state)
{
	parse_err("device: {id: x}\n",
		  "m2m.yaml:1:1: version: missing; expected version: 1");
	parse_err("version: 2\n", "m2m.yaml:1:10: version: unsupported version 2; expected 1");
	/* the version is checked before anything else in the file */
	parse_err("gateway: x\nversion: 2\n",
		  "m2m.yaml:2:10: version: unsupported version 2; expected 1");
	parse_err("version: one\n", "m2m.yaml:1:10: version: invalid version 'one'; expected 1");
	parse_err("version: 1.0\n", "m2m.yaml:1:10: version: invalid version '1.0'; expected 1");
	parse_err("version: [1]\n", "m2m.yaml:1:10: version: got a list; expected 1");
	parse_err("version:\n", "m2m.yaml:1:1: version: got no value; expected 1");
}

static void test_err_pin(void **state)
{
	parse_err("version: 1\n"
		  "vpn:\n"
		  "  profiles:\n"
		  "    pos:\n"
		  "      auth:\n"
		  "        method: pkcs12\n"
		  "        pkcs12: dev.p12\n"
		  "        pin:\n"
		  "          file: /etc/m2m/pin\n"
		  "          fd: 3\n",
		  "m2m.yaml:10:11: vpn.profiles.pos.auth.pin.fd: a second source (after 'file'); "
		  "expected exactly one of file, fd, credential or prompt");
	parse_err("version: 1\nvpn: {profiles: {p: {auth: {pin: {}}}}}\n",
		  "m2m.yaml:2:29: vpn.profiles.p.auth.pin: no source; expected exactly one of file, "
		  "fd, credential or prompt");
	parse_err("version: 1\nvpn: {profiles: {p: {auth: {pin: 1234}}}}\n",
		  "m2m.yaml:2:34: vpn.profiles.p.auth.pin: got '1234'; expected a mapping saying "
		  "where the PIN comes from (file, fd, credential or prompt), never the PIN itself");
	parse_err("version: 1\nvpn: {profiles: {p: {auth: {pin: {prompt: no}}}}}\n",
		  "m2m.yaml:2:43: vpn.profiles.p.auth.pin.prompt: 'no' names no source; expected "
		  "true, or no pin at all");
	parse_err("version: 1\nvpn: {profiles: {p: {auth: {pin: {fd: -3}}}}}\n",
		  "m2m.yaml:2:39: vpn.profiles.p.auth.pin.fd: invalid file descriptor '-3'; "
		  "expected a file descriptor number (0 or more)");
	parse_err("version: 1\nvpn: {profiles: {p: {auth: {pin: {fd: 99999999999}}}}}\n",
		  "m2m.yaml:2:39: vpn.profiles.p.auth.pin.fd: invalid file descriptor "
		  "'99999999999'; expected a file descriptor number (0 or more)");
	parse_err("version: 1\nvpn: {profiles: {p: {auth: {pin: {credential: ../x}}}}}\n",
		  "m2m.yaml:2:47: vpn.profiles.p.auth.pin.credential: invalid credential name "
		  "'../x' (not a file name); expected a systemd credential name");
}

static void test_err_retry(void **state)
{
	parse_err_with("      retry:\n"
		       "        auth: {min: 5m, max: 1m}\n",
		       "m2m.yaml:16:30: vpn.profiles.pos.retry.auth.max: '1m' is less than min 5m; "
		       "expected max >= min");
	parse_err_with("      retry:\n"
		       "        network: {min: 90s}\n",
		       "m2m.yaml:16:24: vpn.profiles.pos.retry.network.min: '90s' is more than the "
		       "default max 1m; expected min <= max (set max too)");
	parse_err_with("      retry:\n"
		       "        network: {min: 0}\n",
		       "m2m.yaml:16:24: vpn.profiles.pos.retry.network.min: invalid duration '0' "
		       "(zero); expected more than 0, a number with unit ms, s, m or h (none: "
		       "seconds), such as 2.5s, at most 24h");
	/* equal is fine */
	m2m_config_free(parse_ok(MINIMAL "      retry: {auth: {min: 1h, max: 60m}}\n"));
}

static void test_err_profile_name(void **state)
{
	parse_err("version: 1\nvpn:\n  profiles:\n    \"p s\": {}\n",
		  "m2m.yaml:4:5: vpn.profiles: invalid profile name 'p s'; expected 1 to 32 "
		  "letters, digits, _ or -");
	parse_err("version: 1\nvpn:\n  profiles:\n    p.x: {}\n",
		  "m2m.yaml:4:5: vpn.profiles: invalid profile name 'p.x'; expected 1 to 32 "
		  "letters, digits, _ or -");
	parse_err("version: 1\nvpn:\n  profiles:\n    \"\": {}\n",
		  "m2m.yaml:4:5: vpn.profiles: invalid profile name ''; expected 1 to 32 letters, "
		  "digits, _ or -");
	parse_err("version: 1\nvpn:\n  profiles:\n    abcdefghijklmnopqrstuvwxyz0123456: {}\n",
		  "m2m.yaml:4:5: vpn.profiles: invalid profile name "
		  "'abcdefghijklmnopqrstuvwxyz0123456'; expected 1 to 32 letters, digits, _ or -");
	parse_err("version: 1\nvpn:\n  profiles:\n    quarantine: {}\n",
		  "m2m.yaml:4:5: vpn.profiles: profile name 'quarantine' is taken by the security "
		  "policies' quarantine; choose another");
	parse_err("version: 1\nvpn:\n  profiles:\n    pos: []\n",
		  "m2m.yaml:4:10: vpn.profiles.pos: got a list; expected a mapping describing the "
		  "profile");
	/* 32 characters are fine */
	m2m_config_free(parse_ok("version: 1\nvpn: {profiles: {abcdefghijklmnopqrstuvwxyz_-0123: "
				 "{gateway: g, remote_id: g, local_id: i, ca: /c,"
				 " remote_ts: 10.0.0.0/8, auth: {method: pkcs12, pkcs12: /p}}}}\n"));
}

/* Nesting, size and node limits; messages stay on one line whatever the input. */
static void test_limits(void **state)
{
	struct m2m_config *cfg = (struct m2m_config *)1;
	struct m2m_err err = { 0 };
	char deep[256], *big;
	int n;

	n = snprintf(deep, sizeof(deep), "version: 1\ndm: ");
	for (int i = 0; i < 40; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	parse_err(deep, "m2m.yaml:2:36: nested deeper than 32 levels; expected a configuration file");

	big = malloc(CFG_MAX_BYTES + 2);
	assert_non_null(big);
	memset(big, '#', CFG_MAX_BYTES + 1);
	assert_int_equal(m2m_config_parse("big.yaml", big, CFG_MAX_BYTES + 1, &cfg, &err),
			 M2M_ERR_CONFIG);
	assert_null(cfg);
	assert_string_equal(err.msg, "big.yaml: too large (1048577 bytes); expected at most 1 MiB");

	/* many nodes: "[0,0,0,...]" */
	big[0] = '[';
	n = 1;
	for (int i = 0; i < CFG_MAX_NODES + 10; i++) {
		big[n++] = '0';
		big[n++] = ',';
	}
	big[n++] = ']';
	assert_int_equal(m2m_config_parse("big.yaml", big, (size_t)n, &cfg, &err), M2M_ERR_CONFIG);
	assert_string_equal(err.msg, "big.yaml:1:200000: too many YAML nodes (more than 100000); "
				     "expected a configuration file");
	free(big);

	/* a hostile key: control characters escaped, cut short */
	parse_err("version: 1\n\"\\e[31m\\nlong-long-long-long-long-long-long-long-long-long-long\": 1\n",
		  "m2m.yaml:2:1: unknown key '\\x1b[31m\\x0along-long-long-long-long-long-long-long-"
		  "lo...'; expected one of version, device, charon, state_dir, vpn, dm, update, policy, pki");
	assert_int_equal(m2m_config_parse("a\nb.yaml", "", 0, &cfg, &err), M2M_ERR_CONFIG);
	assert_string_equal(err.msg,
			    "a\\x0ab.yaml:1:1: version: missing (the file is empty); expected version: 1");
	assert_int_equal(m2m_config_parse("n.yaml", NULL, 0, &cfg, &err), M2M_ERR_CONFIG);
}

/* ------------------------------------------------------------------------ */
/* value syntax */

static void test_values(void **state)
{
	bool b = false;
	char net[64];

	/* durations: m2m_parse_duration() in lib/base, tested in test_base.c */
	assert_null(cfg_parse_bool("yes", &b));
	assert_true(b);
	assert_null(cfg_parse_bool("FALSE", &b));
	assert_false(b);
	assert_non_null(cfg_parse_bool("on", &b));
	assert_non_null(cfg_parse_bool("1", &b));

	assert_null(cfg_check_cidr("0.0.0.0/0", NULL, 0));
	assert_null(cfg_check_cidr("10.99.1.1/32", NULL, 0));
	assert_null(cfg_check_cidr("::/0", NULL, 0));
	assert_null(cfg_check_cidr("2001:db8::/32", NULL, 0));
	assert_null(cfg_check_cidr("2001:db8::1/128", NULL, 0));
	assert_non_null(cfg_check_cidr("10.0.0.0/", NULL, 0));
	assert_non_null(cfg_check_cidr("/8", NULL, 0));
	assert_non_null(cfg_check_cidr("10.0.0.0/8/8", NULL, 0));
	assert_non_null(cfg_check_cidr("10.0.0.0/+8", NULL, 0));
	assert_non_null(cfg_check_cidr("10.0.0.0/0008", NULL, 0));
	assert_non_null(cfg_check_cidr("10.0.0.0/08", NULL, 0));
	assert_null(cfg_check_cidr("10.0.0.0/8", NULL, 0));
	assert_non_null(cfg_check_cidr("10.0.0/8", NULL, 0));
	assert_non_null(cfg_check_cidr("fe80::1%eth0/64", NULL, 0));
	assert_non_null(cfg_check_cidr("::/129", NULL, 0));
	net[0] = '\0';
	assert_non_null(cfg_check_cidr("192.168.1.77/20", net, sizeof(net)));
	assert_string_equal(net, "192.168.0.0/20");
	assert_non_null(cfg_check_cidr("2001:db8:1:2::/31", net, sizeof(net)));
	assert_string_equal(net, "2001:db8::/31");

	assert_null(cfg_check_host("10.99.0.1"));
	assert_null(cfg_check_host("2001:db8::1"));
	assert_null(cfg_check_host("gw.lab"));
	assert_null(cfg_check_host("gw.example.com."));
	assert_null(cfg_check_host("a-b_c.d3"));
	assert_null(cfg_check_host("localhost"));
	assert_non_null(cfg_check_host("10.99.0.256"));
	assert_non_null(cfg_check_host("gw..lab"));
	assert_non_null(cfg_check_host(".gw"));
	assert_non_null(cfg_check_host("-gw.lab"));
	assert_non_null(cfg_check_host("gw-.lab"));
	assert_non_null(cfg_check_host("gw lab"));
	assert_non_null(cfg_check_host("%any"));
	assert_non_null(cfg_check_host("2001:db8::g"));
	assert_non_null(cfg_check_host(""));
	assert_non_null(cfg_check_host("."));
	assert_non_null(cfg_check_host("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.lab"));

	assert_int_equal(cfg_distance("gatway", 6, "gateway"), 1);
	assert_int_equal(cfg_distance("gaetway", 7, "gateway"), 1);
	assert_int_equal(cfg_distance("GATEWAY", 7, "gateway"), 0);
	assert_int_equal(cfg_distance("remoteid", 8, "remote_id"), 1);
	assert_int_equal(cfg_distance("xyz", 3, "gateway"), 3);

	cfg_format_duration(net, sizeof(net), 0);
	assert_string_equal(net, "0s");
	cfg_format_duration(net, sizeof(net), 90000);
	assert_string_equal(net, "90s");
	cfg_format_duration(net, sizeof(net), 3600000);
	assert_string_equal(net, "1h");
	cfg_format_duration(net, sizeof(net), 1500);
	assert_string_equal(net, "1500ms");
}

/* ------------------------------------------------------------------------ */
/* files */

struct tmp {
	char dir[64];
	char file[96];
};

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/m2m-test-config.XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->file, sizeof(t->file), "%s/m2m.yaml", t->dir);
	*state = t;
	return 0;
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		return -1;
	free(t);
	return 0;
}

static int load(const char *path, struct m2m_config **cfg, struct m2m_err *err)
{
	*cfg = (struct m2m_config *)1;
	err->msg[0] = '\0';
	return m2m_config_load(path, cfg, err);
}

static void test_permissions(void **state)
{
	struct tmp *t = *state;
	struct m2m_config *cfg;
	struct m2m_err err;
	char want[2048], sub[256], link[512], fifo[256];

	write_file(t->file, MINIMAL, 0600);
	assert_int_equal(load(t->file, &cfg, &err), M2M_OK);
	assert_string_equal(cfg->path, t->file);
	m2m_config_free(cfg);

	write_file(t->file, MINIMAL, 0644);
	assert_int_equal(load(t->file, &cfg, &err), M2M_OK);
	m2m_config_free(cfg);

	write_file(t->file, MINIMAL, 0666);
	assert_int_equal(load(t->file, &cfg, &err), M2M_ERR_CONFIG);
	assert_null(cfg);
	snprintf(want, sizeof(want),
		 "%s: refusing a config file writable by others (mode 0666); chmod go-w %s",
		 t->file, t->file);
	assert_string_equal(err.msg, want);

	write_file(t->file, MINIMAL, 0664);
	assert_int_equal(load(t->file, &cfg, &err), M2M_ERR_CONFIG);
	snprintf(want, sizeof(want),
		 "%s: refusing a config file writable by others (mode 0664); chmod go-w %s",
		 t->file, t->file);
	assert_string_equal(err.msg, want);

	/* owned by somebody else (only root can arrange that) */
	if (geteuid() == 0) {
		write_file(t->file, MINIMAL, 0644);
		assert_int_equal(chown(t->file, 4321, 4321), 0);
		assert_int_equal(load(t->file, &cfg, &err), M2M_ERR_CONFIG);
		snprintf(want, sizeof(want),
			 "%s: refusing a config file owned by uid 4321 (neither root nor uid 0); chown root %s",
			 t->file, t->file);
		assert_string_equal(err.msg, want);
		assert_int_equal(chown(t->file, 0, 0), 0);
	}

	/* missing, a directory, a FIFO (must not hang) */
	snprintf(sub, sizeof(sub), "%s/none.yaml", t->dir);
	assert_int_equal(load(sub, &cfg, &err), M2M_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s: no such file", sub);
	assert_string_equal(err.msg, want);
	assert_int_equal(load(t->dir, &cfg, &err), M2M_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s: not a regular file; expected a YAML file", t->dir);
	assert_string_equal(err.msg, want);
	snprintf(fifo, sizeof(fifo), "%s/fifo.yaml", t->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(load(fifo, &cfg, &err), M2M_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s: not a regular file; expected a YAML file", fifo);
	assert_string_equal(err.msg, want);

	/* a world-writable directory: refused, unless sticky */
	snprintf(sub, sizeof(sub), "%s/open", t->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(chmod(sub, 0777), 0);
	snprintf(link, sizeof(link), "%s/m2m.yaml", sub);
	write_file(link, MINIMAL, 0600);
	assert_int_equal(load(link, &cfg, &err), M2M_ERR_CONFIG);
	snprintf(want, sizeof(want),
		 "%s: refusing a config file in a world-writable directory (%s, mode 0777); chmod o-w %s",
		 link, sub, sub);
	assert_string_equal(err.msg, want);

	/* a symlink from a safe directory to a file in the unsafe one */
	snprintf(want, sizeof(want), "%s/link.yaml", t->dir);
	assert_int_equal(symlink(link, want), 0);
	assert_int_equal(load(want, &cfg, &err), M2M_ERR_CONFIG);
	assert_non_null(strstr(err.msg, "world-writable directory"));

	assert_int_equal(chmod(sub, 01777), 0);
	assert_int_equal(load(link, &cfg, &err), M2M_OK);
	m2m_config_free(cfg);
	assert_int_equal(load(want, &cfg, &err), M2M_OK);
	m2m_config_free(cfg);

	/* content errors name the file as given */
	write_file(t->file, "version: 2\n", 0600);
	assert_int_equal(load(t->file, &cfg, &err), M2M_ERR_CONFIG);
	snprintf(want, sizeof(want), "%s:1:10: version: unsupported version 2; expected 1", t->file);
	assert_string_equal(err.msg, want);
}

static void test_relative_paths(void **state)
{
	struct tmp *t = *state;
	const struct m2m_vpn_profile *p;
	struct m2m_config *cfg;
	struct m2m_err err;
	char want[PATH_MAX + 64], cwd[PATH_MAX];

	write_file(t->file,
		   "version: 1\n"
		   "device: {id: d}\n"
		   "vpn:\n"
		   "  profiles:\n"
		   "    p:\n"
		   "      gateway: g.lab\n"
		   "      remote_id: g\n"
		   "      auth:\n"
		   "        method: cert\n"
		   "        cert: ./certs/dev.crt\n"
		   "        key: private/dev.key\n"
		   "        pin: {file: ../pin}\n"
		   "      ca: [/abs/ca.pem, ca.pem]\n"
		   "      remote_ts: 10.0.0.0/8\n",
		   0600);
	assert_int_equal(load(t->file, &cfg, &err), M2M_OK);
	p = m2m_config_profile(cfg, "p");
	assert_non_null(p);
	snprintf(want, sizeof(want), "%s/certs/dev.crt", t->dir);
	assert_string_equal(p->cert, want);
	snprintf(want, sizeof(want), "%s/private/dev.key", t->dir);
	assert_string_equal(p->key, want);
	snprintf(want, sizeof(want), "%s/../pin", t->dir);
	assert_string_equal(p->pin.path, want);
	assert_string_equal(p->ca[0], "/abs/ca.pem");
	snprintf(want, sizeof(want), "%s/ca.pem", t->dir);
	assert_string_equal(p->ca[1], want);
	m2m_config_free(cfg);

	/* a relative name of the file itself: still absolute results */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(t->dir), 0);
	assert_int_equal(load("m2m.yaml", &cfg, &err), M2M_OK);
	assert_string_equal(cfg->path, "m2m.yaml");
	snprintf(want, sizeof(want), "%s/certs/dev.crt", t->dir);
	assert_string_equal(m2m_config_profile(cfg, "p")->cert, want);
	m2m_config_free(cfg);
	assert_int_equal(chdir(cwd), 0);

	/* m2m_config_parse: relative to the directory in the name */
	cfg = parse_ok(MINIMAL);
	assert_string_equal(cfg->profiles[0].ca[0], "/etc/m2m/ca.pem");
	m2m_config_free(cfg);
	assert_int_equal(m2m_config_parse("/m2m.yaml", MINIMAL, strlen(MINIMAL), &cfg, &err),
			 M2M_OK);
	assert_string_equal(cfg->profiles[0].ca[0], "/ca.pem");
	m2m_config_free(cfg);
	assert_int_equal(m2m_config_parse("conf/m2m.yaml", MINIMAL, strlen(MINIMAL), &cfg, &err),
			 M2M_OK);
	snprintf(want, sizeof(want), "%s/conf/ca.pem", strcmp(cwd, "/") ? cwd : "");
	assert_string_equal(cfg->profiles[0].ca[0], want);
	m2m_config_free(cfg);
}

static void test_config_path(void **state)
{
	char *saved = getenv(M2M_CONFIG_ENV) ? strdup(getenv(M2M_CONFIG_ENV)) : NULL;

	unsetenv(M2M_CONFIG_ENV);
	assert_string_equal(m2m_config_path(NULL), M2M_CONFIG_DEFAULT_PATH);
	assert_string_equal(m2m_config_path(NULL), "/etc/m2m/m2m.yaml");
	assert_string_equal(m2m_config_path("/x/explicit.yaml"), "/x/explicit.yaml");

	setenv(M2M_CONFIG_ENV, "/from/env.yaml", 1);
	assert_string_equal(m2m_config_path(NULL), "/from/env.yaml");
	assert_string_equal(m2m_config_path("/x/explicit.yaml"), "/x/explicit.yaml");

	setenv(M2M_CONFIG_ENV, "", 1);
	assert_string_equal(m2m_config_path(NULL), M2M_CONFIG_DEFAULT_PATH);

	/* m2m_config_load(NULL) reads what m2m_config_path(NULL) names */
	{
		struct m2m_config *cfg = NULL;
		struct m2m_err err;

		setenv(M2M_CONFIG_ENV, "/nonexistent/m2m-test.yaml", 1);
		assert_int_equal(m2m_config_load(NULL, &cfg, &err), M2M_ERR_CONFIG);
		assert_string_equal(err.msg, "/nonexistent/m2m-test.yaml: no such file");
	}

	if (saved)
		setenv(M2M_CONFIG_ENV, saved, 1);
	else
		unsetenv(M2M_CONFIG_ENV);
	free(saved);
}

/* The commented example shipped with the sources parses, and means what it says. */
static void test_example_file(void **state)
{
	const char *path = M2M_SRCDIR "/examples/m2m.yaml";
	const struct m2m_vpn_profile *pos, *kiosk;
	struct m2m_config *cfg = NULL;
	struct m2m_err err = { 0 };
	char buf[65536];
	size_t n;
	FILE *f = fopen(path, "re");

	if (!f)
		fail_msg("%s: cannot open (run the tests from the top of the source tree)", path);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n > 0 && n < sizeof(buf));
	/* by content: a fresh checkout's file mode depends on the umask */
	if (m2m_config_parse("/etc/m2m/m2m.yaml", buf, n, &cfg, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(cfg->n_profiles, 2);
	pos = m2m_config_profile(cfg, "pos");
	kiosk = m2m_config_profile(cfg, "kiosk");
	assert_non_null(pos);
	assert_non_null(kiosk);
	assert_int_equal(pos->mode, M2M_VPN_ON_DEMAND);
	assert_false(pos->fail_closed);
	assert_int_equal(pos->auth, M2M_AUTH_CERT);
	assert_int_equal(pos->pin.source, M2M_SECRET_CREDENTIAL);
	assert_string_equal(pos->cert, "/etc/m2m/certs/pos-0042.crt");
	assert_string_equal(pos->local_id, cfg->device.id);
	assert_int_equal(kiosk->mode, M2M_VPN_ALWAYS_ON);
	assert_true(kiosk->fail_closed);
	assert_int_equal(kiosk->auth, M2M_AUTH_PKCS12);
	assert_int_equal(kiosk->pin.source, M2M_SECRET_FILE);
	assert_int_equal(kiosk->dpd_delay_ms, 10000);
	assert_list(kiosk->gateways, LIST("192.0.2.10", "198.51.100.10"));
	m2m_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_defaults_on_demand),
		cmocka_unit_test(test_defaults_always_on),
		cmocka_unit_test(test_optional_sections),
		cmocka_unit_test(test_err_unknown_key),
		cmocka_unit_test(test_err_typo),
		cmocka_unit_test(test_err_wrong_type),
		cmocka_unit_test(test_err_enum),
		cmocka_unit_test(test_auth_methods),
		cmocka_unit_test(test_key_store_names),
		cmocka_unit_test(test_err_duration),
		cmocka_unit_test(test_duration_decimals),
		cmocka_unit_test(test_err_cidr),
		cmocka_unit_test(test_err_missing),
		cmocka_unit_test(test_err_duplicate),
		cmocka_unit_test(test_err_alias),
		cmocka_unit_test(test_err_syntax),
		cmocka_unit_test(test_err_empty),
		cmocka_unit_test(test_err_version),
		cmocka_unit_test(test_err_pin),
		cmocka_unit_test(test_err_retry),
		cmocka_unit_test(test_err_profile_name),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_values),
		cmocka_unit_test_setup_teardown(test_permissions, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_relative_paths, tmp_setup, tmp_teardown),
		cmocka_unit_test(test_config_path),
		cmocka_unit_test(test_dm),
		cmocka_unit_test(test_example_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
