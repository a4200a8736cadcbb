/* SPDX-License-Identifier: MIT */
/*
 * The vpn: section of m2m.yaml(5): the profiles, each with its gateways,
 * identities, authentication method (and where its key and secrets are),
 * traffic selectors, mode and retry timing.
 */
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

/* ------------------------------------------------------------------------ */
/* vpn.profiles.NAME.auth */

enum {
	A_METHOD, A_CERT, A_KEY, A_PKCS12, A_PIN, A_MODULE, A_TOKEN, A_ID, A_TCTI, A_HANDLE,
	A_EAP_ID, A_PASSWORD, A_N
};
static const char *const auth_keys[] = {
	"method", "cert", "key", "pkcs12", "pin", "module", "token", "id", "tcti", "handle",
	"eap_id", "password", NULL
};
static const char *const auth_expected[A_N] = {
	[A_CERT] = "the path of a PEM certificate",
	[A_KEY] = "the path of a PEM private key",
	[A_PKCS12] = "the path of a PKCS#12 file",
	[A_PIN] = "where the PIN comes from (file, fd, credential or prompt)",
	[A_MODULE] = "the absolute path of the PKCS#11 module",
	[A_ID] = "the key's CKA_ID in hex, such as 01",
	[A_PASSWORD] = "where the EAP password comes from (file, fd, credential or prompt)",
};

#define A_COMMON BIT(A_METHOD)

/*
 * The authentication methods. A new method adds its keys to auth_keys and
 * a row here: its name in the file, where its key lives (the key store as
 * the tools and the LwM2M VPN object name it: m2m_auth_key_store()), which
 * keys it needs and which it accepts.
 */
static const struct auth_method {
	const char *name;
	enum m2m_auth_method id;
	const char *store;
	unsigned need;
	unsigned allow;
} auth_methods[] = {
	{ "cert", M2M_AUTH_CERT, "file", BIT(A_CERT) | BIT(A_KEY),
	  A_COMMON | BIT(A_CERT) | BIT(A_KEY) | BIT(A_PIN) },
	{ "pkcs12", M2M_AUTH_PKCS12, "pkcs12", BIT(A_PKCS12),
	  A_COMMON | BIT(A_PKCS12) | BIT(A_PIN) },
	{ "pkcs11", M2M_AUTH_PKCS11, "pkcs11", BIT(A_MODULE) | BIT(A_ID) | BIT(A_PIN),
	  A_COMMON | BIT(A_CERT) | BIT(A_PIN) | BIT(A_MODULE) | BIT(A_TOKEN) | BIT(A_ID) },
	{ "tpm", M2M_AUTH_TPM, "tpm", BIT(A_CERT),
	  A_COMMON | BIT(A_CERT) | BIT(A_PIN) | BIT(A_TCTI) | BIT(A_HANDLE) },
	{ "machine", M2M_AUTH_MACHINE, "machine", BIT(A_CERT) | BIT(A_KEY),
	  A_COMMON | BIT(A_CERT) | BIT(A_KEY) | BIT(A_TCTI) | BIT(A_HANDLE) },
	{ "eap", M2M_AUTH_EAP, "none", BIT(A_PASSWORD),
	  A_COMMON | BIT(A_EAP_ID) | BIT(A_PASSWORD) },
	{ "cert+eap", M2M_AUTH_CERT_EAP, "file", BIT(A_CERT) | BIT(A_KEY) | BIT(A_PASSWORD),
	  A_COMMON | BIT(A_CERT) | BIT(A_KEY) | BIT(A_PIN) | BIT(A_EAP_ID) | BIT(A_PASSWORD) },
};

static const struct auth_method *auth_method(enum m2m_auth_method m)
{
	for (size_t i = 0; i < ARRAY_SIZE(auth_methods); i++)
		if (auth_methods[i].id == m)
			return &auth_methods[i];
	return NULL;
}

const char *m2m_auth_method_name(enum m2m_auth_method m)
{
	const struct auth_method *am = auth_method(m);

	return am ? am->name : "unknown";
}

const char *m2m_auth_key_store(enum m2m_auth_method m)
{
	const struct auth_method *am = auth_method(m);

	return am ? am->store : "unknown";
}

struct auth_state {
	struct m2m_vpn_profile *p;
	const struct auth_method *m;
};

static int auth_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		    void *obj)
{
	struct auth_state *as = obj;
	struct m2m_vpn_profile *p = as->p;

	switch (k) {
	case A_METHOD: {
		struct cfg_choice ch[ARRAY_SIZE(auth_methods)];
		int i = 0, rc;

		for (size_t j = 0; j < ARRAY_SIZE(auth_methods); j++)
			ch[j] = (struct cfg_choice){ auth_methods[j].name, (int)j };
		rc = cfg_get_enum(c, v, ch, ARRAY_SIZE(ch), &i);
		if (rc)
			return rc;
		as->m = &auth_methods[i];
		p->auth = as->m->id;
		return M2M_OK;
	}
	case A_CERT:
		return cfg_get_str(c, v, &cfg_vt_file, &p->cert);
	case A_KEY:
		return cfg_get_str(c, v, &cfg_vt_file, &p->key);
	case A_PKCS12:
		return cfg_get_str(c, v, &cfg_vt_file, &p->pkcs12);
	case A_PIN:
		return cfg_get_pin(c, key, v, &p->pin);
	case A_MODULE:
		return cfg_get_str(c, v, &cfg_vt_module, &p->module);
	case A_TOKEN:
		return cfg_get_str(c, v, &cfg_vt_text, &p->token);
	case A_ID:
		return cfg_get_str(c, v, &cfg_vt_hexid, &p->key_id);
	case A_TCTI:
		return cfg_get_str(c, v, &cfg_vt_tcti, &p->tcti);
	case A_HANDLE:
		return cfg_get_handle(c, v, &p->handle);
	case A_EAP_ID:
		return cfg_get_str(c, v, &cfg_vt_id, &p->eap_id);
	case A_PASSWORD:
		return cfg_get_pin(c, key, v, &p->password);
	}
	return M2M_OK;
}

static int parse_auth(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		      struct m2m_vpn_profile *p)
{
	const struct cfg_node *seen[A_N] = { NULL };
	struct auth_state as = { .p = p };
	char methods[128], allowed[128];
	const char *names[ARRAY_SIZE(auth_methods) + 1] = { NULL };
	bool is_map;
	int rc;

	for (size_t j = 0; j < ARRAY_SIZE(auth_methods); j++)
		names[j] = auth_methods[j].name;
	cfg_join(methods, sizeof(methods), names, cfg_all_bits(names), "or");
	rc = cfg_want_map(c, v, false, "a mapping with method and its files", &is_map);
	if (rc)
		return rc;
	rc = cfg_walk(c, v, auth_keys, seen, auth_key, &as);
	if (rc)
		return rc;
	if (!as.m)
		return cfg_missing(c, key, "method", methods);
	cfg_join(allowed, sizeof(allowed), auth_keys, as.m->allow, "or");
	/* keys this method does not use, in file order */
	for (size_t i = 0; i + 1 < v->n; i += 2) {
		for (int k = 0; k < A_N; k++) {
			size_t old;

			if (seen[k] != v->kids[i] || (as.m->allow & BIT(k)))
				continue;
			old = cfg_push(c, auth_keys[k]);
			rc = cfg_fail(c, seen[k], "not used by method %s; expected %s", as.m->name,
				      allowed);
			cfg_pop(c, old);
			return rc;
		}
	}
	for (int k = 0; k < A_N; k++) {
		size_t old;

		if (!(as.m->need & BIT(k)) || seen[k])
			continue;
		old = cfg_push(c, auth_keys[k]);
		rc = cfg_fail(c, key, "missing for method %s; expected %s", as.m->name,
			      auth_expected[k]);
		cfg_pop(c, old);
		return rc;
	}
	return M2M_OK;
}

/* ------------------------------------------------------------------------ */
/* vpn.profiles.NAME.retry */

enum { B_MIN, B_MAX, B_N };
static const char *const backoff_keys[] = { "min", "max", NULL };
enum { R_NETWORK, R_AUTH, R_N };
static const char *const retry_keys[] = { "network", "auth", NULL };

struct backoff_state {
	struct m2m_backoff *b;
	const struct cfg_node *val[B_N];
};

static int backoff_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
		       const struct cfg_node *v, void *obj)
{
	struct backoff_state *bs = obj;

	bs->val[k] = v;
	return cfg_get_duration(c, v, true, k == B_MIN ? &bs->b->min_ms : &bs->b->max_ms);
}

static int retry_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		     void *obj)
{
	struct m2m_vpn_profile *p = obj;
	const struct cfg_node *seen[B_N] = { NULL };
	struct backoff_state bs = { .b = k == R_NETWORK ? &p->retry_network : &p->retry_auth };
	char lo[32], hi[32], b[QMAX * 4 + 8];
	bool is_map;
	size_t old;
	int rc;

	rc = cfg_want_map(c, v, true, "a mapping with min and/or max", &is_map);
	if (!rc && is_map)
		rc = cfg_walk(c, v, backoff_keys, seen, backoff_key, &bs);
	if (rc || bs.b->max_ms >= bs.b->min_ms)
		return rc;
	if (bs.val[B_MAX]) {
		cfg_format_duration(lo, sizeof(lo), bs.b->min_ms);
		old = cfg_push(c, "max");
		rc = cfg_fail(c, bs.val[B_MAX], "'%s' is less than min %s; expected max >= min",
			      cfg_q(bs.val[B_MAX], b, sizeof(b)), lo);
	} else {
		cfg_format_duration(hi, sizeof(hi), bs.b->max_ms);
		old = cfg_push(c, "min");
		rc = cfg_fail(c, bs.val[B_MIN], "'%s' is more than the default max %s; expected min <= max (set max too)",
			      cfg_q(bs.val[B_MIN], b, sizeof(b)), hi);
	}
	cfg_pop(c, old);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* vpn.profiles.NAME */

enum {
	P_GATEWAY, P_REMOTE_ID, P_LOCAL_ID, P_AUTH, P_CA, P_PROPOSALS, P_ESP_PROPOSALS,
	P_LOCAL_TS, P_REMOTE_TS, P_VIRTUAL_IP, P_MODE, P_FAIL_CLOSED, P_MOBIKE, P_DPD,
	P_REKEY, P_TIMEOUT, P_RETRY, P_ENROLL, P_N
};
static const char *const profile_keys[] = {
	"gateway", "remote_id", "local_id", "auth", "ca", "proposals", "esp_proposals",
	"local_ts", "remote_ts", "virtual_ip", "mode", "fail_closed", "mobike", "dpd",
	"rekey", "timeout", "retry", "enroll", NULL
};

/* what a profile's keys are parsed into: the profile, and its enroll: section (enroll.c) */
struct profile_state {
	struct m2m_vpn_profile *p;
	struct m2m_enroll_config **enroll;
};

static const struct cfg_choice modes[] = {
	{ "on-demand", M2M_VPN_ON_DEMAND },
	{ "always-on", M2M_VPN_ALWAYS_ON },
};

static int profile_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
		       const struct cfg_node *v, void *obj)
{
	struct profile_state *ps = obj;
	struct m2m_vpn_profile *p = ps->p;
	const struct cfg_node *seen[R_N] = { NULL };
	bool is_map;
	int mode, rc;

	switch (k) {
	case P_GATEWAY:
		return cfg_get_list(c, v, &cfg_vt_host, &p->gateways);
	case P_REMOTE_ID:
		return cfg_get_str(c, v, &cfg_vt_id, &p->remote_id);
	case P_LOCAL_ID:
		return cfg_get_str(c, v, &cfg_vt_id, &p->local_id);
	case P_AUTH:
		return parse_auth(c, key, v, p);
	case P_CA:
		return cfg_get_list(c, v, &cfg_vt_file, &p->ca);
	case P_PROPOSALS:
		return cfg_get_list(c, v, &cfg_vt_proposal, &p->proposals);
	case P_ESP_PROPOSALS:
		return cfg_get_list(c, v, &cfg_vt_proposal, &p->esp_proposals);
	case P_LOCAL_TS:
		return cfg_get_list(c, v, &cfg_vt_cidr, &p->local_ts);
	case P_REMOTE_TS:
		return cfg_get_list(c, v, &cfg_vt_cidr, &p->remote_ts);
	case P_VIRTUAL_IP:
		return cfg_get_bool(c, v, &p->virtual_ip);
	case P_MODE:
		rc = cfg_get_enum(c, v, modes, ARRAY_SIZE(modes), &mode);
		if (!rc)
			p->mode = (enum m2m_vpn_mode)mode;
		return rc;
	case P_FAIL_CLOSED:
		return cfg_get_bool(c, v, &p->fail_closed);
	case P_MOBIKE:
		return cfg_get_bool(c, v, &p->mobike);
	case P_DPD:
		return cfg_get_duration(c, v, false, &p->dpd_delay_ms);
	case P_REKEY:
		return cfg_get_duration(c, v, false, &p->rekey_ms);
	case P_TIMEOUT:
		return cfg_get_duration(c, v, true, &p->timeout_ms);
	case P_RETRY:
		rc = cfg_want_map(c, v, true, "a mapping with network and/or auth", &is_map);
		if (!rc && is_map)
			rc = cfg_walk(c, v, retry_keys, seen, retry_key, p);
		return rc;
	case P_ENROLL:
		return cfg_enroll_parse(c, key, v, ps->enroll);
	}
	return M2M_OK;
}

static bool valid_profile_name(const struct cfg_node *key)
{
	if (key->len < 1 || key->len > 32)
		return false;
	for (size_t i = 0; i < key->len; i++) {
		char ch = key->str[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

static int parse_profile(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
			 struct m2m_vpn_profile *p, struct m2m_enroll_config **enroll)
{
	struct profile_state ps = { p, enroll };
	static const struct {
		int k;
		const char *expected;
	} required[] = {
		{ P_GATEWAY, "the gateway's address or DNS name, or a list of them" },
		{ P_REMOTE_ID, "the gateway's IKE identity (a string)" },
		{ P_AUTH, "a mapping with method and its files" },
		{ P_CA, "the path of the CA certificate that signed the gateway's, or a list of them" },
		{ P_REMOTE_TS, "the CIDR prefixes to reach through the tunnel" },
	};
	const struct cfg_node *seen[P_N] = { NULL };
	bool is_map;
	int rc;

	p->virtual_ip = true;
	p->mobike = true;
	p->mode = M2M_VPN_ON_DEMAND;
	p->timeout_ms = 30 * 1000;
	p->retry_network = (struct m2m_backoff){ 1000, 60 * 1000 };
	p->retry_auth = (struct m2m_backoff){ 5 * 60 * 1000, 3600 * 1000 };
	p->pin.fd = -1;
	p->password.fd = -1;

	rc = cfg_want_map(c, v, false, "a mapping describing the profile", &is_map);
	if (rc)
		return rc;
	rc = cfg_walk(c, v, profile_keys, seen, profile_key, &ps);
	if (rc)
		return rc;
	for (size_t i = 0; i < ARRAY_SIZE(required); i++)
		if (!seen[required[i].k])
			return cfg_missing(c, key, profile_keys[required[i].k],
					   required[i].expected);
	if (!seen[P_FAIL_CLOSED])
		p->fail_closed = p->mode == M2M_VPN_ALWAYS_ON;
	if (!seen[P_DPD])
		p->dpd_delay_ms = p->mode == M2M_VPN_ALWAYS_ON ? 10 * 1000 : 0;
	return M2M_OK;
}

static int parse_profiles(struct cfg_ctx *c, const struct cfg_node *v, struct m2m_config *cfg)
{
	static const char expected[] = "a mapping of profile names to profiles";
	bool is_map;
	size_t n;
	int rc;

	rc = cfg_want_map(c, v, true, expected, &is_map);
	if (rc || !is_map)
		return rc;
	rc = cfg_check_keys(c, v, "a profile name");
	if (rc)
		return rc;
	c->profiles = v;
	n = v->n / 2;
	if (!n)
		return M2M_OK;
	cfg->profiles = calloc(n, sizeof(*cfg->profiles));
	cfg->enroll = calloc(n, sizeof(*cfg->enroll));
	if (!cfg->profiles || !cfg->enroll)
		return cfg_oom(c);
	cfg->n_profiles = n;
	for (size_t i = 0; i < n; i++) {
		cfg->profiles[i].pin.fd = -1;
		cfg->profiles[i].password.fd = -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cfg_node *key = v->kids[2 * i];
		struct m2m_vpn_profile *p = &cfg->profiles[i];
		char b[QMAX * 4 + 8];
		size_t old;

		if (!valid_profile_name(key))
			return cfg_fail(c, key, "invalid profile name '%s'; expected 1 to 32 letters, digits, _ or -",
					cfg_q(key, b, sizeof(b)));
		/* its guard's nftables table would be the policies' quarantine table (m2m_quarantine) */
		if (strcmp(key->str, "quarantine") == 0)
			return cfg_fail(c, key, "profile name 'quarantine' is taken by the security policies' quarantine; choose another");
		p->name = strdup(key->str);
		if (!p->name)
			return cfg_oom(c);
		old = cfg_push(c, p->name);
		rc = parse_profile(c, key, v->kids[2 * i + 1], p, &cfg->enroll[i]);
		cfg_pop(c, old);
		if (rc)
			return rc;
	}
	return M2M_OK;
}


/* ------------------------------------------------------------------------ */
/* vpn: the section */

static const char *const vpn_keys[] = { "profiles", NULL };

static int vpn_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		   void *obj)
{
	return parse_profiles(c, v, obj);
}

int cfg_vpn_parse(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		  struct m2m_config *cfg)
{
	return cfg_sub_section(c, v, "a mapping with profiles", vpn_keys, vpn_key, cfg);
}

/* A profile without local_id is device.id: the one identity of the device. */
int cfg_vpn_finish(struct cfg_ctx *c, const struct cfg_node *key, struct m2m_config *cfg)
{
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		struct m2m_vpn_profile *p = &cfg->profiles[i];
		size_t old;
		int rc;

		if (p->local_id)
			continue;
		if (!cfg->device.id) {
			old = cfg_push(c, "vpn.profiles");
			cfg_push(c, p->name);
			rc = cfg_missing(c, c->profiles->kids[2 * i], "local_id",
					 "local_id here or device.id (our IKE identity)");
			cfg_pop(c, old);
			return rc;
		}
		p->local_id = strdup(cfg->device.id);
		if (!p->local_id)
			return cfg_oom(c);
	}
	return M2M_OK;
}

static void free_profile(struct m2m_vpn_profile *p)
{
	free(p->name);
	cfg_free_list(p->gateways);
	free(p->remote_id);
	free(p->local_id);
	free(p->cert);
	free(p->key);
	free(p->pkcs12);
	free(p->pin.path);
	free(p->module);
	free(p->token);
	free(p->key_id);
	free(p->tcti);
	free(p->eap_id);
	free(p->password.path);
	cfg_free_list(p->ca);
	cfg_free_list(p->proposals);
	cfg_free_list(p->esp_proposals);
	cfg_free_list(p->local_ts);
	cfg_free_list(p->remote_ts);
}

void cfg_vpn_free(struct m2m_config *cfg)
{
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		free_profile(&cfg->profiles[i]);
		if (cfg->enroll)
			cfg_enroll_free(cfg->enroll[i]);
	}
	free(cfg->profiles);
	free(cfg->enroll);
}
