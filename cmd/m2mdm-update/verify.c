/* SPDX-License-Identifier: MIT */
/* m2mdm-update verify: what a package is and who signed it, checked against a trust anchor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "m2m/update.h"

#include "upd.h"

static json_object *split(const char *s, const char *sep)
{
	json_object *a = json_object_new_array();
	char *copy = strdup(s), *save = NULL;

	for (char *t = copy ? strtok_r(copy, sep, &save) : NULL; t; t = strtok_r(NULL, sep, &save))
		json_object_array_add(a, json_object_new_string(t + (*t == ' ')));
	free(copy);
	return a;
}

static void show(const struct cli *c, const struct m2m_update_info *in, bool as_json)
{
	char t[32] = "", b[32];

	if (in->expires)
		cli_time_utc((time_t)in->expires, t, sizeof(t));
	if (as_json) {
		json_object *d = json_object_new_object();

		json_object_object_add(d, "schema", json_object_new_string("m2m.update.package/1"));
		json_object_object_add(d, "name", json_object_new_string(in->name));
		json_object_object_add(d, "version", json_object_new_string(in->version));
		json_object_object_add(d, "type", json_object_new_string(in->type));
		json_object_object_add(d, "installer", cli_json_str(in->installer));
		json_object_object_add(d, "models", split(in->models, ","));
		json_object_object_add(d, "size", json_object_new_int64((int64_t)in->size));
		json_object_object_add(d, "sha256", json_object_new_string(in->sha256));
		json_object_object_add(d, "expires", cli_json_str(t));
		json_object_object_add(d, "signers", split(in->signers, "\n"));
		cli_print_json(d);
		return;
	}
	printf("%s%s %s%s: %sgenuine%s\n", cli_col(c, CLI_BOLD), in->name, in->version,
	       cli_col(c, CLI_RESET), cli_col(c, CLI_GREEN), cli_col(c, CLI_RESET));
	printf("  %-11s %s%s%s%s\n", "type", in->type, in->installer[0] ? " (installer " : "",
	       in->installer, in->installer[0] ? ")" : "");
	printf("  %-11s ", "models");
	for (const char *m = in->models; *m; m++)
		printf(*m == ',' ? ", " : "%c", *m);
	printf("\n");
	cli_human_bytes(in->size, b, sizeof(b));
	printf("  %-11s %s (%llu bytes), sha256 %s\n", "payload", b, (unsigned long long)in->size,
	       in->sha256);
	if (t[0])
		printf("  %-11s %s\n", "expires", t);
	{
		char *copy = strdup(in->signers), *save = NULL;
		const char *label = "signed by";

		for (char *s = copy ? strtok_r(copy, "\n", &save) : NULL; s; s = strtok_r(NULL, "\n", &save)) {
			printf("  %-11s %s\n", label, s);
			label = "";
		}
		free(copy);
	}
}

int cmd_verify(struct opts *o, int argc, char **argv)
{
	struct m2m_update_info info;
	struct m2m_err err;
	const char *trust = o->trust, *model = o->model;
	unsigned sigs = o->signatures;
	int rc;

	if (argc != 1)
		return cli_error(&o->c, M2M_ERR_USAGE, "verify: expected one PKG");
	/* on a device, its own configuration says whom it trusts and what it is */
	if (!trust) {
		rc = load_cfg(o);
		if (rc)
			return rc;
		trust = o->cfg->update->trust;
		if (!model)
			model = o->cfg->update->model ? o->cfg->update->model : o->cfg->device.model;
		if (!sigs)
			sigs = o->cfg->update->signatures;
	}
	m2m_err_clear(&err);
	memset(&info, 0, sizeof(info));
	rc = m2m_update_verify(argv[0], trust, model, sigs, &info, &err);
	if (rc)
		return cli_fail(&o->c, &err);
	if (!o->c.quiet)
		show(&o->c, &info, o->c.json);
	return M2M_OK;
}
