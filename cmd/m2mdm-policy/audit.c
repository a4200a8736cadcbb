/* SPDX-License-Identifier: MIT */
/*
 * m2mdm-policy audit: the audit log, oldest first, each record checked
 * against the one before it; for people, or as JSON (schema m2m.policy-audit/1).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "m2m/policy.h"

#include "pol.h"

#define AUDIT_SCHEMA "m2m.policy-audit/1"

struct printer {
	struct opts *o;
	json_object *arr;
};

static int one(void *ctx, const struct m2m_policy_audit_record *r)
{
	struct printer *p = ctx;
	char t[32];

	cli_time_utc((time_t)r->time, t, sizeof(t));
	if (p->arr) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "seq", json_object_new_int64(r->seq));
		json_object_object_add(e, "time", json_object_new_string(t));
		json_object_object_add(e, "event", json_object_new_string(r->event));
		json_object_object_add(e, "policy", cli_json_str(r->policy));
		json_object_object_add(e, "detail", cli_json_str(r->detail));
		json_object_object_add(e, "hash", json_object_new_string(r->hash));
		json_object_array_add(p->arr, e);
	} else if (!p->o->c.quiet) {
		printf("%5u %s %-10s %-8s %s\n", r->seq, t, r->event, r->policy[0] ? r->policy : "-",
		       r->detail);
	}
	return 0;
}

int cmd_audit(struct opts *o, int argc, char **argv)
{
	struct printer p = { o, NULL };
	struct m2m_err err = { 0 };
	json_object *doc = NULL;
	int rc;

	if (argc > 0)
		return cli_error(&o->c, M2M_ERR_USAGE, "audit: unexpected argument '%s'", argv[0]);
	rc = cli_load_config(&o->c, &o->cfg);
	if (rc)
		return rc;
	if (o->c.json)
		doc = cli_json_doc(AUDIT_SCHEMA, "records", &p.arr);
	rc = m2m_policy_audit(o->cfg, one, &p, &err);
	if (doc) {
		json_object_object_add(doc, "intact", json_object_new_boolean(rc == M2M_OK));
		json_object_object_add(doc, "error", rc ? cli_json_str(err.msg) : NULL);
		cli_print_json(doc);
	}
	return rc ? cli_fail(&o->c, &err) : M2M_OK;
}
