/* SPDX-License-Identifier: MIT */
/* m2mvpn-connect status, list: the tunnels' state, for people and (--json) for programs. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m2m/config.h"
#include "m2m/vpn.h"

#include "connect.h"

int cmd_status(struct cli *c, struct m2m_config *cfg, int argc, char **argv)
{
	json_object *doc = NULL, *arr = NULL;
	struct m2m_vpn *vpn = NULL;
	struct m2m_err err;
	int rc = M2M_OK, result = M2M_OK;
	size_t n = 0;

	if (argc > 1)
		return cli_error(c, M2M_ERR_USAGE, "status: expected at most one PROFILE");
	if (argc == 1 && !m2m_config_profile(cfg, argv[0]))
		return cli_error(c, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", argv[0], cfg->path);
	m2m_err_clear(&err);
	rc = m2m_vpn_open(cfg, &vpn, &err);
	if (rc)
		return cli_fail(c, &err);
	if (c->json) {
		doc = cli_json_doc("m2m.vpn.status/1", "profiles", &arr);
	}
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct m2m_vpn_profile *p = &cfg->profiles[i];
		struct m2m_vpn_status st;

		if (argc == 1 && strcmp(argv[0], p->name) != 0)
			continue;
		rc = m2m_vpn_status(vpn, p->name, &st, &err);
		if (rc)
			break;
		/* a fail-closed profile is not up while its guard is not whole */
		if (argc == 1 && (st.state != M2M_VPN_STATE_UP || (p->fail_closed && !st.guard_active)))
			result = M2M_ERR_DOWN;
		if (c->json) {
			json_object_array_add(arr, cli_vpn_status_json(&st, p));
		} else {
			if (n++)
				putchar('\n');
			cli_vpn_status_text(c, stdout, &st, p);
		}
	}
	m2m_vpn_close(vpn);
	if (rc) {
		/* not even a call with NULL: it would load json-c (lazy.c) */
		if (doc)
			json_object_put(doc);
		return cli_fail(c, &err);
	}
	if (doc)
		cli_print_json(doc);
	else if (cfg->n_profiles == 0)
		printf("no VPN profiles in %s\n", cfg->path);
	return result;
}

int cmd_list(struct cli *c, struct m2m_config *cfg, int argc, char **argv)
{
	json_object *doc = NULL, *arr = NULL;
	struct m2m_vpn *vpn = NULL;
	struct m2m_err err;
	bool charon = true;

	(void)argv;
	if (argc != 0)
		return cli_error(c, M2M_ERR_USAGE, "list: takes no arguments");
	m2m_err_clear(&err);
	if (m2m_vpn_open(cfg, &vpn, &err))
		return cli_fail(c, &err);
	if (c->json) {
		doc = cli_json_doc("m2m.vpn.list/1", "profiles", &arr);
	} else {
		printf("%s%-20s %-10s %-24s %s%s\n", cli_col(c, CLI_BOLD), "PROFILE", "MODE", "GATEWAY",
		       "STATE", cli_col(c, CLI_RESET));
	}
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct m2m_vpn_profile *p = &cfg->profiles[i];
		const char *mode = p->mode == M2M_VPN_ALWAYS_ON ? "always-on" : "on-demand";
		struct m2m_vpn_status st;
		const char *state = "unknown";

		/* the list comes from the config; state is a bonus if charon answers */
		if (charon && m2m_vpn_status(vpn, p->name, &st, &err) == M2M_OK)
			state = m2m_vpn_state_name(st.state);
		else
			charon = false;
		if (c->json) {
			json_object *o = json_object_new_object(), *gws = json_object_new_array();

			json_object_object_add(o, "name", json_object_new_string(p->name));
			json_object_object_add(o, "mode", json_object_new_string(mode));
			for (char **g = p->gateways; g && *g; g++)
				json_object_array_add(gws, json_object_new_string(*g));
			json_object_object_add(o, "gateways", gws);
			json_object_object_add(o, "state", json_object_new_string(state));
			json_object_array_add(arr, o);
		} else {
			printf("%-20s %-10s %-24s %s\n", p->name, mode, p->gateways[0], state);
		}
	}
	m2m_vpn_close(vpn);
	if (doc)
		cli_print_json(doc);
	if (!charon && !c->quiet)
		cli_error(c, 0, "state unknown: %s", err.msg);
	return M2M_OK;
}
