/* SPDX-License-Identifier: MIT */
/*
 * m2mdm-policy check, release, apply, watch: the subcommands that change
 * something, each one library call under the policy lock (watch: each of its
 * restores).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m2m/policy.h"

#include "pol.h"

static int no_args(struct opts *o, const char *cmd, int argc, char **argv)
{
	if (argc > 0)
		return cli_error(&o->c, M2M_ERR_USAGE, "%s: unexpected argument '%s'", cmd, argv[0]);
	return cli_load_config(&o->c, &o->cfg);
}

int cmd_check(struct opts *o, int argc, char **argv)
{
	struct m2m_policy_status st = { .version = M2M_POLICY_STATUS_VERSION };
	struct m2m_err err = { 0 };
	volatile const int *stop;
	int rc = no_args(o, "check", argc, argv);

	if (rc)
		return rc;
	stop = cli_catch_stop();
	rc = m2m_policy_check(o->cfg, o->c.timeout_ms, stop, cli_log_line, &o->c, &st, &err);
	if (rc)
		return cli_fail(&o->c, &err);
	return print_status(o, &st);
}

int cmd_release(struct opts *o, int argc, char **argv)
{
	struct m2m_policy_status st = { .version = M2M_POLICY_STATUS_VERSION };
	struct m2m_err err = { 0 };
	int rc = no_args(o, "release", argc, argv);

	if (rc)
		return rc;
	if (!o->reason || !o->reason[0])
		return cli_error(&o->c, M2M_ERR_USAGE, "release: --reason TEXT is required (it goes to the audit log)");
	if (strpbrk(o->reason, "\n\r"))
		return cli_error(&o->c, M2M_ERR_USAGE, "release: --reason must be one line");
	rc = m2m_policy_status(o->cfg, &st, &err);
	if (rc)
		return cli_fail(&o->c, &err);
	if (!st.quarantined) {
		if (!o->c.quiet && !o->c.json)
			printf("not in quarantine: nothing to release\n");
		return M2M_OK;
	}
	rc = m2m_policy_release(o->cfg, o->reason, &err);
	if (rc)
		return cli_fail(&o->c, &err);
	if (!o->c.quiet && !o->c.json)
		printf("released: the quarantine is lifted (%s)\n", st.reason);
	return M2M_OK;
}

int cmd_apply(struct opts *o, int argc, char **argv)
{
	struct m2m_err err = { 0 };
	int rc = no_args(o, "apply", argc, argv);

	if (rc)
		return rc;
	rc = m2m_policy_apply(o->cfg, &err);
	return rc ? cli_fail(&o->c, &err) : M2M_OK;
}

/* A service: runs until SIGTERM or SIGINT, its lines on stderr (the journal). */
int cmd_watch(struct opts *o, int argc, char **argv)
{
	struct m2m_err err = { 0 };
	volatile const int *stop;
	int rc = no_args(o, "watch", argc, argv);

	if (rc)
		return rc;
	stop = cli_catch_stop();
	rc = m2m_policy_watch(o->cfg, stop, cli_log_line, &o->c, &err);
	return rc ? cli_fail(&o->c, &err) : M2M_OK;
}
