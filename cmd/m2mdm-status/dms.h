/* SPDX-License-Identifier: MIT */
/* m2mdm-status: what is kept in files of its own (this directory). */
#ifndef M2MDM_STATUS_H
#define M2MDM_STATUS_H

#include "cli/cli.h"
#include "m2m/config.h"
#include "m2m/dm.h"

/* show.c: the summary (text, or --json); an enum m2m_rc */
int dms_show(struct cli *c, struct m2m_config *cfg);
/* the server the device reports to: the bootstrapped one, the registration's, or dm.server */
const char *dms_server(const struct m2m_config *cfg, const struct m2m_dm_state *st);

#endif
