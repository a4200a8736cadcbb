/* SPDX-License-Identifier: MIT */
/*
 * The configuration module: parse and validate m2m.yaml into struct
 * m2m_config (finding and loading the file, refusing files others can
 * change: load.c). One validator walks the node tree once; the first error
 * stops it with a one-line message
 * "FILE:LINE:COLUMN: dotted.key.path: what is wrong; expected what" (walk.c).
 * This file holds the top level: the table of sections, the small ones
 * (device, charon, state_dir, the reserved pki) and the API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config_int.h"

/* ------------------------------------------------------------------------ */
/* the small sections */

enum { D_ID, D_SERIAL, D_MANUFACTURER, D_MODEL, D_N };
static const char *const device_keys[] = { "id", "serial", "manufacturer", "model", NULL };
static const char *const charon_keys[] = { "vici", NULL };

static int device_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
		      const struct cfg_node *v, void *obj)
{
	struct m2m_config *cfg = obj;
	char **dst[D_N] = {
		[D_ID] = &cfg->device.id,
		[D_SERIAL] = &cfg->device.serial,
		[D_MANUFACTURER] = &cfg->device.manufacturer,
		[D_MODEL] = &cfg->device.model,
	};

	return cfg_get_str(c, v, k == D_ID ? &cfg_vt_id : &cfg_vt_text, dst[k]);
}

static int charon_key(struct cfg_ctx *c, int k, const struct cfg_node *key,
		      const struct cfg_node *v, void *obj)
{
	struct m2m_config *cfg = obj;

	return cfg_get_str(c, v, &cfg_vt_vici, &cfg->charon.vici);
}

static int parse_device(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
			struct m2m_config *cfg)
{
	return cfg_sub_section(c, v, "a mapping with id, serial, manufacturer and model",
			       device_keys, device_key, cfg);
}

static void free_device(struct m2m_config *cfg)
{
	free(cfg->device.id);
	free(cfg->device.serial);
	free(cfg->device.manufacturer);
	free(cfg->device.model);
}

static int parse_charon(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
			struct m2m_config *cfg)
{
	return cfg_sub_section(c, v, "a mapping with vici", charon_keys, charon_key, cfg);
}

static void free_charon(struct m2m_config *cfg)
{
	free(cfg->charon.vici);
}

static int parse_state_dir(struct cfg_ctx *c, const struct cfg_node *key,
			   const struct cfg_node *v, struct m2m_config *cfg)
{
	return cfg_get_str(c, v, &cfg_vt_absdir, &cfg->state_dir);
}

static void free_state_dir(struct m2m_config *cfg)
{
	free(cfg->state_dir);
}

/* A reserved section: any YAML at all, but no aliases and no duplicate keys. */
static int check_any(struct cfg_ctx *c, const struct cfg_node *v)
{
	size_t old;
	int rc = M2M_OK;

	switch (v->kind) {
	case CFG_ALIAS:
		return cfg_wrong(c, v, "any value");
	case CFG_SCALAR:
		return M2M_OK;
	case CFG_SEQ:
		for (size_t i = 0; i < v->n && !rc; i++) {
			old = cfg_push_index(c, i);
			rc = check_any(c, v->kids[i]);
			cfg_pop(c, old);
		}
		return rc;
	case CFG_MAP:
		rc = cfg_check_keys(c, v, "a string");
		for (size_t i = 0; i + 1 < v->n && !rc; i += 2) {
			old = cfg_push_node(c, v->kids[i]);
			rc = check_any(c, v->kids[i + 1]);
			cfg_pop(c, old);
		}
		return rc;
	}
	return M2M_OK;
}

static int parse_reserved(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
			  struct m2m_config *cfg)
{
	bool is_map;
	int rc = cfg_want_map(c, v, true, "a mapping (reserved for a later version)", &is_map);

	if (rc || !is_map)
		return rc;
	return check_any(c, v);
}

static int parse_version(struct cfg_ctx *c, const struct cfg_node *key, const struct cfg_node *v,
			 struct m2m_config *cfg)
{
	return M2M_OK; /* checked first, see check_version() */
}

/* ------------------------------------------------------------------------ */
/* the top level */

/*
 * The sections of m2m.yaml(5), in the order a message lists them. A new
 * section (update:, enrol:, policy:) is a file of its own and a row here.
 */
static const struct cfg_section sections[] = {
	{ "version", parse_version, NULL, NULL },
	{ "device", parse_device, NULL, free_device },
	{ "charon", parse_charon, NULL, free_charon },
	{ "state_dir", parse_state_dir, NULL, free_state_dir },
	{ "vpn", cfg_vpn_parse, cfg_vpn_finish, cfg_vpn_free },
	{ "dm", cfg_dm_parse, cfg_dm_finish, cfg_dm_free },
	{ "update", cfg_update_parse, cfg_update_finish, cfg_update_free },
	{ "policy", cfg_policy_parse, NULL, cfg_policy_free },
	{ "pki", parse_reserved, NULL, NULL },
};
#define N_SECTIONS ARRAY_SIZE(sections)

static int root_key(struct cfg_ctx *c, int k, const struct cfg_node *key, const struct cfg_node *v,
		    void *obj)
{
	return sections[k].parse(c, key, v, obj);
}

/* The version comes first: a newer file's other keys would only confuse. */
static int check_version(struct cfg_ctx *c, const struct cfg_node *root)
{
	const struct cfg_node *v = NULL;
	char b[QMAX * 4 + 8];
	size_t old = cfg_push(c, "version");
	bool digits = true;
	int rc = M2M_OK;

	for (size_t i = 0; i + 1 < root->n && !v; i += 2)
		if (cfg_key_is(root->kids[i], "version"))
			v = root->kids[i + 1];
	if (!v) {
		rc = cfg_fail(c, root, "missing; expected version: 1");
		goto out;
	}
	if (v->kind != CFG_SCALAR || cfg_is_null(v)) {
		rc = cfg_wrong(c, v, "1");
		goto out;
	}
	if (strcmp(v->str, "1") == 0)
		goto out;
	for (size_t i = 0; i < v->len; i++)
		digits = digits && v->str[i] >= '0' && v->str[i] <= '9';
	if (digits && v->len)
		rc = cfg_fail(c, v, "unsupported version %s; expected 1", cfg_q(v, b, sizeof(b)));
	else
		rc = cfg_fail(c, v, "invalid version '%s'; expected 1", cfg_q(v, b, sizeof(b)));
out:
	cfg_pop(c, old);
	return rc;
}

static int validate(struct cfg_ctx *c, const struct cfg_node *root, struct m2m_config *cfg)
{
	const struct cfg_node *seen[N_SECTIONS] = { NULL };
	const char *names[N_SECTIONS + 1] = { NULL };
	size_t old;
	int rc;

	if (!root || cfg_is_null(root)) {
		old = cfg_push(c, "version");
		rc = cfg_fail(c, root, "missing (the file is empty); expected version: 1");
		cfg_pop(c, old);
		return rc;
	}
	if (root->kind != CFG_MAP)
		return cfg_wrong(c, root, "a mapping with version: 1 and the sections of m2m.yaml(5)");
	for (size_t i = 0; i < N_SECTIONS; i++)
		names[i] = sections[i].name;
	rc = check_version(c, root);
	if (!rc)
		rc = cfg_walk(c, root, names, seen, root_key, cfg);
	for (size_t i = 0; i < N_SECTIONS && !rc; i++)
		if (sections[i].finish)
			rc = sections[i].finish(c, seen[i], cfg);
	if (rc)
		return rc;
	if (!cfg->charon.vici)
		cfg->charon.vici = strdup(M2M_VICI_DEFAULT_URI);
	if (!cfg->state_dir)
		cfg->state_dir = strdup(M2M_STATE_DEFAULT_DIR);
	if (!cfg->charon.vici || !cfg->state_dir)
		return cfg_oom(c);
	return M2M_OK;
}

/* ------------------------------------------------------------------------ */
/* the API */

const char *m2m_config_path(const char *explicit_path)
{
	const char *env;

	if (explicit_path)
		return explicit_path;
	env = getenv(M2M_CONFIG_ENV);
	if (env && *env)
		return env;
	return M2M_CONFIG_DEFAULT_PATH;
}

void m2m_config_free(struct m2m_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < N_SECTIONS; i++)
		if (sections[i].free)
			sections[i].free(cfg);
	free(cfg->path);
	free(cfg);
}

const struct m2m_vpn_profile *m2m_config_profile(const struct m2m_config *cfg, const char *name)
{
	if (!cfg || !name)
		return NULL;
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (cfg->profiles[i].name && strcmp(cfg->profiles[i].name, name) == 0)
			return &cfg->profiles[i];
	return NULL;
}

const struct m2m_enroll_config *m2m_config_enroll(const struct m2m_config *cfg,
						  const struct m2m_vpn_profile *p)
{
	if (!cfg || !p || !cfg->enroll || p < cfg->profiles || p >= cfg->profiles + cfg->n_profiles)
		return NULL;
	return cfg->enroll[p - cfg->profiles];
}

int cfg_parse_in(const char *name, const char *base, const char *buf, size_t len,
		 struct m2m_config **out, struct m2m_err *err)
{
	struct cfg_ctx c = { .base = base, .err = err };
	struct cfg_node *root;
	struct m2m_config *cfg;
	int rc;

	*out = NULL;
	cfg_quote(c.name, sizeof(c.name), name, strlen(name), 200);
	if (len > CFG_MAX_BYTES)
		return m2m_err_set(err, M2M_ERR_CONFIG,
				   "%s: too large (%zu bytes); expected at most 1 MiB", c.name, len);
	rc = cfg_tree_parse(name, buf, len, &root, err);
	if (rc)
		return rc;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->path = strdup(name))) {
		free(cfg);
		cfg_tree_free(root);
		return cfg_oom(&c);
	}
	rc = validate(&c, root, cfg);
	cfg_tree_free(root);
	if (rc) {
		m2m_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return M2M_OK;
}

/* The directory of name, absolute (lexically: nothing is looked up), or NULL. */
static char *dir_of(const char *name)
{
	const char *slash = strrchr(name, '/');
	char *cwd, *dir;

	if (slash == name)
		return strdup("/");
	if (slash && name[0] == '/')
		return strndup(name, (size_t)(slash - name));
	cwd = get_current_dir_name();
	if (!cwd || !slash)
		return cwd;
	if (asprintf(&dir, "%s/%.*s", strcmp(cwd, "/") ? cwd : "", (int)(slash - name), name) < 0)
		dir = NULL;
	free(cwd);
	return dir;
}

int m2m_config_parse(const char *name, const char *buf, size_t len, struct m2m_config **out,
		     struct m2m_err *err)
{
	char *base;
	int rc;

	if (!out)
		return m2m_err_set(err, M2M_ERR_FAILURE, "m2m_config_parse: no result pointer");
	if (!name)
		name = "(config)";
	base = dir_of(name);
	rc = cfg_parse_in(name, base, buf, len, out, err);
	free(base);
	return rc;
}

