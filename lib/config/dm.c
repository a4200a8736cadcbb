/* SPDX-License-Identifier: MIT */
/*
 * The dm: section of m2m.yaml(5): device management over OMA LwM2M (the
 * servers, the endpoint name, the DTLS security mode and where its key is,
 * the registration's timing, block sizes, the device's hooks and the paths
 * a report sends).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

/* ------------------------------------------------------------------------ */
/* dm: device management over OMA LwM2M */

static const char *check_coap_uri(const char *s, char *hint, size_t len)
{
	const char *h;

	if (strncmp(s, "coap://", 7) == 0)
		h = s + 7;
	else if (strncmp(s, "coaps://", 8) == 0)
		h = s + 8;
	else
		return "not a coap:// or coaps:// URI";
	if (!*h || *h == '/' || *h == ':')
		return "no host";
	return NULL;
}

/*
 * An LwM2M path as TS 1.1 Core 7.1 writes it: /Object[/Instance[/Resource[/Resource
 * Instance]]], each ID 0..65534 (65535 is reserved). Not the Security object:
 * it holds the keys, and is never read by a server.
 */
static const char *check_lwm2m_path(const char *s, char *hint, size_t len)
{
	unsigned depth = 0;

	if (*s != '/')
		return "not an LwM2M path";
	while (*s == '/') {
		unsigned long v = 0;
		const char *start = ++s;

		while (*s >= '0' && *s <= '9' && s - start < 6)
			v = v * 10 + (unsigned long)(*s++ - '0');
		if (s == start || v > 65534 || (*s && *s != '/'))
			return "not an LwM2M path";
		if (depth++ == 0 && v == 0) {
			snprintf(hint, len, "a path outside the Security object (/0)");
			return "the Security object is never sent";
		}
	}
	if (*s || depth > 4)
		return "not an LwM2M path";
	return NULL;
}

static const struct cfg_vtype T_LWM2M_PATH = { "LwM2M path",
	"/Object[/Instance[/Resource[/Instance]]], such as /3/0/9", check_lwm2m_path, false };

static const struct cfg_vtype T_COAP_URI = { "URI", "coap://host[:port] or coaps://host[:port]",
					 check_coap_uri, false };
static const struct cfg_vtype T_ENDPOINT = { "endpoint name", "a string", NULL, false };
static const struct cfg_vtype T_EXEC = { "path", "the path of an executable", NULL, true };

enum {
	M_SERVER, M_BOOTSTRAP, M_ENDPOINT, M_SECURITY, M_PSK_IDENTITY, M_PSK_KEY, M_CERT, M_KEY,
	M_CA, M_LIFETIME, M_BINDING, M_QUEUE_WINDOW, M_JITTER, M_TIMEOUT, M_LOCATION, M_HOOKS,
	M_BLOCK_SIZE, M_MAX_BODY, M_SEND, M_N
};
static const char *const dm_keys[] = {
	"server", "bootstrap", "endpoint", "security", "psk_identity", "psk_key", "cert", "key",
	"ca", "lifetime", "binding", "queue_window", "jitter", "timeout", "location", "hooks",
	"block_size", "max_body", "send", NULL
};
enum { H_REBOOT, H_FACTORY_RESET, H_N };
static const char *const hook_keys[] = { "reboot", "factory_reset", NULL };

static const struct cfg_choice dm_block_sizes[] = {
	{ "16", 16 }, { "32", 32 }, { "64", 64 }, { "128", 128 },
	{ "256", 256 }, { "512", 512 }, { "1024", 1024 },
};

static const struct cfg_choice dm_securities[] = {
	{ "nosec", M2M_DM_NOSEC },
	{ "psk", M2M_DM_PSK },
	{ "x509", M2M_DM_X509 },
};
static const struct cfg_choice dm_bindings[] = {
	{ "U", M2M_DM_BINDING_U },
	{ "UQ", M2M_DM_BINDING_UQ },
};

/*
 * Which keys each security mode needs; a key of another mode is an error so
 * a half-edited file cannot silently fall back to less protection.
 */
static const struct dm_mode {
	int id;
	unsigned need;
	unsigned forbid;
} dm_modes[] = {
	{ M2M_DM_NOSEC, 0, BIT(M_PSK_IDENTITY) | BIT(M_PSK_KEY) | BIT(M_CERT) | BIT(M_KEY) | BIT(M_CA) },
	{ M2M_DM_PSK, BIT(M_PSK_IDENTITY) | BIT(M_PSK_KEY), BIT(M_CERT) | BIT(M_KEY) | BIT(M_CA) },
	{ M2M_DM_X509, BIT(M_CERT) | BIT(M_KEY) | BIT(M_CA), BIT(M_PSK_IDENTITY) | BIT(M_PSK_KEY) },
};

static int hook_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		    void *obj)
{
	struct m2m_dm_config *dm = obj;

	return cfg_get_str(c, v, &T_EXEC,
			   k == H_REBOOT ? &dm->reboot_hook : &dm->factory_reset_hook);
}

/*
 * dm.key: a PEM file, a key on a PKCS#11 token or in a TPM:
 *   key: {pkcs11: {module: PATH, token: LABEL, id: HEX}, pin: {file: ...}}
 *   key: {tpm: {handle: 0x81010002, tcti: "..."}, pin: {file: ...}}   (pin optional)
 */
enum { DK_PKCS11, DK_TPM, DK_PIN, DK_N };
static const char *const dm_key_keys[] = { "pkcs11", "tpm", "pin", NULL };
enum { DP_MODULE, DP_TOKEN, DP_ID, DP_N };
static const char *const dm_p11_keys[] = { "module", "token", "id", NULL };
enum { DT_HANDLE, DT_TCTI, DT_N };
static const char *const dm_tpm_keys[] = { "handle", "tcti", NULL };

static int dm_tpm_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
		      const struct cfg_node *v, void *obj)
{
	struct m2m_dm_config *dm = obj;

	if (k == DT_HANDLE)
		return cfg_get_handle(c, v, &dm->key_handle);
	return cfg_get_str(c, v, &cfg_vt_tcti, &dm->key_tcti);
}

static int dm_p11_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
		      const struct cfg_node *v, void *obj)
{
	struct m2m_dm_config *dm = obj;

	switch (k) {
	case DP_MODULE:
		return cfg_get_str(c, v, &cfg_vt_module, &dm->key_module);
	case DP_TOKEN:
		return cfg_get_str(c, v, &cfg_vt_text, &dm->key_token);
	case DP_ID:
		return cfg_get_str(c, v, &cfg_vt_hexid, &dm->key_id);
	}
	return M2M_OK;
}

static int dm_key_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
		      const struct cfg_node *v, void *obj)
{
	struct m2m_dm_config *dm = obj;
	const struct cfg_node *seen[DP_N] = { NULL };
	bool is_map;
	int rc;

	if (k == DK_PIN)
		return cfg_get_pin(c, key, v, &dm->key_pin);
	if (k == DK_TPM) {
		const struct cfg_node *tseen[DT_N] = { NULL };

		dm->key_tpm = true;
		rc = cfg_want_map(c, v, true, "a mapping with handle and tcti (both optional)",
				  &is_map);
		if (!rc && is_map)
			rc = cfg_walk(c, v, dm_tpm_keys, tseen, dm_tpm_key, dm);
		return rc;
	}
	rc = cfg_want_map(c, v, false, "a mapping with module, id and optionally token", &is_map);
	if (!rc)
		rc = cfg_walk(c, v, dm_p11_keys, seen, dm_p11_key, dm);
	if (!rc && !seen[DP_MODULE])
		rc = cfg_missing(c, key, "module", "the absolute path of the PKCS#11 module");
	if (!rc && !seen[DP_ID])
		rc = cfg_missing(c, key, "id", "the key's CKA_ID in hex, such as 01");
	return rc;
}

static int parse_dm_key(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
			struct m2m_dm_config *dm)
{
	const struct cfg_node *seen[DK_N] = { NULL };
	int rc;

	if (v->kind != CFG_MAP)
		return cfg_get_str(c, v, &cfg_vt_file, &dm->key);
	rc = cfg_walk(c, v, dm_key_keys, seen, dm_key_key, dm);
	if (!rc && seen[DK_PKCS11] && seen[DK_TPM]) {
		size_t old = cfg_push(c, "tpm");

		rc = cfg_fail(c, seen[DK_TPM], "the key is on a PKCS#11 token already; "
			      "expected pkcs11 or tpm, not both");
		cfg_pop(c, old);
	}
	if (!rc && seen[DK_TPM])
		return M2M_OK; /* a TPM key's auth value is optional */
	if (!rc && !seen[DK_PKCS11])
		rc = cfg_missing(c, key, "pkcs11", "the key's store: "
				 "pkcs11: {module: PATH, id: HEX} or tpm: {handle: HANDLE}");
	if (!rc && !seen[DK_PIN])
		rc = cfg_missing(c, key, "pin", "where the token's user PIN comes from "
				 "(file, fd, credential or prompt)");
	return rc;
}

static int dm_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		  void *obj)
{
	struct m2m_dm_config *dm = obj;
	const struct cfg_node *seen[H_N] = { NULL };
	bool is_map;
	int e, rc;

	switch (k) {
	case M_SERVER:
		return cfg_get_str(c, v, &T_COAP_URI, &dm->server);
	case M_BOOTSTRAP:
		return cfg_get_str(c, v, &T_COAP_URI, &dm->bootstrap);
	case M_ENDPOINT:
		return cfg_get_str(c, v, &T_ENDPOINT, &dm->endpoint);
	case M_SECURITY:
		rc = cfg_get_enum(c, v, dm_securities, ARRAY_SIZE(dm_securities), &e);
		if (!rc)
			dm->security = (enum m2m_dm_security)e;
		return rc;
	case M_PSK_IDENTITY:
		return cfg_get_str(c, v, &cfg_vt_text, &dm->psk_identity);
	case M_PSK_KEY:
		return cfg_get_pin(c, key, v, &dm->psk_key);
	case M_CERT:
		return cfg_get_str(c, v, &cfg_vt_file, &dm->cert);
	case M_KEY:
		return parse_dm_key(c, key, v, dm);
	case M_CA:
		return cfg_get_str(c, v, &cfg_vt_file, &dm->ca);
	case M_LIFETIME:
		return cfg_get_duration(c, v, true, &dm->lifetime_ms);
	case M_BINDING:
		rc = cfg_get_enum(c, v, dm_bindings, ARRAY_SIZE(dm_bindings), &e);
		if (!rc)
			dm->binding = (enum m2m_dm_binding)e;
		return rc;
	case M_QUEUE_WINDOW:
		return cfg_get_duration(c, v, false, &dm->queue_window_ms);
	case M_JITTER:
		return cfg_get_duration(c, v, false, &dm->jitter_ms);
	case M_TIMEOUT:
		return cfg_get_duration(c, v, true, &dm->timeout_ms);
	case M_LOCATION:
		return cfg_get_str(c, v, &cfg_vt_file, &dm->location);
	case M_BLOCK_SIZE:
		rc = cfg_get_enum(c, v, dm_block_sizes, ARRAY_SIZE(dm_block_sizes), &e);
		if (!rc)
			dm->block_size = (unsigned)e;
		return rc;
	case M_MAX_BODY:
		return cfg_get_size(c, v, 1024, 16 * 1024 * 1024, &dm->max_body);
	case M_SEND:
		/* kept in struct m2m_config (appended): the dm section's struct is frozen (ABI) */
		return cfg_get_list(c, v, &T_LWM2M_PATH,
				    &((struct m2m_config *)((char *)dm - offsetof(struct m2m_config,
										  dm)))->dm_send);
	case M_HOOKS:
		rc = cfg_want_map(c, v, true, "a mapping with reboot and/or factory_reset",
				  &is_map);
		if (!rc && is_map)
			rc = cfg_walk(c, v, hook_keys, seen, hook_key, dm);
		return rc;
	}
	return M2M_OK;
}

static int parse_dm(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		    struct m2m_dm_config *dm)
{
	const struct cfg_node *seen[M_N] = { NULL };
	const struct dm_mode *mode = NULL;
	bool is_map;
	int rc;

	dm->lifetime_ms = 300 * 1000;
	/*
	 * A queue-mode device stays reachable as long as a server assumes it
	 * does (LwM2M TS 1.1 Transport: CoAP's MAX_TRANSMIT_WAIT, 93 s by
	 * default); the run's bound leaves room for that after the Register.
	 */
	dm->queue_window_ms = 93 * 1000;
	dm->timeout_ms = 120 * 1000;
	dm->block_size = 1024;
	dm->max_body = 64 * 1024;
	dm->psk_key.fd = -1;
	dm->key_pin.fd = -1;
	rc = cfg_want_map(c, v, true, "a mapping with server, security and their keys", &is_map);
	if (rc || !is_map || v->n == 0)
		return rc; /* an empty section: device management not configured */
	dm->enabled = true;
	rc = cfg_walk(c, v, dm_keys, seen, dm_key, dm);
	if (rc)
		return rc;
	if (!seen[M_SERVER] && !seen[M_BOOTSTRAP])
		return cfg_missing(c, key, "server", "the LwM2M server's coap:// or coaps:// URI");
	if (!seen[M_SECURITY])
		return cfg_missing(c, key, "security", "nosec, psk or x509 (nosec only if meant)");
	for (size_t i = 0; i < ARRAY_SIZE(dm_modes); i++)
		if (dm_modes[i].id == (int)dm->security)
			mode = &dm_modes[i];
	for (int k = 0; k < M_N; k++) {
		if ((mode->need & BIT(k)) && !seen[k]) {
			char exp[64];

			snprintf(exp, sizeof(exp), "it with security %s",
				 dm_securities[dm->security].name);
			return cfg_missing(c, key, dm_keys[k], exp);
		}
		if ((mode->forbid & BIT(k)) && seen[k]) {
			size_t old = cfg_push(c, dm_keys[k]);

			rc = cfg_fail(c, seen[k],
				      "does not apply to security %s; expected it removed",
				      dm_securities[dm->security].name);
			cfg_pop(c, old);
			return rc;
		}
	}
	/* a coaps:// server with nosec, or coap:// with DTLS, is a mistake either way */
	if (dm->server && (strncmp(dm->server, "coaps:", 6) == 0) != (dm->security != M2M_DM_NOSEC)) {
		size_t old = cfg_push(c, "server");

		rc = cfg_fail(c, seen[M_SERVER], "'%s' does not match security %s; expected %s",
			      dm->server, dm_securities[dm->security].name,
			  dm->security == M2M_DM_NOSEC ? "coap://" : "coaps://");
		cfg_pop(c, old);
		return rc;
	}
	return M2M_OK;
}


int cfg_dm_parse(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		 struct m2m_config *cfg)
{
	return parse_dm(c, key, v, &cfg->dm);
}

/* The endpoint name is device.id unless the section names one. */
int cfg_dm_finish(struct cfg_ctx *c, const struct cfg_node *key, struct m2m_config *cfg)
{
	size_t old;
	int rc;

	if (!cfg->dm.enabled || cfg->dm.endpoint)
		return M2M_OK;
	if (!cfg->device.id) {
		old = cfg_push(c, "dm");
		rc = cfg_missing(c, key, "endpoint", "endpoint here or device.id");
		cfg_pop(c, old);
		return rc;
	}
	cfg->dm.endpoint = strdup(cfg->device.id);
	return cfg->dm.endpoint ? M2M_OK : cfg_oom(c);
}

const char *m2m_dm_key_store(const struct m2m_dm_config *dm)
{
	return dm->key_tpm ? "tpm" : dm->key_module ? "pkcs11" : "file";
}

void cfg_dm_free(struct m2m_config *cfg)
{
	struct m2m_dm_config *dm = &cfg->dm;

	free(dm->server);
	free(dm->bootstrap);
	free(dm->endpoint);
	free(dm->psk_identity);
	free(dm->psk_key.path);
	free(dm->cert);
	free(dm->key);
	free(dm->key_module);
	free(dm->key_token);
	free(dm->key_id);
	free(dm->key_tcti);
	free(dm->key_pin.path);
	free(dm->ca);
	free(dm->location);
	free(dm->reboot_hook);
	free(dm->factory_reset_hook);
	cfg_free_list(cfg->dm_send);
}
