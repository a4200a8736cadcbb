/* SPDX-License-Identifier: MIT */
/*
 * m2mdm-policy status: what the last check found, whether a quarantine is in
 * force and whole, and the audit log's head; for people and as JSON
 * (schema m2m.policy/1). Reads no input (no gpsd, no ModemManager).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "m2m/policy.h"

#include "pol.h"

static json_object *json_time(int64_t t)
{
	char b[32];

	if (!t)
		return NULL;
	cli_time_utc((time_t)t, b, sizeof(b));
	return json_object_new_string(b);
}

static json_object *json_look(const struct m2m_policy_look *l)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "verdict", json_object_new_string(m2m_policy_verdict_name(l->verdict)));
	json_object_object_add(o, "action", l->verdict == M2M_POLICY_OFF ? NULL :
				json_object_new_string(m2m_policy_action_name(l->action)));
	json_object_object_add(o, "result", json_object_new_string(m2m_rc_name(l->rc)));
	json_object_object_add(o, "since", json_time(l->since));
	json_object_object_add(o, "detail", cli_json_str(l->detail));
	return o;
}

static void json(const struct m2m_policy_status *st)
{
	json_object *d = json_object_new_object(), *p = json_object_new_object(),
		    *a = json_object_new_object();

	json_object_object_add(d, "schema", json_object_new_string(M2M_POLICY_SCHEMA));
	json_object_object_add(d, "quarantined", json_object_new_boolean(st->quarantined));
	json_object_object_add(d, "quarantine_whole", json_object_new_boolean(st->quarantine_whole));
	json_object_object_add(d, "since", st->quarantined ? json_time(st->quarantined_since) : NULL);
	json_object_object_add(d, "reason", st->quarantined ? cli_json_str(st->reason) : NULL);
	json_object_object_add(d, "checked", json_time(st->checked));
	json_object_object_add(p, "location", json_look(&st->location));
	json_object_object_add(p, "sim", json_look(&st->sim));
	json_object_object_add(p, "tamper", json_look(&st->tamper));
	/* the counters configured (or with a verdict kept), by their names */
	for (int k = 0; k < M2M_POLICY_N_COUNTERS; k++)
		if (st->counters[k].verdict != M2M_POLICY_OFF)
			json_object_object_add(p, m2m_policy_counter_name(k), json_look(&st->counters[k]));
	json_object_object_add(d, "policies", p);
	json_object_object_add(d, "released", json_time(st->released_ms / 1000));
	json_object_object_add(d, "bound_iccid", cli_json_str(st->bound_iccid));
	json_object_object_add(a, "intact", json_object_new_boolean(st->audit_intact));
	json_object_object_add(a, "records", json_object_new_int64(st->audit_records));
	json_object_object_add(a, "head", cli_json_str(st->audit_head));
	json_object_object_add(d, "audit", a);
	cli_print_json(d);
}

static void text_look(const struct cli *c, const char *name, const struct m2m_policy_look *l)
{
	const char *col = l->verdict == M2M_POLICY_HOLDS    ? CLI_GREEN
			  : l->verdict == M2M_POLICY_BROKEN ? CLI_RED
			  : l->verdict == M2M_POLICY_UNKNOWN ? CLI_YELLOW
							     : CLI_DIM;

	printf("  %-16s %s%-7s%s", name, cli_col(c, col), m2m_policy_verdict_name(l->verdict),
	       cli_col(c, CLI_RESET));
	if (l->verdict != M2M_POLICY_OFF)
		printf(" %s%s", l->detail, l->verdict == M2M_POLICY_BROKEN && l->action == M2M_POLICY_LOG
						  ? " (logged only)" : "");
	printf("\n");
}

int print_status(struct opts *o, const struct m2m_policy_status *st)
{
	const struct cli *c = &o->c;
	char t[32];

	if (c->json) {
		json(st);
	} else if (!c->quiet) {
		if (st->quarantined) {
			if (st->quarantined_since)
				cli_time_utc((time_t)st->quarantined_since, t, sizeof(t));
			printf("%sQUARANTINED%s since %s: %s\n", cli_col(c, CLI_RED), cli_col(c, CLI_RESET),
			       st->quarantined_since ? t : "a time not known (the state was lost)",
			       st->reason[0] ? st->reason : "the reason was lost with the state");
			if (!st->quarantine_whole)
				printf("  %sthe quarantine's rules are not in place as made%s: "
				       "'m2mdm-policy check' puts them back\n",
				       cli_col(c, CLI_YELLOW), cli_col(c, CLI_RESET));
		} else {
			printf("%snot in quarantine%s\n", cli_col(c, CLI_GREEN), cli_col(c, CLI_RESET));
		}
		text_look(c, "location", &st->location);
		text_look(c, "sim", &st->sim);
		text_look(c, "tamper", &st->tamper);
		for (int k = 0; k < M2M_POLICY_N_COUNTERS; k++)
			if (st->counters[k].verdict != M2M_POLICY_OFF)
				text_look(c, m2m_policy_counter_name(k), &st->counters[k]);
		if (st->checked) {
			cli_time_utc((time_t)st->checked, t, sizeof(t));
			printf("  checked          %s\n", t);
		} else {
			printf("  checked          never\n");
		}
		if (st->bound_iccid[0])
			printf("  SIM bound        %s\n", st->bound_iccid);
		if (!st->audit_intact)
			printf("  audit log        %sits chain is broken%s: 'm2mdm-policy audit' says where\n",
			       cli_col(c, CLI_RED), cli_col(c, CLI_RESET));
		else
			printf("  audit log        %u record%s%s%.16s\n", st->audit_records,
			       st->audit_records == 1 ? "" : "s", st->audit_head[0] ? ", head " : "",
			       st->audit_head);
	}
	return st->quarantined ? M2M_ERR_QUARANTINED : M2M_OK;
}

int cmd_status(struct opts *o, int argc, char **argv)
{
	struct m2m_policy_status st = { .version = M2M_POLICY_STATUS_VERSION };
	struct m2m_err err = { 0 };
	int rc;

	if (argc > 0)
		return cli_error(&o->c, M2M_ERR_USAGE, "status: unexpected argument '%s'", argv[0]);
	rc = cli_load_config(&o->c, &o->cfg);
	if (rc)
		return rc;
	rc = m2m_policy_status(o->cfg, &st, &err);
	if (rc)
		return cli_fail(&o->c, &err);
	return print_status(o, &st);
}
