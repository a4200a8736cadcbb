/* SPDX-License-Identifier: MIT */
/*
 * The update: section of m2m.yaml(5): the update engine's trust anchor, what
 * this device accepts (model, signatures, named downgrades), where downloads
 * go and how large and long they may be, the health check that decides
 * commit or roll back, and the installers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_int.h"

/* update.h's rule: 1 to 4 dot-separated numbers of at most 9 digits */
static const char *check_version(const char *s, char *hint, size_t len)
{
	unsigned parts = 0;

	for (;;) {
		unsigned digits = 0;

		while (*s >= '0' && *s <= '9') {
			s++;
			digits++;
		}
		if (digits == 0)
			return "a part is not a number";
		if (digits > 9)
			return "a part has more than 9 digits";
		if (++parts > 4)
			return "more than 4 parts";
		if (*s == '\0')
			return NULL;
		if (*s++ != '.')
			return "a part is not a number";
	}
}

static const char *check_profile_name(const char *s, char *hint, size_t len)
{
	return NULL; /* checked against vpn.profiles once every section was read */
}

static const struct cfg_vtype T_VERSION = { "version", "a version such as 2.4.1 (1 to 4 numbers)",
					    check_version, false };
static const struct cfg_vtype T_PROFILE = { "profile name", "the name of a VPN profile",
					    check_profile_name, false };
static const struct cfg_vtype T_PEM = { "path", "a PEM file of trust anchors", NULL, true };
static const struct cfg_vtype T_CA = { "path", "a PEM file of CA certificates", NULL, true };
static const struct cfg_vtype T_SCRIPT = { "path", "the path of an executable", NULL, true };

enum {
	U_TRUST, U_MODEL, U_SIGNATURES, U_DOWNGRADES, U_DOWNLOAD_DIR, U_MAX_SIZE, U_TIMEOUT,
	U_HEALTH, U_INSTALLERS, U_CA, U_FLOOR, U_JITTER, U_N
};
static const char *const update_keys[] = {
	"trust", "model", "signatures", "downgrades", "download_dir", "max_size", "timeout",
	"health", "installers", "ca", "floor", "jitter", NULL
};
enum { H_TIMEOUT, H_PROFILES, H_DM, H_N };
static const char *const health_keys[] = { "timeout", "profiles", "dm", NULL };
enum { I_RAUC, I_SCRIPT, I_N };
static const char *const installer_keys[] = { "rauc", "script", NULL };
enum { R_CONFIG, R_N };
static const char *const rauc_keys[] = { "config", NULL };
enum { S_PATH, S_TIMEOUT, S_N };
static const char *const script_keys[] = { "path", "timeout", NULL };

enum { F_TPM, F_N };
static const char *const floor_keys[] = { "tpm", NULL };
enum { FT_TCTI, FT_INDEX, FT_N };
static const char *const floor_tpm_keys[] = { "tcti", "index", NULL };

static const struct cfg_choice signature_counts[] = { { "1", 1 }, { "2", 2 } };

#define MAX_SIZE_MIN 1024ull
#define MAX_SIZE_MAX (1ull << 40) /* 1 TiB */

static int health_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
		      const struct cfg_node *v, void *obj)
{
	struct m2m_update_config *up = obj;
	int rc;

	switch (k) {
	case H_TIMEOUT:
		return cfg_get_duration(c, v, true, &up->health_timeout_ms);
	case H_PROFILES:
		rc = cfg_get_list(c, v, &T_PROFILE, &up->health_profiles);
		if (!rc)
			c->update_profiles = v;
		return rc;
	case H_DM:
		rc = cfg_get_bool(c, v, &up->health_dm);
		if (!rc)
			c->update_dm = v;
		return rc;
	}
	return M2M_OK;
}

static int rauc_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		    void *obj)
{
	struct m2m_update_config *up = obj;

	return cfg_get_str(c, v, &cfg_vt_file, &up->rauc_config);
}

static int script_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
		      const struct cfg_node *v, void *obj)
{
	struct m2m_update_config *up = obj;

	if (k == S_PATH)
		return cfg_get_str(c, v, &T_SCRIPT, &up->script);
	return cfg_get_duration(c, v, true, &up->script_timeout_ms);
}

static int installer_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
			 const struct cfg_node *v, void *obj)
{
	struct m2m_update_config *up = obj;
	const struct cfg_node *seen[S_N] = { NULL };
	bool is_map;
	int rc;

	if (k == I_RAUC) {
		/* rauc: with no value is RAUC with its own system.conf */
		up->rauc = true;
		return cfg_sub_section(c, v, "a mapping with config (optional), or no value",
				       rauc_keys, rauc_key, up);
	}
	rc = cfg_want_map(c, v, false, "a mapping with path and optionally timeout", &is_map);
	if (!rc)
		rc = cfg_walk(c, v, script_keys, seen, script_key, up);
	if (!rc && !seen[S_PATH])
		rc = cfg_missing(c, key, "path", "the path of the script that installs a package");
	return rc;
}

static int floor_tpm_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
			 const struct cfg_node *v, void *obj)
{
	struct m2m_update_config *up = obj;

	if (k == FT_INDEX)
		return cfg_get_nv_index(c, v, &up->floor_index);
	return cfg_get_str(c, v, &cfg_vt_tcti, &up->floor_tcti);
}

static int floor_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
		     const struct cfg_node *v, void *obj)
{
	struct m2m_update_config *up = obj;
	const struct cfg_node *seen[FT_N] = { NULL };
	bool is_map;
	int rc;

	up->floor_tpm = true;
	rc = cfg_want_map(c, v, false, "a mapping with index and optionally tcti", &is_map);
	if (!rc)
		rc = cfg_walk(c, v, floor_tpm_keys, seen, floor_tpm_key, up);
	if (!rc && !seen[FT_INDEX])
		rc = cfg_missing(c, key, "index", "the NV index that holds the floors, "
				 "such as 0x01800f00");
	return rc;
}

/* floor: file (the default), or floor: {tpm: {index: 0x01800f00, tcti: "..."}} */
static int parse_floor(struct cfg_ctx *c, const struct cfg_node *v,
		       struct m2m_update_config *up)
{
	static const char expected[] = "file, or a mapping with tpm: {index, tcti}";
	const struct cfg_node *seen[F_N] = { NULL };
	char b[QMAX * 4 + 8];
	const char *s;
	bool is_map;
	int rc;

	if (v->kind != CFG_MAP) {
		rc = cfg_text(c, v, expected, &s);
		if (!rc && strcmp(s, "file") != 0)
			rc = cfg_fail(c, v, "invalid floor '%s'; expected %s", cfg_q(v, b, sizeof(b)),
				      expected);
		return rc;
	}
	rc = cfg_want_map(c, v, false, expected, &is_map);
	if (!rc)
		rc = cfg_walk(c, v, floor_keys, seen, floor_key, up);
	if (!rc && !seen[F_TPM])
		rc = cfg_fail(c, v, "an empty mapping; expected %s", expected);
	return rc;
}

static int update_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
		      const struct cfg_node *v, void *obj)
{
	struct m2m_update_config *up = obj;
	const struct cfg_node *seen[4] = { NULL }; /* >= H_N, I_N */
	size_t size;
	bool is_map;
	int e, rc;

	switch (k) {
	case U_TRUST:
		return cfg_get_str(c, v, &T_PEM, &up->trust);
	case U_MODEL:
		return cfg_get_str(c, v, &cfg_vt_text, &up->model);
	case U_SIGNATURES:
		rc = cfg_get_enum(c, v, signature_counts, ARRAY_SIZE(signature_counts), &e);
		if (!rc)
			up->signatures = (unsigned)e;
		return rc;
	case U_DOWNGRADES:
		return cfg_get_list(c, v, &T_VERSION, &up->downgrades);
	case U_DOWNLOAD_DIR:
		return cfg_get_str(c, v, &cfg_vt_absdir, &up->download_dir);
	case U_MAX_SIZE:
		rc = cfg_get_size(c, v, MAX_SIZE_MIN, MAX_SIZE_MAX, &size);
		if (!rc)
			up->max_size = size;
		return rc;
	case U_TIMEOUT:
		return cfg_get_duration(c, v, true, &up->timeout_ms);
	case U_HEALTH:
		rc = cfg_want_map(c, v, true, "a mapping with timeout, profiles and dm", &is_map);
		if (!rc && is_map)
			rc = cfg_walk(c, v, health_keys, seen, health_key, up);
		return rc;
	case U_INSTALLERS:
		rc = cfg_want_map(c, v, true, "a mapping with rauc and/or script", &is_map);
		if (!rc && is_map)
			rc = cfg_walk(c, v, installer_keys, seen, installer_key, up);
		return rc;
	case U_CA:
		return cfg_get_str(c, v, &T_CA, &up->ca);
	case U_FLOOR:
		return parse_floor(c, v, up);
	case U_JITTER:
		return cfg_get_duration(c, v, false, &up->jitter_ms);
	}
	return M2M_OK;
}

int cfg_update_parse(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
		     struct m2m_config *cfg)
{
	const struct cfg_node *seen[U_N] = { NULL };
	struct m2m_update_config *up;
	bool is_map;
	int rc;

	rc = cfg_want_map(c, v, true, "a mapping with trust and the update engine's keys", &is_map);
	if (rc)
		return rc;
	up = calloc(1, sizeof(*up));
	if (!up)
		return cfg_oom(c);
	cfg->update = up;
	up->signatures = 1;
	up->max_size = 1024ull * 1024 * 1024;
	up->timeout_ms = 60 * 60 * 1000;
	up->health_timeout_ms = 5 * 60 * 1000;
	up->script_timeout_ms = 10 * 60 * 1000;
	up->jitter_ms = 10 * 60 * 1000;
	if (is_map) {
		rc = cfg_walk(c, v, update_keys, seen, update_key, up);
		if (rc)
			return rc;
	}
	/* no package is installed unless its signer chains to an anchor named here */
	if (!seen[U_TRUST])
		return cfg_missing(c, key, "trust",
				   "the PEM file of the trust anchors that package signers chain to");
	return M2M_OK;
}

/* health.profiles name profiles of vpn.profiles (which may come later in the file) */
static int check_profiles(struct cfg_ctx *c, struct m2m_config *cfg)
{
	const struct cfg_node *list = c->update_profiles;
	char **names = cfg->update->health_profiles;

	for (size_t i = 0; names && names[i]; i++) {
		const struct cfg_node *at = list->kind == CFG_SEQ ? list->kids[i] : list;
		char known[256], hint[96] = "", b[QMAX * 4 + 8];
		const char *pnames[33] = { NULL };
		unsigned best = 3;
		size_t old, n = 0;
		int rc;

		if (m2m_config_profile(cfg, names[i]))
			continue;
		for (size_t p = 0; p < cfg->n_profiles && n < 32; p++) {
			unsigned d = cfg_distance(names[i], strlen(names[i]), cfg->profiles[p].name);

			pnames[n++] = cfg->profiles[p].name;
			if (d < best && d < strlen(names[i])) {
				best = d;
				snprintf(hint, sizeof(hint), " (did you mean '%s'?)",
					 cfg->profiles[p].name);
			}
		}
		cfg_join(known, sizeof(known), pnames, cfg_all_bits(pnames), NULL);
		old = cfg_push(c, "update.health.profiles");
		if (list->kind == CFG_SEQ)
			cfg_push_index(c, i);
		if (n)
			rc = cfg_fail(c, at, "unknown VPN profile '%s'%s; expected one of vpn.profiles: %s",
				      cfg_q(at, b, sizeof(b)), hint, known);
		else
			rc = cfg_fail(c, at, "unknown VPN profile '%s'; expected a profile of vpn.profiles "
				      "(there is none)", cfg_q(at, b, sizeof(b)));
		cfg_pop(c, old);
		return rc;
	}
	return M2M_OK;
}

int cfg_update_finish(struct cfg_ctx *c, const struct cfg_node *key, struct m2m_config *cfg)
{
	struct m2m_update_config *up = cfg->update;
	size_t old;
	int rc;

	if (!up)
		return M2M_OK;
	rc = check_profiles(c, cfg);
	if (rc)
		return rc;
	if (c->update_dm && up->health_dm && !cfg->dm.enabled) {
		old = cfg_push(c, "update.health.dm");
		rc = cfg_fail(c, c->update_dm, "true, but there is no dm: section to register with; "
			      "expected false, or a dm: section");
		cfg_pop(c, old);
		return rc;
	}
	if (!c->update_dm)
		up->health_dm = cfg->dm.enabled;
	if (!up->model) {
		if (!cfg->device.model) {
			old = cfg_push(c, "update");
			rc = cfg_missing(c, key, "model", "model here or device.model "
					 "(the packages' models are checked against it)");
			cfg_pop(c, old);
			return rc;
		}
		up->model = strdup(cfg->device.model);
		if (!up->model)
			return cfg_oom(c);
	}
	if (!up->download_dir) {
		const char *sd = cfg->state_dir ? cfg->state_dir : M2M_STATE_DEFAULT_DIR;

		if (asprintf(&up->download_dir, "%s%supdate", sd, strcmp(sd, "/") ? "/" : "") < 0) {
			up->download_dir = NULL;
			return cfg_oom(c);
		}
	}
	return M2M_OK;
}

void cfg_update_free(struct m2m_config *cfg)
{
	struct m2m_update_config *up = cfg->update;

	if (!up)
		return;
	free(up->trust);
	free(up->model);
	cfg_free_list(up->downgrades);
	free(up->download_dir);
	cfg_free_list(up->health_profiles);
	free(up->rauc_config);
	free(up->script);
	free(up->ca);
	free(up->floor_tcti);
	free(up);
	cfg->update = NULL;
}
