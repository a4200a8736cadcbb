/* SPDX-License-Identifier: MIT */
/*
 * m2mvpn-cert doctor, charon-conf: the profiles' pre-flight checks, and
 * charon's plugin settings for them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/cli.h"
#include "m2m/config.h"
#include "m2m/doctor.h"
#include "m2m/keystore.h"
#include "m2m/pki.h"
#include "m2m/vpn.h"

#include "cert.h"

static void print_checks(struct opts *o, const struct m2m_checks *cs, size_t from, json_object *arr)
{
	static const char *const col[] = { CLI_GREEN, CLI_YELLOW, CLI_RED, CLI_DIM };

	for (size_t i = from; i < cs->n; i++) {
		const struct m2m_check *e = cs->items[i];
		const char *sname = m2m_check_status_name(e->status);

		if (arr) {
			json_object *j = json_object_new_object();

			json_object_object_add(j, "profile", cli_json_str(e->profile));
			json_object_object_add(j, "check", json_object_new_string(e->check));
			json_object_object_add(j, "status", json_object_new_string(sname));
			json_object_object_add(j, "code", e->status == M2M_CHECK_FAIL ?
					       json_object_new_int(e->code) : NULL);
			json_object_object_add(j, "detail", json_object_new_string(e->message));
			json_object_array_add(arr, j);
			continue;
		}
		if (o->c.quiet && e->status != M2M_CHECK_FAIL)
			continue;
		printf("  %s%-4s%s %-12s %s\n", cli_col(&o->c, col[e->status]), sname,
		       cli_col(&o->c, CLI_RESET), e->check, e->message);
	}
}

int cmd_doctor(struct opts *o, int argc, char **argv)
{
	struct m2m_checks cs = { .version = M2M_CHECKS_VERSION };
	json_object *doc = NULL, *arr = NULL;
	int rc, n = 0;

	rc = load_cfg(o, true);
	if (rc)
		return rc;
	for (int i = 0; i < argc; i++)
		if (!m2m_config_profile(o->cfg, argv[i]))
			return cli_error(&o->c, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", argv[i],
					 o->cfg->path);
	if (o->c.json)
		doc = cli_json_doc("m2m.cert.doctor/1", "checks", &arr);
	for (size_t i = 0; i < o->cfg->n_profiles; i++) {
		const struct m2m_vpn_profile *p = &o->cfg->profiles[i];
		bool want = argc == 0 && (!o->profile || strcmp(o->profile, p->name) == 0);
		size_t from = cs.n;

		for (int j = 0; j < argc; j++)
			want = want || strcmp(argv[j], p->name) == 0;
		if (!want)
			continue;
		if (n++ && !o->c.json && !o->c.quiet)
			putchar('\n');
		if (!o->c.json && !o->c.quiet)
			printf("%s%s%s (method %s)\n", cli_col(&o->c, CLI_BOLD), p->name,
			       cli_col(&o->c, CLI_RESET), m2m_auth_method_name(p->auth));
		fflush(stdout); /* the header before a slow TPM or token answers */
		if (m2m_doctor_profile(o->cfg, p, &cs)) {
			json_object_put(doc);
			m2m_checks_free(&cs);
			return cli_error(&o->c, M2M_ERR_FAILURE, "out of memory");
		}
		print_checks(o, &cs, from, arr);
	}
	rc = cs.rc;
	m2m_checks_free(&cs);
	if (doc) {
		json_object_object_add(doc, "result", json_object_new_string(m2m_rc_name(rc)));
		json_object_object_add(doc, "code", json_object_new_int(rc));
		cli_print_json(doc);
	}
	return rc;
}

/* charon's tpm and pkcs11 plugin settings for the profiles' keys */
int cmd_charon_conf(struct opts *o, int argc, char **argv)
{
	struct m2m_err err;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (argc)
		return cli_error(&o->c, M2M_ERR_USAGE, "charon-conf: takes no arguments");
	rc = load_cfg(o, true);
	if (rc)
		return rc;
	m2m_err_clear(&err);
	if (m2m_vpn_charon_conf(o->cfg, &buf, &len, &err))
		return cli_fail(&o->c, &err);
	if (!o->out) {
		fputs(buf, stdout);
		free(buf);
		return M2M_OK;
	}
	m2m_err_clear(&err);
	/* nothing secret in it: charon's own configuration is world-readable too */
	rc = m2m_write_atomic(o->out, buf, len, 0644, &err);
	free(buf);
	if (rc)
		return cli_fail(&o->c, &err);
	if (!o->c.quiet && isatty(STDOUT_FILENO))
		printf("wrote %s; restart charon to use it\n", o->out);
	return M2M_OK;
}
