/* SPDX-License-Identifier: MIT */
/* m2mdm-update commit, rollback: a technician's decision on an installed update. */
#include <stdio.h>

#include "cli/cli.h"
#include "m2m/update.h"

#include "upd.h"

static int decide(struct opts *o, int argc, bool good)
{
	struct m2m_update_status st;
	struct m2m_update *u = NULL;
	struct m2m_err err;
	char what[160];
	int rc;

	if (argc)
		return cli_error(&o->c, M2M_ERR_USAGE, "%s: takes no arguments", good ? "commit" : "rollback");
	rc = load_cfg(o);
	if (rc)
		return rc;
	catch_signals();
	rc = open_engine(o, o->c.timeout_ms, false, &u);
	if (rc)
		return rc;
	m2m_err_clear(&err);
	rc = m2m_update_decide(u, good, &err);
	if (!rc)
		rc = m2m_update_get(u, &st, &err);
	m2m_update_close(u);
	if (rc)
		return cli_fail(&o->c, &err);
	if (!o->c.quiet)
		printf("%s%s%s %s%s%s\n", cli_col(&o->c, good ? CLI_GREEN : CLI_YELLOW),
		       good ? "committed" : "rolled back", cli_col(&o->c, CLI_RESET),
		       pkg_words(&st, what, sizeof(what)), !good && st.installed[0] ? ", back to " : "",
		       good ? "" : st.installed);
	return M2M_OK;
}

int cmd_commit(struct opts *o, int argc, char **argv)
{
	return decide(o, argc, true);
}

int cmd_rollback(struct opts *o, int argc, char **argv)
{
	return decide(o, argc, false);
}
