/* SPDX-License-Identifier: MIT */
/*
 * m2mdm-status's summary: what it gathers from libm2m (the management
 * server's registration, the tunnels, the certificates and their stores,
 * the update) and prints for a technician or, with --json, for programs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cert.h"
#include "cli/cli.h"
#include "m2m/config.h"
#include "m2m/dm.h"
#include "m2m/update.h"
#include "m2m/vpn.h"
#include "dms.h"

/* Where a profile's key lives, in m2mvpn-cert's words. */
/* Every method but PKCS#12 (PIN needed) and plain EAP keeps its certificate in a file. */
static void cert_of(const struct m2m_vpn_profile *p, struct cli_cert *ci)
{
	cli_cert_of_file(p->cert, ci);
}

/* The management server's DTLS certificate (security x509), if the config names one. */
static bool dm_cert(const struct m2m_config *cfg, struct cli_cert *ci, const char **store)
{
	if (!cfg->dm.enabled || cfg->dm.security != M2M_DM_X509 || !cfg->dm.cert)
		return false;
	cli_cert_of_file(cfg->dm.cert, ci);
	*store = m2m_dm_key_store(&cfg->dm);
	return true;
}

/*
 * The server the device reports to: the one a bootstrap server gave (the
 * registration's, once one was attempted), else the configuration's; NULL
 * before the first bootstrap.
 */
const char *dms_server(const struct m2m_config *cfg, const struct m2m_dm_state *st)
{
	if (cfg->dm.bootstrap)
		return st->server[0] && m2m_dm_bootstrapped(cfg) ? st->server : NULL;
	return cfg->dm.server;
}

int dms_show(struct cli *c, struct m2m_config *cfg)
{
	struct m2m_vpn_status st[cfg->n_profiles ? cfg->n_profiles : 1];
	int vrc[cfg->n_profiles ? cfg->n_profiles : 1];
	struct m2m_dm_state dst;
	struct m2m_vpn *vpn = NULL;
	struct m2m_err err;
	struct utsname u;
	char vpn_err[384] = "", t1[32], fw_name[64] = "", fw[300];
	int rc;

	m2m_err_clear(&err);
	uname(&u);
	/* what the Device object's Firmware Version (/3/0/3) reports: the firmware package
	   last committed, the running kernel until one was */
	if (!cfg->update || m2m_update_firmware(cfg, fw_name, sizeof(fw_name), fw, sizeof(fw), NULL)) {
		fw_name[0] = '\0';
		snprintf(fw, sizeof(fw), "%s %s", u.sysname, u.release);
	}
	rc = m2m_vpn_open(cfg, &vpn, &err);
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		vrc[i] = rc ? rc : m2m_vpn_status(vpn, cfg->profiles[i].name, &st[i], &err);
		if (vrc[i] && !vpn_err[0])
			snprintf(vpn_err, sizeof(vpn_err), "%s", err.msg);
		/* charon down: every profile would say the same */
		if (vrc[i] == M2M_ERR_DAEMON)
			rc = vrc[i];
	}
	m2m_vpn_close(vpn);
	m2m_dm_state_load(cfg, &dst);

	if (c->json) {
		json_object *doc = json_object_new_object(), *dev = json_object_new_object();
		json_object *v = json_object_new_object(), *profs = json_object_new_array();
		json_object *certs = json_object_new_array(), *mg = json_object_new_object();

		json_object_object_add(doc, "schema", json_object_new_string("m2m.status/1"));
		json_object_object_add(dev, "id", cli_json_str(cfg->device.id));
		json_object_object_add(dev, "manufacturer", cli_json_str(cfg->device.manufacturer));
		json_object_object_add(dev, "model", cli_json_str(cfg->device.model));
		json_object_object_add(dev, "serial", cli_json_str(cfg->device.serial));
		json_object_object_add(dev, "firmware", cli_json_str(u.release));
		json_object_object_add(dev, "firmware_version", json_object_new_string(fw));
		json_object_object_add(dev, "software", json_object_new_string(m2m_version()));
		json_object_object_add(doc, "device", dev);
		/* the same document m2mvpn-connect status --json prints */
		json_object_object_add(v, "schema", json_object_new_string("m2m.vpn.status/1"));
		json_object_object_add(v, "profiles", profs);
		for (size_t i = 0; i < cfg->n_profiles; i++) {
			struct cli_cert ci;
			json_object *co = json_object_new_object();

			if (!vrc[i])
				json_object_array_add(profs, cli_vpn_status_json(&st[i], &cfg->profiles[i]));
			cert_of(&cfg->profiles[i], &ci);
			json_object_object_add(co, "profile", json_object_new_string(cfg->profiles[i].name));
			cli_cert_json(co, m2m_auth_key_store(cfg->profiles[i].auth), &ci);
			json_object_array_add(certs, co);
		}
		if (vpn_err[0])
			json_object_object_add(v, "error", json_object_new_string(vpn_err));
		json_object_object_add(doc, "vpn", v);
		json_object_object_add(doc, "certificates", certs);
		json_object_object_add(mg, "configured", json_object_new_boolean(cfg->dm.enabled));
		json_object_object_add(mg, "server", cli_json_str(dms_server(cfg, &dst)));
		json_object_object_add(mg, "bootstrap", cli_json_str(cfg->dm.bootstrap));
		json_object_object_add(mg, "endpoint", cli_json_str(cfg->dm.endpoint));
		json_object_object_add(mg, "registered", json_object_new_boolean(dst.registered));
		json_object_object_add(mg, "location", cli_json_str(dst.location));
		if (dst.registered_at) {
			cli_time_utc((time_t)dst.registered_at, t1, sizeof(t1));
			json_object_object_add(mg, "updated", json_object_new_string(t1));
			cli_time_utc((time_t)(dst.registered_at + dst.lifetime_s), t1, sizeof(t1));
			json_object_object_add(mg, "expires", json_object_new_string(t1));
		}
		json_object_object_add(mg, "binding", cli_json_str(dst.binding));
		json_object_object_add(mg, "last_result", json_object_new_string(m2m_rc_name(dst.last_rc)));
		json_object_object_add(mg, "last_error", cli_json_str(dst.last_error));
		{
			json_object *lost = json_object_new_array();
			char path[32];
			uint64_t at;

			for (size_t i = 0; !m2m_dm_lost_observation(cfg, i, path, sizeof(path), &at);
			     i++) {
				json_object *l = json_object_new_object();

				cli_time_utc((time_t)at, t1, sizeof(t1));
				json_object_object_add(l, "path", json_object_new_string(path));
				json_object_object_add(l, "reset_at", json_object_new_string(t1));
				json_object_array_add(lost, l);
			}
			/* observations the server ended with a reset (see m2mdm-status(1)) */
			json_object_object_add(mg, "lost_observations", lost);
		}
		{
			struct cli_cert ci;
			const char *store;
			json_object *co = NULL;

			if (dm_cert(cfg, &ci, &store)) {
				co = json_object_new_object();
				cli_cert_json(co, store, &ci);
			}
			/* the DTLS certificate (security x509), null otherwise */
			json_object_object_add(mg, "certificate", co);
		}
		json_object_object_add(doc, "management", mg);
		cli_print_json(doc);
		return M2M_OK;
	}

	printf("%sDevice%s       %s\n", cli_col(c, CLI_BOLD), cli_col(c, CLI_RESET),
	       cfg->device.id ? cfg->device.id : "(no device.id)");
	if (cfg->device.manufacturer || cfg->device.model)
		printf("  model      %s %s\n", cfg->device.manufacturer ? cfg->device.manufacturer : "",
		       cfg->device.model ? cfg->device.model : "");
	if (cfg->device.serial)
		printf("  serial     %s\n", cfg->device.serial);
	if (fw_name[0])
		printf("  firmware   %s %s (kernel %s %s), m2m %s\n", fw_name, fw, u.sysname, u.release,
		       m2m_version());
	else
		printf("  firmware   %s, m2m %s\n", fw, m2m_version());

	printf("\n%sVPN%s\n", cli_col(c, CLI_BOLD), cli_col(c, CLI_RESET));
	if (!cfg->n_profiles)
		printf("  no profiles\n");
	else if (rc == M2M_ERR_DAEMON)
		printf("  %s%s%s\n", cli_col(c, CLI_YELLOW), vpn_err, cli_col(c, CLI_RESET));
	for (size_t i = 0; i < cfg->n_profiles && rc != M2M_ERR_DAEMON; i++) {
		if (vrc[i])
			printf("  %s: %s%s%s\n", cfg->profiles[i].name, cli_col(c, CLI_RED), vpn_err,
			       cli_col(c, CLI_RESET));
		else
			cli_vpn_status_text(c, stdout, &st[i], &cfg->profiles[i]);
	}

	printf("\n%sCertificates%s\n", cli_col(c, CLI_BOLD), cli_col(c, CLI_RESET));
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		struct cli_cert ci;

		cert_of(&cfg->profiles[i], &ci);
		cli_cert_text(c, stdout, cfg->profiles[i].name, &ci,
			  cfg->profiles[i].auth == M2M_AUTH_PKCS12 ? "(in a PKCS#12 file: needs its PIN)" :
			  cfg->profiles[i].cert ? "(certificate file not readable)" : "(no certificate)");
	}
	{
		struct cli_cert ci;
		const char *store;

		if (dm_cert(cfg, &ci, &store))
			cli_cert_text(c, stdout, "(management)", &ci, "(certificate file not readable)");
		else if (!cfg->n_profiles)
			printf("  none\n");
	}

	printf("\n%sManagement%s\n", cli_col(c, CLI_BOLD), cli_col(c, CLI_RESET));
	if (!cfg->dm.enabled) {
		printf("  not configured (dm: in %s)\n", cfg->path);
		return M2M_OK;
	}
	printf("  server     %s as %s\n", dms_server(cfg, &dst) ? dms_server(cfg, &dst) :
	       "(not bootstrapped yet)", cfg->dm.endpoint);
	if (cfg->dm.bootstrap)
		printf("  bootstrap  %s\n", cfg->dm.bootstrap);
	if (dst.registered) {
		cli_time_utc((time_t)(dst.registered_at + dst.lifetime_s), t1, sizeof(t1));
		printf("  state      %sregistered%s at %s, binding %s, expires %s\n",
		       cli_col(c, CLI_GREEN), cli_col(c, CLI_RESET), dst.location, dst.binding, t1);
	} else {
		printf("  state      %snot registered%s\n", cli_col(c, CLI_YELLOW), cli_col(c, CLI_RESET));
	}
	if (dst.last_rc)
		printf("  last error %s%s%s (%s)\n", cli_col(c, CLI_RED), dst.last_error,
		       cli_col(c, CLI_RESET), m2m_rc_name(dst.last_rc));
	{
		char path[32];
		uint64_t at;

		for (size_t i = 0; !m2m_dm_lost_observation(cfg, i, path, sizeof(path), &at); i++) {
			cli_time_utc((time_t)at, t1, sizeof(t1));
			printf("  lost       %sobservation of %s%s: the server reset its "
			       "notification at %s; it must observe it again\n",
			       cli_col(c, CLI_YELLOW), path, cli_col(c, CLI_RESET), t1);
		}
	}
	return M2M_OK;
}
