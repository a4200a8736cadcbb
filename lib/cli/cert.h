/* SPDX-License-Identifier: MIT */
/* A certificate as the tools show it, as JSON and as text (cert.c). */
#ifndef M2M_CLI_CERT_H
#define M2M_CLI_CERT_H

#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "m2m/pki.h"

struct cli_cert {
	bool known;
	struct m2m_cert_info ci;
	const char *state; /* valid, due, expired, unknown */
};

/* The certificate in a file (NULL: none), and whether it is due for renewal. */
void cli_cert_of_file(const char *path, struct cli_cert *ci);
/* Its fields as m2mvpn-cert show --json names them (m2m.cert/1), added to co. */
void cli_cert_json(json_object *co, const char *store, const struct cli_cert *ci);
/* One line of a Certificates section: name, renewal state in colour, subject, end. */
void cli_cert_text(const struct cli *c, FILE *out, const char *name, const struct cli_cert *ci,
		   const char *unknown);

#endif
