/* SPDX-License-Identifier: MIT */
/*
 * A certificate as the tools show it: m2mdm-status's Certificates section and
 * its --json, with the fields m2mvpn-cert show --json gives them (m2m.cert/1).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cert.h"

void cli_cert_of_file(const char *path, struct cli_cert *ci)
{
	struct m2m_err err;

	memset(ci, 0, sizeof(*ci));
	ci->state = "unknown";
	if (!path || m2m_cert_info_file(path, &ci->ci, &err))
		return;
	ci->known = true;
	ci->state = ci->ci.not_after < time(NULL) ? "expired" :
		    m2m_cert_renewal_due(&ci->ci, time(NULL)) ? "due" : "valid";
}

void cli_cert_json(json_object *co, const char *store, const struct cli_cert *ci)
{
	char t[32];

	json_object_object_add(co, "store", json_object_new_string(store));
	json_object_object_add(co, "subject", ci->known ? cli_json_str(ci->ci.subject) : NULL);
	json_object_object_add(co, "issuer", ci->known ? cli_json_str(ci->ci.issuer) : NULL);
	json_object_object_add(co, "serial", ci->known ? cli_json_str(ci->ci.serial) : NULL);
	if (ci->known) {
		cli_time_utc(ci->ci.not_after, t, sizeof(t));
		json_object_object_add(co, "not_after", json_object_new_string(t));
		json_object_object_add(co, "seconds_left",
				       json_object_new_int64((int64_t)(ci->ci.not_after - time(NULL))));
	} else {
		json_object_object_add(co, "not_after", NULL);
		json_object_object_add(co, "seconds_left", NULL);
	}
	json_object_object_add(co, "renewal", json_object_new_string(ci->state));
}

void cli_cert_text(const struct cli *c, FILE *out, const char *name, const struct cli_cert *ci,
		   const char *unknown)
{
	const char *col = strcmp(ci->state, "valid") == 0 ? CLI_GREEN :
			  strcmp(ci->state, "due") == 0 ? CLI_YELLOW : CLI_RED;
	char t[32] = "";

	if (ci->known)
		cli_time_utc(ci->ci.not_after, t, sizeof(t));
	fprintf(out, "  %-12s %s%-8s%s %s%s%s\n", name, cli_col(c, col), ci->state,
		cli_col(c, CLI_RESET), ci->known ? ci->ci.subject : unknown,
		ci->known ? ", until " : "", t);
}
