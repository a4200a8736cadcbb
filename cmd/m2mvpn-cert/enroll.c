/* SPDX-License-Identifier: MIT */
/*
 * m2mvpn-cert enroll, renew, revoke: a profile's certificate from the CA of
 * its enroll: section, over CMP (libm2m's m2m/enroll.h does the work).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cert.h"
#include "cli/cli.h"
#include "m2m/config.h"
#include "m2m/enroll.h"

#include "cert.h"

/* CRLReason (RFC 5280 5.3.1) by the names it gives them; 7 is not used */
static const struct {
	const char *name;
	int code;
} reasons[] = {
	{ "unspecified", 0 }, { "keyCompromise", 1 }, { "cACompromise", 2 },
	{ "affiliationChanged", 3 }, { "superseded", 4 }, { "cessationOfOperation", 5 },
	{ "certificateHold", 6 }, { "privilegeWithdrawn", 9 }, { "aACompromise", 10 },
};

int cert_reason_parse(const char *s, int *code)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(s, reasons[i].name) == 0) {
			*code = reasons[i].code;
			return 0;
		}
	return -1;
}

static int need_profile(struct opts *o, const char *cmd, int argc)
{
	int rc;

	if (argc > 0)
		return cli_error(&o->c, M2M_ERR_USAGE, "%s: no operands expected (the profile is -p NAME)",
				 cmd);
	if (!o->profile)
		return cli_error(&o->c, M2M_ERR_USAGE, "%s: which profile? give -p NAME", cmd);
	rc = load_cfg(o, true);
	if (rc)
		return rc;
	if (!opts_profile(o))
		return cli_error(&o->c, M2M_ERR_NOT_FOUND, "no VPN profile '%s' in %s", o->profile,
				 o->cfg->path);
	return M2M_OK;
}

static const char *proof_name(enum m2m_enroll_proof p)
{
	return p == M2M_PROOF_OK ? "proven" : p == M2M_PROOF_PENDING ? "pending" : "none";
}

/* What was done, for a person (one line) or a program (m2m.enroll/1). */
static void report(struct opts *o, const char *done, const struct m2m_cert_info *ci,
		   const struct m2m_enroll_result *res)
{
	const struct m2m_vpn_profile *p = opts_profile(o);
	struct cli_cert cc = { .known = ci != NULL, .state = "unknown" };
	char until[32] = "";

	if (ci) {
		cc.ci = *ci;
		cc.state = ci->not_after < time(NULL) ? "expired" :
			   m2m_cert_renewal_due(ci, time(NULL)) ? "due" : "valid";
		cli_time_utc(ci->not_after, until, sizeof(until));
	}
	if (o->c.json) {
		json_object *d = json_object_new_object(), *co = json_object_new_object();

		json_object_object_add(d, "schema", json_object_new_string("m2m.enroll/1"));
		json_object_object_add(d, "profile", json_object_new_string(p->name));
		json_object_object_add(d, "done", json_object_new_string(done));
		json_object_object_add(d, "path", cli_json_str(p->cert));
		json_object_object_add(d, "proof", res ? json_object_new_string(proof_name(res->proof)) : NULL);
		json_object_object_add(d, "proof_detail", res && res->proof_msg[0] ?
				       cli_json_str(res->proof_msg) : NULL);
		cli_cert_json(co, m2m_auth_key_store(p->auth), &cc);
		json_object_object_add(d, "certificate", co);
		cli_print_json(d);
		return;
	}
	if (o->c.quiet)
		return;
	if (strcmp(done, "not_due") == 0)
		printf("%s: not due for renewal until %d days before %s\n", p->name,
		       M2M_CERT_RENEW_DAYS, until);
	else if (strcmp(done, "revoked") == 0)
		printf("%s: %srevoked%s the certificate %s\n", p->name, cli_col(&o->c, CLI_YELLOW),
		       cli_col(&o->c, CLI_RESET), p->cert);
	else
		printf("%s: %s%s%s %s, serial %s, valid until %s (%s)%s\n", p->name,
		       cli_col(&o->c, CLI_GREEN), done, cli_col(&o->c, CLI_RESET), ci->subject,
		       ci->serial, until, p->cert,
		       res && res->proof == M2M_PROOF_OK ? "; proven on the tunnel" : "");
	if (res && res->proof == M2M_PROOF_PENDING)
		fprintf(stderr, "%s: %swarning:%s not proven on the tunnel yet (%s); the previous certificate is kept as %s.prev until it is\n",
			p->name, cli_col(&o->c, CLI_YELLOW), cli_col(&o->c, CLI_RESET),
			res->proof_msg[0] ? res->proof_msg : "no tunnel came up", p->cert);
}

int cmd_enroll(struct opts *o, int argc, char **argv)
{
	struct m2m_enroll_result res = { .version = M2M_ENROLL_RESULT_VERSION };
	struct m2m_err err;
	int rc = need_profile(o, "enroll", argc);

	if (rc)
		return rc;
	m2m_err_clear(&err);
	rc = m2m_enroll(o->cfg, o->profile, o->c.timeout_ms, cli_catch_stop(), &res, &err);
	if (rc)
		return cli_fail(&o->c, &err);
	report(o, "enrolled", &res.cert, &res);
	return M2M_OK;
}

int cmd_renew(struct opts *o, int argc, char **argv)
{
	struct m2m_enroll_result res = { .version = M2M_ENROLL_RESULT_VERSION };
	struct m2m_err err;
	int rc = need_profile(o, "renew", argc);

	if (rc)
		return rc;
	m2m_err_clear(&err);
	rc = o->new_key ? m2m_enroll_rekey(o->cfg, o->profile, o->c.timeout_ms, cli_catch_stop(), &res,
					   &err) :
			  m2m_enroll_renew(o->cfg, o->profile, o->force, o->c.timeout_ms, cli_catch_stop(),
					   &res, &err);
	if (rc)
		return cli_fail(&o->c, &err);
	report(o, res.written ? "renewed" : "not_due", &res.cert, &res);
	return M2M_OK;
}

int cmd_revoke(struct opts *o, int argc, char **argv)
{
	struct m2m_err err;
	int rc = need_profile(o, "revoke", argc);

	if (rc)
		return rc;
	m2m_err_clear(&err);
	rc = m2m_enroll_revoke(o->cfg, o->profile, o->reason, o->c.timeout_ms, cli_catch_stop(),
			       &err);
	if (rc)
		return cli_fail(&o->c, &err);
	report(o, "revoked", NULL, NULL);
	return M2M_OK;
}
