/* SPDX-License-Identifier: MIT */
/* m2mdm-update install: a technician's install from a file or URL, with its progress. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "m2m/update.h"

#include "upd.h"

int cmd_install(struct opts *o, int argc, char **argv)
{
	struct m2m_update *u = NULL;
	struct m2m_err err;
	char abs[PATH_MAX];
	const char *src;
	int rc;

	if (argc != 1)
		return cli_error(&o->c, M2M_ERR_USAGE, "install: expected one FILE or URL");
	rc = load_cfg(o);
	if (rc)
		return rc;
	/* the journal keeps the source for a later check (cron, another directory): a file by its full path */
	src = argv[0];
	if (!strstr(src, "://") && realpath(src, abs))
		src = abs;
	catch_signals();
	rc = open_engine(o, o->c.timeout_ms, true, &u);
	if (rc)
		return rc;
	m2m_err_clear(&err);
	rc = m2m_update_install(u, src, &err);
	rc = say_result(o, u, rc, &err);
	m2m_update_close(u);
	return rc;
}
