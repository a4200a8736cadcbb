/* SPDX-License-Identifier: MIT */
/*
 * m2mdm-policy wipe: decommission the device in one auditable step
 * (m2m/wipe.h). It asks for --reason and --yes: there is no way back.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "m2m/wipe.h"

#include "pol.h"

#define WIPE_SCHEMA "m2m.wipe/1"

int cmd_wipe(struct opts *o, int argc, char **argv)
{
	struct m2m_wipe_result res = { .version = M2M_WIPE_RESULT_VERSION };
	struct m2m_err err = { 0 };
	int rc;

	if (argc > 0)
		return cli_error(&o->c, M2M_ERR_USAGE, "wipe: unexpected argument '%s'", argv[0]);
	if (!o->reason || !o->reason[0] || strpbrk(o->reason, "\n\r"))
		return cli_error(&o->c, M2M_ERR_USAGE,
				 "wipe: --reason TEXT (one line) is required: it goes to the audit log");
	if (!o->yes)
		return cli_error(&o->c, M2M_ERR_USAGE,
				 "wipe: this destroys the device's keys, certificates, secrets and "
				 "state for good; add --yes");
	rc = cli_load_config(&o->c, &o->cfg);
	if (rc)
		return rc;
	rc = m2m_wipe(o->cfg, o->reason, cli_log_line, &o->c, &res, &err);
	if (o->c.json) {
		json_object *d = json_object_new_object();

		json_object_object_add(d, "schema", json_object_new_string(WIPE_SCHEMA));
		json_object_object_add(d, "destroyed", json_object_new_int64(res.destroyed));
		json_object_object_add(d, "not_there", json_object_new_int64(res.gone));
		json_object_object_add(d, "failed", json_object_new_int64(res.failed));
		json_object_object_add(d, "audit_head", cli_json_str(res.audit_head));
		json_object_object_add(d, "result", json_object_new_string(m2m_rc_name(rc)));
		json_object_object_add(d, "error", rc ? cli_json_str(err.msg) : NULL);
		cli_print_json(d);
	} else if (!o->c.quiet) {
		printf("%s: %u destroyed, %u not there, %u failed; audit log head %s\n",
		       rc ? "wipe INCOMPLETE" : "wiped", res.destroyed, res.gone, res.failed,
		       res.audit_head[0] ? res.audit_head : "(not written)");
	}
	return rc ? cli_fail(&o->c, &err) : M2M_OK;
}
